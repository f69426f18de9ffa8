"""Tests of guardian.pose: synthetic stick figures, then the real model on real footage."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from corpus import require_corpus

from guardian.detection import PoseDetector
from guardian.pose import PostureTracker, PostureTuning, classify, measure
from guardian.records import Box, Keypoint, Posture, PostureReading, Track, TrackState
from guardian.sources import open_source
from guardian.tracking import Tracker

# --------------------------------------------------------------------------- stick figures

#: keypoint offsets (x, y) in units of the standing height, from the feet (y up is negative)
Shape = tuple[tuple[float, float], ...]

STAND: Shape = (
    (0.0, -0.93),  # nose
    (-0.02, -0.95),
    (0.02, -0.95),
    (-0.04, -0.94),
    (0.04, -0.94),
    (-0.1, -0.8),  # shoulders
    (0.1, -0.8),
    (-0.13, -0.63),  # elbows
    (0.13, -0.63),
    (-0.14, -0.48),  # wrists
    (0.14, -0.48),
    (-0.06, -0.5),  # hips
    (0.06, -0.5),
    (-0.06, -0.27),  # knees
    (0.06, -0.27),
    (-0.06, -0.03),  # ankles
    (0.06, -0.03),
)
#: on a chair: hips at seat height, thighs forward, torso upright
SIT_CHAIR: Shape = (
    (0.0, -0.66),
    (-0.02, -0.68),
    (0.02, -0.68),
    (-0.04, -0.67),
    (0.04, -0.67),
    (-0.1, -0.55),
    (0.1, -0.55),
    (-0.12, -0.4),
    (0.12, -0.4),
    (0.0, -0.3),
    (0.1, -0.3),
    (-0.06, -0.27),
    (0.06, -0.27),
    (0.16, -0.28),
    (0.2, -0.28),
    (0.16, -0.03),
    (0.2, -0.03),
)
#: on the floor: hips on the ground, knees up, torso upright
SIT_FLOOR: Shape = (
    (0.0, -0.47),
    (-0.02, -0.49),
    (0.02, -0.49),
    (-0.04, -0.48),
    (0.04, -0.48),
    (-0.1, -0.36),
    (0.1, -0.36),
    (-0.14, -0.2),
    (0.14, -0.2),
    (-0.16, -0.06),
    (0.16, -0.06),
    (-0.06, -0.06),
    (0.06, -0.06),
    (0.2, -0.22),
    (0.24, -0.22),
    (0.4, -0.03),
    (0.44, -0.03),
)
#: flat on the floor, head to the left
LIE: Shape = (
    (-0.45, -0.09),
    (-0.47, -0.1),
    (-0.47, -0.08),
    (-0.46, -0.11),
    (-0.46, -0.07),
    (-0.3, -0.12),
    (-0.3, -0.05),
    (-0.15, -0.13),
    (-0.15, -0.03),
    (-0.02, -0.12),
    (-0.02, -0.03),
    (0.0, -0.11),
    (0.0, -0.05),
    (0.23, -0.1),
    (0.23, -0.05),
    (0.46, -0.09),
    (0.46, -0.05),
)
#: bent at the waist to pick something up: legs straight, torso horizontal
BEND: Shape = (
    (0.42, -0.42),
    (0.42, -0.44),
    (0.42, -0.44),
    (0.4, -0.45),
    (0.4, -0.45),
    (0.3, -0.5),
    (0.3, -0.46),
    (0.32, -0.32),
    (0.32, -0.3),
    (0.34, -0.15),
    (0.34, -0.13),
    (-0.02, -0.52),
    (0.02, -0.5),
    (-0.03, -0.27),
    (0.03, -0.27),
    (-0.04, -0.03),
    (0.04, -0.03),
)

HEIGHT = 300.0  # standing height in pixels
FEET = (320.0, 420.0)  # where the feet stand in the image
FRAME = (640, 480)


def body(
    shape: Shape, conf: float = 0.9, hidden: Sequence[int] = ()
) -> tuple[Box, tuple[Keypoint, ...]]:
    """Box and keypoints of ``shape`` drawn at FEET with HEIGHT."""
    fx, fy = FEET
    kps = tuple(
        Keypoint(fx + x * HEIGHT, fy + y * HEIGHT, 0.0 if i in hidden else conf)
        for i, (x, y) in enumerate(shape)
    )
    xs = [k.x for k in kps]
    ys = [k.y for k in kps]
    head = 0.07 * HEIGHT  # the box reaches above the nose and past the ankles
    box = Box(
        min(xs) - 0.05 * HEIGHT, min(ys) - head, max(xs) + 0.05 * HEIGHT, max(ys) + 0.03 * HEIGHT
    )
    return box, kps


def blend(a: Shape, b: Shape, f: float) -> Shape:
    return tuple(
        (ax + (bx - ax) * f, ay + (by - ay) * f) for (ax, ay), (bx, by) in zip(a, b, strict=True)
    )


@dataclass(frozen=True)
class Step:
    """Hold ``shape`` (``move`` = 0), or move from the previous shape to it, over ``seconds``."""

    shape: Shape
    seconds: float
    move: bool = False


def script(steps: Sequence[Step], fps: float) -> list[tuple[float, Shape]]:
    """(time, shape) of every frame of a scripted sequence, starting at t = 0."""
    out: list[tuple[float, Shape]] = []
    t, current = 0.0, steps[0].shape
    dt = 1.0 / fps
    for step in steps:
        end = t + step.seconds
        start, origin = t, current
        while t < end - 1e-9:
            f = min(1.0, (t - start + dt) / step.seconds) if step.move else 1.0
            out.append((t, blend(origin, step.shape, f) if step.move else step.shape))
            t += dt
        current = step.shape
    return out


def track(
    box: Box,
    kps: tuple[Keypoint, ...],
    t: float,
    track_id: int = 1,
    state: TrackState = TrackState.TRACKED,
) -> Track:
    return Track("cam", track_id, state, box, 0.9, kps, 0.0, t, 10)


T0 = 1_700_000_000.0


def play(
    steps: Sequence[Step],
    fps: float,
    pt: PostureTracker | None = None,
    draw: Callable[[Shape], tuple[Box, tuple[Keypoint, ...]]] = body,
) -> list[tuple[float, PostureReading]]:
    """The reading of track 1 for every frame of ``steps`` (times relative to the start)."""
    pt = pt or PostureTracker()
    out = []
    for t, shape in script(steps, fps):
        box, kps = draw(shape)
        (reading,) = pt.update([track(box, kps, T0 + t)], T0 + t, *FRAME)
        out.append((t, reading))
    return out


def falls(readings: Sequence[tuple[float, PostureReading]]) -> set[float]:
    return {r.fall_at - T0 for _, r in readings if r.fall_at is not None}


FPS = [5.0, 9.0, 18.0, 30.0]

# --------------------------------------------------------------------------- per frame


@pytest.mark.parametrize(
    ("shape", "posture"),
    [
        (STAND, Posture.STANDING),
        (SIT_CHAIR, Posture.SITTING),
        (SIT_FLOOR, Posture.SITTING),
        (LIE, Posture.LYING),
        (BEND, Posture.UNKNOWN),  # bent over, legs straight: not lying
    ],
)
def test_raw_posture_of_one_frame(shape: Shape, posture: Posture) -> None:
    box, kps = body(shape)
    raw, conf = classify(measure(box, kps))
    assert raw is posture
    assert 0.0 <= conf <= 1.0


def test_measure_without_keypoints_uses_the_box() -> None:
    box, kps = body(LIE, conf=0.0)
    m = measure(box, kps)
    assert m.torso_angle is None and m.thigh_drop is None and m.hip_y is None
    assert classify(m)[0] is Posture.LYING  # wide box
    box, kps = body(STAND, conf=0.0)
    assert classify(measure(box, kps))[0] is Posture.UNKNOWN
    assert classify(measure(box, ()))[0] is Posture.UNKNOWN  # no keypoints at all


def test_head_down_towards_the_camera_is_lying() -> None:
    # shoulders below the hips in the image: a body on the floor seen end-on
    flipped = tuple((x, -0.6 - y) for x, y in STAND)
    box, kps = body(flipped)
    m = measure(box, kps)
    assert m.torso_angle is not None and m.torso_angle > 150
    assert classify(m)[0] is Posture.LYING


# --------------------------------------------------------------------------- sequences

FALL = [Step(STAND, 2.0), Step(LIE, 0.6, move=True), Step(LIE, 3.0)]
FALL_TO_SITTING = [Step(STAND, 2.0), Step(SIT_FLOOR, 0.5, move=True), Step(SIT_FLOOR, 3.0)]
LIE_DOWN_SLOWLY = [
    Step(STAND, 2.0),
    Step(SIT_FLOOR, 2.0, move=True),
    Step(SIT_FLOOR, 1.5),
    Step(LIE, 2.0, move=True),
    Step(LIE, 4.0),
]
SIT_ON_CHAIR_FAST = [Step(STAND, 2.0), Step(SIT_CHAIR, 0.5, move=True), Step(SIT_CHAIR, 3.0)]
PICK_UP = [
    Step(STAND, 2.0),
    Step(BEND, 0.4, move=True),
    Step(BEND, 1.0),
    Step(STAND, 0.6, move=True),
    Step(STAND, 2.0),
]
FALL_AND_GET_UP = [
    *FALL,
    Step(SIT_FLOOR, 1.0, move=True),
    Step(STAND, 1.0, move=True),
    Step(STAND, 3.0),
]


@pytest.mark.parametrize("fps", FPS)
@pytest.mark.parametrize(
    ("steps", "ends", "fall"),
    [
        pytest.param(FALL, Posture.LYING, True, id="fall"),
        pytest.param(FALL_TO_SITTING, Posture.SITTING, True, id="fall to sitting on the floor"),
        pytest.param(LIE_DOWN_SLOWLY, Posture.LYING, False, id="lying down slowly"),
        pytest.param(SIT_ON_CHAIR_FAST, Posture.SITTING, False, id="sitting down fast on a chair"),
        pytest.param(PICK_UP, Posture.STANDING, False, id="picking something up"),
    ],
)
def test_falls_and_not_falls(steps: list[Step], ends: Posture, fall: bool, fps: float) -> None:
    readings = play(steps, fps)
    assert readings[-1][1].posture is ends
    found = falls(readings)
    if not fall:
        assert found == set()
        return
    assert len(found) == 1
    (at,) = found
    start = steps[0].seconds  # the fall starts here and ends 0.5–0.6 s later
    assert start <= at <= start + 0.8
    reported = min(t for t, r in readings if r.fall_at is not None)
    assert reported <= start + steps[1].seconds + 0.7  # confirmed quickly
    assert readings[-1][1].fall_at is not None  # still down: kept


@pytest.mark.parametrize("fps", FPS)
def test_getting_up_clears_the_fall(fps: float) -> None:
    readings = play(FALL_AND_GET_UP, fps)
    assert len(falls(readings)) == 1
    last = readings[-1][1]
    assert last.posture is Posture.STANDING and last.fall_at is None
    cleared = min(t for t, r in readings if t > 3.0 and r.fall_at is None)
    assert cleared <= sum(s.seconds for s in FALL_AND_GET_UP[:5]) + 1.0


@pytest.mark.parametrize("fps", FPS)
def test_since_is_when_the_posture_started(fps: float) -> None:
    readings = play(SIT_ON_CHAIR_FAST, fps)
    first, last = readings[0][1], readings[-1][1]
    assert first.posture is Posture.STANDING and first.since == T0
    assert last.posture is Posture.SITTING
    assert 2.0 <= last.since - T0 <= 2.8
    assert 0.5 <= last.confidence <= 1.0


@pytest.mark.parametrize("fps", FPS)
def test_one_noisy_frame_does_not_flip_the_posture(fps: float) -> None:
    pt = PostureTracker()
    out = []
    for i in range(int(3 * fps)):
        t = T0 + i / fps
        box, kps = body(LIE if i == int(1.5 * fps) else STAND)
        (reading,) = pt.update([track(box, kps, t)], t, *FRAME)
        out.append(reading)
    assert all(r.posture is Posture.STANDING and r.since == T0 for r in out)
    assert all(r.fall_at is None for r in out)


@pytest.mark.parametrize("fps", FPS)
def test_fall_with_keypoints_lost_on_the_floor(fps: float) -> None:
    """Once down, the model sees only the box: the fall is still confirmed."""

    def draw(shape: Shape) -> tuple[Box, tuple[Keypoint, ...]]:
        down = shape[11][1] > -0.2  # hips near the floor
        return body(shape, conf=0.1 if down else 0.9)

    readings = play(FALL, fps, draw=draw)
    assert len(falls(readings)) == 1
    assert readings[-1][1].posture is Posture.LYING


@pytest.mark.parametrize("fps", FPS)
def test_fall_with_the_legs_hidden(fps: float) -> None:
    """Knees and ankles never seen (a desk in front): box and torso still tell."""
    legs = (13, 14, 15, 16)
    readings = play(FALL, fps, draw=lambda s: body(s, hidden=legs))
    assert len(falls(readings)) == 1
    assert readings[-1][1].posture is Posture.LYING
    readings = play(LIE_DOWN_SLOWLY, fps, draw=lambda s: body(s, hidden=legs))
    assert falls(readings) == set()


def test_no_keypoints_at_all_never_falls() -> None:
    readings = play(FALL, 18.0, draw=lambda s: body(s, conf=0.0))
    assert falls(readings) == set()
    assert readings[0][1].posture is Posture.UNKNOWN
    assert readings[-1][1].posture is Posture.LYING  # the box alone says lying


def test_lost_track_repeats_its_last_reading() -> None:
    pt = PostureTracker()
    steps = script(FALL, 18.0)
    last: PostureReading | None = None
    t = 0.0
    for t, shape in steps:
        box, kps = body(shape)
        (last,) = pt.update([track(box, kps, T0 + t)], T0 + t, *FRAME)
    assert last is not None and last.fall_at is not None
    box, kps = body(LIE)
    lost = track(box, kps, T0 + t, state=TrackState.LOST)
    for k in range(1, 20):
        (again,) = pt.update([lost], T0 + t + k / 18, *FRAME)
        assert again == last


def test_removed_track_is_forgotten() -> None:
    pt = PostureTracker()
    t = 0.0
    for t, shape in script(FALL, 18.0):
        box, kps = body(shape)
        pt.update([track(box, kps, T0 + t)], T0 + t, *FRAME)
    assert pt.tracked_ids() == (1,)
    box, kps = body(LIE)
    assert (
        pt.update([track(box, kps, T0 + t + 1, state=TrackState.REMOVED)], T0 + t + 1, *FRAME) == ()
    )
    assert pt.tracked_ids() == ()
    # the same id seen again starts from nothing: no fall carried over
    (fresh,) = pt.update([track(box, kps, T0 + t + 2)], T0 + t + 2, *FRAME)
    assert fresh.fall_at is None and fresh.since == T0 + t + 2


def test_tentative_tracks_get_no_reading_and_lost_unknown_tracks_do() -> None:
    pt = PostureTracker()
    box, kps = body(STAND)
    assert pt.update([track(box, kps, T0, state=TrackState.TENTATIVE)], T0, *FRAME) == ()
    lost = track(box, kps, T0, track_id=7, state=TrackState.LOST)
    (reading,) = pt.update([lost], T0, *FRAME)
    assert reading.track_id == 7 and reading.posture is Posture.UNKNOWN and reading.fall_at is None
    assert pt.update([lost], T0 + 0.5, *FRAME) == (reading,)  # repeated, same since


def test_tracks_no_longer_passed_are_dropped_eventually() -> None:
    pt = PostureTracker()
    box, kps = body(STAND)
    pt.update([track(box, kps, T0, track_id=3)], T0, *FRAME)
    pt.update([track(box, kps, T0 + 10, track_id=4)], T0 + 10, *FRAME)
    assert set(pt.tracked_ids()) == {3, 4}
    pt.update([track(box, kps, T0 + 60, track_id=4)], T0 + 60, *FRAME)
    assert pt.tracked_ids() == (4,)


def test_two_people_are_kept_apart() -> None:
    """A seated person next to a faller never gets the fall."""
    pt = PostureTracker()
    seated_box, seated_kps = body(SIT_CHAIR)
    seated_box = replace(seated_box, x1=seated_box.x1 + 250, x2=seated_box.x2 + 250)
    seated_kps = tuple(replace(k, x=k.x + 250) for k in seated_kps)
    by_id: dict[int, list[PostureReading]] = {1: [], 2: []}
    for t, shape in script(FALL, 9.0):
        box, kps = body(shape)
        tracks = [track(box, kps, T0 + t, 1), track(seated_box, seated_kps, T0 + t, 2)]
        for r in pt.update(tracks, T0 + t, *FRAME):
            by_id[r.track_id].append(r)
    assert by_id[1][-1].fall_at is not None
    assert all(r.fall_at is None and r.posture is Posture.SITTING for r in by_id[2])


def test_handoff_to_a_new_track_where_a_falling_one_vanished() -> None:
    """The model loses the person mid-fall; the tracker starts a new id on the floor."""
    pt = PostureTracker()
    frames = script(FALL, 9.0)
    vanish = 2.0 + 0.35  # half-way down
    back = vanish + 0.8
    for t, shape in frames:
        box, kps = body(shape)
        if t < vanish:
            tracks = [track(box, kps, T0 + t, 1)]
        elif t < back:
            tracks = [track(box, kps, T0 + t, 1, TrackState.LOST)]
        else:
            tracks = [track(box, kps, T0 + t, 1, TrackState.LOST), track(box, kps, T0 + t, 2)]
        readings = {r.track_id: r for r in pt.update(tracks, T0 + t, *FRAME)}
    assert readings[2].fall_at is not None
    assert readings[2].posture is Posture.LYING


@pytest.mark.parametrize("fps", FPS)
def test_one_glitched_frame_then_lost_is_no_fall(fps: float) -> None:
    """A standing person, one frame with a skeleton on the floor, then never seen again."""
    pt = PostureTracker()
    glitch = int(2 * fps)
    for i in range(int(4 * fps)):
        t = T0 + i / fps
        box, kps = body(LIE if i == glitch else STAND)
        state = TrackState.TRACKED if i <= glitch else TrackState.LOST
        (reading,) = pt.update([track(box, kps, t, state=state)], t, *FRAME)
        assert reading.fall_at is None


@pytest.mark.parametrize("fps", FPS)
def test_lost_for_good_right_after_hitting_the_floor(fps: float) -> None:
    """The model loses the person once they are down and never finds them again: a fall
    this fast and deep is confirmed from what was seen."""
    pt = PostureTracker()
    end = FALL[0].seconds + FALL[1].seconds
    readings = []
    for t, shape in script(FALL, fps):
        box, kps = body(shape)
        state = TrackState.TRACKED if t < end else TrackState.LOST
        (reading,) = pt.update([track(box, kps, T0 + t, state=state)], T0 + t, *FRAME)
        readings.append((t, reading))
    assert len(falls(readings)) == 1
    assert readings[-1][1].fall_at is not None


def test_a_confirmed_fall_follows_an_id_switch_on_the_floor() -> None:
    pt = PostureTracker()
    t = 0.0
    last = None
    for t, shape in script(FALL, 9.0):
        box, kps = body(shape)
        (last,) = pt.update([track(box, kps, T0 + t)], T0 + t, *FRAME)
    assert last is not None and last.fall_at is not None
    box, kps = body(LIE)
    later = T0 + t + 0.5
    tracks = [track(box, kps, later, 1, TrackState.LOST), track(box, kps, later, 2)]
    old, new = pt.update(tracks, later, *FRAME)
    assert old == last
    assert new.track_id == 2 and new.fall_at == last.fall_at
    assert new.posture is Posture.LYING


def test_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        PostureTuning(fall_window=0.0)
    with pytest.raises(ValueError):
        PostureTuning(confirm_frames=0)
    with pytest.raises(ValueError):
        PostureTuning(lost_fall=-1.0)
    assert PostureTracker().tuning == PostureTuning()


def test_cost_per_track_is_small() -> None:
    pt = PostureTracker()
    frames = script(FALL_AND_GET_UP, 30.0)
    people = 5
    t0 = time.perf_counter()
    for t, shape in frames:
        box, kps = body(shape)
        pt.update([track(box, kps, T0 + t, i) for i in range(people)], T0 + t, *FRAME)
    per_track = (time.perf_counter() - t0) / (len(frames) * people)
    assert per_track < 0.5e-3  # the budget is 2 ms; typically ~0.05 ms


# --------------------------------------------------------------------------- real footage


@dataclass(frozen=True)
class Truth:
    onset: float
    on_ground: float


def _truth(name: str) -> Truth:
    path = require_corpus("ground_truth", "upfall_subject1_trial1.csv")
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["file"].endswith(name):
                fps = float(row["fps"])
                return Truth(
                    int(row["fall_onset_frame_est"]) / fps, int(row["on_ground_frame_est"]) / fps
                )
    raise AssertionError(f"{name} not in the ground truth")


def _run(
    detector: PoseDetector, clip: Path, fps: float, stop_after: float | None = None
) -> list[tuple[float, PostureReading]]:
    """Detector + tracker + PostureTracker at ``fps``; (pts, reading) of every reading."""
    source = open_source("cam", clip, fps=fps)
    tracker = Tracker("cam")
    postures = PostureTracker()
    out = []
    shift = source.opened_at  # file timestamps are this plus the position in the clip
    try:
        for frame in source.frames():
            if stop_after is not None and frame.pts > stop_after:
                break
            tracks = tracker.update(detector.detect(frame.image), frame.timestamp)
            for r in postures.update(tracks, frame.timestamp, frame.width, frame.height):
                out.append(
                    (
                        frame.pts,
                        replace(
                            r,
                            since=r.since - shift,
                            fall_at=None if r.fall_at is None else r.fall_at - shift,
                        ),
                    )
                )
    finally:
        source.close()
    return out


@pytest.mark.corpus
@pytest.mark.model
def test_fall_detected_on_real_footage(detector: PoseDetector) -> None:
    name = "UPFall_S1_A01_T1_Cam1.mp4"
    clip = require_corpus("fall", "upfall", name)
    truth = _truth(name)
    readings = _run(detector, clip, fps=9.0, stop_after=6.0)  # on the floor from 3.2 s
    found = {(r.track_id, r.fall_at) for _, r in readings if r.fall_at is not None}
    assert len(found) == 1, found
    ((fallen, at),) = found
    assert at is not None and truth.onset - 0.5 <= at <= truth.on_ground + 1.0
    reported = min(pts for pts, r in readings if r.fall_at is not None)
    assert reported <= truth.on_ground + 2.0
    last = [r for _, r in readings if r.track_id == fallen][-1]  # still on the floor at 6 s
    assert last.posture is Posture.LYING and last.fall_at == at


@pytest.mark.corpus
@pytest.mark.model
def test_picking_something_up_is_no_fall_on_real_footage(detector: PoseDetector) -> None:
    """A09 Cam2: bending down as fast as a fall (the hips stay up); a seated person too."""
    clip = require_corpus("fall", "upfall", "UPFall_S1_A09_T1_Cam2.mp4")
    readings = _run(detector, clip, fps=9.0)
    assert readings
    assert all(r.fall_at is None for _, r in readings)
    assert {r.posture for _, r in readings} >= {Posture.STANDING, Posture.SITTING}


@pytest.mark.corpus
@pytest.mark.model
def test_lying_on_a_mattress_is_lying_but_no_fall_on_real_footage(detector: PoseDetector) -> None:
    """A11 Cam1: a person lying (and moving) on a mattress: LYING, never a fall."""
    clip = require_corpus("fall", "upfall", "UPFall_S1_A11_T1_Cam1.mp4")
    readings = _run(detector, clip, fps=9.0, stop_after=6.0)
    assert all(r.fall_at is None for _, r in readings)
    lying = [r for _, r in readings if r.posture is Posture.LYING]
    assert len(lying) >= 0.8 * len(readings)
