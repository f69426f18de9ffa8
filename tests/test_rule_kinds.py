"""Every trigger and condition kind, table-driven: a scripted scene → the events and
their times. The scene goes through the real ZoneTracker; only detection and tracking
are scripted (see tests/rulesim.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from rulesim import T0, P, rules_from, run

from guardian.records import Box, Posture, PostureReading, SceneChange
from guardian.rules import RuleContext, RuleEngine

OUT = P(30, 470)  # outside every zone
DECK = P(120, 300)  # on the deck, not in the water
WATER = P(300, 300)  # in the water
STEPS = P(420, 390)  # in the water, on the steps (an exit zone)


def hidden(p: P) -> P:
    return P(p.x, p.y, seen=False, role=p.role, person=p.person)


def as_(p: P, role: str) -> P:
    return P(p.x, p.y, p.seen, role, p.person)


def rule(trigger: str, extra: str = "") -> str:
    return f"""
rules:
  - id: r
    modes: [unsupervised, supervised]
{extra}    triggers:
      - {trigger}
"""


def _t(*phases: tuple[float, Mapping[int, P]]):  # type: ignore[no-untyped-def]
    """A script from phases: (start second, people) — each phase lasts until the next."""

    def script(t: float) -> Mapping[int, P]:
        current: Mapping[int, P] = {}
        for start, people in phases:
            if t >= start - 1e-9:
                current = people
        return current

    return script


CASES = [
    # name, trigger, script, seconds, expected [(rule, second)]
    ("enter", "{kind: zone_enter, zones: water}", _t((0, {1: OUT}), (2, {1: WATER})), 5, [2.0]),
    (
        "enter other zone",
        "{kind: zone_enter, zones: water}",
        _t((0, {1: OUT}), (2, {1: DECK})),
        5,
        [],
    ),
    (
        "enter: a swimmer lost and found again as a new track is not an entry",
        "{kind: zone_enter, zones: water}",
        _t((0, {1: OUT}), (2, {1: WATER}), (4, {1: hidden(WATER)}), (5, {2: P(312, 305)})),
        8,
        [2.0],
    ),
    (
        "enter: somebody appearing in the water far from anyone lost is",
        "{kind: zone_enter, zones: water, rematch: 0.05}",
        _t((0, {1: OUT}), (2, {1: WATER}), (4, {1: hidden(WATER)}), (5, {2: P(430, 210)})),
        8,
        [2.0, 5.0],
    ),
    (
        "enter: found again only within 'refound'",
        "{kind: zone_enter, zones: water, refound: 2s}",
        _t((0, {1: OUT}), (2, {1: WATER}), (4, {1: hidden(WATER)}), (7, {2: P(312, 305)})),
        10,
        [2.0, 7.0],
    ),
    (
        "enter: refound 0 is the plain edge",
        "{kind: zone_enter, zones: water, refound: 0}",
        _t((0, {1: OUT}), (2, {1: WATER}), (4, {1: hidden(WATER)}), (5, {2: P(312, 305)})),
        8,
        [2.0, 5.0],
    ),
    ("leave", "{kind: zone_leave, zones: water}", _t((0, {1: WATER}), (3, {1: DECK})), 5, [3.0]),
    ("dwell", "{kind: dwell, zones: water, for: 3s}", _t((0, {1: OUT}), (1, {1: WATER})), 6, [4.0]),
    (
        "dwell left early",
        "{kind: dwell, zones: water, for: 3s}",
        _t((0, {1: OUT}), (1, {1: WATER}), (3, {1: DECK})),
        6,
        [],
    ),
    (
        "absent: under water",
        "{kind: absent, zones: water, timeout: 5s}",
        _t((0, {1: DECK}), (2, {1: WATER}), (4, {1: hidden(WATER)})),
        12,
        [8.9],  # last seen at 3.9 s
    ),
    (
        "absent: seen again",
        "{kind: absent, zones: water, timeout: 5s}",
        _t((0, {1: WATER}), (4, {1: hidden(WATER)}), (5.5, {1: WATER})),
        12,
        [],
    ),
    (
        "absent: walked out across the edge",
        "{kind: absent, zones: water, timeout: 5s}",
        _t((0, {1: WATER}), (2, {1: DECK}), (4, {1: hidden(DECK)})),
        12,
        [],
    ),
    (
        "absent: left by the steps",
        "{kind: absent, zones: water, timeout: 5s, exits: steps}",
        _t((0, {1: WATER}), (2, {1: STEPS}), (4, {1: hidden(STEPS)})),
        12,
        [],
    ),
    (
        "absent: steps are not an exit unless named",
        "{kind: absent, zones: water, timeout: 5s}",
        _t((0, {1: WATER}), (2, {1: STEPS}), (4, {1: hidden(STEPS)})),
        12,
        [8.9],
    ),
    (
        "absent: resurfaces as a new track",
        "{kind: absent, zones: water, timeout: 5s}",
        _t((0, {1: WATER}), (4, {1: hidden(WATER)}), (7, {2: P(310, 310)})),
        12,
        [],
    ),
    (
        "absent: somebody else appears far away",
        "{kind: absent, zones: water, timeout: 5s, rematch: 0.05}",
        _t((0, {1: WATER}), (4, {1: hidden(WATER)}), (7, {2: P(430, 210)})),
        12,
        [8.9],
    ),
    (
        "absent: one of two swimmers",
        "{kind: absent, zones: water, timeout: 5s}",
        _t((0, {1: WATER, 2: P(250, 250)}), (4, {1: hidden(WATER), 2: P(250, 250)})),
        12,
        [8.9],
    ),
    (
        "count_drop: one vanishes",
        "{kind: count_drop, zones: deck, for: 2s}",
        _t((0, {1: DECK, 2: P(500, 300)}), (3, {1: DECK, 2: hidden(P(500, 300))})),
        8,
        [5.0],
    ),
    (
        "count_drop: one walks out",
        "{kind: count_drop, zones: deck, for: 2s}",
        _t((0, {1: DECK, 2: P(500, 300)}), (3, {1: DECK, 2: OUT}), (4, {1: DECK, 2: hidden(OUT)})),
        8,
        [],
    ),
    (
        "count_drop: brief occlusion",
        "{kind: count_drop, zones: deck, for: 2s}",
        _t(
            (0, {1: DECK, 2: P(500, 300)}),
            (3, {1: DECK, 2: hidden(P(500, 300))}),
            (4, {1: DECK, 2: P(500, 300)}),
        ),
        8,
        [],
    ),
]


@pytest.mark.parametrize(
    ("name", "trigger", "script", "seconds", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_trigger_timings(
    tmp_path: Path,
    name: str,
    trigger: str,
    script,
    seconds: float,
    expected: list[float],  # type: ignore[no-untyped-def]
) -> None:
    engine = RuleEngine(rules_from(tmp_path, rule(trigger)).rules)
    fired = run(engine, script, seconds)
    assert [t for _, t in fired] == pytest.approx(expected, abs=0.11), fired


def _postures(start: float, posture: Posture, fall: bool) -> object:
    def readings(ts: float) -> Iterable[PostureReading]:
        if ts < T0 + start:
            return [PostureReading(1, Posture.STANDING, T0, 0.9)]
        return [PostureReading(1, posture, T0 + start, 0.9, T0 + start if fall else None)]

    return readings


@pytest.mark.parametrize(
    ("trigger", "posture", "fall", "expected"),
    [
        ("{kind: posture, state: fallen, for: 2s}", Posture.LYING, True, [5.0]),
        ("{kind: posture, state: fallen}", Posture.SITTING, True, [3.0]),
        ("{kind: posture, state: fallen, for: 2s}", Posture.LYING, False, []),  # lay down
        ("{kind: posture, state: lying, for: 4s}", Posture.LYING, False, [7.0]),
        ("{kind: posture, state: lying, for: 4s}", Posture.SITTING, False, []),
        ("{kind: posture, state: lying, for: 4s, zones: water}", Posture.LYING, False, []),
        ("{kind: posture, state: lying, for: 4s, zones: deck}", Posture.LYING, False, [7.0]),
    ],
)
def test_posture(
    tmp_path: Path, trigger: str, posture: Posture, fall: bool, expected: list[float]
) -> None:
    engine = RuleEngine(rules_from(tmp_path, rule(trigger)).rules)
    fired = run(engine, lambda t: {1: DECK}, 12, postures=_postures(3, posture, fall))  # type: ignore[arg-type]
    assert [t for _, t in fired] == pytest.approx(expected, abs=0.11)


CHILD, ADULT = as_(DECK, "child"), as_(P(500, 300), "adult")
UNSUPERVISED_CHILD = "{kind: occupancy, zones: deck, children: '>= 1', adults: 0, for: 3s}"


@pytest.mark.parametrize(
    ("trigger", "script", "expected"),
    [
        (UNSUPERVISED_CHILD, _t((0, {1: CHILD, 2: ADULT}), (5, {1: CHILD, 2: OUT})), [8.0]),
        (UNSUPERVISED_CHILD, _t((0, {1: CHILD, 2: ADULT})), []),
        # the adult comes back within the grace time
        (
            UNSUPERVISED_CHILD,
            _t((0, {1: CHILD, 2: ADULT}), (5, {1: CHILD, 2: OUT}), (6, {1: CHILD, 2: ADULT})),
            [],
        ),
        # an unknown person counts as an adult by default, never as a child
        (UNSUPERVISED_CHILD, _t((0, {1: CHILD, 2: P(500, 300)})), []),
        (UNSUPERVISED_CHILD, _t((0, {1: DECK})), []),
        (
            UNSUPERVISED_CHILD.replace("}", ", unknown_as: ignore}"),
            _t((0, {1: CHILD, 2: P(500, 300)})),
            [3.0],
        ),
        # fires once while it holds, again after it stopped holding
        (
            UNSUPERVISED_CHILD,
            _t((0, {1: CHILD}), (5, {1: CHILD, 2: ADULT}), (7, {1: CHILD, 2: OUT})),
            [3.0, 10.0],
        ),
        ("{kind: occupancy, zones: deck, adults: '>= 1'}", _t((0, {}), (2, {2: ADULT})), [2.0]),
    ],
)
def test_occupancy(tmp_path: Path, trigger: str, script, expected: list[float]) -> None:  # type: ignore[no-untyped-def]
    engine = RuleEngine(rules_from(tmp_path, rule(trigger)).rules)
    fired = run(engine, script, 14)
    assert [t for _, t in fired] == pytest.approx(expected, abs=0.11), fired


def test_new_object_fires_once_when_it_stayed(tmp_path: Path) -> None:
    engine = RuleEngine(
        rules_from(tmp_path, rule("{kind: new_object, zones: deck, for: 5s}")).rules
    )

    def changes(ts: float) -> list[SceneChange]:
        if ts < T0 + 3:
            return []
        return [SceneChange("deck", 7, Box(100, 300, 140, 340), 0.02, T0 + 2, ts)]

    fired = run(engine, lambda t: {}, 12, changes=changes)
    assert [t for _, t in fired] == pytest.approx([7.0], abs=0.11)
    small = rule("{kind: new_object, zones: deck, for: 5s, min_area: 0.05}")
    engine = RuleEngine(rules_from(tmp_path, small).rules)
    assert run(engine, lambda t: {}, 12, changes=changes) == []
    assert engine.scene_zones() == {"deck"}


@pytest.mark.parametrize(
    ("condition", "people", "context", "fires"),
    [
        ("{kind: role, roles: child}", {1: as_(WATER, "child")}, RuleContext(), True),
        ("{kind: role, roles: child}", {1: as_(WATER, "adult")}, RuleContext(), False),
        ("{kind: role, roles: [unknown]}", {1: WATER}, RuleContext(), True),
        ("{kind: person, names: [ana]}", {1: P(300, 300, person="ana")}, RuleContext(), True),
        ("{kind: person, names: [ana]}", {1: P(300, 300, person="bob")}, RuleContext(), False),
        ("{kind: person, known: false}", {1: WATER}, RuleContext(), True),
        ("{kind: person, known: false}", {1: P(300, 300, person="bob")}, RuleContext(), False),
        ("{kind: mode, mode: supervised}", {1: WATER}, RuleContext(mode="supervised"), True),
        ("{kind: mode, mode: supervised}", {1: WATER}, RuleContext(), False),
        (
            "{kind: occupancy, zones: deck, adults: 0}",
            {1: as_(WATER, "child")},
            RuleContext(),
            True,
        ),
        (
            "{kind: occupancy, zones: deck, adults: 0}",
            {1: as_(WATER, "child"), 2: ADULT},
            RuleContext(),
            False,
        ),
        ("{kind: time, after: '07:00', before: '09:00'}", {1: WATER}, RuleContext(), True),
        ("{kind: time, after: '09:00', before: '07:00'}", {1: WATER}, RuleContext(), False),
    ],
)
def test_conditions(
    tmp_path: Path, condition: str, people: dict[int, P], context: RuleContext, fires: bool
) -> None:
    text = rule("{kind: zone_enter, zones: water}") + f"    conditions:\n      - {condition}\n"
    engine = RuleEngine(rules_from(tmp_path, text).rules, context)
    fired = run(engine, _t((0, {k: OUT for k in people}), (1, people)), 3)
    assert bool(fired) is fires


def test_entry_rules_are_suppressed_in_supervised_mode_by_default(tmp_path: Path) -> None:
    text = """
