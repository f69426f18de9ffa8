"""Training the fall model: data from the corpus, a fixed seed, checkpoints and resume.

:func:`train` turns labelled clips (the pose model's detections, from
:mod:`guardian.fall.data`) and MediaPipe skeleton sequences into windows of features,
trains the temporal convolution of :mod:`guardian.fall.model` with torch, and writes the
small numpy weights file the run-time classifier loads.

Training data go through the *run-time* path: every clip is tracked
(:func:`guardian.fall.data.clip_tracks`) at each processed frame rate of
``TrainConfig.fps`` and fed to a :class:`~guardian.fall.classifier.FallClassifier`
without a network whose tick recorder keeps every tick's features, per person (a
person handed on from a lost track stays one person). Labels per tick, for the person
who falls (in a fall clip, the one whose box top drops furthest around the fall):

* 0 before the fall's onset, and everywhere in a clip without a fall (lying down on
  purpose included: that is "person down", not a fall);
* 1 from ``label_lead`` s before the on-ground frame to ``label_hold`` s after it;
* not used (weight 0) between onset and on-ground minus ``label_lead`` (half-way) and
  after the hold (down for long: the window no longer shows the fall);

the other people in a fall clip count as 0 before the onset and are not used after it.
MediaPipe sequences (labels 0 before the fall, 1 from the fall on) are put through the
same path with a box drawn around their keypoints; their on-ground time is taken
``mediapipe_ground`` s after the first label 1.

Reproducible: one thread, deterministic torch kernels, the shuffling of epoch ``e``
drawn from ``seed + e``; a checkpoint after every epoch holds the model and optimizer
state, so ``resume=True`` continues from the last one and ends with the same weights as
an uninterrupted run. The log (``train.log`` text and ``train.jsonl``, one JSON object
per epoch) goes to the output folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from guardian.fall.classifier import FallClassifier
from guardian.fall.features import FEATURES, SkeletonKind, box_from_keypoints, feature_names
from guardian.fall.model import DILATIONS, FORMAT_VERSION, KERNEL, receptive_field
from guardian.records import Box, Keypoint, Track, TrackState

if TYPE_CHECKING:
    import torch

    from guardian.fall.data import ClipDetections, SkeletonSequence

__all__ = ["TrainConfig", "TrainError", "Windows", "build_windows", "train"]

Source = Literal["upfall", "urfd", "phone_room"]


class TrainError(RuntimeError):
    """Training cannot go on (no data, a checkpoint of another configuration ...)."""


class TrainConfig(BaseModel):
    """``guardian train-fall --config FILE``: what to train on and how."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="training config")

    corpus: str | None = Field(
        None,
        description=(
            "the corpus folder (relative to this file); empty: $GUARDIAN_CORPUS, else "
            "../shared/corpus next to the project"
        ),
    )
    sources: tuple[Source, ...] = Field(
        ("upfall", "urfd", "phone_room"),
        description="which corpus clips to use: upfall, urfd, phone_room (empty list: none)",
    )
    views: tuple[str, ...] = Field(
        (),
        description=(
            "only clips (and MediaPipe sequences) of these views, e.g. [upfall-cam1]; "
            "empty: every view"
        ),
    )
    clips: tuple[str, ...] = Field(
        (), description="only these clips, by name (UPFall_S1_A01_T1_Cam1, Fall01 ...); empty: all"
    )
    exclude: tuple[str, ...] = Field((), description="clips (by name) to leave out")
    mediapipe: bool = Field(True, description="also train on the UP-Fall MediaPipe skeletons")
    mediapipe_limit: int = Field(
        0, ge=0, description="use at most this many MediaPipe sequences (0: all)"
    )
    mediapipe_ground: float = Field(
        0.5,
        ge=0,
        le=3,
        description="seconds from a MediaPipe sequence's first fall label to 'on the ground'",
    )
    fps: tuple[float, ...] = Field(
        (5.0, 9.0, 15.0, 30.0),
        min_length=1,
        description=(
            "processed frame rates to sample every clip at (each becomes its own training "
            "sequence; a rate above the clip's own is the clip's rate)"
        ),
    )
    dropout: float = Field(
        0.15,
        ge=0,
        lt=1,
        description="share of keypoints hidden at random in the extra, degraded copy of each clip",
    )
    degraded_copies: int = Field(
        1, ge=0, le=5, description="how many degraded copies (keypoints hidden) of each clip"
    )
    skeleton: SkeletonKind = Field(
        "none",
        description=(
            "append the normalised skeleton to the gravity features: none, plain (joints "
            "relative to the mid-hip) or procrustes (rotated onto an upright reference pose)"
        ),
    )
    window: float = Field(2.0, gt=0, le=10, description="seconds of features the model sees")
    rate: float = Field(10.0, gt=0, le=30, description="model ticks per second")
    label_lead: float = Field(
        0.2, ge=0, le=2, description="label 1 starts this many seconds before the on-ground frame"
    )
    label_hold: float = Field(
        1.5, gt=0, le=10, description="label 1 lasts this many seconds after the on-ground frame"
    )
    channels: int = Field(32, ge=4, le=256, description="channels of each convolution")
    epochs: int = Field(40, ge=1, le=10000, description="passes over the training windows")
    batch_size: int = Field(256, ge=8, le=65536, description="windows per optimizer step")
    lr: float = Field(3e-3, gt=0, le=1, description="Adam learning rate")
    weight_decay: float = Field(1e-4, ge=0, le=1, description="Adam weight decay")
    threshold: float = Field(
        0.5, gt=0, lt=1, description="P(fallen) at or above which a tick counts as fallen"
    )
    seed: int = Field(0, ge=0, description="random seed: same seed, same data → same weights")
    out_dir: str = Field(
        "fall-run", description="where the log, checkpoints and weights go (relative to this file)"
    )
    cache_dir: str | None = Field(
        None,
        description=(
            "where the pose model's detections of each clip are cached (relative to this "
            "file); empty: $GUARDIAN_CACHE/fall-keypoints or ~/.cache/guardian/fall-keypoints"
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        ticks = round(self.window * self.rate)
        if ticks < receptive_field() + 1:
            raise ValueError(
                f"window × rate gives {ticks} ticks; the model needs at least "
                f"{receptive_field() + 1} — make 'window' longer or 'rate' higher"
            )
        if not self.sources and not self.mediapipe:
            raise ValueError("no training data: give some 'sources' or set 'mediapipe: true'")
        return self

    @property
    def ticks(self) -> int:
        return round(self.window * self.rate)

    def digest(self) -> str:
        """A hash of what changes the result (not where files go, nor how many epochs:
        a run resumed with more epochs continues the same training)."""
        keep = self.model_dump(exclude={"out_dir", "cache_dir", "corpus", "epochs"})
        return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Windows:
    """Training windows: features (N, ticks, F), label (N,), weight (N,), sequence name (N,)."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.float32]
    w: npt.NDArray[np.float32]
    names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.y.shape[0])


# --------------------------------------------------------------------------- data


@dataclass
class _Chain:
    times: list[float]
    feats: list[npt.NDArray[np.float32]]
    boxes: list[Box]


def _record(
    steps: Sequence[tuple[float, Sequence[Track]]],
    config: TrainConfig,
    height: int,
) -> dict[int, _Chain]:
    chains: dict[int, _Chain] = defaultdict(lambda: _Chain([], [], []))

    def keep(uid: int, t: float, f: npt.NDArray[np.float32], box: Box) -> None:
        c = chains[uid]
        c.times.append(t)
        c.feats.append(f.copy())
        c.boxes.append(box)

    clf = FallClassifier(
        None, window=config.ticks, rate=config.rate, recorder=keep, skeleton=config.skeleton
    )
    for t, tracks in steps:
        clf.update(tracks, t, 0, height)
    return dict(chains)


def _labels(
    chain: _Chain, subject: bool, onset: float | None, ground: float | None, config: TrainConfig
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    t = np.asarray(chain.times)
    y = np.zeros(len(t), dtype=np.float32)
    w = np.ones(len(t), dtype=np.float32)
    if onset is None or ground is None:
        return y, w
    after = t > onset
    if not subject:
        w[after] = 0.0
        return y, w
    start = ground - config.label_lead
    pos = (t >= start) & (t <= ground + config.label_hold)
    y[pos] = 1.0
    w[after & ~pos] = 0.0
    return y, w


def _subject(chains: dict[int, _Chain], onset: float, ground: float) -> int | None:
    """The person who falls: the largest drop of the box top (own heights) around the fall."""
    best, best_score = None, 0.0
    for uid, c in chains.items():
        score = 0.0
        for t, f in zip(c.times, c.feats, strict=True):
            if onset - 1.0 <= t <= ground + 1.5:
                score = max(score, float(f[FEATURES.index("top_drop")]))
        if score > best_score:
            best, best_score = uid, score
    return best


def _windows_of(feats: npt.NDArray[np.float32], ticks: int) -> npt.NDArray[np.float32]:
    padded = np.concatenate([np.zeros((ticks - 1, feats.shape[1]), np.float32), feats])
    idx = np.arange(len(feats))[:, None] + np.arange(ticks)[None, :]
    out: npt.NDArray[np.float32] = padded[idx]
    return out


def _degrade(
    steps: Sequence[tuple[float, Sequence[Track]]], share: float, rng: random.Random
) -> list[tuple[float, tuple[Track, ...]]]:
    out = []
    for t, tracks in steps:
        changed = []
        for tr in tracks:
            kps = tuple(
                Keypoint(k.x, k.y, 0.0) if rng.random() < share else k for k in tr.keypoints
            )
            changed.append(_with_keypoints(tr, kps))
        out.append((t, tuple(changed)))
    return out


def _with_keypoints(track: Track, kps: tuple[Keypoint, ...]) -> Track:
    return dataclasses.replace(track, keypoints=kps)


def _skeleton_steps(seq: SkeletonSequence, step: int) -> list[tuple[float, tuple[Track, ...]]]:
    out: list[tuple[float, tuple[Track, ...]]] = []
    first = 0.0
    for i, kps in enumerate(seq.keypoints):
        if i % step:
            continue
        t = i / seq.fps
        box = box_from_keypoints(kps)
        if box is None:
            out.append((t, ()))
            continue
        if not out:
            first = t
        out.append((t, (Track(seq.name, 1, TrackState.TRACKED, box, 1.0, kps, first, t, i + 1),)))
    return out


def _rate_steps(fps: float, rates: Sequence[float]) -> list[int]:
    return sorted({max(1, round(fps / r)) for r in rates})


def build_windows(
    clips: Sequence[ClipDetections],
    config: TrainConfig,
    sequences: Sequence[SkeletonSequence] = (),
) -> Windows:
    """Every training window of the clips and sequences, labelled (see the module docstring)."""
    from guardian.fall.data import clip_tracks

    rng = random.Random(config.seed)
    xs: list[npt.NDArray[np.float32]] = []
    ys: list[npt.NDArray[np.float32]] = []
    ws: list[npt.NDArray[np.float32]] = []
    names: list[str] = []

    def add(
        name: str,
        steps: Sequence[tuple[float, Sequence[Track]]],
        height: int,
        onset: float | None,
        ground: float | None,
    ) -> None:
        chains = _record(steps, config, height)
        subject = _subject(chains, onset, ground) if onset is not None and ground else None
        for uid, chain in chains.items():
            if not chain.feats:
                continue
            y, w = _labels(chain, uid == subject, onset, ground, config)
            xs.append(_windows_of(np.stack(chain.feats), config.ticks))
            ys.append(y)
            ws.append(w)
            names.extend([name] * len(y))

    for dets in clips:
        clip = dets.clip
        for step in _rate_steps(clip.fps, config.fps):
            steps = clip_tracks(dets, step=step)
            variants: list[Sequence[tuple[float, Sequence[Track]]]] = [steps]
            variants += [
                _degrade(steps, config.dropout, rng) for _ in range(config.degraded_copies)
            ]
            for v in variants:
                add(clip.name, v, dets.height, clip.onset_s, clip.on_ground_s)
    for seq in sequences:
        first = next((i for i, lab in enumerate(seq.labels) if lab), None)
        onset = first / seq.fps if first is not None else None
        ground = onset + config.mediapipe_ground if onset is not None else None
        for step in _rate_steps(seq.fps, config.fps):
            add(seq.name, _skeleton_steps(seq, step), 480, onset, ground)
    if not xs:
        raise TrainError("no training data: no clip or sequence gave any person")
    return Windows(
        np.concatenate(xs).astype(np.float32),
        np.concatenate(ys).astype(np.float32),
        np.concatenate(ws).astype(np.float32),
        tuple(names),
    )


# --------------------------------------------------------------------------- model


def _net(n_features: int, channels: int) -> torch.nn.Module:
    import torch
    from torch import nn

    class Net(nn.Module):
        """The torch twin of guardian.fall.model.FallNet."""

        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList(
                [
                    nn.Conv1d(n_features if i == 0 else channels, channels, KERNEL, dilation=d)
                    for i, d in enumerate(DILATIONS)
                ]
            )
            self.head = nn.Linear(2 * channels, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (N, ticks, F), standardised
            h = x.transpose(1, 2)
            for conv in self.convs:
                h = torch.relu(conv(h))
            pooled = torch.cat([h.max(dim=2).values, h[:, :, -1]], dim=1)
            out: torch.Tensor = self.head(pooled).squeeze(1)
            return out

    return Net()


def _log(line: str, log: TextIO | None, text: Path) -> None:
    with text.open("a") as f:
        f.write(line + "\n")
    if log is not None:
        print(line, file=log, flush=True)


def _last_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("epoch-*.pt"))
    return found[-1] if found else None


def train(
    clips: Sequence[ClipDetections],
    config: TrainConfig,
    *,
    out_dir: Path,
    sequences: Sequence[SkeletonSequence] = (),
    log: TextIO | None = None,
    resume: bool = False,
) -> Path:
    """Train on ``clips`` and ``sequences``; returns the weights file (``out_dir/fall.npz``).

    ``resume``: continue from the last checkpoint in ``out_dir/checkpoints`` (made with the
    same configuration); otherwise start afresh (old checkpoints are removed).
    """
    import torch

    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out_dir / "checkpoints"
    ckpt_dir.mkdir(exist_ok=True)
    text_log, json_log = out_dir / "train.log", out_dir / "train.jsonl"
    if not resume:
        for old in ckpt_dir.glob("epoch-*.pt"):
            old.unlink()
        for f in (text_log, json_log):
            f.unlink(missing_ok=True)

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)

    t0 = time.perf_counter()
    data = build_windows(clips, config, sequences)
    used = data.w > 0
    if not used.any() or not (data.y[used] > 0).any():
        raise TrainError("the training data hold no fall (no window labelled 1): add fall clips")
    present = data.x[:, :, 0] > 0
    rows = data.x[present]
    mean = rows.mean(axis=0).astype(np.float32)
    std = np.maximum(rows.std(axis=0), 1e-3).astype(np.float32)
    x_all = torch.from_numpy((data.x[used] - mean) / std)
    y_all = torch.from_numpy(data.y[used])
    n_pos = float(y_all.sum())
    pos_weight = torch.tensor((len(y_all) - n_pos) / max(n_pos, 1.0))
    _log(
        f"data: {len(clips)} clips, {len(sequences)} skeleton sequences → {len(y_all)} windows "
        f"({int(n_pos)} fallen) of {config.ticks} ticks × {data.x.shape[2]} features "
        f"in {time.perf_counter() - t0:.1f} s; config {config.digest()}",
        log,
        text_log,
    )

    net = _net(int(data.x.shape[2]), config.channels)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    last = _last_checkpoint(ckpt_dir) if resume else None
    if last is not None:
        state = torch.load(last, weights_only=True)
        if state["digest"] != config.digest():
            raise TrainError(
                f"{last} was made with another training config — start afresh without --resume"
            )
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(state["epoch"])
        _log(f"resumed from {last.name} (epoch {start})", log, text_log)
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    for epoch in range(start, config.epochs):
        t1 = time.perf_counter()
        gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        order = torch.randperm(len(y_all), generator=gen)
        net.train()
        total = 0.0
        for i in range(0, len(order), config.batch_size):
            idx = order[i : i + config.batch_size]
            opt.zero_grad()
            loss = loss_fn(net(x_all[idx]), y_all[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        net.eval()
        with torch.no_grad():
            p = torch.sigmoid(net(x_all))
        hit = (p >= config.threshold).float()
        tp = float((hit * y_all).sum())
        record = {
            "epoch": epoch + 1,
            "loss": round(total / len(y_all), 5),
            "recall": round(tp / max(n_pos, 1.0), 4),
            "false_positive_rate": round(
                float((hit * (1 - y_all)).sum()) / max(len(y_all) - n_pos, 1.0), 5
            ),
            "seconds": round(time.perf_counter() - t1, 2),
        }
        with json_log.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        _log(
            f"epoch {epoch + 1}/{config.epochs}: loss {record['loss']:.4f} window recall "
            f"{record['recall']:.3f} false-positive rate {record['false_positive_rate']:.4f}",
            log,
            text_log,
        )
        torch.save(
            {
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "digest": config.digest(),
            },
            ckpt_dir / f"epoch-{epoch + 1:04d}.pt",
        )
    weights = out_dir / "fall.npz"
    _export(net, mean, std, config, weights)
    _log(f"weights: {weights} ({weights.stat().st_size} bytes)", log, text_log)
    return weights


def _export(
    net: torch.nn.Module,
    mean: npt.NDArray[np.float32],
    std: npt.NDArray[np.float32],
    config: TrainConfig,
    target: Path,
) -> None:
    sd = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in net.state_dict().items()}
    arrays: dict[str, Any] = {
        "format": np.array(FORMAT_VERSION),
        "mean": mean,
        "std": std,
        "head_w": sd["head.weight"],
        "head_b": sd["head.bias"],
        "window": np.array(config.ticks),
        "rate": np.array(config.rate),
        "threshold": np.array(config.threshold),
        "features": np.array(feature_names(config.skeleton)),
        "config_digest": np.array(config.digest()),
    }
    for i in range(len(DILATIONS)):
        arrays[f"conv{i}_w"] = sd[f"convs.{i}.weight"]
        arrays[f"conv{i}_b"] = sd[f"convs.{i}.bias"]
    tmp = target.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(target)
