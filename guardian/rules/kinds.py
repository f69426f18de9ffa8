"""The built-in trigger, condition and action kinds, registered in one place each."""

from __future__ import annotations

import datetime as dt
import string
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from guardian.effects import Notification
from guardian.records import Event, Observation, TransitionKind
from guardian.rules.base import (
    Action,
    ActionSink,
    Condition,
    Hit,
    RuleContext,
    Trigger,
)
from guardian.rules.registry import Registry

TRIGGERS: Registry[Trigger] = Registry("trigger")
CONDITIONS: Registry[Condition] = Registry("condition")
ACTIONS: Registry[Action] = Registry("action")


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


NameList = Annotated[list[str], BeforeValidator(_as_list)]


class _Kind(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- triggers -------------------------------------------------------------------
class ZoneEnterConfig(_Kind):
    """Fires when a person's anchor point enters a zone (after the zone's inertia)."""

    kind: Literal["zone_enter"] = Field(description="zone_enter: a person entered a zone")
    zones: NameList = Field(
        min_length=1, description="zone name, or a list of names, that the person enters"
    )


class ZoneEnter:
    def __init__(self, config: ZoneEnterConfig) -> None:
        self.zones = frozenset(config.zones)

    def fire(self, observation: Observation) -> list[Hit]:
        return [
            Hit(
                camera=t.camera,
                timestamp=t.timestamp,
                frame_index=observation.frame_index,
                zone=t.zone,
                track_id=t.track_id,
                detail=f"entered {t.zone}",
            )
            for t in observation.transitions
            if t.kind is TransitionKind.ENTER and t.zone in self.zones
        ]


TRIGGERS.register("zone_enter", ZoneEnterConfig, ZoneEnter, "a person entered a zone")

# -- conditions -----------------------------------------------------------------
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class TimeConfig(_Kind):
    """True between two times of day (site time zone), optionally on some weekdays only."""

    kind: Literal["time"] = Field(description="time: a time-of-day window")
    after: dt.time = Field(dt.time(0, 0), description="start of the window, HH:MM")
    before: dt.time = Field(
        dt.time(23, 59, 59), description="end of the window, HH:MM; before < after spans midnight"
    )
    weekdays: list[Weekday] = Field(
        default_factory=lambda: list(_WEEKDAYS), description="days the window applies (mon..sun)"
    )

    @model_validator(mode="after")
    def _window(self) -> TimeConfig:
        if self.after == self.before:
            raise ValueError("'after' and 'before' are equal: the window would be empty")
        return self


class TimeCondition:
    def __init__(self, config: TimeConfig) -> None:
        self.config = config

    def holds(self, hit: Hit, context: RuleContext) -> bool:
        now = dt.datetime.fromtimestamp(hit.timestamp, ZoneInfo(context.timezone))
        t, c = now.time(), self.config
        if c.after < c.before:
            inside, day = c.after <= t < c.before, now
        else:  # spans midnight: the window belongs to the day it started on
            inside = t >= c.after or t < c.before
            day = now - dt.timedelta(days=1) if t < c.before else now
        return inside and _WEEKDAYS[day.weekday()] in c.weekdays


CONDITIONS.register("time", TimeConfig, TimeCondition, "a time-of-day window")

# -- actions --------------------------------------------------------------------
TEMPLATE_FIELDS = ("rule", "alias", "severity", "camera", "zone", "track", "person", "time")
Channel = Literal["console", "log"]


class AlertConfig(_Kind):
    """Send a message to contacts over channels (written to the outbox first)."""

    kind: Literal["alert"] = Field(description="alert: notify contacts")
    channels: list[Channel] = Field(
        default_factory=lambda: list[Channel](["console"]),
        min_length=1,
        description="channels to send on",
    )
    contacts: list[str] = Field(
        default_factory=list, description="contact ids from the site file; empty: all contacts"
    )
    message: str = Field(
        "{alias}: {camera}/{zone} at {time}",
        description="message template; fields: "
        + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS),
    )

    @field_validator("message")
    @classmethod
    def _template(cls, value: str) -> str:
        for _, name, _, _ in string.Formatter().parse(value):
            if name is not None and name not in TEMPLATE_FIELDS:
                allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
                raise ValueError(f"unknown field {{{name}}} in message — use {allowed}")
        return value


def render(template: str, event: Event) -> str:
    when = dt.datetime.fromtimestamp(event.started_at).strftime("%Y-%m-%d %H:%M:%S")
    return template.format(
        rule=event.rule_id,
        alias=event.rule_alias,
        severity=event.severity.value,
        camera=event.camera,
        zone=event.zone or "-",
        track=event.track_id if event.track_id is not None else "-",
        person=event.person_id or (f"track {event.track_id}" if event.track_id else "someone"),
        time=when,
    )


class AlertAction:
    def __init__(self, config: AlertConfig) -> None:
        self.config = config

    def run(self, event: Event, sink: ActionSink) -> None:
        text = render(self.config.message, event)
        contacts = self.config.contacts or ["*"]
        for channel in self.config.channels:
            for contact in contacts:
                sink.notify(
                    Notification(
                        key=f"{event.event_id}:{channel}:{contact}",
                        event_id=event.event_id,
                        rule_id=event.rule_id,
                        severity=event.severity.value,
                        channel=channel,
                        contact=contact,
                        message=text,
                    )
                )


ACTIONS.register("alert", AlertConfig, AlertAction, "notify contacts")
