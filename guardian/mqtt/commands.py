"""What the broker may ask of the site: switch the mode, acknowledge, answer a prompt.

Every payload is checked on arrival (a pydantic model, ``extra="forbid"``, bounded
sizes): a bad one is logged in one line — never its content, which may hold anything —
and ignored. Retained messages on a command topic are ignored too (a command left on
the broker would run again at every start). A good one waits in a small queue and runs
on the rule thread (:meth:`SiteCommands.run`, once a second) through the same domain
code as ``guardian mode`` / ``guardian ack`` / the review page: the mode manager and
the store's repositories, each in its own transaction.

Payloads::

    <prefix>/mode/set        {"mode": "supervised", "for": "1h", "by": "alex", "reason": "…"}
                             or a bare supervised / unsupervised (Home Assistant's select)
    <prefix>/ack             {"event": "<id>", "by": "alex"}, a bare event id, or PRESS /
                             latest: the latest unacknowledged critical event (HA's button)
    <prefix>/prompts/answer  {"prompt": "<id>", "answer": "yes", "by": "alex"}
"""

from __future__ import annotations

import json
import logging
import queue
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from guardian.config.durations import SupervisedDuration, check_supervised
from guardian.modes import ModeManager
from guardian.mqtt.link import Message, MqttLink
from guardian.mqtt.topics import Topics
from guardian.store import Store
from guardian.store.prompts import PromptError
from guardian.vocab import MODES, EventStatus, Mode, Severity

log = logging.getLogger("guardian.mqtt.commands")

#: the largest command payload accepted, in bytes
MAX_PAYLOAD = 2048
#: commands waiting for the rule thread; beyond it, new ones are dropped (and logged)
MAX_WAITING = 64
#: how far back "the latest unacknowledged critical event" is looked for
ACK_WINDOW = 7 * 86400.0
#: the source recorded with mode switches and prompt answers made over MQTT
SOURCE = "mqtt"
#: what the Home Assistant button (and a bare ``latest``) sends
LATEST = ("PRESS", "latest")

_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,80}$")

Ident = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")]
By = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModeCommand(_Payload):
    """``<prefix>/mode/set``: switch the site mode."""

    mode: Mode = Field(description="supervised or unsupervised")
    duration: SupervisedDuration | None = Field(
        None, alias="for", description="how long a supervised mode lasts, e.g. 1h (max 24h)"
    )
    by: By = Field(SOURCE, description="who asked (recorded in the mode history)")
    reason: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="why (shown by 'guardian mode')"
    )

    @field_validator("duration")
    @classmethod
    def _at_most_a_day(cls, value: float | None) -> float | None:
        return None if value is None else check_supervised(value, "for")


class AckCommand(_Payload):
    """``<prefix>/ack``: acknowledge one event (None: the latest critical one)."""

    event: Ident | None = Field(None, description="the event id; empty: the latest critical")
    by: By = Field(SOURCE, description="who acknowledged")


class AnswerCommand(_Payload):
    """``<prefix>/prompts/answer``: answer a mode question."""

    prompt: Ident = Field(description="the prompt id")
    answer: Literal["yes", "no"] = Field(description="yes or no")
    by: By = Field(SOURCE, description="who answered")


Command = ModeCommand | AckCommand | AnswerCommand


class BadPayload(ValueError):
    """A command payload that is not one: the message says why, never what it held."""


def _object(payload: bytes) -> object:
    if len(payload) > MAX_PAYLOAD:
        raise BadPayload(f"{len(payload)} bytes, more than {MAX_PAYLOAD}")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise BadPayload("not UTF-8 text") from None
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadPayload(f"not valid JSON ({exc.msg} at {exc.pos})") from None
    return text


def _summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_mode(payload: bytes) -> ModeCommand:
    data = _object(payload)
    if isinstance(data, str):
        if data not in MODES:
            raise BadPayload(f"expected {' or '.join(MODES)} or a JSON object")
        data = {"mode": data}
    try:
        return ModeCommand.model_validate(data)
    except ValidationError as exc:
        raise BadPayload(_summary(exc)) from None


def parse_ack(payload: bytes) -> AckCommand:
    data = _object(payload)
    if isinstance(data, str):
        if data in LATEST:
            return AckCommand()
        if not _ID_RE.match(data):
            raise BadPayload("expected an event id, PRESS or a JSON object")
        data = {"event": data}
    try:
        return AckCommand.model_validate(data)
    except ValidationError as exc:
        raise BadPayload(_summary(exc)) from None


