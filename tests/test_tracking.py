"""Tests of guardian.tracking: synthetic detections, then the real model on real footage."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import pytest
from corpus import require_corpus

from guardian.detection import PoseDetector
from guardian.records import Box, Detection, Keypoint, Track, TrackState
from guardian.sources import open_source
from guardian.tracking import Tracker

_KPS = tuple(Keypoint(0.0, 0.0, 0.0) for _ in range(17))


def det(cx: float, cy: float, w: float = 60.0, h: float = 160.0, score: float = 0.9) -> Detection:
    """A detection with its box centred on (cx, cy)."""
    return Detection(Box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), score, _KPS)


def run(
    tracker: Tracker, frames: Sequence[Sequence[Detection]], times: Sequence[float]
) -> list[tuple[Track, ...]]:
    return [tracker.update(f, t) for f, t in zip(frames, times, strict=True)]


def regular_times(n: int, fps: float, start: float = 1000.0) -> list[float]:
    return [start + i / fps for i in range(n)]


def jittered_times(n: int, fps: float, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    t, out = 1000.0, []
    for _ in range(n):
        out.append(t)
        t += rng.uniform(0.5, 1.5) / fps
    return out


def ids(tracks: Sequence[Track], state: TrackState | None = None) -> list[int]:
    return [t.track_id for t in tracks if state is None or t.state is state]


# --------------------------------------------------------------------------- one walker


@pytest.mark.parametrize(
    ("fps", "step", "w", "jitter"),
    [
        (30.0, 15.0, 60.0, False),  # the nominal case
        (5.0, 15.0, 60.0, False),
        (30.0, 15.0, 60.0, True),  # irregular frame times
        (5.0, 15.0, 60.0, True),
        (30.0, 50.0, 40.0, False),  # consecutive boxes do not overlap: needs the prediction
        (5.0, 50.0, 40.0, True),
    ],
)
def test_walker_keeps_one_id(fps: float, step: float, w: float, jitter: bool) -> None:
    n = 40
    times = jittered_times(n, fps) if jitter else regular_times(n, fps)
    frames = [[det(100.0 + step * i, 300.0, w=w)] for i in range(n)]
    out = run(Tracker("cam"), frames, times)
    assert out[0] == ()  # tentative: not output
    for i, tracks in enumerate(out[1:], start=1):
        assert len(tracks) == 1
        (t,) = tracks
        assert t.track_id == 1
        assert t.state is TrackState.TRACKED
        assert t.hits == i + 1
        assert t.first_seen == times[0]
        assert t.last_seen == times[i]
        assert t.box == frames[i][0].box
        assert t.camera == "cam"


def test_walker_with_noise_at_5_and_30_fps() -> None:
    rng = random.Random(7)
    for fps in (5.0, 30.0):
        tracker = Tracker("cam")
        speed = 90.0  # px per second
        times = jittered_times(60, fps, seed=3)
        seen: set[int] = set()
        for t in times:
            cx = 100.0 + speed * (t - times[0]) + rng.gauss(0.0, 2.0)
            h = 160.0 + rng.gauss(0.0, 4.0)
            seen.update(ids(tracker.update([det(cx, 300.0, h=h)], t)))
        assert seen == {1}


def test_history_is_bounded_and_oldest_first() -> None:
    tracker = Tracker("cam", history=5)
    times = regular_times(12, 10.0)
    out = run(tracker, [[det(100.0 + 10 * i, 300.0)] for i in range(12)], times)
    hist = out[-1][0].history
    assert [p.timestamp for p in hist] == times[-5:]
    assert hist[-1].box == out[-1][0].box
    assert Tracker("cam", history=0).update([det(0, 0)], 0.0) == ()


# --------------------------------------------------------------------------- two people


@pytest.mark.parametrize("fps", [5.0, 15.0, 30.0])
def test_crossing_people_keep_their_ids(fps: float) -> None:
    # A: tall, walks right; B: short (further away), walks left; they overlap mid-way.
    n = int(4 * fps)
    speed = 120.0  # px per second each
    times = regular_times(n, fps)
    tracker = Tracker("cam")
    id_of_height: dict[float, set[int]] = {200.0: set(), 120.0: set()}
    for t in times:
        dt = t - times[0]
        a = det(100.0 + speed * dt, 300.0, w=70.0, h=200.0)
        b = det(580.0 - speed * dt, 310.0, w=45.0, h=120.0)
        for track in tracker.update([a, b], t):
            assert track.state is TrackState.TRACKED
            id_of_height[round(track.box.height)].add(track.track_id)
    assert id_of_height[200.0] == {1}
    assert id_of_height[120.0] == {2}


# --------------------------------------------------------------------------- lifecycle

# A single walker at 10 fps; "." = detected, "_" = not detected.
# Expected per frame: "" (no output), or "<state letter><id>": T tracked, L lost, R removed.
LIFECYCLE_CASES = [
    pytest.param("..........", "", ["", *["T1"] * 9], id="steady"),
    pytest.param(".__.......", "", [""] * 4 + ["T1"] * 6, id="false-positive-then-walker"),
    pytest.param(
        "....___...",
        "",
        ["", "T1", "T1", "T1", "L1", "L1", "L1", "T1", "T1", "T1"],
        id="short-gap-same-id",
    ),
    pytest.param(
        "...______..",
        "max_lost=0.45",
        ["", "T1", "T1", "L1", "L1", "L1", "L1", "R1", "", "", "T2"],
        id="long-gap-removed-once-new-id",
    ),
    pytest.param("..._......", "min_hits=3", ["", "", "T1", "L1", *["T1"] * 6], id="min-hits-3"),
    pytest.param("._._._._", "", [""] * 8, id="flicker-never-confirmed"),
    pytest.param("...", "min_hits=1", ["T1", "T1", "T1"], id="min-hits-1"),
]


@pytest.mark.parametrize(("pattern", "options", "expected"), LIFECYCLE_CASES)
def test_lifecycle(pattern: str, options: str, expected: list[str]) -> None:
    kwargs: dict[str, float] = {}
    if options:
        key, value = options.split("=")
        kwargs[key] = float(value)
    tracker = Tracker(
        "cam",
        min_hits=int(kwargs.get("min_hits", 2)),
        max_lost=kwargs.get("max_lost", 2.0),
    )
    times = regular_times(len(pattern), 10.0)
    got = []
    for i, (ch, t) in enumerate(zip(pattern, times, strict=True)):
        tracks = tracker.update([det(100.0 + 8.0 * i, 300.0)] if ch == "." else [], t)
        got.append("".join(f"{tr.state.value[0].upper()}{tr.track_id}" for tr in tracks))
    assert got == expected


def test_lost_track_keeps_last_box_and_keypoints() -> None:
    tracker = Tracker("cam")
    kps = tuple(Keypoint(float(i), float(i), 0.9) for i in range(17))
    last = Detection(Box(10, 10, 70, 170), 0.8, kps)
    tracker.update([det(40, 90)], 0.0)
    tracker.update([last], 0.1)
    (lost,) = tracker.update([], 0.2)
    assert lost.state is TrackState.LOST
    assert lost.box == last.box
    assert lost.keypoints == kps
    assert lost.score == 0.8
    assert lost.last_seen == 0.1
    assert lost.hits == 2


def test_low_score_detection_keeps_track_alive() -> None:
    tracker = Tracker("cam", max_lost=0.3)
    times = regular_times(20, 10.0)
    for i, t in enumerate(times):
        score = 0.9 if i < 3 else 0.2  # partly hidden: the detector is unsure
        tracks = tracker.update([det(100.0 + 10 * i, 300.0, score=score)], t)
        if i >= 1:
            assert [(tr.track_id, tr.state) for tr in tracks] == [(1, TrackState.TRACKED)]
    # below low_score the detection is ignored: the track gets lost
    (track,) = tracker.update([det(300.0, 300.0, score=0.05)], times[-1] + 0.1)
    assert track.state is TrackState.LOST


def test_low_score_detection_never_starts_or_revives_a_track() -> None:
    tracker = Tracker("cam")
    for i in range(5):
        assert tracker.update([det(100.0 + 10 * i, 300.0, score=0.3)], i * 0.1) == ()
    # a lost track is not revived by a low-score detection (stage 2 only sees tracks that
    # were tracked in the previous frame)
    tracker = Tracker("cam")
    tracker.update([det(100, 300)], 0.0)
    tracker.update([det(110, 300)], 0.1)
    assert tracker.update([], 0.2)[0].state is TrackState.LOST
    assert tracker.update([det(130, 300, score=0.3)], 0.3)[0].state is TrackState.LOST
    assert tracker.update([det(140, 300)], 0.4)[0].state is TrackState.TRACKED


def test_ids_are_never_reused() -> None:
    tracker = Tracker("cam", max_lost=0.25)
    rng = random.Random(11)
    removed: set[int] = set()
    all_ids: list[int] = []
    # people appear at separate places, each for a random number of frames
    people: dict[int, tuple[int, int]] = {}  # slot -> (start frame, end frame)
    for slot in range(6):
        start = rng.randint(0, 20)
        people[slot] = (start, start + rng.randint(3, 15))
    # the same slot is reused later by someone else
    later = {slot: (40 + s, 40 + e) for slot, (s, e) in people.items()}
    for f in range(80):
        t = f * 0.1
        dets = [
            det(100.0 + 150.0 * slot, 300.0)
            for slot in range(6)
            if people[slot][0] <= f < people[slot][1] or later[slot][0] <= f < later[slot][1]
        ]
        for tr in tracker.update(dets, t):
            assert tr.track_id not in removed
            if tr.track_id not in all_ids:
                all_ids.append(tr.track_id)
            if tr.state is TrackState.REMOVED:
                removed.add(tr.track_id)
    assert all_ids == list(range(1, 13))
    assert removed == set(all_ids)


def test_tracks_are_returned_by_id() -> None:
    tracker = Tracker("cam")
    for i in range(5):
        out = tracker.update([det(600 - i, 300), det(100 + i, 300), det(350, 300 + i)], i / 30)
    assert ids(out) == [1, 2, 3]


def test_one_good_match_is_not_traded_for_two_poor_ones() -> None:
    tracker = Tracker("cam")
    tracker.update([det(100, 300)], 0.0)
    tracker.update([det(100, 300)], 0.1)
    # the same person again, plus a stranger just beside them
    (track,) = tracker.update([det(102, 300), det(160, 300)], 0.2)
    assert track.box == det(102, 300).box


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Tracker("cam", high_score=0.2, low_score=0.5)
    with pytest.raises(ValueError):
        Tracker("cam", min_hits=0)
    with pytest.raises(ValueError):
        Tracker("cam", max_lost=-1.0)


def test_twenty_people_keep_their_ids() -> None:
    # speed is measured by bench/pipeline.py, not here
    tracker = Tracker("cam")
    rng = random.Random(5)
    starts = [(rng.uniform(0, 1800), rng.uniform(100, 1000)) for _ in range(20)]
    frames = [
        [det(x + 3.0 * i + rng.gauss(0, 1), y + rng.gauss(0, 1)) for x, y in starts]
        for i in range(200)
    ]
    for i in range(10):
        tracker.update(frames[i], i / 30)
    ids = {t.track_id for t in tracker.update(frames[10], 10 / 30)}
    for i in range(11, 200):
        out = tracker.update(frames[i], i / 30)
    assert len(out) == 20
    assert {t.track_id for t in out} == ids


# -- on real footage ------------------------------------------------------------------


def _walker_stretches(detector: PoseDetector, clip: Path) -> list[tuple[int, int, set[int]]]:
    """(first frame, last frame, ids) of each stretch in which the walker is in view.

    The walker is the person near the camera (box taller than 150 px); people seen
    through the glass far behind are much smaller. A gap of up to 2 frames (a missed
    detection) does not end a stretch.
    """
    source = open_source("cam1", clip, fps=18)
    tracker = Tracker("cam1")
    stretches: list[tuple[int, int, set[int]]] = []
    current: tuple[int, int, set[int]] | None = None
    gap = 0
    for frame in source.frames():
        tracks = tracker.update(detector.detect(frame.image), frame.timestamp)
        near = {t.track_id for t in tracks if t.visible and t.box.height > 150}
        if near:
            current = (frame.index, frame.index, near) if current is None else current
            current = (current[0], frame.index, current[2] | near)
            gap = 0
        elif current is not None:
            gap += 1
            if gap > 2:
                stretches.append(current)
                current, gap = None, 0
    if current is not None:
        stretches.append(current)
    return stretches


def test_walker_keeps_one_id_while_in_view_on_real_footage(detector: PoseDetector) -> None:
    clip = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    stretches = _walker_stretches(detector, clip)
    long = [s for s in stretches if s[1] - s[0] >= 50]
    # the walker crosses the room and leaves the view again and again (MANIFEST.md)
    assert len(long) >= 5, stretches
    for first, last, ids in stretches:
        assert len(ids) == 1, f"frames {first}-{last}: the walker changed id {sorted(ids)}"
    assert sum(last - first + 1 for first, last, _ in stretches) >= 600
