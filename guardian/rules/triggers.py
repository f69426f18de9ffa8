"""Trigger kinds: edges (something just happened) and timers (something has lasted).

Each kind is a config model (what users write) and a runtime class with ``fire(view)``.
Triggers that wait keep their pending state in their rule's durable :class:`Memory`
(key ``camera|zone|run|track``), so a restart resumes them: a person's track id is only
valid within one run, so entries of an earlier run are *orphans* that a person appearing
at the same place in the new run takes over (or that fire, for the absence timer).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from itertools import pairwise
from typing import Any, Generic, Literal, TypeVar

from pydantic import Field, model_validator

from guardian.records import Box, Posture, Track, TransitionKind
from guardian.rules.base import Hit, Memory, Pending, View
from guardian.rules.fields import Count, KindConfig, NameList, TimerDuration, TriggerConfig
from guardian.rules.registry import TRIGGERS
from guardian.rules.state import (
    AbsentEntry,
    CountDropState,
    DwellEntry,
    Entry,
    OccupancyState,
    PostureEntry,
    marked_file,
)
from guardian.timefmt import format_duration
from guardian.vocab import ENROLLED_ROLES, Role

log = logging.getLogger("guardian.rules")

#: a track whose zone membership started within this long of its first sighting
#: *appeared* inside the zone (it did not walk in across the edge)
APPEAR_WINDOW = 1.5
#: how long orphans of an earlier run wait for a person to take them over
ORPHAN_WAIT = 30.0
#: how long a fired absence timer still covers its disappearance (count_drop stays quiet)
FIRED_KEPT = 600.0
#: a person who appears inside the zone this soon after an absence fired, where that
#: missing person was last seen, is the same disappearance (frames that queued up while
#: Guardian was held up, a ghost detection, the person glimpsed again while the alarm is
#: on): losing them again does not fire a second alarm. Later, it is a new one.
SAME_DISAPPEARANCE = 30.0
#: ... and that close (share of the image diagonal) to where they were last seen
ECHO_DISTANCE = 0.1


def _seconds(value: float) -> str:
    """A length of time as people read it: ``5 s``, ``2 min 30 s``, ``1 h 5 min``."""
    return format_duration(value)


def _lasting(value: float) -> str:
    """`` for 10 s``; nothing for a moment too short to say (a fall that just happened)."""
    return f" for {format_duration(value)}" if value >= 0.5 else ""


def _spot(view: View, box: Box) -> tuple[float, float]:
    """Bottom-centre of a box in fractions of the image."""
    w, h = max(1, view.obs.width), max(1, view.obs.height)
    return ((box.x1 + box.x2) / 2 / w, box.y2 / h)


def _distance(view: View, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance between two fractional points, as a share of the image diagonal."""
    w, h = max(1, view.obs.width), max(1, view.obs.height)
    return math.hypot((a[0] - b[0]) * w, (a[1] - b[1]) * h) / math.hypot(w, h)


def _at_frame_edge(view: View, box: Box, margin: float) -> bool:
    if margin <= 0:
        return False
    w, h = view.obs.width, view.obs.height
    mx, my = margin * w, margin * h
    return box.x1 <= mx or box.y1 <= my or box.x2 >= w - mx or box.y2 >= h - my


def _appeared_inside(track: Track | None, since: float) -> bool:
    return track is not None and since - track.first_seen <= APPEAR_WINDOW


Slot = tuple[str, str, int]  # (camera, zone, track id) within this run


class _Entries(Generic[Entry]):
    """Per-track durable entries of one trigger, with orphan hand-over between runs.

    ``mine`` indexes this run's entries by (camera, zone, track) for speed; ``orphans``
    are entries of an earlier run (their tracks are gone). Every change goes to the
    rule's Memory too (as JSON, read back with ``load``), so it is written with the events.
    """

    def __init__(self, load: Callable[[Mapping[str, Any]], Entry]) -> None:
        self.load: Callable[[Mapping[str, Any]], Entry] = load
        self.memory = Memory("")
        self.run = ""
        self.mine: dict[Slot, Entry] = {}
        self.orphans: dict[str, Entry] = {}
        #: cameras that play a file: their entries are marked, and end with the file
        self.files: frozenset[str] = frozenset()
        self._expired: set[str] = set()
        self._first: dict[str, float] = {}

    def bind(self, memory: Memory, run_id: str) -> None:
        self.memory, self.run = memory, run_id
        self.orphans = {k: self.load(v) for k, v in memory.items() if isinstance(v, dict)}

    def sessions(self, files: frozenset[str]) -> None:
        """``files``: cameras that play a file. An orphan that came from a file, or that
        is for a camera now playing one, belongs to a video that is over: dropped."""
        self.files = files
        for key, entry in list(self.orphans.items()):
            if entry.file or key.split("|", 1)[0] in files:
                log.info("dropped %s: left by an earlier run on a video file", key)
                self.drop_orphan(key)

    def end(self, camera: str) -> list[tuple[str, int, Entry]]:
        """The camera's stream ended: its entries, removed and returned with their zone
        and track id (this run's)."""
        gone = [(slot[1], slot[2], e) for slot, e in self.mine.items() if slot[0] == camera]
        for slot in [s for s in self.mine if s[0] == camera]:
            self.drop(slot)
        for key in [k for k in self.orphans if k.split("|", 1)[0] == camera]:
            self.drop_orphan(key)  # none for a file camera (dropped by sessions)
        return gone

    def _key(self, slot: Slot) -> str:
        return f"{slot[0]}|{slot[1]}|{self.run}|{slot[2]}"

    def get(self, slot: Slot) -> Entry | None:
        return self.mine.get(slot)

    def put(self, slot: Slot, entry: Entry) -> None:
        if slot[0] in self.files:
            entry = marked_file(entry)  # ends with the file, never resumed
        self.mine[slot] = entry
        self.memory.put(self._key(slot), entry.to_json())

    def drop(self, slot: Slot) -> None:
        if self.mine.pop(slot, None) is not None:
            self.memory.drop(self._key(slot))

    def drop_orphan(self, key: str) -> None:
        if self.orphans.pop(key, None) is not None:
            self.memory.drop(key)

    def adopt(
        self, view: View, zone: str, spot: tuple[float, float], within: float
    ) -> Entry | None:
        """The nearest orphan of an earlier run at this spot, taken over (removed)."""
        if not self.orphans:
            return None
        prefix = f"{view.camera}|{zone}|"
        best: tuple[float, str, Entry] | None = None
        for key, entry in self.orphans.items():
            if not key.startswith(prefix):
                continue
            d = _distance(view, spot, (entry.x, entry.y))
            if d <= within and (best is None or d < best[0]):
                best = (d, key, entry)
        if best is None:
            return None
        self.drop_orphan(best[1])
        return best[2]

    def expire_orphans(self, view: View) -> None:
        """Orphans nobody took over within ORPHAN_WAIT of this run's first frame go."""
        if not self.orphans or view.camera in self._expired:
            return
        first = self._first.setdefault(view.camera, view.timestamp)
        if view.timestamp - first < ORPHAN_WAIT:
            return
        self._expired.add(view.camera)
        for key in [k for k in self.orphans if k.startswith(view.camera + "|")]:
            self.drop_orphan(key)


