"""The learned fall classifier: shipped weights, cost, missing keypoints, 5–30 fps, pipeline.

Corpus clips come from the fall-data cache of the pose model's detections (built once by
the real model when missing); the pipeline test runs `guardian run` on two real clips.
"""

from __future__ import annotations

import dataclasses
import math
import random
import socket
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from corpus import require_corpus

from guardian.app import build_posture_tracker
from guardian.config.pose import PoseConfig
from guardian.fall.classifier import FallClassifier
from guardian.fall.data import ClipDetections, clip_detections, clip_tracks, fall_clips
from guardian.fall.features import FEATURES, FeatureTrack
from guardian.fall.model import FallNet, ModelError, shipped_weights
from guardian.pose import PostureTracker, PostureTuning
from guardian.records import Box, Keypoint, Posture, Track, TrackState

REPO = Path(__file__).resolve().parent.parent


def _clip(name: str) -> ClipDetections:
    corpus = require_corpus()
    clip = next(c for c in fall_clips(corpus) if c.name == name)
    return clip_detections(clip, corpus)


def _falls(dets: ClipDetections, step: int, clf: PostureTracker) -> dict[float, float]:
    """fall_at → first time reported, over every ``step``-th frame of the clip."""
    out: dict[float, float] = {}
    for t, tracks in clip_tracks(dets, step=step):
        for r in clf.update(tracks, t, dets.width, dets.height):
            if r.fall_at is not None:
                out.setdefault(r.fall_at, t)
    return out


def test_shipped_weights_load_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fall model must not touch the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    path = shipped_weights()
    assert path.is_file() and path.stat().st_size < 1_000_000
    clf = FallClassifier.load()
    assert clf.net is not None and clf.net.features == FEATURES
    assert 0.0 < clf.threshold < 1.0
    p = clf.net.probability(np.zeros((clf.net.window, len(FEATURES)), np.float32))
    assert 0.0 <= p <= 1.0


def test_weights_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        FallNet.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(ModelError, match="not a fall model"):
        FallNet.load(bad)


def test_build_posture_tracker_follows_the_config() -> None:
    assert type(build_posture_tracker(PoseConfig(model="geometric"))) is PostureTracker
    default = build_posture_tracker(PoseConfig())
    assert isinstance(default, FallClassifier) and default.mode == "hybrid"
    learned = build_posture_tracker(PoseConfig(model="learned"))
    assert isinstance(learned, FallClassifier) and learned.mode == "learned"
    hybrid = build_posture_tracker(PoseConfig(model="hybrid", threshold=0.7, confirm=3))
    assert isinstance(hybrid, FallClassifier)
    assert (hybrid.mode, hybrid.threshold, hybrid.confirm) == ("hybrid", 0.7, 3)
    with pytest.raises(ValueError, match=r"must be an \.npz file"):
        PoseConfig(weights="fall.pt")


def test_a_fall_at_30_and_at_5_fps() -> None:
    """The same real fall (phone room, 30 fps) processed at 30 and at 5 fps."""
    dets = _clip("Fall01")
    onset, ground = dets.clip.onset_s, dets.clip.on_ground_s
    assert onset is not None and ground is not None
    for step in (1, 6):  # 30 fps, 5 fps
        falls = _falls(dets, step, FallClassifier.load())
        hits = [at for at, seen in falls.items() if at >= onset - 0.5 and seen <= ground + 2.0]
        assert len(hits) == 1 and len(falls) == 1, (step, falls, onset, ground)


def test_missing_keypoints_do_not_crash() -> None:
    """Keypoints hidden at random, whole frames without any, tracks without keypoints."""
    dets = _clip("UPFall_S1_A01_T1_Cam1")
    rng = random.Random(5)
    clf = FallClassifier.load()
    n = 0
    for i, (t, tracks) in enumerate(clip_tracks(dets, step=2)):
        changed = []
        for tr in tracks:
            if i % 7 == 3:
                kps: tuple[Keypoint, ...] = ()
            elif i % 5 == 2:
                kps = tuple(Keypoint(k.x, k.y, 0.0) for k in tr.keypoints)
            else:
                kps = tuple(
                    Keypoint(k.x, k.y, 0.0) if rng.random() < 0.5 else k for k in tr.keypoints
                )
            changed.append(_replace_keypoints(tr, kps))
        readings = clf.update(changed, t, dets.width, dets.height)
        expected = [
            tr.track_id for tr in changed if tr.state in (TrackState.TRACKED, TrackState.LOST)
        ]
        assert [r.track_id for r in readings] == expected
        assert all(0.0 <= r.confidence <= 1.0 for r in readings)
        n += len(readings)
    assert n > 50


def test_cost_per_track_per_frame_is_small() -> None:
    """A loose sanity bound (the measured figure is in bench/fall_model.py's JSON)."""
    dets = _clip("UPFall_S1_A01_T1_Cam2")  # two people
    steps = clip_tracks(dets, step=1)
    clf = FallClassifier.load()
    t0 = time.perf_counter()
    n = 0
    for t, tracks in steps:
        clf.update(tracks, t, dets.width, dets.height)
        n += len(tracks)
    per_track = (time.perf_counter() - t0) / max(1, n)
    assert n > 100
    assert per_track < 0.010, f"{1e3 * per_track:.2f} ms per track per frame"


