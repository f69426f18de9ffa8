"""Tests of guardian.scene: "something new in a watched zone" by background change.

Every case runs on two scenes:

* ``real``: the first frame of the corpus clip ``fall/upfall/UPFall_S1_A07_T1_Cam1.mp4``
  (640×480, a real room: glossy floor, benches, a man standing on the left) as the
  background, with the zone on the empty floor to the right. The object is a crop of
  the cardboard box standing on the left of that same frame (a real object, moved onto
  the watched floor); the person is the man of that frame, cropped and scaled to 50×120.
* ``synthetic``: a generated 640×480 "lawn" (smooth shading, grass-like noise texture,
  paving lines), a trapezoid zone in perspective, a drawn dark-blue bin (a rectangle with
  a darker lid) as the object and a drawn figure (legs, red top, head) as the person.
  Runs without the corpus.

Each frame is the background plus fresh sensor noise (Gaussian, σ = 3 grey levels, drawn
from a bank of noisy frames), then the per-frame changes (gain, pasted object, pasted
person whose box is passed as a TRACKED track, soft shadows drawn as darkened blurred
ellipses). Frames are 10 per second unless said; timestamps are epoch-like (1.7e9 s). The
corpus scene skips when the corpus is missing.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from corpus import require_corpus

from guardian.records import Box, Keypoint, SceneChange, Track, TrackState
from guardian.scene import SceneWatcher
from guardian.zones import Zone

Image = npt.NDArray[np.uint8]
NO_KPS = tuple(Keypoint(0.0, 0.0, 0.0) for _ in range(17))
FPS = 10.0
T0 = 1_700_000_000.0  # epoch-like timestamps
CLIP = ("fall", "upfall", "UPFall_S1_A07_T1_Cam1.mp4")


# --------------------------------------------------------------------------- scenes


@dataclass(frozen=True)
class Scene:
    """A background, a zone on it, an object and a person to paste, and where."""

    name: str
    background: Image = field(repr=False)
    zone: Zone
    #: the object's patch and its top-left corner inside the zone / outside the zone
    thing: Image = field(repr=False)
    inside: tuple[int, int]
    outside: tuple[int, int]
    person: Image = field(repr=False)
    #: y of the person's feet while walking through the zone, x from/to
    walk: tuple[int, int, int]
    #: a textured rectangle (x1, y1, x2, y2) of the zone for the shadow case
    textured: tuple[int, int, int, int]
    bank: tuple[Image, ...] = field(repr=False)

    def thing_box(self, at: tuple[int, int]) -> Box:
        h, w = self.thing.shape[:2]
        return Box(float(at[0]), float(at[1]), float(at[0] + w), float(at[1] + h))


def _noise_bank(background: Image, n: int = 12, seed: int = 7) -> tuple[Image, ...]:
    rng = np.random.default_rng(seed)
    base = background.astype(np.float32)
    return tuple(
        np.clip(base + rng.normal(0.0, 3.0, base.shape), 0, 255).astype(np.uint8) for _ in range(n)
    )


@functools.cache
def _real_scene() -> Scene:
    cap = cv2.VideoCapture(str(require_corpus(*CLIP)))
    ok, frame = cap.read()
    cap.release()
    assert ok, "cannot decode the corpus clip"
    background = np.asarray(frame, np.uint8)
    box = background[300:350, 140:188].copy()  # the cardboard box on the left
    man = background[165:465, 200:322]
    person = np.asarray(cv2.resize(man, (50, 120), interpolation=cv2.INTER_AREA), np.uint8)
    zone = Zone.from_points(
        "floor", "cam", "floor", [(340, 340), (630, 340), (630, 475), (340, 475)]
    )
    return Scene(
        "real",
        background,
        zone,
        box,
        inside=(450, 380),
        outside=(40, 400),
        person=person,
        walk=(470, 330, 640),
        # the colourful mural on the left wall: textured ground for the shadow case
        textured=(10, 40, 160, 280),
        bank=_noise_bank(background),
    )


@functools.cache
def _synthetic_scene() -> Scene:
    rng = np.random.default_rng(3)
    h, w = 480, 640
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    shade = 70.0 + 50.0 * yy / h + 15.0 * np.sin(xx / 90.0)
    grass = cv2.GaussianBlur(rng.normal(0.0, 1.0, (h, w)).astype(np.float32), (0, 0), 1.2)
    luma = shade + 14.0 * grass / float(grass.std())
    lawn = np.stack([luma * 0.55, luma * 1.05, luma * 0.6], axis=-1)  # green, BGR
    background = np.clip(lawn, 0, 255).astype(np.uint8)
    for x in range(0, w, 80):  # paving lines
        cv2.line(background, (x, 0), (x + 40, h), (150, 160, 150), 2)
    bin_ = np.zeros((56, 40, 3), np.uint8)
    bin_[:] = (130, 60, 25)  # dark blue bin
    bin_[:8] = (90, 40, 15)  # darker lid
    person = np.zeros((120, 50, 3), np.uint8)
    person[:] = background[300:420, 300:350]
    cv2.rectangle(person, (14, 70), (22, 119), (60, 50, 40), -1)  # legs
    cv2.rectangle(person, (28, 70), (36, 119), (60, 50, 40), -1)
    cv2.ellipse(person, (25, 48), (16, 26), 0, 0, 360, (40, 40, 200), -1)  # red top
    cv2.circle(person, (25, 12), 10, (140, 170, 210), -1)  # head
    zone = Zone.from_points("lawn", "cam", "lawn", [(180, 200), (460, 200), (600, 460), (40, 460)])
    return Scene(
        "synthetic",
        background,
        zone,
        bin_,
        inside=(300, 320),
        outside=(560, 60),
        person=person,
        walk=(440, 60, 600),
        textured=(200, 260, 440, 420),
        bank=_noise_bank(background),
    )


@pytest.fixture(params=["real", "synthetic"])
def scene(request: pytest.FixtureRequest) -> Scene:
    return _real_scene() if request.param == "real" else _synthetic_scene()


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class Shot:
    """What frame i shows on top of the noisy background."""

    thing_at: tuple[int, int] | None = None
    gain: float = 1.0
    feet: tuple[int, int] | None = None  # the person's bottom-centre (and their track)
    #: the person casts a shadow on the ground beside them, mostly outside their box
    cast: bool = False
    shadow: bool = False


Plan = Callable[[int], Shot]


def paste(image: Image, patch: Image, x: int, y: int) -> Box | None:
    """Paste ``patch`` with its top-left at (x, y), clipped to the image; its box."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(w, x + patch.shape[1]), min(h, y + patch.shape[0])
    if x2 <= x1 or y2 <= y1:
        return None
    image[y1:y2, x1:x2] = patch[y1 - y : y2 - y, x1 - x : x2 - x]
    return Box(float(x1), float(y1), float(x2), float(y2))


