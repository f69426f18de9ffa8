"""False alarms from bookkeeping (issue 13): the engine's own records must never raise an
alarm that nothing in the scene raised.

Each bug is reproduced twice where footage can show it: on hand-built observations
(tests/rulesim.py: real ZoneTracker, scripted tracks; noted "scripted" below), and on
real footage through the whole pipeline (the real model on a corpus clip, built into a
stand-in scene where the corpus has none, and saying so) in test_bookkeeping_corpus.py.

1. a missing swimmer found again as a new track must not have their timer restarted by
   the old track, still listed as lost for ``max_lost``;
2. a timer still running when a video file ends is reported then, and never carried into
   the next run; a live camera's timers resume after a restart as before;
3. one entry alert per zone visit, not one per track id; ``count_drop`` says nothing of a
   disappearance the submersion timer is already timing;
4. an unknown person never switches protection off (the built-in "switch to supervised?"
   needs a confirmed adult); "the last adult left" still works with unknowns;
5. ``guardian replay --config`` builds its rules the way ``guardian run`` does.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping
from pathlib import Path

import pytest
from rulesim import SUBMERSION, T0, ZONE_NAMES, P, Sim, rules_from, run

from guardian.alerts import ConsoleNotifier, Outbox
from guardian.config import load_yaml
from guardian.dispatch import Dispatcher
from guardian.modes import ModeManager
from guardian.observations import ObservationWriter
from guardian.rules import RuleContext, RuleEngine, load_rules
from guardian.store import Store
from guardian.zones import Zone

REPO = Path(__file__).resolve().parent.parent
WATER, DECK, OUT = P(300, 300), P(120, 300), P(30, 470)


def hidden(p: P) -> P:
    return P(p.x, p.y, seen=False, role=p.role, person=p.person)


def phases(*steps: tuple[float, Mapping[int, P]]):  # type: ignore[no-untyped-def]
    """A script: (start second, people), each lasting until the next."""

    def script(t: float) -> Mapping[int, P]:
        current: Mapping[int, P] = {}
        for start, people in steps:
            if t >= start - 1e-9:
                current = people
        return current

    return script


# -- 1. a new track id for a missing swimmer ---------------------------------------------------
@pytest.mark.parametrize("later", [0.0, 0.3], ids=["same frame", "0.3 s later"])
def test_a_new_track_where_a_swimmer_was_lost_does_not_restart_the_old_timer(
    tmp_path: Path, later: float
) -> None:
    """Scripted: track 1 is lost in the water at 4 s and the detector finds the swimmer
    again as track 2 a few pixels away (a splash), in the same frame or a moment later.
    Track 1 stays on the tracker's books as lost for max_lost (2 s): its timer must not
    start again from its last sighting."""
    engine = RuleEngine(rules_from(tmp_path, SUBMERSION).rules)
    script = phases(
        (0, {1: WATER}),
        (4, {1: hidden(WATER)}),
        (4 + later, {1: hidden(WATER), 2: P(310, 310)}),
    )
    assert run(engine, script, 15) == []


def test_a_timer_fires_once_even_while_its_track_is_still_lost(tmp_path: Path) -> None:
    """Scripted: a timeout shorter than max_lost: the timer fires while the track is
    still listed as lost, and must not start again from the same sighting."""
    engine = RuleEngine(rules_from(tmp_path, SUBMERSION.replace("5s", "1s")).rules)
    script = phases((0, {1: WATER}), (4, {1: hidden(WATER)}))
    assert run(engine, script, 8) == [("submersion", pytest.approx(4.9, abs=0.11))]


# -- 2. timers belong to the stream they came from ----------------------------------------------
def _dispatcher(engine: RuleEngine, store: Store) -> tuple[Dispatcher, io.StringIO]:
    out = io.StringIO()
    outbox = Outbox(store, [ConsoleNotifier(out)])
    return Dispatcher(engine, store, outbox, ModeManager(store), out=out), out


def _play(dispatcher: Dispatcher, sim: Sim, script, seconds: float) -> list[str]:  # type: ignore[no-untyped-def]
    fired = []
    end = sim.now + seconds
    while sim.now < end - 1e-9:
        for event in dispatcher.handle(sim.step(script(sim.now - sim.t0))):
            fired.append(event.rule_id)
    return fired


def _engine(
    tmp_path: Path, store: Store, text: str, run_id: str, files: tuple[str, ...]
) -> RuleEngine:
    rules = rules_from(tmp_path, text).rules
    return RuleEngine(rules, state=store.rule_states.load(), run_id=run_id, files=files)


def test_a_timer_pending_when_the_file_ends_is_reported_and_not_carried_over(
    tmp_path: Path,
) -> None:
    """Scripted: the video ends 2 s after the swimmer went under (the 5 s timer is
    running). That run says so, and the next run on the same database, on another
    video, fires nothing about that person."""
    db = tmp_path / "g.db"
    with Store(db) as store:
        first, out = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-1", ("pool",)), store)
        assert _play(first, Sim(), phases((0, {1: WATER}), (4, {1: hidden(WATER)})), 6) == []
        (pending,) = first.end_stream("pool")
        assert (pending.rule_id, pending.kind, pending.zone) == ("submersion", "absent", "water")
        assert pending.since == pytest.approx(T0 + 3.9) and pending.deadline == pytest.approx(
            T0 + 8.9
        )
        line = out.getvalue().splitlines()[-1]
        assert line.startswith("PENDING ") and "still running when the video ended" in line
        assert "submersion" in line and "in water" in line
        assert "submersion" not in store.rule_states.load()  # dropped in the same run
    with Store(db) as store:  # another video, 1674 s later, nobody in view
        second, _ = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-2", ("pool",)), store)
        assert _play(second, Sim(t0=T0 + 1674), lambda t: {}, 10) == []
        assert store.event_log.find() == []


@pytest.mark.parametrize(
    ("files", "expected"),
    [((), ["submersion"]), (("pool",), [])],
    ids=["live camera: resumes", "video file: dropped"],
)
def test_a_run_killed_while_a_timer_waits(
    tmp_path: Path, files: tuple[str, ...], expected: list[str]
) -> None:
    """Scripted: the run is killed (nothing ends the stream) with the timer pending. A
    live camera's next run fires it (the person may still be under water); a file's
    next run drops it: its video starts again from the beginning, or is another one."""
    db = tmp_path / "g.db"
    with Store(db) as store:
        first, _ = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-1", files), store)
        _play(first, Sim(), phases((0, {1: WATER}), (4, {1: hidden(WATER)})), 6)
    with Store(db) as store:
        second, _ = _dispatcher(_engine(tmp_path, store, SUBMERSION, "run-2", files), store)
        assert _play(second, Sim(t0=T0 + 6), lambda t: {}, 10) == expected
        assert len(store.event_log.find()) == len(expected)
        assert "submersion" not in store.rule_states.load()


def test_a_waiting_head_count_is_not_carried_into_the_next_video(tmp_path: Path) -> None:
    """Scripted: a child alone on the deck for 4 s of an 8 s grace when the video ends.
    The next video must give its own child the full 8 s, not fire at once."""
    text = (
        "rules:\n  - id: alone\n    triggers: [{kind: occupancy, zones: deck,"
        " children: '>= 1', adults: 0, for: 8s}]\n"
    )
    child = {1: P(120, 300, role="child")}
    db = tmp_path / "g.db"
    with Store(db) as store:
        first, _ = _dispatcher(_engine(tmp_path, store, text, "a", ("pool",)), store)
        assert _play(first, Sim(), lambda t: child, 4) == []
        (pending,) = first.end_stream("pool")
        assert pending.rule_id == "alone" and pending.deadline == pytest.approx(T0 + 8)
    with Store(db) as store:
        second, _ = _dispatcher(_engine(tmp_path, store, text, "b", ("pool",)), store)
        sim = Sim(t0=T0 + 100)
        assert _play(second, sim, lambda t: {5: P(120, 300, role="child")}, 7.5) == []
        assert _play(second, sim, lambda t: {5: P(120, 300, role="child")}, 1) == ["alone"]


@pytest.mark.parametrize(
    ("files", "expected"),
    [((), []), (("pool",), ["entry"])],
    ids=["live camera: still cooling down", "video file: a new video"],
)
def test_a_cooldown_is_not_carried_into_the_next_video(
    tmp_path: Path, files: tuple[str, ...], expected: list[str]
) -> None:
    """Scripted: somebody goes into the water in one video, somebody else in the next
    one, a minute later, on the same database: the 10 min cooldown of the first video
    must not silence the second. On a live camera it holds across a restart."""
    text = (
        "rules:\n  - id: entry\n    cooldown: 10m\n    cooldown_per: zone\n"
        "    triggers: [{kind: zone_enter, zones: water}]\n"
    )
    into_water = phases((0, {1: OUT}), (1, {1: WATER}))
    db = tmp_path / "g.db"
    with Store(db) as store:
        first, _ = _dispatcher(_engine(tmp_path, store, text, "a", files), store)
        assert _play(first, Sim(), into_water, 3) == ["entry"]
        if files:
            first.end_stream("pool")
    with Store(db) as store:
        second, _ = _dispatcher(_engine(tmp_path, store, text, "b", files), store)
        assert _play(second, Sim(t0=T0 + 60), into_water, 3) == expected


def test_replay_reports_a_timer_still_running_at_the_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from guardian.cli import main

    obs = tmp_path / "obs.jsonl"
    sim, writer = Sim(), ObservationWriter(obs)
    while sim.now < T0 + 6:
        writer.write(sim.step({1: WATER if sim.now < T0 + 4 else hidden(WATER)}))
    writer.close()
    (tmp_path / "rules.yaml").write_text(SUBMERSION)
    code = main(["replay", "--observations", str(obs), "--rules", str(tmp_path / "rules.yaml")])
    out = capsys.readouterr().out
    assert code == 0
    (line,) = [x for x in out.splitlines() if "PENDING" in x]
    assert "submersion" in line and "still running when the recording ended" in line
    assert out.rstrip().endswith(f"0 event(s) from 60 observation(s) of {obs}")


# -- 3. one alert per visit of the water; one per disappearance ----------------------------------
#: the zones of zones/pool.yaml, as rectangles on the 640×480 test image
POOL_ZONES = (
    Zone.from_points(
        "pool_area", "pool", "pool_area", [(20, 150), (620, 150), (620, 475), (20, 475)]
    ),
    Zone.from_points(
        "water_edge", "pool", "deck", [(100, 180), (560, 180), (560, 440), (100, 440)]
    ),
    Zone.from_points("water", "pool", "water", [(120, 200), (540, 200), (540, 420), (120, 420)]),
    Zone.from_points(
        "pool_steps", "pool", "exit", [(500, 200), (540, 200), (540, 240), (500, 240)]
    ),
    Zone.from_points("pool_gate", "pool", "entry", [(0, 140), (40, 140), (40, 280), (0, 280)]),
)
POOL_ZONES = tuple(dataclasses.replace(z, inertia=1) for z in POOL_ZONES)


def _shipped_pool_rules(ids: set[str]):  # type: ignore[no-untyped-def]
    rules = load_rules(
        [load_yaml(REPO / "rules" / "pool.yaml")],
        zones_by_camera={"pool": {z.name for z in POOL_ZONES}},
        contacts=["owner", "neighbour"],
    )
    assert rules.problems == ()
    return [r for r in rules.rules if r.rule_id in ids]


def test_the_shipped_entry_rule_alerts_once_per_visit_of_the_water(tmp_path: Path) -> None:
    """Scripted, with the rules of rules/pool.yaml: a child goes into the water at 1 s;
    the detector loses them and finds them as a new track twice, each time too far from
    where they were lost to be "found again"; a second child jumps in at 20 s while the
    first swims: one alert (the per-person cooldown it had gave four). Everybody is out
    at 25 s; the water stays empty; somebody goes in at 45 s, a new visit within the
    cooldown: a second alert."""
    engine = RuleEngine(_shipped_pool_rules({"water_entry"}))
    deck, far = P(80, 300), P(500, 400)
    script = phases(
        (0, {1: deck}),
        (1, {1: P(150, 300)}),  # into the water
        (4, {1: hidden(P(150, 300)), 2: far}),  # lost; a new track far away
        (15, {2: hidden(far), 3: P(150, 300)}),  # and again
        (17, {3: P(150, 300), 4: deck}),
        (20, {3: P(150, 300), 4: P(160, 250)}),  # a second child jumps in
        (25, {3: deck, 4: P(600, 300)}),  # both out on the deck
        (43, {5: deck}),
        (45, {5: P(150, 300)}),  # much later, somebody goes in
    )
    fired = run(engine, script, 48, Sim(zones=POOL_ZONES))
    assert fired == [("water_entry", 1.0), ("water_entry", 45.0)]


def test_cooldown_per_zone_holds_for_the_whole_visit(tmp_path: Path) -> None:
    """Scripted: a swimmer in the water for 3 minutes, found again as a new track every
    20 s, with a 1 minute per-zone cooldown: one alert, not one a minute."""
    text = (
        "rules:\n  - id: entry\n    cooldown: 1m\n    cooldown_per: zone\n"
        "    triggers: [{kind: zone_enter, zones: water, refound: 0}]\n"
    )
    engine = RuleEngine(rules_from(tmp_path, text).rules)

    def script(t: float) -> Mapping[int, P]:
        if t < 1:
            return {1: OUT}
        track = 1 + int(t // 20)
        return {track: P(250 + (track % 2) * 100, 300)}

    assert [t for _, t in run(engine, script, 180)] == [1.0]


COUNT_AND_ABSENT = """
rules:
  - id: submersion
    severity: critical
    triggers: [{kind: absent, zones: water, timeout: 5s}]
  - id: fewer
    triggers: [{kind: count_drop, zones: ZONE, for: FOR}]
