"""Alert channels behind one protocol, and the outbox that sends through them.

Channels: console and log (always), SMS through Twilio (:mod:`guardian.alerts.sms`),
push through Apprise (:mod:`guardian.alerts.push`). SMS replies (ACK, YES/NO) come
back through :mod:`guardian.alerts.inbound`.
"""

from guardian.alerts.base import DeliveryError, DeliveryUncertain, Notifier
from guardian.alerts.console import ConsoleNotifier, LogNotifier
from guardian.alerts.outbox import Outbox

__all__ = [
    "ConsoleNotifier",
    "DeliveryError",
    "DeliveryUncertain",
    "LogNotifier",
    "Notifier",
    "Outbox",
]
