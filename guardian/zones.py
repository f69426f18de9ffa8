"""Zones: polygons on a camera image, and which tracks are inside them.

A :class:`Zone` is a polygon in pixels with an *anchor* (the point of a person that must
be inside, e.g. the feet for a floor zone) and an *inertia* (how many consecutive visible
frames the inside/outside test must agree before the membership flips, which removes
flicker at the edge).

:class:`ZoneTracker` turns the tracks of each frame into levels (:class:`ZonePresence`),
edges (:class:`ZoneTransition`: ENTER, LEAVE, VANISH) and counts (:class:`ZoneCount`).

* Only TRACKED (visible) tracks have their inside test evaluated. A LOST track keeps its
  memberships unchanged and its pending run of frames is frozen (neither counted nor
  reset) until it is seen again; it is reported with ``visible=False``.
* A REMOVED track that was inside a zone gives one VANISH transition for that zone; its
  state is then forgotten.
* Tracks are matched to the zones of their own camera; the state is kept per
  ``(camera, track_id)``. Zone names must be unique within one tracker.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely

from guardian.records import (
    Track,
    TrackState,
    TransitionKind,
    ZoneCount,
    ZonePresence,
    ZoneTransition,
)

__all__ = [
    "ANCHORS",
    "KEYPOINT_MIN_CONF",
    "Zone",
    "ZoneTracker",
    "ZoneUpdate",
    "anchor_point",
]

#: the points of a person a zone can test
ANCHORS: tuple[str, ...] = ("bottom_center", "center", "top_center", "head", "hips", "feet")
#: keypoints below this confidence are ignored by the keypoint anchors
KEYPOINT_MIN_CONF = 0.3

# COCO-17 indices: nose, eyes, ears / hips / ankles
_KEYPOINT_GROUPS: dict[str, tuple[int, ...]] = {
    "head": (0, 1, 2, 3, 4),
    "hips": (11, 12),
    "feet": (15, 16),
}


@dataclass(frozen=True, slots=True)
class Zone:
    """A polygon (pixels) on one camera's image, with the anchor and inertia of its test."""

    name: str
    camera: str
    kind: str
    points: tuple[tuple[float, float], ...]
    anchor: str = "bottom_center"
    inertia: int = 3
    #: the prepared shapely polygon, built from ``points``
    polygon: shapely.Polygon = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.anchor not in ANCHORS:
            raise ValueError(f"zone {self.name!r}: unknown anchor {self.anchor!r}")
        if self.inertia < 1:
            raise ValueError(f"zone {self.name!r}: inertia must be >= 1")
        if len(self.points) < 3:
            raise ValueError(f"zone {self.name!r}: a polygon needs at least 3 points")
        polygon = shapely.Polygon(self.points)
        if not polygon.is_valid or polygon.area <= 0.0:
            reason = shapely.is_valid_reason(polygon)
            raise ValueError(f"zone {self.name!r}: invalid polygon ({reason})")
        shapely.prepare(polygon)
        object.__setattr__(self, "polygon", polygon)

    @classmethod
    def from_points(
        cls,
        name: str,
        camera: str,
        kind: str,
        points_px: Iterable[Sequence[float]],
        anchor: str = "bottom_center",
        inertia: int = 3,
    ) -> Zone:
        """Build a zone from polygon vertices in pixels, e.g. ``[(0, 0), (100, 0), ...]``."""
        points = tuple((float(p[0]), float(p[1])) for p in points_px)
        return cls(name, camera, kind, points, anchor, int(inertia))

    def contains(self, x: float, y: float) -> bool:
        """True when (x, y) is inside the polygon or on its boundary."""
        return bool(shapely.intersects_xy(self.polygon, x, y))