def parse_answer(payload: bytes) -> AnswerCommand:
    data = _object(payload)
    if isinstance(data, str):
        raise BadPayload('expected a JSON object {"prompt": ..., "answer": "yes"|"no"}')
    try:
        return AnswerCommand.model_validate(data)
    except ValidationError as exc:
        raise BadPayload(_summary(exc)) from None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command did (for the log and the tests)."""

    command: Command
    ok: bool
    detail: str


class SiteCommands:
    """Receives commands on the link; runs them on the rule thread (``run``).

    ``store`` and ``modes`` are the rule thread's: ``run`` must be called there only.
    """

    def __init__(
        self,
        link: MqttLink,
        topics: Topics,
        store: Store,
        modes: ModeManager,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.link = link
        self.topics = topics
        self.store = store
        self.modes = modes
        self.clock = clock
        self._waiting: queue.Queue[Command] = queue.Queue(maxsize=MAX_WAITING)
        #: bad payloads ignored so far (tests and the status line read it)
        self.rejected = 0

    def subscribe(self) -> None:
        """Listen on the command topics (kept across reconnects by the link)."""
        self.link.subscribe(self.topics.mode_set(), self._receiver(parse_mode))
        self.link.subscribe(self.topics.ack(), self._receiver(parse_ack))
        self.link.subscribe(self.topics.prompt_answer(), self._receiver(parse_answer))

    def _receiver(self, parse: Callable[[bytes], Command]) -> Callable[[Message], None]:
        def receive(message: Message) -> None:
            if message.retain:
                self._reject(message.topic, "a retained command (it would run at every start)")
                return
            try:
                command = parse(message.payload)
            except BadPayload as exc:
                self._reject(message.topic, str(exc))
                return
            try:
                self._waiting.put_nowait(command)
            except queue.Full:
                self._reject(message.topic, f"{MAX_WAITING} commands already wait")

        return receive

    def _reject(self, topic: str, why: str) -> None:
        self.rejected += 1
        log.warning("mqtt: ignored a message on %s: %s", topic, why)

    def run(self, now: float | None = None) -> list[Outcome]:
        """Run the commands that arrived (the rule thread); each one's outcome logged."""
        now = self.clock() if now is None else now
        done: list[Outcome] = []
        while True:
            try:
                command = self._waiting.get_nowait()
            except queue.Empty:
                return done
            outcome = self._run(command, now)
            level = logging.INFO if outcome.ok else logging.WARNING
            log.log(level, "mqtt command %s: %s", type(command).__name__, outcome.detail)
            done.append(outcome)

    def _run(self, command: Command, now: float) -> Outcome:
        try:
            if isinstance(command, ModeCommand):
                state = self.modes.switch(
                    command.mode,
                    duration=command.duration,
                    by=command.by,
                    reason=command.reason,
                    source=SOURCE,
                )
                return Outcome(command, True, f"mode {state.mode} (by {command.by})")
            if isinstance(command, AckCommand):
                return self._ack(command, now)
            prompt, mode = self.store.prompt_log.answer(
                command.prompt, yes=command.answer == "yes", by=command.by, source=SOURCE, now=now
            )
            switched = f", mode {mode.mode}" if mode is not None else ""
            return Outcome(command, True, f"prompt {prompt.prompt_id} {prompt.status}{switched}")
        except (ValueError, PromptError) as exc:  # PromptError is a ValueError: one message
            return Outcome(command, False, str(exc))

    def _ack(self, command: AckCommand, now: float) -> Outcome:
        event_id = command.event or self.latest_critical(now)
        if event_id is None:
            return Outcome(command, False, "no critical event waits for an acknowledgement")
        if not self.store.event_log.acknowledge(event_id, by=command.by, now=now):
            return Outcome(command, False, f"no event '{event_id}'")
        return Outcome(command, True, f"event {event_id} acknowledged by {command.by}")

    def latest_critical(self, now: float) -> str | None:
        """The latest critical event not acknowledged (within ACK_WINDOW), or None."""
        for event in reversed(self.store.event_log.find(since=now - ACK_WINDOW)):
            if event.severity == Severity.CRITICAL and event.status == EventStatus.OPEN:
                return event.event_id
        return None


__all__ = [
    "AckCommand",
    "AnswerCommand",
    "BadPayload",
    "ModeCommand",
    "Outcome",
    "SiteCommands",
    "parse_ack",
    "parse_answer",
    "parse_mode",
]
