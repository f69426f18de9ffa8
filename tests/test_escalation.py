"""Escalation chains against a real SQLite file with a fixed clock: steps, acks, restarts."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from sqlfile import run_sql

from guardian.alerts import ConsoleNotifier, Outbox
from guardian.alerts.escalation import Escalator, escalation_key
from guardian.effects import Effects, EscalationRequest, Notification
from guardian.records import Event, Severity
from guardian.store import Delivery, Store
from guardian.vocab import Channel

T = 1_750_000_000.0  # when the event started


def _event(event_id: str = "e1") -> Event:
    return Event(
        event_id=event_id,
        rule_id="water",
        rule_alias="Someone in the water",
        camera="pool",
        zone="water",
        track_id=1,
        person_id=None,
        severity=Severity.CRITICAL,
        started_at=T,
        ended_at=None,
        message="person in the water",
        frame_index=0,
    )


def _escalate(
    store: Store,
    *,
    event_id: str = "e1",
    contacts: tuple[str, ...] = ("alice", "bob"),
    channels: tuple[str, ...] = ("console",),
    repeat: int = 0,
) -> None:
    """Store an event and its escalation in one commit, as the runner does."""
    request = EscalationRequest(
        event_id=event_id,
        rule_id="water",
        severity="critical",
        contacts=contacts,
        channels=channels,
        after=60.0,
        start=T,
        message="Someone in the water",
        repeat=repeat,
    )
    store.commit(events=[_event(event_id)], effects=Effects(escalations=[request]), now=T)


def _to(deliveries: list[Delivery]) -> list[tuple[str, str]]:
    return [(d.contact, d.channel) for d in deliveries]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "guardian.db")


def test_chain_of_two_contacts_one_minute_apart_until_acknowledged(store: Store) -> None:
    _escalate(store, repeat=1)  # without the ack, alice would be alerted again at +180
    escalator = Escalator(store)
    assert escalator.tick(T + 59) == []

    (first,) = escalator.tick(T + 60)
    assert (first.contact, first.channel, first.kind) == ("alice", "console", "escalation")
    assert (
        first.dedup_key
        == escalation_key(1, 0, "console", "alice")
        == "escalation:1:0:console:alice"
    )
    assert first.message == (
        "NOT ACKNOWLEDGED after 1 min: Someone in the water — acknowledge: guardian ack e1"
    )
    assert (first.event_id, first.rule_id, first.severity) == ("e1", "water", "critical")
    assert escalator.tick(T + 119) == []

    (second,) = escalator.tick(T + 120)
    assert (second.contact, second.message.split(":")[0]) == ("bob", "NOT ACKNOWLEDGED after 2 min")

    assert store.event_log.acknowledge("e1", by="alice", now=T + 130)
    assert escalator.tick(T + 180) == []
    assert escalator.tick(T + 10_000) == []
    (esc,) = store.prompt_log.escalations()
    assert (esc.status, esc.step) == ("acknowledged", 2)
    assert [d.contact for d in store.outbox.find()] == ["alice", "bob"]


def test_every_channel_of_the_step_is_queued(store: Store) -> None:
    _escalate(store, channels=("console", "sms"))
    queued = Escalator(store).tick(T + 60)
    assert _to(queued) == [("alice", "console"), ("alice", "sms")]
    assert {d.dedup_key for d in queued} == {
        "escalation:1:0:console:alice",
        "escalation:1:0:sms:alice",
    }


def test_the_chain_ends_exhausted_after_the_last_contact(store: Store) -> None:
    _escalate(store)
    escalator = Escalator(store)
    assert _to(escalator.tick(T + 60)) == [("alice", "console")]
    assert _to(escalator.tick(T + 120)) == [("bob", "console")]
    (esc,) = store.prompt_log.escalations()
    assert (esc.status, esc.step) == ("exhausted", 2)
    assert escalator.tick(T + 180) == []
    assert escalator.tick(T + 100_000) == []


def test_repeat_goes_through_the_chain_again(store: Store) -> None:
    _escalate(store, repeat=1)
    escalator = Escalator(store)
    sent = [_to(escalator.tick(T + 60 * n)) for n in range(1, 7)]
    assert sent == [
        [("alice", "console")],
        [("bob", "console")],
        [("alice", "console")],
        [("bob", "console")],
        [],
        [],
    ]
    keys = [d.dedup_key for d in store.outbox.find()]
    assert keys == [
        f"escalation:1:{step}:console:{who}" for step, who in enumerate(["alice", "bob"] * 2)
    ]
    assert "after 4 min" in store.outbox.find()[-1].message
    assert store.prompt_log.escalations()[0].status == "exhausted"


def test_a_restart_in_the_middle_resumes_without_sending_a_step_twice(tmp_path: Path) -> None:
    path = tmp_path / "guardian.db"
    with Store(path) as first:
        _escalate(first)
        assert _to(Escalator(first).tick(T + 60)) == [("alice", "console")]
    # the process died and came back: a new store on the same file
    with Store(path) as again:
        escalator = Escalator(again)
        assert escalator.tick(T + 60) == []  # step 0 was done: not sent again
        assert escalator.tick(T + 90) == []
        assert _to(escalator.tick(T + 120)) == [("bob", "console")]
        assert [d.contact for d in again.outbox.find()] == ["alice", "bob"]


def test_the_same_tick_twice_queues_once(store: Store) -> None:
    _escalate(store)
    escalator = Escalator(store)
    assert len(escalator.tick(T + 60)) == 1
    assert escalator.tick(T + 60) == []
    assert len(store.outbox.find()) == 1


def test_a_step_already_in_the_outbox_is_not_queued_again(store: Store) -> None:
    """If the outbox already holds a step's key, the step advances without a duplicate."""
    _escalate(store, channels=("console", "sms"))
    key = escalation_key(1, 0, "console", "alice")
    note = Notification(
        key, "e1", "water", Severity.CRITICAL, Channel.CONSOLE, "alice", "sent before", "escalation"
    )
    store.outbox.enqueue(note, time.time())
    assert _to(Escalator(store).tick(T + 60)) == [("alice", "sms")]
    assert [d.dedup_key for d in store.outbox.find()].count(key) == 1
    assert store.prompt_log.escalations()[0].step == 1


