"""Camera health: can each camera's picture still be watched?

One :class:`CameraHealthMonitor` per camera says when a problem begins and when it is
over, as :class:`~guardian.records.HealthChange` records:

* ``offline`` — no frame for ``offline_after`` seconds (the stream is gone, the camera
  refuses connections, it was unplugged); a live camera that never answered is offline
  from the start of the run. A video file that ended is not offline: it is done (the
  runner asks only live cameras). Over once frames have arrived for ``recover`` s.
* ``stalled`` — frames keep arriving, but the picture is frozen: consecutive frames
  differ by less than :data:`STILL_DIFF` grey levels on average (a 160-pixel-wide grey
  copy), all through ``stalled_after``. Real cameras never do that, even on an empty
  scene: sensor noise and the encoder change every frame a little (the quietest
  5-second stretch of the corpus still differs by 0.044 per frame, see bench/health.py),
  where a stuck encoder repeats its picture (0 to 0.015).
* ``too_dark`` — a night-black picture: low mean (< :data:`DARK_MEAN`) and nothing bright
  (99th percentile < :data:`DARK_TOP`). Infrared night footage is grey, not black.
* ``obstructed`` — a covered lens or a blinded picture: almost no fine detail (less than
  :data:`FLAT_DETAIL` of the pixels; the flattest real footage has 20 %, a picture
  defocused by a tenth of its width under 0.1 %), or mostly white (60 % of the pixels
  at 240 or more; real footage: 20 % at most).
* ``moved`` — the view no longer matches the camera's reference image (the view the
  zones were drawn on): ORB features matched with RANSAC to a similarity transform; on
  a fixed camera the matched features stay within 0.5 % of the width (people, water and
  lighting are outliers), a camera knocked by 5 % or turned by 4° moves them by 1.5 %
  or more; a view recognised in most of its first 20 checks that is then not found at
  all is moved too (a camera turned away). A view with too few stable features (open
  water) is never called moved; one check that finds the view in place ends a wait.

Each problem must last its ``*_after`` setting (short interruptions of less than
:data:`GAP` seconds do not reset it) before it begins, and is over once the picture has
been fine for ``recover`` seconds. ``check(frame)`` runs on the camera's thread for
every frame; ``tick(now, ...)`` runs once a second on the runner's thread (offline).
Times are the frames' timestamps (wall-clock seconds for live cameras) and ``now``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Frame, HealthChange, HealthProblem

if TYPE_CHECKING:
    from guardian.config import CameraConfig, SiteBundle

log = logging.getLogger("guardian.health")

Image = npt.NDArray[np.uint8]

#: the picture statistics are taken on a grey copy this wide
SMALL_WIDTH = 160
#: too dark: mean grey level below this, and 99 % of the pixels below DARK_TOP
DARK_MEAN = 30.0
DARK_TOP = 60.0
#: a pixel has fine detail when it differs by more than this from its neighbourhood
#: (a Gaussian blur of FINE_SIGMA pixels on the small copy) ...
FINE_LEVEL = 1.5
FINE_SIGMA = 1.5
#: ... obstructed: fewer such pixels than this share (real footage: 20 % or more; a
#: picture defocused by a tenth of its width: under 0.1 %) ...
FLAT_DETAIL = 0.02
#: ... or this share of the pixels near white (>= WHITE; real footage: 20 % at most):
#: blinded
BLINDED = 0.6
WHITE = 240
#: frozen: consecutive frames differ by at most this (mean absolute grey difference)
STILL_DIFF = 0.02
#: a condition interrupted for less than this long still counts as lasting
GAP = 2.0
#: the moved check: how often, on a copy this wide, with this many matched features
MOVED_EVERY = 2.0
MATCH_WIDTH = 320
MIN_INLIERS = 25
#: the view is moved when the matched features moved by more than this share of the
#: picture's width (most of them: the 90th percentile), in place under STILL_SHIFT
MOVED_SHIFT = 0.012
STILL_SHIFT = 0.008
#: a view found in place in at least RELIABLE_SHARE of its first RELIABLE_AFTER
#: comparisons is recognisable; then fewer inliers than NO_MATCH (for a whole
#: moved_after) means the camera looks elsewhere: moved. Open water never qualifies.
RELIABLE_AFTER = 20
RELIABLE_SHARE = 0.8
NO_MATCH = 8
#: a reference is taken from a frame at least this long after the camera's first frame
SETTLE = 2.0
#: fewer ORB keypoints than this in a picture: a poor reference, wait for a better frame
MIN_KEYPOINTS = 60


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """When each problem counts (seconds; 0 turns a check off)."""

    offline_after: float = 20.0
    stalled_after: float = 20.0
    obstructed_after: float = 30.0
    too_dark_after: float = 30.0
    moved_after: float = 30.0
    recover: float = 5.0


@dataclass(frozen=True, slots=True)
class PictureStats:
    """What a frame says about the camera, from a small grey copy."""

    mean: float
    #: 99th percentile of the grey levels
    top: float
    #: share of pixels with fine detail
    detail: float
    #: share of near-white pixels
    saturated: float

    @property
    def dark(self) -> bool:
        return self.mean < DARK_MEAN and self.top < DARK_TOP

    @property
    def flat(self) -> bool:
        return self.detail < FLAT_DETAIL

    @property
    def blinded(self) -> bool:
        return self.saturated >= BLINDED


def small_grey(image: Image, width: int = SMALL_WIDTH) -> npt.NDArray[np.float32]:
    """A grey copy ``width`` pixels wide (area-averaged: sensor noise is averaged too)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape[:2]
    size = (width, max(1, round(h * width / max(1, w))))
    return np.asarray(cv2.resize(grey, size, interpolation=cv2.INTER_AREA), np.float32)


