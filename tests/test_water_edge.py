"""The submersion timer from the water's edge (``absent`` with ``edge``): somebody last
seen at the edge of the water who vanishes fell in. Scripted scenes through the real
ZoneTracker (see tests/rulesim.py); only detection and tracking are scripted.

The camera: water in the middle, an ``edge`` band a step (30 px) wider than the water
that reaches down to the bottom of the image (the near side of the pool), and a door
(an exit) on the band's left side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from rulesim import P, Sim, rules_from, run

from guardian.config import load_yaml
from guardian.rules import RuleEngine, load_rules
from guardian.zones import Zone

ZONES = (
    Zone.from_points(
        "deck", "pool", "pool_area", [(20, 20), (620, 20), (620, 470), (20, 470)], inertia=1
    ),
    Zone.from_points(
        "water", "pool", "water", [(200, 200), (440, 200), (440, 400), (200, 400)], inertia=1
    ),
    Zone.from_points(
        "edge", "pool", "deck", [(170, 170), (470, 170), (470, 480), (170, 480)], inertia=1
    ),
    Zone.from_points(
        "door", "pool", "exit", [(170, 280), (200, 280), (200, 330), (170, 330)], inertia=1
    ),
)
NAMES = {"pool": {z.name for z in ZONES}}
TIMEOUT = 5.0
RULE = """
rules:
  - id: submersion
    triggers:
      - {{kind: absent, zones: water, timeout: 5s, edge: edge{extra}}}
"""

Script = Callable[[float], Mapping[int, P]]


def _engine(tmp_path: Path, extra: str = "", **kwargs: object) -> RuleEngine:
    rules = rules_from(tmp_path, RULE.format(extra=extra), NAMES)
    return RuleEngine(rules.rules, **kwargs)  # type: ignore[arg-type]


def _play(engine: RuleEngine, script: Script, seconds: float) -> list[float]:
    return [t for _, t in run(engine, script, seconds, Sim(zones=ZONES))]


def _walk(a: tuple[float, float], b: tuple[float, float], t0: float, t1: float, t: float) -> P:
    """Walking from a (at t0) to b (at t1), seen; before t0 at a, after t1 at b."""
    f = min(1.0, max(0.0, (t - t0) / (t1 - t0)))
    return P(a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f)


def _lost(p: P) -> P:
    return P(p.x, p.y, seen=False)


def _fall_in(t: float) -> Mapping[int, P]:
    """Plays on the deck, walks to the water's edge (in the band at 2.9 s), lost at 3.5 s."""
    if t < 3.5:
        return {1: _walk((100, 300), (190, 300), 2.0, 3.5, t)}
    return {1: _lost(P(190, 300))}


def test_falling_in_from_the_edge_starts_the_timer(tmp_path: Path) -> None:
    assert _play(_engine(tmp_path), _fall_in, 12) == pytest.approx([3.4 + TIMEOUT], abs=0.11)


