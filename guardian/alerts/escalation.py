"""Escalation: alert the next contact until someone acknowledges the event.

A rule's escalation (``EscalationRequest``, stored in the ``escalations`` table by the
commit that stored its event) says: if the event is not acknowledged ``after`` seconds
from its start, alert ``contacts[0]``; ``after`` seconds later ``contacts[1]``; and so on,
going through the chain ``repeat + 1`` times. :meth:`Escalator.tick` does the steps that
are due. Everything it knows is in SQLite (``step``, ``due_at``, ``status``), so a restart
resumes where it was; each step is queued in the outbox in the same transaction that
advances the step, under a key naming the step, so no step is ever sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from guardian.effects import Notification
from guardian.store import Delivery, Escalation, Store
from guardian.timefmt import format_duration
from guardian.vocab import Channel, EscalationStatus, Severity

log = logging.getLogger("guardian.alerts")

#: (event id, contact id, severity, now) → a link to add to that contact's message, or None
#: (see :func:`guardian.review.auth.escalation_link_maker`: share links for remote contacts)
LinkMaker = Callable[[str, str, str, float], str | None]


def escalation_key(escalation_id: int, step: int, channel: str, contact: str) -> str:
    """The outbox de-duplication key of one step on one channel to one contact."""
    return f"escalation:{escalation_id}:{step}:{channel}:{contact}"


class Escalator:
    """Runs due escalation steps; call :meth:`tick` every few seconds."""

    def __init__(self, store: Store, link_maker: LinkMaker | None = None) -> None:
        self.store = store
        self.link_maker = link_maker

    def tick(self, now: float) -> list[Delivery]:
        """Do every step due at ``now``: one step per escalation and tick.

        Returns the deliveries queued; the caller sends them (``Outbox.flush``).
        """
        queued: list[Delivery] = []
        for due in self.store.prompt_log.escalations("pending", due_by=now):
            queued.extend(self._step(due.escalation_id, now))
        return queued

    def _step(self, escalation_id: int, now: float) -> list[Delivery]:
        queued: list[Delivery] = []
        with self.store.write_transaction():
            # read again under the write lock: an 'ack' or another tick may have won
            current = {
                e.escalation_id: e for e in self.store.prompt_log.escalations("pending", due_by=now)
            }
            esc = current.get(escalation_id)
            if esc is None:
                return queued
            if self.store.event_log.is_acknowledged(esc.event_id):
                self.store.prompt_log.update_escalation(
                    escalation_id, status=EscalationStatus.ACKNOWLEDGED
                )
                log.info("escalation %d: event %s acknowledged", escalation_id, esc.event_id)
                return queued
            total = len(esc.contacts) * (esc.repeat + 1)
            if esc.step < total:
                contact = esc.contacts[esc.step % len(esc.contacts)]
                message = self._message(esc, now)
                link = (
                    self.link_maker(esc.event_id, contact, esc.severity, now)
                    if self.link_maker
                    else None
                )
                if link:
                    message += f" — see: {link}"
                for channel in esc.channels:
                    note = Notification(
                        key=escalation_key(escalation_id, esc.step, channel, contact),
                        event_id=esc.event_id,
                        rule_id=esc.rule_id,
                        severity=Severity(esc.severity),
                        channel=Channel(channel),
                        contact=contact,
                        message=message,
                        kind="escalation",
                    )
                    delivery = self.store.outbox.enqueue(note, now)
                    if delivery is not None:
                        queued.append(delivery)
                log.info(
                    "escalation %d: step %d/%d to %s", escalation_id, esc.step + 1, total, contact
                )
            step = esc.step + 1
            exhausted = step >= total
            if exhausted:
                log.warning(
                    "escalation %d: event %s still not acknowledged after the whole chain",
                    escalation_id,
                    esc.event_id,
                )
            self.store.prompt_log.update_escalation(
                escalation_id,
                step=step,
                due_at=esc.due_at + esc.after,
                status=EscalationStatus.EXHAUSTED if exhausted else None,
            )
        return queued

    @staticmethod
    def _message(esc: Escalation, now: float) -> str:
        start = esc.due_at - (esc.step + 1) * esc.after  # the chain's start: step 0 is due after 1
        elapsed = format_duration(now - start)
        return (
            f"NOT ACKNOWLEDGED after {elapsed}: {esc.message} — acknowledge: "
            f"guardian ack {esc.event_id}"
        )