# --------------------------------------------------------------------- hand-off


def _body(cx: float, feet: float, height: float, angle: float) -> tuple[Box, tuple[Keypoint, ...]]:
    """A stick person of ``height`` px rotated ``angle`` degrees about the feet."""
    # (x, y) in body units: feet at 0, head at -1 (y up is negative, as in pixels)
    points = {
        0: (0.0, -0.94),
        1: (-0.02, -0.96),
        2: (0.02, -0.96),
        3: (-0.05, -0.95),
        4: (0.05, -0.95),
        5: (-0.12, -0.8),
        6: (0.12, -0.8),
        7: (-0.15, -0.62),
        8: (0.15, -0.62),
        9: (-0.16, -0.48),
        10: (0.16, -0.48),
        11: (-0.08, -0.5),
        12: (0.08, -0.5),
        13: (-0.08, -0.26),
        14: (0.08, -0.26),
        15: (-0.08, -0.02),
        16: (0.08, -0.02),
    }
    a = math.radians(angle)
    kps = []
    for i in range(17):
        x, y = points[i]
        rx = x * math.cos(a) - y * math.sin(a)
        ry = x * math.sin(a) + y * math.cos(a)
        kps.append(Keypoint(cx + rx * height, feet + ry * height, 0.9))
    xs = [k.x for k in kps]
    ys = [k.y for k in kps]
    pad = 0.05 * height
    return Box(min(xs) - pad, min(ys) - pad, max(xs) + pad, max(ys) + pad), tuple(kps)


def _track(tid: int, state: TrackState, t: float, box: Box, kps: tuple[Keypoint, ...]) -> Track:
    return Track("cam", tid, state, box, 0.9, kps, 0.0, t, 10)


def test_a_person_lost_while_falling_keeps_their_history() -> None:
    """Track 1 falls and is lost; track 2 starts where it vanished: same person."""
    clf = FallClassifier.load()
    fps = 10.0
    t = 0.0
    for _ in range(20):  # standing 2 s
        box, kps = _body(300, 400, 300, 0)
        clf.update([_track(1, TrackState.TRACKED, t, box, kps)], t, 640, 480)
        t += 1 / fps
    for k in range(1, 4):  # falling fast, then lost
        box, kps = _body(300, 400, 300, 30 * k)
        clf.update([_track(1, TrackState.TRACKED, t, box, kps)], t, 640, 480)
        t += 1 / fps
    uid = clf._people[1].uid
    box, kps = _body(300, 400, 300, 90)
    clf.update([_track(1, TrackState.LOST, t, box, kps)], t, 640, 480)
    t += 1 / fps
    readings = clf.update(
        [_track(1, TrackState.LOST, t, box, kps), _track(2, TrackState.TRACKED, t, box, kps)],
        t,
        640,
        480,
    )
    assert clf._people[2].uid == uid  # the new track carries on the old person
    assert readings[1].posture is Posture.LYING

    other = FallClassifier.load()  # a new track far from a standing one is a new person
    box, kps = _body(300, 400, 300, 0)
    for i in range(5):
        other.update([_track(1, TrackState.TRACKED, i / fps, box, kps)], i / fps, 640, 480)
    far_box, far_kps = _body(100, 400, 300, 0)
    other.update(
        [
            _track(1, TrackState.TRACKED, 0.5, box, kps),
            _track(2, TrackState.TRACKED, 0.5, far_box, far_kps),
        ],
        0.5,
        640,
        480,
    )
    assert other._people[2].uid != other._people[1].uid


def test_features_are_scale_and_position_free() -> None:
    """The same pose twice as big and elsewhere in the image gives the same features."""
    a, b = FeatureTrack(), FeatureTrack()
    for i in range(12):
        angle = 0 if i < 8 else 25 * (i - 7)
        box, kps = _body(200, 300, 200, angle)
        box2, kps2 = _body(450, 460, 400, angle)
        fa = a.observe(i / 10, box, kps)
        fb = b.observe(i / 10, box2, kps2)
        assert np.allclose(fa, fb, atol=1e-4), (i, fa - fb)
    assert fa[FEATURES.index("top_drop")] > 0.3  # and they do see the fall


def _replace_keypoints(track: Track, kps: tuple[Keypoint, ...]) -> Track:
    return dataclasses.replace(track, keypoints=kps)


# --------------------------------------------------------------------- whole pipeline

RULES = """
rules:
  - id: fall
    severity: critical
    triggers: [{kind: posture, state: fallen}]
  - id: person_down
    severity: critical
    triggers: [{kind: posture, state: lying, for: 10s}]
"""


