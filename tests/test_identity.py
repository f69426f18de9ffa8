"""Identity across cameras: the hand-off decision, the camera graph, the site identity,
the ``identity:`` config, and the ``role`` / ``person`` / ``responsible`` rule conditions.

Small built sequences use appearances made of colour histograms (no model); the corpus
tests use real crops of the UP-Fall walking pair through the real pose model and
embedder: the walker in Cam1 is matched to the walker in Cam2, never to the seated
person, and a person nobody resembles is not given anyone's identity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from corpus import require_corpus
from rulesim import P, Sim, rules_from

from guardian.config import ConfigError, load_site
from guardian.config.identity import CameraLink, IdentityCamera, IdentityConfig, MatchConfig
from guardian.detection import PoseDetector
from guardian.identity.appearance import HIST_SIZE, Appearance, describe, hist_distance
from guardian.identity.embedder import AppearanceEmbedder
from guardian.identity.gallery import EnrolledPerson
from guardian.identity.graph import CameraGraph, Whereabouts
from guardian.identity.handoff import Candidate, Verdict, decide, pair_cost
from guardian.identity.manager import Sighting, SiteIdentity
from guardian.identity.role import RoleEstimate
from guardian.observations import from_json, to_json
from guardian.records import Box, Frame, Keypoint, Observation, Track, TrackState
from guardian.rules import RuleContext, RuleEngine

MATCH = MatchConfig()


def looks(bin_: int, seed: int = 0, spread: float = 0.01) -> Appearance:
    """Clothes of one dominant colour (histogram bin), a little noise per sighting."""
    rng = np.random.default_rng(seed)
    h = rng.random(HIST_SIZE).astype(np.float32) * spread
    h[bin_] += 1.0
    h /= h.sum()
    legs = np.roll(h, 7)
    return Appearance(torso=h, legs=legs / legs.sum(), proportions=None)


def half_and_half(first: int, second: int, seed: int, share: float = 0.27) -> Appearance:
    """Clothes partly (``share``) of one colour, the rest of another: half like someone."""
    a, b = looks(first, seed), looks(second, seed)
    assert a.torso is not None and b.torso is not None
    assert a.legs is not None and b.legs is not None
    return Appearance(
        torso=share * a.torso + (1 - share) * b.torso,
        legs=share * a.legs + (1 - share) * b.legs,
        proportions=None,
    )


def samples(bin_: int, n: int = 3, seed: int = 0) -> tuple[Appearance, ...]:
    return tuple(looks(bin_, seed + i) for i in range(n))


def two_cameras(**extra: object) -> IdentityConfig:
    return IdentityConfig.model_validate(
        {
            "cameras": [{"camera": "gate", "role": "entry"}, {"camera": "pool"}],
            "links": [{"from": "gate", "to": "pool", "same_area": True}],
            **extra,
        }
    )


# --------------------------------------------------------------------------- hand-off


def test_clear_match_is_taken_with_confidence() -> None:
    [d] = decide(
        {("pool", 1): samples(3, seed=10)},
        {("pool", 1): [Candidate("#1", samples(3), 0.0), Candidate("#2", samples(30), 0.0)]},
        MATCH,
    )
    assert d.verdict is Verdict.MATCH and d.person_id == "#1"
    assert d.confidence > 0.5 and d.second - d.cost >= MATCH.margin


def test_two_lookalikes_leave_the_track_unknown() -> None:
    """Twins in the same clothes: whichever it is, the track must not take an identity."""
    [d] = decide(
        {("pool", 1): samples(3, seed=10)},
        {("pool", 1): [Candidate("#1", samples(3), 0.0), Candidate("#2", samples(3, seed=5), 0.0)]},
        MATCH,
    )
    assert d.verdict is Verdict.UNSURE and d.person_id is None


def test_somebody_unlike_everyone_is_a_new_person() -> None:
    [d] = decide(
        {("pool", 1): samples(40)},
        {("pool", 1): [Candidate("#1", samples(3), 0.0), Candidate("#2", samples(30), 0.0)]},
        MATCH,
    )
    assert d.verdict is Verdict.NEW and d.person_id is None


def test_half_like_someone_is_unsure_not_new_and_not_them() -> None:
    """Between 'accept' and 'new_person': neither someone's identity nor a new person."""
    mixed = [half_and_half(3, 30, i) for i in range(3)]
    cost = pair_cost(mixed, samples(3))
    assert MATCH.accept < cost <= MATCH.new_person
    [d] = decide({("pool", 1): mixed}, {("pool", 1): [Candidate("#1", samples(3), 0.0)]}, MATCH)
    assert d.verdict is Verdict.UNSURE


