"""Action kinds: the side effects of an event, written as requests into an Effects batch.

Nothing here sends, switches or runs anything: the runner commits the batch with the
event in one SQLite transaction and only then carries it out (see guardian.pipeline).
"""

from __future__ import annotations

import logging
import re
import secrets
import shlex
import shutil
import string
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from guardian.config.durations import SupervisedDuration, check_supervised
from guardian.effects import (
    ClipRequest,
    CommandRequest,
    Effects,
    EscalationRequest,
    ModeRequest,
    Notification,
    PromptRequest,
)
from guardian.identity import ANONYMOUS_PREFIX
from guardian.records import Event
from guardian.rules.base import RuleContext
from guardian.rules.fields import ActionConfig, Duration, KindConfig, NameList, TimerDuration
from guardian.rules.registry import ACTIONS
from guardian.timefmt import stamp
from guardian.vocab import Channel, Mode

TEMPLATE_FIELDS = (
    "rule",
    "alias",
    "severity",
    "camera",
    "zone",
    "track",
    "person",
    "time",
    "message",
    "site",
    "link",
)


#: the longest message text, in characters (one Twilio message body); a longer one is cut
MAX_MESSAGE = 1600
#: the template used when a rule's own cannot be filled in at firing time
DEFAULT_MESSAGE = "{alias}: {message} at {time}"

log = logging.getLogger(__name__)

#: what each field holds when a template is checked at load time: every kind of value
#: it can hold when a rule fires (a track number, or '-' when there is none)
_SAMPLES: tuple[dict[str, Any], ...] = (
    {
        "rule": "sample_rule",
        "alias": "Sample rule",
        "severity": "critical",
        "camera": "pool",
        "zone": "water",
        "track": 12,
        "person": "someone",
        "time": "2025-07-14 18:05:09",
        "message": "A person entered the zone (pool/water)",
        "site": "Home",
        "link": "https://guardian.example.org/events/0123456789abcdef",
    },
    {
        "rule": "r",
        "alias": "R",
        "severity": "info",
        "camera": "c",
        "zone": "-",
        "track": "-",
        "person": "someone",
        "time": "2025-07-14 18:05:09",
        "message": "",
        "site": "",
        "link": "",
    },
)
_WHAT = {
    "track": "a track number, or '-' when there is none",
    "time": "text such as '2025-07-14 18:05:09'",
}
_NUMBER = re.compile(r"\d+")


def _fields(value: str) -> list[tuple[str, str, str | None]]:
    """(name, format spec, conversion) of every field, those nested in specs included."""
    found: list[tuple[str, str, str | None]] = []
    for _, name, spec, conversion in string.Formatter().parse(value):
        if name is None:
            continue
        found.append((name, spec or "", conversion))
        if spec and "{" in spec:
            found.extend(_fields(spec))
    return found


def _template(value: str) -> str:
    """Check a message template by filling it in with sample values, as at firing time."""
    if not isinstance(value, str):
        return value  # let pydantic say it should be text
    try:
        fields = _fields(value)
    except ValueError as exc:
        raise ValueError(
            f"the text is not a valid template ({exc}) — fields are written {{alias}}; write "
            "{{ and }} for a brace in the text"
        ) from None
    allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    for name, spec, conversion in fields:
        if name not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown field {{{name}}} in the text — use {allowed}")
        for number in _NUMBER.findall(spec):
            if int(number) > MAX_MESSAGE:
                raise ValueError(
                    f"the format ':{spec}' of {{{name}}} asks for {number} characters — a "
                    f"message is at most {MAX_MESSAGE} characters; write {{{name}}} alone"
                )
        whole = (
            "{"
            + name
            + (f"!{conversion}" if conversion else "")
            + (f":{spec}" if spec else "")
            + "}"
        )
        for sample in _SAMPLES:
            try:
                whole.format(**sample)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                what = _WHAT.get(name, "text")
                raise ValueError(
                    f"{whole} cannot be filled in when the rule fires ({exc}): {{{name}}} is "
                    f"{what} — write {{{name}}} without a format"
                ) from None
    for sample in _SAMPLES:
        try:
            length = len(value.format(**sample))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"the text cannot be filled in when the rule fires ({exc}) — write fields "
                f"as {{alias}}, {{time}}, ... ({allowed})"
            ) from None
        if length > MAX_MESSAGE:
            raise ValueError(
                f"the text is {length} characters once filled in — a message is at most "
                f"{MAX_MESSAGE} characters (one SMS body): shorten it"
            )
    return value


