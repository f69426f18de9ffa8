"""Motion gating: run the person models only when they can see something new.

:class:`MotionDetector` compares a small grey copy of each frame with a background
that follows the scene over a few seconds (Frigate's approach), inside the camera's
watched area: zones marked ``motion: ignore`` are left out, and in zones marked
``motion: shimmer`` (water, leaves) a pixel counts only when it changes well beyond
how much it usually moves there (a running variance per pixel).

:class:`InferenceGate` says, frame by frame, whether the models run: on movement, while
the camera's tracker holds a track (tracked, or lost and still kept), while a rule waits
on the camera (:class:`RuleWaits`, set by the rule thread), and at least once per
heartbeat. Frames it skips still go through tracking, zones, postures and the rules
(with no detections), the clip ring and the health checks.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from guardian.config.motion import MotionConfig
from guardian.config.zones import ZoneConfig
from guardian.health import small_grey
from guardian.records import Frame

#: width of the grey copy the motion check works on (height follows the frame)
MOTION_WIDTH = 160
#: seconds over which the background follows the scene
BACKGROUND_SECONDS = 2.0
#: in shimmer zones a pixel moves when it changes by more than this many of its usual
#: deviations (on top of the threshold)
SHIMMER_DEVIATIONS = 4.0
#: more than this share of the picture changing at once is the light (switched, a cloud):
#: the background starts again from this frame, and the models look once
LIGHTING_SHARE = 0.6

Grey = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Motion:
    """What moved in one frame."""

    #: movement in the watched area, at least ``min_area`` of the picture
    moving: bool
    #: the moving share of the whole picture (0..1)
    share: float
    #: the whole picture changed at once (light); the background was reset
    lighting: bool = False


class MotionDetector:
    """One camera's motion check: ``detect(image, timestamp)`` → :class:`Motion`."""

    def __init__(
        self,
        config: MotionConfig,
        zones: Sequence[ZoneConfig] = (),
        *,
        width: int = MOTION_WIDTH,
    ) -> None:
        self.config = config
        #: the camera's zones (their ``motion:`` says what their movement means)
        self.zones = tuple(zones)
        self.width = width
        self._size: tuple[int, int] | None = None
        self._background: Grey | None = None
        self._variance: Grey | None = None
        self._last: float | None = None
        #: per-pixel threshold: +inf where movement never counts
        self._threshold: Grey | None = None
        #: pixels of shimmer zones (their threshold adds the usual deviation)
        self._shimmer: npt.NDArray[np.bool_] | None = None
        self._pixels = 1
        self._kernel = np.ones((3, 3), np.uint8)

    def detect(self, image: npt.NDArray[np.uint8], timestamp: float) -> Motion:
        grey = self._grey(image)
        if self._background is None or self._variance is None or self._last is None:
            self._reset(grey, timestamp)
            return Motion(moving=True, share=1.0)
        dt = max(0.0, timestamp - self._last)
        self._last = timestamp
        assert self._threshold is not None and self._shimmer is not None
        delta = grey - self._background
        change = np.abs(delta)
        threshold = self._threshold
        if self._shimmer.any():
            threshold = threshold.copy()
            deviation = np.sqrt(self._variance[self._shimmer])
            threshold[self._shimmer] += SHIMMER_DEVIATIONS * deviation
        moved = (change > threshold).astype(np.uint8)
        # single pixels are noise (compression, sensor): a mover is a blob
        moved = cv2.morphologyEx(moved, cv2.MORPH_OPEN, self._kernel)
        count = int(moved.sum())
        share = count / self._pixels
        everywhere = float((change > self.config.threshold).mean())
        if everywhere > LIGHTING_SHARE:
            self._reset(grey, timestamp)
            return Motion(moving=True, share=share, lighting=True)
        rate = 1.0 - math.exp(-dt / BACKGROUND_SECONDS) if dt > 0 else 0.0
        if rate > 0:
            self._background += rate * delta
            self._variance += rate * (delta * delta - self._variance)
        return Motion(moving=share >= self.config.min_area, share=share)

    def _grey(self, image: npt.NDArray[np.uint8]) -> Grey:
        height, width = image.shape[:2]
        small_h = max(1, round(self.width * height / max(1, width)))
        if self._size != (width, height):
            self._size = (width, height)
            self._background = None
            self._build_masks(width, height, small_h)
        # the health check's small grey copy, blurred: compression noise is not movement
        return np.asarray(cv2.GaussianBlur(small_grey(image, self.width), (5, 5), 0), np.float32)

    def _reset(self, grey: Grey, timestamp: float) -> None:
        self._background = grey.copy()
        self._variance = np.zeros_like(grey)
        self._last = timestamp

    def _build_masks(self, width: int, height: int, small_h: int) -> None:
        """The per-pixel threshold of a ``width`` x ``height`` camera's small copy."""
        sx, sy = self.width / width, small_h / height
        shape = (small_h, self.width)

        def painted(zones: Sequence[ZoneConfig]) -> npt.NDArray[np.bool_]:
            mask = np.zeros(shape, np.uint8)
            for zone in zones:
                points = np.array(
                    [(x * sx, y * sy) for x, y in zone.polygon_px(width, height)], np.float32
                )
                cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
            return mask.astype(bool)

        if self.config.area == "zones":
            watched = painted([z for z in self.zones if z.motion != "ignore"])
        else:
            watched = np.ones(shape, bool)
        shimmer = painted([z for z in self.zones if z.motion == "shimmer"])
        ignored = painted([z for z in self.zones if z.motion == "ignore"])
        watched &= ~ignored
        threshold = np.full(shape, np.inf, np.float32)
        threshold[watched] = float(self.config.threshold)
        self._threshold = threshold
        self._shimmer = shimmer & watched
        self._pixels = shape[0] * shape[1]