def test_hungarian_pairs_two_tracks_with_two_people() -> None:
    """Each track is assigned its own person, not both the one person they both resemble."""
    tracks = {("pool", 1): samples(3, seed=20), ("pool", 2): samples(30, seed=20)}
    people = [Candidate("#a", samples(30), 0.0), Candidate("#b", samples(3), 0.0)]
    out = {d.key: d for d in decide(tracks, dict.fromkeys(tracks, people), MATCH)}
    assert out[("pool", 1)].person_id == "#b"
    assert out[("pool", 2)].person_id == "#a"


def test_two_tracks_like_one_person_neither_takes_them() -> None:
    """A person cannot hold two tracks on one camera: two look-alike new tracks for one
    person is ambiguous, so neither is given the identity."""
    tracks = {("pool", 1): samples(3, seed=20), ("pool", 2): samples(3, seed=40)}
    people = [Candidate("#a", samples(3), 0.0)]
    out = decide(tracks, dict.fromkeys(tracks, people), MATCH)
    assert all(d.person_id is None for d in out)


# --------------------------------------------------------------------------- camera graph


def test_graph_same_area_transit_and_holding() -> None:
    cfg = IdentityConfig.model_validate(
        {
            "cameras": [
                {"camera": "gate", "role": "entry"},
                {"camera": "pool"},
                {"camera": "deck"},
            ],
            "links": [
                {"from": "gate", "to": "pool", "transit": ["5s", "20s"]},
                {"from": "pool", "to": "deck", "same_area": True},
            ],
            "on_site_for": "10m",
        }
    )
    g = CameraGraph(cfg, ["gate", "pool", "deck"])
    assert g.is_entry("gate") and not g.is_entry("pool")
    now = 1000.0
    # visible on the deck now: may be on the pool camera (same area), not at the gate
    on_deck = Whereabouts({"deck": now}, frozenset({"deck"}))
    assert g.time_cost("pool", now, on_deck) == 0.0
    assert g.time_cost("gate", now, on_deck) is None
    # holding a visible track on the pool camera: no second track there
    assert g.time_cost("pool", now, Whereabouts({"pool": now}, frozenset({"pool"}))) is None
    # left the gate 10 s ago: expected at the pool; 1 s ago: too soon; 2 min ago: too late
    assert g.time_cost("pool", now, Whereabouts({"gate": now - 10}, frozenset())) == 0.0
    assert g.time_cost("pool", now, Whereabouts({"gate": now - 1}, frozenset())) is None
    assert g.time_cost("pool", now, Whereabouts({"gate": now - 120}, frozenset())) is None
    slightly_late = g.time_cost("pool", now, Whereabouts({"gate": now - 22}, frozenset()))
    assert slightly_late is not None and 0 < slightly_late < 1
    # gone for longer than on_site_for: not on site any more
    assert g.time_cost("pool", now, Whereabouts({"pool": now - 700}, frozenset())) is None


# --------------------------------------------------------------------------- site identity


def sighting(
    camera: str, tid: int, t: float, bin_: int, seed: int, role: str | None = None
) -> Sighting:
    estimate = RoleEstimate(role, 0.9, "body", None, "test") if role else None
    return Sighting(camera, tid, t, looks(bin_, seed), estimate)


def feed(site: SiteIdentity, sim: Sim, people: dict[int, P]) -> Observation:
    return site.update(sim.step(people))


def test_handoff_across_cameras_keeps_identity_and_role() -> None:
    """A child seen at the gate walks to the pool: the pool's new track is the same
    person, with the role estimated at the gate; an adult in red on the pool camera
    stays someone else."""
    site = SiteIdentity(two_cameras(), ["gate", "pool"])
    gate, pool = Sim(camera="gate"), Sim(camera="pool")
    for i in range(4):  # the child at the gate, the adult at the pool
        site.submit([sighting("gate", 1, gate.now, 3, i, "child")])
        site.submit([sighting("pool", 1, pool.now, 30, i, "adult")])
        g = feed(site, gate, {1: P(100, 300)})
        p = feed(site, pool, {1: P(500, 300)})
    child = g.tracks[0].person_id
    adult = p.tracks[0].person_id
    assert child is not None and adult is not None and child != adult
    assert g.tracks[0].role == "child" and p.tracks[0].role == "adult"
    # the child appears on the pool camera (new track 2): no role estimate this time
    for i in range(4):
        site.submit([sighting("pool", 2, pool.now, 3, 50 + i)])
        feed(site, gate, {1: P(100, 300)})
        p = feed(site, pool, {1: P(500, 300), 2: P(300, 300)})
    by_id = {t.track_id: t for t in p.tracks}
    assert by_id[2].person_id == child and by_id[2].role == "child"
    assert by_id[1].person_id == adult
    assert [x.person_id.startswith("#") for x in site.people()] == [True, True]


