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
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from guardian.effects import (
    ClipRequest,
    Effects,
    EscalationRequest,
    ModeRequest,
    Notification,
    PromptRequest,
    StateChange,
)
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


def _m002_prompts_escalations(db: sqlite_utils.Database) -> None:
    db.table("prompts").create(
        {
            "id": str,
            "event_id": str,
            "rule_id": str,
            "question": str,
            "contacts": str,  # JSON list of contact ids
            "channels": str,  # JSON list
            "on_yes": str,  # JSON ModeRequest, or null
            "status": str,  # pending | accepted | declined | expired
            "created_at": float,
            "expires_at": float,
            "answered_at": float,
            "answered_by": str,
        },
        pk="id",
        not_null={"question", "status", "created_at", "expires_at"},
    )
    db.table("prompts").create_index(["status", "expires_at"])
    db.table("escalations").create(
        {
            "id": int,
            "event_id": str,
            "rule_id": str,
            "severity": str,
            "contacts": str,  # JSON list, in the order they are tried
            "channels": str,  # JSON list
            "message": str,
            "after": float,  # seconds between steps
            "repeat": int,  # how many times the whole chain is tried again
            "step": int,  # steps already sent
            "due_at": float,  # when the next step is due
            "status": str,  # pending | acknowledged | exhausted
            "created_at": float,
        },
        pk="id",
        not_null={"event_id", "status", "due_at", "created_at"},
    )
    db.table("escalations").create_index(["status", "due_at"])
    db.table("mode_changes").create_index(["changed_at"])


#: Guardian's schema steps, oldest first. Never edit a step that has shipped: add one.
MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("001_initial", _m001_initial),
    ("002_prompts_escalations", _m002_prompts_escalations),
)


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


@dataclass(frozen=True, slots=True)
class ModeState:
    """The site's mode as stored: what, since when, until when, who, why, how."""

    mode: str
    since: float
    until: float | None
    by: str
    reason: str
    source: str


#: the mode of a site that has never switched
DEFAULT_MODE = ModeState("unsupervised", 0.0, None, "", "default", "default")


@dataclass(frozen=True, slots=True)
class Prompt:
    """A yes/no question sent to contacts, and what became of it."""

    prompt_id: str
    event_id: str | None
    rule_id: str | None
    question: str
    contacts: tuple[str, ...]
    channels: tuple[str, ...]
    on_yes: ModeRequest | None
    status: str  # pending | accepted | declined | expired
    created_at: float
    expires_at: float
    answered_at: float | None
    answered_by: str | None


@dataclass(frozen=True, slots=True)
class Escalation:
    """An alert chain waiting for an acknowledgement."""

    escalation_id: int
    event_id: str
    rule_id: str | None
    severity: str
    contacts: tuple[str, ...]
    channels: tuple[str, ...]
    message: str
    after: float
    repeat: int
    step: int
    due_at: float
    status: str  # pending | acknowledged | exhausted


