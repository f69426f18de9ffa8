"""The event store: one SQLite file (WAL) through sqlite-utils, with migrations.

Tables are designed for what follows the core: events, their clips, mode changes,
alert deliveries (an outbox: written before sending), and durable rule state.
Migrations are named steps applied with sqlite-utils' migration sets (recorded in
``_sqlite_migrations``); running them again on
an existing file applies only the new ones.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from guardian.records import Event, EventStatus, Severity

Migration = Callable[[sqlite_utils.Database], None]


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("events").create(
        {
            "id": str,
            "rule_id": str,
            "rule_alias": str,
            "camera": str,
            "zone": str,
            "track_id": int,
            "person_id": str,
            "severity": str,
            "status": str,
            "started_at": float,
            "ended_at": float,
            "message": str,
            "frame_index": int,
            "created_at": float,
            "acknowledged_at": float,
            "acknowledged_by": str,
            "reviewed_at": float,
        },
        pk="id",
        not_null={"rule_id", "camera", "severity", "status", "started_at", "created_at"},
    )
    db.table("events").create_index(["started_at"])
    db.table("events").create_index(["rule_id", "started_at"])
    db.table("clips").create(
        {
            "id": str,
            "event_id": str,
            "camera": str,
            "path": str,
            "thumbnail_path": str,
            "snapshot_path": str,
            "start": float,
            "end": float,
            "size_bytes": int,
            "status": str,  # pending | written | skipped | deleted
            "reason": str,
            "created_at": float,
        },
        pk="id",
        foreign_keys=[("event_id", "events", "id")],
    )
    db.table("clips").create_index(["event_id"])
    db.table("mode_changes").create(
        {
            "id": int,
            "mode": str,
            "previous": str,
            "changed_at": float,
            "until": float,
            "by": str,  # who: user name, contact id, "schedule", "rule:<id>"
            "reason": str,  # why
            "source": str,  # cli | web | sms | schedule | prompt | expiry
        },
        pk="id",
    )
    db.table("alert_deliveries").create(
        {
            "id": int,
            "dedup_key": str,
            "event_id": str,
            "rule_id": str,
            "kind": str,  # alert | prompt | escalation | digest
            "severity": str,
            "channel": str,
            "contact": str,
            "message": str,
            "status": str,  # pending | sending | sent | failed
            "attempts": int,
            "next_attempt_at": float,
            "last_error": str,
            "provider_id": str,
            "created_at": float,
            "sent_at": float,
        },
        pk="id",
        not_null={"dedup_key", "severity", "channel", "status", "created_at"},
    )
    db.table("alert_deliveries").create_index(["dedup_key"], unique=True)
    db.table("alert_deliveries").create_index(["status", "next_attempt_at"])
    db.table("rule_state").create(
        {"rule_id": str, "key": str, "value": str, "updated_at": float},
        pk=("rule_id", "key"),
    )


#: Guardian's schema steps, oldest first. Never edit a step that has shipped: add one.
MIGRATIONS: tuple[tuple[str, Migration], ...] = (("001_initial", _m001_initial),)


def migrate(
    db: sqlite_utils.Database, steps: Sequence[tuple[str, Migration]] = MIGRATIONS
) -> list[str]:
    """Apply the steps not yet applied to ``db``; return their names.

    Uses sqlite-utils' migration sets: each step and the record of it run in one
    transaction, so a step that fails leaves nothing behind and stays pending.
    """
    migrations = Migrations("guardian")
    for name, step in steps:
        migrations(name=name)(step)
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the alert outbox."""

    delivery_id: int
    dedup_key: str
    event_id: str | None
    rule_id: str | None
    kind: str
    severity: str
    channel: str
    contact: str
    message: str
    status: str
    attempts: int


