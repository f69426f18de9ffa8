"""Typed records that pass between pipeline stages.

Every stage takes and returns these frozen dataclasses; no plain dicts cross a
module boundary. Times are seconds: ``timestamp`` is wall-clock epoch time (for a
file source, the time the file started plus the position in it), ``pts`` is the
position in the source since it was opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

# re-exported: ``from guardian.records import Severity`` keeps working
from guardian.vocab import ClipStatus as ClipStatus
from guardian.vocab import EventStatus as EventStatus
from guardian.vocab import Role as Role
from guardian.vocab import Severity as Severity

#: COCO-17 keypoint names, in the order the pose model emits them.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels: (x1, y1) top-left, (x2, y2) bottom-right."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)

    @property
    def bottom_center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, self.y2)

    @property
    def top_center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2.0, self.y1)

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Keypoint:
    """One COCO keypoint in pixels with the model's confidence (0 when not seen)."""

    x: float
    y: float
    conf: float


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded image from one camera."""

    camera: str
    index: int
    timestamp: float
    pts: float
    image: npt.NDArray[np.uint8] = field(repr=False, compare=False)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True, slots=True)
class Detection:
    """A person found in one frame: box, score and 17 COCO keypoints."""

    box: Box
    score: float
    keypoints: tuple[Keypoint, ...]
    label: str = "person"


class TrackState(StrEnum):
    """Lifecycle of a track: tentative until confirmed, lost while unseen, then removed."""

    TENTATIVE = "tentative"
    TRACKED = "tracked"
    LOST = "lost"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One past position of a track."""

    timestamp: float
    box: Box
    keypoints: tuple[Keypoint, ...]


@dataclass(frozen=True, slots=True)
class Track:
    """A person followed across frames of one camera."""

    camera: str
    track_id: int
    state: TrackState
    box: Box
    score: float
    keypoints: tuple[Keypoint, ...]
    first_seen: float
    last_seen: float
    hits: int
    history: tuple[TrackPoint, ...] = field(default=(), repr=False, compare=False)
    role: Role = Role.UNKNOWN
    #: the person on site this track is (enrolled or anonymous), None until decided
    person_id: str | None = None
    #: the supervising adult (an enrolled person marked responsible; the lanyard token)
    responsible: bool = False
    #: the enrolled person's id (``guardian enroll``); None for people not enrolled
    enrolled_id: str | None = None
    #: the label of the last detection matched ("person"; "swimmer": a box-only
    #: detection by the swimmer detector, no keypoints, no posture)
    label: str = "person"

    @property
    def visible(self) -> bool:
        """True when the track was matched to a detection in the current frame."""
        return self.state is TrackState.TRACKED


class TransitionKind(StrEnum):
    """What happened between a track and a zone."""

    ENTER = "enter"
    LEAVE = "leave"
    #: the track was removed (never seen again) while it was inside the zone
    VANISH = "vanish"


@dataclass(frozen=True, slots=True)
class ZoneTransition:
    """An edge: a track entered, left, or vanished inside a zone."""

    camera: str
    zone: str
    zone_kind: str
    track_id: int
    kind: TransitionKind
    timestamp: float


@dataclass(frozen=True, slots=True)
class ZonePresence:
    """A level: a track is inside a zone, since when."""

    zone: str
    track_id: int
    since: float
    visible: bool


@dataclass(frozen=True, slots=True)
class ZoneCount:
    """How many tracks are inside a zone: seen this frame, and including lost ones."""

    zone: str
    zone_kind: str
    visible: int
    total: int


class Posture(StrEnum):
    """What the pose stage says a person's body is doing."""

    STANDING = "standing"
    SITTING = "sitting"
    LYING = "lying"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PostureReading:
    """The pose stage's verdict on one track in one frame.

    ``since`` is when the current posture started (held without a break since then);
    ``fall_at`` is when a fall (upright to the ground within a short window) was seen,
    kept while the person stays down and cleared when they are upright again.
    """

    track_id: int
    posture: Posture
    since: float
    confidence: float
    fall_at: float | None = None


