"""How the swimmer detector is fine-tuned (``guardian train-detector``).

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

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardian.swim.data import DATASETS

__all__ = ["DetectorTrainConfig", "file_sha256", "training_device"]


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


def training_device(value: str) -> str:
    """The config's ``device``, with ``auto`` made the GPU when there is one."""
    if value != "auto":
        return value
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def file_sha256(path: Path) -> str:
    """The file's SHA-256, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()