class Store:
    """The SQLite event store. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._lock = threading.RLock()
        with self._lock:
            self.applied_migrations = migrate(self.db)

    def close(self) -> None:
        with self._lock:
            self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- events ---------------------------------------------------------------
    def add_event(self, event: Event) -> None:
        row = {
            "id": event.event_id,
            "rule_id": event.rule_id,
            "rule_alias": event.rule_alias,
            "camera": event.camera,
            "zone": event.zone,
            "track_id": event.track_id,
            "person_id": event.person_id,
            "severity": event.severity.value,
            "status": event.status.value,
            "started_at": event.started_at,
            "ended_at": event.ended_at,
            "message": event.message,
            "frame_index": event.frame_index,
            "created_at": time.time(),
        }
        with self._lock, self.db.conn:
            self.db.table("events").insert(row, replace=True)

    def events(self, *, since: float | None = None, rule_id: str | None = None) -> list[Event]:
        where: list[str] = []
        args: list[Any] = []
        if since is not None:
            where.append("started_at >= ?")
            args.append(since)
        if rule_id is not None:
            where.append("rule_id = ?")
            args.append(rule_id)
        with self._lock:
            rows = list(
                self.db.table("events").rows_where(
                    " and ".join(where) or None, args, order_by="started_at"
                )
            )
        return [_event_from_row(r) for r in rows]

    # -- outbox ---------------------------------------------------------------
    def enqueue_delivery(
        self,
        *,
        dedup_key: str,
        event_id: str | None,
        rule_id: str | None,
        kind: str,
        severity: str,
        channel: str,
        contact: str,
        message: str,
    ) -> Delivery | None:
        """Record an alert before it is sent; None if this dedup key is already queued."""
        now = time.time()
        with self._lock, self.db.conn:
            exists = list(
                self.db.table("alert_deliveries").rows_where("dedup_key = ?", [dedup_key])
            )
            if exists:
                return None
            outbox = self.db.table("alert_deliveries")
            outbox.insert(
                {
                    "dedup_key": dedup_key,
                    "event_id": event_id,
                    "rule_id": rule_id,
                    "kind": kind,
                    "severity": severity,
                    "channel": channel,
                    "contact": contact,
                    "message": message,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
            row_id = outbox.last_pk
            assert row_id is not None
            return _delivery_from_row(outbox.get(row_id))

    def mark_delivery(self, delivery_id: int, *, ok: bool, error: str | None = None) -> None:
        now = time.time()
        with self._lock, self.db.conn:
            row = self.db.table("alert_deliveries").get(delivery_id)
            attempts = int(row["attempts"] or 0) + 1
            update: dict[str, Any] = {"attempts": attempts}
            if ok:
                update.update(status="sent", sent_at=now, last_error=None)
            else:
                update.update(
                    status="failed" if attempts >= 8 else "pending",
                    last_error=(error or "")[:500],
                    next_attempt_at=now + min(300.0, 2.0**attempts),
                )
            self.db.table("alert_deliveries").update(delivery_id, update)

    def due_deliveries(self, now: float) -> list[Delivery]:
        """Pending deliveries whose next attempt is due."""
        return self.deliveries("pending", due_by=now)

    def deliveries(
        self, status: str | None = None, *, due_by: float | None = None
    ) -> list[Delivery]:
        with self._lock:
            where: list[str] = []
            args: list[Any] = []
            if status is not None:
                where.append("status = ?")
                args.append(status)
            if due_by is not None:
                where.append("next_attempt_at <= ?")
                args.append(due_by)
            rows = list(
                self.db.table("alert_deliveries").rows_where(
                    " and ".join(where) or None, args, order_by="id"
                )
            )
        return [_delivery_from_row(r) for r in rows]

    # -- durable rule state ---------------------------------------------------
    def put_state(self, rule_id: str, key: str, value: object) -> None:
        with self._lock, self.db.conn:
            self.db.table("rule_state").upsert(
                {
                    "rule_id": rule_id,
                    "key": key,
                    "value": json.dumps(value),
                    "updated_at": time.time(),
                },
                pk=("rule_id", "key"),
            )

    def get_state(self, rule_id: str) -> Iterator[tuple[str, object]]:
        with self._lock:
            rows = list(self.db.table("rule_state").rows_where("rule_id = ?", [rule_id]))
        for r in rows:
            yield r["key"], json.loads(r["value"])


def _delivery_from_row(r: dict[str, Any]) -> Delivery:
    return Delivery(
        delivery_id=int(r["id"]),
        dedup_key=r["dedup_key"],
        event_id=r["event_id"],
        rule_id=r["rule_id"],
        kind=r["kind"],
        severity=r["severity"],
        channel=r["channel"],
        contact=r["contact"],
        message=r["message"],
        status=r["status"],
        attempts=int(r["attempts"] or 0),
    )


def _event_from_row(r: dict[str, Any]) -> Event:
    return Event(
        event_id=r["id"],
        rule_id=r["rule_id"],
        rule_alias=r["rule_alias"] or r["rule_id"],
        camera=r["camera"],
        zone=r["zone"],
        track_id=r["track_id"],
        person_id=r["person_id"],
        severity=Severity(r["severity"]),
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        message=r["message"] or "",
        frame_index=r["frame_index"] if r["frame_index"] is not None else -1,
        status=EventStatus(r["status"]),
    )
