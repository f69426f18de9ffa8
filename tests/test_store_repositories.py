"""The store's pieces, one by one: the database's transactions and each repository's
own rules (what the feature tests do not reach)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlfile import run_sql

from guardian.effects import (
    ClipRequest,
    Effects,
    EscalationRequest,
    ModeRequest,
    Notification,
    StateChange,
)
from guardian.records import Event, HealthChange, HealthProblem, Severity
from guardian.store import PersonRow, PersonSample, Store
from guardian.vocab import Channel, EscalationStatus, EventStatus, Mode, Role


def _event(event_id: str, severity: Severity = Severity.CRITICAL, camera: str = "pool") -> Event:
    return Event(
        event_id=event_id,
        rule_id="r",
        rule_alias="Rule",
        camera=camera,
        zone="water",
        track_id=1,
        person_id=None,
        severity=severity,
        started_at=100.0,
        ended_at=None,
        message="m",
        frame_index=0,
    )


def _note(key: str, event_id: str, kind: str = "alert") -> Notification:
    return Notification(key, event_id, "r", Severity.CRITICAL, Channel.SMS, "gran", "m", kind)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "g.db")


# -- database -------------------------------------------------------------------------
def test_a_commit_that_fails_late_leaves_nothing_of_its_early_writes(store: Store) -> None:
    """Repository writes inside ``commit`` join its one transaction: a clip request for an
    unknown event (a foreign key) fails after the event and its alert were written, and
    neither is left behind."""
    effects = Effects()
    effects.notify(_note("k1", "e1"))
    effects.record_clip(ClipRequest("no-such-event", "pool", 0.0, 1.0))
    with pytest.raises(sqlite3.IntegrityError):
        store.commit([_event("e1")], [StateChange("r", "k", 1)], effects, now=100.0)
    assert store.event_log.find() == []
    assert store.outbox.find() == []
    assert store.rule_states.load() == {}
    store.commit([_event("e1")], effects=Effects(), now=100.0)  # the store still works
    assert [e.event_id for e in store.event_log.find()] == ["e1"]


def test_a_write_transaction_holds_other_processes_writes_back(store: Store) -> None:
    """BEGIN IMMEDIATE: from the start of the block, another connection cannot write."""
    with store.write_transaction():
        other = sqlite3.connect(store.path, timeout=0.0)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("insert into rule_state values ('x', 'y', '1', 0)")
        other.close()
    run_sql(store.path, "insert into rule_state values ('x', 'y', '1', 0)")
    assert store.rule_states.load() == {"x": {"y": 1}}


def test_patience_is_per_thread(store: Store) -> None:
    """A thread that asked for a short wait does not shorten another thread's."""
    blocker = sqlite3.connect(store.path)
    blocker.execute("BEGIN IMMEDIATE")
    waited: dict[str, BaseException | None] = {}

    def write(name: str, patience: float | None) -> None:
        store.set_patience(patience)
        try:
            store.rule_states.apply([StateChange("r", name, 1)], time.time())
            waited[name] = None
        except sqlite3.OperationalError as exc:
            waited[name] = exc

    quick = threading.Thread(target=write, args=("quick", 0.05))
    quick.start()
    quick.join()
    slow = threading.Thread(target=write, args=("slow", None))  # the default: 30 s
    slow.start()
    slow.join(timeout=0.5)
    assert slow.is_alive()  # still waiting for the blocker
    blocker.rollback()
    blocker.close()
    slow.join(timeout=10)
    assert isinstance(waited["quick"], sqlite3.OperationalError)
    assert waited["slow"] is None
    assert store.rule_states.load() == {"r": {"slow": 1}}


# -- events -----------------------------------------------------------------------------
def test_the_first_review_is_kept_and_an_acknowledged_event_stays_acknowledged(
    store: Store,
) -> None:
    store.commit([_event("e1"), _event("e2")], now=100.0)
    store.event_log.acknowledge("e2", by="gran", now=110.0)
    assert store.event_log.mark_reviewed("e1", by="alex", now=120.0)
    assert store.event_log.mark_reviewed("e1", by="sam", now=130.0)
    assert store.event_log.mark_reviewed("e2", by="sam", now=130.0)
    assert not store.event_log.mark_reviewed("nope", by="sam", now=130.0)
    first, second = store.event_log.reviewed()
    assert (first.reviewed_by, first.reviewed_at, first.event.status) == (
        "alex",
        120.0,
        EventStatus.REVIEWED,
    )
    assert second.event.status == EventStatus.ACKNOWLEDGED
    assert [r.event.event_id for r in store.event_log.reviewed(unreviewed=True)] == []