rules:
  - id: entry
    triggers: [{kind: zone_enter, zones: water}]
  - id: entry_always
    modes: [supervised, unsupervised]
    triggers: [{kind: zone_enter, zones: water}]
  - id: submersion
    triggers: [{kind: absent, zones: water, timeout: 5s}]
"""
    rules = rules_from(tmp_path, text)
    modes = {r.rule_id: sorted(r.modes) for r in rules.rules}
    assert modes == {
        "entry": ["unsupervised"],
        "entry_always": ["supervised", "unsupervised"],
        "submersion": ["supervised", "unsupervised"],
    }
    script = _t((0, {1: OUT}), (1, {1: WATER}), (3, {1: hidden(WATER)}))
    supervised = RuleEngine(rules.rules, RuleContext(mode="supervised"))
    assert [r for r, _ in run(supervised, script, 10)] == ["entry_always", "submersion"]


@pytest.mark.parametrize(
    ("per", "expected"),
    # per zone: 2 keeps the water occupied from 2 s on, so 1 coming back at 11.05 s is
    # the same visit: no alert however long after (issue 13)
    [("person", [1.0, 2.0, 11.0]), ("zone", [1.0]), ("rule", [1.0, 11.0])],
)
def test_cooldowns(tmp_path: Path, per: str, expected: list[float]) -> None:
    text = rule("{kind: zone_enter, zones: water}", f"    cooldown: 10s\n    cooldown_per: {per}\n")
    engine = RuleEngine(rules_from(tmp_path, text).rules)
    script = _t(
        (0, {1: OUT, 2: OUT}),
        (1, {1: WATER, 2: OUT}),  # 1 enters
        (2, {1: WATER, 2: WATER}),  # 2 enters
        (3, {1: DECK, 2: WATER}),
        (4, {1: WATER, 2: WATER}),  # 1 again, within its cooldown
        (11, {1: DECK, 2: WATER}),
        (11.05, {1: WATER, 2: WATER}),  # 1 again, cooldown over
    )
    assert [t for _, t in run(engine, script, 12)] == pytest.approx(expected, abs=0.11)


@pytest.mark.parametrize(
    ("yaml", "words"),
    [
        ("{kind: absent, zones: water}", "timeout"),
        ("{kind: absent, zones: water, timeout: 0}", "greater than 0"),
        ("{kind: occupancy, zones: deck}", "at least one of children, adults, people"),
        ("{kind: occupancy, zones: deck, children: lots}", "not a count test"),
        ("{kind: posture, state: asleep}", "fallen"),
        ("{kind: dwell, zones: water, for: soon}", "not a duration"),
        ("{kind: absent, zones: lake, timeout: 5s}", "unknown zone 'lake'"),
        ("{kind: absent, zones: water, timeout: 5s, exits: [door]}", "unknown zone 'door'"),
    ],
)
def test_bad_trigger_configs_are_explained(tmp_path: Path, yaml: str, words: str) -> None:
    from rulesim import ZONE_NAMES

    from guardian.config import load_yaml
    from guardian.rules import load_rules

    path = tmp_path / "r.yaml"
    path.write_text(rule(yaml))
    rules = load_rules([load_yaml(path)], zones_by_camera=ZONE_NAMES, contacts=[])
    (problem,) = rules.problems
    assert words in problem.message, str(problem)
    assert problem.line == 6 and "rule 'r'" in problem.message