def picture_stats(grey: npt.NDArray[np.float32]) -> PictureStats:
    """Brightness, detail and saturation of a small grey copy."""
    hist = np.bincount(np.clip(grey, 0, 255).astype(np.uint8).ravel(), minlength=256)
    n = max(1, int(hist.sum()))
    top = float(np.searchsorted(np.cumsum(hist), 0.99 * n))
    fine = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), FINE_SIGMA))
    detail = float(np.mean(fine > FINE_LEVEL))
    return PictureStats(
        mean=float(grey.mean()),
        top=top,
        detail=detail,
        saturated=float(hist[WHITE:].sum()) / n,
    )


def frame_difference(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> float:
    """Mean absolute grey difference of two small copies (inf when sizes differ)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.mean(np.abs(a - b)))


# -- the moved check -----------------------------------------------------------------------
class Placement(StrEnum):
    """What one comparison with the reference says."""

    IN_PLACE = "in_place"
    MOVED = "moved"
    NO_MATCH = "no_match"  #: almost nothing of the reference is found
    UNKNOWN = "unknown"  #: too few stable features to tell


@dataclass(frozen=True, slots=True)
class ViewMatch:
    placement: Placement
    #: how far the matched features moved (90th percentile), as a share of the width
    shift: float
    inliers: int


def _prepare(image: Image, width: int = MATCH_WIDTH) -> Image:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape[:2]
    size = (width, max(1, round(h * width / max(1, w))))
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
    # local contrast: the same edges by day, under lamps, or in infrared
    return np.asarray(cv2.createCLAHE(2.0, (4, 4)).apply(small), np.uint8)


class ReferenceView:
    """The view a camera's zones were drawn on, and how well a picture matches it."""

    def __init__(self, image: Image) -> None:
        self.image = image
        self._orb = cv2.ORB.create(nfeatures=500, fastThreshold=10)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
        self._aspect = image.shape[1] / max(1, image.shape[0])
        self._ref = self._features(_prepare(image))
        #: comparisons so far (up to RELIABLE_AFTER) and how many found it in place
        self.tried = 0
        self.found = 0

    @property
    def reliable(self) -> bool:
        """The view was found in place in most of its first comparisons: not finding it
        at all then means something (a camera turned away), not water or people."""
        return self.tried >= RELIABLE_AFTER and self.found >= RELIABLE_SHARE * self.tried

    @property
    def keypoints(self) -> int:
        return len(self._ref[0])

    def _features(
        self, grey: Image
    ) -> tuple[tuple[cv2.KeyPoint, ...], npt.NDArray[np.uint8] | None]:
        keypoints, descriptors = self._orb.detectAndCompute(grey, None)
        return tuple(keypoints), None if descriptors is None else np.asarray(descriptors, np.uint8)

    def compare(self, image: Image) -> ViewMatch:
        """Where the reference is in ``image`` (a picture of the same camera)."""
        aspect = image.shape[1] / max(1, image.shape[0])
        if abs(aspect / self._aspect - 1) > 0.02:
            return ViewMatch(Placement.MOVED, 1.0, 0)  # another picture size: another view
        grey = _prepare(image)
        kr, dr = self._ref
        kc, dc = self._features(grey)
        inliers, shift = 0, 0.0
        if dr is not None and dc is not None and len(kr) >= 8 and len(kc) >= 8:
            matches = self._matcher.match(dr, dc)
            if len(matches) >= 8:
                src = np.array([kr[m.queryIdx].pt for m in matches], np.float32)
                dst = np.array([kc[m.trainIdx].pt for m in matches], np.float32)
                transform, mask = cv2.estimateAffinePartial2D(
                    src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0
                )
                if transform is not None and mask is not None:
                    kept = mask.ravel().astype(bool)
                    inliers = int(kept.sum())
                    # how far the matched features moved (not the picture's corners: a
                    # match fitted to one patch can tilt, the features stay put)
                    points = src[kept]
                    moved = points @ transform[:, :2].T + transform[:, 2]
                    if inliers:
                        by = np.hypot(*(moved - points).T) / grey.shape[1]
                        shift = float(np.percentile(by, 90))
        placement = Placement.UNKNOWN
        if inliers >= MIN_INLIERS:
            if shift < STILL_SHIFT:
                placement = Placement.IN_PLACE
            elif shift > MOVED_SHIFT:
                placement = Placement.MOVED
        elif self.reliable and inliers < NO_MATCH:
            placement = Placement.NO_MATCH
        if self.tried < RELIABLE_AFTER:
            self.tried += 1
            self.found += placement is Placement.IN_PLACE
        return ViewMatch(placement, shift, inliers)


def load_reference(path: Path) -> Image | None:
    """The reference image at ``path`` (None when missing or unreadable)."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return None if image is None else np.asarray(image, np.uint8)


def save_reference(path: Path, image: Image) -> None:
    """Write a reference image (PNG), its folder made if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise OSError(f"cannot encode {path}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data.tobytes())
    tmp.replace(path)


# -- one problem's timing ------------------------------------------------------------------
class _Hold:
    """A condition that must last ``after`` s to begin, and be gone ``recover`` s to end."""

    def __init__(
        self, problem: HealthProblem, after: float, recover: float, gap: float = GAP
    ) -> None:
        self.problem = problem
        self.after = after
        self.recover = recover
        #: a candidate survives fine readings for less than this long
        self.gap = gap
        self.since: float | None = None  # the condition began (a candidate, or open)
        self.fine_since: float | None = None  # it has been gone since
        self.open = False
        self.detail = ""

    def update(self, camera: str, t: float, bad: bool, detail: str = "") -> HealthChange | None:
        if self.after <= 0:
            return None
        if bad:
            self.fine_since = None
            if self.since is None:
                self.since = t
            if not self.open and t - self.since >= self.after:
                self.open, self.detail = True, detail
                return HealthChange(camera, self.problem, self.since, None, detail)
            return None
        if self.since is None:
            return None
        if self.fine_since is None:
            self.fine_since = t
        if t - self.fine_since >= (self.recover if self.open else self.gap):
            return self.close(camera, self.fine_since)
        return None

    def close(self, camera: str, ended: float) -> HealthChange | None:
        """End it now (reset); the change when it was open."""
        was_open, started = self.open, self.since
        self.open, self.since, self.fine_since = False, None, None
        if was_open and started is not None:
            return HealthChange(camera, self.problem, started, max(ended, started), self.detail)
        return None


class CameraHealthMonitor:
    """One camera's problems, from its frames (``check``) and the clock (``tick``).

    ``reference`` is the view the zones were drawn on (the moved check; None: no moved
    check, unless ``reference_path`` is given: then the first good frame, ``SETTLE``
    seconds after the first one, is saved there and becomes the reference).
    """

    def __init__(
        self,
        camera: str,
        settings: HealthSettings | None = None,
        *,
        reference: Image | None = None,
        reference_path: Path | None = None,
        started: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.camera = camera
        self.settings = settings or HealthSettings()
        s = self.settings
        recover = s.recover
        self._offline = _Hold(HealthProblem.OFFLINE, s.offline_after, recover)
        self._stalled = _Hold(HealthProblem.STALLED, s.stalled_after, recover)
        self._dark = _Hold(HealthProblem.TOO_DARK, s.too_dark_after, recover)
        self._obstructed = _Hold(HealthProblem.OBSTRUCTED, s.obstructed_after, recover)
        # one view found in place is proof enough: it resets a candidate at once
        self._moved = _Hold(HealthProblem.MOVED, s.moved_after, recover, gap=0.0)
        self._holds = (self._offline, self._stalled, self._dark, self._obstructed, self._moved)
        self.reference = ReferenceView(reference) if reference is not None else None
        self.reference_path = reference_path
        #: the watch began (a camera that never sends a frame is offline from then)
        self.started = clock() if started is None else started
        self._lock = threading.Lock()
        self._prev: npt.NDArray[np.float32] | None = None
        self._first: float | None = None
        self._back_since: float | None = None
        self._next_match = 0.0
        #: the last comparison with the reference (for logs and the benchmark)
        self.last_match: ViewMatch | None = None
        self.last_stats: PictureStats | None = None

    @property
    def problems(self) -> tuple[HealthProblem, ...]:
        """The problems open now."""
        return tuple(h.problem for h in self._holds if h.open)

    def check(self, frame: Frame) -> list[HealthChange]:
        """One frame: the problems it begins or ends (the camera's thread)."""
        t = frame.timestamp
        grey = small_grey(frame.image)
        stats = picture_stats(grey)
        with self._lock:
            changes: list[HealthChange] = []
            self._frame_back(t, changes)
            if self._first is None:
                self._first = t
            self.last_stats = stats
            dark = stats.dark
            blocked = not dark and (stats.flat or stats.blinded)
            diff = frame_difference(grey, self._prev) if self._prev is not None else None
            self._prev = grey
            frozen = diff is not None and diff <= STILL_DIFF and not (dark or blocked)
            self._add(changes, self._dark.update(self.camera, t, dark, _dark_detail(stats)))
            self._add(
                changes,
                self._obstructed.update(self.camera, t, blocked, _blocked_detail(stats)),
            )
            self._add(
                changes,
                self._stalled.update(self.camera, t, frozen, "the picture does not change"),
            )
            if not (dark or blocked or frozen):
                self._check_view(frame.image, t, changes)
            return changes

    def tick(
        self, now: float, last_frame_at: float | None, connected: bool | None = None
    ) -> list[HealthChange]:
        """The clock: offline when no frame came for ``offline_after`` (runner's thread).

        ``last_frame_at`` is when the last frame arrived (None: none yet); ``connected``
        False says the camera never accepted a connection (for the detail).
        """
        with self._lock:
            changes: list[HealthChange] = []
            last = self.started if last_frame_at is None else last_frame_at
            quiet = now - last
            if quiet > GAP:
                self._back_since = None  # frames stopped again before it was over
            if self._offline.after <= 0 or self._offline.open or quiet < self._offline.after:
                return changes
            self._offline.open = True
            self._offline.since = last
            detail = (
                "the camera refuses connections"
                if connected is False
                else f"no picture for {quiet:.0f} s"
            )
            self._offline.detail = detail
            # nothing is seen now: the picture's problems end where the pictures did
            for hold in (self._stalled, self._dark, self._obstructed, self._moved):
                self._add(changes, hold.close(self.camera, last))
            self._prev = None
            changes.append(HealthChange(self.camera, HealthProblem.OFFLINE, last, None, detail))
            return changes

    def arrived(self, t: float) -> list[HealthChange]:
        """A frame came at ``t`` whose picture is checked elsewhere (a camera run by a
        worker checks its own): only ends an offline spell, after ``recover`` s of frames."""
        with self._lock:
            changes: list[HealthChange] = []
            self._frame_back(t, changes)
            return changes

    def close(self, now: float) -> list[HealthChange]:
        """The watch ends (a clean stop): every open problem ends now."""
        with self._lock:
            changes: list[HealthChange] = []
            for hold in self._holds:
                self._add(changes, hold.close(self.camera, now))
            return changes

    # -- internals --------------------------------------------------------------------------
    @staticmethod
    def _add(changes: list[HealthChange], change: HealthChange | None) -> None:
        if change is not None:
            changes.append(change)

    def _frame_back(self, t: float, changes: list[HealthChange]) -> None:
        """A frame while offline: over once frames have come for ``recover`` s."""
        if not self._offline.open:
            return
        if self._back_since is None:
            self._back_since = t
        if t - self._back_since >= self._offline.recover:
            self._add(changes, self._offline.close(self.camera, self._back_since))
            self._back_since = None

    def _check_view(self, image: Image, t: float, changes: list[HealthChange]) -> None:
        """Every MOVED_EVERY s: the reference (taken first if needed), then the view."""
        if self._moved.after <= 0 or t < self._next_match:
            return
        self._next_match = t + MOVED_EVERY
        if self.reference is None:
            self._take_reference(image, t)
            return
        match = self.reference.compare(image)
        self.last_match = match
        if match.placement is Placement.UNKNOWN:
            return
        bad = match.placement in (Placement.MOVED, Placement.NO_MATCH)
        detail = (
            f"the view is {match.shift:.0%} of the picture away from its reference"
            if match.placement is Placement.MOVED
            else "the reference view is no longer found in the picture"
        )
        self._add(changes, self._moved.update(self.camera, t, bad, detail))

    def _take_reference(self, image: Image, t: float) -> None:
        if self.reference_path is None or self._first is None or t - self._first < SETTLE:
            return
        candidate = ReferenceView(image)
        if candidate.keypoints < MIN_KEYPOINTS:
            return  # too little to recognise it by: wait for a better picture
        try:
            save_reference(self.reference_path, image)
        except OSError as exc:
            log.warning(
                "camera %s: cannot save its reference view to %s: %s",
                self.camera,
                self.reference_path,
                exc,
            )
            self.reference_path = None
            return
        self.reference = candidate
        log.warning(
            "camera %s: saved its reference view (the view the 'moved' check compares "
            "with) to %s; re-take it with 'guardian reference --camera %s' after moving "
            "the camera on purpose",
            self.camera,
            self.reference_path,
            self.camera,
        )


def _dark_detail(stats: PictureStats) -> str:
    return f"the picture is black (brightness {stats.mean:.0f} of 255)"


def _blocked_detail(stats: PictureStats) -> str:
    if stats.blinded:
        return f"the picture is white ({stats.saturated:.0%} of it): blinded?"
    return f"the picture has almost no detail ({stats.detail:.1%}): covered lens?"


# -- a site's cameras ----------------------------------------------------------------------
def reference_path(bundle: SiteBundle, camera: CameraConfig) -> Path:
    """Where a camera's reference view is: its ``reference:`` (relative to the site file),
    else ``references/<camera>.png`` next to the database."""
    if camera.reference is not None:
        path = Path(camera.reference).expanduser()
        return path if path.is_absolute() else bundle.base_dir / path
    return bundle.database_path.parent / "references" / f"{camera.id}.png"