# -- zone edges ---------------------------------------------------------------------------
class ZoneEnterConfig(TriggerConfig):
    """Fires when a person's anchor point enters a zone (after the zone's inertia).

    A person first seen already inside the zone, close to where somebody was lost inside
    it a moment before, is that person found again (a swimmer the detector lost for a
    few frames comes back as a new track): that is not an entry (``refound``).

    Each entry also says which *visit* of the zone it belongs to: a visit begins when
    somebody enters the zone after it was empty (nobody inside, seen or lost) for
    ``visit_gap``, and lasts while anybody is inside. A rule with ``cooldown_per: zone``
    alerts once per visit: new track ids of the same swimmers, or a second child
    jumping in, add nothing; an entry into the empty zone is alerted even within the
    cooldown.
    """

    kind: Literal["zone_enter"] = Field(description="zone_enter: a person entered a zone")
    zones: NameList = Field(
        min_length=1, description="zone name, or a list of names, that the person enters"
    )
    refound: TimerDuration = Field(
        10.0,
        ge=0,
        description="a person first seen inside the zone within this long of somebody lost "
        "inside it, within 'rematch' of that spot, was found again, not entering; 0: off",
    )
    rematch: float = Field(
        0.25,
        ge=0,
        le=1,
        description="how close (share of the image diagonal) to where somebody was lost a "
        "person appearing inside must be to count as found again",
    )
    visit_gap: TimerDuration = Field(
        10.0,
        ge=0,
        description="how long the zone must have been empty (nobody inside, seen or lost) "
        "for an entry to begin a new visit (cooldown_per: zone alerts once per visit)",
    )


class ZoneLeaveConfig(TriggerConfig):
    """Fires when a person seen inside a zone is seen outside it (after the zone's inertia)."""

    kind: Literal["zone_leave"] = Field(description="zone_leave: a person left a zone")
    zones: NameList = Field(min_length=1, description="zone name, or list of names, left")


class ZoneEdge:
    def __init__(self, zones: Iterable[str], kind: TransitionKind) -> None:
        self.zones = tuple(zones)
        self.kind = kind
        self.verb = "entered" if kind is TransitionKind.ENTER else "left"

    def fire(self, view: View) -> list[Hit]:
        return [
            view.hit(t.zone, t.track_id, f"{{who}} {self.verb} {t.zone}", t.timestamp)
            for zone in self.zones
            for t in view.transitions(zone)
            if t.kind is self.kind
        ]


class ZoneEnter(ZoneEdge):
    """Entries, less people found again where somebody was just lost (``refound``)."""

    def __init__(self, config: ZoneEnterConfig) -> None:
        super().__init__(config.zones, TransitionKind.ENTER)
        self.refound = float(config.refound)
        self.rematch = float(config.rematch)
        self.visit_gap = float(config.visit_gap)
        #: (camera, zone) → track id → (lost at, x, y) of people lost inside the zone
        self._lost: dict[tuple[str, str], dict[int, tuple[float, float, float]]] = {}
        #: (camera, zone) → [the visit's start, whether the zone was seen empty before
        #: it, the last time somebody was inside, the last frame's time]
        self._visits: dict[tuple[str, str], list[Any]] = {}

    def _visit(self, key: tuple[str, str], now: float, occupied: bool) -> tuple[float, bool]:
        """The zone's current visit (its start, and whether it is known to be new),
        updated with this frame."""
        state = self._visits.get(key)
        if state is None:  # the zone may have been occupied before the run began
            state = self._visits[key] = [now, False, now, now]
        if occupied:
            empty_since = state[2]
            if empty_since < state[3] and now - empty_since >= self.visit_gap:
                state[0], state[1] = now, True  # entered after being empty long enough
            state[2] = now
        state[3] = now
        return float(state[0]), bool(state[1])

    def fire(self, view: View) -> list[Hit]:
        camera, now = view.camera, view.timestamp
        hits: list[Hit] = []
        for zone in self.zones:
            lost = self._lost.setdefault((camera, zone), {})
            presences = view.presences(zone)
            if self.refound <= 0:
                visit, new = self._visit((camera, zone), now, bool(presences))
                for t in view.transitions(zone):
                    if t.kind is TransitionKind.ENTER:
                        hit = view.hit(t.zone, t.track_id, f"{{who}} entered {t.zone}", t.timestamp)
                        hits.append(replace(hit, visit=visit, new_visit=new))
                continue
            for p in presences:
                if p.visible:
                    lost.pop(p.track_id, None)
                elif p.track_id not in lost:
                    track = view.track(p.track_id)
                    if track is not None:
                        lost[p.track_id] = (track.last_seen, *_spot(view, track.box))
            for tid in [k for k, v in lost.items() if now - v[0] > self.refound]:
                del lost[tid]
            visit, new = self._visit((camera, zone), now, bool(presences) or bool(lost))
            for t in view.transitions(zone):
                if t.kind is not TransitionKind.ENTER:
                    continue
                track = view.track(t.track_id)
                if track is not None and _appeared_inside(track, t.timestamp) and lost:
                    spot = _spot(view, track.box)
                    near = min(lost, key=lambda k: _distance(view, spot, lost[k][1:]))
                    if _distance(view, spot, lost[near][1:]) <= self.rematch:
                        del lost[near]  # one lost person, found once
                        log.info(
                            "%s: track %d in %s is track %d found again, not an entry",
                            camera,
                            t.track_id,
                            zone,
                            near,
                        )
                        continue
                hit = view.hit(t.zone, t.track_id, f"{{who}} entered {t.zone}", t.timestamp)
                hits.append(replace(hit, visit=visit, new_visit=new))
        return hits