def review_link(event: Event, context: RuleContext) -> str:
    return f"{context.review_url.rstrip('/')}/events/{event.event_id}" if context.review_url else ""


def person_words(event: Event) -> str:
    """``{person}``: the enrolled name, else "someone" (never a track number)."""
    if event.person_id and not event.person_id.startswith(ANONYMOUS_PREFIX):
        return event.person_id
    return "someone"


def event_text(event: Event) -> str:
    """The rule's alias and the event's message, the alias once: "Pool entry: A child
    entered water (pool/water)" (events stored by earlier versions have the alias in
    their message already)."""
    alias, message = event.rule_alias, event.message
    if not message or message == alias:
        return alias
    return message if message.startswith(f"{alias}: ") else f"{alias}: {message}"


def _bounded(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters (the last one an ellipsis)."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def render(template: str, event: Event, context: RuleContext | None = None) -> str:
    """Fill a message template with the event's fields (time in the site's time zone).

    Templates are checked when the rules load; one that still cannot be filled in (a
    rule built some other way) gives :data:`DEFAULT_MESSAGE` and a logged warning: the
    alert still goes out. The text is at most :data:`MAX_MESSAGE` characters.
    """
    context = context or RuleContext()
    values = {
        "rule": event.rule_id,
        "alias": event.rule_alias,
        "severity": event.severity.value,
        "camera": event.camera,
        "zone": event.zone or "-",
        "track": event.track_id if event.track_id is not None else "-",
        "person": person_words(event),
        "time": stamp(event.started_at, context.timezone),
        "message": event.message,
        "site": context.site_name,
        "link": review_link(event, context),
    }
    try:
        if any(
            int(n) > MAX_MESSAGE
            for _, _, spec, _ in string.Formatter().parse(template)
            if spec
            for n in _NUMBER.findall(spec)
        ):
            raise ValueError(f"a format asks for more than {MAX_MESSAGE} characters")
        text = template.format(**values)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.warning(
            "rule %s: its message template cannot be filled in (%s) — sending the default "
            "text instead; fix the rule ('guardian check')",
            event.rule_id,
            exc,
        )
        text = DEFAULT_MESSAGE.format(**values)
    return _bounded(text)


Template = Annotated[str, BeforeValidator(_template)]


def _channels_default() -> list[Channel]:
    return [Channel.CONSOLE]


class AlertConfig(ActionConfig):
    """Send a message to contacts over channels (written to the outbox first)."""

    kind: Literal["alert"] = Field(description="alert: notify contacts")
    channels: list[Channel] = Field(
        default_factory=_channels_default,
        min_length=1,
        description="channels to send on: console, log, sms, push",
    )
    contacts: NameList = Field(
        default_factory=list, description="contact ids from the site file; empty: all contacts"
    )
    message: Template = Field(
        DEFAULT_MESSAGE,
        description="message template; fields: "
        + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
        + f" (checked by filling it in; at most {MAX_MESSAGE} characters once filled in)",
    )


def _contacts(listed: list[str], context: RuleContext) -> list[str]:
    return list(listed) or list(context.contacts) or ["*"]


def _notify(
    effects: Effects,
    event: Event,
    channels: list[Channel],
    contacts: list[str],
    text: str,
    key: str,
    kind: str,
) -> None:
    """One notification per channel and contact, de-duplicated by ``key:channel:contact``."""
    for channel in channels:
        for contact in contacts:
            effects.notify(
                Notification(
                    key=f"{key}:{channel}:{contact}",
                    event_id=event.event_id,
                    rule_id=event.rule_id,
                    severity=event.severity,
                    channel=channel,
                    contact=contact,
                    message=text,
                    kind=kind,
                )
            )


class AlertAction:
    def __init__(self, config: AlertConfig) -> None:
        self.config = config

    def run(self, event: Event, effects: Effects, context: RuleContext) -> None:
        text = render(self.config.message, event, context)
        link = review_link(event, context)
        if link and "{link}" not in self.config.message:
            text = f"{_bounded(text, MAX_MESSAGE - len(link) - 1)} {link}"
        contacts = _contacts(self.config.contacts, context)
        _notify(effects, event, self.config.channels, contacts, text, event.event_id, "alert")


ACTIONS.register("alert", AlertConfig, AlertAction, "notify contacts")


class ModeSwitch(KindConfig):
    """A mode to switch to, and for how long (supervised mode always ends)."""

    mode: Mode = Field(description="unsupervised or supervised")
    for_: SupervisedDuration | None = Field(
        None,
        alias="for",
        description="how long a supervised mode lasts (at most 24 h); default: the site's "
        "modes.supervised_for",
    )

    @field_validator("for_")
    @classmethod
    def _at_most_a_day(cls, value: float | None) -> float | None:
        return None if value is None else check_supervised(value, "for")


def _mode_request(
    switch: ModeSwitch, event: Event, context: RuleContext, source: str
) -> ModeRequest:
    until = None
    if switch.mode == Mode.SUPERVISED:
        until = event.started_at + (
            switch.for_ if switch.for_ is not None else context.supervised_for
        )
    return ModeRequest(
        switch.mode,
        until,
        by=f"rule:{event.rule_id}",
        reason=event_text(event),
        source=source,
    )


class SetModeConfig(ModeSwitch, ActionConfig):
    """Switch the site's mode when the rule fires."""

    kind: Literal["set_mode"] = Field(description="set_mode: switch the site's mode")


class SetModeAction:
    def __init__(self, config: SetModeConfig) -> None:
        self.config = config

    def switches_to(self) -> Mode | None:
        return self.config.mode

    def run(self, event: Event, effects: Effects, context: RuleContext) -> None:
        effects.set_mode(_mode_request(self.config, event, context, "rule"))


ACTIONS.register("set_mode", SetModeConfig, SetModeAction, "switch the site's mode")


class PromptConfig(ActionConfig):
    """Ask contacts a yes/no question; YES switches the mode (``yes``)."""

    kind: Literal["prompt"] = Field(description="prompt: ask the owner a yes/no question")
    question: Template = Field(
        description="the question, a template like alert messages, e.g. 'Switch to supervised?'"
    )
    yes: ModeSwitch | None = Field(
        None, description="what a YES does: {mode: supervised, for: 2h}; nothing when absent"
    )
    channels: list[Channel] = Field(
        default_factory=_channels_default, min_length=1, description="channels to ask on"
    )
    contacts: NameList = Field(
        default_factory=list, description="contact ids to ask; empty: all contacts"
    )
    expires: TimerDuration | None = Field(
        None,
        description="how long the question can be answered (at most 24 h); default: "
        "modes.prompt_expires",
    )


class PromptAction:
    def __init__(self, config: PromptConfig) -> None:
        self.config = config

    def switches_to(self) -> Mode | None:
        return self.config.yes.mode if self.config.yes is not None else None

    def run(self, event: Event, effects: Effects, context: RuleContext) -> None:
        c = self.config
        prompt_id = secrets.token_hex(3)
        question = render(c.question, event, context)
        contacts = _contacts(c.contacts, context)
        expires = c.expires if c.expires is not None else context.prompt_expires
        on_yes = None
        if c.yes is not None:  # the switch happens when YES is answered, for its full time
            on_yes = ModeRequest(
                c.yes.mode,
                None,
                by=f"rule:{event.rule_id}",
                reason=event_text(event),
                source="prompt",
                duration=None
                if c.yes.mode != Mode.SUPERVISED
                else (c.yes.for_ if c.yes.for_ is not None else context.supervised_for),
            )
        effects.ask(
            PromptRequest(
                prompt_id=prompt_id,
                event_id=event.event_id,
                rule_id=event.rule_id,
                question=question,
                contacts=tuple(contacts),
                channels=tuple(c.channels),
                expires_at=event.started_at + expires,
                on_yes=on_yes,
            )
        )
        text = f"{question} Answer YES or NO (guardian answer {prompt_id} yes|no)"
        _notify(effects, event, c.channels, contacts, text, f"prompt:{prompt_id}", "prompt")


ACTIONS.register("prompt", PromptConfig, PromptAction, "ask the owner a yes/no question")


class EscalateConfig(ActionConfig):
    """If the event is not acknowledged in time, alert the next contact, and the next."""

    kind: Literal["escalate"] = Field(description="escalate: alert the next contact if not acked")
    contacts: NameList = Field(min_length=1, description="contact ids, in the order they are tried")
    after: TimerDuration = Field(
        60.0,
        ge=1,
        description="seconds without acknowledgement before each next contact (at most 24 h)",
    )
    channels: list[Channel] = Field(
        default_factory=_channels_default, min_length=1, description="channels to alert on"
    )
    repeat: int = Field(0, ge=0, le=10, description="how many times to go through the list again")
    message: Template = Field(DEFAULT_MESSAGE, description="message template")


class EscalateAction:
    def __init__(self, config: EscalateConfig) -> None:
        self.config = config

    def run(self, event: Event, effects: Effects, context: RuleContext) -> None:
        c = self.config
        effects.escalate(
            EscalationRequest(
                event_id=event.event_id,
                rule_id=event.rule_id,
                severity=event.severity,
                contacts=tuple(c.contacts),
                channels=tuple(c.channels),
                after=float(c.after),
                start=event.started_at,
                message=render(c.message, event, context),
                repeat=c.repeat,
            )
        )


ACTIONS.register("escalate", EscalateConfig, EscalateAction, "alert the next contact if not acked")


def _argv(value: Any) -> Any:
    return shlex.split(value) if isinstance(value, str) else value


class SirenConfig(ActionConfig):
    """Run a local command (a siren, a light, a relay): argv, not a shell."""

    kind: Literal["siren"] = Field(description="siren: run a local command")
    command: Annotated[list[str], BeforeValidator(_argv)] = Field(
        min_length=1,
        description="the command and its arguments, e.g. ['/usr/local/bin/siren', 'on']",
    )
    timeout: TimerDuration = Field(30.0, gt=0, description="kill the command after this long")

    @field_validator("command")
    @classmethod
    def _exists(cls, value: list[str]) -> list[str]:
        if shutil.which(value[0]) is None:
            raise ValueError(
                f"command '{value[0]}' is not found or not executable — give its full path"
            )
        return value


class SirenAction:
    def __init__(self, config: SirenConfig) -> None:
        self.config = config

    def run(self, event: Event, effects: Effects, context: RuleContext) -> None:
        effects.run_command(
            CommandRequest(
                event.event_id,
                event.rule_id,
                tuple(self.config.command),
                float(self.config.timeout),
            )
        )


ACTIONS.register("siren", SirenConfig, SirenAction, "run a local command")


class RecordClipConfig(ActionConfig):
    """Keep a clip of the event: from ``pre`` before it to ``post`` after it."""

    kind: Literal["record_clip"] = Field(description="record_clip: keep a clip of the event")
    pre: Duration = Field(5.0, le=60, description="seconds before the event")
    post: Duration = Field(10.0, le=300, description="seconds after the event")


class RecordClipAction:
    def __init__(self, config: RecordClipConfig) -> None:
        self.config = config

    def run(self, event: Event, effects: Effects, context: RuleContext) -> None:
        effects.record_clip(
            ClipRequest(
                event.event_id,
                event.camera,
                event.started_at - self.config.pre,
                event.started_at + self.config.post,
            )
        )


ACTIONS.register("record_clip", RecordClipConfig, RecordClipAction, "keep a clip of the event")
