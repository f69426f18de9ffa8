"""Tests of guardian.relook: the second look at an upscaled crop around a track just lost."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import pytest
from corpus import require_corpus

from guardian.detection import PoseDetector
from guardian.records import Box, Detection, Frame, Keypoint, Track, TrackState
from guardian.relook import Relook

W, H = 640, 480
KPS = tuple(Keypoint(0.0, 0.0, 0.0) for _ in range(17))


def frame(t: float, index: int = 0) -> Frame:
    return Frame("cam", index, t, t, np.zeros((H, W, 3), np.uint8))


def track(box: Box, last_seen: float, state: TrackState = TrackState.LOST, tid: int = 1) -> Track:
    return Track("cam", tid, state, box, 0.9, KPS, 0.0, last_seen, 10)


class CropDetector:
    """Finds one person in a crop (never in a whole frame) at a fixed frame position."""

    def __init__(self, where: Box, score: float = 0.3) -> None:
        self.where = where
        self.score = score
        self.calls: list[tuple[int, int]] = []

    def __call__(self, f: Frame) -> Sequence[Detection]:
        self.calls.append((f.width, f.height))
        if (f.width, f.height) == (W, H):
            return ()
        # the test frame holds a marker at the person's top-left corner: found in crop pixels
        ys, xs = np.nonzero(f.image[:, :, 0] == 255)
        if not len(xs):
            return ()
        x0, y0 = int(xs.min()), int(ys.min())
        w, h = self.where.width, self.where.height
        return (Detection(Box(x0, y0, x0 + w, y0 + h), self.score, KPS),)


def marked(t: float, where: Box) -> Frame:
    f = frame(t)
    f.image[int(where.y1), int(where.x1)] = 255  # the "person" the fake detector finds
    return f


LAST = Box(300.0, 150.0, 360.0, 330.0)  # a standing person's last box
DOWN = Box(260.0, 290.0, 400.0, 340.0)  # the same person lying across the floor below it


def test_a_lost_person_is_found_in_a_crop_and_mapped_back() -> None:
    fake = CropDetector(DOWN)
    look = Relook(fake, window=2.0, max_crops=1)
    found = look.find(marked(10.5, DOWN), [track(LAST, 10.0)])
    assert len(found) == 1
    b = found[0].box
    assert (b.x1, b.y1, b.x2, b.y2) == pytest.approx((DOWN.x1, DOWN.y1, DOWN.x2, DOWN.y2), abs=1)
    assert found[0].score <= look.max_score  # never an upright reference downstream
    (size,) = fake.calls
    assert size[0] < W and size[1] < H  # a crop, not the frame
    assert look.crops == 1


def test_nothing_is_looked_at_without_a_recently_lost_track() -> None:
    fake = CropDetector(DOWN)
    look = Relook(fake, window=2.0)
    assert look.find(marked(13.0, DOWN), [track(LAST, 10.0)]) == ()  # lost 3 s ago
    assert look.find(marked(10.5, DOWN), [track(LAST, 10.0, TrackState.REMOVED)]) == ()
    assert look.find(marked(10.5, DOWN), []) == ()
    assert fake.calls == []


def test_a_person_still_seen_in_the_frame_is_not_looked_for() -> None:
    fake = CropDetector(DOWN)
    look = Relook(fake)
    seen = Detection(Box(298.0, 160.0, 362.0, 332.0), 0.2, KPS)  # a low score, but there
    assert look.find(marked(10.1, DOWN), [track(LAST, 10.0, TrackState.TRACKED)], [seen]) == ()
    assert fake.calls == []


def test_the_cost_is_bounded_per_frame() -> None:
    fake = CropDetector(DOWN)
    look = Relook(fake, max_crops=2)
    tracks = [
        track(Box(50.0 + 100 * i, 100.0, 90.0 + 100 * i, 200.0), 10.0, tid=i) for i in range(5)
    ]
    look.find(marked(10.2, DOWN), tracks)
    assert len(fake.calls) == 2


def test_a_detection_away_from_the_lost_box_is_not_taken() -> None:
    far = Box(10.0, 10.0, 40.0, 60.0)
    look = Relook(CropDetector(far))
    assert look.find(marked(10.5, far), [track(LAST, 10.0)]) == ()


@pytest.mark.corpus
@pytest.mark.model
def test_a_far_person_lost_on_the_grass_is_found_again(models_dir: object) -> None:
    """phone_outdoor_far_trip_fall: a man ~40 px tall trips onto the grass far away; the
    model at a 0.1 floor finds nobody there in the whole frame, the second look does."""
    from pathlib import Path

    path = require_corpus("fall", "demo_repo_clips", "phone_outdoor_far_trip_fall.mp4")
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 180)  # prone on the grass (on-ground frame)
    ok, image = cap.read()
    cap.release()
    assert ok
    assert isinstance(models_dir, Path)
    model = PoseDetector(models_dir=models_dir, backend="onnx", imgsz=640, confidence=0.1)
    whole = model.detect(image)
    last = Box(261.0, 396.3, 327.4, 477.4)  # where the model last saw him, falling (f171)
    lost = track(last, 171 / 30.0)
    assert not [d for d in whole if _near(d.box, last)]
    look = Relook(lambda f: model.detect(f.image))
    found = look.find(Frame("cam", 180, 6.0, 6.0, image), [lost], whole)
    assert len(found) == 1
    box = found[0].box
    assert _near(box, last)
    assert box.width > box.height  # lying across the grass


def _near(a: Box, b: Box) -> bool:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    return ix * iy > 0.2 * min(a.area, b.area)
