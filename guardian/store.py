"""The event store: one SQLite file (WAL) through sqlite-utils, with migrations.

Tables are designed for what follows the core: events, their clips, mode changes,
alert deliveries (an outbox: written before sending), and durable rule state.
Migrations are named steps applied with sqlite-utils' migration sets (recorded in
``_sqlite_migrations``); running them again on
an existing file applies only the new ones.
"""

from __future__ import annotations

import json
import math
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
from guardian.records import (
    Clip,
    Event,
    EventStatus,
    HealthChange,
    HealthProblem,
    HealthSpan,
    Severity,
    WatchSpan,
)

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


def _m005_review(db: sqlite_utils.Database) -> None:
    """The review page: who marked an event reviewed, and failed logins (throttling)."""
    db.table("events").add_column("reviewed_by", str)
    db.table("login_failures").create(
        {"key": str, "failures": int, "last_at": float, "locked_until": float},
        pk="key",
    )


def _m004_outbox(db: sqlite_utils.Database) -> None:
    """The outbox's exactly-once columns: the short reference carried in a message
    (``[G…]``), who claimed a send and when (a crash leaves ``sending``), and why a
    delivery was held back (quiet hours)."""
    table = db.table("alert_deliveries")
    table.add_column("ref", str)
    table.add_column("sending_at", float)
    table.add_column("claimed_by", str)
    table.add_column("reason", str)
    for row in list(table.rows_where(select="id, dedup_key")):
        table.update(row["id"], {"ref": delivery_ref(row["dedup_key"])})
    table.create_index(["ref"])
    table.create_index(["contact", "created_at"])


def _m003_clips(db: sqlite_utils.Database) -> None:
    """Clips on disk: frames, duration, when the row last changed, the event's time."""
    table = db.table("clips")
    table.add_column("frames", int)
    table.add_column("duration", float)
    table.add_column("updated_at", float)
    table.create_index(["status"])
    table.create_index(["path"])


def _m006_people(db: sqlite_utils.Database) -> None:
    """Enrolled people (``guardian enroll``) and their appearance samples: embeddings and
    colour histograms as float32 blobs; the photo itself only when asked to keep it."""
    db.table("people").create(
        {
            "id": str,
            "name": str,
            "role": str,
            "responsible": int,
            "enrolled_at": float,
        },
        pk="id",
    )
    db.table("person_samples").create(
        {
            "id": int,
            "person_id": str,
            "source": str,
            "embedding": bytes,
            "torso": bytes,
            "legs": bytes,
            "proportions": bytes,
            "photo": bytes,
        },
        pk="id",
        foreign_keys=[("person_id", "people", "id")],
    )
    db.table("person_samples").create_index(["person_id"])


def _m007_camera_health(db: sqlite_utils.Database) -> None:
    """What watched when: one row per (run, camera) with a heartbeat, and the cameras'
    problems (offline, stalled, obstructed, too dark, moved) as spans."""
    db.table("watch").create(
        {
            "run_id": str,
            "camera": str,
            "started": float,
            "last_beat": float,
            "ended": float,
            "last_frame": float,
            "frames": int,
            "fps": float,
            "problems": str,
        },
        pk=("run_id", "camera"),
        not_null={"run_id", "camera", "started", "last_beat"},
    )
    db.table("watch").create_index(["last_beat"])
    db.table("camera_health").create(
        {
            "id": int,
            "camera": str,
            "problem": str,
            "started": float,
            "ended": float,
            "detail": str,
            "run_id": str,
        },
        pk="id",
        not_null={"camera", "problem", "started"},
    )
    db.table("camera_health").create_index(["camera", "started"])


def _m008_review_hardening(db: sqlite_utils.Database) -> None:
    """The review page under hostile requests: login attempts being checked (so concurrent
    guesses cannot pass the lockout), revocable sessions (logout ends them on the server),
    and the Twilio MessageSids already handled (a replayed SMS reply does nothing)."""
    db.table("login_failures").add_column("pending", int)
    db.table("login_failures").add_column("reserved_at", float)
    db.table("review_sessions").create(
        {"id": str, "user": str, "created_at": float, "expires_at": float, "revoked_at": float},
        pk="id",
        not_null={"id", "user", "created_at", "expires_at"},
    )
    db.table("review_sessions").create_index(["expires_at"])
    db.table("inbound_messages").create(
        {"sid": str, "received_at": float, "sender": str},
        pk="sid",
        not_null={"sid", "received_at"},
    )


