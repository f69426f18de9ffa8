"""What rule actions ask for, as records: the side effects of one batch of events.

Actions never act directly. They put requests in an :class:`Effects` batch; the runner
writes the batch to SQLite in the same transaction as the events and the rules' durable
state (so a crash loses nothing and repeats nothing), and only then sends, switches and
runs. Replay collects the same batch and prints it instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from guardian.vocab import Channel, Mode, Severity


@dataclass(frozen=True, slots=True)
class Notification:
    """A message for one contact on one channel, about one event."""

    key: str
    event_id: str | None
    rule_id: str | None
    severity: Severity
    channel: Channel
    contact: str
    message: str
    kind: str = "alert"


@dataclass(frozen=True, slots=True)
class ModeRequest:
    """Switch the site's mode. ``until`` (epoch seconds) makes a supervised mode expire;
    ``duration`` (seconds from when the switch happens, e.g. when a prompt is answered)
    is used when ``until`` is not given."""

    mode: Mode
    until: float | None = None
    by: str = ""
    reason: str = ""
    source: str = "rule"
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class PromptRequest:
    """Ask contacts a yes/no question; a YES carries out ``on_yes`` (a mode switch)."""

    prompt_id: str
    event_id: str | None
    rule_id: str | None
    question: str
    contacts: tuple[str, ...]
    channels: tuple[str, ...]
    expires_at: float
    on_yes: ModeRequest | None = None


@dataclass(frozen=True, slots=True)
class EscalationRequest:
    """If ``event_id`` is not acknowledged ``after`` seconds from ``start``, alert the next
    contact in ``contacts`` (one more every ``after`` seconds), repeating the chain ``repeat``
    times."""

    event_id: str
    rule_id: str
    severity: Severity
    contacts: tuple[str, ...]
    channels: tuple[str, ...]
    after: float
    start: float
    message: str
    repeat: int = 0


@dataclass(frozen=True, slots=True)
class CommandRequest:
    """Run a local command (argv, no shell), e.g. a siren; killed after ``timeout`` s."""

    event_id: str
    rule_id: str
    argv: tuple[str, ...]
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class ClipRequest:
    """Keep a clip of ``camera`` from ``start`` to ``end`` (epoch seconds) for an event."""

    event_id: str
    camera: str
    start: float
    end: float


@dataclass
class Effects:
    """A batch of requests from actions; the sink every action writes to."""

    notifications: list[Notification] = field(default_factory=list)
    modes: list[ModeRequest] = field(default_factory=list)
    prompts: list[PromptRequest] = field(default_factory=list)
    escalations: list[EscalationRequest] = field(default_factory=list)
    commands: list[CommandRequest] = field(default_factory=list)
    clips: list[ClipRequest] = field(default_factory=list)

    def notify(self, notification: Notification) -> None:
        self.notifications.append(notification)

    def set_mode(self, request: ModeRequest) -> None:
        self.modes.append(request)

    def ask(self, request: PromptRequest) -> None:
        self.prompts.append(request)

    def escalate(self, request: EscalationRequest) -> None:
        self.escalations.append(request)

    def run_command(self, request: CommandRequest) -> None:
        self.commands.append(request)

    def record_clip(self, request: ClipRequest) -> None:
        self.clips.append(request)

    def extend(self, other: Effects) -> None:
        """Add every request of ``other`` after this batch's own, kind by kind."""
        for kind in fields(self):
            getattr(self, kind.name).extend(getattr(other, kind.name))

    def __bool__(self) -> bool:
        return bool(
            self.notifications
            or self.modes
            or self.prompts
            or self.escalations
            or self.commands
            or self.clips
        )


@dataclass(frozen=True, slots=True)
class StateChange:
    """A rule's durable state entry to write (``value`` set) or delete (``value`` None)."""

    rule_id: str
    key: str
    value: object | None