# -- clips ------------------------------------------------------------------------------
def test_retention_rows_are_written_clips_with_their_events_weight(store: Store) -> None:
    effects = Effects()
    for event_id in ("crit", "warn", "acked", "pending"):
        effects.record_clip(ClipRequest(event_id, "pool", 0.0, 4.0))
    events = [
        _event("crit"),
        _event("warn", Severity.WARNING),
        _event("acked", Severity.WARNING),
        _event("pending"),
    ]
    store.commit(events, effects=effects, now=100.0)
    store.event_log.acknowledge("acked", by="gran", now=110.0)
    written = [c.clip_id for c in store.clip_log.find() if not c.clip_id.startswith("pending")]
    store.clip_log.update(written, status="written", path="x.mp4")
    rows = {r.clip.event_id: (r.critical, r.reviewed) for r in store.clip_log.retention_rows()}
    assert rows == {"crit": (True, False), "warn": (False, False), "acked": (False, True)}


# -- outbox -----------------------------------------------------------------------------
def test_the_latest_unacknowledged_alert_of_a_contact(store: Store) -> None:
    effects = Effects()
    for key, event_id, kind in [
        ("a1", "e1", "alert"),
        ("a2", "e2", "escalation"),
        ("p3", "e3", "prompt"),  # not an alert: an 'ACK' cannot mean it
    ]:
        effects.notify(_note(key, event_id, kind))
    store.commit([_event("e1"), _event("e2"), _event("e3")], effects=effects, now=100.0)
    outbox = store.outbox
    assert outbox.latest_unacknowledged_alert("gran") is None  # nothing went out yet
    for d in outbox.find():
        outbox.mark(d.delivery_id, ok=True, now=101.0 + d.delivery_id)
    assert outbox.latest_unacknowledged_alert("gran") == "e2"
    store.event_log.acknowledge("e2", by="gran", now=110.0)
    assert outbox.latest_unacknowledged_alert("gran") == "e1"
    assert outbox.latest_unacknowledged_alert("alex") is None


# -- modes ------------------------------------------------------------------------------
def test_mode_changes_record_the_previous_mode_and_only_supervised_ends(store: Store) -> None:
    modes = store.mode_log
    assert modes.latest().mode == Mode.UNSUPERVISED and modes.changes() == []
    supervised = modes.add(ModeRequest(Mode.SUPERVISED, duration=600.0, by="alex"), 100.0)
    assert (supervised.mode, supervised.until) == (Mode.SUPERVISED, 700.0)
    back = modes.add(ModeRequest(Mode.UNSUPERVISED, until=999.0), 200.0)
    assert back.until is None
    assert [s.mode for s in modes.changes()] == [Mode.UNSUPERVISED, Mode.SUPERVISED]
    rows = run_sql(store.path, "select previous from mode_changes order by id")
    assert rows == [("unsupervised",), ("supervised",)]


# -- prompts and escalations ------------------------------------------------------------
def test_escalation_progress_and_stop(store: Store) -> None:
    effects = Effects()
    for event_id in ("e1", "e2"):
        effects.escalate(
            EscalationRequest(
                event_id, "r", Severity.CRITICAL, ("a", "b"), ("sms",), 60.0, 100.0, "m"
            )
        )
    effects.escalate(
        EscalationRequest("e1", "r", Severity.CRITICAL, (), ("sms",), 60.0, 100.0, "m")
    )
    store.commit([_event("e1"), _event("e2")], effects=effects, now=100.0)
    log = store.prompt_log
    first, second = log.escalations()  # a chain with no contacts is not kept
    log.update_escalation(first.escalation_id, step=1, due_at=220.0)
    log.update_escalation(second.escalation_id, status=EscalationStatus.EXHAUSTED)
    log.stop_escalations("e1")
    log.stop_escalations("e2")  # exhausted: stays so
    after = {e.event_id: (e.step, e.due_at, e.status) for e in log.escalations()}
    assert after == {
        "e1": (1, 220.0, EscalationStatus.ACKNOWLEDGED),
        "e2": (0, 160.0, EscalationStatus.EXHAUSTED),
    }
    assert log.escalations("pending", due_by=1e9) == []