def test_unsure_track_stays_unknown_after_its_samples() -> None:
    """A new track that looks half like the person on site: no identity, ever, and no
    more samples asked once its budget is spent."""
    site = SiteIdentity(two_cameras(), ["gate", "pool"])
    gate, pool = Sim(camera="gate"), Sim(camera="pool")
    for i in range(4):
        site.submit([sighting("gate", 1, gate.now, 3, i)])
        feed(site, gate, {1: P(100, 300)})
    for i in range(MATCH.max_samples + 2):
        half = half_and_half(3, 30, 100 + i)
        if not site.settled("pool", 1):
            site.submit([Sighting("pool", 1, pool.now, half)])
        feed(site, gate, {1: P(100, 300)})
        p = feed(site, pool, {1: P(300, 300)})
        assert p.tracks[0].person_id is None and p.tracks[0].role == "unknown"
    assert site.settled("pool", 1)


def test_enrolled_responsible_adult_is_named_at_the_gate() -> None:
    ana = EnrolledPerson("ana", "Ana", "adult", True, 0.0, samples(12, seed=300))
    site = SiteIdentity(two_cameras(), ["gate", "pool"], enrolled=[ana])
    gate = Sim(camera="gate")
    for i in range(4):
        site.submit([sighting("gate", 1, gate.now, 12, i), sighting("gate", 2, gate.now, 40, i)])
        obs = feed(site, gate, {1: P(100, 300), 2: P(400, 300)})
    by_id = {t.track_id: t for t in obs.tracks}
    assert (by_id[1].person_id, by_id[1].enrolled_id, by_id[1].role, by_id[1].responsible) == (
        "ana",
        "ana",
        "adult",
        True,
    )
    assert by_id[2].enrolled_id is None and not by_id[2].responsible
    assert by_id[2].person_id is not None and by_id[2].person_id.startswith("#")


def test_identity_fields_survive_the_observations_file() -> None:
    ana = EnrolledPerson("ana", "Ana", "adult", True, 0.0, samples(12, seed=300))
    site = SiteIdentity(two_cameras(), ["gate", "pool"], enrolled=[ana])
    gate = Sim(camera="gate")
    for i in range(4):
        site.submit([sighting("gate", 1, gate.now, 12, i)])
        obs = feed(site, gate, {1: P(100, 300)})
    back = from_json(to_json(obs))
    assert back.tracks[0].person_id == "ana" and back.tracks[0].enrolled_id == "ana"
    assert back.tracks[0].responsible and back.tracks[0].role == "adult"


# --------------------------------------------------------------------------- rules

RULES = """
rules:
  - id: responsible_in_water
    triggers: [{kind: zone_enter, zones: water}]
    conditions: [{kind: responsible}]
  - id: child_in_water
    triggers: [{kind: zone_enter, zones: water}]
    conditions: [{kind: role, roles: [child]}]
  - id: ana_in_water
    triggers: [{kind: zone_enter, zones: water}]
    conditions: [{kind: person, names: [ana]}]
  - id: stranger_in_water
    triggers: [{kind: zone_enter, zones: water}]
    conditions: [{kind: person, known: false}, {kind: responsible, responsible: false}]
"""


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("ana", {"responsible_in_water", "ana_in_water"}),
        ("leo", {"child_in_water"}),
        ("stranger", {"stranger_in_water"}),
    ],
)
def test_rule_conditions_see_identity(tmp_path: Path, who: str, expected: set[str]) -> None:
    """Enrolled Ana (responsible adult), enrolled Leo (a child) and an anonymous person
    walk into the water; the identity stage fills their tracks, the rules read them."""
    enrolled = [
        EnrolledPerson("ana", "Ana", "adult", True, 0.0, samples(12, seed=300)),
        EnrolledPerson("leo", "Leo", "child", False, 0.0, samples(20, seed=300)),
    ]
    colour = {"ana": 12, "leo": 20, "stranger": 45}[who]
    cfg = IdentityConfig.model_validate({"cameras": [{"camera": "pool"}]})
    site = SiteIdentity(cfg, ["pool"], enrolled=enrolled)
    engine = RuleEngine(rules_from(tmp_path, RULES).rules, RuleContext())
    sim = Sim()
    fired: set[str] = set()
    for i in range(30):
        if not site.settled("pool", 1):
            site.submit([sighting("pool", 1, sim.now, colour, i)])
        where = P(120, 300) if i < 10 else P(300, 300)  # deck, then water
        obs = site.update(sim.step({1: where}))
        fired |= {f.event.rule_id for f in engine.process(obs)}
    assert obs.tracks[0].state is TrackState.TRACKED
    assert fired == expected


