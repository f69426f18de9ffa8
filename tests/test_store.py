"""The SQLite event store: migrations, WAL, events, outbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from guardian.records import Event, HealthChange, HealthProblem, Severity
from guardian.store import MIGRATIONS, Store, migrate


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
        store.add_event(_event())
    with Store(path) as store:
        assert store.applied_migrations == []
        assert [e.event_id for e in store.events()] == ["e1"]


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
        store.add_event(_event("a", 10.0))
        store.add_event(_event("b", 20.0))
        assert [e.event_id for e in store.events(since=15.0)] == ["b"]
        (first, _) = store.events()
        assert first == _event("a", 10.0)


def test_events_survive_a_process_that_did_not_close(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    store = Store(path)
    store.add_event(_event())  # committed at once; no close()
    other = sqlite3.connect(path)
    assert other.execute("select count(*) from events").fetchone()[0] == 1


def test_outbox_deduplicates_and_retries(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        kw = dict(
            event_id=None,
            rule_id="r",
            kind="alert",
            severity="info",
            channel="console",
            contact="*",
        )
        first = store.enqueue_delivery(dedup_key="k", message="hi", **kw)
        assert first is not None
        assert store.enqueue_delivery(dedup_key="k", message="hi", **kw) is None
        store.mark_delivery(first.delivery_id, ok=False, error="down")
        (pending,) = store.deliveries("pending")
        assert pending.attempts == 1
        assert store.due_deliveries(now=0.0) == []  # backoff: not due yet
        store.mark_delivery(first.delivery_id, ok=True)
        assert [d.status for d in store.deliveries()] == ["sent"]


def test_rule_state_round_trip(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        store.put_state("r", "timer:3", {"deadline": 12.5})
        store.put_state("r", "timer:3", {"deadline": 13.0})
        assert dict(store.get_state("r")) == {"timer:3": {"deadline": 13.0}}


def test_watch_heartbeats_and_health_spans(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    with Store(path) as store:
        store.begin_watch("run1", "pool", 100.0)
        store.record_health(
            HealthChange("pool", HealthProblem.OFFLINE, 110.0, None, "refused"), "run1"
        )
        store.beat(
            "run1",
            "pool",
            120.0,
            last_frame=105.0,
            frames=10,
            fps=2.0,
            problems=[HealthProblem.OFFLINE],
        )
        (watch,) = store.latest_watch()
        assert (watch.run_id, watch.until, watch.ended, watch.problems) == (
            "run1",
            120.0,
            None,
            (HealthProblem.OFFLINE,),
        )
        assert store.health_spans(open_only=True)[0].detail == "refused"
    # run1 died without a clean stop; a new run closes its open problem at its last heartbeat
    with Store(path) as store:
        store.begin_watch("run2", "pool", 200.0)
        (span,) = store.health_spans()
        assert (span.problem, span.started, span.ended) == (HealthProblem.OFFLINE, 110.0, 120.0)
        store.record_health(HealthChange("pool", HealthProblem.TOO_DARK, 210.0, None), "run2")
        store.record_health(HealthChange("pool", HealthProblem.TOO_DARK, 210.0, 215.0), "run2")
        store.record_health(HealthChange("pool", HealthProblem.STALLED, 216.0, None), "run2")
        store.end_watch("run2", "pool", 230.0)  # a clean stop closes what is open
        assert [(s.problem, s.ended) for s in store.health_spans(since=205.0)] == [
            (HealthProblem.TOO_DARK, 215.0),
            (HealthProblem.STALLED, 230.0),
        ]
        assert store.health_spans(open_only=True) == []
        assert [w.run_id for w in store.latest_watch()] == ["run2"]
        assert [w.run_id for w in store.watch_spans(since=0.0, until=150.0)] == ["run1"]
