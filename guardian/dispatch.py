"""From rule firings to the world: one transaction, then the side effects.

For each step (an observation, or a timer tick) the :class:`Dispatcher` lets the
actions fill an Effects batch, writes events + rules' durable state + the batch to
SQLite in ONE transaction, and only then sends the queued alerts, switches the mode
and runs local commands. A crash before the commit loses nothing that was recorded
and repeats nothing after a restart: the timers that fired are gone from the state in
the same transaction that stored their events.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from guardian.alerts import Outbox
from guardian.alerts.escalation import Escalator
from guardian.effects import CommandRequest, Effects
from guardian.modes import ModeManager
from guardian.records import Event, HealthChange, Observation
from guardian.rules import Firing, RuleEngine
from guardian.rules.actions import event_text
from guardian.rules.base import Pending
from guardian.rules.engine import format_pending
from guardian.store import Store

if TYPE_CHECKING:
    from guardian.clips import ClipRecorder

log = logging.getLogger("guardian.dispatch")


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
    ) -> None:
        self.engine = engine
        #: every event gets a clip (clips.enabled); None: no clips are written
        self.clips = clips
        self.store = store
        self.outbox = outbox
        self.modes = modes
        self.escalator = Escalator(store)
        self.out = out
        self.commands: list[threading.Thread] = []

    def handle(self, obs: Observation) -> list[Event]:
        """Run the rules on one observation; return the events stored."""
        return self.commit(self.engine.process(obs), obs)

    def housekeeping(self, now: float, live_cameras: Iterable[str] = ()) -> list[Event]:
        """Once a second: mode expiry and switches made elsewhere (CLI, schedule, prompts),
        timers of live cameras, escalations, prompt expiry, alert retries."""
        self.engine.set_mode(self.modes.current(now).mode)
        cameras = list(live_cameras)
        events = self.commit(self.engine.tick(now, cameras)) if cameras else []
        for delivery in self.escalator.tick(now):
            self.outbox.send(delivery)
        self.store.expire_prompts(now)
        self.outbox.flush(now)
        return events

    def end_stream(self, camera: str) -> list[Pending]:
        """A file camera's video ended: the timers still running are dropped from the
        stored state (they are about that video only) and each is said in one line."""
        pending = self.engine.end_stream(camera)
        state = self.engine.drain_state()
        if state:
            self.store.commit([], state)
        for p in pending:
            line = format_pending(p, self.engine.context.timezone)
            print(f"PENDING {line}", file=self.out or sys.stdout, flush=True)
        return pending

    def health(
        self, changes: Sequence[HealthChange], now: float, ended: Iterable[str] = ()
    ) -> list[Event]:
        """Camera problems that began or ended: each stored as a span of this run, then
        the health rules (their ``for:`` waits too: call it once a second) → events and
        alerts. ``ended``: cameras no longer watched (their waits are dropped)."""
        for change in changes:
            self.store.record_health(change, self.engine.run_id)
        return self.commit(self.engine.health(changes, now, ended))

    def commit(self, firings: Sequence[Firing], obs: Observation | None = None) -> list[Event]:
        effects = Effects()
        self.engine.run_actions(firings, effects)
        state = self.engine.drain_state()
        if not firings and not state and not effects:
            return []
        events = [f.event for f in firings]
        if self.clips is not None:  # every event gets a clip, in the same transaction
            self.clips.add_defaults(events, effects)
        queued = self.store.commit(events, state, effects)  # recorded before anything is sent
        if self.clips is not None and effects.clips:  # hands frames to the writers only
            self.clips.submit(effects.clips, events, obs)
        for event in events:
            line = format_event(event, self.engine.context.timezone)
            print(line, file=self.out or sys.stdout, flush=True)
        for delivery in queued:
            self.outbox.send(delivery)
        if effects.modes:
            self.engine.set_mode(self.modes.current().mode)
        for command in effects.commands:
            self.commands.append(run_command(command))
        return events


def format_event(event: Event, timezone: str = "UTC") -> str:
    """The console line of an event, its time in the site's ``timezone``:
    ``EVENT 2026-11-23 14:02:26 [critical] Possible submersion: … rule=submersion id=…``."""
    when = dt.datetime.fromtimestamp(event.started_at, ZoneInfo(timezone))
    return (
        f"EVENT {when:%Y-%m-%d %H:%M:%S} [{event.severity.value}] {event_text(event)} "
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
