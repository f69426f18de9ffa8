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

A provider that answers slowly or not at all never holds up the rules: while Guardian
runs, each channel sends from a thread of its own (:meth:`Outbox.start`); the rule thread
only records the delivery and wakes that thread (:meth:`Outbox.submit`). A send with no
answer (a timeout) is *in doubt*: it is reconciled with the provider like an interrupted
one, never sent again blindly. A run stops within seconds (:meth:`Outbox.stop`): a send
still waiting for its provider is left ``sending`` and reconciled at the next start. A run
on video files that ends by itself first gives pending retries a short while to go out
(:meth:`Outbox.drain`).

Quiet hours (``alerts.quiet_hours``) hold back non-critical alerts and escalations on
sms and push: their deliveries become ``suppressed`` with the reason, still recorded and
counted in the digest. Critical ones, prompts and digests always go.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from guardian.alerts.base import DeliveryError, DeliveryUncertain, Notifier
from guardian.effects import Notification
from guardian.store import Delivery, Store
from guardian.timefmt import hour_minute, local_time
from guardian.vocab import REMOTE_CHANNELS, Channel, Severity

if TYPE_CHECKING:
    from guardian.config.alerts import QuietHours

log = logging.getLogger("guardian.alerts")

#: seconds after which a claim by a process that may still be alive is taken over
SENDING_LEASE = 120.0
#: channels quiet hours apply to (console and log never wake anyone)
QUIET_CHANNELS = REMOTE_CHANNELS
#: kinds of message quiet hours apply to
QUIET_KINDS = frozenset({"alert", "escalation"})
#: seconds a channel's sender sleeps between looks at the outbox when nothing wakes it
SENDER_POLL = 1.0


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
        local_time(0.0, timezone)  # an unknown zone fails here, not at the first send
        self.timezone = timezone
        self.max_attempts = max_attempts
        self.retry_max = retry_max
        self.lease = lease
        self.clock = clock
        self.owner = process_owner()
        #: one sender thread per channel while the outbox runs (start/stop)
        self._senders: dict[str, _Sender] = {}

    def notify(self, notification: Notification) -> None:
        delivery = self.store.outbox.enqueue(notification, time.time())
        if delivery is not None:
            self.send(delivery)

    # -- sending from threads of its own ---------------------------------------------
    def start(self) -> None:
        """Send from one thread per channel from now on: :meth:`submit` only wakes it."""
        for channel in self.notifiers:
            if channel not in self._senders:
                sender = _Sender(self, channel)
                self._senders[channel] = sender
                sender.start()

    @property
    def running(self) -> bool:
        return bool(self._senders)

    def submit(self, deliveries: Iterable[Delivery]) -> None:
        """Send recorded deliveries: their channel's sender is woken (never waited for);
        without senders (a command, a test) they are sent here and now."""
        for delivery in deliveries:
            sender = self._senders.get(delivery.channel)
            if sender is not None:
                sender.wake()
            else:
                self.send(delivery)

    def wake(self) -> None:
        """Look at the outbox now (deliveries queued by another part: escalations)."""
        for sender in self._senders.values():
            sender.wake()

    def stop(self, timeout: float = 3.0) -> list[str]:
        """Stop the senders, waiting at most ``timeout`` seconds in all; return the
        channels whose provider still holds a send (left ``sending``: reconciled with the
        provider at the next start, never lost nor sent twice)."""
        senders, self._senders = list(self._senders.values()), {}
        for sender in senders:
            sender.halt()
        deadline = time.monotonic() + timeout
        busy = []
        for sender in senders:
            sender.join(max(0.0, deadline - time.monotonic()))
            if sender.is_alive():
                busy.append(sender.channel)
        return busy

    def drain(self, limit: float, stop: threading.Event | None = None) -> list[Delivery]:
        """Before a run on video files ends: send what is still pending or in doubt,
        retrying every second for at most ``limit`` seconds (or until ``stop``); return
        what is left (sent at the next start)."""
        deadline = time.monotonic() + limit
        while True:
            left = self.store.outbox.find("pending") + self.store.outbox.find("sending")
            # a channel with no credentials, or a contact with no address, cannot do
            # better in a few seconds: only what a retry may send is waited for
            hopeful = [d for d in left if self._may_send(d)]
            if not hopeful or time.monotonic() >= deadline or (stop and stop.is_set()):
                return left
            now = self.clock()
            self.recover(now, force=True)
            for delivery in self.store.outbox.find("pending"):
                if self._may_send(delivery):
                    self.send(delivery, now=now)
            if stop is not None:
                stop.wait(1.0)
            else:
                time.sleep(1.0)

    def _may_send(self, delivery: Delivery) -> bool:
        notifier = self.notifiers.get(delivery.channel)
        return notifier is not None and notifier.ready(delivery.contact)

    def flush(self, now: float | None = None, channel: str | None = None) -> int:
        """Reconcile abandoned sends, then retry pending deliveries that are due (of one
        ``channel``, or all), critical ones first; return how many were sent."""
        now = self.clock() if now is None else now
        sent = self.recover(now, channel=channel)
        due = self.store.outbox.find("pending", due_by=now, channel=channel)
        for delivery in sorted(due, key=lambda d: (d.severity != "critical", d.delivery_id)):
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
        local = local_time(delivery.created_at, self.timezone)
        if not quiet.contains(local.hour * 60 + local.minute):
            return None
        return (
            f"quiet hours {quiet.start}-{quiet.end}: {delivery.severity} alert at "
            f"{hour_minute(delivery.created_at, self.timezone)} held back (counted in the digest)"
        )

    def send(self, delivery: Delivery, *, now: float | None = None) -> int:
        """Send one queued delivery now; 1 when sent, 0 when not (kept for a retry,
        suppressed, or already taken by someone else)."""
        now = self.clock() if now is None else now
        reason = self.quiet_reason(delivery)
        if reason is not None:
            self.store.outbox.suppress(delivery.delivery_id, reason=reason)
            log.info("delivery %d on %s: %s", delivery.delivery_id, delivery.channel, reason)
            return 0
        notifier = self.notifiers.get(delivery.channel)
        if notifier is None:
            if self.store.outbox.claim(delivery.delivery_id, owner=self.owner, now=now):
                self._failed(delivery, f"channel '{delivery.channel}' not set up", now)
            return 0
        claimed = self.store.outbox.claim(delivery.delivery_id, owner=self.owner, now=now)
        if claimed is None:
            return 0  # sent, suppressed, or being sent by another thread or process
        try:
            provider_id = notifier.send(_notification(claimed))
        except DeliveryUncertain as exc:
            ended = self.clock()  # asked again a backoff after the wait ended
            after = self.store.outbox.doubt(
                claimed.delivery_id, now=ended, error=str(exc), retry_max=self.retry_max
            )
            log.warning(
                "delivery %d on %s: no answer (%s); asking the provider in %.0fs whether it "
                "went out before sending it again",
                claimed.delivery_id,
                claimed.channel,
                exc,
                after.next_attempt_at - ended,
            )
            return 0
        except Exception as exc:
            self._failed(claimed, str(exc), now)
            return 0
        self.store.outbox.mark(
            claimed.delivery_id,
            ok=True,
            provider_id=provider_id,
            now=now,
            max_attempts=self.max_attempts,
            retry_max=self.retry_max,
        )
        return 1

    def _failed(self, delivery: Delivery, error: str, now: float) -> None:
        after = self.store.outbox.mark(
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

    def recover(
        self, now: float | None = None, *, channel: str | None = None, force: bool = False
    ) -> int:
        """Settle deliveries left ``sending`` by a process that is gone (or that has held
        them longer than the lease), and sends in doubt whose wait has passed (``force``:
        now); return how many turned out to be sent."""
        now = self.clock() if now is None else now
        sent = 0
        for delivery in self.store.outbox.find("sending", channel=channel):
            started = delivery.sending_at or delivery.created_at
            if not (_claimer_gone(delivery.claimed_by, self.owner) or now - started > self.lease):
                continue
            if delivery.claimed_by is None and delivery.next_attempt_at > now and not force:
                continue  # in doubt: asked again after its backoff
            notifier = self.notifiers.get(delivery.channel)
            reconcile = getattr(notifier, "reconcile", None)
            if reconcile is None:
                self.store.outbox.release(
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
                self.store.outbox.mark(
                    delivery.delivery_id, ok=True, provider_id=str(provider_id), now=now
                )
                log.info(
                    "delivery %d had gone out before the interruption (%s): marked sent",
                    delivery.delivery_id,
                    provider_id,
                )
                sent += 1
            else:
                self.store.outbox.release(
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


class _Sender(threading.Thread):
    """One channel's sender: wakes when a delivery is submitted (or every second),
    reconciles, then sends what is due. A slow provider slows this channel only."""

    def __init__(self, outbox: Outbox, channel: str) -> None:
        super().__init__(name=f"outbox-{channel}", daemon=True)
        self.outbox = outbox
        self.channel = channel
        self._wake = threading.Event()
        self._halt = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def halt(self) -> None:
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        while not self._halt.is_set():
            self._wake.wait(SENDER_POLL)
            self._wake.clear()
            if self._halt.is_set():
                return
            try:
                self.outbox.flush(channel=self.channel)
            except sqlite3.Error as exc:  # the database is busy (or closing): next time
                if self._halt.is_set():
                    return
                log.warning("outbox %s: the database is busy (%s); trying again", self.channel, exc)
                self._halt.wait(SENDER_POLL)
            except Exception:
                log.exception("outbox %s: sending failed; trying again", self.channel)
                self._halt.wait(SENDER_POLL)


def _notification(delivery: Delivery) -> Notification:
    return Notification(
        key=delivery.dedup_key,
        event_id=delivery.event_id,
        rule_id=delivery.rule_id,
        severity=Severity(delivery.severity),
        channel=Channel(delivery.channel),
        contact=delivery.contact,
        message=delivery.message,
        kind=delivery.kind,
    )
