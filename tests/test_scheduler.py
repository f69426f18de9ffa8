"""The scheduler: cron fire times in the site's zone (DST included), mode schedule jobs
against a real SQLite file, and a short real-time run of a BackgroundScheduler."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from guardian.config.site import ScheduleEntry
from guardian.modes import ModeManager
from guardian.scheduler import Scheduler, describe_entry, mode_job
from guardian.store import Store

PARIS = "Europe/Paris"
TZ = ZoneInfo(PARIS)
WEEKEND = "0 14 * * sat,sun"


def _entry(**fields: object) -> ScheduleEntry:
    return ScheduleEntry.model_validate(fields)


def _weekend_lessons() -> ScheduleEntry:
    return _entry(cron=WEEKEND, mode="supervised", **{"for": "3h"}, reason="weekend lessons")


@pytest.fixture
def modes(tmp_path: Path) -> ModeManager:
    """A mode manager on a real file, for jobs that are only listed."""
    return ModeManager(Store(tmp_path / "listed.db"), timezone=PARIS)


def _runs(modes: ModeManager, cron: str, start: datetime, count: int) -> list[tuple[datetime, str]]:
    scheduler = Scheduler(PARIS)
    scheduler.add_mode_schedule([_entry(cron=cron, mode="unsupervised")], modes)
    return scheduler.next_runs(start, count)


def test_weekend_fire_times_across_the_spring_dst_change(modes: ModeManager) -> None:
    # Sunday 30 March 2025, 02:00 CET → 03:00 CEST
    start = datetime(2025, 3, 27, 12, 0, tzinfo=TZ)  # a Thursday
    runs = _runs(modes, WEEKEND, start, 4)
    assert [(w.strftime("%a %d %H:%M"), w.utcoffset()) for w, _ in runs] == [
        ("Sat 29 14:00", timedelta(hours=1)),
        ("Sun 30 14:00", timedelta(hours=2)),
        ("Sat 05 14:00", timedelta(hours=2)),
        ("Sun 06 14:00", timedelta(hours=2)),
    ]
    utc = [w.astimezone(ZoneInfo("UTC")).strftime("%d %H:%M") for w, _ in runs[:2]]
    assert utc == ["29 13:00", "30 12:00"]  # 14:00 local both days: the UTC hour moved
    assert all(name == f"{WEEKEND}: unsupervised" for _, name in runs)


def test_weekend_fire_times_across_the_autumn_dst_change(modes: ModeManager) -> None:
    # Sunday 26 October 2025, 03:00 CEST → 02:00 CET
    runs = _runs(modes, WEEKEND, datetime(2025, 10, 24, 9, 0, tzinfo=TZ), 3)
    assert [(w.strftime("%a %d %H:%M"), w.utcoffset()) for w, _ in runs] == [
        ("Sat 25 14:00", timedelta(hours=2)),
        ("Sun 26 14:00", timedelta(hours=1)),
        ("Sat 01 14:00", timedelta(hours=1)),
    ]


def test_next_runs_starts_at_now_and_merges_entries_in_time_order(modes: ModeManager) -> None:
    scheduler = Scheduler(PARIS)
    scheduler.add_mode_schedule(
        [_weekend_lessons(), _entry(cron="0 20 * * *", mode="unsupervised")], modes
    )
    saturday_14 = datetime(2025, 6, 14, 14, 0, tzinfo=TZ)
    runs = scheduler.next_runs(saturday_14, 4)
    assert [(w.strftime("%a %H:%M"), name) for w, name in runs] == [
        ("Sat 14:00", "0 14 * * sat,sun: supervised for 3 h: weekend lessons"),
        ("Sat 20:00", "0 20 * * *: unsupervised"),
        ("Sun 14:00", "0 14 * * sat,sun: supervised for 3 h: weekend lessons"),
        ("Sun 20:00", "0 20 * * *: unsupervised"),
    ]
    naive = scheduler.next_runs(datetime(2025, 6, 14, 14, 0), 1)  # taken as Paris time
    assert naive[0][0] == saturday_14


def test_weekday_numbers_are_crontab_numbers_zero_is_sunday(modes: ModeManager) -> None:
    runs = _runs(modes, "0 9 * * 0", datetime(2025, 6, 9, tzinfo=TZ), 3)  # from a Monday
    assert [w.strftime("%a %d") for w, _ in runs] == ["Sun 15", "Sun 22", "Sun 29"]
    runs = _runs(modes, "0 9 * * 1-5", datetime(2025, 6, 14, tzinfo=TZ), 5)  # from a Saturday
    assert [w.strftime("%a") for w, _ in runs] == ["Mon", "Tue", "Wed", "Thu", "Fri"]


def test_periodic_jobs_are_not_listed_as_scheduled_changes() -> None:
    scheduler = Scheduler(PARIS)
    scheduler.every(5, lambda: None, "outbox-flush")
    assert scheduler.job_ids() == ["outbox-flush"]
    assert scheduler.next_runs(datetime(2025, 6, 14, tzinfo=TZ), 5) == []
    with pytest.raises(ValueError, match="more than 0"):
        scheduler.every(0, lambda: None, "never")


def test_the_job_of_an_entry_switches_the_mode_in_sqlite(tmp_path: Path) -> None:
    now = datetime(2025, 6, 14, 14, 0, tzinfo=TZ).timestamp()
    path = tmp_path / "guardian.db"
    with Store(path) as store:
        modes = ModeManager(store, timezone=PARIS, clock=lambda: now)
        state = mode_job(_weekend_lessons(), modes)()
        assert (state.mode, state.until, state.by, state.source, state.reason) == (
            "supervised",
            now + 3 * 3600,
            "schedule",
            "schedule",
            "weekend lessons",
        )
        evening = _entry(cron="0 20 * * *", mode="unsupervised")
        mode_job(evening, modes)()
    with Store(path) as store:  # really in the file
        latest, first = store.mode_log.changes()
    assert (first.mode, first.by) == ("supervised", "schedule")
    assert (latest.mode, latest.by, latest.reason) == (
        "unsupervised",
        "schedule",
        "schedule 0 20 * * *",
    )


def test_an_entry_with_until_ends_at_that_time_of_day(tmp_path: Path) -> None:
    now = datetime(2025, 6, 14, 14, 0, tzinfo=TZ).timestamp()
    entry = _entry(cron=WEEKEND, mode="supervised", until="18:30")
    assert describe_entry(entry) == "supervised until 18:30"
    with Store(tmp_path / "g.db") as store:
        state = mode_job(entry, ModeManager(store, timezone=PARIS, clock=lambda: now))()
    assert state.until == datetime(2025, 6, 14, 18, 30, tzinfo=TZ).timestamp()


def test_a_real_scheduler_switches_the_mode_within_two_seconds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A real BackgroundScheduler thread, a per-second cron trigger, a real SQLite file.
    A job that raises on every run sits next to it: it is logged, nothing else stops."""
    caplog.set_level(logging.ERROR, logger="guardian.scheduler")
    ticks = threading.Event()

    def boom() -> None:
        ticks.set()
        raise RuntimeError("boom")

    with Store(tmp_path / "guardian.db") as store:
        modes = ModeManager(store, timezone=PARIS)
        scheduler = Scheduler(PARIS)
        every_second = CronTrigger(second="*", timezone=PARIS)
        scheduler.add(every_second, boom, "boom")
        scheduler.add(every_second, mode_job(_weekend_lessons(), modes), "lessons")
        started = time.monotonic()
        scheduler.start()
        try:
            while store.mode_log.latest().by != "schedule" and time.monotonic() - started < 5:
                time.sleep(0.05)
            switched_after = time.monotonic() - started
            assert ticks.wait(2)
            assert scheduler.running
        finally:
            scheduler.shutdown()
        assert not scheduler.running
        state = modes.current()
    assert switched_after < 2.5
    assert (state.mode, state.by, state.source) == ("supervised", "schedule", "schedule")
    assert "scheduled job 'boom' failed" in caplog.text and "RuntimeError: boom" in caplog.text