def person_track(box: Box, track_id: int = 1) -> Track:
    return Track("cam", track_id, TrackState.TRACKED, box, 0.9, NO_KPS, T0, T0, 5)


def render(scene: Scene, i: int, shot: Shot) -> tuple[Image, tuple[Track, ...]]:
    image = scene.bank[(i * 7) % len(scene.bank)].copy()
    if shot.shadow:
        x1, y1, x2, y2 = scene.textured
        mask = np.zeros(image.shape[:2], np.float32)
        cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
        cv2.ellipse(mask, (cx, cy), ((x2 - x1) // 3, (y2 - y1) // 3), 0, 0, 360, 1.0, -1)
        soft = np.asarray(cv2.GaussianBlur(mask, (0, 0), 3.0), np.float32)[..., None]
        image = (image * (1.0 - 0.4 * soft)).astype(np.uint8)  # 40 % darker, soft edge
    if shot.gain != 1.0:
        image = np.asarray(cv2.convertScaleAbs(image, alpha=shot.gain), np.uint8)
    if shot.thing_at is not None:
        paste(image, scene.thing, *shot.thing_at)
    tracks: tuple[Track, ...] = ()
    if shot.feet is not None:
        ph, pw = scene.person.shape[:2]
        fx, fy = shot.feet
        if shot.cast:
            mask = np.zeros(image.shape[:2], np.float32)
            cv2.ellipse(mask, (fx + pw, fy - 4), (pw + 10, 10), 0, 0, 360, 1.0, -1)
            image = (image * (1.0 - 0.5 * mask[..., None])).astype(np.uint8)
        box = paste(image, scene.person, fx - pw // 2, fy - ph)
        if box is not None:
            tracks = (person_track(box),)
    return image, tracks


def t(i: int, fps: float = FPS) -> float:
    return T0 + i / fps


def run(
    scene: Scene,
    n: int,
    plan: Plan,
    fps: float = FPS,
    zones: Sequence[Zone] | None = None,
    **kw: Any,
) -> list[tuple[SceneChange, ...]]:
    watcher = SceneWatcher(zones if zones is not None else [scene.zone], **kw)
    out = []
    for i in range(n):
        image, tracks = render(scene, i, plan(i))
        out.append(watcher.update(image, tracks, t(i, fps)))
    return out


def reported(out: Sequence[tuple[SceneChange, ...]]) -> list[int]:
    """Indices of the frames with at least one change."""
    return [i for i, changes in enumerate(out) if changes]


# --------------------------------------------------------------------------- appears and stays


@pytest.mark.parametrize("colour", [True, False], ids=["colour", "grey"])
def test_object_appears_and_stays(scene: Scene, colour: bool) -> None:
    k, n = 30, 80
    out = run(scene, n, lambda i: Shot(thing_at=scene.inside if i >= k else None), colour=colour)
    frames = reported(out)
    assert frames, "the object was never reported"
    # reported from k + settle (1 s = 10 frames) on, in every frame to the end
    assert k + 10 <= frames[0] <= k + 12
    assert frames == list(range(frames[0], n))
    changes = [c for changes in out for c in changes]
    assert all(len(changes) == 1 for changes in out if changes)
    assert {c.change_id for c in changes} == {changes[0].change_id}
    assert {c.first_seen for c in changes} == {changes[0].first_seen}
    assert abs(changes[0].first_seen - t(k)) <= 0.2
    expected = scene.thing_box(scene.inside)
    zone_area = scene.zone.polygon.area
    for i in frames:
        (c,) = out[i]
        assert c.zone == scene.zone.name
        assert c.last_seen == t(i)
        assert c.box.iou(expected) >= 0.6, c.box
        assert 0.5 * expected.area / zone_area <= c.area <= 1.5 * expected.area / zone_area


def test_colour_finds_what_luma_cannot() -> None:
    """A red square exactly as bright as the lawn under it: only chroma sees it."""
    scene = _synthetic_scene()
    x, y = scene.inside
    lawn = scene.background[y : y + 40, x : x + 40].astype(np.float32)
    luma = float(np.mean(lawn @ np.array([0.114, 0.587, 0.299], np.float32)))
    red = np.zeros((40, 40, 3), np.uint8)
    red[:] = (30, round((luma - 0.114 * 30 - 0.299 * 200) / 0.587), 200)
    same = dataclasses.replace(scene, thing=red)

    def plan(i: int) -> Shot:
        return Shot(thing_at=scene.inside if i >= 30 else None)

    assert reported(run(same, 60, plan, colour=True))[0] <= 42
    assert reported(run(same, 60, plan, colour=False)) == []


# --------------------------------------------------------------------------- nothing to report


def _walk(scene: Scene, start: int, frames: int) -> Callable[[int], tuple[int, int] | None]:
    fy, x_from, x_to = scene.walk

    def feet(i: int) -> tuple[int, int] | None:
        if not start <= i < start + frames:
            return None
        return (round(x_from + (x_to - x_from) * (i - start) / frames), fy)

    return feet


def _stand(scene: Scene, start: int, frames: int) -> Callable[[int], tuple[int, int] | None]:
    fy, x_from, x_to = scene.walk
    return lambda i: ((x_from + x_to) // 2, fy) if start <= i < start + frames else None


QUIET: list[tuple[str, int, Callable[[Scene], Plan]]] = [
    ("object-outside-zone", 80, lambda s: lambda i: Shot(thing_at=s.outside if i >= 30 else None)),
    ("flicker-one-frame", 60, lambda s: lambda i: Shot(thing_at=s.inside if i == 30 else None)),
    (
        "gone-after-0.5s",
        80,
        lambda s: lambda i: Shot(thing_at=s.inside if 30 <= i < 35 else None),
    ),
    ("person-walks-through", 110, lambda s: lambda i: Shot(feet=_walk(s, 30, 60)(i))),
    ("person-stands-3s", 100, lambda s: lambda i: Shot(feet=_stand(s, 30, 30)(i))),
    (
        "person-with-shadow-stands-3s",
        100,
        lambda s: lambda i: Shot(feet=_stand(s, 30, 30)(i), cast=True),
    ),
    ("brightness+25%-at-once", 80, lambda s: lambda i: Shot(gain=1.25 if i >= 30 else 1.0)),
    ("darker-30%-at-once", 80, lambda s: lambda i: Shot(gain=0.7 if i >= 30 else 1.0)),
    ("soft-shadow-on-texture", 80, lambda s: lambda i: Shot(shadow=i >= 30)),
]


@pytest.mark.parametrize(("case", "n", "plan"), QUIET, ids=[c[0] for c in QUIET])
def test_nothing_to_report(scene: Scene, case: str, n: int, plan: Callable[[Scene], Plan]) -> None:
    zones = [scene.zone]
    if case == "soft-shadow-on-texture":
        x1, y1, x2, y2 = scene.textured
        zones = [
            Zone.from_points("texture", "cam", "wall", [(x1, y1), (x2, y1), (x2, y2), (x1, y2)])
        ]
    out = run(scene, n, plan(scene), zones=zones)
    assert reported(out) == [], out[reported(out)[0]]


def test_slow_drift_and_noise_for_a_minute(scene: Scene) -> None:
    """A minute at 5 fps: pure noise, then brightness drifting by 30 % over the minute."""
    fps, n = 5.0, 300
    noise = run(scene, n, lambda i: Shot(), fps=fps)
    assert reported(noise) == []
    drift = run(scene, n, lambda i: Shot(gain=1.0 + 0.3 * i / n), fps=fps)
    assert reported(drift) == []


# --------------------------------------------------------------------------- ends / absorbed


def test_removed_after_reported_ends(scene: Scene) -> None:
    k, gone, n = 30, 60, 90
    out = run(scene, n, lambda i: Shot(thing_at=scene.inside if k <= i < gone else None))
    frames = reported(out)
    assert frames[0] <= k + 12
    # ends within 0.3 s of the removal, never comes back
    assert gone - 1 <= frames[-1] <= gone + 2
    assert frames == list(range(frames[0], frames[-1] + 1))


def test_absorbed_after_absorb_seconds_then_taken_away(scene: Scene) -> None:
    """absorb = 5 s: reported from k + 1 s to k + 5 s; taking it away later is not news."""
    k, gone, n = 30, 110, 140
    out = run(
        scene, n, lambda i: Shot(thing_at=scene.inside if k <= i < gone else None), absorb=5.0
    )
    frames = reported(out)
    assert frames[0] <= k + 12
    assert k + 49 <= frames[-1] <= k + 51  # first_seen + 5 s
    assert frames == list(range(frames[0], frames[-1] + 1))


@pytest.mark.parametrize("grey", [60, 180])
def test_absorbed_mat_on_texture_taken_away(scene: Scene, grey: int) -> None:
    """A flat grey mat on textured ground (the mural / the lawn), absorbed after 5 s, is
    taken away: the remembered background comes back, nothing is reported."""
    x1, y1, x2, y2 = scene.textured
    zone = Zone.from_points("texture", "cam", "wall", [(x1, y1), (x2, y1), (x2, y2), (x1, y2)])
    mat = np.full((60, 60, 3), grey, np.uint8)
    at = ((x1 + x2) // 2 - 30, (y1 + y2) // 2 - 30)
    mat_scene = dataclasses.replace(scene, thing=mat)
    out = run(
        mat_scene,
        140,
        lambda i: Shot(thing_at=at if 30 <= i < 110 else None),
        zones=[zone],
        absorb=5.0,
    )
    frames = reported(out)
    assert frames[0] <= 42
    assert frames[-1] <= 81


def test_something_there_while_learning_then_taken_away(scene: Scene) -> None:
    """The hole it leaves is the background coming back, not a new object."""
    out = run(scene, 80, lambda i: Shot(thing_at=scene.inside if i < 30 else None))
    assert reported(out) == []


def test_person_walks_past_a_reported_object(scene: Scene) -> None:
    """The change keeps its id and first_seen while a person walks in front of it."""
    k, n = 20, 110
    out = run(
        scene,
        n,
        lambda i: Shot(thing_at=scene.inside if i >= k else None, feet=_walk(scene, 50, 50)(i)),
    )
    frames = reported(out)
    assert frames[0] <= k + 12
    ids = {(c.change_id, c.first_seen) for changes in out for c in changes}
    assert len(ids) == 1
    assert frames[-1] == n - 1


def test_brightness_step_keeps_the_reported_change(scene: Scene) -> None:
    """+25 % brightness at once while an object is reported: the same change goes on."""
    k, step, n = 20, 50, 90

    def plan(i: int) -> Shot:
        return Shot(thing_at=scene.inside if i >= k else None, gain=1.25 if i >= step else 1.0)

    out = run(scene, n, plan)
    frames = reported(out)
    assert frames == list(range(frames[0], n))
    assert {(c.change_id, c.first_seen) for changes in out for c in changes} == {
        (out[-1][0].change_id, out[-1][0].first_seen)
    }


def test_flicker_then_object_counts_from_its_return(scene: Scene) -> None:
    """A one-frame flicker at frame 25 does not start the clock for the object at 45."""
    k, n = 45, 70
    out = run(scene, n, lambda i: Shot(thing_at=scene.inside if i == 25 or i >= k else None))
    frames = reported(out)
    assert k + 10 <= frames[0] <= k + 12
    assert abs(out[-1][0].first_seen - t(k)) <= 0.2


# --------------------------------------------------------------------------- camera / zones


def test_camera_moved_relearns(scene: Scene) -> None:
    """The whole view shifts by 12 px at once (camera knocked): re-learn, no report."""
    watcher = SceneWatcher([scene.zone])
    out = []
    for i in range(80):
        image, tracks = render(scene, i, Shot())
        if i >= 30:
            image = np.ascontiguousarray(np.roll(image, (12, 12), axis=(0, 1)))
        out.append(watcher.update(image, tracks, t(i)))
    assert reported(out) == []


def test_zones_are_independent() -> None:
    """Two zones: the object is reported in the one it is in, with a box in full pixels."""
    scene = _synthetic_scene()
    other = Zone.from_points("far", "cam", "lawn", [(480, 20), (630, 20), (630, 150), (480, 150)])
    out = run(
        scene,
        60,
        lambda i: Shot(thing_at=scene.inside if i >= 20 else None),
        zones=[other, scene.zone],
    )
    last = out[-1]
    assert [c.zone for c in last] == [scene.zone.name]
    assert last[0].box.iou(scene.thing_box(scene.inside)) >= 0.6


def test_no_zones_and_small_frames() -> None:
    watcher = SceneWatcher([])
    assert watcher.update(np.zeros((48, 64, 3), np.uint8), (), T0) == ()
    # a frame narrower than ``width`` is used as it is; a grey frame is accepted
    zone = Zone.from_points("z", "cam", "k", [(0, 0), (64, 0), (64, 48), (0, 48)])
    small = SceneWatcher([zone], learn=0.5, settle=0.5)
    rng = np.random.default_rng(0)
    base = rng.integers(60, 120, (48, 64), dtype=np.uint8)
    out = []
    for i in range(30):
        image = base.copy()
        if i >= 10:
            image[10:30, 20:44] = 230
        out.append(small.update(image, (), t(i)))
    assert reported(out)[0] in (15, 16, 17)
    (c,) = out[-1]
    assert c.box.iou(Box(20, 10, 44, 30)) >= 0.6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_area": 0.0},
        {"min_area": 1.0},
        {"relearn": 0.0},
        {"settle": 10.0, "absorb": 5.0},
        {"width": 8},
        {"drift": 0.0},
    ],
    ids=["min_area-0", "min_area-1", "relearn-0", "absorb<settle", "width-8", "drift-0"],
)
def test_rejects_bad_parameters(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SceneWatcher([], **kwargs)  # type: ignore[arg-type]


def test_rejects_duplicate_zone_names() -> None:
    z = Zone.from_points("z", "cam", "k", [(0, 0), (10, 0), (10, 10)])
    with pytest.raises(ValueError, match="unique"):
        SceneWatcher([z, z])


# --------------------------------------------------------------------------- real video


@pytest.mark.corpus
def test_real_video_noise_reports_nothing() -> None:
    """15 s of the real clip (compression noise, auto exposure; the man stands and moves
    his arms outside the zones; no tracks given): nothing in the floor zones."""
    cap = cv2.VideoCapture(str(require_corpus(*CLIP)))
    zones = [
        Zone.from_points("right", "cam", "floor", [(340, 340), (630, 340), (630, 475), (340, 475)]),
        Zone.from_points("left", "cam", "floor", [(0, 340), (190, 340), (190, 475), (0, 475)]),
    ]
    watcher = SceneWatcher(zones)
    frames = 0
    while frames < 270:
        ok, frame = cap.read()
        if not ok:
            break
        assert watcher.update(np.asarray(frame, np.uint8), (), frames / 18.0) == ()
        frames += 1
    cap.release()
    assert frames == 270


def test_new_object_rule_through_guardian_run(tmp_path: Path) -> None:
    """The whole pipeline: a video built here from a real empty frame of UP-Fall A06
    Cam1 (frame 36, nobody in view) with the cardboard box of A07 Cam1 pasted onto the
    floor from 3 s on. The rule `new_object` (for 4 s) fires once, about 1 s (settle)
    + 4 s after the box appeared; the same video without the box fires nothing."""
    import sqlite3

    from guardian.app import run_site

    cap = cv2.VideoCapture(str(require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 36)
    ok, empty = cap.read()
    cap.release()
    assert ok
    box = _real_scene().background[300:350, 140:188].copy()
    fps, appear = 10.0, 30
    rng = np.random.default_rng(3)

    def frame(i: int, with_box: bool) -> Image:
        image = empty.copy()
        if with_box and i >= appear:
            image[380:430, 300:348] = box
        noise = rng.normal(0, 2, image.shape)
        return np.clip(image.astype(np.float64) + noise, 0, 255).astype(np.uint8)

    repo = Path(__file__).resolve().parent.parent
    for with_box in (True, False):
        folder = tmp_path / ("box" if with_box else "none")
        folder.mkdir()
        video = folder / "floor.mp4"
        writer = cv2.VideoWriter(
            str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, empty.shape[1::-1]
        )
        for i in range(150):
            writer.write(frame(i, with_box))
        writer.release()
        (folder / "zones.yaml").write_text(
            "zones:\n  - name: floor\n    camera: lab\n    kind: boundary\n"
            "    polygon: [[0.2, 0.6], [0.9, 0.6], [0.9, 1.0], [0.2, 1.0]]\n"
        )
        (folder / "rules.yaml").write_text(
            "rules:\n  - id: new_thing\n    triggers: [{kind: new_object, zones: floor, for: 4s}]\n"
        )
        (folder / "site.yaml").write_text(
            f"cameras:\n  - id: lab\n    source: {video}\n    fps: 10\n"
            "zones: [zones.yaml]\nrules: [rules.yaml]\n"
            f"storage:\n  database: g.db\n  models: {repo / 'models'}\n"
        )
        assert run_site(folder / "site.yaml", progress=False) == 0
        with sqlite3.connect(folder / "g.db") as conn:
            rows = conn.execute("select rule_id, frame_index, zone from events").fetchall()
        if with_box:
            ((rule, index, zone),) = rows
            assert (rule, zone) == ("new_thing", "floor")
            assert (appear + 40) / fps <= index / fps <= (appear + 40) / fps + 2.0
        else:
            assert rows == []