TRIGGERS.register("zone_enter", ZoneEnterConfig, ZoneEnter, "a person entered a zone")
TRIGGERS.register(
    "zone_leave",
    ZoneLeaveConfig,
    lambda c: ZoneEdge(c.zones, TransitionKind.LEAVE),
    "a person left a zone",
)


# -- dwell ---------------------------------------------------------------------------------
class DwellConfig(TriggerConfig):
    """Fires once when a person has been inside a zone for a while."""

    kind: Literal["dwell"] = Field(description="dwell: a person stayed in a zone for a while")
    zones: NameList = Field(min_length=1, description="zone name, or list of names")
    for_: TimerDuration = Field(
        alias="for", gt=0, description="how long inside before it fires, e.g. '2m'"
    )


class Dwell:
    """One entry per (zone, track): since when inside, and whether it fired."""

    def __init__(self, config: DwellConfig) -> None:
        self.zones = tuple(config.zones)
        self.duration = float(config.for_)
        self.entries = _Entries(DwellEntry.from_json)

    def bind(self, memory: Memory, run_id: str) -> None:
        self.entries.bind(memory, run_id)

    def sessions(self, files: frozenset[str]) -> None:
        self.entries.sessions(files)

    def end_stream(self, camera: str, now: float) -> list[Pending]:
        return [
            Pending(
                camera=camera,
                zone=zone,
                track_id=tid,
                since=e.since,
                deadline=e.since + self.duration,
                ended=now,
                detail=f"{e.who()} in {zone} since {{clock}}",
                kind="dwell",
            )
            for zone, tid, e in self.entries.end(camera)
            if not e.fired
        ]

    def fire(self, view: View) -> list[Hit]:
        hits: list[Hit] = []
        entries, now, camera = self.entries, view.timestamp, view.camera
        for zone in self.zones:
            for p in view.presences(zone):
                slot = (camera, zone, p.track_id)
                entry = entries.get(slot)
                if entry is None:
                    track = view.track(p.track_id)
                    spot = _spot(view, track.box) if track else (0.5, 0.5)
                    entry = DwellEntry(p.since, False, spot[0], spot[1])
                    if _appeared_inside(track, p.since):
                        taken = entries.adopt(view, zone, spot, 0.25)
                        if taken is not None:  # the same person, from before a restart
                            entry = replace(
                                entry, since=min(p.since, taken.since), fired=taken.fired
                            )
                    entries.put(slot, entry)
                elif p.visible and not entry.fired:
                    track = view.track(p.track_id)
                    if track is not None:
                        spot = _spot(view, track.box)
                        if abs(spot[0] - entry.x) + abs(spot[1] - entry.y) > 0.05:
                            entry = replace(entry, x=spot[0], y=spot[1])
                            entries.put(slot, entry)
                if not entry.fired and now - entry.since >= self.duration:
                    entries.put(slot, replace(entry, fired=True))
                    hits.append(
                        view.hit(
                            zone,
                            p.track_id,
                            f"{{who}} has been in {zone} for {_seconds(now - entry.since)}",
                        )
                    )
            for t in view.transitions(zone):
                if t.kind is not TransitionKind.ENTER:
                    entries.drop((camera, zone, t.track_id))
        entries.expire_orphans(view)
        return hits


TRIGGERS.register("dwell", DwellConfig, Dwell, "a person stayed in a zone for a while")


# -- absence: the submersion timer ---------------------------------------------------------------
class AbsentConfig(TriggerConfig):
    """A person last seen inside a zone has not been seen again for ``timeout``.

    The pool submersion timer: a swimmer who goes under water looks, to the detector,
    exactly like a track lost inside the water zone. One timer per person; seen again
    (or a person appearing where they were last seen) cancels it. A person who walked
    out across the zone's edge, left the camera's view, or was last seen in an exit zone
    is not missing. With ``edge``, a person lost in a band along the water who was not
    walking along it or away from the water fell in: the same timer starts.
    """

    kind: Literal["absent"] = Field(description="absent: a person vanished inside a zone")
    zones: NameList = Field(min_length=1, description="zone(s) where someone can go missing")
    timeout: TimerDuration = Field(
        gt=0,
        description="how long unseen before the rule fires, from the last sighting (e.g. '15s')",
    )
    exits: NameList = Field(
        default_factory=list,
        description="zones where a person may leave unseen (pool steps, a door): lost there is not missing",
    )
    frame_edge: float = Field(
        0.03,
        ge=0,
        le=0.5,
        description="lost with the box this close to the image border (share of width/height) "
        "means they walked out of view; 0 turns this off",
    )
    rematch: float = Field(
        0.25,
        ge=0,
        le=1,
        description="a person appearing inside the zone this close (share of the image diagonal) "
        "to where a missing person was last seen is taken to be them",
    )
    edge: NameList = Field(
        default_factory=list,
        description="zones along the edge of the water (a strip of deck a step wide, drawn in "
        "the zone file): a person who vanishes there fell in, and the timer starts as if they "
        "were lost in the water, unless they were walking along the edge or away from the water",
    )


#: the edge of the water (``absent`` with ``edge``): a person moving all through their last
#: EDGE_WALK seconds of sightings, each EDGE_STEP seconds by at least EDGE_PACE of the image
#: diagonal, was walking ...
EDGE_WALK = 2.0
EDGE_STEP = 0.5
EDGE_PACE = 0.01
#: ... and, at the edge for longer than this, walking along it (not towards the water), or
#: out of the water within this long, walking away from it
EDGE_ALONG = 3.0


