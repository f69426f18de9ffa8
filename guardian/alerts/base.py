"""The notifier protocol every alert channel implements."""

from __future__ import annotations

from typing import Protocol

from guardian.effects import Notification


class DeliveryError(RuntimeError):
    """A channel could not deliver a notification (it will be retried)."""


class DeliveryUncertain(DeliveryError):
    """The request may have reached the provider but no answer came (a timeout, a
    connection broken after sending): the delivery is reconciled with the provider
    before it is sent again, so a slow provider never gets the same message twice."""


class Notifier(Protocol):
    """One channel (console, log, SMS, push …). ``send`` raises DeliveryError on failure."""

    channel: str

    def ready(self, contact: str) -> bool:
        """Whether this channel can reach ``contact`` now (set up, with an address)."""
        ...

    def send(self, notification: Notification) -> str | None:
        """Deliver; return the provider's message id if it has one."""
        ...