def anchor_point(track: Track, anchor: str) -> tuple[float, float]:
    """The point of ``track`` that zones with this ``anchor`` test.

    Box anchors (``bottom_center``, ``center``, ``top_center``) use the box. Keypoint
    anchors use the mean of the confident keypoints (conf >= ``KEYPOINT_MIN_CONF``):
    ``head`` nose/eyes/ears, ``hips`` both hips, ``feet`` both ankles; with none
    confident, ``head`` falls back to ``top_center`` and the others to ``bottom_center``.
    """
    box = track.box
    if anchor == "bottom_center":
        return ((box.x1 + box.x2) * 0.5, box.y2)
    if anchor == "center":
        return ((box.x1 + box.x2) * 0.5, (box.y1 + box.y2) * 0.5)
    if anchor == "top_center":
        return ((box.x1 + box.x2) * 0.5, box.y1)
    group = _KEYPOINT_GROUPS.get(anchor)
    if group is None:
        raise ValueError(f"unknown anchor {anchor!r}")
    keypoints = track.keypoints
    n_kp = len(keypoints)
    sx = sy = 0.0
    n = 0
    for i in group:
        if i < n_kp:
            kp = keypoints[i]
            if kp.conf >= KEYPOINT_MIN_CONF:
                sx += kp.x
                sy += kp.y
                n += 1
    if n:
        return (sx / n, sy / n)
    if anchor == "head":
        return ((box.x1 + box.x2) * 0.5, box.y1)
    return ((box.x1 + box.x2) * 0.5, box.y2)


@dataclass(frozen=True, slots=True)
class ZoneUpdate:
    """What the zones saw in one frame."""

    presences: tuple[ZonePresence, ...]
    transitions: tuple[ZoneTransition, ...]
    #: one per zone, in the order the zones were given, even when empty
    counts: tuple[ZoneCount, ...]


class _Memberships:
    """Per-track state against the zones of its camera (lists indexed like the zones)."""

    __slots__ = ("member", "presence", "since", "streak", "streak_start")

    def __init__(self, n_zones: int) -> None:
        self.member = [False] * n_zones
        #: consecutive visible frames whose raw test disagreed with ``member``
        self.streak = [0] * n_zones
        #: timestamp of the first frame of that run
        self.streak_start = [0.0] * n_zones
        #: when the current membership started (valid while ``member``)
        self.since = [0.0] * n_zones
        #: cached presence record (rebuilt when visibility or ``since`` changes)
        self.presence: list[ZonePresence | None] = [None] * n_zones


class _CameraZones:
    """The zones of one camera, by global index, grouped by anchor."""

    __slots__ = ("by_anchor", "indices")

    def __init__(self) -> None:
        self.indices: list[int] = []
        #: anchor -> local zone positions (indices into ``indices``)
        self.by_anchor: dict[str, list[int]] = {}


