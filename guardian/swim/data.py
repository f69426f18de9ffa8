"""The labelled swimmer datasets of the corpus, as one single-class YOLO dataset.

The corpus keeps four YOLO detection datasets of people in water under
``pool/datasets/<name>/`` (``images/{train,val}``, ``labels/{train,val}``, a
``data.yaml`` with the original class names). Training wants one class, "person in
water", and a folder it may write to (ultralytics caches label scans next to the
labels, and the corpus is read-only). :func:`build_dataset` makes that folder outside
the project: the images are symbolic links into the corpus (never copies), the labels
are rewritten with every kept class as 0, and classes that are not people (the
``poolToy`` of one dataset) are dropped. The result is the same for the same corpus.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = [
    "DATASETS",
    "NOT_PEOPLE",
    "DatasetError",
    "SplitStats",
    "SwimDataset",
    "build_dataset",
    "class_names",
    "read_labels",
]

#: the labelled swimmer datasets of the corpus (folder names under pool/datasets/)
DATASETS: tuple[str, ...] = (
    "overhead_indoor_pool_human",
    "ai_drone_lifeguard_pool_subset",
    "ietr_underwater_swimmer",
    "notre_dame_underwater_dds",
)
#: original class names that are not a person (dropped from the labels)
NOT_PEOPLE: frozenset[str] = frozenset({"poolToy"})
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(RuntimeError):
    """A swimmer dataset of the corpus is missing or malformed."""


@dataclass(frozen=True, slots=True)
class SplitStats:
    """What one dataset split contributed: images and person boxes."""

    dataset: str
    split: str
    images: int
    boxes: int


@dataclass(frozen=True, slots=True)
class SwimDataset:
    """A built dataset: its ``data.yaml`` for ultralytics and what went into it."""

    root: Path
    data_yaml: Path
    stats: tuple[SplitStats, ...]
    digest: str

    def images(self, split: str) -> int:
        return sum(s.images for s in self.stats if s.split == split)


def class_names(folder: Path) -> dict[int, str]:
    """The class ids and original names of one corpus dataset (its ``data.yaml``)."""
    path = folder / "data.yaml"
    if not path.is_file():
        raise DatasetError(f"{path} not found: is {folder} a YOLO dataset of the corpus?")
    doc = yaml.safe_load(path.read_text())
    names = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(names, list):
        return dict(enumerate(str(n) for n in names))
    if isinstance(names, dict):
        return {int(k): str(v) for k, v in names.items()}
    raise DatasetError(f"{path}: no 'names' list of classes")


def read_labels(path: Path, names: dict[int, str]) -> list[tuple[float, float, float, float]]:
    """The person boxes (x, y, w, h, normalised) of one YOLO label file."""
    boxes: list[tuple[float, float, float, float]] = []
    if not path.is_file():
        return boxes
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            raise DatasetError(f"{path}:{line_no}: expected 'class x y w h', got {line!r}")
        cls = int(parts[0])
        if cls not in names:
            raise DatasetError(f"{path}:{line_no}: class {cls} is not in the dataset's names")
        if names[cls] in NOT_PEOPLE:
            continue
        x, y, w, h = (float(v) for v in parts[1:])
        boxes.append((x, y, w, h))
    return boxes


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DatasetError(f"{folder} not found: the corpus dataset is incomplete")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


def build_dataset(
    corpus: Path,
    out: Path,
    *,
    train: Sequence[str] = DATASETS,
    val: Sequence[str] = DATASETS,
) -> SwimDataset:
    """Link ``train`` datasets' train splits and ``val`` datasets' val splits into ``out``.

    ``out`` is (re)made: ``images/{train,val}/<dataset>__<file>`` links and matching
    ``labels`` files with class 0 only, and ``data.yaml``. Nothing is written to the
    corpus; nothing of the corpus is copied.
    """
    base = corpus / "pool" / "datasets"
    stats: list[SplitStats] = []
    digest = hashlib.sha256()
    for split, names_of in (("train", train), ("val", val)):
        img_dir = out / "images" / split
        lbl_dir = out / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        for old in (*img_dir.iterdir(), *lbl_dir.iterdir()):
            old.unlink()
        for cache in (out / "labels").glob("*.cache"):
            cache.unlink()
        for name in names_of:
            if name not in DATASETS:
                raise DatasetError(
                    f"unknown swimmer dataset {name!r}: known are {', '.join(DATASETS)}"
                )
            folder = base / name
            classes = class_names(folder)
            n_images = n_boxes = 0
            for image in _images(folder / "images" / split):
                boxes = read_labels(folder / "labels" / split / f"{image.stem}.txt", classes)
                stem = f"{name}__{image.stem}"
                os.symlink(image.resolve(), img_dir / f"{stem}{image.suffix.lower()}")
                text = "".join(f"0 {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for x, y, w, h in boxes)
                (lbl_dir / f"{stem}.txt").write_text(text)
                digest.update(f"{split}/{stem}\n{text}".encode())
                n_images += 1
                n_boxes += len(boxes)
            stats.append(SplitStats(name, split, n_images, n_boxes))
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        "# made by guardian.swim.data.build_dataset: links into the corpus, one class\n"
        + json.dumps(
            {
                "path": str(out.resolve()),
                "train": "images/train",
                "val": "images/val",
                "names": {0: "person"},
            }
        )
        + "\n"
    )
    return SwimDataset(out, data_yaml, tuple(stats), digest.hexdigest())
