"""The rule path: registry, validation with file:line, zone_enter, conditions, cooldown,
broken rules disabled while the others run, alerts through the outbox."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from pydantic import BaseModel, ConfigDict

from guardian.alerts import ConsoleNotifier, Outbox
from guardian.config import load_yaml
from guardian.effects import Effects
from guardian.records import Observation, TransitionKind, ZoneTransition
from guardian.rules import Notification, RuleContext, RuleEngine, RuleSet, load_rules
from guardian.rules.actions import AlertAction, AlertConfig
from guardian.rules.conditions import ModeConfig
from guardian.rules.config import RuleConfig, rule_model
from guardian.rules.registry import Registry, RegistryError
from guardian.rules.triggers import ZoneEnter, ZoneEnterConfig
from guardian.store import Store
from guardian.vocab import Mode

ZONES = {"pool": {"water", "deck"}, "gate": {"garden_gate"}}


def _rules(tmp_path: Path, text: str, name: str = "r.yaml") -> RuleSet:
    path = tmp_path / name
    path.write_text(text)
    return load_rules([load_yaml(path)], zones_by_camera=ZONES, contacts=["owner"])


def _obs(
    camera: str = "pool",
    *edges: tuple[str, int, TransitionKind],
    ts: float = 1_700_000_000.0,
    index: int = 0,
) -> Observation:
    return Observation(
        camera=camera,
        frame_index=index,
        timestamp=ts,
        pts=0.0,
        width=640,
        height=480,
        tracks=(),
        presences=(),
        transitions=tuple(ZoneTransition(camera, z, z, t, k, ts) for z, t, k in edges),
        counts=(),
    )


ENTRY = """
rules:
  - id: entry
    alias: Pool entry
    severity: critical
    cameras: [pool]
    cooldown: 10s
    triggers:
      - kind: zone_enter
        zones: water
    actions:
      - kind: alert
        channels: [console]
        contacts: [owner]
        message: "{alias}: {person} in {zone}"
