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
actions' requests) across them in ONE transaction; everything else is read and written
through the repositories (``store.event_log.add(event, now)``). Nobody outside this
package writes SQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path

from guardian.effects import Effects, StateChange
from guardian.records import Event, HealthChange
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