class Absent:
    """Timers per (camera, zone, track) with the deadline and the last position."""

    def __init__(self, config: AbsentConfig) -> None:
        self.zones = tuple(config.zones)
        self.exits = tuple(config.exits)
        self.timeout = float(config.timeout)
        self.frame_edge = float(config.frame_edge)
        self.rematch = float(config.rematch)
        self.edge = tuple(config.edge)
        self.entries = _Entries(AbsentEntry.from_json)
        #: lost tracks that left the view or went through an exit (not missing)
        self._left: set[Slot] = set()
        #: tracks already checked for "appeared inside" (camera, track id)
        self._checked: set[tuple[str, int]] = set()
        #: the edge: recent sightings (time, x, y) of the people at the edge, when each was
        #: last seen in the water, the lost ones already judged, and new tracks checked
        self._trail: dict[tuple[str, int], deque[tuple[float, float, float]]] = {}
        self._wet: dict[tuple[str, int], float] = {}
        self._judged: set[tuple[str, int]] = set()
        self._fresh: set[tuple[str, int]] = set()
        #: lost tracks whose timer is settled (they were found again as another track, or
        #: it fired) while the tracker still lists them as lost: never timed again
        self._settled: set[Slot] = set()
        #: (camera, track id) → when its timer fired (see missing_tracks)
        self._fired: dict[tuple[str, int], float] = {}
        #: (camera, zone) → the alarms that fired there: (when, x, y, person id)
        self._alarms: dict[tuple[str, str], list[tuple[float, float, float, str | None]]] = {}
        #: tracks taken for the person of an alarm that already fired (never timed)
        self._echoes: set[tuple[str, int]] = set()

    def bind(self, memory: Memory, run_id: str) -> None:
        self.entries.bind(memory, run_id)

    def sessions(self, files: frozenset[str]) -> None:
        self.entries.sessions(files)

    def timing(self, camera: str) -> bool:
        """A timer runs on ``camera`` (this run's, or one an earlier run left)."""
        return any(slot[0] == camera for slot in self.entries.mine) or any(
            e.camera == camera for e in self.entries.orphans.values()
        )

    def missing_tracks(self, camera: str) -> set[int]:
        """This run's tracks on ``camera`` with a timer running, or one that fired."""
        ids = {slot[2] for slot in self.entries.mine if slot[0] == camera}
        return ids | {tid for (cam, tid) in self._fired if cam == camera}

    def end_stream(self, camera: str, now: float) -> list[Pending]:
        """The camera's file ended: its running timers, dropped and returned."""
        self._settled = {s for s in self._settled if s[0] != camera}
        self._left = {s for s in self._left if s[0] != camera}
        out = []
        for _, _, entry in self.entries.end(camera):
            zone, edge = entry.zone, entry.edge
            where = f"in {zone}" if not edge else f"at the edge of {zone} ({edge})"
            out.append(
                Pending(
                    camera=camera,
                    zone=zone,
                    track_id=entry.track,
                    since=entry.last_seen,
                    deadline=entry.deadline,
                    ended=now,
                    detail=f"{entry.who()} last seen {{clock}} {where}",
                    kind="absent",
                )
            )
        return out

    def fire(self, view: View) -> list[Hit]:
        entries, camera = self.entries, view.camera
        for zone in self.zones:
            # the lost first: a person found again as a new track in the frame they
            # were lost in resurfaces from the timer just started
            for p in sorted(view.presences(zone), key=lambda p: p.visible):
                slot = (camera, zone, p.track_id)
                if p.visible:
                    if slot in entries.mine:
                        entries.drop(slot)  # seen again
                        log.info("%s: track %d seen again in %s", camera, p.track_id, zone)
                    self._left.discard(slot)
                    self._settled.discard(slot)
                    if (camera, p.track_id) not in self._checked:
                        self._checked.add((camera, p.track_id))
                        track = view.track(p.track_id)
                        if track is not None and _appeared_inside(track, p.since):
                            self._resurfaced(view, zone, track)
                            self._echo(view, zone, track)
                elif (
                    slot not in entries.mine
                    and slot not in self._left
                    and slot not in self._settled
                    and (camera, p.track_id) not in self._echoes
                ):
                    track = view.track(p.track_id)
                    if track is not None:
                        self._start(view, zone, slot, track)
            for t in view.transitions(zone):
                slot = (camera, zone, t.track_id)
                if t.kind is TransitionKind.LEAVE:
                    entries.drop(slot)  # walked out across the edge
                if t.kind is not TransitionKind.ENTER:
                    self._left.discard(slot)
                    self._settled.discard(slot)
        if self.edge:
            self._at_edge(view)
        for track_id in view.removed():
            self._checked.discard((camera, track_id))
            self._echoes.discard((camera, track_id))
            if self._settled:
                self._settled -= {s for s in self._settled if s[0] == camera and s[2] == track_id}
        if not entries.mine and not entries.orphans:
            return []
        return self._due(view.timestamp, {camera}, view.obs.frame_index)

    # -- the edge of the water: fell in from the deck ----------------------------------
    def _at_edge(self, view: View) -> None:
        """People at the edge: follow them, and judge the ones lost there."""
        camera, now = view.camera, view.timestamp
        inside = {p.track_id for zone in self.zones for p in view.presences(zone)}
        edge = {p.track_id: p for band in self.edge for p in view.presences(band)}
        for tid in inside | edge.keys():
            track = view.track(tid)
            if track is None or not track.visible:
                continue
            key = (camera, tid)
            if tid in inside:
                self._wet[key] = now
            self._judged.discard(key)
            trail = self._trail.setdefault(key, deque())
            x, y = _spot(view, track.box)
            trail.append((now, x, y))
            while trail[0][0] < now - EDGE_WALK - EDGE_STEP:
                trail.popleft()
        for tid, p in edge.items():
            key = (camera, tid)
            if p.visible or tid in inside or key in self._judged:
                continue
            self._judged.add(key)
            track = view.track(tid)
            if track is not None:
                self._lost_at_edge(view, p.zone, p.since, track)
        # the same person seen again, or somebody appearing where they were last seen
        pending = False
        for slot, entry in list(self.entries.mine.items()):
            if slot[0] == camera and entry.edge:
                pending = True
                track = view.track(slot[2])
                if track is not None and track.visible:
                    self.entries.drop(slot)
                    log.info("%s: track %d seen again at the edge", camera, slot[2])
        pending = pending or any(e.edge for e in self.entries.orphans.values())
        for track in view.obs.tracks:
            key = (camera, track.track_id)
            if not track.visible or key in self._fresh:
                continue
            self._fresh.add(key)
            if pending and now - track.first_seen <= APPEAR_WINDOW:
                self._resurfaced(view, None, track)
        for track_id in view.removed():
            key = (camera, track_id)
            self._trail.pop(key, None)
            self._wet.pop(key, None)
            self._judged.discard(key)
            self._fresh.discard(key)

    def _lost_at_edge(self, view: View, band: str, since: float, track: Track) -> None:
        """A person lost at the edge fell in, unless they were walking along it or away."""
        key = (view.camera, track.track_id)
        last = track.last_seen
        if self._walking(view, self._trail.get(key, ())):
            wet = self._wet.get(key)
            if wet is not None and last - wet <= EDGE_ALONG:
                log.info("%s: track %d lost walking away from the water", *key)
                return
            if last - max(since, wet or since) > EDGE_ALONG:
                log.info("%s: track %d lost walking along %s", view.camera, track.track_id, band)
                return
        zone = self.zones[0]
        self._start(view, zone, (view.camera, zone, track.track_id), track, band)

    @staticmethod
    def _walking(view: View, trail: Iterable[tuple[float, float, float]]) -> bool:
        """Moving all through the last EDGE_WALK seconds of sightings (walking pace)."""
        points = list(trail)
        if not points:
            return False
        end = points[-1][0]
        if end - points[0][0] < EDGE_WALK - EDGE_STEP / 2:
            return False  # not seen long enough to tell

        def at(t: float) -> tuple[float, float]:
            best = min(points, key=lambda q: abs(q[0] - t))
            return (best[1], best[2])

        steps = round(EDGE_WALK / EDGE_STEP)
        marks = [at(end - i * EDGE_STEP) for i in range(steps + 1)]
        return all(_distance(view, a, b) >= EDGE_PACE for a, b in pairwise(marks))

    def due(self, now: float, cameras: Iterable[str] | None = None) -> list[Hit]:
        """Timers that passed their deadline, on the given cameras (all when None)."""
        return self._due(now, None if cameras is None else set(cameras), -1)

    def _start(
        self, view: View, zone: str, slot: Slot, track: Track, edge: str | None = None
    ) -> None:
        exits = any(
            p.track_id == track.track_id for name in self.exits for p in view.presences(name)
        )
        if exits or _at_frame_edge(view, track.box, self.frame_edge):
            self._left.add(slot)
            return
        x, y = _spot(view, track.box)
        entry = AbsentEntry(
            camera=view.camera,
            zone=zone,
            track=track.track_id,
            last_seen=track.last_seen,
            deadline=track.last_seen + self.timeout,
            x=x,
            y=y,
            person=track.person_id,
            role=Role(track.role),
            responsible=track.responsible,
            enrolled_id=track.enrolled_id,
            edge=edge,
        )
        self.entries.put(slot, entry)
        log.info(
            "%s: track %d lost in %s%s, timer %.0fs",
            view.camera,
            track.track_id,
            edge or zone,
            "" if edge is None else f" (the edge of {zone})",
            self.timeout,
        )

    def _resurfaced(self, view: View, zone: str | None, track: Track) -> None:
        """A person appeared inside the zone: the missing person nearest them is found.

        ``zone`` None: a person appeared anywhere, which finds only a person who went
        missing at the edge (they may not have fallen in after all).
        """
        spot = _spot(view, track.box)
        best: tuple[float, Slot | str] | None = None
        candidates: list[tuple[Slot | str, AbsentEntry]] = [
            *self.entries.mine.items(),
            *self.entries.orphans.items(),
        ]
        for key, entry in candidates:
            if entry.camera != view.camera:
                continue
            if entry.zone != zone and (zone is not None or not entry.edge):
                continue
            if track.person_id is not None and entry.person == track.person_id:
                best = (0.0, key)
                break
            d = _distance(view, spot, (entry.x, entry.y))
            if d <= self.rematch and (best is None or d < best[0]):
                best = (d, key)
        if best is None:
            return
        self._forget(best[1])
        log.info(
            "%s: track %d appeared in %s: a missing person resurfaced",
            view.camera,
            track.track_id,
            zone or "view",
        )

    def _echo(self, view: View, zone: str, track: Track) -> None:
        """A person appearing inside where the missing person of an alarm that just
        fired was last seen is that same disappearance: never timed again."""
        alarms = self._alarms.get((view.camera, zone))
        if not alarms:
            return
        now = view.timestamp
        alarms[:] = [a for a in alarms if now - a[0] <= SAME_DISAPPEARANCE]
        spot = _spot(view, track.box)
        for _, x, y, person in alarms:
            same = track.person_id is not None and person == track.person_id
            if same or _distance(view, spot, (x, y)) <= min(self.rematch, ECHO_DISTANCE):
                self._echoes.add((view.camera, track.track_id))
                log.info(
                    "%s: track %d appeared in %s where the person of an alarm was last "
                    "seen: the same disappearance, not timed again",
                    view.camera,
                    track.track_id,
                    zone,
                )
                return

    def _forget(self, key: Slot | str) -> None:
        if isinstance(key, str):
            self.entries.drop_orphan(key)
        else:
            self.entries.drop(key)
            self._settled.add(key)  # its track may still be listed as lost: not again

    def _due(self, now: float, cameras: set[str] | None, frame_index: int) -> list[Hit]:
        hits: list[Hit] = []
        candidates: list[tuple[Slot | str, AbsentEntry]] = [
            *self.entries.mine.items(),
            *self.entries.orphans.items(),
        ]
        for key, entry in candidates:
            if cameras is not None and entry.camera not in cameras:
                continue
            if entry.deadline > now:
                continue
            self._forget(key)  # fires once
            if not isinstance(key, str):
                self._fired[(key[0], key[2])] = now
                for old in [k for k, at in self._fired.items() if now - at > FIRED_KEPT]:
                    del self._fired[old]
            if not entry.edge:  # the same disappearance never fires twice
                self._alarms.setdefault((entry.camera, entry.zone), []).append(
                    (now, entry.x, entry.y, entry.person)
                )
            last = entry.last_seen
            hits.append(
                Hit(
                    camera=entry.camera,
                    timestamp=now,
                    frame_index=frame_index,
                    zone=entry.zone,
                    track_id=entry.track,
                    person_id=entry.person,
                    role=entry.role,
                    responsible=entry.responsible,
                    enrolled_id=entry.enrolled_id,
                    detail=f"{{who}} not seen for {_seconds(now - last)} since {{clock}} "
                    + (
                        f"in {entry.zone}"
                        if not entry.edge
                        else f"at the edge of {entry.zone} ({entry.edge}): fell in?"
                    ),
                    clock=last,
                )
            )
        return hits