# -- people -----------------------------------------------------------------------------
def test_a_person_is_stored_with_exactly_their_latest_samples(store: Store) -> None:
    emb = (np.arange(4) / 3).astype(np.float32)
    first = PersonRow(
        "ana",
        "Ana",
        Role.ADULT,
        False,
        10.0,
        (PersonSample("a.jpg", embedding=emb), PersonSample("b.jpg", photo=b"\xff\xd8")),
    )
    store.people.replace(first)
    again = PersonRow("ana", "Ana", Role.CHILD, True, 20.0, (PersonSample("c.jpg", torso=emb),))
    store.people.replace(again)
    (ana,) = store.people.all()
    assert (ana.role, ana.responsible, ana.enrolled_at) == ("child", True, 20.0)
    (sample,) = ana.samples
    assert sample.source == "c.jpg" and sample.embedding is None and sample.photo is None
    assert sample.torso is not None and sample.torso.dtype == np.float32
    assert np.array_equal(sample.torso, emb)
    assert run_sql(store.path, "select count(*) from person_samples") == [(1,)]
    assert store.people.remove("ana") and not store.people.remove("ana")
    assert store.people.get("ana") is None
    assert run_sql(store.path, "select count(*) from person_samples") == [(0,)]


# -- rule state -------------------------------------------------------------------------
def test_a_state_change_without_a_value_deletes_only_its_key(store: Store) -> None:
    store.commit(state=[StateChange("r", "a", [1, 2]), StateChange("r", "b", {"x": None})])
    store.commit(state=[StateChange("s", "a", "kept")])
    store.commit(state=[StateChange("r", "a", None), StateChange("r", "never", None)])
    assert store.rule_states.load() == {"r": {"b": {"x": None}}, "s": {"a": "kept"}}


# -- camera health ----------------------------------------------------------------------
def test_a_new_run_closes_only_its_own_cameras_leftovers(store: Store) -> None:
    """A run that died left problems open on two cameras; a new run watching one camera
    closes that camera's spans only (the other is still unknown until it is watched)."""
    health = store.camera_health
    for camera in ("pool", "gate"):
        health.begin_watch("old", camera, 100.0)
        health.record(HealthChange(camera, HealthProblem.STALLED, 105.0, None), "old")
        health.beat("old", camera, 110.0, last_frame=104.0, frames=5, fps=1.0)
    health.begin_watch("new", "pool", 200.0)
    spans = {s.camera: s.ended for s in health.spans()}
    assert spans == {"pool": 110.0, "gate": None}
    assert [(w.camera, w.run_id) for w in health.latest_watch()] == [
        ("gate", "old"),
        ("pool", "new"),
    ]


# -- access: review sessions, inbound messages ------------------------------------------
def test_review_sessions_end_on_logout_and_expiry_and_old_ones_are_pruned(store: Store) -> None:
    access = store.access_log
    access.add_review_session("s1", "alex", created_at=100.0, expires_at=200.0)
    access.add_review_session("s2", "sam", created_at=100.0, expires_at=1000.0)
    assert access.review_session_active("s1", 150.0)
    assert not access.review_session_active("s1", 200.0)  # expired
    assert access.revoke_review_session("s2", 300.0)
    assert not access.revoke_review_session("s2", 301.0)  # already ended
    assert not access.review_session_active("s2", 302.0)
    access.add_review_session("s3", "alex", created_at=300.0 + 86400.0 + 1, expires_at=1e12)
    assert run_sql(store.path, "select id from review_sessions") == [("s3",)]


def test_an_inbound_message_is_handled_once_unless_handling_failed(store: Store) -> None:
    access = store.access_log
    assert access.claim_inbound_message("SM1", sender="+331", now=1.0)
    assert not access.claim_inbound_message("SM1", sender="+331", now=2.0)  # a replay
    access.forget_inbound_message("SM1")  # handling failed: Twilio will retry
    assert access.claim_inbound_message("SM1", sender="+331", now=3.0)