#: Guardian's schema steps, oldest first. Never edit a step that has shipped: add one.
MIGRATIONS: tuple[tuple[str, Migration], ...] = (
    ("001_initial", _m001_initial),
    ("002_prompts_escalations", _m002_prompts_escalations),
    ("003_clips", _m003_clips),
    ("004_outbox", _m004_outbox),
    ("005_review", _m005_review),
    ("006_people", _m006_people),
    ("007_camera_health", _m007_camera_health),
    ("008_review_hardening", _m008_review_hardening),
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
    import hashlib

    number = int.from_bytes(hashlib.sha256(dedup_key.encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        number, index = divmod(number, len(_REF_ALPHABET))
        chars.append(_REF_ALPHABET[index])
    return "G" + "".join(chars)


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


@dataclass(frozen=True, slots=True)
class ReviewedEvent:
    """An event as the review page shows it: acknowledged and reviewed by whom, when."""

    event: Event
    acknowledged_at: float | None
    acknowledged_by: str | None
    reviewed_at: float | None
    reviewed_by: str | None


class PromptError(ValueError):
    """A prompt cannot be answered (unknown, already answered, or expired)."""


#: seconds a write waits for another process holding the database (SQLite's busy timeout)
BUSY_TIMEOUT = 30.0


class _PatientLock:
    """The store's lock (re-entrant). Taking it sets SQLite's busy timeout to the taking
    thread's patience, so the rule thread waits less for another process than a command."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._rlock = threading.RLock()

    def __enter__(self) -> _PatientLock:
        self._rlock.acquire()
        try:
            self._store._apply_patience()
        except sqlite3.ProgrammingError:  # closed: the caller's own call says so
            pass
        except BaseException:
            self._rlock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._rlock.release()


class Store:
    """The SQLite event store. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # another process (a backup, an sqlite3 shell, the review server) may hold the
        # database for a while: wait for it rather than fail (the run's rule thread
        # asks for a shorter wait per commit and keeps its events in memory meanwhile)
        self.db = sqlite_utils.Database(
            sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT)
        )
        self.db.enable_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        #: how long each thread's writes wait for another process (see :meth:`patience`)
        self._patience = threading.local()
        self._busy_now = BUSY_TIMEOUT
        self._lock = _PatientLock(self)
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
        *,
        health: Iterable[HealthChange] = (),
        run_id: str = "",
        wait: float | None = None,
    ) -> list[Delivery]:
        """Write events, rule state, camera-health spans (of run ``run_id``) and the
        actions' requests in ONE transaction.

        Returns the deliveries newly queued (to send after the commit). A crash before the
        commit leaves nothing; after it, everything is there to resume from. ``wait``:
        seconds to wait for another process holding the database (default
        :data:`BUSY_TIMEOUT`) before ``sqlite3.OperationalError`` is raised.
        """
        now = time.time() if now is None else now
        queued: list[Delivery] = []
        with self.patience(wait), self._lock, self.db.conn:
            for event in events:
                self._insert_event(event, now)
            self._apply_state(state, now)
            for change in health:
                self._record_health(change, run_id)
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

    @contextmanager
    def patience(self, seconds: float | None) -> Iterator[None]:
        """Inside the block, this thread's writes wait at most ``seconds`` for another
        process holding the database, then raise ``sqlite3.OperationalError``."""
        if seconds is None:
            yield
            return
        before = getattr(self._patience, "seconds", None)
        self._patience.seconds = seconds
        try:
            yield
        finally:
            self._patience.seconds = before

    def set_patience(self, seconds: float | None) -> None:
        """From now on, this thread's writes wait at most ``seconds`` (None: the default
        :data:`BUSY_TIMEOUT`) for another process holding the database."""
        self._patience.seconds = seconds

    def _apply_patience(self) -> None:
        """Under the lock: SQLite's busy timeout set to the calling thread's patience."""
        wanted = getattr(self._patience, "seconds", None)
        wanted = BUSY_TIMEOUT if wanted is None else max(0.0, wanted)
        if wanted != self._busy_now:
            self.db.execute(f"PRAGMA busy_timeout = {int(wanted * 1000)}")
            self._busy_now = wanted

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
                "ref": delivery_ref(note.key),
            }
        )
        row_id = outbox.last_pk
        assert row_id is not None
        return _delivery_from_row(outbox.get(row_id))

    def mark_delivery(
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
        with self.transaction():
            table = self.db.table("alert_deliveries")
            row = table.get(delivery_id)
            attempts = int(row["attempts"] or 0) + 1
            update: dict[str, Any] = {"attempts": attempts, "claimed_by": None}
            if ok:
                update.update(status="sent", sent_at=now, last_error=None, provider_id=provider_id)
            else:
                update.update(
                    status="failed" if attempts >= max_attempts else "pending",
                    last_error=(error or "")[:500],
                    next_attempt_at=now + min(retry_max, 2.0**attempts),
                )
            table.update(delivery_id, update)
            return _delivery_from_row(table.get(delivery_id))

    def claim_delivery(self, delivery_id: int, *, owner: str, now: float) -> Delivery | None:
        """Mark a pending delivery ``sending`` before the provider is called; None when it
        is not pending any more (sent, suppressed, or claimed by someone else)."""
        with self.transaction():
            cursor = self.db.execute(
                "update alert_deliveries set status = 'sending', sending_at = ?, claimed_by = ? "
                "where id = ? and status = 'pending'",
                [now, owner, delivery_id],
            )
            if cursor.rowcount != 1:
                return None
            return _delivery_from_row(self.db.table("alert_deliveries").get(delivery_id))

    def doubt_delivery(
        self, delivery_id: int, *, now: float, error: str, retry_max: float = 300.0
    ) -> Delivery:
        """A send whose outcome is unknown (the provider took longer than the client's
        timeout, or the connection broke after the request went out): it stays
        ``sending`` with no claimer, and is reconciled with the provider (not sent
        again blindly) once ``next_attempt_at`` (a backoff) has passed."""
        with self.transaction():
            table = self.db.table("alert_deliveries")
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
            return _delivery_from_row(table.get(delivery_id))

    def release_delivery(self, delivery_id: int, *, now: float, note: str) -> None:
        """Put a ``sending`` delivery back to pending, due now (it did not go out)."""
        with self.transaction():
            self.db.execute(
                "update alert_deliveries set status = 'pending', next_attempt_at = ?, "
                "claimed_by = null, last_error = ? where id = ? and status = 'sending'",
                [now, note[:500], delivery_id],
            )

    def suppress_delivery(self, delivery_id: int, *, reason: str) -> None:
        """Hold a pending delivery back for good (quiet hours); it stays recorded."""
        with self.transaction():
            self.db.execute(
                "update alert_deliveries set status = 'suppressed', reason = ?, "
                "claimed_by = null where id = ? and status = 'pending'",
                [reason, delivery_id],
            )

    def delivery(self, delivery_id: int) -> Delivery | None:
        with self._lock:
            rows = list(self.db.table("alert_deliveries").rows_where("id = ?", [delivery_id]))
        return _delivery_from_row(rows[0]) if rows else None

    def deliveries_by_ref(self, ref: str) -> list[Delivery]:
        rows = self._select("alert_deliveries", [("ref = ?", ref.upper())], "id")
        return [_delivery_from_row(r) for r in rows]

    def due_deliveries(self, now: float) -> list[Delivery]:
        """Pending deliveries whose next attempt is due."""
        return self.deliveries("pending", due_by=now)

    def deliveries(
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
        rows = self._select(
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
        return [_delivery_from_row(r) for r in rows]

    def latest_unacknowledged_alert(self, contact: str) -> str | None:
        """The event of the latest alert or escalation that went out to ``contact`` and is
        not acknowledged yet, or None."""
        with self._lock:
            rows = list(
                self.db.execute(
                    "select d.event_id from alert_deliveries d join events e on e.id = d.event_id "
                    "where d.contact = ? and d.kind in ('alert', 'escalation') "
                    "and d.status in ('sent', 'sending') and e.acknowledged_at is null "
                    "order by d.created_at desc, d.id desc limit 1",
                    [contact],
                ).fetchall()
            )
        return str(rows[0][0]) if rows else None

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

    # -- camera health: what watched when ------------------------------------------
    def begin_watch(self, run_id: str, camera: str, now: float) -> None:
        """A run starts watching ``camera``. Problems left open by runs that died are
        closed at their run's last heartbeat (nobody knows what happened after)."""
        with self.transaction():
            self.db.execute(
                "update camera_health set ended = (select w.last_beat from watch w "
                "where w.run_id = camera_health.run_id and w.camera = camera_health.camera) "
                "where ended is null and camera = ? and run_id != ?",
                [camera, run_id],
            )
            self.db.execute(
                "update camera_health set ended = started where ended is null "
                "and camera = ? and run_id != ?",
                [camera, run_id],
            )
            self.db.table("watch").upsert(
                {
                    "run_id": run_id,
                    "camera": camera,
                    "started": now,
                    "last_beat": now,
                    "ended": None,
                    "last_frame": None,
                    "frames": 0,
                    "fps": 0.0,
                    "problems": "",
                },
                pk=("run_id", "camera"),
            )

    def beat(
        self,
        run_id: str,
        camera: str,
        now: float,
        *,
        last_frame: float | None,
        frames: int,
        fps: float,
        problems: Iterable[HealthProblem] = (),
    ) -> None:
        """The run's heartbeat for one camera (a few seconds apart): proof it watched."""
        with self.transaction():
            self.db.execute(
                "update watch set last_beat = ?, last_frame = ?, frames = ?, fps = ?, "
                "problems = ? where run_id = ? and camera = ?",
                [now, last_frame, frames, fps, ",".join(problems), run_id, camera],
            )

    def end_watch(self, run_id: str, camera: str, now: float) -> None:
        """A clean stop: the camera's open problems end with it."""
        with self.transaction():
            self.db.execute(
                "update watch set ended = ?, last_beat = max(last_beat, ?) "
                "where run_id = ? and camera = ?",
                [now, now, run_id, camera],
            )
            self.db.execute(
                "update camera_health set ended = ? where ended is null "
                "and run_id = ? and camera = ?",
                [now, run_id, camera],
            )

    def record_health(self, change: HealthChange, run_id: str) -> None:
        """A problem began (a new open span) or ended (its open span is closed)."""
        with self.transaction():
            self._record_health(change, run_id)

    def _record_health(self, change: HealthChange, run_id: str) -> None:
        if change.ended is None:
            self.db.table("camera_health").insert(
                {
                    "camera": change.camera,
                    "problem": str(change.problem),
                    "started": change.started,
                    "ended": None,
                    "detail": change.detail,
                    "run_id": run_id,
                }
            )
        else:
            self.db.execute(
                "update camera_health set ended = ? where ended is null "
                "and camera = ? and problem = ? and run_id = ?",
                [change.ended, change.camera, str(change.problem), run_id],
            )

    def watch_spans(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[WatchSpan]:
        """Runs × cameras that watched at some time in [since, until), oldest first."""
        rows = self._select(
            "watch",
            [("last_beat >= ?", since), ("started < ?", until)],
            "started, camera",
        )
        return [_watch_from_row(r) for r in rows]

    def latest_watch(self) -> list[WatchSpan]:
        """Each camera's latest run (for ``guardian status`` and ``/healthz``)."""
        with self._lock:
            rows = list(
                self.db.table("watch").rows_where(
                    "started = (select max(x.started) from watch x where x.camera = watch.camera)",
                    order_by="camera",
                )
            )
        return [_watch_from_row(r) for r in rows]

    def health_spans(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        camera: str | None = None,
        open_only: bool = False,
    ) -> list[HealthSpan]:
        """Camera problems that overlap [since, until), oldest first."""
        rows = self._select(
            "camera_health",
            [
                ("(ended is null or ended >= ?)", since),
                ("started < ?", until),
                ("camera = ?", camera),
                ("ended is null and ? = 1", 1 if open_only else None),
            ],
            "started, id",
        )
        return [_health_from_row(r) for r in rows]

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

    # -- clips (guardian/clips.py) ------------------------------------------------------
    def _add_clip_request(self, request: ClipRequest, now: float) -> None:
        self.db.table("clips").insert(
            {
                "id": clip_row_id(request.event_id, request.camera),
                "event_id": request.event_id,
                "camera": request.camera,
                "start": request.start,
                "end": request.end,
                "status": "pending",
                "created_at": now,
                "updated_at": now,
            },
            ignore=True,
        )

    def clip_requests(self, status: str = "pending") -> list[ClipRequest]:
        with self._lock:
            rows = list(
                self.db.table("clips").rows_where("status = ?", [status], order_by="created_at")
            )
        return [ClipRequest(r["event_id"], r["camera"], r["start"], r["end"]) for r in rows]

    def clip_for_event(self, event_id: str) -> Clip | None:
        """The event's clip (paths relative to the clips folder), or None."""
        with self._lock:
            rows = list(
                self.db.table("clips").rows_where(
                    "event_id = ?", [event_id], order_by="created_at", limit=1
                )
            )
        return _clip_from_row(rows[0]) if rows else None

    def clip(self, clip_id: str) -> Clip | None:
        with self._lock:
            rows = list(self.db.table("clips").rows_where("id = ?", [clip_id]))
        return _clip_from_row(rows[0]) if rows else None

    def clips(
        self,
        *,
        since: float | None = None,
        status: str | None = None,
        path: str | None = None,
    ) -> list[Clip]:
        """Clips whose window starts at or after ``since``, oldest first."""
        rows = self._select(
            "clips",
            [('"start" >= ?', since), ("status = ?", status), ("path = ?", path)],
            '"start", created_at',
        )
        return [_clip_from_row(r) for r in rows]

    def update_clips(self, clip_ids: Iterable[str], **fields: Any) -> None:
        """Set ``fields`` (status, reason, path, size_bytes, frames, duration, end …) on rows."""
        ids = list(clip_ids)
        if not ids:
            return
        fields["updated_at"] = time.time()
        with self.transaction():
            for clip_id in ids:
                self.db.table("clips").update(clip_id, fields)

    def clip_retention_rows(self) -> list[ClipRetention]:
        """Written clips with what retention needs from their events."""
        sql = (
            "select clips.*, events.severity as ev_severity, events.reviewed_at as ev_reviewed, "
            "events.acknowledged_at as ev_acked from clips left join events "
            "on events.id = clips.event_id where clips.status = 'written' "
            'order by clips."start"'
        )
        with self._lock:
            rows = list(self.db.query(sql))
        return [
            ClipRetention(
                clip=_clip_from_row(r),
                critical=(r["ev_severity"] or "") == Severity.CRITICAL.value,
                reviewed=r["ev_reviewed"] is not None or r["ev_acked"] is not None,
            )
            for r in rows
        ]

    # -- review page (guardian/review) -------------------------------------------------
    def review_events(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        camera: str | None = None,
        rule_id: str | None = None,
        unreviewed: bool = False,
    ) -> list[ReviewedEvent]:
        """Events that started in [start, end), oldest first, with ack and review state."""
        rows = self._select(
            "events",
            [
                ("started_at >= ?", start),
                ("started_at < ?", end),
                ("camera = ?", camera),
                ("rule_id = ?", rule_id),
                ("reviewed_at is null and 1 = ?", 1 if unreviewed else None),
            ],
            "started_at, id",
        )
        return [_reviewed_from_row(r) for r in rows]

    def review_event(self, event_id: str) -> ReviewedEvent | None:
        with self._lock:
            rows = list(self.db.table("events").rows_where("id = ?", [event_id]))
        return _reviewed_from_row(rows[0]) if rows else None

    def mark_reviewed(self, event_id: str, *, by: str, now: float | None = None) -> bool:
        """Mark an event reviewed (kept if it already was); False if unknown."""
        now = time.time() if now is None else now
        with self.transaction():
            cursor = self.db.execute(
                "update events set reviewed_at = coalesce(reviewed_at, ?), "
                "reviewed_by = coalesce(reviewed_by, ?), "
                "status = case when status = 'open' then 'reviewed' else status end "
                "where id = ?",
                [now, by, event_id],
            )
            return bool(cursor.rowcount)

    def login_locked_until(self, key: str, now: float) -> float | None:
        """When the lockout of ``key`` (a client address) ends, or None if not locked.

        A stored end that is not a finite number (written by an older build from an
        unbounded ``review.lockout``) counts as a lockout ending a day from ``now``.
        """
        with self._lock:
            rows = list(self.db.table("login_failures").rows_where("key = ?", [key]))
        locked = rows[0]["locked_until"] if rows else None
        if locked is None or math.isnan(locked):
            return None
        if math.isinf(locked):
            return now + 86400.0 if locked > 0 else None
        return float(locked) if locked > now else None

    def record_login_failure(
        self, key: str, *, now: float, max_failures: int, lockout: float
    ) -> float | None:
        """Count a failed login; after ``max_failures`` in a row, lock ``key`` out.

        Returns when the lockout ends if this failure started one, else None.
        """
        with self.transaction():
            table = self.db.table("login_failures")
            rows = list(table.rows_where("key = ?", [key]))
            failures = int(rows[0]["failures"] or 0) if rows else 0
            locked_until: float | None = None
            failures += 1
            if failures >= max_failures:
                locked_until, failures = now + lockout, 0
            kept = _finite_or_none(rows[0]["locked_until"]) if rows else None
            table.upsert(
                {
                    "key": key,
                    "failures": failures,
                    "last_at": now,
                    # a late failure never shortens nor clears a lockout already there
                    "locked_until": max(x for x in (locked_until, kept, 0.0) if x is not None)
                    or None,
                },
                pk="key",
            )
        return locked_until

    def clear_login_failures(self, key: str) -> None:
        with self.transaction():
            self.db.execute("delete from login_failures where key = ?", [key])

    def begin_login_attempt(
        self,
        key: str,
        *,
        now: float,
        max_failures: int,
        lockout: float,
        stale_after: float = 60.0,
    ) -> float | None:
        """Reserve one password check for ``key`` (a client address), atomically.

        Returns None when the attempt may go on (then :meth:`finish_login_attempt` must
        follow), or until when ``key`` is refused: locked out, or ``max_failures`` counted
        failures and checks still running already. So concurrent guesses cannot pass
        more than ``max_failures`` checks per lockout. A stored lockout longer than
        ``lockout`` (or not a number) is cut to ``lockout`` from now; reservations older
        than ``stale_after`` seconds (a process killed mid-check) are forgotten.
        """
        with self.transaction():
            row = self.db.execute(
                "select failures, locked_until, pending, reserved_at from login_failures "
                "where key = ?",
                [key],
            ).fetchone()
            failures, locked, pending, reserved_at = row if row else (0, None, 0, None)
            failures, pending = int(failures or 0), int(pending or 0)
            if pending and (reserved_at is None or abs(now - reserved_at) > stale_after):
                pending = 0
            if locked is not None and (math.isnan(locked) or locked > now + lockout):
                locked = now + lockout
            if locked is not None and locked > now:
                self.db.execute(
                    "update login_failures set locked_until = ? where key = ?", [locked, key]
                )
                return float(locked)
            if failures + pending >= max_failures:
                return now + 1.0  # the last checks allowed are running: refused for now
            self.db.execute(
                "insert into login_failures (key, failures, last_at, locked_until, pending, "
                "reserved_at) values (?, ?, ?, null, ?, ?) on conflict(key) do update set "
                "failures = excluded.failures, locked_until = null, pending = excluded.pending, "
                "reserved_at = excluded.reserved_at",
                [key, failures, now, pending + 1, now],
            )
        return None

    def finish_login_attempt(
        self, key: str, *, ok: bool, now: float, max_failures: int, lockout: float
    ) -> float | None:
        """End an attempt reserved by :meth:`begin_login_attempt`.

        A right password clears the failures; a wrong one counts, and the failure that
        reaches ``max_failures`` locks ``key`` out for ``lockout`` seconds. Returns when
        that lockout ends, else None. A failure never shortens nor clears a lockout.
        """
        with self.transaction():
            row = self.db.execute(
                "select failures, locked_until, pending from login_failures where key = ?", [key]
            ).fetchone()
            failures, locked, pending = row if row else (0, None, 0)
            pending = max(0, int(pending or 0) - 1)
            if ok:
                if pending:
                    self.db.execute(
                        "update login_failures set failures = 0, locked_until = null, "
                        "pending = ? where key = ?",
                        [pending, key],
                    )
                else:
                    self.db.execute("delete from login_failures where key = ?", [key])
                return None
            failures = int(failures or 0) + 1
            started: float | None = None
            if failures >= max_failures:
                started, failures = now + lockout, 0
                locked = max(started, _finite_or_none(locked) or 0.0)
            self.db.execute(
                "insert into login_failures (key, failures, last_at, locked_until, pending, "
                "reserved_at) values (?, ?, ?, ?, ?, null) on conflict(key) do update set "
                "failures = excluded.failures, last_at = excluded.last_at, "
                "locked_until = excluded.locked_until, pending = excluded.pending",
                [key, failures, now, locked, pending],
            )
        return started

    def add_review_session(
        self, session_id: str, user: str, *, created_at: float, expires_at: float
    ) -> None:
        """Record a review-page login (sessions that ended are pruned)."""
        with self.transaction():
            self.db.execute(
                "delete from review_sessions where expires_at < ? or revoked_at < ?",
                [created_at, created_at - 86400.0],
            )
            self.db.execute(
                "insert into review_sessions (id, user, created_at, expires_at) "
                "values (?, ?, ?, ?)",
                [session_id, user, created_at, expires_at],
            )

    def review_session_active(self, session_id: str, now: float) -> bool:
        """True while the session exists, has not expired and was not logged out."""
        with self._lock:
            row = self.db.execute(
                "select 1 from review_sessions where id = ? and expires_at > ? "
                "and revoked_at is null",
                [session_id, now],
            ).fetchone()
        return row is not None

    def revoke_review_session(self, session_id: str, now: float) -> bool:
        """End a session (logout); False when it was not active."""
        with self.transaction():
            cursor = self.db.execute(
                "update review_sessions set revoked_at = ? where id = ? and revoked_at is null",
                [now, session_id],
            )
            return bool(cursor.rowcount)

    def claim_inbound_message(self, sid: str, *, sender: str, now: float) -> bool:
        """Record an inbound message id (Twilio's MessageSid); False when already seen."""
        with self.transaction():
            cursor = self.db.execute(
                "insert or ignore into inbound_messages (sid, received_at, sender) "
                "values (?, ?, ?)",
                [sid, now, sender],
            )
            return bool(cursor.rowcount)

    def forget_inbound_message(self, sid: str) -> None:
        """Undo :meth:`claim_inbound_message` (handling it failed: a retry may come)."""
        with self.transaction():
            self.db.execute("delete from inbound_messages where sid = ?", [sid])


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _reviewed_from_row(r: dict[str, Any]) -> ReviewedEvent:
    return ReviewedEvent(
        event=_event_from_row(r),
        acknowledged_at=r["acknowledged_at"],
        acknowledged_by=r["acknowledged_by"],
        reviewed_at=r["reviewed_at"],
        reviewed_by=r.get("reviewed_by"),
    )


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


def _watch_from_row(r: dict[str, Any]) -> WatchSpan:
    return WatchSpan(
        run_id=r["run_id"],
        camera=r["camera"],
        started=float(r["started"]),
        last_beat=float(r["last_beat"]),
        ended=None if r["ended"] is None else float(r["ended"]),
        last_frame=None if r["last_frame"] is None else float(r["last_frame"]),
        frames=int(r["frames"] or 0),
        fps=float(r["fps"] or 0.0),
        problems=tuple(HealthProblem(p) for p in (r["problems"] or "").split(",") if p),
    )


def _health_from_row(r: dict[str, Any]) -> HealthSpan:
    return HealthSpan(
        span_id=int(r["id"]),
        camera=r["camera"],
        problem=HealthProblem(r["problem"]),
        started=float(r["started"]),
        ended=None if r["ended"] is None else float(r["ended"]),
        detail=r["detail"] or "",
        run_id=r["run_id"] or "",
    )


def clip_row_id(event_id: str, camera: str) -> str:
    """The id of an event's clip row."""
    return f"{event_id}:{camera}"


@dataclass(frozen=True, slots=True)
class ClipRetention:
    """A written clip, with whether its event is critical and was reviewed (or acknowledged)."""

    clip: Clip
    critical: bool
    reviewed: bool


def _clip_from_row(r: dict[str, Any]) -> Clip:
    return Clip(
        clip_id=r["id"],
        event_id=r["event_id"],
        camera=r["camera"],
        path=r["path"] or "",
        start=float(r["start"]),
        end=float(r["end"]),
        thumbnail_path=r["thumbnail_path"],
        snapshot_path=r["snapshot_path"],
        size_bytes=int(r["size_bytes"] or 0),
        status=r["status"] or "pending",
        reason=r["reason"] or "",
        frames=int(r.get("frames") or 0),
        duration=float(r.get("duration") or 0.0),
        created_at=float(r["created_at"] or 0.0),
    )
