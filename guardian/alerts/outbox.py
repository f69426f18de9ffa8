"""The outbox: every notification is written to SQLite before it is sent.

Exactly once, for one event, one channel and one contact:

* a notification's key de-duplicates it (the same key twice is one delivery);
* before a provider is called the delivery is claimed (``pending`` → ``sending``, one
  atomic UPDATE), so two threads or processes never send the same row;
* a failure puts it back to ``pending`` with a backoff (2, 4, 8 … s up to
  ``alerts.retry_max``), ``failed`` for good after ``alerts.max_attempts`` tries;
* a delivery found in ``sending`` whose claimer is gone (a crash, ``kill -9``) is
  *reconciled*: a channel that can be asked whether the message went out (SMS: Twilio's
  message list, matched on the ``[G…]`` reference in the text) marks it sent or sends it
  again; other channels send it again.

Quiet hours (``alerts.quiet_hours``) hold back non-critical alerts and escalations on
sms and push: their deliveries become ``suppressed`` with the reason, still recorded and
counted in the digest. Critical ones, prompts and digests always go.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from guardian.alerts.base import DeliveryError, Notifier
from guardian.effects import Notification
from guardian.store import Delivery, Store

if TYPE_CHECKING:
    from guardian.config.alerts import QuietHours
    from guardian.config.site import SiteConfig

log = logging.getLogger("guardian.alerts")

#: seconds after which a claim by a process that may still be alive is taken over
SENDING_LEASE = 120.0
#: channels quiet hours apply to (console and log never wake anyone)
QUIET_CHANNELS = frozenset({"sms", "push"})
#: kinds of message quiet hours apply to
QUIET_KINDS = frozenset({"alert", "escalation"})


def process_owner() -> str:
    """``host:pid:nonce`` — who claims a delivery (the nonce tells restarts apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def _claimer_gone(claimed_by: str | None, me: str) -> bool:
    """True when the claim was made by a process of this host that no longer runs."""
    if not claimed_by:
        return True
    if claimed_by == me:
        return False
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine: wait for the lease
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # an earlier run with our pid (containers restart as pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Outbox:
    """Queues notifications durably and sends them through the matching notifier."""

    def __init__(
        self,
        store: Store,
        notifiers: Iterable[Notifier],
        *,
        quiet_hours: QuietHours | None = None,
        timezone: str = "UTC",
        max_attempts: int = 8,
        retry_max: float = 300.0,
        lease: float = SENDING_LEASE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.notifiers = {n.channel: n for n in notifiers}
        self.quiet_hours = quiet_hours
        self.timezone = ZoneInfo(timezone)
        self.max_attempts = max_attempts
        self.retry_max = retry_max
        self.lease = lease
        self.clock = clock
        self.owner = process_owner()

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
        """Reconcile abandoned sends, then retry pending deliveries that are due; return
        how many were sent."""
        now = self.clock() if now is None else now
        sent = self.recover(now)
        for delivery in self.store.due_deliveries(now):
            sent += self.send(delivery, now=now)
        return sent

    def quiet_reason(self, delivery: Delivery) -> str | None:
        """Why quiet hours hold this delivery back, or None when it goes."""
        quiet = self.quiet_hours
        if (
            quiet is None
            or delivery.severity == "critical"
            or delivery.channel not in QUIET_CHANNELS
            or delivery.kind not in QUIET_KINDS
        ):
            return None
        local = dt.datetime.fromtimestamp(delivery.created_at, self.timezone)
        if not quiet.contains(local.hour * 60 + local.minute):
            return None
        return (
            f"quiet hours {quiet.start}-{quiet.end}: {delivery.severity} alert at "
            f"{local:%H:%M} held back (counted in the digest)"
        )

    def send(self, delivery: Delivery, *, now: float | None = None) -> int:
        """Send one queued delivery now; 1 when sent, 0 when not (kept for a retry,
        suppressed, or already taken by someone else)."""
        now = self.clock() if now is None else now
        reason = self.quiet_reason(delivery)
        if reason is not None:
            self.store.suppress_delivery(delivery.delivery_id, reason=reason)
            log.info("delivery %d on %s: %s", delivery.delivery_id, delivery.channel, reason)
            return 0
        notifier = self.notifiers.get(delivery.channel)
        if notifier is None:
            if self.store.claim_delivery(delivery.delivery_id, owner=self.owner, now=now):
                self._failed(delivery, f"channel '{delivery.channel}' not set up", now)
            return 0
        claimed = self.store.claim_delivery(delivery.delivery_id, owner=self.owner, now=now)
        if claimed is None:
            return 0  # sent, suppressed, or being sent by another thread or process
        try:
            provider_id = notifier.send(_notification(claimed))
        except Exception as exc:
            self._failed(claimed, str(exc), now)
            return 0
        self.store.mark_delivery(
            claimed.delivery_id,
            ok=True,
            provider_id=provider_id,
            now=now,
            max_attempts=self.max_attempts,
            retry_max=self.retry_max,
        )
        return 1

    def _failed(self, delivery: Delivery, error: str, now: float) -> None:
        after = self.store.mark_delivery(
            delivery.delivery_id,
            ok=False,
            error=error,
            now=now,
            max_attempts=self.max_attempts,
            retry_max=self.retry_max,
        )
        if after.status == "failed":
            log.error(
                "delivery %d on %s to %s given up after %d tries: %s",
                delivery.delivery_id,
                delivery.channel,
                delivery.contact,
                after.attempts,
                error,
            )
        else:
            log.warning(
                "delivery %d on %s failed (try %d), again in %.0fs: %s",
                delivery.delivery_id,
                delivery.channel,
                after.attempts,
                after.next_attempt_at - now,
                error,
            )

    def recover(self, now: float | None = None) -> int:
        """Settle deliveries left ``sending`` by a process that is gone (or that has held
        them longer than the lease); return how many turned out to be sent."""
        now = self.clock() if now is None else now
        sent = 0
        for delivery in self.store.deliveries("sending"):
            started = delivery.sending_at or delivery.created_at
            if not (_claimer_gone(delivery.claimed_by, self.owner) or now - started > self.lease):
                continue
            notifier = self.notifiers.get(delivery.channel)
            reconcile = getattr(notifier, "reconcile", None)
            if reconcile is None:
                self.store.release_delivery(
                    delivery.delivery_id, now=now, note="interrupted while sending; sent again"
                )
                log.warning(
                    "delivery %d on %s was interrupted while sending: sending it again",
                    delivery.delivery_id,
                    delivery.channel,
                )
                continue
            try:
                provider_id = reconcile(delivery)
            except DeliveryError as exc:
                log.warning(
                    "delivery %d: cannot tell yet whether it went out (%s); will ask again",
                    delivery.delivery_id,
                    exc,
                )
                continue
            if provider_id:
                self.store.mark_delivery(
                    delivery.delivery_id, ok=True, provider_id=str(provider_id), now=now
                )
                log.info(
                    "delivery %d had gone out before the interruption (%s): marked sent",
                    delivery.delivery_id,
                    provider_id,
                )
                sent += 1
            else:
                self.store.release_delivery(
                    delivery.delivery_id,
                    now=now,
                    note="interrupted before the provider got it; sent again",
                )
                log.warning(
                    "delivery %d never reached %s: sending it again",
                    delivery.delivery_id,
                    delivery.channel,
                )
        return sent


def _notification(delivery: Delivery) -> Notification:
    return Notification(
        key=delivery.dedup_key,
        event_id=delivery.event_id,
        rule_id=delivery.rule_id,
        severity=delivery.severity,
        channel=delivery.channel,
        contact=delivery.contact,
        message=delivery.message,
        kind=delivery.kind,
    )


def build_notifiers(
    site: SiteConfig, *, out: TextIO | None = None, environ: Mapping[str, str] = os.environ
) -> list[Notifier]:
    """Every channel of the site: console, log, and sms / push when contacts use them."""
    from guardian.alerts.console import ConsoleNotifier, LogNotifier

    notifiers: list[Notifier] = [ConsoleNotifier(out), LogNotifier()]
    channels = {ch for c in site.contacts for ch in c.channels}
    channels.update(site.alerts.digest.channels if site.alerts.digest.enabled else ())
    if "sms" in channels:
        from guardian.alerts.sms import SmsNotifier

        notifiers.append(SmsNotifier.from_site(site, environ))
    if "push" in channels:
        from guardian.alerts.push import PushNotifier

        notifiers.append(PushNotifier.from_site(site, environ))
    return notifiers


def build_outbox(
    store: Store,
    site: SiteConfig,
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
    notifiers: Iterable[Notifier] | None = None,
    clock: Callable[[], float] = time.time,
) -> Outbox:
    """The site's outbox, with its channels, quiet hours and retry settings."""
    alerts = site.alerts
    return Outbox(
        store,
        build_notifiers(site, out=out, environ=environ) if notifiers is None else notifiers,
        quiet_hours=alerts.quiet_hours,
        timezone=site.site.timezone,
        max_attempts=alerts.max_attempts,
        retry_max=alerts.retry_max,
        clock=clock,
    )