TRIGGERS.register("absent", AbsentConfig, Absent, "a person vanished inside a zone (submersion)")


# -- posture -------------------------------------------------------------------------------------
class PostureConfig(TriggerConfig):
    """Fires on a fall, or on a person lying down, held for a while (from the pose stage)."""

    kind: Literal["posture"] = Field(description="posture: a fall, or a person lying down")
    state: Literal["fallen", "lying"] = Field(
        description="fallen: a fall was seen and the person is still down; lying: lying down"
    )
    for_: TimerDuration = Field(
        0.0, alias="for", description="how long the state must last before it fires, e.g. '10s'"
    )
    zones: NameList = Field(
        default_factory=list, description="only people inside these zones; empty: anywhere"
    )


class PostureTrigger:
    """One entry per track: the start of the state, and whether it fired."""

    def __init__(self, config: PostureConfig) -> None:
        self.state = config.state
        self.duration = float(config.for_)
        self.zones = tuple(config.zones)
        self.entries = _Entries(PostureEntry.from_json)

    def bind(self, memory: Memory, run_id: str) -> None:
        self.entries.bind(memory, run_id)

    def sessions(self, files: frozenset[str]) -> None:
        self.entries.sessions(files)

    def end_stream(self, camera: str, now: float) -> list[Pending]:
        what = "down after a fall" if self.state == "fallen" else "lying down"
        return [
            Pending(
                camera=camera,
                zone=self.zones[0] if self.zones else None,
                track_id=tid,
                since=e.start,
                deadline=e.start + self.duration,
                ended=now,
                detail=f"{e.who()} {what} since {{clock}}",
                kind="posture",
            )
            for _, tid, e in self.entries.end(camera)
            if not e.fired
        ]

    def fire(self, view: View) -> list[Hit]:
        hits: list[Hit] = []
        entries, now, camera = self.entries, view.timestamp, view.camera
        allowed: set[int] | None = None
        if self.zones:
            allowed = {p.track_id for z in self.zones for p in view.presences(z)}
        lying = self.state == "lying"
        active: set[int] = set()
        for reading in view.obs.postures:
            if lying:
                if reading.posture is not Posture.LYING:
                    continue
                start = reading.since
            elif reading.fall_at is None:
                continue
            else:
                start = reading.fall_at
            tid = reading.track_id
            if allowed is not None and tid not in allowed:
                continue
            active.add(tid)
            slot = (camera, "*", tid)
            entry = entries.get(slot)
            if entry is None or entry.reading != start:
                track = view.track(tid)
                spot = _spot(view, track.box) if track else (0.5, 0.5)
                entry = PostureEntry(start, start, False, spot[0], spot[1])
                if track is not None and track.first_seen >= now - APPEAR_WINDOW:
                    taken = entries.adopt(view, "*", spot, 0.25)
                    if taken is not None:  # still down since before a restart
                        entry = replace(entry, start=min(start, taken.start), fired=taken.fired)
                entries.put(slot, entry)
            if not entry.fired and now - entry.start >= self.duration:
                entries.put(slot, replace(entry, fired=True))
                held = _lasting(now - entry.start)
                if self.state == "fallen":
                    what = "{who} fell" + (f" and has been down{held}" if held else "")
                else:
                    what = f"{{who}} has been lying down{held}" if held else "{who} is lying down"
                zone = next((z for z in self.zones if tid in _ids(view, z)), None)
                hits.append(view.hit(zone, tid, what))
        if len(active) != len(entries.mine):  # no longer in that state (or gone)
            for slot in [s for s in entries.mine if s[0] == camera and s[2] not in active]:
                entries.drop(slot)
        entries.expire_orphans(view)
        return hits


