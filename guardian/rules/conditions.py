"""Condition kinds: levels checked when a trigger fires (all must hold)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from guardian.identity import ANONYMOUS_PREFIX
from guardian.rules.base import Hit, RuleContext, View
from guardian.rules.fields import ConditionConfig, NameList
from guardian.rules.registry import CONDITIONS
from guardian.rules.triggers import OccupancyTest, occupancy
from guardian.timefmt import local_time
from guardian.vocab import ENROLLED_ROLES, Mode, Role

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class TimeConfig(ConditionConfig):
    """True between two times of day (site time zone), optionally on some weekdays only."""

    kind: Literal["time"] = Field(description="time: a time-of-day window")
    after: dt.time = Field(dt.time(0, 0), description="start of the window, HH:MM")
    before: dt.time = Field(
        dt.time(23, 59, 59), description="end of the window, HH:MM; before < after spans midnight"
    )
    weekdays: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS), description="days the window applies (mon..sun)"
    )

    @model_validator(mode="after")
    def _window(self) -> TimeConfig:
        if self.after == self.before:
            raise ValueError("'after' and 'before' are equal: the window would be empty")
        return self


class TimeCondition:
    def __init__(self, config: TimeConfig) -> None:
        self.config = config

    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool:
        now = local_time(hit.timestamp, context.timezone)
        t, c = now.time(), self.config
        if c.after < c.before:
            inside, day = c.after <= t < c.before, now
        else:  # spans midnight: the window belongs to the day it started on
            inside = t >= c.after or t < c.before
            day = now - dt.timedelta(days=1) if t < c.before else now
        return inside and WEEKDAYS[day.weekday()] in c.weekdays


CONDITIONS.register("time", TimeConfig, TimeCondition, "a time-of-day window")


class ModeConfig(ConditionConfig):
    """True when the site is in one of these modes (the rule's own ``modes`` is the same
    test for the whole rule; this one can sit beside others)."""

    kind: Literal["mode"] = Field(description="mode: the site's current mode")
    mode: Annotated[list[Mode], BeforeValidator(_as_list)] = Field(
        min_length=1, description="unsupervised and/or supervised (one or a list)"
    )


class ModeCondition:
    def __init__(self, config: ModeConfig) -> None:
        self.modes = frozenset(config.mode)

    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool:
        return context.mode in self.modes


CONDITIONS.register("mode", ModeConfig, ModeCondition, "the site's current mode")


class RoleConfig(ConditionConfig):
    """True when the person of the trigger has one of these roles (from the identity stage)."""

    kind: Literal["role"] = Field(description="role: the person's role")
    roles: Annotated[list[Role], BeforeValidator(_as_list)] = Field(
        min_length=1, description="adult, child and/or unknown (not identified yet)"
    )


class RoleCondition:
    def __init__(self, config: RoleConfig) -> None:
        self.roles = frozenset(config.roles)

    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool:
        role = hit.role if hit.role in ENROLLED_ROLES else Role.UNKNOWN
        return role in self.roles


CONDITIONS.register("role", RoleConfig, RoleCondition, "the person's role")


class PersonConfig(ConditionConfig):
    """True for (or, with ``not``, except for) enrolled people; or for anybody (not) known."""

    kind: Literal["person"] = Field(description="person: who the person of the trigger is")
    names: NameList = Field(
        default_factory=list, description="enrolled person ids; empty: any known person"
    )
    known: bool = Field(
        True, description="true: the person is one of `names` (or anybody enrolled); false: not"
    )


class PersonCondition:
    def __init__(self, config: PersonConfig) -> None:
        self.names = frozenset(config.names)
        self.known = config.known

    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool:
        who = enrolled_id(hit)
        match = who is not None and (not self.names or who in self.names)
        return match if self.known else not match


def enrolled_id(hit: Hit) -> str | None:
    """The enrolled person's id, or None for anybody not enrolled.

    The identity stage gives enrolled people their id as both ``enrolled_id`` and person id;
    people it follows without knowing them get an anonymous id (``#3``), which is not a
    known person.
    """
    if hit.enrolled_id is not None:
        return hit.enrolled_id
    pid = hit.person_id
    return None if pid is None or pid.startswith(ANONYMOUS_PREFIX) else pid


CONDITIONS.register("person", PersonConfig, PersonCondition, "who the person is")


class ResponsibleConfig(ConditionConfig):
    """True when the person of the trigger is (or, with ``responsible: false``, is not) the
    supervising adult: someone enrolled with ``--responsible``."""

    kind: Literal["responsible"] = Field(
        description="responsible: the person is the supervising adult"
    )
    responsible: bool = Field(
        True, description="true: the person is responsible; false: anybody else"
    )


class ResponsibleCondition:
    def __init__(self, config: ResponsibleConfig) -> None:
        self.wanted = config.responsible

    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool:
        return hit.responsible is self.wanted


CONDITIONS.register(
    "responsible", ResponsibleConfig, ResponsibleCondition, "the person is the supervising adult"
)


class OccupancyConditionConfig(OccupancyTest, ConditionConfig):
    """True when the head counts by role in zones match right now."""

    kind: Literal["occupancy"] = Field(description="occupancy: who is in a zone, by role")


class OccupancyCondition:
    def __init__(self, config: OccupancyConditionConfig) -> None:
        self.config = config

    def holds(self, hit: Hit, view: View | None, context: RuleContext) -> bool:
        if view is None:
            return False
        result = occupancy(view, self.config)
        return result is not None and result[0]


CONDITIONS.register(
    "occupancy", OccupancyConditionConfig, OccupancyCondition, "who is in a zone, by role"
)

__all__ = ["WEEKDAYS", "Weekday"]