"""


@pytest.mark.parametrize(
    ("zone", "wait", "expected"),
    [
        ("water", "2s", [("submersion", 8.9)]),  # before its own alert, covered
        ("water", "8s", [("submersion", 8.9)]),  # after the timer fired: still the same one
        ("deck", "2s", [("submersion", 8.9)]),  # the water is inside the deck area
    ],
)
def test_count_drop_says_nothing_of_a_disappearance_the_timer_reports(
    tmp_path: Path, zone: str, wait: str, expected: list[tuple[str, float]]
) -> None:
    """Scripted: two swimmers; one goes under at 4 s. The submersion timer fires at
    8.9 s; the head count of the same zone, or of the deck around it, stays quiet."""
    text = COUNT_AND_ABSENT.replace("ZONE", zone).replace("FOR", wait)
    engine = RuleEngine(rules_from(tmp_path, text).rules)
    zones = (
        Zone.from_points(
            "deck", "pool", "pool_area", [(60, 100), (580, 100), (580, 440), (60, 440)], inertia=1
        ),
        Zone.from_points(
            "water", "pool", "water", [(200, 200), (440, 200), (440, 400), (200, 400)], inertia=1
        ),
    )
    swimmer = P(250, 250)
    script = phases((0, {1: WATER, 2: swimmer}), (4, {1: hidden(WATER), 2: swimmer}))
    fired = run(engine, script, 15, Sim(zones=zones))
    assert fired == [(r, pytest.approx(t, abs=0.11)) for r, t in expected]


def test_count_drop_still_reports_a_disappearance_nobody_times(tmp_path: Path) -> None:
    """Scripted: one person vanishes on the deck (no timer there), one under water: the
    head count of the deck reports the first, the timer the second."""
    text = COUNT_AND_ABSENT.replace("ZONE", "deck").replace("FOR", "2s")
    engine = RuleEngine(rules_from(tmp_path, text).rules)
    people = {1: WATER, 2: DECK, 3: P(500, 300)}
    script = phases((0, people), (4, {**people, 1: hidden(WATER), 2: hidden(DECK)}))
    fired = run(engine, script, 15)
    assert fired == [
        ("fewer", pytest.approx(6.0, abs=0.11)),
        ("submersion", pytest.approx(8.9, abs=0.11)),
    ]


# -- 4. an unknown person never switches protection off -----------------------------------------
def _supervision(tmp_path: Path, extra: str = "", mode: str = "unsupervised") -> RuleEngine:
    path = tmp_path / "extra.yaml"
    path.write_text(extra or "rules: []\n")
    rules = load_rules(
        [load_yaml(path)],
        zones_by_camera=ZONE_NAMES,
        contacts=["owner"],
        builtin_areas=[("pool", "deck")],
    )
    assert rules.problems == ()
    return RuleEngine(rules.rules, RuleContext(mode=mode, contacts=("owner",)))


@pytest.mark.parametrize(
    ("role", "expected"),
    [("unknown", []), ("child", []), ("adult", ["adult_arrival_prompt"])],
)
def test_only_a_confirmed_adult_is_asked_about(
    tmp_path: Path, role: str, expected: list[str]
) -> None:
    """Scripted: one person alone on the pool deck for 5 s. Not identified (unknown),
    they may be a toddler: no "switch to supervised?" (a YES would turn entry alerts off)."""
    engine = _supervision(tmp_path)
    fired = run(engine, lambda t: {1: P(500, 300, role=role)}, 5)
    assert [r for r, _ in fired] == expected


def test_an_unknown_beside_a_child_is_not_an_adult_either(tmp_path: Path) -> None:
    """Scripted: an unknown person and a child on the deck: no prompt; with a confirmed
    adult beside them: the prompt."""
    people = {1: P(500, 300), 2: P(120, 300, role="child")}
    assert run(_supervision(tmp_path), lambda t: people, 6) == []
    (tmp_path / "b").mkdir()
    people = {**people, 3: P(300, 150, role="adult")}
    fired = run(_supervision(tmp_path / "b"), lambda t: people, 6)
    assert [r for r, _ in fired] == ["adult_arrival_prompt"]


USER_PROMPT = """
rules:
  - id: my_prompt
    modes: [unsupervised]
    triggers: [{kind: occupancy, zones: deck, adults: ">= 1", for: 1s}]
    actions:
      - {kind: prompt, question: "Supervise?", yes: {mode: supervised}}
  - id: my_switch
    modes: [unsupervised]
    triggers: [{kind: zone_enter, zones: deck}]
    actions: [{kind: set_mode, mode: supervised}]
