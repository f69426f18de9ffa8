"""The event store: one SQLite file (WAL) through sqlite-utils, with migrations.

:class:`Store` opens the :class:`~guardian.store.database.Database` and builds one
repository per table group on it:

- ``store.event_log`` — events, acknowledgements, review marks (:mod:`.events`)
- ``store.clip_log`` — clip requests, clips, retention rows (:mod:`.clips`)
- ``store.outbox`` — alert deliveries (:mod:`.outbox`)
- ``store.mode_log`` — mode changes (:mod:`.modes`)
- ``store.prompt_log`` — prompts and escalations (:mod:`.prompts`)
- ``store.people`` — enrolled people and their samples (:mod:`.people`)
- ``store.rule_states`` — rules' durable state (:mod:`.rule_state`)
- ``store.camera_health`` — watch heartbeats and health spans (:mod:`.health`)
- ``store.access_log`` — logins, review sessions, inbound message ids (:mod:`.access`)

:meth:`Store.commit` writes one batch (events, rule state, health changes and the
actions' requests) across them in ONE transaction. The other methods of :class:`Store`
are one-line delegates to the repositories. Nobody outside this package writes SQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from guardian.effects import ClipRequest, Effects, ModeRequest, Notification, StateChange
from guardian.records import Clip, Event, HealthChange, HealthProblem, HealthSpan, WatchSpan
from guardian.store.access import AccessLog
from guardian.store.clips import ClipLog, ClipRetention, clip_row_id
from guardian.store.database import BUSY_TIMEOUT, Database, DatabaseBusy, DatabaseError
from guardian.store.events import EventLog, ReviewedEvent
from guardian.store.health import CameraHealthLog
from guardian.store.migrations import MIGRATIONS, Migration, migrate
from guardian.store.modes import DEFAULT_MODE, ModeLog, ModeState
from guardian.store.outbox import Delivery, Outbox, delivery_ref
from guardian.store.people import People, PersonRow, PersonSample
from guardian.store.prompts import Escalation, Prompt, PromptError, PromptLog
from guardian.store.rule_state import RuleStates
from guardian.vocab import Channel, Severity


class Store:
    """The SQLite event store. Thread-safe: one connection guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.database = Database(path)
        with self.database.lock:
            #: the migration steps this open applied (empty on an up-to-date file)
            self.applied_migrations = migrate(self.database.sqlite)
        db = self.database
        self.mode_log = ModeLog(db)
        self.prompt_log = PromptLog(db, self.mode_log)
        self.event_log = EventLog(db, self.prompt_log)
        self.clip_log = ClipLog(db)
        self.outbox = Outbox(db)
        self.people = People(db)
        self.rule_states = RuleStates(db)
        self.camera_health = CameraHealthLog(db)
        self.access_log = AccessLog(db)

    def close(self) -> None:
        self.database.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """Hold the lock and one SQLite transaction, taking the write lock first; the
        repositories' writes inside join it (see :meth:`Database.transaction`)."""
        return self.database.transaction()

    def write_transaction(self) -> AbstractContextManager[None]:
        """:meth:`transaction`, named for read-then-write blocks that another process may
        run at the same time: the second waits for the first to commit."""
        return self.database.write_transaction()

    def patience(self, seconds: float | None) -> AbstractContextManager[None]:
        """Inside the block, this thread's writes wait at most ``seconds`` for another
        process holding the database, then raise :data:`DatabaseBusy`."""
        return self.database.patience(seconds)

    def set_patience(self, seconds: float | None) -> None:
        """From now on, this thread's writes wait at most ``seconds`` (None: the default
        :data:`BUSY_TIMEOUT`) for another process holding the database."""
        self.database.set_patience(seconds)

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
        :data:`BUSY_TIMEOUT`) before :data:`DatabaseBusy` is raised.
        """
        now = time.time() if now is None else now
        queued: list[Delivery] = []
        with self.database.patience(wait), self.database.transaction():
            for event in events:
                self.event_log.add(event, now)
            self.rule_states.apply(state, now)
            for change in health:
                self.camera_health.record(change, run_id)
            if effects is not None:
                for note in effects.notifications:
                    delivery = self.outbox.enqueue(note, now)
                    if delivery is not None:
                        queued.append(delivery)
                for request in effects.modes:
                    self.mode_log.add(request, now)
                for prompt in effects.prompts:
                    self.prompt_log.add(prompt, now)
                for escalation in effects.escalations:
                    self.prompt_log.add_escalation(escalation, now)
                for clip in effects.clips:
                    self.clip_log.add_request(clip, now)
        return queued

    # -- events (delegates to store.event_log) ------------------------------------------
    def add_event(self, event: Event) -> None:
        self.event_log.add(event, time.time())

    def event(self, event_id: str) -> Event | None:
        return self.event_log.get(event_id)

    def acknowledge(self, event_id: str, *, by: str, now: float | None = None) -> bool:
        """Mark an event acknowledged (and stop its escalations); False if unknown."""
        return self.event_log.acknowledge(event_id, by=by, now=now)

    def is_acknowledged(self, event_id: str) -> bool:
        return self.event_log.is_acknowledged(event_id)

    def events(self, *, since: float | None = None, rule_id: str | None = None) -> list[Event]:
        return self.event_log.find(since=since, rule_id=rule_id)

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
        return self.event_log.reviewed(
            start=start, end=end, camera=camera, rule_id=rule_id, unreviewed=unreviewed
        )

    def review_event(self, event_id: str) -> ReviewedEvent | None:
        return self.event_log.reviewed_event(event_id)

    def mark_reviewed(self, event_id: str, *, by: str, now: float | None = None) -> bool:
        """Mark an event reviewed (kept if it already was); False if unknown."""
        return self.event_log.mark_reviewed(event_id, by=by, now=now)

    # -- outbox (delegates to store.outbox) -----------------------------------------------
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
        note = Notification(
            dedup_key,
            event_id,
            rule_id,
            Severity(severity),
            Channel(channel),
            contact,
            message,
            kind,
        )
        return self.outbox.enqueue(note, time.time())

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
        """Record one attempt: sent, or failed (see :meth:`Outbox.mark`)."""
        return self.outbox.mark(
            delivery_id,
            ok=ok,
            error=error,
            provider_id=provider_id,
            now=now,
            max_attempts=max_attempts,
            retry_max=retry_max,
        )

    def claim_delivery(self, delivery_id: int, *, owner: str, now: float) -> Delivery | None:
        return self.outbox.claim(delivery_id, owner=owner, now=now)

    def doubt_delivery(
        self, delivery_id: int, *, now: float, error: str, retry_max: float = 300.0
    ) -> Delivery:
        return self.outbox.doubt(delivery_id, now=now, error=error, retry_max=retry_max)

    def release_delivery(self, delivery_id: int, *, now: float, note: str) -> None:
        self.outbox.release(delivery_id, now=now, note=note)

    def suppress_delivery(self, delivery_id: int, *, reason: str) -> None:
        self.outbox.suppress(delivery_id, reason=reason)

    def delivery(self, delivery_id: int) -> Delivery | None:
        return self.outbox.get(delivery_id)

    def deliveries_by_ref(self, ref: str) -> list[Delivery]:
        return self.outbox.by_ref(ref)

    def due_deliveries(self, now: float) -> list[Delivery]:
        """Pending deliveries whose next attempt is due."""
        return self.outbox.find("pending", due_by=now)

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
        return self.outbox.find(
            status,
            due_by=due_by,
            since=since,
            until=until,
            contact=contact,
            kind=kind,
            channel=channel,
        )

    def latest_unacknowledged_alert(self, contact: str) -> str | None:
        return self.outbox.latest_unacknowledged_alert(contact)

    # -- rule state (delegates to store.rule_states) --------------------------------------
    def put_state(self, rule_id: str, key: str, value: object) -> None:
        self.rule_states.apply([StateChange(rule_id, key, value)], time.time())

    def load_state(self) -> dict[str, dict[str, object]]:
        """Every rule's durable state: rule id → key → value."""
        return self.rule_states.load()

    def get_state(self, rule_id: str) -> Iterator[tuple[str, object]]:
        return self.rule_states.get(rule_id)

    # -- camera health (delegates to store.camera_health) ---------------------------------
    def begin_watch(self, run_id: str, camera: str, now: float) -> None:
        self.camera_health.begin_watch(run_id, camera, now)

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
        self.camera_health.beat(
            run_id, camera, now, last_frame=last_frame, frames=frames, fps=fps, problems=problems
        )

    def end_watch(self, run_id: str, camera: str, now: float) -> None:
        self.camera_health.end_watch(run_id, camera, now)

    def record_health(self, change: HealthChange, run_id: str) -> None:
        self.camera_health.record(change, run_id)

    def watch_spans(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[WatchSpan]:
        return self.camera_health.watch_spans(since=since, until=until)

    def latest_watch(self) -> list[WatchSpan]:
        return self.camera_health.latest_watch()

    def health_spans(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        camera: str | None = None,
        open_only: bool = False,
    ) -> list[HealthSpan]:
        return self.camera_health.spans(
            since=since, until=until, camera=camera, open_only=open_only
        )

    # -- modes (delegates to store.mode_log) ----------------------------------------------
    def mode_state(self) -> ModeState:
        """The latest stored mode (expiry is the caller's business: see guardian.modes)."""
        return self.mode_log.latest()

    def set_mode(self, request: ModeRequest, now: float | None = None) -> ModeState:
        return self.mode_log.add(request, time.time() if now is None else now)

    def mode_changes(self, limit: int = 20) -> list[ModeState]:
        """The latest changes, newest first."""
        return self.mode_log.changes(limit)

    # -- prompts and escalations (delegates to store.prompt_log) --------------------------
    def prompts(self, status: str | None = None) -> list[Prompt]:
        return self.prompt_log.find(status)

    def prompt(self, prompt_id: str) -> Prompt | None:
        return self.prompt_log.get(prompt_id)

    def answer_prompt(
        self, prompt_id: str, *, yes: bool, by: str, source: str, now: float | None = None
    ) -> tuple[Prompt, ModeState | None]:
        """Answer a pending prompt; a YES switches the mode in the same transaction."""
        return self.prompt_log.answer(prompt_id, yes=yes, by=by, source=source, now=now)

    def expire_prompts(self, now: float) -> int:
        return self.prompt_log.expire(now)

    def escalations(
        self, status: str | None = None, *, due_by: float | None = None
    ) -> list[Escalation]:
        return self.prompt_log.escalations(status, due_by=due_by)

    # -- clips (delegates to store.clip_log) ----------------------------------------------
    def clip_requests(self, status: str = "pending") -> list[ClipRequest]:
        return self.clip_log.requests(status)

    def clip_for_event(self, event_id: str) -> Clip | None:
        """The event's clip (paths relative to the clips folder), or None."""
        return self.clip_log.for_event(event_id)

    def clip(self, clip_id: str) -> Clip | None:
        return self.clip_log.get(clip_id)

    def clips(
        self,
        *,
        since: float | None = None,
        status: str | None = None,
        path: str | None = None,
    ) -> list[Clip]:
        """Clips whose window starts at or after ``since``, oldest first."""
        return self.clip_log.find(since=since, status=status, path=path)

    def update_clips(self, clip_ids: Iterable[str], **fields: Any) -> None:
        """Set ``fields`` (status, reason, path, size_bytes, frames, duration, end …) on rows."""
        self.clip_log.update(clip_ids, **fields)

    def clip_retention_rows(self) -> list[ClipRetention]:
        """Written clips with what retention needs from their events."""
        return self.clip_log.retention_rows()

    # -- review page: logins, sessions; inbound messages (delegates to store.access_log) --
    def login_locked_until(self, key: str, now: float) -> float | None:
        return self.access_log.login_locked_until(key, now)

    def record_login_failure(
        self, key: str, *, now: float, max_failures: int, lockout: float
    ) -> float | None:
        return self.access_log.record_login_failure(
            key, now=now, max_failures=max_failures, lockout=lockout
        )

    def clear_login_failures(self, key: str) -> None:
        self.access_log.clear_login_failures(key)

    def begin_login_attempt(
        self,
        key: str,
        *,
        now: float,
        max_failures: int,
        lockout: float,
        stale_after: float = 60.0,
    ) -> float | None:
        return self.access_log.begin_login_attempt(
            key, now=now, max_failures=max_failures, lockout=lockout, stale_after=stale_after
        )

    def finish_login_attempt(
        self, key: str, *, ok: bool, now: float, max_failures: int, lockout: float
    ) -> float | None:
        return self.access_log.finish_login_attempt(
            key, ok=ok, now=now, max_failures=max_failures, lockout=lockout
        )

    def add_review_session(
        self, session_id: str, user: str, *, created_at: float, expires_at: float
    ) -> None:
        self.access_log.add_review_session(
            session_id, user, created_at=created_at, expires_at=expires_at
        )

    def review_session_active(self, session_id: str, now: float) -> bool:
        return self.access_log.review_session_active(session_id, now)

    def revoke_review_session(self, session_id: str, now: float) -> bool:
        return self.access_log.revoke_review_session(session_id, now)

    def claim_inbound_message(self, sid: str, *, sender: str, now: float) -> bool:
        return self.access_log.claim_inbound_message(sid, sender=sender, now=now)

    def forget_inbound_message(self, sid: str) -> None:
        self.access_log.forget_inbound_message(sid)


__all__ = [
    "BUSY_TIMEOUT",
    "DEFAULT_MODE",
    "MIGRATIONS",
    "AccessLog",
    "CameraHealthLog",
    "ClipLog",
    "ClipRetention",
    "Database",
    "DatabaseBusy",
    "DatabaseError",
    "Delivery",
    "Escalation",
    "EventLog",
    "Migration",
    "ModeLog",
    "ModeState",
    "Outbox",
    "People",
    "PersonRow",
    "PersonSample",
    "Prompt",
    "PromptError",
    "PromptLog",
    "ReviewedEvent",
    "RuleStates",
    "Store",
    "clip_row_id",
    "delivery_ref",
    "migrate",
]
