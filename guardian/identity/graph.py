"""The camera graph: which people on site could plausibly be a new track on a camera.

A person is a candidate for a new track on camera C when they are on site (seen within
``on_site_for``), do not already hold a visible track on C (one person, one track per
camera at a time), and either

* are visible right now on a camera that sees the same area as C (``same_area``), or
  were last seen on C itself (back in view), or
* left a camera linked to C by a transit time, that long ago (a little slack either side).

Someone visible right now on a camera that does *not* share C's area is not a candidate.
The answer is a time cost in 0..1 (0: exactly where and when expected) or None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from guardian.config.identity import IdentityConfig

#: a person seen on a camera within this many seconds counts as visible there now
VISIBLE_WINDOW = 1.0
#: transit windows are widened by this share (and at least 1 s) before they exclude anyone
_SLACK = 0.25


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """Where a person was seen: per camera the last time, and the cameras they hold a
    visible track on now."""

    last_seen: Mapping[str, float]
    holding: frozenset[str]


@dataclass(frozen=True, slots=True)
class Edge:
    same_area: bool
    transit: tuple[float, float] | None


class CameraGraph:
    """The site's cameras, their roles and links, from the ``identity:`` section."""

    def __init__(self, config: IdentityConfig, cameras: Sequence[str]) -> None:
        self.cameras = tuple(cameras)
        self.on_site_for = config.on_site_for
        self.entries = frozenset(c for c in self.cameras if config.role_of(c) == "entry")
        self._edges: dict[tuple[str, str], Edge] = {}
        for link in config.links:
            edge = Edge(link.same_area, link.transit)
            self._edges[(link.source, link.target)] = edge
            if link.both_ways or link.same_area:
                self._edges.setdefault((link.target, link.source), edge)

    def is_entry(self, camera: str) -> bool:
        return camera in self.entries

    def edge(self, source: str, target: str) -> Edge | None:
        """How people get from ``source``'s view to ``target``'s (None: no link)."""
        return self._edges.get((source, target))

    def time_cost(self, camera: str, now: float, where: Whereabouts) -> float | None:
        """0..1 (how expected the person is on ``camera`` now), or None: not plausible."""
        if camera in where.holding or not where.last_seen:
            return None
        last_camera, last = max(where.last_seen.items(), key=lambda item: item[1])
        gap = max(0.0, now - last)
        if gap > self.on_site_for:
            return None
        visible = [c for c, t in where.last_seen.items() if now - t <= VISIBLE_WINDOW]
        if visible:  # seen somewhere right now: only a camera of the same area can see them
            if any(self._same_area(c, camera) for c in visible):
                return 0.0
            if visible == [camera]:  # lost here a moment ago, back again
                return 0.0
            return None
        if last_camera == camera or self._same_area(last_camera, camera):
            return min(1.0, gap / self.on_site_for)  # back in view: the sooner, the likelier
        edge = self.edge(last_camera, camera)
        if edge is None or edge.transit is None:
            return None
        low, high = edge.transit
        slack = max(1.0, _SLACK * (high - low))
        if gap < low - slack or gap > high + slack:
            return None
        if low <= gap <= high:
            return 0.0
        return min(1.0, (low - gap if gap < low else gap - high) / slack)

    def _same_area(self, a: str, b: str) -> bool:
        if a == b:
            return False
        edge = self.edge(a, b)
        return edge is not None and edge.same_area