@pytest.mark.model
def test_pipeline_fall_clip_fires_walking_clip_does_not(tmp_path: Path) -> None:
    """`guardian run` with the default pose model (hybrid: shipped weights + geometry): a
    real fall fires the fall rule near its on-ground frame, a real walk (45 s) nothing."""
    from guardian.app import run_site

    fall = require_corpus("fall", "upfall", "UPFall_S1_A01_T1_Cam1.mp4")
    walk = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    (tmp_path / "rules.yaml").write_text(RULES)
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: fall\n    source: {fall}\n    fps: 9\n"
        f"  - id: walk\n    source: {walk}\n    fps: 5\n"
        f"rules: [rules.yaml]\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
    )
    assert run_site(site, progress=False) == 0
    with sqlite3.connect(tmp_path / "guardian.db") as conn:
        rows = conn.execute(
            "select camera, rule_id, frame_index from events order by started_at"
        ).fetchall()
    falls = [frame for camera, rule, frame in rows if camera == "fall" and rule == "fall"]
    assert falls, rows
    onset, ground = 46, 58  # ground truth of A01 (18 fps)
    assert onset - 9 <= falls[0] <= ground + 36, (falls, rows)
    assert [r for r in rows if r[0] == "walk"] == []


def test_skeleton_features_plain_and_procrustes() -> None:
    """The Procrustes skeleton takes the body's rotation out; the plain one keeps it."""
    from guardian.fall.features import feature_names, skeleton_kind

    for kind in ("plain", "procrustes"):
        names = feature_names(kind)
        assert names[: len(FEATURES)] == FEATURES and len(names) == len(FEATURES) + 26
        assert skeleton_kind(names) == kind
        upright, tilted = FeatureTrack(skeleton=kind), FeatureTrack(skeleton=kind)
        box, kps = _body(300, 400, 300, 0)
        a = upright.observe(0.0, box, kps)[len(FEATURES) :]
        box, kps = _body(300, 400, 300, 70)
        b = tilted.observe(0.0, box, kps)[len(FEATURES) :]
        same = np.allclose(a, b, atol=0.02)
        assert same == (kind == "procrustes"), (kind, np.round(a - b, 2))
    assert skeleton_kind(FEATURES) == "none"


def _always(p_logit: float) -> FallNet:
    """A network that gives the same P for every window (to test what is around it)."""
    n, c = len(FEATURES), 4
    zeros = np.zeros
    return FallNet(
        mean=zeros(n, np.float32),
        std=np.ones(n, np.float32),
        convs=(
            (zeros((3 * n, c), np.float32), zeros(c, np.float32)),
            (zeros((3 * c, c), np.float32), zeros(c, np.float32)),
            (zeros((3 * c, c), np.float32), zeros(c, np.float32)),
        ),
        head_w=zeros(2 * c, np.float32),
        head_b=p_logit,
        window=20,
        rate=10.0,
        threshold=0.5,
        features=FEATURES,
    )


def _run(clf: FallClassifier, angles: list[float], fps: float = 10.0) -> list[float | None]:
    out = []
    for i, angle in enumerate(angles):
        t = i / fps
        box, kps = _body(300, 400, 300, angle)
        (reading,) = clf.update([_track(1, TrackState.TRACKED, t, box, kps)], t, 640, 480)
        out.append(reading.fall_at)
    return out


def test_a_learned_fall_needs_upright_then_down() -> None:
    """Even a network that always says "fallen" gives no fall for a person standing, or
    first seen lying; it does for one who goes from upright to the floor."""
    assert FallNet.probability(_always(10.0), np.zeros((20, len(FEATURES)), np.float32)) > 0.99
    assert _run(FallClassifier(_always(10.0)), [0.0] * 40) == [None] * 40
    assert _run(FallClassifier(_always(10.0)), [90.0] * 40) == [None] * 40
    falls = _run(FallClassifier(_always(10.0)), [0.0] * 20 + [30.0, 60.0, 90.0] + [90.0] * 20)
    assert falls[21] is None and falls[-1] is not None
    assert 2.0 <= falls[-1] <= 2.5  # dated when the body got down, not when it was seen
    assert _run(FallClassifier(_always(-10.0)), [0.0] * 20 + [90.0] * 20) == [None] * 40


def test_the_classifier_holds_the_tracker_it_is_given() -> None:
    """The geometric part is the injected tracker (its tuning, its tracks): a fall it
    clears after ``clear_after`` stays until the longer time given here."""
    tracker = PostureTracker(PostureTuning(clear_after=5.0))
    clf = FallClassifier(_always(10.0), postures=tracker)
    assert clf.postures is tracker and FallClassifier(_always(10.0)).postures is not tracker
    down = [0.0] * 20 + [30.0, 60.0, 90.0] + [90.0] * 20
    falls = _run(clf, down + [0.0] * 30)  # then upright for 3 s: < clear_after
    assert falls[-1] is not None and tracker.tracked_ids() == (1,)
    short = _run(FallClassifier(_always(10.0)), down + [0.0] * 30)  # default 1 s
    assert short[-1] is None
    clf.update([], 100.0, 640, 480)
    clf.reset()
    assert tracker.tracked_ids() == ()
