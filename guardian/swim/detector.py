"""People in water: the pose model's detections plus the swimmer detector's boxes.

:class:`WaterDetector` runs both models on one frame. A person the pose model found
keeps its keypoints; a swimmer box that overlaps a pose detection is the same person
and is dropped; every other swimmer box becomes a :class:`Detection` without keypoints
(label ``swimmer``), so the one tracker of the camera follows swimmers like anyone else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

from guardian.records import Box, Detection

__all__ = ["SWIMMER_LABEL", "WaterDetector", "merge_detections", "shipped_swimmer_path"]

#: the label of a detection made by the swimmer detector
SWIMMER_LABEL = "swimmer"

Image = npt.NDArray[np.uint8]


def shipped_swimmer_path() -> Path:
    """The swimmer detector shipped with Guardian (``guardian/swim/weights/swimmer.pt``)."""
    return Path(str(resources.files("guardian.swim") / "weights" / "swimmer.pt"))


def _overlap(a: Box, b: Box) -> float:
    """The larger of IoU and intersection over the smaller box (a head inside a body box)."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    if inter <= 0.0:
        return 0.0
    smaller = min(a.area, b.area)
    union = a.area + b.area - inter
    return max(inter / union if union > 0 else 0.0, inter / smaller if smaller > 0 else 0.0)


def merge_detections(
    people: Sequence[Detection], swimmers: Sequence[Detection], overlap: float
) -> tuple[Detection, ...]:
    """``people`` (kept whole) and the ``swimmers`` none of them explains, best first.

    Swimmer boxes are also de-duplicated among themselves (the better one stays).
    """
    kept: list[Detection] = list(people)
    for det in sorted(swimmers, key=lambda d: -d.score):
        if all(_overlap(det.box, other.box) < overlap for other in kept):
            kept.append(det)
    return tuple(sorted(kept, key=lambda d: -d.score))


class WaterDetector:
    """``detect(image)``: the pose model and the swimmer detector, merged."""

    def __init__(
        self,
        pose: Callable[[Image], Sequence[Detection]],
        swimmers: Callable[[Image], Sequence[Detection]],
        *,
        overlap: float = 0.4,
    ) -> None:
        self.pose = pose
        self.swimmers = swimmers
        self.overlap = overlap

    def detect(self, image: Image) -> tuple[Detection, ...]:
        return merge_detections(self.pose(image), self.swimmers(image), self.overlap)
