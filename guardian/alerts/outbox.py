"""The outbox: every notification is written to SQLite before it is sent.

A notification's key de-duplicates it (one event, one channel, one contact is sent at
most once); failures stay pending with backoff and are retried by ``flush``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from guardian.alerts.base import Notifier
from guardian.effects import Notification
from guardian.store import Delivery, Store

log = logging.getLogger("guardian.alerts")


class Outbox:
    """Queues notifications durably and sends them through the matching notifier."""

    def __init__(self, store: Store, notifiers: Iterable[Notifier]) -> None:
        self.store = store
        self.notifiers = {n.channel: n for n in notifiers}

    def notify(self, notification: Notification) -> None:
        delivery = self.store.enqueue_delivery(
            dedup_key=notification.key,
            event_id=notification.event_id,
            rule_id=notification.rule_id,
            kind=notification.kind,
            severity=notification.severity,
            channel=notification.channel,
            contact=notification.contact,
            message=notification.message,
        )
        if delivery is not None:
            self.send(delivery)

    def flush(self, now: float | None = None) -> int:
        """Retry pending deliveries that are due; return how many were sent."""
        now = time.time() if now is None else now
        sent = 0
        for delivery in self.store.due_deliveries(now):
            sent += self.send(delivery)
        return sent

    def send(self, delivery: Delivery) -> int:
        """Send one queued delivery now; 1 when sent, 0 when it failed (kept for a retry)."""
        notifier = self.notifiers.get(delivery.channel)
        if notifier is None:
            self.store.mark_delivery(
                delivery.delivery_id, ok=False, error=f"channel '{delivery.channel}' not set up"
            )
            return 0
        note = Notification(
            key=delivery.dedup_key,
            event_id=delivery.event_id,
            rule_id=delivery.rule_id,
            severity=delivery.severity,
            channel=delivery.channel,
            contact=delivery.contact,
            message=delivery.message,
            kind=delivery.kind,
        )
        try:
            notifier.send(note)
        except Exception as exc:
            log.warning("delivery %d on %s failed: %s", delivery.delivery_id, delivery.channel, exc)
            self.store.mark_delivery(delivery.delivery_id, ok=False, error=str(exc))
            return 0
        self.store.mark_delivery(delivery.delivery_id, ok=True)
        return 1
