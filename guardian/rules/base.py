"""What a rule is made of at run time: triggers (edges), conditions (levels), actions.

A trigger looks at one observation and says what just happened (a ``Hit``); a
condition is checked when a trigger fires; an action is the side effect of the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from guardian.effects import Notification
from guardian.records import Event, Observation


@dataclass(frozen=True, slots=True)
class Hit:
    """A trigger fired: on which camera, zone and track, when."""

    camera: str
    timestamp: float
    frame_index: int
    zone: str | None = None
    track_id: int | None = None
    person_id: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RuleContext:
    """Site-wide facts conditions may read."""

    mode: str = "unsupervised"
    timezone: str = "UTC"


class Trigger(Protocol):
    def fire(self, observation: Observation) -> list[Hit]: ...


class Condition(Protocol):
    def holds(self, hit: Hit, context: RuleContext) -> bool: ...


class ActionSink(Protocol):
    """Where actions put their side effects (alerts go through the outbox)."""

    def notify(self, notification: Notification) -> None: ...


class Action(Protocol):
    def run(self, event: Event, sink: ActionSink) -> None: ...


@dataclass(slots=True)
class RuleRuntime:
    """A validated rule ready to run."""

    rule_id: str
    alias: str
    severity: str
    cameras: frozenset[str]
    zones_scope: frozenset[str]
    modes: frozenset[str]
    cooldown: float
    triggers: list[Trigger]
    conditions: list[Condition]
    actions: list[Action]
    source: str = ""
    enabled: bool = True
    disabled_reason: str | None = None
    last_fired: dict[tuple[str, str | None, int | None], float] = field(default_factory=dict)