def test_an_event_acknowledged_elsewhere_stops_the_chain(store: Store) -> None:
    """An acknowledged event ends its escalation even if the row was not updated."""
    _escalate(store)
    run_sql(store.path, "update events set acknowledged_at = ? where id = 'e1'", [T + 10])
    assert Escalator(store).tick(T + 60) == []
    assert store.prompt_log.escalations()[0].status == "acknowledged"
    assert store.outbox.find() == []


def test_one_step_per_tick_when_late_with_the_real_elapsed_time(store: Store) -> None:
    _escalate(store)
    escalator = Escalator(store)
    (late,) = escalator.tick(T + 200)  # steps 0 and 1 are both due: one per tick
    assert late.contact == "alice"
    assert late.message.startswith("NOT ACKNOWLEDGED after 3 min 20 s:")
    (next_one,) = escalator.tick(T + 201)
    assert next_one.contact == "bob"


def test_escalations_of_different_events_are_independent(store: Store) -> None:
    _escalate(store, event_id="e1")
    _escalate(store, event_id="e2", contacts=("carol",))
    store.event_log.acknowledge("e1", by="alice", now=T + 30)
    queued = Escalator(store).tick(T + 60)
    assert [(d.event_id, d.contact) for d in queued] == [("e2", "carol")]


def test_queued_steps_are_sent_through_the_outbox(store: Store) -> None:
    _escalate(store)
    queued = Escalator(store).tick(T + 60)
    stream = io.StringIO()
    assert Outbox(store, [ConsoleNotifier(stream)]).flush(T + 60) == len(queued) == 1
    assert (
        "ALERT [critical] NOT ACKNOWLEDGED after 1 min: Someone in the water" in stream.getvalue()
    )
    assert [d.status for d in store.outbox.find()] == ["sent"]


def test_the_runner_gives_escalations_review_and_share_links(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`guardian run` wires the review page into escalations: a local contact gets the
    event's page, a remote one a share link for a critical event only."""
    from reviewsite import site_file

    from guardian.app import build_runner, site_rules
    from guardian.config import load_site

    monkeypatch.setenv("GUARDIAN_REVIEW_SECRET", "x" * 32)
    bundle = load_site(
        site_file(
            tmp_path,
            review="  url: https://guardian.example.org\n  secret_env: GUARDIAN_REVIEW_SECRET\n",
        )
    )
    with Store(bundle.database_path) as store:
        runner = build_runner(bundle, site_rules(bundle), store, out=io.StringIO())
        make = runner.dispatcher.escalator.link_maker
        assert make is not None
        assert make("e1", "alex", "critical", T) == "https://guardian.example.org/events/e1"
        share = make("e1", "gran", "critical", T)
        assert share is not None and share.startswith("https://guardian.example.org/share/")
        assert make("e1", "gran", "warning", T) is None  # remote: emergencies only
