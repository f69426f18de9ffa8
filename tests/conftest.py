"""Shared fixtures: the real pose model (exported to ONNX once, cached in models/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian.detection import PoseDetector

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS


@pytest.fixture(scope="session")
def detector(models_dir: Path) -> PoseDetector:
    """The shipped yolo11n-pose model through the ONNX backend at 640."""
    return PoseDetector(models_dir=models_dir, backend="onnx", imgsz=640)
