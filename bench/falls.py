"""Fall detection on the corpus: the geometric baseline against the learned classifier.

Every labelled clip of :func:`guardian.fall.data.fall_clips` (22 UP-Fall clips — falls
A01–A05 and daily activities A06–A11, two cameras each —, URFD fall-01 and the five
phone-room falls) goes through the real path: the pose model's detections (cached by
:func:`guardian.fall.data.clip_detections`), the tracker, and an estimator with
``update(tracks, timestamp, width, height)``:

* ``geometric``: :class:`guardian.pose.PostureTracker`;
* ``learned``: :class:`guardian.fall.classifier.FallClassifier` with the weights shipped
  in the package, ``mode="learned"`` (the network decides falls);
* ``hybrid``: the same, ``mode="hybrid"`` (a geometric fall the network agrees with).

The shipped weights were trained on these same clips, so the learned / hybrid per-clip
table is *in-sample*; the out-of-sample figures are the cross-view and leave-one-out runs,
which train their own weights with the shipped training config (fewer epochs).

Sections of the report (``bench/results/falls.json``, printed as tables):

1. **Per clip**, at two processed rates — 18 fps and 9 fps for UP-Fall (every frame,
   every second frame); the 29–30 fps clips are processed every ``round(fps / target)``-th
   frame (15 and 10 fps): fall detected yes/no, the delay from the ground-truth
   on-ground frame, false falls. Then per model and rate: recall over the fall clips,
   false falls on the daily activities (A06–A11, both cameras) per hour of that footage,
   and precision / recall / F1 over all clips.
2. **Cross-view**: :func:`guardian.fall.train.train` on the UP-Fall Cam1 clips (falls and
   daily activities, plus the Cam1 MediaPipe skeletons), tested on every Cam2 clip, and the
   reverse.
3. **Leave-one-out** over every clip: for each held-out *recording*, train on everything
   else and test on it. A UP-Fall recording is seen by two synchronised cameras, so both
   cameras of the held-out activity leave the training set together (and the MediaPipe
   skeletons of that activity: they were extracted from the same footage); URFD and each
   phone-room clip are recordings of their own. The fall recordings (16 clips) give
   recall and delay, the daily-activity ones (A06–A11, 12 clips) the false falls per hour,
   all out-of-sample: 17 trainings. Every model runs on the held-out clips (the geometric
   one needs no training: its rows are the same as in 1.).
4. **Ambianic still frames** (``fall/ambianic_test_frames``, expected outcomes in
   ``ground_truth/ambianic_test_cases.csv``): each ordered sequence of images is played as
   a 10 fps camera that shows each image for ``STILL_HOLD`` s (1 s: frames "at least
   ``min_time_between_frames`` apart" upstream) and the last one for ``STILL_LAST`` s (3 s:
   a fall must be held to be confirmed). Case 2_1 — the same two images "closer in time
   than min_time_between_frames" — shows the second image for only ``STILL_SHORT`` s
   (0.3 s) before the stream ends: too short to confirm a person on the ground, which is
   our reading of upstream's NO_FALL. For the three-image cases the outcome after the
   second image is checked too (upstream: NO_FALL after 2 frames, FALL after the 3rd).
   ``case_bg`` expects no person at all. A case passes when its outcome (a fall on any
   track: FALL, else NO_FALL; NO_DETECTION when no track was ever confirmed) matches.
   The images are unrelated stills: between two of them the person jumps across the frame,
   so the tracker ends the standing track and starts a new one already lying, which has no
   upright history to fall from, so no fall is reported. The posture at the end is
   printed: where it is LYING (cases 3_1, 3_2) the rule engine's "person down" (lying for
   N s) still reports the person; in fall_img_3 the pose model finds nobody, and in
   fall_img_2 / fall_img_2_2 the person crouches on hands and feet (UNKNOWN posture).

**Fall detected** (:func:`benchkit.score_fall`, the scorer of every bench script): a
reported fall (a reading's ``fall_at``; one fall handed on from a lost track to a new one
counts once) detects the clip's fall when its ``fall_at`` is no earlier than ``EARLY``
(0.5 s) before the ground-truth onset and the first reading carrying it comes no later than
``LATE`` (2 s) after the on-ground frame. The delay is that reading's time minus the
on-ground time. Another fall in that window is a repeat (the same fall re-dated); any other
reported fall, on any clip, is a false fall. Precision = detected / (detected + false falls), recall = detected / fall
clips, F1 their harmonic mean.

For every missed fall and every false fall a JPEG of the frame (the model's skeletons
drawn, the estimator's posture per track) is written under ``~/.cache/guardian/
fall-failures/`` (corpus images never go into the project); the JSON names the paths.

5. **Every corpus fall dataset** (``--datasets``, :mod:`fallsets`): GMDCSA-24,
   ASSIST-IoT, FDD bedroom, URFD RGB, the demo-repo clips, UP-Fall, URFD fall-01 and the
   phone-room falls (the seven ``ground_truth/*.csv``), each clip at about 10 processed
   fps through the real :class:`guardian.pipeline.CameraPipeline` with the ``pose:``
   defaults (low score floor, second look, lost-fall, hold of a person down), against the
   settings before issue 12. Per dataset, start pose (standing / sitting / walking /
   walking aid) and view: falls detected (same rule as above), delay after on-ground,
   "person down" (lying ≥ 5 s) for falls that stay down ≥ 5 s, false falls and false
   "person down" on the daily activities. Nothing is fitted per dataset, so every
   dataset is held out (leave-one-dataset-out by construction; the JSON says which
   datasets the shipped weights saw). Writes ``bench/results/falls_datasets.json``.

    .venv/bin/python bench/falls.py                 # everything (≈10 min on 2 cores)
    .venv/bin/python bench/falls.py --datasets      # every dataset (≈1 h first, then 2 min)
    .venv/bin/python bench/falls.py --skip-train    # per clip + ambianic only
    .venv/bin/python bench/falls.py --show bench/results/falls.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import fallsets
from benchkit import EARLY, LATE, FallLog, corpus, score_fall, write_report

from guardian.fall.data import (
    CONFIDENCE,
    IMGSZ,
    AmbianicCase,
    ClipDetections,
    FallClip,
    SkeletonSequence,
    ambianic_cases,
    clip_detections,
    clip_tracks,
    default_cache_dir,
    default_detector,
    fall_clips,
    mediapipe_sequences,
)
from guardian.pose import PostureTracker
from guardian.records import Detection, Posture, PostureReading, Track, TrackState
from guardian.tracking import Tracker

#: processed rates (a clip at F fps is processed every round(F / rate)-th frame)
RATES = (18, 9)
#: still-frame cases: seconds each image is shown, the last one, and case 2_1's second one
STILL_FPS = 10.0
STILL_HOLD = 1.0
STILL_LAST = 3.0
STILL_SHORT = 0.3
FAILURES = Path.home() / ".cache" / "guardian" / "fall-failures"
#: the bench's training runs (cross-view, leave-one-out) use the shipped model's training
#: config with fewer epochs, so that the 13 runs take minutes, not an hour
SHIPPED_CONFIG = REPO / "guardian" / "fall" / "weights" / "train.yaml"
TRAIN_OVERRIDES: dict[str, Any] = {"epochs": 15}
#: keys of the training config that choose files or clips: the bench chooses clips itself
_NOT_FOR_BENCH = ("corpus", "out_dir", "cache_dir", "sources", "views", "clips", "exclude")

SKELETON = (
    (5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12),
    (11, 13), (13, 15), (12, 14), (14, 16), (0, 1), (0, 2), (1, 3), (2, 4),
)  # fmt: skip

Steps = tuple[tuple[float, tuple[Track, ...]], ...]


class Estimator(Protocol):
    def update(
        self, tracks: Sequence[Track], timestamp: float, width: int, height: int
    ) -> tuple[PostureReading, ...]: ...


Factory = Callable[[], Estimator]


def step_for(clip_fps: float, rate: int) -> int:
    return max(1, round(clip_fps / rate))


# --------------------------------------------------------------------------- one clip


@dataclass
class Run:
    """What an estimator reported on one clip."""

    #: the reported falls (one per fall_at)
    falls: FallLog = field(default_factory=FallLog)
    #: per processed frame: (time, readings)
    readings: list[tuple[float, tuple[PostureReading, ...]]] = field(default_factory=list)
    max_lying: float = 0.0
    cost: float = 0.0
    track_frames: int = 0


def run_estimator(steps: Steps, estimator: Estimator, width: int, height: int) -> Run:
    run = Run()
    for now, tracks in steps:
        t0 = time.perf_counter()
        readings = estimator.update(tracks, now, width, height)
        run.cost += time.perf_counter() - t0
        run.track_frames += sum(1 for t in tracks if t.state is not TrackState.REMOVED)
        run.readings.append((now, readings))
        run.falls.add(readings, now)
        for r in readings:
            if r.posture is Posture.LYING:
                run.max_lying = max(run.max_lying, now - r.since)
    return run


def score_clip(clip: FallClip, run: Run, frames: int, rate: float) -> dict[str, Any]:
    """The clip's row: detected, delay, false falls (see the module docstring)."""
    fires = run.falls.fires()
    score = score_fall(
        fires, is_fall=clip.is_fall, onset_s=clip.onset_s, on_ground_s=clip.on_ground_s
    )
    row: dict[str, Any] = {
        "clip": clip.name,
        "source": clip.source,
        "view": clip.view,
        "activity": clip.activity,
        "is_fall": clip.is_fall,
        "fps": round(rate, 2),
        "frames": frames,
        "seconds": round(clip.frames / clip.fps, 2),
        "falls": [f.as_dict() for f in fires],
        "detected": score.detected is not None,
        "false_falls": len(score.false),
        "repeats": len(score.repeats),
        "max_lying_s": round(run.max_lying, 2),
        "cost_us_per_track": round(1e6 * run.cost / max(1, run.track_frames), 1),
        "track_frames": run.track_frames,
    }
    if score.detected is not None:
        row["delay_s"] = score.delay_s
        row["fall_at_vs_ground_s"] = score.fall_at_vs_ground_s
    return row


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    falls = [r for r in rows if r["is_fall"]]
    adl = [r for r in rows if not r["is_fall"]]
    tp = sum(r["detected"] for r in falls)
    fp = sum(r["false_falls"] for r in rows)
    adl_fp = sum(r["false_falls"] for r in adl)
    adl_hours = sum(r["seconds"] for r in adl) / 3600.0
    delays = [r["delay_s"] for r in falls if "delay_s" in r]
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / len(falls) if falls else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall > 0
        else 0.0
        if precision is not None and recall is not None
        else None
    )
    track_frames = sum(r["track_frames"] for r in rows)
    return {
        "clips": len(rows),
        "fall_clips": len(falls),
        "falls_detected": tp,
        "missed": [r["clip"] for r in falls if not r["detected"]],
        "false_falls": fp,
        "false_falls_on_fall_clips": sum(r["false_falls"] for r in falls),
        "adl_clips": len(adl),
        "adl_hours": round(adl_hours, 4),
        "false_falls_on_adl": adl_fp,
        "adl_false_falls_per_hour": round(adl_fp / adl_hours, 1) if adl_hours else None,
        "adl_clips_with_false_fall": [r["clip"] for r in adl if r["false_falls"]],
        "precision": None if precision is None else round(precision, 3),
        "recall": None if recall is None else round(recall, 3),
        "f1": None if f1 is None else round(f1, 3),
        "median_delay_s": round(statistics.median(delays), 2) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "mean_cost_us_per_track": round(
            sum(r["cost_us_per_track"] * r["track_frames"] for r in rows) / max(1, track_frames),
            1,
        ),
    }


