"""From rule firings to the world: one transaction, then the side effects.

For each step (an observation, or a timer tick) the :class:`Dispatcher` lets the
actions fill an Effects batch, writes events + rules' durable state + the batch to
SQLite in ONE transaction, and only then sends the queued alerts, switches the mode
and runs local commands. A crash before the commit loses nothing that was recorded
and repeats nothing after a restart: the timers that fired are gone from the state in
the same transaction that stored their events.

Alerts are handed to the outbox's senders (:meth:`Outbox.submit`): a provider that hangs
never holds up the rules or their timers. When another process holds the database, the
batch waits in memory (later batches join it, in order) and the rules keep running; it
is stored, and its alerts sent, as soon as the database is free. Local commands (a
siren) run at once, stored or not.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from guardian.alerts import Outbox
from guardian.alerts.escalation import Escalator
from guardian.clips import ClipRecorder
from guardian.effects import CommandRequest, Effects, StateChange
from guardian.modes import ModeManager
from guardian.mqtt.bus import NoBus, SiteBus
from guardian.records import Event, HealthChange, Observation
from guardian.rules import Firing, RuleEngine
from guardian.rules.actions import event_text
from guardian.rules.base import Pending
from guardian.rules.engine import format_pending
from guardian.store import Store
from guardian.timefmt import stamp

log = logging.getLogger("guardian.dispatch")

#: seconds a commit waits for another process holding the database before its batch
#: waits in memory (the rules go on); a batch waiting is tried again at most once a
#: second, waiting RETRY_WAIT each time (also the rule thread's wait for any other
#: write: see Store.set_patience); at the end of a run, FINAL_WAIT
FIRST_WAIT = 1.0
RETRY_WAIT = 0.2
FINAL_WAIT = 30.0


@dataclass
class _Batch:
    """What one or more steps have to store, in the order they happened."""

    events: list[Event] = field(default_factory=list)
    state: list[StateChange] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)
    health: list[HealthChange] = field(default_factory=list)

    def add(self, other: _Batch) -> None:
        self.events += other.events
        self.state += other.state
        self.health += other.health
        self.effects.extend(other.effects)


class Dispatcher:
    """Owns the rule engine's side of the main loop (one thread)."""

    def __init__(
        self,
        engine: RuleEngine,
        store: Store,
        outbox: Outbox,
        modes: ModeManager,
        *,
        out: TextIO | None = None,
        clips: ClipRecorder | None = None,
        escalator: Escalator | None = None,
        bus: SiteBus | None = None,
    ) -> None:
        self.engine = engine
        #: told of each event once it is stored (MQTT: a notification, not the record)
        self.bus: SiteBus = bus if bus is not None else NoBus()
        #: every event gets a clip (clips.enabled); None: no clips are written
        self.clips = clips
        self.store = store
        self.outbox = outbox
        self.modes = modes
        #: escalations of events not acknowledged (default: without links)
        self.escalator = escalator if escalator is not None else Escalator(store)
        self.out = out
        self.commands: list[threading.Thread] = []
        #: what could not be stored yet (another process holds the database)
        self.waiting: _Batch | None = None
        self._waiting_since = 0.0
        self._last_try = 0.0

    def handle(self, obs: Observation) -> list[Event]:
        """Run the rules on one observation; return the events stored."""
        return self.commit(self.engine.process(obs), obs)

    def housekeeping(self, now: float, live_cameras: Iterable[str] = ()) -> list[Event]:
        """Once a second: mode expiry and switches made elsewhere (CLI, schedule, prompts),
        timers of live cameras, escalations, prompt expiry, alert retries."""
        try:
            self.engine.set_mode(self.modes.current(now).mode)
        except sqlite3.OperationalError as exc:  # an expiry to write: the next second
            log.info("mode not checked: the database is busy (%s)", exc)
        cameras = list(live_cameras)
        events = self.commit(self.engine.tick(now, cameras)) if cameras else []
        if self.waiting is not None and not events:
            self.retry()
        if self.waiting is not None:
            return events  # the database is held: the rest waits for it, timers do not
        try:
            self.outbox.submit(self.escalator.tick(now))
            self.store.prompt_log.expire(now)
        except sqlite3.OperationalError as exc:  # busy: the next second
            log.info("escalations and prompts wait: the database is busy (%s)", exc)
        if not self.outbox.running:
            self.outbox.flush(now)
        return events

    def end_stream(self, camera: str) -> list[Pending]:
        """A file camera's video ended: the timers still running are dropped from the
        stored state (they are about that video only) and each is said in one line."""
        pending = self.engine.end_stream(camera)
        state = self.engine.drain_state()
        if state:
            self._store(_Batch(state=state))
        out = self.out or sys.stdout
        for p in pending:  # one write per line: alert lines come from another thread
            out.write(f"PENDING {format_pending(p, self.engine.context.timezone)}\n")
            out.flush()
        return pending

    def health(
        self, changes: Sequence[HealthChange], now: float, ended: Iterable[str] = ()
    ) -> list[Event]:
        """Camera problems that began or ended: each stored as a span of this run, then
        the health rules (their ``for:`` waits too: call it once a second) → events and
        alerts. ``ended``: cameras no longer watched (their waits are dropped)."""
        return self.commit(self.engine.health(changes, now, ended), health=changes)

    def commit(
        self,
        firings: Sequence[Firing],
        obs: Observation | None = None,
        health: Sequence[HealthChange] = (),
    ) -> list[Event]:
        effects = Effects()
        self.engine.run_actions(firings, effects)
        state = self.engine.drain_state()
        if not firings and not state and not effects and not health:
            return []
        events = [f.event for f in firings]
        if self.clips is not None:  # every event gets a clip, in the same transaction
            self.clips.add_defaults(events, effects)
        out = self.out or sys.stdout
        for event in events:  # said when it happens (before its alerts are sent)
            out.write(format_event(event, self.engine.context.timezone) + "\n")
            out.flush()
        # recorded before anything is sent (or kept in memory while the database is held)
        stored = self._store(_Batch(events, state, effects, list(health)), obs=obs)
        if stored and effects.modes:
            self.engine.set_mode(self.modes.current().mode)
        for command in effects.commands:  # a siren does not wait for the database
            self.commands.append(run_command(command))
        return events

    def retry(self, wait: float = RETRY_WAIT) -> bool:
        """Store what waits in memory, if the database is free; True when nothing waits."""
        if self.waiting is None:
            return True
        return self._store(_Batch(), wait=wait, force=True)

    def _store(
        self,
        batch: _Batch,
        *,
        wait: float = FIRST_WAIT,
        force: bool = False,
        obs: Observation | None = None,
    ) -> bool:
        """Commit ``batch`` after whatever waits before it, then start its clips and hand
        its alerts to the outbox; False when the database is held by another process (it
        all waits; the clip writers get the requests once they are stored, the frames
        before the event are still in the camera's ring)."""
        now = time.monotonic()
        if self.waiting is not None:
            self.waiting.add(batch)
            batch = self.waiting
            if not force and now - self._last_try < 1.0:
                return False  # tried less than a second ago: joins the wait
            wait = min(wait, RETRY_WAIT) if not force else wait
        self._last_try = now
        try:
            queued = self.store.commit(
                batch.events,
                batch.state,
                batch.effects,
                health=batch.health,
                run_id=self.engine.run_id,
                wait=wait,
            )
        except sqlite3.OperationalError as exc:
            if self.waiting is None:
                self._waiting_since = now
                log.error(
                    "the database is held by another process (%s): events and alerts wait "
                    "in memory and are stored as soon as it is free; Guardian keeps watching",
                    exc,
                )
            self.waiting = batch
            return False
        if self.waiting is not None:
            log.warning(
                "the database is free again: %d event(s) and %d alert(s) stored after "
                "waiting %.0fs",
                len(batch.events),
                len(queued),
                time.monotonic() - self._waiting_since,
            )
            self.waiting, obs = None, None
        if self.clips is not None and batch.effects.clips:  # hands frames to the writers
            self.clips.submit(batch.effects.clips, batch.events, obs)
        self.outbox.submit(queued)
        for event in batch.events:  # stored: now it may be told
            self.bus.event(event)
        return True


def format_event(event: Event, timezone: str = "UTC") -> str:
    """The console line of an event, its time in the site's ``timezone``:
    ``EVENT 2026-11-23 14:02:26 [critical] Possible submersion: … rule=submersion id=…``."""
    return (
        f"EVENT {stamp(event.started_at, timezone)} [{event.severity.value}] {event_text(event)} "
        f"rule={event.rule_id} id={event.event_id}"
    )


def run_command(request: CommandRequest) -> threading.Thread:
    """Run a rule's local command (a siren) in the background; log how it ended."""

    def target() -> None:
        name = request.argv[0]
        try:
            done = subprocess.run(
                list(request.argv), capture_output=True, timeout=request.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            log.warning(
                "rule %s: command %s killed after %.0fs", request.rule_id, name, request.timeout
            )
        except OSError as exc:
            log.error("rule %s: command %s failed: %s", request.rule_id, name, exc)
        else:
            level = logging.INFO if done.returncode == 0 else logging.WARNING
            log.log(level, "rule %s: command %s exited %d", request.rule_id, name, done.returncode)

    thread = threading.Thread(target=target, name=f"command-{request.event_id}", daemon=True)
    thread.start()
    return thread