# --------------------------------------------------------------------------- config


def site_file(tmp_path: Path, identity: str) -> Path:
    video = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    path = tmp_path / "guardian.yaml"
    path.write_text(
        f"cameras:\n  - id: gate\n    source: {video}\n  - id: pool\n    source: {video}\n"
        + identity
    )
    return path


def test_config_defaults_off_and_reads_a_graph(tmp_path: Path) -> None:
    assert not load_site(site_file(tmp_path, "")).site.identity.enabled
    bundle = load_site(
        site_file(
            tmp_path,
            "identity:\n  cameras:\n    - {camera: gate, role: entry}\n"
            "  links:\n    - {from: gate, to: pool, transit: [2s, 1m]}\n",
        )
    )
    ident = bundle.site.identity
    assert ident.enabled and ident.role_of("gate") == "entry" and ident.role_of("pool") == "area"
    assert ident.links[0].transit == (2.0, 60.0)


@pytest.mark.parametrize(
    ("identity", "line", "words"),
    [
        (
            "identity:\n  cameras:\n    - {camera: gate, role: entry}\n"
            "  links:\n    - {from: gate, to: pol, same_area: true}\n",
            10,
            ["'pol'", "not in 'cameras'", "did you mean 'pool'"],
        ),
        (
            "identity:\n  cameras:\n    - {camera: gaet, role: entry}\n",
            8,
            ["'gaet'", "did you mean 'gate'"],
        ),
        (
            "identity:\n  links:\n    - {from: gate, to: pool}\n",
            8,
            ["neither 'same_area: true' nor 'transit"],
        ),
        (
            "identity:\n  links:\n    - {from: gate, to: pool, transit: [30s, 2s]}\n",
            8,
            ["goes backwards"],
        ),
        ("identity:\n  cameras:\n    - {camera: gate, role: exit}\n", 8, ["entry", "area"]),
    ],
)
def test_config_errors_name_file_and_line(
    tmp_path: Path, identity: str, line: int, words: Sequence[str]
) -> None:
    path = site_file(tmp_path, identity)
    with pytest.raises(ConfigError) as err:
        load_site(path)
    [problem] = err.value.problems
    assert problem.file == path and problem.line == line, str(problem)
    for word in words:
        assert word in problem.message, problem.message


def test_links_need_two_cameras_and_thresholds_in_order() -> None:
    with pytest.raises(ValueError, match="to itself"):
        CameraLink.model_validate({"from": "pool", "to": "pool", "same_area": True})
    with pytest.raises(ValueError, match="new_person"):
        MatchConfig(accept=0.5, new_person=0.4)
    with pytest.raises(ValueError, match="twice"):
        IdentityConfig(cameras=(IdentityCamera(camera="a"), IdentityCamera(camera="a")))


# --------------------------------------------------------------------------- real crops

A06 = "UPFall_S1_A06_T1_Cam{}.mp4"
FRAMES = (200, 230, 260)


def frames_of(cam: int) -> list[np.ndarray]:
    path = require_corpus("fall", "upfall", A06.format(cam))
    cap = cv2.VideoCapture(str(path))
    out = []
    for index in FRAMES:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
        assert ok, f"cannot read frame {index} of {path}"
        out.append(image)
    cap.release()
    return out


@pytest.fixture(scope="module")
def embedder() -> AppearanceEmbedder:
    return AppearanceEmbedder(threads=1)


