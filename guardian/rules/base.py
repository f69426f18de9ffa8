"""What a rule is made of at run time: triggers (edges), conditions (levels), actions.

A trigger looks at one observation (through a :class:`View`) and says what just happened
(a :class:`Hit`); a condition is checked when a trigger fires; an action is the side
effect of the event, written into an :class:`~guardian.effects.Effects` batch.

Triggers that wait (absence, dwell, occupancy-since, posture) keep their pending state
in a :class:`Memory`: durable key → value entries that the runner writes to SQLite in
the same transaction as the events, so they survive a crash or a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from guardian.effects import Effects
from guardian.records import (
    Event,
    Observation,
    Track,
    TrackState,
    ZonePresence,
    ZoneTransition,
)
from guardian.vocab import Mode, Role, Severity

#: what one cooldown covers: "person" (camera, zone, person/track), "zone", or "rule"
CooldownPer = Literal["person", "zone", "rule"]


@dataclass(frozen=True, slots=True)
class Hit:
    """A trigger fired: on which camera, zone and track, when, and why.

    ``detail`` is what happened, in words a person reads (never a track number): it may
    name the person as ``{who}`` (filled with the enrolled name, "a child", "an adult" or
    "someone") and a time of day as ``{clock}`` (``clock``, written in the site's time
    zone); both are filled when the event is built (RuleEngine).
    """

    camera: str
    timestamp: float
    frame_index: int
    zone: str | None = None
    track_id: int | None = None
    person_id: str | None = None
    role: Role = Role.UNKNOWN
    detail: str = ""
    #: the person is the supervising adult (enrolled as responsible)
    responsible: bool = False
    #: the enrolled person's id, None for anybody not enrolled
    enrolled_id: str | None = None
    #: a time (epoch seconds) that ``detail`` names as ``{clock}``
    clock: float | None = None
    #: an entry's visit of its zone (zone_enter): when it began, or None for hits that
    #: are not entries; ``new_visit``: the zone was seen empty before it (``visit_gap``),
    #: False when it may have begun before the run did (its start is then the run's)
    visit: float | None = None
    new_visit: bool = False
    #: the event's severity when it is not the rule's (a camera back after a problem: info)
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """A timer still running when its camera's stream ended (a video file that ended):
    what would have fired had the video gone on. It is reported, then dropped: it is
    never carried into another file or run."""

    camera: str
    zone: str | None
    track_id: int | None
    #: when the wait began (the last sighting, the start of the state); epoch seconds
    since: float
    #: when it would have fired
    deadline: float
    #: when the stream ended (the last frame's time)
    ended: float
    #: what it waited on, in words a person reads: "someone last seen in water"
    detail: str
    #: the trigger kind ("absent") and the rule it belongs to (filled by the engine)
    kind: str = ""
    rule_id: str = ""
    rule_alias: str = ""


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Site-wide facts conditions and actions read."""

    mode: Mode = Mode.UNSUPERVISED
    timezone: str = "UTC"
    site_name: str = "Guardian"
    #: base URL of the review page, for links in alerts ("" when not served)
    review_url: str = ""
    #: every contact id of the site (an action with no contacts alerts all of them)
    contacts: tuple[str, ...] = ()
    #: how long a prompt can be answered
    prompt_expires: float = 600.0
    #: how long a supervised mode lasts when a rule or prompt gives no end
    supervised_for: float = 7200.0


class View:
    """One observation with indexes built once and shared by every rule."""

    __slots__ = (
        "_counted",
        "_missing",
        "_presences",
        "_tracks",
        "_transitions",
        "cache",
        "camera",
        "obs",
        "timestamp",
    )

    def __init__(
        self, obs: Observation, missing: Callable[[str], frozenset[int]] | None = None
    ) -> None:
        self.obs = obs
        self._missing = missing
        self.camera = obs.camera
        self.timestamp = obs.timestamp
        self._presences: dict[str, list[ZonePresence]] | None = None
        self._transitions: dict[str, list[ZoneTransition]] | None = None
        self._tracks: dict[int, Track] | None = None
        self._counted: frozenset[str] | None = None
        #: results rules compute from this view and share (e.g. head counts by role)
        self.cache: dict[object, object] = {}

    def removed(self) -> tuple[int, ...]:
        """Ids of the tracks removed in this frame (never to be seen again)."""
        cached = self.cache.get("removed")
        if cached is None:
            cached = self.cache["removed"] = tuple(
                t.track_id for t in self.obs.tracks if t.state is TrackState.REMOVED
            )
        return cached  # type: ignore[return-value]

    def missing(self) -> frozenset[int]:
        """Track ids of this camera that a timer of an active rule is waiting for (someone
        missing, e.g. the submersion timer), or whose timer fired: a disappearance one
        rule already reports, so another need not report it again."""
        return self._missing(self.camera) if self._missing is not None else frozenset()

    def has_zone(self, zone: str) -> bool:
        """True when the zone is on this view's camera (every zone has a count)."""
        if self._counted is None:
            self._counted = frozenset(c.zone for c in self.obs.counts)
        return zone in self._counted

    def presences(self, zone: str) -> list[ZonePresence]:
        if self._presences is None:
            self._presences = {}
            for p in self.obs.presences:
                self._presences.setdefault(p.zone, []).append(p)
        return self._presences.get(zone, [])

    def transitions(self, zone: str) -> list[ZoneTransition]:
        if self._transitions is None:
            self._transitions = {}
            for t in self.obs.transitions:
                self._transitions.setdefault(t.zone, []).append(t)
        return self._transitions.get(zone, [])

    def track(self, track_id: int) -> Track | None:
        if self._tracks is None:
            self._tracks = {t.track_id: t for t in self.obs.tracks}
        return self._tracks.get(track_id)

    def hit(
        self,
        zone: str | None,
        track_id: int | None,
        detail: str,
        timestamp: float | None = None,
    ) -> Hit:
        """A hit on this view's camera, filled with the track's person and role."""
        track = self.track(track_id) if track_id is not None else None
        return Hit(
            camera=self.camera,
            timestamp=self.timestamp if timestamp is None else timestamp,
            frame_index=self.obs.frame_index,
            zone=zone,
            track_id=track_id,
            person_id=track.person_id if track else None,
            role=track.role if track else Role.UNKNOWN,
            detail=detail,
            responsible=track.responsible if track else False,
            enrolled_id=track.enrolled_id if track else None,
        )


