"""Timed jobs for ``guardian run``: the mode schedule and periodic housekeeping.

One APScheduler ``BackgroundScheduler`` (a thread) in the site's time zone. Mode
schedule entries (``modes: schedule:`` in the site file) become cron jobs; the runner
adds its housekeeping with :meth:`Scheduler.every` (outbox flush, escalation ticks,
prompt and mode expiry). A job that raises is logged and runs again next time: it never
stops the scheduler. Runs missed while the process was busy or suspended are coalesced
into one; a cron job more than :data:`CRON_GRACE` seconds late is skipped (a schedule
switch hours late would be wrong), a periodic one always runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from guardian.config.cron import crontab_trigger
from guardian.config.site import ScheduleEntry
from guardian.modes import ModeManager
from guardian.store import ModeState
from guardian.timefmt import format_duration, hour_minute, local_time, next_time_of_day
from guardian.vocab import Mode

log = logging.getLogger("guardian.scheduler")

#: seconds a cron job may start late before that run is skipped
CRON_GRACE = 300


def describe_entry(entry: ScheduleEntry) -> str:
    """``supervised for 3 h: weekend swimming lessons``, ``unsupervised``."""
    text: str = entry.mode
    if entry.duration is not None:
        text += f" for {format_duration(entry.duration)}"
    elif entry.until is not None:
        text += f" until {entry.until}"
    return text + (f": {entry.reason}" if entry.reason else "")


def mode_job(entry: ScheduleEntry, modes: ModeManager) -> Callable[[], ModeState]:
    """The function a schedule entry runs: switch the mode, by and source "schedule"."""

    def run() -> ModeState:
        until = None
        if entry.until is not None:
            until = next_time_of_day(entry.until, modes.timezone, modes.clock())
        state = modes.switch(
            entry.mode,
            until=until,
            duration=entry.duration,
            by="schedule",
            source="schedule",
            reason=entry.reason or f"schedule {entry.cron}",
        )
        log.info("schedule '%s': mode %s", entry.cron, describe_entry(entry))
        return state

    return run


def last_fire(trigger: CronTrigger, now: datetime, horizon: timedelta) -> datetime | None:
    """The trigger's latest fire time in (now - horizon, now], or None."""
    last = None
    when = trigger.get_next_fire_time(None, now - horizon)
    while when is not None and when <= now:
        last = when
        when = trigger.get_next_fire_time(when, when + timedelta(seconds=1))
    return last


def catch_up(
    entries: Sequence[ScheduleEntry], modes: ModeManager, now: float | None = None
) -> ModeState | None:
    """At start-up, apply the schedule entry that should be in effect now.

    Guardian may not have been running when an entry fired (a 15:00 "supervised for
    2 h" and a start at 15:30). The latest entry fired in the last 24 h is applied when
    nobody changed the mode since it fired and, for supervised, its time is not over.
    Returns the new state, or None when nothing was to be done.
    """
    now = modes.clock() if now is None else now
    here = local_time(now, modes.timezone)
    latest: tuple[datetime, ScheduleEntry] | None = None
    for entry in entries:
        fired = last_fire(crontab_trigger(entry.cron, modes.timezone), here, timedelta(days=1))
        if fired is not None and (latest is None or fired > latest[0]):
            latest = (fired, entry)
    if latest is None:
        return None
    fired, entry = latest
    state = modes.current(now)
    if state.since >= fired.timestamp():
        return None  # the mode was switched since (by hand, a prompt, or this schedule)
    reason = (
        entry.reason or f"schedule {entry.cron}"
    ) + f" (from {hour_minute(fired.timestamp(), modes.timezone)}, caught up)"
    if entry.mode == Mode.SUPERVISED:
        if entry.duration is not None:
            end = fired.timestamp() + entry.duration
        else:
            assert entry.until is not None  # validated: supervised has for or until
            end = next_time_of_day(entry.until, modes.timezone, fired.timestamp())
        if end <= now:
            return None
        switched = modes.switch(
            Mode.SUPERVISED, until=end, by="schedule", source="schedule", reason=reason
        )
    elif state.mode == Mode.UNSUPERVISED:
        return None
    else:
        switched = modes.switch(Mode.UNSUPERVISED, by="schedule", source="schedule", reason=reason)
    log.info("schedule '%s' caught up: mode %s", entry.cron, switched.mode)
    return switched


class Scheduler:
    """APScheduler jobs in the site's time zone; nothing runs before :meth:`start`."""

    def __init__(self, timezone: str) -> None:
        self.timezone = timezone
        self._scheduler = BackgroundScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    def add(
        self, trigger: Any, func: Callable[[], object], job_id: str, *, name: str | None = None
    ) -> None:
        """Run ``func`` whenever ``trigger`` (any APScheduler trigger) fires."""
        grace = None if isinstance(trigger, IntervalTrigger) else CRON_GRACE
        self._scheduler.add_job(
            _guarded(func, job_id),
            trigger,
            id=job_id,
            name=name or job_id,
            replace_existing=True,
            misfire_grace_time=grace,
        )

    def add_mode_schedule(self, entries: Sequence[ScheduleEntry], modes: ModeManager) -> None:
        """One cron job per entry, switching the mode through ``modes``."""
        for index, entry in enumerate(entries):
            self.add(
                crontab_trigger(entry.cron, self.timezone),
                mode_job(entry, modes),
                f"mode-schedule-{index}",
                name=f"{entry.cron}: {describe_entry(entry)}",
            )

    def every(self, seconds: float, func: Callable[[], object], job_id: str) -> None:
        """Run ``func`` every ``seconds`` (housekeeping), the first time ``seconds`` from now."""
        if seconds <= 0:
            raise ValueError(f"job '{job_id}': the period must be more than 0 s")
        self.add(IntervalTrigger(seconds=seconds, timezone=self.timezone), func, job_id)

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def shutdown(self) -> None:
        """Stop, waiting for a running job to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def job_ids(self) -> list[str]:
        return [job.id for job in self._scheduler.get_jobs()]

    def next_runs(self, now: datetime, count: int) -> list[tuple[datetime, str]]:
        """The next ``count`` cron runs from ``now`` on (periodic jobs left out), soonest
        first, as (time in the site's zone, job name: ``"<cron>: <what it does>"``).

        A naive ``now`` is taken to be in the site's zone.
        """
        if now.tzinfo is None:
            now = now.replace(tzinfo=ZoneInfo(self.timezone))
        runs: list[tuple[datetime, str]] = []
        for job in self._scheduler.get_jobs():
            trigger = job.trigger
            if not isinstance(trigger, CronTrigger):
                continue
            when = trigger.get_next_fire_time(None, now)
            for _ in range(count):
                if when is None:
                    break
                runs.append((when, job.name))
                when = trigger.get_next_fire_time(when, when)
        runs.sort(key=lambda run: run[0])
        return runs[:count]

    def __enter__(self) -> Scheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _guarded(func: Callable[[], object], job_id: str) -> Callable[[], None]:
    """``func`` with any exception logged (with its traceback) instead of raised."""

    def run() -> None:
        try:
            func()
        except Exception:
            log.exception("scheduled job '%s' failed; it will run again next time", job_id)

    run.__name__ = f"guarded_{job_id}"
    return run