def test_the_event_says_last_seen_at_the_edge(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    sim = Sim(zones=ZONES)
    details = []
    while sim.now < sim.t0 + 12:
        for firing in engine.process(sim.step(_fall_in(sim.now - sim.t0))):
            details.append(firing.event.message)
    (detail,) = details
    assert "at the edge of water (edge)" in detail and "not seen for 5 s" in detail


def test_standing_at_the_edge_then_gone(tmp_path: Path) -> None:
    """A toddler standing at the edge for a while (appeared there) who then tumbles in."""
    script = lambda t: {1: P(300, 185)} if t < 4 else {1: _lost(P(300, 185))}  # noqa: E731
    assert _play(_engine(tmp_path), script, 12) == pytest.approx([3.9 + TIMEOUT], abs=0.11)


def test_without_edge_nothing_happens(tmp_path: Path) -> None:
    """Today's behaviour, kept: lost outside the water is not missing without ``edge``."""
    text = "rules:\n  - id: r\n    triggers: [{kind: absent, zones: water, timeout: 5s}]\n"
    engine = RuleEngine(rules_from(tmp_path, text, NAMES).rules)
    assert _play(engine, _fall_in, 12) == []


def test_walking_past_on_the_deck_far_from_the_edge(tmp_path: Path) -> None:
    def script(t: float) -> Mapping[int, P]:
        p = _walk((60, 130), (560, 130), 0.0, 6.0, t)
        return {1: p if t < 3 else _lost(P(60 + 500 * 2.9 / 6, 130))}

    assert _play(_engine(tmp_path), script, 12) == []


def test_walking_along_the_edge_then_occluded(tmp_path: Path) -> None:
    """Walking along the band (in it for 3.7 s, moving all the time) is not falling in."""

    def script(t: float) -> Mapping[int, P]:
        if t < 5:
            return {1: _walk((100, 185), (460, 185), 0.0, 5.0, t)}
        return {1: _lost(P(460 - 72 * 0.1, 185))}

    assert _play(_engine(tmp_path), script, 12) == []


def test_walking_away_from_the_water(tmp_path: Path) -> None:
    """Climbed out on the near side and walked off through the band, then lost."""

    def script(t: float) -> Mapping[int, P]:
        if t < 4.5:
            return {1: _walk((300, 300), (300, 460), 2.0, 5.0, t)}
        return {1: _lost(_walk((300, 300), (300, 460), 2.0, 5.0, 4.4))}

    assert _play(_engine(tmp_path), script, 12) == []


def test_lost_at_the_frame_edge(tmp_path: Path) -> None:
    """Feet at the bottom of the image (the band reaches it): walked out of view."""

    def script(t: float) -> Mapping[int, P]:
        return {1: _walk((300, 430), (300, 472), 1.0, 2.0, t) if t < 2.5 else _lost(P(300, 472))}

    assert _play(_engine(tmp_path), script, 12) == []


@pytest.mark.parametrize(("extra", "expected"), [(", exits: door", []), ("", [2.4 + TIMEOUT])])
def test_lost_in_an_exit_zone(tmp_path: Path, extra: str, expected: list[float]) -> None:
    def script(t: float) -> Mapping[int, P]:
        if t < 2.5:
            return {1: _walk((100, 310), (185, 310), 1.0, 2.5, t)}
        return {1: _lost(P(185, 310))}

    assert _play(_engine(tmp_path, extra), script, 12) == pytest.approx(expected, abs=0.11)


def test_seen_again_in_the_water_as_a_new_track(tmp_path: Path) -> None:
    def script(t: float) -> Mapping[int, P]:
        people = dict(_fall_in(t))
        if t >= 5.5:
            people = {2: P(235, 320)}  # the old track is gone, a swimmer surfaces
        return people

    assert _play(_engine(tmp_path), script, 14) == []


def test_seen_again_on_the_deck_by_the_same_track(tmp_path: Path) -> None:
    """Occluded at the edge for a second, then the tracker finds them again."""

    def script(t: float) -> Mapping[int, P]:
        return {1: _lost(P(190, 300)) if 3.5 <= t < 4.5 else _fall_in(min(t, 3.4))[1]}

    assert _play(_engine(tmp_path), script, 12) == []


def _dive(resurface: bool) -> Script:
    """Stands at the near edge, then jumps: the box flies up over the water in 0.4 s and
    is lost in the air (still over the band); a swimmer surfaces 2 s later, or not."""

    def script(t: float) -> Mapping[int, P]:
        if t < 3.0:
            return {1: P(300, 440)}
        if t < 3.4:
            return {1: P(300, 440 - 75 * (t - 3.0))}  # fast: 0.1 of the diagonal per second
        if resurface and t >= 5.5:
            return {2: P(300, 330)}
        return {1: _lost(P(300, 440 - 75 * 0.3))}

    return script


@pytest.mark.parametrize(("resurface", "expected"), [(True, []), (False, [3.3 + TIMEOUT])])
def test_a_diver_lost_in_the_air(tmp_path: Path, resurface: bool, expected: list[float]) -> None:
    """Lost mid-air: the timer starts from that last sighting (they went in there); the
    diver seen swimming cancels it; a diver who never comes up fires."""
    assert _play(_engine(tmp_path), _dive(resurface), 14) == pytest.approx(expected, abs=0.11)


def test_a_diver_seen_over_the_water_then_swimming(tmp_path: Path) -> None:
    """The box over the water (the zone's anchor is inside): lost there is lost in the
    water as before; seen swimming by the same track cancels."""

    def script(t: float) -> Mapping[int, P]:
        if t < 3.0:
            return {1: P(300, 440)}
        if t < 3.5:
            return {1: P(300, 440 - 200 * (t - 3.0))}  # over the water from 3.3 s
        if t < 5.0:
            return {1: _lost(P(300, 340))}
        return {1: P(300, 330)}

    assert _play(_engine(tmp_path), script, 14) == []


def test_a_pending_edge_timer_survives_a_restart(tmp_path: Path) -> None:
    first = _engine(tmp_path, run_id="one")
    sim = Sim(zones=ZONES)
    assert run(first, _fall_in, 5, sim) == []
    state: dict[str, dict[str, object]] = {}
    for change in first.drain_state():
        if change.value is not None:
            state.setdefault(change.rule_id, {})[change.key] = change.value
        else:
            state.get(change.rule_id, {}).pop(change.key, None)
    (entry,) = state["submersion"].values()
    assert isinstance(entry, dict) and entry["edge"] == "edge"
    second = _engine(tmp_path, state=state, run_id="two")
    later = Sim(zones=ZONES, t0=sim.now)  # nobody in sight after the restart
    fired = run(second, lambda t: {}, 10, later)
    assert [round(sim.t0 + 3.4 + TIMEOUT - later.t0 - t, 1) for _, t in fired] == [0.0]


def test_bad_edge_values_are_located(tmp_path: Path) -> None:
    for value, words in (("lake", "unknown zone 'lake'"), ("{a: 1}", "edge")):
        path = tmp_path / "r.yaml"
        path.write_text(RULE.format(extra="").replace("edge: edge", f"edge: {value}"))
        (problem,) = load_rules([load_yaml(path)], zones_by_camera=NAMES, contacts=[]).problems
        assert words in problem.message and problem.file == path, str(problem)
        line = path.read_text().splitlines()[4]
        assert (problem.line, problem.col) == (5, line.index(value) + 1), str(problem)
