"""Alert channels behind one protocol, and the outbox that sends through them."""

from guardian.alerts.base import DeliveryError, Notifier
from guardian.alerts.console import ConsoleNotifier, LogNotifier
from guardian.alerts.outbox import Outbox

__all__ = ["ConsoleNotifier", "DeliveryError", "LogNotifier", "Notifier", "Outbox"]
