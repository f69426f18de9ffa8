"""What watched when: the health of a night from the rows ``guardian run`` writes (watch
heartbeats and problem spans, in a real SQLite file), and each camera's health now."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from guardian.health_report import (
    CameraState,
    GapReason,
    HealthReport,
    Overall,
    health_report,
    site_health,
)
from guardian.records import HealthChange, HealthProblem
from guardian.store import Store

TZ = "Europe/Paris"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=ZoneInfo(TZ)).timestamp()


#: the night of 2026-11-22 as the review page has it (review.night 18:00 → 09:00)
NIGHT = (at(22, 18), at(23, 9))
MORNING = at(23, 8)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "guardian.db") as s:
        yield s


def watch(
    store: Store,
    run: str,
    camera: str,
    start: float,
    last: float,
    *,
    clean: bool = True,
    fps: float = 10.0,
    frame_lag: float = 0.5,
    problems: tuple[HealthProblem, ...] = (),
) -> None:
    """One run watching ``camera`` from ``start``, beating until ``last`` (a clean stop
    there, or none: the run died or is still running)."""
    store.camera_health.begin_watch(run, camera, start)
    store.camera_health.beat(
        run,
        camera,
        last,
        last_frame=last - frame_lag,
        frames=int((last - start) * fps),
        fps=fps,
        problems=problems,
    )
    if clean:
        store.camera_health.end_watch(run, camera, last)


def problem(
    store: Store,
    run: str,
    camera: str,
    kind: HealthProblem,
    start: float,
    end: float | None,
    detail: str = "",
) -> None:
    store.camera_health.record(HealthChange(camera, kind, start, None, detail), run)
    if end is not None:
        store.camera_health.record(HealthChange(camera, kind, start, end), run)


def report(
    store: Store,
    cameras: tuple[str, ...] = ("pool",),
    now: float = MORNING,
    since: float = NIGHT[0],
    until: float = NIGHT[1],
) -> HealthReport:
    return health_report(store, since=since, until=until, now=now, timezone=TZ, cameras=cameras)


def test_a_night_with_an_offline_camera_reads_as_the_issue_asks(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 7))
    problem(store, "r1", "pool", HealthProblem.OFFLINE, at(23, 2, 14), at(23, 2, 31))
    night = report(store)
    assert night.headline() == "watched 22:00–07:00: pool camera offline 02:14–02:31"
    (pool,) = night.cameras
    assert not pool.ok and not pool.live
    assert [(i.start, i.end) for i in pool.watched] == [(at(22, 22), at(23, 7))]
    # outside the watched hours: gaps, but not listed as the camera's issues
    assert [(g.start, g.end, g.reason) for g in pool.gaps] == [
        (at(22, 18), at(22, 22), GapReason.NOT_STARTED),
        (at(23, 7), MORNING, GapReason.STOPPED),
    ]
    assert night.headline(dash="-") == "watched 22:00-07:00: pool camera offline 02:14-02:31"


def test_a_whole_night_watched_without_problems(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 17), at(23, 10))
    night = report(store, now=at(23, 11))
    assert night.ok
    assert night.headline() == "watched 18:00–09:00: no camera problems"


def test_nothing_watched_says_guardian_was_not_running(store: Store) -> None:
    watch(store, "old", "pool", at(20, 22), at(21, 7))  # another night
    night = report(store)
    assert not night.ok and night.watched is None
    assert night.headline() == "not watched since 18:00: Guardian was not running"
    over = report(store, now=at(23, 10))
    assert over.headline() == "not watched 18:00–09:00: Guardian was not running"


def test_a_crash_and_a_restart_leave_a_gap_and_end_the_dead_runs_problem(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 1), clean=False)  # died at 01:00
    problem(store, "r1", "pool", HealthProblem.STALLED, at(23, 0, 50), None)
    watch(store, "r2", "pool", at(23, 1, 30), at(23, 7))
    night = report(store)
    assert night.headline() == (
        "watched 22:00–07:00: pool camera frozen 00:50–01:00; "
        "pool camera not watched 01:00–01:30 (Guardian stopped unexpectedly)"
    )


def test_a_clean_stop_and_restart_inside_the_night(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 2))
    watch(store, "r2", "pool", at(23, 3), at(23, 7))
    assert report(store).headline() == (
        "watched 22:00–07:00: pool camera not watched 02:00–03:00 (Guardian stopped)"
    )


def test_runs_a_few_seconds_apart_are_one_watched_interval(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 2), clean=False)
    watch(store, "r2", "pool", at(23, 2, 0, 8), at(23, 7))  # restarted by systemd in 8 s
    night = report(store)
    assert [(i.start, i.end) for i in night.cameras[0].watched] == [(at(22, 22), at(23, 7))]
    assert night.headline() == "watched 22:00–07:00: no camera problems"


def test_a_crash_that_is_never_restarted_is_said(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 5), clean=False)
    night = report(store, now=at(23, 10))  # the morning after: the night is over
    assert night.headline() == (
        "watched 22:00–05:00: pool camera not watched 05:00–09:00 (Guardian stopped unexpectedly)"
    )


def test_while_it_runs_the_night_is_cut_at_now_and_open_spans_say_since(store: Store) -> None:
    now = at(23, 3)
    watch(store, "r1", "pool", at(22, 22), now - 3, clean=False)  # beat 3 s ago
    problem(store, "r1", "pool", HealthProblem.OFFLINE, at(23, 2, 14), None)
    night = report(store, now=now)
    assert night.end == now and night.cameras[0].live
    assert night.headline() == "watched since 22:00: pool camera offline since 02:14"
    (p,) = night.cameras[0].problems
    assert p.open and p.end == now


def test_a_stale_heartbeat_while_the_night_goes_on(store: Store) -> None:
    now = at(23, 3)
    watch(store, "r1", "pool", at(22, 22), at(23, 2), clean=False)  # silent for an hour
    night = report(store, now=now)
    assert not night.cameras[0].live
    assert night.headline() == (
        "watched 22:00–02:00: pool camera not watched since 02:00 (Guardian stopped unexpectedly)"
    )


def test_two_cameras_one_started_late_one_never(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 7))
    watch(store, "r1", "gate", at(22, 23), at(23, 7))
    problem(store, "r1", "gate", HealthProblem.TOO_DARK, at(23, 1), at(23, 1, 0, 40))
    night = report(store, cameras=("pool", "gate", "front_cam"))
    assert night.headline() == (
        "watched 22:00–07:00: gate camera not watched 22:00–23:00 (Guardian not running); "
        "gate camera too dark 01:00 (40 s); front_cam not watched"
    )


def test_a_flapping_problem_reads_as_one_span_and_many_are_counted(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 7))
    problem(store, "r1", "pool", HealthProblem.OFFLINE, at(23, 2, 14), at(23, 2, 15))
    problem(store, "r1", "pool", HealthProblem.OFFLINE, at(23, 2, 15, 5), at(23, 2, 31))
    for hour in (3, 4, 5, 6):
        problem(store, "r1", "pool", HealthProblem.OBSTRUCTED, at(23, hour), at(23, hour, 5))
    text = report(store).headline()
    assert text == (
        "watched 22:00–07:00: pool camera offline 02:14–02:31; "
        "pool camera obstructed 03:00–03:05; pool camera obstructed 04:00–04:05; "
        "pool camera obstructed 05:00–05:05; pool camera: 1 more"
    )


def test_a_window_longer_than_a_day_shows_dates(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 7))
    problem(store, "r1", "pool", HealthProblem.MOVED, at(23, 2, 14), at(23, 2, 31))
    text = report(store, since=at(22, 0), until=at(24, 0), now=at(24, 1)).headline()
    assert text == "watched 22 Nov 22:00–23 Nov 07:00: pool camera moved 23 Nov 02:14–02:31"


def test_problems_are_clipped_to_the_window(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 12), at(23, 12))
    problem(store, "r1", "pool", HealthProblem.OFFLINE, at(22, 17), at(22, 19))
    problem(store, "r1", "pool", HealthProblem.OFFLINE, at(23, 8, 30), at(23, 11))
    night = report(store, now=at(23, 12))
    assert [(p.start, p.end) for p in night.cameras[0].problems] == [
        (at(22, 18), at(22, 19)),
        (at(23, 8, 30), at(23, 9)),
    ]


def test_a_night_that_has_not_started(store: Store) -> None:
    night = report(store, now=at(22, 12))
    assert not night.started and night.headline() == "not started yet"


# -- now ------------------------------------------------------------------------------


def test_site_health_now(store: Store) -> None:
    now = at(23, 3)
    cameras = ("pool", "gate", "side", "back", "new")
    watch(store, "r2", "pool", at(23, 1), now - 2, clean=False, fps=9.5)
    watch(store, "r2", "gate", at(23, 1), now - 4, clean=False)
    problem(
        store,
        "r2",
        "gate",
        HealthProblem.OFFLINE,
        at(23, 2, 14),
        None,
        "rtsp://admin:hunter2@10.0.0.5/live: connection refused",
    )
    watch(store, "r1", "side", at(22, 22), at(23, 2), clean=False)  # crashed an hour ago
    store.camera_health.begin_watch("r2", "new", now - 1)  # just started: no frame yet
    health = site_health(store, cameras, now)
    states = {c.camera: c.state for c in health.cameras}
    assert states == {
        "pool": CameraState.OK,
        "gate": CameraState.PROBLEM,
        "side": CameraState.NOT_RUNNING,
        "back": CameraState.NEVER_WATCHED,
        "new": CameraState.STARTING,
    }
    pool, gate, side, back, _ = health.cameras
    assert pool.fps == 9.5 and pool.last_frame == now - 2.5 and pool.healthy
    (offline,) = gate.problems
    assert offline.problem is HealthProblem.OFFLINE and offline.since == at(23, 2, 14)
    assert "hunter2" not in offline.detail and "connection refused" in offline.detail
    assert side.fps is None and side.last_beat == at(23, 2) and side.stopped is None
    assert back.last_frame is None
    assert health.overall is Overall.DEGRADED and not health.healthy

    assert site_health(store, ("pool",), now).overall is Overall.OK
    assert site_health(store, ("side", "back"), now).overall is Overall.DOWN
    assert site_health(store, (), now).overall is Overall.DOWN
    # fifteen seconds without a heartbeat: not running any more
    assert site_health(store, ("pool",), now + 20).cameras[0].state is CameraState.NOT_RUNNING


def test_the_heartbeats_problems_count_even_without_a_span(store: Store) -> None:
    now = at(23, 3)
    watch(store, "r1", "pool", at(23, 1), now - 1, clean=False, problems=(HealthProblem.MOVED,))
    (pool,) = site_health(store, ("pool",), now).cameras
    assert pool.state is CameraState.PROBLEM
    assert [(p.problem, p.since) for p in pool.problems] == [(HealthProblem.MOVED, None)]


def test_a_clean_stop_is_not_running_with_when(store: Store) -> None:
    watch(store, "r1", "pool", at(22, 22), at(23, 7))
    (pool,) = site_health(store, ("pool",), at(23, 8)).cameras
    assert pool.state is CameraState.NOT_RUNNING and pool.stopped == at(23, 7)