Journal = dict[tuple[str, str], object | None]


class Memory:
    """A rule's durable entries (JSON values), with the changes not yet written.

    ``scoped(prefix)`` gives a view whose keys live under ``prefix`` in the same rule.
    Changes go to a journal (rule id, key) → value or None, which an engine shares
    between all its rules' memories and drains once per step (RuleEngine.drain_state).
    """

    def __init__(
        self,
        rule_id: str,
        entries: Mapping[str, object] | None = None,
        *,
        journal: Journal | None = None,
        _data: dict[str, object] | None = None,
        _prefix: str = "",
    ) -> None:
        self.rule_id = rule_id
        self._data = _data if _data is not None else dict(entries or {})
        self._journal: Journal = journal if journal is not None else {}
        self._prefix = _prefix

    def scoped(self, prefix: str) -> Memory:
        return Memory(
            self.rule_id, journal=self._journal, _data=self._data, _prefix=self._prefix + prefix
        )

    def get(self, key: str) -> object | None:
        return self._data.get(self._prefix + key)

    def put(self, key: str, value: object) -> None:
        full = self._prefix + key
        if self._data.get(full) != value:
            self._data[full] = value
            self._journal[(self.rule_id, full)] = value

    def drop(self, key: str) -> None:
        full = self._prefix + key
        if full in self._data:
            del self._data[full]
            self._journal[(self.rule_id, full)] = None

    def items(self) -> Iterator[tuple[str, object]]:
        """This scope's entries (keys without the prefix); a snapshot, safe to modify."""
        n = len(self._prefix)
        for key, value in list(self._data.items()):
            if key.startswith(self._prefix):
                yield key[n:], value


class Trigger(Protocol):
    def fire(self, view: View) -> list[Hit]: ...


@runtime_checkable
class Stateful(Protocol):
    """A trigger that keeps durable state: bound once to its memory before running."""

    def bind(self, memory: Memory, run_id: str) -> None: ...


@runtime_checkable
class Timed(Protocol):
    """A trigger with deadlines that can pass between frames (checked by ``due``)."""

    def due(self, now: float, cameras: Iterable[str] | None = None) -> list[Hit]: ...


@runtime_checkable
class Streamed(Protocol):
    """A trigger whose waiting state belongs to one camera's stream of frames.

    ``sessions(files)`` comes right after ``bind``: these cameras play a video file (or a
    folder of images), so whatever an earlier run left for them, or left from a file, is
    dropped, and what is stored for them from now on is marked as a file's.
    ``end_stream(camera, now)`` is called when a file camera's frames end: the waiting
    state of that camera is dropped and returned as :class:`Pending` timers.
    """

    def sessions(self, files: frozenset[str]) -> None: ...

    def end_stream(self, camera: str, now: float) -> list[Pending]: ...


@runtime_checkable
class MissingPeople(Protocol):
    """A trigger that times people gone missing (the submersion timer)."""

    def missing_tracks(self, camera: str) -> set[int]: ...

    def timing(self, camera: str) -> bool:
        """A timer of this trigger is running on ``camera``."""
        ...


@runtime_checkable
class AdultGated(Protocol):
    """A trigger that counts adults: in a rule whose action lowers protection (switches
    to supervised), the engine tells it to count only confirmed adults."""

    def require_confirmed_adults(self) -> None: ...


@runtime_checkable
class WatchesScene(Protocol):
    """A trigger that needs the scene stage to watch zones for background changes."""

    @property
    def scene_zones(self) -> frozenset[str]: ...


@runtime_checkable
class SwitchesMode(Protocol):
    """An action that can switch the site's mode (set_mode; a prompt, on YES)."""

    def switches_to(self) -> Mode | None:
        """The mode it may switch the site to; None when it never switches."""
        ...


class Condition(Protocol):
    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool: ...


class Action(Protocol):
    def run(self, event: Event, effects: Effects, context: RuleContext) -> None: ...


@dataclass(slots=True)
class RuleRuntime:
    """A validated rule ready to run."""

    rule_id: str
    alias: str
    severity: Severity
    cameras: frozenset[str]
    zones_scope: frozenset[str]
    modes: frozenset[Mode]
    cooldown: float
    triggers: list[Trigger]
    conditions: list[Condition]
    actions: list[Action]
    source: str = ""
    enabled: bool = True
    disabled_reason: str | None = None
    #: what one cooldown covers (see CooldownPer)
    cooldown_per: CooldownPer = "person"
    builtin: bool = False
    #: the trigger kinds, as written (for listings)
    kinds: tuple[str, ...] = ()
    memory: Memory = field(init=False)

    def __post_init__(self) -> None:
        self.memory = Memory(self.rule_id)