def test_every_runs_a_housekeeping_job_repeatedly() -> None:
    calls: list[float] = []
    done = threading.Event()

    def flush() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            done.set()

    with Scheduler(PARIS) as scheduler:
        scheduler.every(0.1, flush, "flush")
        assert done.wait(3)
    assert len(calls) >= 3


@pytest.mark.parametrize(
    ("start", "before", "expected"),
    [
        # Saturday 15:30, lessons 14:00 for 3 h: supervised until 17:00 at start-up
        ((14, 15, 30), None, ("supervised", (14, 17, 0))),
        ((14, 17, 30), None, None),  # the lessons are over
        ((14, 15, 30), ("unsupervised", (14, 14, 10)), None),  # switched by hand since
        # a Friday: the last entry fired is Thursday 20:00 "unsupervised", as it is already
        ((13, 15, 30), None, None),
        # Saturday 20:30: a supervised mode switched by hand at 19:00 ends at the 20:00 entry
        ((14, 20, 30), ("supervised", (14, 19, 0)), ("unsupervised", None)),
    ],
)
def test_catch_up_applies_the_entry_missed_while_not_running(
    tmp_path: Path,
    start: tuple[int, int, int],
    before: tuple[str, tuple[int, int, int]] | None,
    expected: tuple[str, tuple[int, int, int] | None] | None,
) -> None:
    from guardian.scheduler import catch_up

    def at(day: int, hour: int, minute: int) -> float:
        return datetime(2025, 6, day, hour, minute, tzinfo=TZ).timestamp()

    entries = [_weekend_lessons(), _entry(cron="0 20 * * *", mode="unsupervised")]
    clock = {"now": at(*start)}
    with Store(tmp_path / "g.db") as store:
        modes = ModeManager(store, timezone=PARIS, clock=lambda: clock["now"])
        if before is not None:
            mode, when = before
            clock["now"] = at(*when)
            modes.switch(
                mode, duration=2 * 3600 if mode == "supervised" else None, by="me", source="cli"
            )
            clock["now"] = at(*start)
        state = catch_up(entries, modes)
        if expected is None:
            assert state is None
        else:
            assert state is not None and state.mode == expected[0]
            assert state.source == "schedule" and "caught up" in state.reason
            assert state.until == (at(*expected[1]) if expected[1] else None)
