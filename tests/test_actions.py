"""Actions end to end through the dispatcher: one SQLite transaction, then the side
effects — alerts sent, escalation to the next contact until acknowledged, a real local
command run, a clip request recorded, a mode switched."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
from rulesim import T0, P, Sim, rules_from

from guardian.alerts import ConsoleNotifier, LogNotifier, Outbox
from guardian.dispatch import Dispatcher
from guardian.modes import ModeManager
from guardian.rules import RuleContext, RuleEngine
from guardian.store import Store

WATER, OUT = P(300, 300), P(30, 470)


def _world(tmp_path: Path, actions: str) -> tuple[Dispatcher, Store, io.StringIO, Sim]:
    text = (
        "rules:\n  - id: entry\n    severity: critical\n"
        "    triggers: [{kind: zone_enter, zones: water}]\n"
        f"    actions:\n{actions}"
    )
    store = Store(tmp_path / "g.db")
    engine = RuleEngine(
        rules_from(tmp_path, text).rules,
        RuleContext(
            contacts=("owner", "neighbour"),
            timezone="Europe/Paris",
            review_url="http://127.0.0.1:8080",
        ),
    )
    out = io.StringIO()
    outbox = Outbox(store, [ConsoleNotifier(out), LogNotifier()])
    modes = ModeManager(store, clock=lambda: T0)
    return Dispatcher(engine, store, outbox, modes, out=out), store, out, Sim()


def _enter(d: Dispatcher, sim: Sim) -> str:
    d.handle(sim.step({1: OUT}))
    (event,) = d.handle(sim.step({1: WATER}))
    return event.event_id


def test_alert_to_every_contact_with_a_review_link(tmp_path: Path) -> None:
    d, store, out, sim = _world(tmp_path, "      - {kind: alert, channels: [console, log]}\n")
    event_id = _enter(d, sim)
    deliveries = store.outbox.find()
    assert {(x.channel, x.contact, x.status) for x in deliveries} == {
        (c, who, "sent") for c in ("console", "log") for who in ("owner", "neighbour")
    }
    text = out.getvalue()
    assert f"http://127.0.0.1:8080/events/{event_id}" in text
    assert "2027-01-15 09:00:00" in text  # the site's time zone (UTC+1)


def test_escalation_goes_to_the_next_contact_until_acknowledged(tmp_path: Path) -> None:
    d, store, out, sim = _world(
        tmp_path,
        "      - {kind: alert, contacts: [owner]}\n"
        "      - {kind: escalate, contacts: [owner, neighbour], after: 30s}\n",
    )
    event_id = _enter(d, sim)
    start = store.event_log.get(event_id).started_at  # type: ignore[union-attr]
    d.housekeeping(start + 29)
    assert [x.kind for x in store.outbox.find()] == ["alert"]
    d.housekeeping(start + 30)
    d.housekeeping(start + 60)
    steps = [(x.kind, x.contact) for x in store.outbox.find() if x.kind == "escalation"]
    assert steps == [("escalation", "owner"), ("escalation", "neighbour")]
    assert "NOT ACKNOWLEDGED" in out.getvalue()
    store.event_log.acknowledge(event_id, by="owner")
    d.housekeeping(start + 500)
    assert len(store.outbox.find()) == 3


def test_siren_runs_a_real_command_after_the_commit(tmp_path: Path) -> None:
    flag = tmp_path / "siren-was-here"
    script = tmp_path / "siren.py"
    script.write_text(f"open({str(flag)!r}, 'w').write('on')\n")
    d, store, _, sim = _world(
        tmp_path, f"      - {{kind: siren, command: [{sys.executable}, {script}], timeout: 20s}}\n"
    )
    _enter(d, sim)
    (thread,) = d.commands
    thread.join(timeout=20)
    assert flag.read_text() == "on"
    assert len(store.event_log.find()) == 1


def test_a_siren_command_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    from guardian.config import load_yaml
    from guardian.rules import load_rules

    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n  - id: s\n    triggers: [{kind: zone_enter, zones: water}]\n"
        "    actions: [{kind: siren, command: /no/such/siren}]\n"
    )
    rules = load_rules([load_yaml(path)], zones_by_camera={"pool": {"water"}}, contacts=[])
    (problem,) = rules.problems
    assert "not found or not executable" in problem.message and problem.line == 4


def test_record_clip_is_stored_with_the_event(tmp_path: Path) -> None:
    d, store, _, sim = _world(tmp_path, "      - {kind: record_clip, pre: 3s, post: 7s}\n")
    event_id = _enter(d, sim)
    (clip,) = store.clip_log.requests()
    started = store.event_log.get(event_id).started_at  # type: ignore[union-attr]
    assert (clip.event_id, clip.camera) == (event_id, "pool")
    assert (clip.start, clip.end) == pytest.approx((started - 3, started + 7))


def test_set_mode_switches_for_the_given_time(tmp_path: Path) -> None:
    d, store, _, sim = _world(tmp_path, "      - {kind: set_mode, mode: supervised, for: 30m}\n")
    # a switch to supervised needs a confirmed adult (an unknown never lowers protection)
    d.handle(sim.step({1: P(30, 470, role="adult")}))
    (event,) = d.handle(sim.step({1: P(300, 300, role="adult")}))
    event_id = event.event_id
    state = store.mode_log.latest()
    started = store.event_log.get(event_id).started_at  # type: ignore[union-attr]
    assert (state.mode, state.by, state.source) == ("supervised", "rule:entry", "rule")
    assert state.until == pytest.approx(started + 1800)
    assert d.engine.context.mode == "supervised"


def test_a_failing_channel_keeps_the_alert_for_later(tmp_path: Path) -> None:
    d, store, _, sim = _world(
        tmp_path, "      - {kind: alert, channels: [push], contacts: [owner]}\n"
    )
    _enter(d, sim)
    (delivery,) = store.outbox.find()
    assert delivery.status == "pending" and delivery.attempts == 1  # kept, retried later
    d.housekeeping(time.time() + 3600)
    assert store.outbox.find()[0].attempts == 2
