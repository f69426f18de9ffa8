"""Tests of guardian.zones: anchors, membership with inertia, transitions and counts."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from guardian.records import Box, Keypoint, Track, TrackState, ZoneCount
from guardian.zones import Zone, ZoneTracker, ZoneUpdate, anchor_point

SQUARE = ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0))
NO_KPS = tuple(Keypoint(0.0, 0.0, 0.0) for _ in range(17))


def track(
    track_id: int = 1,
    foot: tuple[float, float] = (50.0, 50.0),
    state: TrackState = TrackState.TRACKED,
    keypoints: tuple[Keypoint, ...] = NO_KPS,
    camera: str = "cam",
    w: float = 40.0,
    h: float = 120.0,
) -> Track:
    """A track whose box has its bottom-centre at ``foot``."""
    x, y = foot
    box = Box(x - w / 2, y - h, x + w / 2, y)
    return Track(camera, track_id, state, box, 0.9, keypoints, 0.0, 0.0, 2)


def kps(**points: tuple[float, float, float]) -> tuple[Keypoint, ...]:
    names = [
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
        "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    ]  # fmt: skip
    out = [Keypoint(0.0, 0.0, 0.0)] * 17
    for name, (x, y, c) in points.items():
        out[names.index(name)] = Keypoint(x, y, c)
    return tuple(out)


def transitions_of(update: ZoneUpdate) -> list[tuple[str, int, str]]:
    return [(t.zone, t.track_id, t.kind.value) for t in update.transitions]


# --------------------------------------------------------------------------- table

# Per frame token: "in" / "out" (anchor inside / outside, TRACKED), "edge" (anchor exactly
# on the boundary, TRACKED), "lost_in" / "lost_out" (LOST, box inside / outside: the box
# of a lost track must not matter), "removed". Expected per frame: "", "enter", "leave",
# "vanish".
_FOOT = {
    "in": (50.0, 50.0),
    "out": (50.0, 300.0),
    "edge": (50.0, 100.0),
    "lost_in": (50.0, 50.0),
    "lost_out": (50.0, 300.0),
    "removed": (50.0, 300.0),
}
_STATE = {
    "lost_in": TrackState.LOST,
    "lost_out": TrackState.LOST,
    "removed": TrackState.REMOVED,
    "tentative": TrackState.TENTATIVE,
}

CASES = [
    pytest.param(3, "in in in in", ", , enter, ", id="enter-after-exactly-inertia"),
    pytest.param(3, "in in out in in out in", ", , , , , , ", id="flicker-never-enters"),
    pytest.param(2, "in in out out out", ", enter, , leave, ", id="leave-after-inertia"),
    pytest.param(
        3,
        "in in in out out in out out out",
        ", , enter, , , , , , leave",
        id="short-exit-flicker-no-leave",
    ),
    pytest.param(1, "in out in out", "enter, leave, enter, leave", id="inertia-1-immediate"),
    pytest.param(1, "out out", ", ", id="outside-nothing"),
    pytest.param(2, "in in lost_out lost_out in", ", enter, , , ", id="lost-inside-no-leave"),
    pytest.param(2, "out lost_in lost_in out", ", , , ", id="lost-box-not-tested"),
    pytest.param(2, "in lost_out in", ", , enter", id="lost-frames-freeze-the-run"),
    pytest.param(2, "in in removed", ", enter, vanish", id="removed-inside-vanish"),
    pytest.param(2, "in in lost_in removed", ", enter, , vanish", id="lost-then-removed"),
    pytest.param(2, "out removed", ", ", id="removed-outside-nothing"),
    pytest.param(3, "in in removed", ", , ", id="removed-before-entry-confirmed"),
    pytest.param(1, "in out removed", "enter, leave, ", id="removed-after-leaving"),
    pytest.param(2, "edge edge", ", enter", id="boundary-counts-as-inside"),
    pytest.param(2, "in in removed in in", ", enter, vanish, , enter", id="state-forgotten"),
]


@pytest.mark.parametrize(("inertia", "frames", "expected"), CASES)
def test_membership_table(inertia: int, frames: str, expected: str) -> None:
    zone = Zone.from_points("z", "cam", "pool", SQUARE, inertia=inertia)
    zt = ZoneTracker([zone])
    got = []
    for i, token in enumerate(frames.split()):
        state = _STATE.get(token, TrackState.TRACKED)
        update = zt.update([track(foot=_FOOT[token], state=state)], float(i))
        got.append(" ".join(t.kind.value for t in update.transitions))
        for t in update.transitions:
            assert (t.camera, t.zone, t.zone_kind, t.track_id, t.timestamp) == (
                "cam",
                "z",
                "pool",
                1,
                float(i),
            )
        # presences and counts always agree with the membership
        member = zt.dwell(1, "z", float(i)) is not None
        assert [p.track_id for p in update.presences] == ([1] if member else [])
        visible = member and state is TrackState.TRACKED
        assert update.counts == (ZoneCount("z", "pool", int(visible), int(member)),)
    assert got == [e.strip() for e in expected.split(",")]


def test_lost_inside_presence_and_counts() -> None:
    zone = Zone.from_points("z", "cam", "pool", SQUARE, inertia=1)
    zt = ZoneTracker([zone])
    zt.update([track(1), track(2), track(3, foot=(500.0, 500.0))], 0.0)
    update = zt.update(
        [
            track(1),
            track(2, foot=(500.0, 500.0), state=TrackState.LOST),
            track(3, foot=(500.0, 500.0), state=TrackState.LOST),
        ],
        1.0,
    )
    assert update.transitions == ()
    assert {(p.track_id, p.visible, p.since) for p in update.presences} == {
        (1, True, 0.0),
        (2, False, 0.0),
    }
    assert update.counts == (ZoneCount("z", "pool", 1, 2),)


def test_since_is_first_frame_of_the_confirming_run_and_dwell() -> None:
    zone = Zone.from_points("z", "cam", "pool", SQUARE, inertia=3)
    zt = ZoneTracker([zone])
    zt.update([track(foot=(50, 300))], 9.0)
    assert zt.dwell(1, "z", 9.0) is None
    zt.update([track()], 10.0)
    zt.update([track()], 10.5)
    update = zt.update([track()], 11.0)
    assert transitions_of(update) == [("z", 1, "enter")]
    assert update.transitions[0].timestamp == 11.0
    assert update.presences[0].since == 10.0
    assert zt.dwell(1, "z", 15.0) == 5.0
    assert zt.dwell(1, zone, 15.0) == 5.0
    assert zt.dwell(2, "z", 15.0) is None
    with pytest.raises(KeyError):
        zt.dwell(1, "nowhere", 15.0)
    # while lost the dwell goes on
    zt.update([track(state=TrackState.LOST)], 20.0)
    assert zt.dwell(1, "z", 20.0) == 10.0
    for t in (21.0, 22.0, 23.0):
        zt.update([track(foot=(50, 300))], t)
    assert zt.dwell(1, "z", 23.0) is None


def test_two_overlapping_zones_are_independent() -> None:
    big = Zone.from_points(
        "big", "cam", "room", [(0, 0), (200, 0), (200, 200), (0, 200)], inertia=1
    )
    small = Zone.from_points("small", "cam", "bed", SQUARE, inertia=2)
    zt = ZoneTracker([big, small])
    path = [(50, 50), (50, 50), (150, 150), (150, 150), (300, 300)]
    got = [transitions_of(zt.update([track(foot=p)], float(i))) for i, p in enumerate(path)]
    assert got == [
        [("big", 1, "enter")],
        [("small", 1, "enter")],
        [],
        [("small", 1, "leave")],
        [("big", 1, "leave")],
    ]


def test_counts_with_several_tracks_and_zones() -> None:
    a = Zone.from_points("a", "cam", "pool", SQUARE, inertia=1)
    b = Zone.from_points(
        "b", "cam", "deck", [(200, 0), (300, 0), (300, 100), (200, 100)], inertia=1
    )
    c = Zone.from_points("c", "cam", "exit", [(400, 0), (500, 0), (500, 100)], inertia=1)
    zt = ZoneTracker([a, b, c])
    tracks = [
        track(1, (10, 10)),
        track(2, (20, 90)),
        track(3, (250, 50)),
        track(4, (90, 50), state=TrackState.LOST),  # not a member yet: not counted
        track(5, (1000, 1000)),
    ]
    update = zt.update(tracks, 0.0)
    assert update.counts == (
        ZoneCount("a", "pool", 2, 2),
        ZoneCount("b", "deck", 1, 1),
        ZoneCount("c", "exit", 0, 0),
    )
    assert sorted(transitions_of(update)) == [
        ("a", 1, "enter"),
        ("a", 2, "enter"),
        ("b", 3, "enter"),
    ]
    assert [(p.zone, p.track_id) for p in update.presences] == [("a", 1), ("a", 2), ("b", 3)]
    # no tracks at all: still one count per zone
    assert [c.total for c in ZoneTracker([a, b, c]).update([], 0.0).counts] == [0, 0, 0]


def test_tracks_of_other_cameras_are_ignored() -> None:
    zone_a = Zone.from_points("a", "cam_a", "pool", SQUARE, inertia=1)
    zone_b = Zone.from_points("b", "cam_b", "pool", SQUARE, inertia=1)
    zt = ZoneTracker([zone_a, zone_b])
    update = zt.update([track(1, camera="cam_a"), track(1, camera="cam_x")], 0.0)
    assert transitions_of(update) == [("a", 1, "enter")]
    assert [(c.zone, c.total) for c in update.counts] == [("a", 1), ("b", 0)]


def test_tentative_state_is_not_visible() -> None:
    zt = ZoneTracker([Zone.from_points("z", "cam", "pool", SQUARE, inertia=1)])
    zt.update([track()], 0.0)
    update = zt.update([track(foot=(500, 500), state=TrackState.TENTATIVE)], 1.0)
    assert update.transitions == ()
    assert update.presences[0].visible is False


# --------------------------------------------------------------------------- anchors

_BOX_TRACK = track(foot=(50.0, 200.0), w=40.0, h=100.0)  # box (30, 100) - (70, 200)


@pytest.mark.parametrize(
    ("anchor", "keypoints", "expected"),
    [
        ("bottom_center", NO_KPS, (50.0, 200.0)),
        ("center", NO_KPS, (50.0, 150.0)),
        ("top_center", NO_KPS, (50.0, 100.0)),
        (
            "head",
            kps(nose=(52, 110, 0.9), left_eye=(50, 108, 0.8), right_ear=(40, 100, 0.2)),
            (51.0, 109.0),
        ),
        ("head", kps(nose=(52, 110, 0.1)), (50.0, 100.0)),  # fallback: top_center
        ("head", (), (50.0, 100.0)),  # no keypoints at all
        ("hips", kps(left_hip=(45, 160, 0.5), right_hip=(55, 162, 0.5)), (50.0, 161.0)),
        ("hips", kps(left_hip=(45, 160, 0.29)), (50.0, 200.0)),  # fallback: bottom_center
        ("feet", kps(left_ankle=(44, 196, 0.3), right_ankle=(58, 198, 0.1)), (44.0, 196.0)),
        ("feet", NO_KPS, (50.0, 200.0)),
    ],
)
def test_anchor_point(
    anchor: str, keypoints: tuple[Keypoint, ...], expected: tuple[float, float]
) -> None:
    t = track(foot=(50.0, 200.0), w=40.0, h=100.0, keypoints=keypoints)
    assert anchor_point(t, anchor) == pytest.approx(expected)


def test_anchor_point_rejects_unknown_anchor() -> None:
    with pytest.raises(ValueError):
        anchor_point(_BOX_TRACK, "elbow")


def test_zone_anchor_decides_membership() -> None:
    # a person standing below the zone with the head in it
    head_zone = Zone.from_points("head", "cam", "window", SQUARE, anchor="head", inertia=1)
    foot_zone = Zone.from_points("foot", "cam", "floor", SQUARE, inertia=1)
    zt = ZoneTracker([head_zone, foot_zone])
    with_kps = track(1, foot=(50.0, 180.0), h=150.0, keypoints=kps(nose=(50, 60, 0.9)))
    without = track(2, foot=(150.0, 180.0), h=150.0)  # top_center (150, 30): outside
    assert transitions_of(zt.update([with_kps, without], 0.0)) == [("head", 1, "enter")]
    # head fallback to the box top: (50, 30) is inside
    fallback = track(3, foot=(50.0, 180.0), h=150.0)
    assert transitions_of(zt.update([fallback], 1.0)) == [("head", 3, "enter")]


# --------------------------------------------------------------------------- zone building


def test_zone_from_points() -> None:
    zone = Zone.from_points("z", "cam", "pool", [[0, 0], [10, 0], [10, 10]])
    assert zone.points == ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0))
    assert (zone.anchor, zone.inertia) == ("bottom_center", 3)
    assert zone.contains(10.0, 5.0)  # on the boundary
    assert zone.contains(8.0, 2.0)
    assert not zone.contains(2.0, 8.0)
    assert zone == Zone.from_points("z", "cam", "pool", [(0, 0), (10, 0), (10, 10)])
    assert hash(zone) == hash(Zone.from_points("z", "cam", "pool", [(0, 0), (10, 0), (10, 10)]))


@pytest.mark.parametrize(
    ("points", "anchor", "inertia"),
    [
        ([(0, 0), (10, 0)], "bottom_center", 3),  # too few points
        ([(0, 0), (10, 10), (10, 0), (0, 10)], "bottom_center", 3),  # self-intersecting
        ([(0, 0), (10, 0), (20, 0)], "bottom_center", 3),  # no area
        (SQUARE, "knees", 3),
        (SQUARE, "center", 0),
    ],
)
def test_zone_rejects_bad_definitions(
    points: Sequence[tuple[float, float]], anchor: str, inertia: int
) -> None:
    with pytest.raises(ValueError):
        Zone.from_points("z", "cam", "pool", points, anchor=anchor, inertia=inertia)


def test_duplicate_zone_names_are_rejected() -> None:
    z = Zone.from_points("z", "cam", "pool", SQUARE)
    with pytest.raises(ValueError):
        ZoneTracker([z, Zone.from_points("z", "cam2", "pool", SQUARE)])


def test_twenty_tracks_in_ten_zones() -> None:
    zones = [
        Zone.from_points(
            f"z{i}",
            "cam",
            "k",
            [(100 * i, 0), (100 * i + 150, 0), (100 * i + 150, 500), (100 * i, 500)],
            anchor=("bottom_center", "head", "center")[i % 3],
            inertia=2,
        )
        for i in range(10)
    ]
    zt = ZoneTracker(zones)
    frames = [
        [track(k, foot=(50.0 * k + 3 * f, 100.0 + 10 * (k % 5))) for k in range(1, 21)]
        for f in range(100)
    ]
    zt.update(frames[0], 0.0)
    for f in range(1, 100):
        update = zt.update(frames[f], f / 30)
    # every track is in the zones its foot point lies in, and counts agree with presences
    for count in update.counts:
        members = [p for p in update.presences if p.zone == count.zone]
        assert count.visible == count.total == len(members)
    assert sum(c.visible for c in update.counts) == len(update.presences) > 0
