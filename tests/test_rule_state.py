"""Durable rule state: timers, cooldowns and occupancy survive a restart, on a real
SQLite file, and nothing fires twice.

A "restart" here is what `kill -9` leaves behind: a new engine (new run id, new track
ids: a fresh tracker) reading the state the old one had committed, and nothing else.
The end-to-end version with a real `guardian run` killed by SIGKILL is in test_cli.py.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from rulesim import SUBMERSION, T0, P, Sim, rules_from, run

from guardian.alerts import ConsoleNotifier, Outbox
from guardian.dispatch import Dispatcher
from guardian.effects import StateChange
from guardian.modes import ModeManager
from guardian.records import Posture, PostureReading
from guardian.rules import RuleEngine
from guardian.rules.state import (
    AbsentEntry,
    CountDropState,
    DwellEntry,
    OccupancyState,
    PostureEntry,
)
from guardian.store import Store

WATER, DECK = P(300, 300), P(120, 300)


def _engine(tmp_path: Path, store: Store, text: str, run_id: str) -> RuleEngine:
    return RuleEngine(
        rules_from(tmp_path, text).rules, state=store.rule_states.load(), run_id=run_id
    )


def _dispatcher(engine: RuleEngine, store: Store) -> Dispatcher:
    out = io.StringIO()
    return Dispatcher(
        engine, store, Outbox(store, [ConsoleNotifier(out)]), ModeManager(store), out=out
    )


def _play(dispatcher: Dispatcher, sim: Sim, script, seconds: float) -> list[tuple[str, float]]:  # type: ignore[no-untyped-def]
    """Like rulesim.run, but every step is committed to the store (as `guardian run` does)."""
    fired = []
    end = sim.now + seconds
    while sim.now < end - 1e-9:
        t = sim.now - T0
        for event in dispatcher.handle(sim.step(script(t))):
            fired.append((event.rule_id, round(event.started_at - T0, 2)))
    return fired


def _hidden_from(t0: float):  # type: ignore[no-untyped-def]
    return lambda t: {1: WATER} if t < t0 else {1: P(300, 300, seen=False)}


#: a submersion timer row exactly as the runs before typed trigger state wrote it (JSON)
OLD_ABSENT_ROW = {
    "camera": "pool",
    "zone": "water",
    "track": 1,
    "last_seen": T0 + 4.0,
    "deadline": T0 + 9.0,
    "x": 0.47,
    "y": 0.62,
    "person": None,
    "role": "child",
    "responsible": False,
    "name": None,
}


def test_a_timer_row_in_the_old_json_format_loads_and_fires_after_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "g.db"
    with Store(db) as store:  # what an older run left: its timer, under its run id
        old = StateChange("submersion", "t0:pool|water|old-run|1", OLD_ABSENT_ROW)
        store.rule_states.apply([old], time.time())
    with Store(db) as store:
        second = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-2"), store)
        fired = _play(second, Sim(t0=T0 + 6.0), lambda t: {}, 4)
        assert fired == [("submersion", pytest.approx(9.0, abs=0.11))]
        assert dict(store.rule_states.get("submersion")) == {}  # fired once, then gone


@pytest.mark.parametrize(
    ("load", "row"),
    [
        (AbsentEntry.from_json, OLD_ABSENT_ROW),
        (AbsentEntry.from_json, {**OLD_ABSENT_ROW, "name": "ana", "edge": "edge", "file": True}),
        (DwellEntry.from_json, {"since": T0, "fired": False, "x": 0.5, "y": 0.25}),
        (
            PostureEntry.from_json,
            {"start": T0, "reading": T0, "fired": True, "x": 0.1, "y": 0.9, "file": True},
        ),
        (OccupancyState.from_json, {"since": T0, "fired": False}),
        (CountDropState.from_json, {"expected": 3, "below": None}),
        (CountDropState.from_json, {"expected": 2, "below": T0 + 1.5}),
    ],
)
def test_stored_trigger_state_reads_back_and_writes_the_same_json(load, row) -> None:  # type: ignore[no-untyped-def]
    assert load(row).to_json() == row


def test_an_old_absent_row_without_optional_keys_still_loads() -> None:
    bare = {k: OLD_ABSENT_ROW[k] for k in ("camera", "zone", "track", "last_seen", "deadline")}
    entry = AbsentEntry.from_json({**bare, "x": 0.5, "y": 0.5})
    assert (entry.role, entry.enrolled_id, entry.edge, entry.who()) == (
        "unknown",
        None,
        None,
        "someone",
    )
    assert AbsentEntry.from_json({**OLD_ABSENT_ROW, "name": "ana"}).who() == "ana"


@pytest.mark.parametrize(
    ("down_until", "expected"),
    [
        (6.0, 8.9),  # back before the deadline: fires on time
        (20.0, 20.0),  # the deadline passed while down: fires at the first frame
    ],
)
def test_submersion_timer_survives_a_restart(
    tmp_path: Path, down_until: float, expected: float
) -> None:
    db = tmp_path / "g.db"
    with Store(db) as store:
        first = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-1"), store)
        assert _play(first, Sim(), _hidden_from(4), 5.5) == []  # lost at 4 s, timer pending
    with Store(db) as store:  # a new process: new run, new tracker, nobody in view
        second = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-2"), store)
        fired = _play(second, Sim(t0=T0 + down_until), lambda t: {}, 4)
        assert fired == [("submersion", pytest.approx(expected, abs=0.11))]
        assert len(store.event_log.find(rule_id="submersion")) == 1
        assert [d.status for d in store.outbox.find()] == ["sent"]
    with Store(db) as store:  # and once more: it does not fire twice
        third = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-3"), store)
        assert _play(third, Sim(t0=T0 + 30), lambda t: {}, 3) == []
        assert len(store.event_log.find()) == 1


def test_a_crash_before_the_commit_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    """The engine fired but the process died before writing: the timer is still stored,
    so the next run fires it — once."""
    db = tmp_path / "g.db"
    with Store(db) as store:
        first = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-1"), store)
        _play(first, Sim(), _hidden_from(4), 5.5)
        engine = first.engine
        sim = Sim(t0=T0 + 9)
        fired = engine.process(sim.step({}))  # fires, but is never committed
        assert [f.event.rule_id for f in fired] == ["submersion"]
    with Store(db) as store:
        assert store.event_log.find() == []
        second = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-2"), store)
        assert [r for r, _ in _play(second, Sim(t0=T0 + 10), lambda t: {}, 2)] == ["submersion"]
        assert len(store.event_log.find()) == 1


def test_a_reused_track_id_elsewhere_does_not_cancel_an_old_timer(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with Store(db) as store:
        _play(
            _dispatcher(_engine(tmp_path, store, SUBMERSION, "a"), store), Sim(), _hidden_from(4), 5
        )
    with Store(db) as store:  # track 1 of the new run is somebody on the deck
        second = _dispatcher(_engine(tmp_path, store, SUBMERSION, "b"), store)
        fired = _play(second, Sim(t0=T0 + 5), lambda t: {1: DECK}, 5)
        assert [r for r, _ in fired] == ["submersion"]


@pytest.mark.parametrize(
    ("text", "before", "after", "expected"),
    [
        # dwell: inside since 1 s; after the restart the same person (a new track at the
        # same place) keeps their start time: fires at 1 + 10
        (
            "triggers: [{kind: dwell, zones: water, for: 10s}]",
            lambda t: {1: P(60, 470)} if t < 1 else {1: WATER},
            lambda t: {7: WATER},
            [11.0],
        ),
        # the unsupervised child: alone since 0 s, grace 8 s
        (
            "triggers: [{kind: occupancy, zones: deck, children: '>= 1', adults: 0, for: 8s}]",
            lambda t: {1: P(120, 300, role="child")},
            lambda t: {4: P(120, 300, role="child")},
            [8.0],
        ),
        # a cooldown per zone: the entry at 1 s silences the one after the restart
        (
            "cooldown: 30s\n    cooldown_per: zone\n    triggers: [{kind: zone_enter, zones: water}]",
            lambda t: {1: P(60, 470)} if t < 1 else {1: WATER},
            lambda t: {2: P(60, 470)} if t < 7 else {2: WATER},
            [],
        ),
    ],
)
def test_waiting_state_survives_a_restart(
    tmp_path: Path, text: str, before, after, expected
) -> None:  # type: ignore[no-untyped-def]
    rules = f"rules:\n  - id: r\n    modes: [unsupervised]\n    {text}\n"
    db = tmp_path / "g.db"
    with Store(db) as store:
        fired_before = _play(
            _dispatcher(_engine(tmp_path, store, rules, "a"), store), Sim(), before, 5
        )
    with Store(db) as store:
        second = _dispatcher(_engine(tmp_path, store, rules, "b"), store)
        fired = _play(second, Sim(t0=T0 + 5), lambda t: after(t - 5), 10)
    expect_before = [t for t in expected if t < 5] if "cooldown" not in text else [1.0]
    assert [t for _, t in fired_before] == pytest.approx(expect_before, abs=0.11)
    assert [t for _, t in fired] == pytest.approx([t for t in expected if t >= 5], abs=0.11)


def test_person_down_survives_a_restart(tmp_path: Path) -> None:
    rules = "rules:\n  - id: down\n    triggers: [{kind: posture, state: lying, for: 10s}]\n"
    db = tmp_path / "g.db"

    def lying(track: int, since: float):  # type: ignore[no-untyped-def]
        return lambda ts: [PostureReading(track, Posture.LYING, since, 0.9)]

    with Store(db) as store:
        engine = _engine(tmp_path, store, rules, "a")
        assert run(engine, lambda t: {1: DECK}, 5, postures=lying(1, T0 + 1)) == []
        store.commit([], engine.drain_state())
    with Store(db) as store:  # the pose stage restarts too: "lying since" the restart
        engine = _engine(tmp_path, store, rules, "b")
        fired = run(engine, lambda t: {3: DECK}, 10, Sim(t0=T0 + 5), postures=lying(3, T0 + 5))
        assert fired == [("down", pytest.approx(6.0, abs=0.11))]  # 1 + 10 s, on the old clock