"""


def test_registry_rejects_duplicates_and_unknown_kinds() -> None:
    class Cfg(BaseModel):
        model_config = ConfigDict(extra="forbid")
        kind: Literal["x"]

    reg: Registry[object] = Registry("trigger")
    reg.register("x", Cfg, lambda c: c, "x")
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("x", Cfg, lambda c: c, "x")
    with pytest.raises(RegistryError, match="unknown trigger kind 'y'"):
        reg.get("y")


def test_registry_builds_each_kind_from_its_own_config_model() -> None:
    class X(BaseModel):
        kind: Literal["x"]

    class Y(BaseModel):
        kind: Literal["y"]

    reg: Registry[str] = Registry("action")
    reg.register("x", X, lambda c: f"built {c.kind}", "x")
    assert reg.build(X(kind="x")) == "built x"
    assert reg.of(X(kind="x")).name == "x"
    with pytest.raises(RegistryError, match="Y is not the config of any action kind"):
        reg.build(Y(kind="y"))
    with pytest.raises(RegistryError, match="its config needs kind: Literal\\['y'\\]"):
        reg.register("y", X, lambda c: "", "y")  # one model, one kind
    with pytest.raises(RegistryError, match="is built from X, not Y"):
        reg.get("x").make(Y(kind="y"))


def test_a_rule_config_holds_each_entry_as_its_kinds_model(tmp_path: Path) -> None:
    config = rule_model().model_validate(
        {
            "id": "r",
            "triggers": [{"kind": "zone_enter", "zones": "water"}],
            "conditions": [{"kind": "mode", "mode": "unsupervised"}],
            "actions": [{"kind": "alert"}],
        }
    )
    assert isinstance(config, RuleConfig)
    entries = (*config.triggers, *config.conditions, *config.actions)
    assert [type(e) for e in entries] == [ZoneEnterConfig, ModeConfig, AlertConfig]
    (rule,) = _rules(tmp_path, ENTRY).rules
    assert isinstance(rule.triggers[0], ZoneEnter)
    assert isinstance(rule.actions[0], AlertAction)
    assert rule.kinds == ("zone_enter",)


def test_zone_enter_fires_once_per_person_with_cooldown(tmp_path: Path) -> None:
    rules = _rules(tmp_path, ENTRY)
    assert rules.problems == ()
    engine = RuleEngine(rules.rules)
    enter = ("water", 1, TransitionKind.ENTER)
    t0 = 1_700_000_000.0
    table = [
        (_obs("pool", enter, ts=t0), 1),  # first entry
        (_obs("pool", ("water", 1, TransitionKind.LEAVE), ts=t0 + 2), 0),  # leave: not an entry
        (_obs("pool", enter, ts=t0 + 5), 0),  # again within the 10 s cooldown
        (_obs("pool", ("water", 2, TransitionKind.ENTER), ts=t0 + 6), 1),  # someone else
        (_obs("pool", ("deck", 3, TransitionKind.ENTER), ts=t0 + 7), 0),  # other zone
        (_obs("gate", ("water", 4, TransitionKind.ENTER), ts=t0 + 8), 0),  # other camera
        (_obs("pool", enter, ts=t0 + 11), 1),  # cooldown over
    ]
    fired = [len(engine.process(obs)) for obs, _ in table]
    assert fired == [n for _, n in table]
    event = engine.process(_obs("pool", ("water", 9, TransitionKind.ENTER), ts=t0 + 30))[0].event
    assert (event.rule_id, event.camera, event.zone, event.track_id) == (
        "entry",
        "pool",
        "water",
        9,
    )
    assert event.severity.value == "critical" and event.started_at == t0 + 30


def test_modes_gate_rules(tmp_path: Path) -> None:
    rules = _rules(tmp_path, ENTRY.replace("cooldown: 10s", "modes: [unsupervised]"))
    enter = _obs("pool", ("water", 1, TransitionKind.ENTER))
    assert RuleEngine(rules.rules, RuleContext(mode=Mode.SUPERVISED)).process(enter) == []
    assert len(RuleEngine(rules.rules, RuleContext(mode=Mode.UNSUPERVISED)).process(enter)) == 1


@pytest.mark.parametrize(
    ("local", "fires"),
    [("23:30", True), ("03:00", True), ("06:00", False), ("12:00", False), ("21:59", False)],
)
def test_time_condition_spans_midnight(tmp_path: Path, local: str, fires: bool) -> None:
    text = ENTRY.replace(
        "    actions:",
        '    conditions:\n      - {kind: time, after: "22:00", before: "06:00"}\n    actions:',
    )
    rules = _rules(tmp_path, text)
    assert rules.problems == ()
    h, m = map(int, local.split(":"))
    ts = dt.datetime(2026, 11, 23, h, m, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    engine = RuleEngine(rules.rules, RuleContext(timezone="Europe/Paris"))
    assert bool(engine.process(_obs("pool", ("water", 1, TransitionKind.ENTER), ts=ts))) is fires


@pytest.mark.parametrize(
    ("snippet", "replace", "line", "words"),
    [
        ("        zones: water", "        zones: pool", 10, "unknown zone 'pool'"),
        ("      - kind: zone_enter", "      - kind: zone_entr", 9, "zone_entr"),
        ("    cooldown: 10s", "    cooldown: soon", 7, "not a duration"),
        ("        contacts: [owner]", "        contacts: [nobody]", 14, "unknown contact 'nobody'"),
        ("    cameras: [pool]", "    cameras: [pol]", 6, "unknown camera 'pol'"),
        ('        message: "{alias}: {person} in {zone}"', '        message: "{who}"', 15, "{who}"),
        ("    severity: critical", "    severity: urgent", 5, "severity"),
    ],
)
def test_bad_rules_are_named_with_file_and_line(
    tmp_path: Path, snippet: str, replace: str, line: int, words: str
) -> None:
    assert snippet in ENTRY
    good = ENTRY.replace("id: entry", "id: other")
    rules = _rules(tmp_path, ENTRY.replace(snippet, replace) + good.split("rules:\n", 1)[1])
    (problem,) = rules.problems
    assert problem.file.name == "r.yaml"
    assert problem.line == line, str(problem)
    assert words in problem.message and "rule 'entry'" in problem.message
    assert problem.rule_id == "entry"
    assert [r.rule_id for r in rules.rules] == ["other"]  # the good rule still loads


def test_duplicate_rule_ids_across_files(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(ENTRY)
    (tmp_path / "b.yaml").write_text(ENTRY)
    rules = load_rules(
        [load_yaml(tmp_path / "a.yaml"), load_yaml(tmp_path / "b.yaml")],
        zones_by_camera=ZONES,
        contacts=["owner"],
    )
    (problem,) = rules.problems
    assert problem.file.name == "b.yaml" and "duplicate rule id 'entry'" in problem.message
    assert len(rules.rules) == 1


def test_a_rule_that_raises_is_disabled_and_the_others_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rules = _rules(
        tmp_path, ENTRY + ENTRY.replace("id: entry", "id: second").split("rules:\n", 1)[1]
    )
    broken = rules.rules[0]

    class Boom:
        def fire(self, view: object) -> list[object]:
            raise ZeroDivisionError("bad rule")

    broken.triggers = [Boom()]  # type: ignore[list-item]
    engine = RuleEngine(rules.rules)
    out = engine.process(_obs("pool", ("water", 1, TransitionKind.ENTER)))
    assert [f.event.rule_id for f in out] == ["second"]
    assert not broken.enabled and "ZeroDivisionError" in (broken.disabled_reason or "")
    assert "rule 'entry'" in caplog.text and "disabled" in caplog.text
    out = engine.process(_obs("pool", ("water", 2, TransitionKind.ENTER)))
    assert [f.event.rule_id for f in out] == ["second"]


def test_alert_action_goes_through_the_outbox_once(tmp_path: Path) -> None:
    import io

    rules = _rules(tmp_path, ENTRY)
    out = io.StringIO()
    with Store(tmp_path / "g.db") as store:
        outbox = Outbox(store, [ConsoleNotifier(out)])
        (firing,) = RuleEngine(rules.rules).process(
            _obs("pool", ("water", 5, TransitionKind.ENTER))
        )
        for _ in range(2):  # the same event twice: de-duplicated
            effects = Effects()
            for action in firing.actions:
                action.run(firing.event, effects, RuleContext())
            for delivery in store.commit([firing.event], [], effects):
                outbox.send(delivery)
        assert out.getvalue().count("ALERT [critical] Pool entry: someone in water") == 1
        (delivery,) = store.outbox.find()
        assert delivery.status == "sent" and delivery.contact == "owner"


def test_failed_delivery_is_retried_later(tmp_path: Path) -> None:
    class Flaky:
        channel = "console"

        def __init__(self) -> None:
            self.calls = 0
            self.sent: list[str] = []

        def ready(self, contact: str) -> bool:
            return True

        def send(self, notification: Notification) -> str | None:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("down")
            self.sent.append(f"{notification.severity}: {notification.message}")
            return None

    rules = _rules(tmp_path, ENTRY)
    flaky = Flaky()
    with Store(tmp_path / "g.db") as store:
        outbox = Outbox(store, [flaky])
        (firing,) = RuleEngine(rules.rules).process(
            _obs("pool", ("water", 5, TransitionKind.ENTER))
        )
        effects = Effects()
        firing.actions[0].run(firing.event, effects, RuleContext())
        for delivery in store.commit([firing.event], [], effects):
            outbox.send(delivery)
        assert flaky.sent == [] and store.outbox.find()[0].status == "pending"
        assert outbox.flush(now=0.0) == 0  # not yet due (backoff)
        assert outbox.flush(now=time.time() + 3600) == 1
        assert flaky.sent == ["critical: Pool entry: someone in water"]  # severity kept
        assert outbox.flush(now=time.time() + 7200) == 0  # sent exactly once
