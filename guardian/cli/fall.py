"""``guardian train-fall --config FILE [--resume]``: train the fall model on the corpus.

The config is a YAML :class:`~guardian.fall.train.TrainConfig` (every key checked; a
problem is printed as ``file:line:col: message``). The pose model's detections of each
clip come from the keypoint cache (:func:`guardian.fall.data.clip_detections`; a clip
not cached yet is run through the pose model once, about 70 ms a frame). Writes to
``out_dir``: ``train.log`` and ``train.jsonl`` (the log), ``checkpoints/epoch-NNNN.pt``,
``train.yaml`` (the config used) and ``fall.npz`` (the weights).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from guardian.cli.options import Commands
from guardian.config.training import training_setup
from guardian.fall.data import (
    FallDataError,
    SkeletonSequence,
    clip_detections,
    fall_clips,
    mediapipe_sequences,
)
from guardian.fall.train import TrainConfig, TrainError, train

__all__ = ["add_fall_commands", "cmd_train_fall"]


def _relative(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def cmd_train_fall(args: argparse.Namespace) -> int:
    path: Path = args.config
    setup = training_setup(path, TrainConfig)
    if setup is None:
        return 1
    config, corpus = setup
    base = path.resolve().parent
    out_dir = _relative(base, args.out or config.out_dir)
    cache = _relative(base, config.cache_dir) if config.cache_dir else None
    try:
        clips = [
            c
            for c in fall_clips(corpus)
            if c.source in config.sources
            and (not config.views or c.view in config.views)
            and (not config.clips or c.name in config.clips)
            and c.name not in config.exclude
        ]
        unknown = set(config.clips) - {c.name for c in fall_clips(corpus)}
        if unknown:
            print(f"{path}: unknown clip(s) {', '.join(sorted(unknown))}", file=sys.stderr)
            return 1
        detections = []
        for clip in clips:
            print(f"… {clip.name}", file=sys.stderr, flush=True)
            detections.append(clip_detections(clip, corpus, cache_dir=cache))
        sequences: tuple[SkeletonSequence, ...] = ()
        if config.mediapipe:
            sequences = tuple(
                s
                for s in mediapipe_sequences(corpus)
                if (not config.views or s.view in config.views) and s.name not in config.exclude
            )
            if config.mediapipe_limit:
                sequences = sequences[: config.mediapipe_limit]
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out_dir / "train.yaml")
        weights = train(
            detections,
            config,
            out_dir=out_dir,
            sequences=sequences,
            log=sys.stdout,
            resume=args.resume,
        )
    except (FallDataError, TrainError) as exc:
        print(f"guardian train-fall: {exc}", file=sys.stderr)
        return 1
    print(f"weights written to {weights}")
    return 0


def add_fall_commands(sub: Commands) -> None:
    """Add ``train-fall`` to the ``guardian`` command line."""
    p = sub.add_parser(
        "train-fall",
        help="train the fall model on the corpus (log, checkpoints, weights)",
        description=(
            "Train the fall model on the corpus clips (and the UP-Fall MediaPipe "
            "skeletons) named in a YAML training config, with a fixed seed. Writes to "
            "its out_dir: train.log and train.jsonl (the log), checkpoints/epoch-NNNN.pt "
            "(one per epoch; --resume continues from the last), train.yaml (the config "
            "used) and fall.npz (the weights; use them with 'pose: weights:' in the site "
            "file). Every config key is checked: a problem is printed as "
            "file:line:col: message. Example: guardian/fall/weights/train.yaml."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, required=True, help="training config (YAML)")
    p.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in out_dir"
    )
    p.add_argument("--out", type=str, default=None, help="output folder (overrides out_dir)")
    p.set_defaults(func=cmd_train_fall)