# --------------------------------------------------------------------------- failure frames


def read_frame(root: Path, clip: FallClip, index: int) -> np.ndarray | None:
    cap = cv2.VideoCapture(str(root / clip.path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
    finally:
        cap.release()
    if not ok:
        return None
    if clip.crop_right_half:
        image = np.ascontiguousarray(image[:, image.shape[1] // 2 :])
    return np.asarray(image)


def draw(
    image: np.ndarray,
    detections: Sequence[Detection],
    tracks: Sequence[Track],
    readings: Sequence[PostureReading],
    caption: str,
) -> np.ndarray:
    out = image.copy()
    for d in detections:
        pts = [(int(k.x), int(k.y)) if k.conf >= 0.3 else None for k in d.keypoints]
        for a, b in SKELETON:
            pa, pb = pts[a], pts[b]
            if pa is not None and pb is not None:
                cv2.line(out, pa, pb, (0, 255, 255), 2)
        for p in pts:
            if p is not None:
                cv2.circle(out, p, 3, (0, 0, 255), -1)
    by_id = {r.track_id: r for r in readings}
    for t in tracks:
        b = t.box
        cv2.rectangle(out, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (255, 128, 0), 1)
        r = by_id.get(t.track_id)
        label = f"#{t.track_id} {r.posture.value if r else '?'}"
        if r is not None and r.fall_at is not None:
            label += " FALL"
        cv2.putText(out, label, (int(b.x1), max(12, int(b.y1) - 4)), 0, 0.45, (255, 128, 0), 1)
    cv2.putText(out, caption, (6, out.shape[0] - 8), 0, 0.45, (255, 255, 255), 2)
    cv2.putText(out, caption, (6, out.shape[0] - 8), 0, 0.45, (0, 0, 0), 1)
    return out


def save_failures(
    root: Path,
    dets: ClipDetections,
    steps: Steps,
    run: Run,
    row: dict[str, Any],
    tag: str,
) -> list[str]:
    """A JPEG per missed fall (1 s after on-ground) and per false fall (when reported)."""
    clip = dets.clip
    wanted: list[tuple[float, str]] = []
    if clip.is_fall and not row["detected"] and clip.on_ground_s is not None:
        wanted.append((min(clip.on_ground_s + 1.0, (clip.frames - 1) / clip.fps), "missed"))
    score = score_fall(
        run.falls.fires(), is_fall=clip.is_fall, onset_s=clip.onset_s, on_ground_s=clip.on_ground_s
    )
    for fire in score.false:
        wanted.append((fire.reported, "false-fall"))
    out = []
    folder = FAILURES / tag
    folder.mkdir(parents=True, exist_ok=True)
    for t, kind in wanted:
        i_step = min(range(len(steps)), key=lambda i: abs(steps[i][0] - t))
        now, tracks = steps[i_step]
        frame = min(range(len(dets.frames)), key=lambda i: abs(dets.frames[i][1] - now))
        index, _, found = dets.frames[frame]
        image = read_frame(root, clip, index)
        if image is None:
            continue
        readings = next((r for tt, r in run.readings if tt == now), ())
        caption = f"{clip.name} f{index} t={now:.2f}s {kind} ({tag})"
        path = folder / f"{clip.name}-{kind}-f{index:04d}.jpg"
        cv2.imwrite(str(path), draw(image, found, tracks, readings, caption))
        out.append(str(path))
    return out


# --------------------------------------------------------------------------- models


def geometric() -> Estimator:
    return PostureTracker()


#: the modes of the learned classifier measured (guardian.yaml's pose.model): the network
#: alone, and a geometric fall that the network agrees with
LEARNED_MODES = ("learned", "hybrid")


def classifier(weights: Path | None, mode: str) -> Factory:
    from guardian.fall.classifier import FallClassifier

    return lambda: FallClassifier.load(weights, mode=mode)


def learned_factories(weights: Path | None = None) -> tuple[dict[str, Factory], str]:
    """The learned classifier's factory per mode, or none and why it is not there (yet)."""
    try:
        from guardian.fall.classifier import FallClassifier
    except ImportError as exc:
        return {}, f"guardian.fall.classifier is not importable ({exc})"
    out: dict[str, Factory] = {}
    problems = []
    for mode in LEARNED_MODES:
        try:
            FallClassifier.load(weights, mode=mode)
        except Exception as exc:  # missing or unreadable weights: skip the column, say why
            problems.append(f"FallClassifier.load({weights or 'shipped'}, mode={mode}): {exc}")
        else:
            out[mode] = classifier(weights, mode)
    return out, "; ".join(problems)


def weights_info(weights: Path | None) -> dict[str, Any]:
    """Which weights the learned column used: path, size, SHA-256, modification time."""
    path = weights
    if path is None:
        try:
            from guardian.fall.model import shipped_weights

            path = shipped_weights()
        except Exception as exc:
            return {"path": "shipped", "error": str(exc)}
    if not path.is_file():
        return {"path": str(path), "error": "missing"}
    data = path.read_bytes()
    return {
        "path": str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "modified": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(path.stat().st_mtime)),
    }


def evaluate(
    root: Path,
    data: dict[str, ClipDetections],
    clips: Sequence[FallClip],
    make: Factory,
    rate: int,
    tag: str | None,
    steps_cache: dict[tuple[str, int], Steps],
) -> list[dict[str, Any]]:
    rows = []
    for clip in clips:
        dets = data[clip.name]
        step = step_for(clip.fps, rate)
        key = (clip.name, step)
        if key not in steps_cache:
            steps_cache[key] = clip_tracks(dets, step=step)
        steps = steps_cache[key]
        run = run_estimator(steps, make(), dets.width, dets.height)
        row = score_clip(clip, run, len(steps), clip.fps / step)
        if tag is not None and (row["false_falls"] or (clip.is_fall and not row["detected"])):
            row["failure_frames"] = save_failures(root, dets, steps, run, row, tag)
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- training runs


def train_settings(epochs: int | None) -> dict[str, Any]:
    """The shipped training config (without file and clip choices) with the bench's epochs."""
    settings: dict[str, Any] = {}
    if SHIPPED_CONFIG.is_file():
        loaded = yaml.safe_load(SHIPPED_CONFIG.read_text()) or {}
        settings = {k: v for k, v in loaded.items() if k not in _NOT_FOR_BENCH}
    settings.update(TRAIN_OVERRIDES)
    if epochs:
        settings["epochs"] = epochs
    return settings


def train_config(overrides: dict[str, Any]) -> Any:
    from guardian.fall.train import TrainConfig

    return TrainConfig(**overrides)


def train_on(
    clips: Sequence[ClipDetections],
    sequences: Sequence[SkeletonSequence],
    overrides: dict[str, Any],
    scratch: Path,
    label: str,
) -> tuple[Path, float]:
    from guardian.fall.train import train

    t0 = time.perf_counter()
    out = scratch / label
    with open(scratch / f"{label}.log", "w") as log:
        weights = train(
            list(clips), train_config(overrides), out_dir=out, sequences=sequences, log=log
        )
    return weights, time.perf_counter() - t0


def _activity(name: str) -> str:
    """UPFall_S1_A01_T1_Cam1 → A01; C1S1A1T1 → A01; others: the name."""
    if name.startswith("UPFall_"):
        return name.split("_")[2]
    if name.startswith("C") and "A" in name:
        digits = name.split("A", 1)[1].split("T", 1)[0]
        return f"A{int(digits):02d}"
    return name


def cross_view(
    root: Path,
    data: dict[str, ClipDetections],
    clips: Sequence[FallClip],
    sequences: Sequence[SkeletonSequence],
    overrides: dict[str, Any],
    scratch: Path,
    steps_cache: dict[tuple[str, int], Steps],
) -> list[dict[str, Any]]:
    out = []
    for train_view, test_view in (("upfall-cam1", "upfall-cam2"), ("upfall-cam2", "upfall-cam1")):
        train_clips = [data[c.name] for c in clips if c.view == train_view]
        train_seqs = [s for s in sequences if s.view == train_view]
        label = f"xview-{train_view}"
        print(f"… training on {train_view} ({len(train_clips)} clips)", file=sys.stderr, flush=True)
        weights, seconds = train_on(train_clips, train_seqs, overrides, scratch, label)
        test = [c for c in clips if c.view == test_view]
        result: dict[str, Any] = {
            "train_view": train_view,
            "test_view": test_view,
            "train_clips": len(train_clips),
            "train_sequences": len(train_seqs),
            "train_seconds": round(seconds, 1),
        }
        for rate in RATES:
            by_model: dict[str, Any] = {}
            for mode in LEARNED_MODES:
                rows = evaluate(
                    root,
                    data,
                    test,
                    classifier(weights, mode),
                    rate,
                    f"{label}-{mode}-{rate}fps",
                    steps_cache,
                )
                by_model[mode] = {"clips": rows, "summary": summarize(rows)}
            geo_rows = evaluate(root, data, test, geometric, rate, None, steps_cache)
            by_model["geometric"] = {"summary": summarize(geo_rows)}
            result[f"{rate}fps"] = by_model
        out.append(result)
    return out


def leave_one_out(
    root: Path,
    data: dict[str, ClipDetections],
    clips: Sequence[FallClip],
    sequences: Sequence[SkeletonSequence],
    overrides: dict[str, Any],
    scratch: Path,
    steps_cache: dict[tuple[str, int], Steps],
) -> dict[str, Any]:
    recordings: dict[str, list[FallClip]] = {}
    for c in clips:
        key = _activity(c.name) if c.source == "upfall" else c.name
        recordings.setdefault(key, []).append(c)
    folds = []
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {
        m: {} for m in (*LEARNED_MODES, "geometric")
    }
    for key, held in recordings.items():
        held_names = {c.name for c in held}
        train_clips = [data[c.name] for c in clips if c.name not in held_names]
        train_seqs = [s for s in sequences if _activity(s.name) != key]
        label = f"loo-{key}"
        print(f"… leave-one-out: {key} ({len(train_clips)} clips)", file=sys.stderr, flush=True)
        weights, seconds = train_on(train_clips, train_seqs, overrides, scratch, label)
        fold: dict[str, Any] = {
            "held_out": sorted(held_names),
            "train_clips": len(train_clips),
            "train_sequences": len(train_seqs),
            "train_seconds": round(seconds, 1),
        }
        for rate in RATES:
            per: dict[str, list[dict[str, Any]]] = {}
            for mode in LEARNED_MODES:
                make = classifier(weights, mode)
                per[mode] = evaluate(
                    root, data, held, make, rate, f"loo-{mode}-{rate}fps", steps_cache
                )
            per["geometric"] = evaluate(root, data, held, geometric, rate, None, steps_cache)
            for model, r in per.items():
                rows[model].setdefault(rate, []).extend(r)
            fold[f"{rate}fps"] = per
        folds.append(fold)
    summary = {
        model: {f"{rate}fps": summarize(r) for rate, r in by_rate.items()}
        for model, by_rate in rows.items()
    }
    return {"folds": folds, "summary": summary}


# --------------------------------------------------------------------------- still frames


def still_schedule(case: AmbianicCase) -> list[tuple[float, str]]:
    """(time, image) of the frames the case stands for (see the module docstring)."""
    out: list[tuple[float, str]] = []
    t = 0.0
    n = len(case.frames)
    for i, image in enumerate(case.frames):
        last = i == n - 1
        hold = STILL_LAST if last else STILL_HOLD
        if last and case.case_id == "case_2_1":
            hold = STILL_SHORT
        for _ in range(round(hold * STILL_FPS)):
            out.append((round(t, 3), image))
            t += 1.0 / STILL_FPS
    return out


def ambianic(root: Path, makers: dict[str, Factory]) -> dict[str, Any]:
    detector = default_detector()
    cache: dict[str, tuple[tuple[Detection, ...], int, int]] = {}

    def detect(image: str) -> tuple[tuple[Detection, ...], int, int]:
        if image not in cache:
            pixels = cv2.imread(str(root / image))
            if pixels is None:
                raise SystemExit(f"{root / image}: cannot read the image")
            cache[image] = (detector.detect(pixels), pixels.shape[1], pixels.shape[0])
        return cache[image]

    cases = []
    for case in ambianic_cases(root):
        schedule = still_schedule(case)
        row: dict[str, Any] = {
            "case": case.case_id,
            "frames": [Path(f).name for f in case.frames],
            "expected": case.expected,
            "expected_outcome": case.outcome,
            "schedule": (
                f"{len(case.frames)} image(s) at {STILL_FPS:g} fps: each {STILL_HOLD:g} s, "
                f"the last {STILL_SHORT if case.case_id == 'case_2_1' else STILL_LAST:g} s"
            ),
            "people_per_image": [len(detect(f)[0]) for f in case.frames],
        }
        for name, make in makers.items():
            tracker = Tracker(case.case_id)
            estimator = make()
            confirmed = False
            fall_after: list[bool] = []
            fell = False
            previous = schedule[0][1]
            tracks: tuple[Track, ...] = ()
            readings: tuple[PostureReading, ...] = ()
            for t, image in schedule:
                if image != previous:
                    fall_after.append(fell)
                    previous = image
                found, width, height = detect(image)
                tracks = tracker.update(found, t)
                confirmed = confirmed or any(tr.state is TrackState.TRACKED for tr in tracks)
                readings = estimator.update(tracks, t, width, height)
                fell = fell or any(r.fall_at is not None for r in readings)
            fall_after.append(fell)
            outcome = "FALL" if fell else ("NO_FALL" if confirmed else "NO_DETECTION")
            ok = outcome == case.outcome or (
                case.outcome == "NO_FALL" and outcome == "NO_DETECTION"
            )
            if len(case.frames) == 3:
                ok = ok and not fall_after[1]  # "NO_FALL after 2 frames"
            row[name] = {
                "outcome": outcome,
                "fall_after_each_image": fall_after,
                "pass": ok,
                # a person seen lying at the end still gives "person down" (posture rule)
                "postures_at_end": [r.posture.value for r in readings],
            }
            if not ok:  # the last image, with what the model and the estimator made of it
                last = schedule[-1][1]
                folder = FAILURES / f"ambianic-{name}"
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{case.case_id}-{Path(last).stem}.jpg"
                caption = f"{case.case_id}: {outcome}, expected {case.outcome} ({name})"
                pixels = cv2.imread(str(root / last))
                cv2.imwrite(str(path), draw(pixels, detect(last)[0], tracks, readings, caption))
                row[name]["failure_frame"] = str(path)
        cases.append(row)
    summary = {name: f"{sum(c[name]['pass'] for c in cases)}/{len(cases)}" for name in makers}
    return {
        "mapping": (
            f"each image held {STILL_HOLD:g} s at {STILL_FPS:g} fps, the last {STILL_LAST:g} s; "
            f"case_2_1's second image only {STILL_SHORT:g} s (timing rule); outcome FALL when "
            "any track got a fall_at, NO_DETECTION when no track was confirmed, else NO_FALL; "
            "a NO_FALL case also passes with NO_DETECTION; 3-image cases must have no fall "
            "after the 2nd image"
        ),
        "cases": cases,
        "summary": summary,
    }


# --------------------------------------------------------------------------- report


def _fmt(value: Any, spec: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def _signed(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if abs(value) >= 0.005 else "0.00"


def print_report(report: dict[str, Any]) -> None:
    models = [m for m in ("geometric", *LEARNED_MODES) if m in report["models"]]
    skipped = report.get("learned_skipped")
    for rate in RATES:
        key = f"{rate}fps"
        step30 = step_for(30, rate)
        print(
            f"\n=== per clip, processed at {rate} fps (UP-Fall every {step_for(18, rate)}. "
            f"frame; the 29–30 fps clips every {step30}. frame, {30 / step30:g} fps) ==="
        )
        head = f"{'clip':<23}{'activity':<28}"
        for m in models:
            head += f"{m[:9] + ' fall':>15}{'delay s':>9}{'false':>6}"
        print(head)
        print("-" * len(head))
        per_model = {m: report["models"][m][key]["clips"] for m in models}
        for i, row in enumerate(per_model[models[0]]):
            line = f"{row['clip']:<23}{row['activity'][:27]:<28}"
            for m in models:
                r = per_model[m][i]
                fall = ("yes" if r["detected"] else "NO") if r["is_fall"] else "-"
                line += f"{fall:>15}{_signed(r.get('delay_s')):>9}{r['false_falls']:>6}"
            print(line)
        print()
        for m in models:
            s = report["models"][m][key]["summary"]
            print(
                f"{m:<10} {key}: recall {s['falls_detected']}/{s['fall_clips']}"
                f"  false falls {s['false_falls']} (ADL {s['false_falls_on_adl']} in "
                f"{s['adl_hours'] * 3600:.0f} s = {s['adl_false_falls_per_hour']}/h)"
                f"  P {_fmt(s['precision'])} R {_fmt(s['recall'])} F1 {_fmt(s['f1'])}"
                f"  delay median {_fmt(s['median_delay_s'])} s max {_fmt(s['max_delay_s'])} s"
                f"  cost {s['mean_cost_us_per_track']} µs/track/frame"
            )
    if skipped:
        print(f"\nlearned column skipped: {skipped}")
    if "learned" in models:
        print(
            "\n(learned / hybrid = shipped weights, trained on these very clips: in-sample "
            "figures; cross-view and leave-one-out below are out-of-sample)"
        )

    xv = report.get("cross_view")
    if isinstance(xv, list):
        print("\n=== cross-view (train on one UP-Fall camera, test on the other) ===")
        for r in xv:
            for rate in RATES:
                for m in ("geometric", *LEARNED_MODES):
                    if m not in r[f"{rate}fps"]:
                        continue
                    s = r[f"{rate}fps"][m]["summary"]
                    print(
                        f"{r['train_view']}→{r['test_view']} {rate:>2} fps {m:<10}"
                        f" recall {s['falls_detected']}/{s['fall_clips']}"
                        f"  false falls {s['false_falls']} (ADL {s['adl_false_falls_per_hour']}/h)"
                        f"  F1 {_fmt(s['f1'])}  delay median {_fmt(s['median_delay_s'])}"
                        f" max {_fmt(s['max_delay_s'])}"
                    )
    elif xv:
        print(f"\ncross-view: {xv}")

    loo = report.get("leave_one_out")
    if isinstance(loo, dict):
        print("\n=== leave-one-recording-out (train on everything else, test on the clip) ===")
        loo_models = [m for m in ("geometric", *LEARNED_MODES) if m in loo["summary"]]
        head = f"{'held-out clip':<23}" + "".join(
            f"{m[:9] + ' ' + str(rate):>14}{'delay':>7}{'false':>6}"
            for rate in RATES
            for m in loo_models
        )
        print(head)
        print("-" * len(head))
        for fold in loo["folds"]:
            for i, name in enumerate(fold[f"{RATES[0]}fps"]["geometric"]):
                line = f"{name['clip']:<23}"
                for rate in RATES:
                    for m in loo_models:
                        r = fold[f"{rate}fps"][m][i]
                        fall = ("yes" if r["detected"] else "NO") if r["is_fall"] else "-"
                        line += f"{fall:>14}{_signed(r.get('delay_s')):>7}{r['false_falls']:>6}"
                print(line)
        for m, by_rate in loo["summary"].items():
            for key, s in by_rate.items():
                print(
                    f"{m:<10} {key}: recall {s['falls_detected']}/{s['fall_clips']}"
                    f"  false falls {s['false_falls']} (ADL {s['false_falls_on_adl']} in "
                    f"{s['adl_hours'] * 3600:.0f} s = {s['adl_false_falls_per_hour']}/h)"
                    f"  P {_fmt(s['precision'])} R {_fmt(s['recall'])} F1 {_fmt(s['f1'])}"
                    f"  delay median {_fmt(s['median_delay_s'])} max {_fmt(s['max_delay_s'])}"
                )
    elif loo:
        print(f"\nleave-one-out: {loo}")

    amb = report.get("ambianic")
    if amb:
        print("\n=== ambianic still-frame cases ===")
        names = [m for m in ("geometric", *LEARNED_MODES) if m in amb["summary"]]
        print(
            f"{'case':<10}{'expected':<14}"
            + "".join(f"{m:>22}" for m in names)
            + "   posture(s) at the end"
        )
        for c in amb["cases"]:
            print(
                f"{c['case']:<10}{c['expected_outcome']:<14}"
                + "".join(
                    f"{c[m]['outcome'] + (' ok' if c[m]['pass'] else ' FAIL'):>22}" for m in names
                )
                + "   "
                + ",".join(c[names[0]].get("postures_at_end", []))
            )
        print("passed: " + ", ".join(f"{m} {amb['summary'][m]}" for m in names))
        print(f"mapping: {amb['mapping']}")
    print(
        f"\ndetected = fall_at ≥ onset − {EARLY} s and first reported ≤ on-ground + {LATE} s;"
        " delay = first report − on-ground; another one in that window is a repeat;"
        " any other fall is false (benchkit.score_fall).\n"
        "failure frames: " + str(FAILURES)
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "falls.json")
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    parser.add_argument("--skip-train", action="store_true", help="no cross-view / leave-one-out")
    parser.add_argument("--weights", type=Path, help="learned weights (default: shipped)")
    parser.add_argument(
        "--epochs",
        type=int,
        help=f"epochs of the bench's training runs (default {TRAIN_OVERRIDES['epochs']})",
    )
    parser.add_argument("--show", type=Path, metavar="JSON", help="only print a saved run")
    parser.add_argument(
        "--datasets",
        action="store_true",
        help="every corpus fall dataset through the camera pipeline, leave-one-dataset-out "
        "(writes bench/results/falls_datasets.json unless --out is given)",
    )
    args = parser.parse_args()
    if args.show:
        saved = json.loads(args.show.read_text())
        if "configs" in saved:
            fallsets.print_tables(saved)
        else:
            print_report(saved)
        return
    if args.datasets:
        out = args.out
        if out == parser.get_default("out"):
            out = REPO / "bench" / "results" / "falls_datasets.json"
        datasets(out)
        return

    started = time.perf_counter()
    root = corpus()
    clips = fall_clips(root)
    data = {}
    for clip in clips:
        print(f"… {clip.name}", file=sys.stderr, flush=True)
        data[clip.name] = clip_detections(clip, root, cache_dir=args.cache)
    sequences = mediapipe_sequences(root)

    makers: dict[str, Factory] = {"geometric": geometric}
    learned, why = learned_factories(args.weights)
    makers.update(learned)
    if why:
        print(f"learned column(s) skipped: {why}", file=sys.stderr)

    steps_cache: dict[tuple[str, int], Steps] = {}
    models: dict[str, Any] = {}
    for name, make in makers.items():
        models[name] = {}
        for rate in RATES:
            rows = evaluate(root, data, clips, make, rate, f"{name}-{rate}fps", steps_cache)
            models[name][f"{rate}fps"] = {
                "clips": rows,
                "summary": summarize(rows),
                "summary_upfall": summarize([r for r in rows if r["source"] == "upfall"]),
            }

    overrides = train_settings(args.epochs)
    report: dict[str, Any] = {
        "detector": {
            "model": "yolo11n-pose",
            "backend": "onnx",
            "imgsz": IMGSZ,
            "confidence": CONFIDENCE,
        },
        "early_s": EARLY,
        "late_s": LATE,
        "rates": list(RATES),
        "models": models,
        "learned_weights": weights_info(args.weights),
        "learned_skipped": why or None,
    }
    report["ambianic"] = ambianic(root, makers)

    if args.skip_train:
        report["cross_view"] = report["leave_one_out"] = "skipped (--skip-train)"
    else:
        try:
            train_config(overrides)
        except Exception as exc:
            reason = f"guardian.fall.train is not usable yet: {exc}"
            print(reason, file=sys.stderr)
            report["cross_view"] = report["leave_one_out"] = reason
        else:
            report["train_config"] = {
                k: list(v) if isinstance(v, tuple) else v for k, v in overrides.items()
            }
            with tempfile.TemporaryDirectory(prefix="guardian-falls-") as tmp:
                scratch = Path(tmp)
                try:
                    report["cross_view"] = cross_view(
                        root, data, clips, sequences, overrides, scratch, steps_cache
                    )
                    report["leave_one_out"] = leave_one_out(
                        root, data, clips, sequences, overrides, scratch, steps_cache
                    )
                except Exception:
                    report.setdefault("cross_view", "failed")
                    report["leave_one_out"] = "failed: " + traceback.format_exc(limit=3)
                    print(traceback.format_exc(), file=sys.stderr)

    report["seconds"] = round(time.perf_counter() - started, 1)
    write_report("falls", report, out=args.out, show=print_report, default=_json_default)
    print(f"({report['seconds']} s)")


def datasets(out: Path) -> None:
    """``--datasets``: every fall dataset of the corpus, per dataset, start pose and view."""
    from guardian.config.pose import PoseConfig

    started = time.perf_counter()
    root = corpus()
    clips = fallsets.load_clips(root)
    detector = fallsets.Detector(PoseConfig().low_score)
    off = {"relook": False, "keep_down": 0.0, "lost_fall": 0.0}
    configs = {
        "before": (PoseConfig(**off), False, False),
        "hybrid": (PoseConfig(), True, True),
        "geometric": (PoseConfig(model="geometric"), True, True),
    }
    described = {
        "before": "as before issue 12: model at detection.confidence 0.35, tracker high 0.5, "
        "no second look, no lost-fall, no hold (hybrid)",
        "hybrid": "the site defaults: hybrid, low_score 0.1, relink 1 s, second look, "
        "lost_fall 1 s, keep_down 30 s",
        "geometric": "the same with model: geometric (no learned weights at all)",
    }

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result: dict[str, Any] = {
        "target_fps": fallsets.TARGET_FPS,
        "early_s": EARLY,
        "late_s": LATE,
        "stay_down_s": fallsets.DOWN_FOR,
        "person_down_rule": f"posture: lying, for: {fallsets.DOWN_RULE:g}s",
        "described": described,
        "leave_one_dataset_out": (
            "nothing is fitted per dataset: every threshold of the geometric estimator, the "
            "tracker and the second look is a fixed default, the same for every dataset, so "
            "each dataset's rows are held out by construction. The 'hybrid' rows also use the "
            "shipped fall-model weights, which were trained on UP-Fall subject 1, URFD fall-01 "
            "and the phone-room clips: those three datasets are in-sample for 'hybrid' (use "
            "the 'geometric' rows there); every other dataset is out-of-sample for both."
        ),
        "designed_on": (
            "the new defaults (low_score 0.1, relink 1 s, second-look window 2 s / 1 crop, "
            "lost_fall 1 s, keep_down 30 s) were set by reasoning before any run; the seated "
            "reference (seat_hold 1 s, seat_drop 0.2) on synthetic stick figures only. While "
            "developing, the bench was run on every dataset, and three rules came from what it "
            "showed, none of them a tuned number: (1) a false fall on fdd_bedroom "
            "(lie_on_bed_get_up: a stretched low-score box taken as upright) -> boxes below "
            "detection.confidence are never upright nor a level to measure a drop from; "
            "(2) false falls on assist_iot_mfd (low-chair ADLs: second-look boxes in the inset "
            "view) -> second-look boxes are scored below detection.confidence and a fall only "
            "starts on a trusted box (this lost phone_outdoor_far_trip_fall, found before); "
            "(3) false 'person down' on upfall A06/A07 Cam1 (a low-score foot at the frame "
            "edge of someone walking out) -> the lost-after-a-drop candidate needs a trusted "
            "last box. So no dataset is untouched by design decisions; the thresholds were "
            "not fitted to any of them."
        ),
        "eval_only": list(fallsets.EVAL_ONLY),
        "configs": fallsets.evaluate(root, clips, detector, configs, log),
    }
    result["model_calls"] = detector.model_calls
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_report(out.stem, result, out=out, show=fallsets.print_tables, default=_json_default)
    print(f"({result['seconds']} s)")


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple | Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


if __name__ == "__main__":
    main()