def _ids(view: View, zone: str) -> set[int]:
    return {p.track_id for p in view.presences(zone)}


TRIGGERS.register("posture", PostureConfig, PostureTrigger, "a fall, or a person lying down")


# -- occupancy by role -----------------------------------------------------------------------------
class OccupancyTest(KindConfig):
    """Head counts by role in zones (people inside, seen or briefly lost)."""

    zones: NameList = Field(min_length=1, description="zone(s) counted together")
    children: Count | None = Field(None, description="test on the children, e.g. '>= 1'")
    adults: Count | None = Field(None, description="test on the adults, e.g. 0")
    people: Count | None = Field(None, description="test on everybody, e.g. '> 3'")
    unknown_as: Literal["adult", "child", "ignore"] = Field(
        "adult",
        description="how a person of unknown role counts: adult (default: an unknown person "
        "counts as an adult present, never as a child), child, or ignore",
    )

    @model_validator(mode="after")
    def _some_test(self) -> OccupancyTest:
        if self.children is None and self.adults is None and self.people is None:
            raise ValueError(
                "give at least one of children, adults, people (e.g. children: '>= 1')"
            )
        return self

    def describe(self) -> str:
        parts = [
            f"{name} {test}"
            for name, test in (
                ("children", self.children),
                ("adults", self.adults),
                ("people", self.people),
            )
            if test is not None
        ]
        return " and ".join(parts) + " in " + ", ".join(self.zones)