@pytest.fixture(scope="module")
def a06_people(detector: PoseDetector, embedder: AppearanceEmbedder) -> dict[str, list[Appearance]]:
    """The walker in Cam1, the walker and the seated person in Cam2 (frames 200-260)."""
    people: dict[str, list[Appearance]] = {"walker1": [], "walker2": [], "seated": []}
    for cam in (1, 2):
        for image in frames_of(cam):
            for det in detector.detect(image):
                if det.box.height < 120:
                    continue  # people far behind Cam1's glass wall
                seated = cam == 2 and det.box.center[0] > 470
                who = "seated" if seated else f"walker{cam}"
                vector = embedder.embed(image, [det.box])[0]
                people[who].append(describe(image, det.box, det.keypoints, vector))
    assert all(len(v) == len(FRAMES) for v in people.values()), {
        k: len(v) for k, v in people.items()
    }
    return people


def test_real_walker_matched_across_cameras(a06_people: dict[str, list[Appearance]]) -> None:
    [d] = decide(
        {("cam1", 1): a06_people["walker1"]},
        {
            ("cam1", 1): [
                Candidate("walker", tuple(a06_people["walker2"]), 0.0),
                Candidate("seated", tuple(a06_people["seated"]), 0.0),
            ]
        },
        MATCH,
    )
    assert d.verdict is Verdict.MATCH and d.person_id == "walker", d


def test_real_seated_person_never_takes_the_walkers_identity(
    a06_people: dict[str, list[Appearance]],
) -> None:
    """Only the walker on site: the seated person's new track must not become them."""
    [d] = decide(
        {("cam2", 9): a06_people["seated"]},
        {
            ("cam2", 9): [
                Candidate("walker", tuple(a06_people["walker1"] + a06_people["walker2"]), 0.0)
            ]
        },
        MATCH,
    )
    assert d.person_id is None and d.verdict is Verdict.NEW, d


def test_real_colours_separate_white_shirt_from_red(
    a06_people: dict[str, list[Appearance]],
) -> None:
    w1, w2, s = a06_people["walker1"][0], a06_people["walker2"][0], a06_people["seated"][0]
    assert w1.torso is not None and w2.torso is not None and s.torso is not None
    assert hist_distance(w1.torso, w2.torso) < hist_distance(w1.torso, s.torso)


# --------------------------------------------------------------------------- cost


def standing_track(tid: int, x: float, t: float) -> Track:
    """A person standing at x (feet at y=400, 240 px tall) with a full skeleton."""
    top, h = 160.0, 240.0
    ys = [
        0.05,
        0.04,
        0.04,
        0.05,
        0.05,
        0.2,
        0.2,
        0.35,
        0.35,
        0.48,
        0.48,
        0.5,
        0.5,
        0.73,
        0.73,
        0.97,
        0.97,
    ]
    dx = [0, -4, 4, -8, 8, -25, 25, -30, 30, -32, 32, -15, 15, -15, 15, -15, 15]
    kps = tuple(Keypoint(x + d, top + f * h, 0.9) for d, f in zip(dx, ys, strict=True))
    return Track(
        "pool", tid, TrackState.TRACKED, Box(x - 40, top, x + 40, top + h), 0.9, kps, 0.0, t, 5
    )


def test_samples_stop_once_a_track_is_identified(
    embedder: AppearanceEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The camera half embeds a new track once and samples it a few times; once the site
    settled it, 100 more frames cost no sample and no embedding."""
    calls: list[int] = []
    real = embedder.embed

    def counting(image: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
        calls.append(len(boxes))
        return real(image, boxes)

    monkeypatch.setattr(embedder, "embed", counting)
    cfg = IdentityConfig.model_validate({"cameras": [{"camera": "pool"}]})
    site = SiteIdentity(cfg, ["pool"], embedder=embedder)
    cam = site.camera("pool")
    image = np.full((480, 640, 3), 90, np.uint8)
    cv2.rectangle(image, (180, 200), (220, 280), (0, 0, 200), -1)  # a red shirt
    cv2.rectangle(image, (185, 280), (215, 395), (120, 60, 20), -1)  # blue trousers
    sightings = 0
    for i in range(120):
        t = 100.0 + i / 10
        track = standing_track(1, 200, t)
        sightings += len(cam.sample(Frame("pool", i, t, i / 10, image), [track]))
        obs = site.update(Observation("pool", i, t, i / 10, 640, 480, (track,), (), (), ()))
    assert obs.tracks[0].person_id == "#1"
    assert sum(calls) == cfg.embeddings_per_track  # one embedding for the whole track
    assert cfg.match.samples <= sightings <= cfg.match.samples + 1
