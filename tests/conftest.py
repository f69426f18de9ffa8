"""Shared fixtures: the real pose model (exported to ONNX once, cached in models/).

Every model in the suite runs on one CPU thread: each camera of a ``guardian run`` (in
this process or a child, which inherits the environment) and the ``detector`` fixture.
On the two cores of CI a second ONNX Runtime thread doubled the CPU time of a frame
and did not shorten it (55 → 108 ms of CPU per 640 px frame), and the suite runs its
tests one after another, often beside a child process or a live camera of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Broker

from guardian.app import MODEL_THREADS_ENV
from guardian.detection import PoseDetector

REPO = Path(__file__).resolve().parent.parent
MODELS = REPO / "models"
#: CPU threads for every model the tests run (an environment setting overrides it)
MODEL_THREADS = 1

os.environ.setdefault(MODEL_THREADS_ENV, str(MODEL_THREADS))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    return MODELS


@pytest.fixture(scope="session")
def detector(models_dir: Path) -> PoseDetector:
    """The shipped yolo11n-pose model through the ONNX backend at 640, on one thread."""
    return PoseDetector(
        models_dir=models_dir,
        backend="onnx",
        imgsz=640,
        threads=int(os.environ[MODEL_THREADS_ENV]),
    )


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto on a free 127.0.0.1 port (tests/broker.py), stopped after the test."""
    with Broker(tmp_path / "broker") as running:
        yield running
