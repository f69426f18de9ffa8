"""A second look for people the detector just lost: an upscaled crop around their last box.

The pose model scores a person on the floor low or not at all (lying, seen end-on, small,
at the far side of a care-home room: 0.08–0.34 on our footage). When a confirmed track
has just been lost, :meth:`Relook.find` cuts the region around its last box out of the
frame and runs the same detector on that crop alone. The detector letterboxes every
image to its input size, so a crop of ``s`` pixels is seen ``imgsz / s`` times larger
than in the whole frame: a lying or small person is found again. The detections are
mapped back to frame coordinates and handed to the tracker as its second-look stage
(:meth:`guardian.tracking.Tracker.update` ``relook=``), which only lets them continue
a confirmed track -- never start one.

Cost is bounded: only tracks lost (or about to be: no detection of this frame over
their last box) within the last ``window`` seconds are looked at, at most ``max_crops``
per frame, the most recently seen first; a frame with no such track costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from guardian.records import Box, Detection, Frame, Keypoint, Track, TrackState

__all__ = ["Relook"]

FrameDetect = Callable[[Frame], Sequence[Detection]]


class Relook:
    """Finds recently lost people again in upscaled crops around their last box.

    ``detect``: the camera's detector (the same callable the pipeline uses on whole
    frames); ``window``: seconds after the last sighting during which a track is looked
    for; ``max_crops``: crops per frame at most; ``grow``: how far the crop reaches
    around the last box, in units of its longer side (a standing box becomes a region
    wide enough for the same person lying on the floor); ``min_side``: the smallest crop
    side in pixels (no absurd enlargement of a tiny box); ``covered``: a track whose
    last box overlaps a detection of this frame by at least this much (intersection
    over the smaller box) is still seen and not looked for; ``max_score``: the score a
    found box is given at most -- keep it below ``detection.confidence``: a box from an
    enlarged crop is less steady than one from the frame, so, like a low-score box, it
    continues a track but is never taken as upright or as a level a drop is measured from.
    """

    def __init__(
        self,
        detect: FrameDetect,
        *,
        window: float = 2.0,
        max_crops: int = 1,
        grow: float = 0.6,
        min_side: int = 128,
        covered: float = 0.5,
        max_score: float = 0.3,
    ) -> None:
        if window <= 0 or max_crops < 1 or grow < 0 or min_side < 16:
            raise ValueError("need window > 0, max_crops >= 1, grow >= 0, min_side >= 16")
        self.detect = detect
        self.window = window
        self.max_crops = max_crops
        self.grow = grow
        self.min_side = min_side
        self.covered = covered
        self.max_score = max_score
        #: crops looked at so far (for benches and tests)
        self.crops = 0

    def find(
        self, frame: Frame, tracks: Sequence[Track], detections: Sequence[Detection] = ()
    ) -> tuple[Detection, ...]:
        """People found again around ``tracks`` (the tracker's previous output) in ``frame``.

        At most one detection per looked-at track: the best-scoring one in its crop whose
        box overlaps the track's last box; none that a detection of ``detections`` (this
        frame's whole-image pass) already covers. Frame coordinates.
        """
        now = frame.timestamp
        wanted = [
            t
            for t in tracks
            if t.state in (TrackState.TRACKED, TrackState.LOST)
            and now - t.last_seen <= self.window
            and not any(_overlap(t.box, d.box) >= self.covered for d in detections)
        ]
        wanted.sort(key=lambda t: -t.last_seen)
        out: list[Detection] = []
        for track in wanted[: self.max_crops]:
            crop = self._region(track.box, frame.width, frame.height)
            if crop is None:
                continue
            x0, y0, x1, y1 = crop
            image = np.ascontiguousarray(frame.image[y0:y1, x0:x1])
            self.crops += 1
            sub = Frame(frame.camera, frame.index, frame.timestamp, frame.pts, image)
            best: Detection | None = None
            for d in self.detect(sub):
                moved = _shift(d, x0, y0, self.max_score)
                if _overlap(track.box, moved.box) < 0.2:
                    continue
                if any(_overlap(moved.box, o.box) >= self.covered for o in detections):
                    continue
                if best is None or moved.score > best.score:
                    best = moved
            if best is not None:
                out.append(best)
        return tuple(out)

    def _region(self, box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
        """The crop around ``box``: grown on every side, squared, inside the frame."""
        side = max(box.width, box.height, 1.0)
        cx, cy = box.center
        half = max(side * (0.5 + self.grow), self.min_side / 2.0)
        # a person going down ends lower than their last box: centre the crop lower
        cy = min(cy + 0.25 * box.height, box.y2)
        x0 = int(max(0.0, cx - half))
        y0 = int(max(0.0, cy - half))
        x1 = int(min(float(width), cx + half))
        y1 = int(min(float(height), cy + half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        if x1 - x0 >= width and y1 - y0 >= height:
            return None  # the crop is the whole frame: nothing a second look adds
        return x0, y0, x1, y1


def _shift(d: Detection, dx: int, dy: int, max_score: float) -> Detection:
    box = Box(d.box.x1 + dx, d.box.y1 + dy, d.box.x2 + dx, d.box.y2 + dy)
    points = tuple(Keypoint(k.x + dx, k.y + dy, k.conf) for k in d.keypoints)
    return Detection(box, min(d.score, max_score), points, d.label)


def _overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    small = min(a.area, b.area)
    return ix * iy / small if small > 0 else 0.0