class OccupancyConfig(OccupancyTest, TriggerConfig):
    """Fires when head counts by role in zones match, and have for ``for`` seconds."""

    kind: Literal["occupancy"] = Field(description="occupancy: who is in a zone, by role")
    for_: TimerDuration = Field(
        0.0, alias="for", description="how long the counts must match before it fires"
    )


def occupancy(view: View, test: OccupancyTest) -> tuple[bool, int | None, str] | None:
    """Evaluate ``test`` on this view: (matches, a child's track id, counts text).

    None when none of the zones is on this camera.
    """
    zones = tuple(test.zones)
    if not any(view.has_zone(z) for z in zones):
        return None
    cache_key = ("occupancy", zones, test.unknown_as)
    cached = view.cache.get(cache_key)
    adults: int
    children: int
    people: int
    child: int | None
    if cached is None:
        seen: set[int] = set()
        adults = children = 0
        child = None
        for zone in zones:
            for p in view.presences(zone):
                if p.track_id in seen:
                    continue
                seen.add(p.track_id)
                track = view.track(p.track_id)
                role = track.role if track is not None else Role.UNKNOWN
                counted = role if role in ENROLLED_ROLES else test.unknown_as
                if counted == Role.ADULT:
                    adults += 1
                elif counted == Role.CHILD:
                    children += 1
                    if child is None:
                        child = p.track_id
        people = len(seen)
        view.cache[cache_key] = (adults, children, people, child)
    else:
        adults, children, people, child = cached  # type: ignore[misc]
    ok = (
        (test.children is None or test.children(children))
        and (test.adults is None or test.adults(adults))
        and (test.people is None or test.people(people))
    )
    return ok, child, _counts(test, children, adults, people)


def _number(count: int, one: str, many: str, none: str) -> str:
    return none if count == 0 else f"1 {one}" if count == 1 else f"{count} {many}"


def _people(count: int) -> str:
    """``nobody``, ``1 person``, ``3 people``."""
    return _number(count, "person", "people", "nobody")


def _counts(test: OccupancyTest, children: int, adults: int, people: int) -> str:
    """The counts a test looks at, in words: "1 child and no adult in pool_area"."""
    parts = []
    if test.children is not None:
        parts.append(_number(children, "child", "children", "no child"))
    if test.adults is not None:
        parts.append(_number(adults, "adult", "adults", "no adult"))
    if test.people is not None:
        parts.append(_people(people))
    return " and ".join(parts) + " in " + ", ".join(test.zones)


State = TypeVar("State", OccupancyState, CountDropState)


class _PerCamera(Generic[State]):
    """A trigger whose durable state is keyed by camera (and zone), not by track, so
    it needs no hand-over between runs: it binds its memory as it is (less what a
    video file left: see :meth:`sessions`). ``load`` reads a stored state back."""

    kind = ""

    def __init__(self, duration: float, load: Callable[[Mapping[str, Any]], State]) -> None:
        self.duration = duration
        self.load: Callable[[Mapping[str, Any]], State] = load
        self.memory = Memory("")
        #: cameras that play a file: their state is marked, and ends with the file
        self.files: frozenset[str] = frozenset()

    def bind(self, memory: Memory, run_id: str) -> None:
        self.memory = memory

    def sessions(self, files: frozenset[str]) -> None:
        """State a video file left (or left for a camera now playing one) is over."""
        self.files = files
        for key, value in self.memory.items():
            if key.split("|", 1)[0] in files or (isinstance(value, dict) and value.get("file")):
                log.info("dropped %s: left by an earlier run on a video file", key)
                self.memory.drop(key)

    def _get(self, key: str) -> State | None:
        value = self.memory.get(key)
        return self.load(value) if isinstance(value, dict) else None

    def _put(self, camera: str, key: str, state: State) -> None:
        if camera in self.files and not state.file:
            state = replace(state, file=True)
        self.memory.put(key, state.to_json())

    def end_stream(self, camera: str, now: float) -> list[Pending]:
        """The camera's file ended: its state, dropped; what was running, returned."""
        out = []
        for key, value in self.memory.items():
            if key.split("|", 1)[0] != camera:
                continue
            self.memory.drop(key)
            if isinstance(value, dict):
                pending = self._pending(camera, key, self.load(value), now)
                if pending is not None:
                    out.append(pending)
        return out

    def _pending(self, camera: str, key: str, state: State, now: float) -> Pending | None:
        return None


class Occupancy(_PerCamera[OccupancyState]):
    """One entry per camera: since when the counts match, and whether it fired."""

    kind = "occupancy"

    def __init__(self, config: OccupancyConfig) -> None:
        super().__init__(float(config.for_), OccupancyState.from_json)
        self.config = config

    def require_confirmed_adults(self) -> None:
        """In a rule that lowers protection: an unknown person is never an adult."""
        if self.config.unknown_as == "adult":
            self.config = self.config.model_copy(update={"unknown_as": "ignore"})

    def _pending(self, camera: str, key: str, state: OccupancyState, now: float) -> Pending | None:
        if state.fired:
            return None
        since = state.since
        return Pending(
            camera=camera,
            zone=self.config.zones[0],
            track_id=None,
            since=since,
            deadline=since + self.duration,
            ended=now,
            detail=f"{self.config.describe()} since {{clock}}",
            kind=self.kind,
        )

    def fire(self, view: View) -> list[Hit]:
        result = occupancy(view, self.config)
        if result is None:
            return []
        ok, child, text = result
        key = view.camera
        if not ok:
            self.memory.drop(key)
            return []
        entry = self._get(key)
        if entry is None:
            entry = OccupancyState(view.timestamp)
            self._put(key, key, entry)
        if entry.fired or view.timestamp - entry.since < self.duration:
            return []
        self._put(key, key, replace(entry, fired=True))
        held = view.timestamp - entry.since
        detail = f"{text}{_lasting(held)}"
        return [view.hit(self.config.zones[0], child, detail)]


TRIGGERS.register("occupancy", OccupancyConfig, Occupancy, "who is in a zone, by role")


