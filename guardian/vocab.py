"""Guardian's words as types: roles, modes, severities, statuses, channels.

Each is a :class:`~enum.StrEnum`: a member compares equal to its string value, so stored
rows, YAML and JSON keep the plain words, and pydantic validates a field typed with one.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """Who a person is, as far as Guardian can tell."""

    ADULT = "adult"
    CHILD = "child"
    UNKNOWN = "unknown"


#: the roles a person can be enrolled with (``guardian enroll --role``)
ENROLLED_ROLES: tuple[Role, ...] = (Role.ADULT, Role.CHILD)


class Mode(StrEnum):
    """The site mode; rules can be limited to one (``modes: [unsupervised]``)."""

    UNSUPERVISED = "unsupervised"
    SUPERVISED = "supervised"


#: the site modes; the first is the default
MODES: tuple[Mode, ...] = tuple(Mode)
DEFAULT_MODE = Mode.UNSUPERVISED


class Severity(StrEnum):
    """How bad an event is (the order: critical first)."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


#: severities from the most to the least urgent
SEVERITY_ORDER: tuple[Severity, ...] = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)


class EventStatus(StrEnum):
    """Where an event is in its review."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    REVIEWED = "reviewed"
    CLOSED = "closed"


class ClipStatus(StrEnum):
    """A clip's life: asked for, being written, on disk, given up, or removed."""

    PENDING = "pending"
    RECORDING = "recording"
    WRITTEN = "written"
    SKIPPED = "skipped"
    DELETED = "deleted"


class Channel(StrEnum):
    """How a notification reaches a contact."""

    CONSOLE = "console"
    LOG = "log"
    SMS = "sms"
    PUSH = "push"


#: a channel a contact (or the digest) can be reached on; ``log`` is for rules only
ContactChannel = Literal[Channel.CONSOLE, Channel.SMS, Channel.PUSH]
CONTACT_CHANNELS: tuple[ContactChannel, ...] = (Channel.CONSOLE, Channel.SMS, Channel.PUSH)
#: channels that leave the site and are held back in quiet hours
REMOTE_CHANNELS: frozenset[Channel] = frozenset({Channel.SMS, Channel.PUSH})


class DeliveryStatus(StrEnum):
    """An outbox row: waiting, claimed by a sender, sent, given up, or held back."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class PromptStatus(StrEnum):
    """A yes/no question to contacts: waiting, answered yes or no, or timed out."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"


class EscalationStatus(StrEnum):
    """An escalation chain: waiting for its next step, stopped by an ack, or run out."""

    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    EXHAUSTED = "exhausted"
