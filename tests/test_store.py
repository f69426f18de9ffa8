"""The SQLite event store: migrations, WAL, events, outbox."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
import sqlite_utils

from guardian.effects import Notification, StateChange
from guardian.records import Event, HealthChange, HealthProblem, Severity
from guardian.store import MIGRATIONS, Store, migrate
from guardian.vocab import Channel


def _event(event_id: str = "e1", started: float = 100.0) -> Event:
    return Event(
        event_id=event_id,
        rule_id="r",
        rule_alias="Rule",
        camera="cam",
        zone="water",
        track_id=3,
        person_id=None,
        severity=Severity.CRITICAL,
        started_at=started,
        ended_at=None,
        message="m",
        frame_index=7,
    )


def test_migrations_on_a_fresh_file(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Store(path) as store:
        assert store.applied_migrations == [name for name, _ in MIGRATIONS]
    db = sqlite_utils.Database(path)
    assert {"events", "clips", "mode_changes", "alert_deliveries", "rule_state"} <= set(
        db.table_names()
    )
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    cols = set(db["events"].columns_dict)
    assert {"id", "rule_id", "camera", "zone", "track_id", "person_id", "started_at"} <= cols
    assert {"ended_at", "severity", "status"} <= cols


def test_migrations_again_on_an_existing_file_keep_data(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Store(path) as store:
        store.event_log.add(_event(), time.time())
    with Store(path) as store:
        assert store.applied_migrations == []
        assert [e.event_id for e in store.event_log.find()] == ["e1"]


def test_a_new_migration_applies_once_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Store(path).close()
    db = sqlite_utils.Database(path)
    extra = (*MIGRATIONS, ("999_test", lambda d: d["extra"].create({"x": int})))
    assert migrate(db, extra) == ["999_test"]
    assert migrate(db, extra) == []
    assert "extra" in db.table_names()


def test_a_failing_migration_leaves_nothing_half_done(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    Store(path).close()
    db = sqlite_utils.Database(path)

    def broken(d: sqlite_utils.Database) -> None:
        d.execute("CREATE TABLE half (x INTEGER)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        migrate(db, (*MIGRATIONS, ("998_broken", broken)))
    names = {r["name"] for r in db["_sqlite_migrations"].rows}
    assert "998_broken" not in names
    assert "half" not in db.table_names()


def test_events_round_trip_and_filter(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        store.event_log.add(_event("a", 10.0), time.time())
        store.event_log.add(_event("b", 20.0), time.time())
        assert [e.event_id for e in store.event_log.find(since=15.0)] == ["b"]
        (first, _) = store.event_log.find()
        assert first == _event("a", 10.0)


def test_events_survive_a_process_that_did_not_close(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = Store(path)
    store.event_log.add(_event(), time.time())  # committed at once; no close()
    other = sqlite3.connect(path)
    assert other.execute("select count(*) from events").fetchone()[0] == 1


def test_outbox_deduplicates_and_retries(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        note = Notification("k", None, "r", Severity.INFO, Channel.CONSOLE, "*", "hi")
        first = store.outbox.enqueue(note, time.time())
        assert first is not None
        assert store.outbox.enqueue(note, time.time()) is None
        store.outbox.mark(first.delivery_id, ok=False, error="down")
        (pending,) = store.outbox.find("pending")
        assert pending.attempts == 1
        assert store.outbox.find("pending", due_by=0.0) == []  # backoff: not due yet
        store.outbox.mark(first.delivery_id, ok=True)
        assert [d.status for d in store.outbox.find()] == ["sent"]


def test_rule_state_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        store.rule_states.apply([StateChange("r", "timer:3", {"deadline": 12.5})], time.time())
        store.rule_states.apply([StateChange("r", "timer:3", {"deadline": 13.0})], time.time())
        assert dict(store.rule_states.get("r")) == {"timer:3": {"deadline": 13.0}}


def test_watch_heartbeats_and_health_spans(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Store(path) as store:
        store.camera_health.begin_watch("run1", "pool", 100.0)
        store.camera_health.record(
            HealthChange("pool", HealthProblem.OFFLINE, 110.0, None, "refused"), "run1"
        )
        store.camera_health.beat(
            "run1",
            "pool",
            120.0,
            last_frame=105.0,
            frames=10,
            fps=2.0,
            problems=[HealthProblem.OFFLINE],
        )
        (watch,) = store.camera_health.latest_watch()
        assert (watch.run_id, watch.until, watch.ended, watch.problems) == (
            "run1",
            120.0,
            None,
            (HealthProblem.OFFLINE,),
        )
        assert store.camera_health.spans(open_only=True)[0].detail == "refused"
    # run1 died without a clean stop; a new run closes its open problem at its last heartbeat
    with Store(path) as store:
        store.camera_health.begin_watch("run2", "pool", 200.0)
        (span,) = store.camera_health.spans()
        assert (span.problem, span.started, span.ended) == (HealthProblem.OFFLINE, 110.0, 120.0)
        store.camera_health.record(
            HealthChange("pool", HealthProblem.TOO_DARK, 210.0, None), "run2"
        )
        store.camera_health.record(
            HealthChange("pool", HealthProblem.TOO_DARK, 210.0, 215.0), "run2"
        )
        store.camera_health.record(HealthChange("pool", HealthProblem.STALLED, 216.0, None), "run2")
        store.camera_health.end_watch("run2", "pool", 230.0)  # a clean stop closes what is open
        assert [(s.problem, s.ended) for s in store.camera_health.spans(since=205.0)] == [
            (HealthProblem.TOO_DARK, 215.0),
            (HealthProblem.STALLED, 230.0),
        ]
        assert store.camera_health.spans(open_only=True) == []
        assert [w.run_id for w in store.camera_health.latest_watch()] == ["run2"]
        assert [w.run_id for w in store.camera_health.watch_spans(since=0.0, until=150.0)] == [
            "run1"
        ]
