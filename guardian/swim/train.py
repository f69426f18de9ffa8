"""``guardian train-detector --config FILE [--resume]``: fine-tune the swimmer detector.

The config is a YAML :class:`DetectorTrainConfig` (every key checked; a problem is
printed as ``file:line:col: message``). The swimmer datasets of the corpus are linked
into ``data_dir`` (:func:`guardian.swim.data.build_dataset`, nothing copied), then
:func:`guardian.detection.train_detector` fine-tunes YOLO11n from the shipped pose
model's weights: seeded and deterministic, a checkpoint after every epoch in
``out_dir/run/weights/``, ``--resume`` continuing from the last one. The weights of
the final epoch (not the "best" one: the val splits are for measuring, never for
choosing) are copied to ``out_dir/swimmer.pt`` with ``train.json`` saying what made them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardian.swim.data import DATASETS

__all__ = ["DetectorTrainConfig", "add_detector_commands", "cmd_train_detector"]


class DetectorTrainConfig(BaseModel):
    """How the shipped swimmer detector is trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    train: list[str] = Field(
        default_factory=lambda: list(DATASETS),
        description="corpus swimmer datasets (pool/datasets/<name>) whose train split is learnt",
    )
    val: list[str] = Field(
        default_factory=lambda: list(DATASETS),
        description="datasets whose val split is measured after training (never used to choose)",
    )
    epochs: int = Field(10, ge=1, le=300, description="passes over the training images")
    imgsz: int = Field(416, ge=64, le=1280, description="training image size (pixels, long side)")
    batch: int = Field(16, ge=1, le=256, description="images per optimisation step")
    seed: int = Field(0, ge=0, description="random seed (data order, augmentation, init)")
    workers: int = Field(2, ge=0, le=16, description="data loading worker processes")
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: the GPU when torch sees one, else the CPU"
    )
    lr0: float = Field(0.001, gt=0, lt=1, description="initial learning rate (AdamW)")
    warmup_epochs: float = Field(
        0.0,
        ge=0,
        le=10,
        description="learning-rate warm-up; 0 keeps the pose model's person head intact",
    )
    mosaic: float = Field(1.0, ge=0, le=1, description="probability of mosaic augmentation")
    close_mosaic: int = Field(2, ge=0, description="last epochs trained without mosaic")
    fraction: float = Field(
        1.0, gt=0, le=1, description="share of the training images used (below 1: quick checks)"
    )
    corpus: str | None = Field(
        None, description="corpus folder; empty: $GUARDIAN_CORPUS or ../shared/corpus"
    )
    data_dir: str = Field(
        "~/.cache/guardian/swim-data",
        description="where the linked one-class dataset is built (outside the project)",
    )
    out_dir: str = Field("/tmp/guardian-swim-run", description="checkpoints, log and weights")

    @field_validator("train", "val")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in DATASETS]
        if unknown:
            raise ValueError(
                f"unknown swimmer dataset(s) {', '.join(unknown)}: known are {', '.join(DATASETS)}"
            )
        if not value:
            raise ValueError("name at least one dataset")
        return value

    def hyper(self) -> dict[str, float | int | bool | str]:
        """The optimiser and augmentation settings handed to the trainer."""
        return {
            "optimizer": "AdamW",
            "lr0": self.lr0,
            "warmup_epochs": self.warmup_epochs,
            "warmup_bias_lr": 0.0,
            "mosaic": self.mosaic,
            "close_mosaic": self.close_mosaic,
            "cos_lr": True,
            "fraction": self.fraction,
        }


def _device(value: str) -> str:
    if value != "auto":
        return value
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cmd_train_detector(args: argparse.Namespace) -> int:
    from guardian.config.training import training_setup
    from guardian.detection import ModelError, train_detector
    from guardian.swim.data import DatasetError, build_dataset

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
    device = _device(config.device)
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
        "sha256": _sha256(weights),
        "bytes": weights.stat().st_size,
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"weights: {weights} ({weights.stat().st_size / 1e6:.1f} MB, sha256 {summary['sha256']})")
    return 0


def add_detector_commands(sub: Any) -> None:
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