@dataclass(frozen=True, slots=True)
class SceneChange:
    """Something that was not in a watched zone's background before and is still there.

    Found by comparing frames with a learned background (no model). ``first_seen`` is
    when the changed region appeared; ``area`` is its share of the zone's area (0..1).
    """

    zone: str
    change_id: int
    box: Box
    area: float
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class Observation:
    """What one camera saw in one processed frame, after tracking and zones."""

    camera: str
    frame_index: int
    timestamp: float
    pts: float
    width: int
    height: int
    tracks: tuple[Track, ...]
    presences: tuple[ZonePresence, ...]
    transitions: tuple[ZoneTransition, ...]
    counts: tuple[ZoneCount, ...]
    postures: tuple[PostureReading, ...] = ()
    changes: tuple[SceneChange, ...] = ()

    def zones_of(self, track_id: int) -> tuple[str, ...]:
        return tuple(p.zone for p in self.presences if p.track_id == track_id)

    def count(self, zone: str) -> ZoneCount | None:
        for c in self.counts:
            if c.zone == zone:
                return c
        return None


class HealthProblem(StrEnum):
    """Why a camera cannot watch (or cannot be trusted to)."""

    OFFLINE = "offline"  #: no frame for a while (refused, unplugged, stream gone)
    STALLED = "stalled"  #: frames arrive but the picture is frozen (identical frames)
    OBSTRUCTED = "obstructed"  #: a covered lens or a blinded picture (no detail)
    TOO_DARK = "too_dark"  #: night-black picture
    MOVED = "moved"  #: the view no longer matches the one the zones were drawn on


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A camera problem began (``ended`` None) or ended; wall-clock seconds."""

    camera: str
    problem: HealthProblem
    started: float
    ended: float | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HealthSpan:
    """A stored camera problem: ``ended`` None while it lasts (or when the run died)."""

    span_id: int
    camera: str
    problem: HealthProblem
    started: float
    ended: float | None
    detail: str
    run_id: str


@dataclass(frozen=True, slots=True)
class WatchSpan:
    """One camera watched by one run: from ``started`` to ``ended`` (a clean stop) or, for
    a run that died or is still running, its last heartbeat ``last_beat``."""

    run_id: str
    camera: str
    started: float
    last_beat: float
    ended: float | None
    #: wall-clock time of the last frame processed (None: none yet)
    last_frame: float | None
    frames: int
    fps: float
    #: problems open at the last heartbeat
    problems: tuple[HealthProblem, ...] = ()

    @property
    def until(self) -> float:
        """When watching stopped (or the last sign of life)."""
        return self.ended if self.ended is not None else self.last_beat


@dataclass(frozen=True, slots=True)
class Event:
    """Something a rule decided is worth recording."""

    event_id: str
    rule_id: str
    rule_alias: str
    camera: str
    zone: str | None
    track_id: int | None
    person_id: str | None
    severity: Severity
    started_at: float
    ended_at: float | None
    message: str
    frame_index: int
    status: EventStatus = EventStatus.OPEN


@dataclass(frozen=True, slots=True)
class Clip:
    """A short video of an event, stored on disk.

    Paths are relative to the site's clips folder (``clips/<camera>/<date>/<event>.mp4``);
    several events may share one file when a later event extended an open clip.
    """

    clip_id: str
    event_id: str
    camera: str
    path: str
    start: float
    end: float
    thumbnail_path: str | None = None
    snapshot_path: str | None = None
    size_bytes: int = 0
    status: ClipStatus = ClipStatus.WRITTEN
    #: why a clip was skipped, cut short or deleted ("" when all went well)
    reason: str = ""
    frames: int = 0
    duration: float = 0.0
    created_at: float = 0.0