"""


@pytest.mark.parametrize(
    ("role", "expected"), [("unknown", []), ("adult", ["my_prompt", "my_switch"])]
)
def test_a_users_rule_that_lowers_protection_needs_a_confirmed_adult(
    tmp_path: Path, role: str, expected: list[str]
) -> None:
    """Scripted: user rules whose action switches to supervised (a prompt's YES, or
    set_mode) even though they count an unknown person as an adult (the default)."""
    rules = rules_from(tmp_path, USER_PROMPT).rules
    engine = RuleEngine(rules, RuleContext(contacts=("owner",)))
    fired = run(engine, phases((0, {1: OUT}), (1, {1: P(500, 300, role=role)})), 4)
    assert sorted(r for r, _ in fired) == expected


def test_the_last_adult_leaving_still_works_with_unknown_people(tmp_path: Path) -> None:
    """Scripted: supervised, nobody identified. While the unknown person is there,
    nobody is asked; once they have left for 10 s, "switch back?" is asked (that
    raises protection, so an unknown may count as an adult for it)."""
    engine = _supervision(tmp_path, mode="supervised")
    script = phases((0, {1: P(500, 300)}), (5, {1: OUT}))
    assert [(r, t) for r, t in run(engine, script, 20)] == [
        ("last_adult_left_prompt", pytest.approx(15.0, abs=0.11))
    ]


# -- 5. replay builds its rules as run does ------------------------------------------------------
def _site(tmp_path: Path) -> Path:
    """A site file for the scripted camera (its zones in pixels, deck a pool_area)."""
    (tmp_path / "zones.yaml").write_text(
        "zones:\n"
        "  - {name: deck, camera: pool, kind: pool_area, units: px, inertia: 1,"
        " polygon: [[60, 100], [580, 100], [580, 440], [60, 440]]}\n"
        "  - {name: water, camera: pool, kind: water, units: px, inertia: 1,"
        " polygon: [[200, 200], [440, 200], [440, 400], [200, 400]]}\n"
        "  - {name: steps, camera: pool, kind: exit, units: px, inertia: 1,"
        " polygon: [[400, 360], [440, 360], [440, 400], [400, 400]]}\n"
    )
    (tmp_path / "rules.yaml").write_text(SUBMERSION)
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: {name: Test pool, timezone: Europe/Paris}\n"
        "cameras:\n  - {id: pool, source: 'rtsp://127.0.0.1:1/none'}\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        "storage: {database: guardian.db}\n"
    )
    return site


@pytest.mark.parametrize("rules_arg", [False, True], ids=["site's rules", "--rules"])
def test_replay_with_the_site_file_runs_the_built_in_rules_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rules_arg: bool
) -> None:
    """Scripted recording: an adult (identified) on the deck for 5 s. With --config,
    replay has the built-in pool-area prompt, as `guardian run` has."""
    from guardian.cli import main

    site = _site(tmp_path)
    obs = tmp_path / "obs.jsonl"
    sim, writer = Sim(), ObservationWriter(obs)
    while sim.now < T0 + 5:
        writer.write(sim.step({1: P(500, 300, role="adult")}))
    writer.close()
    args = ["replay", "--observations", str(obs), "--config", str(site)]
    if rules_arg:
        args += ["--rules", str(tmp_path / "rules.yaml")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "adult_arrival_prompt" in out and "1 event(s)" in out