class PromptError(ValueError):
    """A prompt cannot be answered (unknown, already answered, or expired)."""


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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and one SQLite transaction; the ``_`` methods run inside one."""
        with self._lock, self.db.conn:
            yield

    def commit(
        self,
        events: Iterable[Event] = (),
        state: Iterable[StateChange] = (),
        effects: Effects | None = None,
        now: float | None = None,
    ) -> list[Delivery]:
        """Write events, rule state and the actions' requests in ONE transaction.

        Returns the deliveries newly queued (to send after the commit). A crash before the
        commit leaves nothing; after it, everything is there to resume from.
        """
        now = time.time() if now is None else now
        queued: list[Delivery] = []
        with self.transaction():
            for event in events:
                self._insert_event(event, now)
            self._apply_state(state, now)
            if effects is not None:
                for note in effects.notifications:
                    delivery = self._enqueue(note, now)
                    if delivery is not None:
                        queued.append(delivery)
                for request in effects.modes:
                    self._add_mode_change(request, now)
                for prompt in effects.prompts:
                    self._add_prompt(prompt, now)
                for escalation in effects.escalations:
                    self._add_escalation(escalation, now)
                for clip in effects.clips:
                    self._add_clip_request(clip, now)
        return queued

    # -- events ---------------------------------------------------------------
    def add_event(self, event: Event) -> None:
        with self.transaction():
            self._insert_event(event, time.time())

    def _insert_event(self, event: Event, now: float) -> None:
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
            "created_at": now,
        }
        self.db.table("events").insert(row, replace=True)

    def event(self, event_id: str) -> Event | None:
        with self._lock:
            rows = list(self.db.table("events").rows_where("id = ?", [event_id]))
        return _event_from_row(rows[0]) if rows else None

    def acknowledge(self, event_id: str, *, by: str, now: float | None = None) -> bool:
        """Mark an event acknowledged (and stop its escalations); False if unknown."""
        now = time.time() if now is None else now
        with self.transaction():
            rows = list(self.db.table("events").rows_where("id = ?", [event_id]))
            if not rows:
                return False
            if rows[0]["acknowledged_at"] is None:
                self.db.table("events").update(
                    event_id,
                    {
                        "status": EventStatus.ACKNOWLEDGED.value,
                        "acknowledged_at": now,
                        "acknowledged_by": by,
                    },
                )
            self.db.execute(
                "update escalations set status = 'acknowledged' "
                "where event_id = ? and status = 'pending'",
                [event_id],
            )
        return True

    def is_acknowledged(self, event_id: str) -> bool:
        with self._lock:
            rows = list(self.db.table("events").rows_where("id = ?", [event_id]))
        return bool(rows) and rows[0]["acknowledged_at"] is not None

    def events(self, *, since: float | None = None, rule_id: str | None = None) -> list[Event]:
        rows = self._select(
            "events", [("started_at >= ?", since), ("rule_id = ?", rule_id)], "started_at"
        )
        return [_event_from_row(r) for r in rows]

    def _select(
        self, table: str, conditions: Iterable[tuple[str, Any]], order_by: str
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` matching every condition whose value is not None."""
        given = [(sql, value) for sql, value in conditions if value is not None]
        where = " and ".join(sql for sql, _ in given) or None
        with self._lock:
            return list(
                self.db.table(table).rows_where(
                    where, [value for _, value in given], order_by=order_by
                )
            )

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
        note = Notification(dedup_key, event_id, rule_id, severity, channel, contact, message, kind)
        with self.transaction():
            return self._enqueue(note, time.time())

    def _enqueue(self, note: Notification, now: float) -> Delivery | None:
        outbox = self.db.table("alert_deliveries")
        if list(outbox.rows_where("dedup_key = ?", [note.key])):
            return None
        outbox.insert(
            {
                "dedup_key": note.key,
                "event_id": note.event_id,
                "rule_id": note.rule_id,
                "kind": note.kind,
                "severity": note.severity,
                "channel": note.channel,
                "contact": note.contact,
                "message": note.message,
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
        rows = self._select(
            "alert_deliveries", [("status = ?", status), ("next_attempt_at <= ?", due_by)], "id"
        )
        return [_delivery_from_row(r) for r in rows]

    # -- durable rule state ---------------------------------------------------
    def put_state(self, rule_id: str, key: str, value: object) -> None:
        with self.transaction():
            self._apply_state([StateChange(rule_id, key, value)], time.time())

    def _apply_state(self, changes: Iterable[StateChange], now: float) -> None:
        table = self.db.table("rule_state")
        for change in changes:
            if change.value is None:
                self.db.execute(
                    "delete from rule_state where rule_id = ? and key = ?",
                    [change.rule_id, change.key],
                )
            else:
                table.upsert(
                    {
                        "rule_id": change.rule_id,
                        "key": change.key,
                        "value": json.dumps(change.value),
                        "updated_at": now,
                    },
                    pk=("rule_id", "key"),
                )

    def load_state(self) -> dict[str, dict[str, object]]:
        """Every rule's durable state: rule id → key → value."""
        out: dict[str, dict[str, object]] = {}
        with self._lock:
            rows = list(self.db.table("rule_state").rows_where())
        for r in rows:
            out.setdefault(r["rule_id"], {})[r["key"]] = json.loads(r["value"])
        return out

    def get_state(self, rule_id: str) -> Iterator[tuple[str, object]]:
        with self._lock:
            rows = list(self.db.table("rule_state").rows_where("rule_id = ?", [rule_id]))
        for r in rows:
            yield r["key"], json.loads(r["value"])

    # -- modes ------------------------------------------------------------------
    def mode_state(self) -> ModeState:
        """The latest stored mode (expiry is the caller's business: see guardian.modes)."""
        with self._lock:
            rows = list(
                self.db.table("mode_changes").rows_where(
                    order_by="changed_at desc, id desc", limit=1
                )
            )
        return _mode_from_row(rows[0]) if rows else DEFAULT_MODE

    def set_mode(self, request: ModeRequest, now: float | None = None) -> ModeState:
        with self.transaction():
            return self._add_mode_change(request, time.time() if now is None else now)

    def _add_mode_change(self, request: ModeRequest, now: float) -> ModeState:
        rows = list(
            self.db.table("mode_changes").rows_where(order_by="changed_at desc, id desc", limit=1)
        )
        previous = rows[0]["mode"] if rows else DEFAULT_MODE.mode
        until = request.until
        if until is None and request.duration is not None and request.mode == "supervised":
            until = now + request.duration
        row = {
            "mode": request.mode,
            "previous": previous,
            "changed_at": now,
            "until": until if request.mode == "supervised" else None,
            "by": request.by,
            "reason": request.reason,
            "source": request.source,
        }
        self.db.table("mode_changes").insert(row)
        return _mode_from_row(row)

    def mode_changes(self, limit: int = 20) -> list[ModeState]:
        """The latest changes, newest first."""
        with self._lock:
            rows = list(
                self.db.table("mode_changes").rows_where(
                    order_by="changed_at desc, id desc", limit=limit
                )
            )
        return [_mode_from_row(r) for r in rows]

    # -- prompts ----------------------------------------------------------------
    def _add_prompt(self, request: PromptRequest, now: float) -> None:
        self.db.table("prompts").insert(
            {
                "id": request.prompt_id,
                "event_id": request.event_id,
                "rule_id": request.rule_id,
                "question": request.question,
                "contacts": json.dumps(list(request.contacts)),
                "channels": json.dumps(list(request.channels)),
                "on_yes": _mode_json(request.on_yes),
                "status": "pending",
                "created_at": now,
                "expires_at": request.expires_at,
            },
            ignore=True,  # the same prompt twice is one prompt
        )

    def prompts(self, status: str | None = None) -> list[Prompt]:
        with self._lock:
            rows = list(
                self.db.table("prompts").rows_where(
                    "status = ?" if status else None,
                    [status] if status else [],
                    order_by="created_at",
                )
            )
        return [_prompt_from_row(r) for r in rows]

    def prompt(self, prompt_id: str) -> Prompt | None:
        with self._lock:
            rows = list(self.db.table("prompts").rows_where("id = ?", [prompt_id]))
        return _prompt_from_row(rows[0]) if rows else None

    def answer_prompt(
        self, prompt_id: str, *, yes: bool, by: str, source: str, now: float | None = None
    ) -> tuple[Prompt, ModeState | None]:
        """Answer a pending prompt; a YES switches the mode in the same transaction."""
        now = time.time() if now is None else now
        with self.transaction():
            rows = list(self.db.table("prompts").rows_where("id = ?", [prompt_id]))
            if not rows:
                raise PromptError(f"no prompt '{prompt_id}' — 'guardian prompts' lists them")
            prompt = _prompt_from_row(rows[0])
            if prompt.status != "pending":
                raise PromptError(f"prompt '{prompt_id}' was already {prompt.status}")
            if now >= prompt.expires_at:
                self.db.table("prompts").update(prompt_id, {"status": "expired"})
                raise PromptError(f"prompt '{prompt_id}' has expired")
            self.db.table("prompts").update(
                prompt_id,
                {
                    "status": "accepted" if yes else "declined",
                    "answered_at": now,
                    "answered_by": by,
                },
            )
            mode = None
            if yes and prompt.on_yes is not None:
                switch = prompt.on_yes
                until = switch.until
                if until is None and switch.duration is not None:
                    until = now + switch.duration
                request = ModeRequest(
                    switch.mode,
                    until,
                    by=by,
                    reason=f"answered yes to: {prompt.question}",
                    source=source,
                )
                mode = self._add_mode_change(request, now)
            rows = list(self.db.table("prompts").rows_where("id = ?", [prompt_id]))
        return _prompt_from_row(rows[0]), mode

    def expire_prompts(self, now: float) -> int:
        with self.transaction():
            cursor = self.db.execute(
                "update prompts set status = 'expired' where status = 'pending' and expires_at <= ?",
                [now],
            )
            return int(cursor.rowcount)

    # -- escalations --------------------------------------------------------------
    def _add_escalation(self, request: EscalationRequest, now: float) -> None:
        if not request.contacts:
            return
        self.db.table("escalations").insert(
            {
                "event_id": request.event_id,
                "rule_id": request.rule_id,
                "severity": request.severity,
                "contacts": json.dumps(list(request.contacts)),
                "channels": json.dumps(list(request.channels)),
                "message": request.message,
                "after": request.after,
                "repeat": request.repeat,
                "step": 0,
                "due_at": request.start + request.after,
                "status": "pending",
                "created_at": now,
            }
        )

    def escalations(
        self, status: str | None = None, *, due_by: float | None = None
    ) -> list[Escalation]:
        rows = self._select(
            "escalations", [("status = ?", status), ("due_at <= ?", due_by)], "due_at, id"
        )
        return [_escalation_from_row(r) for r in rows]

    def _update_escalation(self, escalation_id: int, **fields: Any) -> None:
        self.db.table("escalations").update(escalation_id, fields)

    # -- clips ------------------------------------------------------------------------
    def _add_clip_request(self, request: ClipRequest, now: float) -> None:
        self.db.table("clips").insert(
            {
                "id": f"{request.event_id}:{request.camera}",
                "event_id": request.event_id,
                "camera": request.camera,
                "start": request.start,
                "end": request.end,
                "status": "pending",
                "created_at": now,
            },
            ignore=True,
        )

    def clip_requests(self, status: str = "pending") -> list[ClipRequest]:
        with self._lock:
            rows = list(
                self.db.table("clips").rows_where("status = ?", [status], order_by="created_at")
            )
        return [ClipRequest(r["event_id"], r["camera"], r["start"], r["end"]) for r in rows]


def _mode_json(request: ModeRequest | None) -> str | None:
    if request is None:
        return None
    return json.dumps(
        {
            "mode": request.mode,
            "until": request.until,
            "by": request.by,
            "reason": request.reason,
            "source": request.source,
            "duration": request.duration,
        }
    )


def _mode_from_row(r: dict[str, Any]) -> ModeState:
    return ModeState(
        mode=r["mode"],
        since=float(r["changed_at"]),
        until=r["until"],
        by=r["by"] or "",
        reason=r["reason"] or "",
        source=r["source"] or "",
    )


def _prompt_from_row(r: dict[str, Any]) -> Prompt:
    on_yes = json.loads(r["on_yes"]) if r["on_yes"] else None
    return Prompt(
        prompt_id=r["id"],
        event_id=r["event_id"],
        rule_id=r["rule_id"],
        question=r["question"],
        contacts=tuple(json.loads(r["contacts"] or "[]")),
        channels=tuple(json.loads(r["channels"] or "[]")),
        on_yes=ModeRequest(**on_yes) if on_yes else None,
        status=r["status"],
        created_at=r["created_at"],
        expires_at=r["expires_at"],
        answered_at=r["answered_at"],
        answered_by=r["answered_by"],
    )


def _escalation_from_row(r: dict[str, Any]) -> Escalation:
    return Escalation(
        escalation_id=int(r["id"]),
        event_id=r["event_id"],
        rule_id=r["rule_id"],
        severity=r["severity"] or "critical",
        contacts=tuple(json.loads(r["contacts"] or "[]")),
        channels=tuple(json.loads(r["channels"] or "[]")),
        message=r["message"] or "",
        after=float(r["after"] or 0.0),
        repeat=int(r["repeat"] or 0),
        step=int(r["step"] or 0),
        due_at=float(r["due_at"]),
        status=r["status"],
    )


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