class ZoneTracker:
    """Keeps, frame after frame, which tracks are inside which zones."""

    def __init__(self, zones: Sequence[Zone]) -> None:
        self.zones: tuple[Zone, ...] = tuple(zones)
        self._index: dict[str, int] = {}
        self._cameras: dict[str, _CameraZones] = {}
        # position of each zone within its camera's list
        self._local: list[int] = []
        for gi, zone in enumerate(self.zones):
            if zone.name in self._index:
                raise ValueError(f"duplicate zone name {zone.name!r}")
            self._index[zone.name] = gi
            cam = self._cameras.setdefault(zone.camera, _CameraZones())
            local = len(cam.indices)
            cam.indices.append(gi)
            cam.by_anchor.setdefault(zone.anchor, []).append(local)
            self._local.append(local)
        self._state: dict[tuple[str, int], _Memberships] = {}

    def update(self, tracks: Sequence[Track], timestamp: float) -> ZoneUpdate:
        """Feed the tracks of one frame; get presences, transitions and counts."""
        now = float(timestamp)
        zones = self.zones
        n_zones = len(zones)
        transitions: list[ZoneTransition] = []
        per_zone: list[list[ZonePresence]] = [[] for _ in range(n_zones)]
        visible_count = [0] * n_zones
        total_count = [0] * n_zones

        # split the tracks per camera into visible and hidden, handle the removed ones
        visible: dict[str, list[tuple[Track, _Memberships]]] = {}
        hidden: list[tuple[Track, _Memberships, _CameraZones]] = []
        for track in tracks:
            cam = self._cameras.get(track.camera)
            if cam is None:
                continue
            key = (track.camera, track.track_id)
            state = track.state
            if state is TrackState.REMOVED:
                st = self._state.pop(key, None)
                if st is not None:
                    for local, gi in enumerate(cam.indices):
                        if st.member[local]:
                            zone = zones[gi]
                            transitions.append(
                                ZoneTransition(
                                    zone.camera,
                                    zone.name,
                                    zone.kind,
                                    track.track_id,
                                    TransitionKind.VANISH,
                                    now,
                                )
                            )
                continue
            st = self._state.get(key)
            if st is None:
                st = self._state[key] = _Memberships(len(cam.indices))
            if state is TrackState.TRACKED:
                visible.setdefault(track.camera, []).append((track, st))
            else:
                hidden.append((track, st, cam))

        for camera, items in visible.items():
            cam = self._cameras[camera]
            n_local = len(cam.indices)
            # raw[local][k]: is the anchor of the k-th visible track inside that zone
            raw: list[list[bool]] = [[] for _ in range(n_local)]
            for anchor, locals_ in cam.by_anchor.items():
                pts = [anchor_point(t, anchor) for t, _ in items]
                xs = np.fromiter((p[0] for p in pts), dtype=np.float64, count=len(pts))
                ys = np.fromiter((p[1] for p in pts), dtype=np.float64, count=len(pts))
                for local in locals_:
                    poly = zones[cam.indices[local]].polygon
                    raw[local] = shapely.intersects_xy(poly, xs, ys).tolist()
            for k, (track, st) in enumerate(items):
                member = st.member
                streak = st.streak
                for local in range(n_local):
                    inside = raw[local][k]
                    gi = cam.indices[local]
                    if inside != member[local]:
                        run = streak[local] + 1
                        if run == 1:
                            st.streak_start[local] = now
                        zone = zones[gi]
                        if run >= zone.inertia:
                            member[local] = inside
                            streak[local] = 0
                            if inside:
                                st.since[local] = st.streak_start[local]
                                st.presence[local] = None
                            transitions.append(
                                ZoneTransition(
                                    zone.camera,
                                    zone.name,
                                    zone.kind,
                                    track.track_id,
                                    TransitionKind.ENTER if inside else TransitionKind.LEAVE,
                                    now,
                                )
                            )
                        else:
                            streak[local] = run
                    elif streak[local]:
                        streak[local] = 0
                    if member[local]:
                        per_zone[gi].append(self._presence(st, local, gi, track.track_id, True))
                        visible_count[gi] += 1
                        total_count[gi] += 1

        for track, st, cam in hidden:
            for local, gi in enumerate(cam.indices):
                if st.member[local]:
                    per_zone[gi].append(self._presence(st, local, gi, track.track_id, False))
                    total_count[gi] += 1

        presences = tuple(p for ps in per_zone for p in ps)
        counts = tuple(
            ZoneCount(zone.name, zone.kind, visible_count[gi], total_count[gi])
            for gi, zone in enumerate(zones)
        )
        return ZoneUpdate(presences, tuple(transitions), counts)

    def _presence(
        self, st: _Memberships, local: int, gi: int, track_id: int, visible: bool
    ) -> ZonePresence:
        cached = st.presence[local]
        if cached is None or cached.visible != visible:
            cached = ZonePresence(self.zones[gi].name, track_id, st.since[local], visible)
            st.presence[local] = cached
        return cached

    def dwell(self, track_id: int, zone: str | Zone, now: float) -> float | None:
        """Seconds ``track_id`` has been inside ``zone`` at ``now``; None when not inside."""
        name = zone if isinstance(zone, str) else zone.name
        gi = self._index.get(name)
        if gi is None:
            raise KeyError(f"unknown zone {name!r}")
        st = self._state.get((self.zones[gi].camera, track_id))
        if st is None:
            return None
        local = self._local[gi]
        if not st.member[local]:
            return None
        return now - st.since[local]