class RuleWaits:
    """Cameras a rule is waiting on (a submersion timer running): set by the rule thread
    after each observation, read by the camera threads (their models keep running).

    ``on_change(camera, waiting)`` hears each change (the site tells the worker of a
    camera that runs elsewhere)."""

    def __init__(self, on_change: Callable[[str, bool], None] | None = None) -> None:
        self._cameras: set[str] = set()
        self._lock = threading.Lock()
        self.on_change = on_change

    def set(self, camera: str, waiting: bool) -> None:
        with self._lock:
            changed = waiting != (camera in self._cameras)
            if waiting:
                self._cameras.add(camera)
            else:
                self._cameras.discard(camera)
        if changed and self.on_change is not None:
            self.on_change(camera, waiting)

    def __contains__(self, camera: object) -> bool:
        with self._lock:
            return camera in self._cameras


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether the models run on a frame, and why."""

    run: bool
    #: motion, tracks, rules, heartbeat, lighting, first (the camera's first frame) or still
    reason: str


class InferenceGate:
    """One camera's gate: ``decide(frame, tracking)`` → run the models or not."""

    def __init__(
        self,
        camera: str,
        config: MotionConfig,
        motion: MotionDetector,
        waits: RuleWaits | None = None,
    ) -> None:
        self.camera = camera
        self.heartbeat = float(config.heartbeat)
        self.motion = motion
        self.waits = waits
        #: frames by reason (the benchmark's and the progress line's figures)
        self.counts: Counter[str] = Counter()
        self._last_run: float | None = None

    def decide(self, frame: Frame, tracking: bool) -> Decision:
        """``tracking``: the camera's tracker holds a track (tracked or lost, still kept)."""
        # the background follows the scene on every frame, so it is current when
        # the last track ends
        seen = self.motion.detect(frame.image, frame.timestamp)
        if self._last_run is None:
            reason = "first"
        elif tracking:
            reason = "tracks"
        elif self.waits is not None and self.camera in self.waits:
            reason = "rules"
        elif seen.lighting:
            reason = "lighting"
        elif seen.moving:
            reason = "motion"
        elif not 0 <= frame.timestamp - self._last_run < self.heartbeat - 1e-6:
            reason = "heartbeat"  # (or the clock went back: look now)
        else:
            reason = "still"
        run = reason != "still"
        if run:
            self._last_run = frame.timestamp
        self.counts[reason] += 1
        return Decision(run, reason)

    @property
    def skipped(self) -> int:
        """Frames on which the models did not run."""
        return self.counts["still"]