# -- count drop ------------------------------------------------------------------------------------
class CountDropConfig(TriggerConfig):
    """Fires when fewer people are seen in a zone than were there, with nobody seen leaving."""

    kind: Literal["count_drop"] = Field(
        description="count_drop: the head count fell with nobody seen leaving"
    )
    zones: NameList = Field(min_length=1, description="zone(s), each counted on its own")
    for_: TimerDuration = Field(
        5.0, alias="for", description="how long the lower count must last (hides brief occlusions)"
    )
    by: int = Field(1, ge=1, description="fire when the count is lower by at least this many")
    exits: NameList = Field(
        default_factory=list, description="zones where people may leave unseen (a door)"
    )
    frame_edge: float = Field(
        0.03,
        ge=0,
        le=0.5,
        description="a person lost at the image border walked out of view (share of width/height)",
    )


class CountDrop(_PerCamera[CountDropState]):
    """Per camera and zone: how many should be there, and since when fewer are seen."""

    kind = "count_drop"

    def __init__(self, config: CountDropConfig) -> None:
        super().__init__(float(config.for_), CountDropState.from_json)
        self.config = config
        #: (camera, zone) → track ids gone unseen inside the zone during this drop
        self._gone: dict[tuple[str, str], set[int]] = {}

    def _pending(self, camera: str, key: str, state: CountDropState, now: float) -> Pending | None:
        if state.below is None:
            return None
        since = state.below
        zone = key.split("|", 1)[1]
        return Pending(
            camera=camera,
            zone=zone,
            track_id=None,
            since=since,
            deadline=since + self.duration,
            ended=now,
            detail=f"fewer people seen in {zone} than were there since {{clock}}",
            kind=self.kind,
        )

    @staticmethod
    def _follow(view: View, zone: str, gone: set[int]) -> None:
        """Keep ``gone``: the tracks unseen inside the zone (lost, then removed)."""
        for p in view.presences(zone):
            if p.visible:
                gone.discard(p.track_id)
            else:
                gone.add(p.track_id)
        for t in view.transitions(zone):
            if t.kind is TransitionKind.LEAVE:
                gone.discard(t.track_id)

    def fire(self, view: View) -> list[Hit]:
        hits: list[Hit] = []
        now = view.timestamp
        for zone in self.config.zones:
            count = view.obs.count(zone)
            if count is None:
                continue
            gone = self._gone.setdefault((view.camera, zone), set())
            self._follow(view, zone, gone)
            key = f"{view.camera}|{zone}"
            state = self._get(key)
            expected, below = (
                (state.expected, state.below) if state is not None else (count.visible, None)
            )
            expected = max(0, expected - self._left(view, zone))
            visible = count.visible
            if visible >= expected or expected - visible < self.config.by:
                below = None
                expected = max(expected, visible)
                gone.clear()
            else:
                below = now if below is None else below
                # people gone from the zone that an absent rule (the submersion timer) is
                # timing, or timed: its alert is the one for their disappearance
                covered = len(gone & view.missing()) if gone else 0
                if now - float(below) < self.duration:
                    pass
                elif expected - visible - covered < self.config.by:
                    log.info(
                        "%s: %s count %d → %d: %d timed by an absent rule, not reported here",
                        view.camera,
                        zone,
                        expected,
                        visible,
                        covered,
                    )
                    expected, below = visible, None
                    gone.clear()
                else:
                    gone.clear()
                    hits.append(
                        view.hit(
                            zone,
                            None,
                            f"{_people(visible)} seen in {zone} instead of {expected}, "
                            "nobody seen leaving",
                        )
                    )
                    expected, below = visible, None
            self._put(view.camera, key, CountDropState(expected, below))
        return hits

    def _left(self, view: View, zone: str) -> int:
        """People seen leaving this frame: across the edge, out of view, or by an exit."""
        left = 0
        for t in view.transitions(zone):
            if t.kind is TransitionKind.LEAVE:
                left += 1
            elif t.kind is TransitionKind.VANISH:
                track = view.track(t.track_id)
                if track is not None and _at_frame_edge(view, track.box, self.config.frame_edge):
                    left += 1
        return left


TRIGGERS.register(
    "count_drop", CountDropConfig, CountDrop, "the head count fell with nobody seen leaving"
)


# -- new object ------------------------------------------------------------------------------------
class NewObjectConfig(TriggerConfig):
    """Something that was not in a zone before appeared there and stayed (no model needed)."""

    kind: Literal["new_object"] = Field(
        description="new_object: something new appeared in a zone and stayed"
    )
    zones: NameList = Field(min_length=1, description="zone(s) to watch (their background)")
    for_: TimerDuration = Field(
        10.0, alias="for", description="how long it must stay before it fires, e.g. '30s'"
    )
    min_area: float = Field(
        0.0, ge=0, le=1, description="ignore changes smaller than this share of the zone"
    )


class NewObject:
    """Fires once per scene change (from the scene stage) that stayed long enough."""

    def __init__(self, config: NewObjectConfig) -> None:
        self.zones = frozenset(config.zones)
        #: zones the pipeline must watch for background changes
        self.scene_zones = self.zones
        self.duration = float(config.for_)
        self.min_area = float(config.min_area)
        self._fired: set[tuple[str, str, int]] = set()

    def fire(self, view: View) -> list[Hit]:
        hits: list[Hit] = []
        current: set[tuple[str, str, int]] = set()
        for change in view.obs.changes:
            if change.zone not in self.zones or change.area < self.min_area:
                continue
            key = (view.camera, change.zone, change.change_id)
            current.add(key)
            if key in self._fired or view.timestamp - change.first_seen < self.duration:
                continue
            self._fired.add(key)
            held = view.timestamp - change.first_seen
            hits.append(
                view.hit(
                    change.zone,
                    None,
                    f"something new in {change.zone} for {_seconds(held)} "
                    f"({change.area:.0%} of the zone)",
                )
            )
        self._fired = {k for k in self._fired if k[0] != view.camera or k in current}
        return hits


TRIGGERS.register(
    "new_object", NewObjectConfig, NewObject, "something new appeared in a zone and stayed"
)

__all__ = ["APPEAR_WINDOW", "OccupancyTest", "occupancy"]
