"""``guardian train-detector --config FILE [--resume]``: fine-tune the swimmer detector
(:mod:`guardian.swim.train` says how)."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from guardian.cli.options import Commands
from guardian.config.training import training_setup
from guardian.detection import ModelError, train_detector
from guardian.swim.data import DatasetError, build_dataset
from guardian.swim.train import DetectorTrainConfig, file_sha256, training_device

__all__ = ["add_detector_commands", "cmd_train_detector"]


def cmd_train_detector(args: argparse.Namespace) -> int:
    path: Path = args.config
    setup = training_setup(path, DetectorTrainConfig)
    if setup is None:
        return 1
    config, corpus = setup
    out = Path(args.out or config.out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    try:
        data = build_dataset(
            corpus, Path(config.data_dir).expanduser(), train=config.train, val=config.val
        )
    except DatasetError as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    device = training_device(config.device)
    print(
        f"training the swimmer detector on {data.images('train')} images "
        f"({', '.join(config.train)}), {config.epochs} epochs at {config.imgsz} px on {device}",
        flush=True,
    )
    try:
        last, results = train_detector(
            data.data_yaml,
            out / "run",
            epochs=config.epochs,
            imgsz=config.imgsz,
            batch=config.batch,
            seed=config.seed,
            workers=config.workers,
            device=device,
            resume=bool(args.resume),
            hyper=config.hyper(),
        )
    except ModelError as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    weights = out / "swimmer.pt"
    shutil.copy2(last, weights)
    shutil.copy2(path, out / "train.yaml")
    epochs: list[dict[str, Any]] = []
    if results.is_file():
        with results.open() as handle:
            epochs = [
                {k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(handle)
            ]
    summary = {
        "config": config.model_dump(),
        "device": device,
        "data_digest": data.digest,
        "data": [
            {"dataset": s.dataset, "split": s.split, "images": s.images, "boxes": s.boxes}
            for s in data.stats
        ],
        "epochs": epochs,
        "weights": str(weights),
        "sha256": file_sha256(weights),
        "bytes": weights.stat().st_size,
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"weights: {weights} ({weights.stat().st_size / 1e6:.1f} MB, sha256 {summary['sha256']})")
    return 0


def add_detector_commands(sub: Commands) -> None:
    """Register ``train-detector`` on the CLI's sub-command parser."""
    p = sub.add_parser(
        "train-detector",
        help="fine-tune the swimmer detector on the corpus's pool datasets",
        description=(
            "Fine-tune YOLO11n (from the shipped pose model's weights) on the labelled "
            "swimmer datasets of the corpus: seeded, a checkpoint per epoch, --resume."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="training config YAML")
    p.add_argument("--out", type=str, default=None, help="output folder (default: out_dir)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.set_defaults(func=cmd_train_detector)
