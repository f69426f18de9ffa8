"""The alert outbox (table ``alert_deliveries``): every message is written before it is
sent, claimed before the provider is called, and marked with what came of it."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from guardian.effects import Notification
from guardian.store.database import Database
from guardian.vocab import Channel, DeliveryStatus, Severity


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the alert outbox."""

    delivery_id: int
    dedup_key: str
    event_id: str | None
    rule_id: str | None
    kind: str
    severity: Severity
    channel: Channel
    contact: str
    message: str
    status: DeliveryStatus
    attempts: int
    # -- outbox details (migration 004_outbox) --
    ref: str = ""  # the short reference carried in the message, e.g. "G4KQ7M"
    created_at: float = 0.0
    next_attempt_at: float = 0.0
    sent_at: float | None = None
    sending_at: float | None = None  # when a send was claimed (status 'sending')
    claimed_by: str | None = None  # "host:pid" of the process that claimed it
    provider_id: str | None = None  # e.g. Twilio's message SID
    last_error: str | None = None
    reason: str | None = None  # why it was suppressed


#: letters and digits that cannot be mistaken for one another in an SMS reply
_REF_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def delivery_ref(dedup_key: str) -> str:
    """The short reference of a delivery (``G`` + 5 characters), from its dedup key.

    Deterministic, so a message can be matched to its delivery after a crash (it is put
    in the text as ``[G4KQ7M]``) and a reply can name it (``ACK G4KQ7M``).
    """
    number = int.from_bytes(hashlib.sha256(dedup_key.encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        number, index = divmod(number, len(_REF_ALPHABET))
        chars.append(_REF_ALPHABET[index])
    return "G" + "".join(chars)


def delivery_from_row(r: dict[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=int(r["id"]),
        dedup_key=r["dedup_key"],
        event_id=r["event_id"],
        rule_id=r["rule_id"],
        kind=r["kind"],
        severity=Severity(r["severity"]),
        channel=Channel(r["channel"]),
        contact=r["contact"],
        message=r["message"],
        status=DeliveryStatus(r["status"]),
        attempts=int(r["attempts"] or 0),
        ref=r.get("ref") or delivery_ref(r["dedup_key"]),
        created_at=float(r["created_at"]),
        next_attempt_at=float(r["next_attempt_at"] or 0.0),
        sent_at=r["sent_at"],
        sending_at=r.get("sending_at"),
        claimed_by=r.get("claimed_by"),
        provider_id=r["provider_id"],
        last_error=r["last_error"],
        reason=r.get("reason"),
    )


class Outbox:
    """Deliveries: queued once per dedup key, claimed, sent, retried, held back."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def enqueue(self, note: Notification, now: float) -> Delivery | None:
        """Record a message before it is sent; None if its dedup key is already queued."""
        with self._db.transaction():
            outbox = self._db.sqlite.table("alert_deliveries")
            if list(outbox.rows_where("dedup_key = ?", [note.key])):
                return None
            outbox.insert(
                {
                    "dedup_key": note.key,
                    "event_id": note.event_id,
                    "rule_id": note.rule_id,
                    "kind": note.kind,
                    "severity": str(note.severity),
                    "channel": str(note.channel),
                    "contact": note.contact,
                    "message": note.message,
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "ref": delivery_ref(note.key),
                }
            )
            row_id = outbox.last_pk
            assert row_id is not None
            return delivery_from_row(outbox.get(row_id))

    def mark(
        self,
        delivery_id: int,
        *,
        ok: bool,
        error: str | None = None,
        provider_id: str | None = None,
        now: float | None = None,
        max_attempts: int = 8,
        retry_max: float = 300.0,
    ) -> Delivery:
        """Record one attempt: sent, or failed (pending again after a backoff of
        2, 4, 8 … s up to ``retry_max``, and ``failed`` for good after ``max_attempts``)."""
        now = time.time() if now is None else now
        with self._db.transaction():
            table = self._db.sqlite.table("alert_deliveries")
            row = table.get(delivery_id)
            attempts = int(row["attempts"] or 0) + 1
            update: dict[str, Any] = {"attempts": attempts, "claimed_by": None}
            if ok:
                update.update(
                    status=DeliveryStatus.SENT.value,
                    sent_at=now,
                    last_error=None,
                    provider_id=provider_id,
                )
            else:
                failed = attempts >= max_attempts
                update.update(
                    status=(DeliveryStatus.FAILED if failed else DeliveryStatus.PENDING).value,
                    last_error=(error or "")[:500],
                    next_attempt_at=now + min(retry_max, 2.0**attempts),
                )
            table.update(delivery_id, update)
            return delivery_from_row(table.get(delivery_id))

    def claim(self, delivery_id: int, *, owner: str, now: float) -> Delivery | None:
        """Mark a pending delivery ``sending`` before the provider is called; None when it
        is not pending any more (sent, suppressed, or claimed by someone else)."""
        with self._db.transaction():
            cursor = self._db.sqlite.execute(
                "update alert_deliveries set status = 'sending', sending_at = ?, claimed_by = ? "
                "where id = ? and status = 'pending'",
                [now, owner, delivery_id],
            )
            if cursor.rowcount != 1:
                return None
            return delivery_from_row(self._db.sqlite.table("alert_deliveries").get(delivery_id))

    def doubt(
        self, delivery_id: int, *, now: float, error: str, retry_max: float = 300.0
    ) -> Delivery:
        """A send whose outcome is unknown (the provider took longer than the client's
        timeout, or the connection broke after the request went out): it stays
        ``sending`` with no claimer, and is reconciled with the provider (not sent
        again blindly) once ``next_attempt_at`` (a backoff) has passed."""
        with self._db.transaction():
            table = self._db.sqlite.table("alert_deliveries")
            row = table.get(delivery_id)
            attempts = int(row["attempts"] or 0) + 1
            table.update(
                delivery_id,
                {
                    "attempts": attempts,
                    "claimed_by": None,
                    "last_error": error[:500],
                    "next_attempt_at": now + min(retry_max, 2.0**attempts),
                },
            )
            return delivery_from_row(table.get(delivery_id))

    def release(self, delivery_id: int, *, now: float, note: str) -> None:
        """Put a ``sending`` delivery back to pending, due now (it did not go out)."""
        with self._db.transaction():
            self._db.sqlite.execute(
                "update alert_deliveries set status = 'pending', next_attempt_at = ?, "
                "claimed_by = null, last_error = ? where id = ? and status = 'sending'",
                [now, note[:500], delivery_id],
            )

    def suppress(self, delivery_id: int, *, reason: str) -> None:
        """Hold a pending delivery back for good (quiet hours); it stays recorded."""
        with self._db.transaction():
            self._db.sqlite.execute(
                "update alert_deliveries set status = 'suppressed', reason = ?, "
                "claimed_by = null where id = ? and status = 'pending'",
                [reason, delivery_id],
            )

    def get(self, delivery_id: int) -> Delivery | None:
        row = self._db.row("alert_deliveries", delivery_id)
        return delivery_from_row(row) if row else None

    def by_ref(self, ref: str) -> list[Delivery]:
        """The deliveries whose short reference is ``ref`` (any case)."""
        rows = self._db.select("alert_deliveries", [("ref = ?", ref.upper())], "id")
        return [delivery_from_row(r) for r in rows]

    def find(
        self,
        status: str | None = None,
        *,
        due_by: float | None = None,
        since: float | None = None,
        until: float | None = None,
        contact: str | None = None,
        kind: str | None = None,
        channel: str | None = None,
    ) -> list[Delivery]:
        """Deliveries matching every filter given, oldest first."""
        rows = self._db.select(
            "alert_deliveries",
            [
                ("status = ?", status),
                ("next_attempt_at <= ?", due_by),
                ("created_at >= ?", since),
                ("created_at < ?", until),
                ("contact = ?", contact),
                ("kind = ?", kind),
                ("channel = ?", channel),
            ],
            "id",
        )
        return [delivery_from_row(r) for r in rows]

    def latest_unacknowledged_alert(self, contact: str) -> str | None:
        """The event of the latest alert or escalation that went out to ``contact`` and is
        not acknowledged yet, or None."""
        with self._db.lock:
            rows = self._db.sqlite.execute(
                "select d.event_id from alert_deliveries d join events e on e.id = d.event_id "
                "where d.contact = ? and d.kind in ('alert', 'escalation') "
                "and d.status in ('sent', 'sending') and e.acknowledged_at is null "
                "order by d.created_at desc, d.id desc limit 1",
                [contact],
            ).fetchall()
        return str(rows[0][0]) if rows else None
