"""Camera health: the monitor on real corpus frames (nothing on real footage; frozen,
black, covered, blinded, moved and offline pictures made from it), the trigger kinds,
the built-in rule per camera (override, turn off, ``guardian check --list``) and the
``health:`` section."""

from __future__ import annotations

import datetime as dt
import functools
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from corpus import require_corpus

from guardian.app import build_monitor
from guardian.cli import main
from guardian.config import ConfigError, load_site, load_yaml
from guardian.health import (
    MOVED_SHIFT,
    CameraHealthMonitor,
    HealthSettings,
    Placement,
    ReferenceView,
    load_reference,
)
from guardian.records import Frame, HealthChange, HealthProblem, Severity
from guardian.rules import RuleContext, RuleEngine, load_rules
from guardian.rules.health import WatchedCamera, camera_words, health_documents, place_of

pytestmark = pytest.mark.corpus

Image = np.ndarray
UPFALL_WALK = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")  # 45 s, a lab, a walker
NIGHT = ("fall", "gmdcsa24", "S2_ADL_23.mp4")  # a bedroom at night (infrared-like)
POOL = ("pool", "videos", "overhead_lane_backstroke.mp4")  # water from above
T0 = 1_800_000_000.0


def clip(parts: Sequence[str], fps: float = 5.0, limit: int | None = None) -> list[Image]:
    """A corpus clip's frames at about ``fps`` (decoded once per test session)."""
    images = _clip(tuple(parts), fps)
    return list(images if limit is None else images[:limit])


@functools.cache
def _clip(parts: tuple[str, ...], fps: float) -> tuple[Image, ...]:
    cap = cv2.VideoCapture(str(require_corpus(*parts)))
    native = cap.get(cv2.CAP_PROP_FPS) or fps
    step = max(1, round(native / fps))
    images: list[Image] = []
    index = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if index % step == 0:
            images.append(image)
        index += 1
    cap.release()
    assert images
    return tuple(images)


def watch(
    images: Iterable[Image],
    fps: float = 5.0,
    settings: HealthSettings | None = None,
    reference: Image | None = None,
    monitor: CameraHealthMonitor | None = None,
    start: float = T0,
) -> tuple[list[HealthChange], CameraHealthMonitor]:
    """Run ``images`` through a monitor as a camera at ``fps`` from ``start``."""
    monitor = monitor or CameraHealthMonitor(
        "cam", settings or HealthSettings(), reference=reference, started=start
    )
    changes: list[HealthChange] = []
    for i, image in enumerate(images):
        changes += monitor.check(Frame("cam", i, start + i / fps, i / fps, image))
    return changes, monitor


def began(changes: Iterable[HealthChange]) -> list[HealthProblem]:
    return [c.problem for c in changes if c.ended is None]


def warp(image: Image, *, shift: float = 0.0, degrees: float = 0.0) -> Image:
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    m[0, 2] += shift * w
    return cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def defocus(image: Image, sigma: float) -> Image:
    """A Gaussian blur of ``sigma`` pixels (done small: a big kernel is slow)."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // 8, h // 8), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / 8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# -- the monitor on real footage -------------------------------------------------------------
@pytest.mark.parametrize("parts", [UPFALL_WALK, NIGHT, POOL], ids=["lab", "night", "pool"])
def test_real_footage_raises_nothing(parts: Sequence[str]) -> None:
    """A normal clip, with its own frame at 2 s as the reference, looped to 60 s where
    it is shorter: no problem at all, with the default settings (an empty lab, a person
    lying still, a bedroom at night, water)."""
    images = clip(parts)
    looped = (images * (1 + 300 // len(images)))[:300]
    changes, monitor = watch(looped, reference=images[10])
    assert changes == []
    assert monitor.problems == ()


def test_a_frozen_picture_is_stalled_and_recovers() -> None:
    """The same real frame for 25 s (frames keep coming): stalled after stalled_after,
    dated from the first repeat; real frames again: over after ``recover``."""
    images = clip(UPFALL_WALK, limit=80)
    frozen = [images[40]] * 125 + images[:50]
    changes, _ = watch(frozen, settings=HealthSettings(stalled_after=20.0, recover=5.0))
    stalled = [c for c in changes if c.problem is HealthProblem.STALLED]
    assert [c.ended is None for c in stalled] == [True, False]
    assert stalled[0].started == pytest.approx(T0 + 0.2)  # the first identical frame
    assert stalled[1].ended == pytest.approx(T0 + 125 / 5)  # the first moving one
    assert began(changes) == [HealthProblem.STALLED]


@pytest.mark.parametrize("codec", ["libx264", "mpeg2video"])
def test_a_frozen_camera_encoded_by_ffmpeg_is_stalled(tmp_path: Path, codec: str) -> None:
    """A stuck camera as it arrives: one real frame encoded again and again by a real
    encoder (so frames differ a little at every key frame), decoded: stalled."""
    still = tmp_path / "still.png"
    cv2.imwrite(str(still), clip(UPFALL_WALK, limit=30)[-1])
    video = tmp_path / f"frozen-{codec}.ts"
    subprocess.run(
        [
            *(imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-loop", "1"),
            *("-i", str(still), "-t", "30", "-r", "5", "-c:v", codec),
            *("-pix_fmt", "yuv420p", str(video)),
        ],
        check=True,
    )
    images = _decode(video)
    changes, _ = watch(images, settings=HealthSettings(stalled_after=20.0))
    assert began(changes) == [HealthProblem.STALLED]


def _decode(path: Path) -> list[Image]:
    cap = cv2.VideoCapture(str(path))
    images = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        images.append(image)
    return images


def test_a_black_picture_is_too_dark_and_night_footage_is_not() -> None:
    """The lab clip multiplied to black: too dark (not frozen, not obstructed); the
    night bedroom clip (lit by infrared) raised nothing above."""
    images = clip(UPFALL_WALK, limit=200)
    black = [(image * 0.08).astype(np.uint8) for image in images]
    changes, monitor = watch(black, settings=HealthSettings(too_dark_after=30.0))
    assert began(changes) == [HealthProblem.TOO_DARK]
    assert changes[0].started == T0 and "black" in changes[0].detail
    assert monitor.problems == (HealthProblem.TOO_DARK,)
    # the lights come back: over after recover, dated from the first lit frame
    more, _ = watch(images[:50], monitor=monitor, start=T0 + 200 / 5)
    assert [(c.problem, c.ended) for c in more] == [(HealthProblem.TOO_DARK, T0 + 40.0)]


@pytest.mark.parametrize("cover", ["grey", "blurred", "white"])
def test_a_covered_or_blinded_lens_is_obstructed(cover: str) -> None:
    """A covered lens (a flat grey picture, or the view blurred to nothing by something
    right in front of the lens) and a blinded one (white): obstructed, and only that."""
    images = clip(UPFALL_WALK, limit=200)
    w = images[0].shape[1]
    covered = {
        "grey": lambda im: np.full_like(im, 118),
        "blurred": lambda im: defocus(im, 0.1 * w),
        "white": lambda im: np.clip(im.astype(np.int16) + 220, 0, 255).astype(np.uint8),
    }[cover]
    changes, _ = watch([covered(im) for im in images])
    assert began(changes) == [HealthProblem.OBSTRUCTED]


@pytest.mark.parametrize("move", ["shifted", "turned"])
def test_a_moved_view_is_moved(move: str) -> None:
    """The view shifted by 5 % of the width, or turned by 4°, against the reference the
    zones were drawn on (a real frame): moved after moved_after, with people walking
    through; the same footage in place raised nothing (above)."""
    images = clip(UPFALL_WALK)
    moved = [warp(im, shift=0.05) if move == "shifted" else warp(im, degrees=4) for im in images]
    changes, monitor = watch(moved, reference=images[10])
    assert began(changes) == [HealthProblem.MOVED]
    assert monitor.last_match is not None and monitor.last_match.shift > MOVED_SHIFT


def test_open_water_is_never_called_moved() -> None:
    """Water has no stable features: the comparison cannot tell, so it never says moved
    (the pool clip shifted by 5 % still raises nothing rather than guessing)."""
    images = clip(POOL)
    reference = ReferenceView(images[10])
    assert reference.compare(images[40]).placement is Placement.UNKNOWN


def test_offline_from_the_start_and_back() -> None:
    """A camera that never sends a frame is offline offline_after seconds after the
    watch began (the clock, not frames, says so); frames for ``recover`` end it."""
    monitor = CameraHealthMonitor("cam", HealthSettings(offline_after=20.0), started=T0)
    assert monitor.tick(T0 + 19.0, None, connected=False) == []
    (change,) = monitor.tick(T0 + 20.5, None, connected=False)
    assert change == HealthChange(
        "cam", HealthProblem.OFFLINE, T0, None, "the camera refuses connections"
    )
    assert monitor.tick(T0 + 30.0, None, connected=False) == []  # said once
    images = clip(UPFALL_WALK, limit=40)
    changes, _ = watch(images, monitor=monitor, start=T0 + 31.0)
    assert [(c.problem, c.ended) for c in changes] == [(HealthProblem.OFFLINE, T0 + 31.0)]


def test_the_first_good_frame_becomes_the_reference(tmp_path: Path) -> None:
    """No reference yet: the first good frame SETTLE seconds in is saved (black frames
    before it are not), then the view is compared with it."""
    images = clip(UPFALL_WALK, limit=60)
    black = [(im * 0.05).astype(np.uint8) for im in images[:20]]
    path = tmp_path / "references" / "cam.png"
    monitor = CameraHealthMonitor("cam", HealthSettings(), reference_path=path, started=T0)
    watch(black + images[20:], monitor=monitor)
    assert path.is_file() and monitor.reference is not None
    saved = load_reference(path)
    assert saved is not None and saved.shape == images[0].shape
    assert saved.mean() > 100  # a lit frame, not one of the black ones
    assert monitor.last_match is not None
    assert monitor.last_match.placement is Placement.IN_PLACE


# -- trigger kinds and the built-in rule --------------------------------------------------------
def _paris(hour: int, minute: int) -> float:
    return dt.datetime(2026, 7, 14, hour, minute, tzinfo=ZoneInfo("Europe/Paris")).timestamp()


def _engine(extra_rules: str = "") -> RuleEngine:
    docs = [load_yaml(Path("rules.yaml"), text=extra_rules)] if extra_rules else []
    rules = load_rules(
        docs,
        zones_by_camera={"pool": {"water"}, "gate": set()},
        contacts=["owner"],
        builtin=health_documents(
            [WatchedCamera("pool", "the pool"), WatchedCamera("gate")],
            [("owner", ("console", "sms"))],
        ),
    )
    assert rules.problems == ()
    return RuleEngine(rules.rules, RuleContext(timezone="Europe/Paris", contacts=("owner",)))


def test_builtin_rule_alerts_offline_and_back_in_words_people_read() -> None:
    engine = _engine()
    start, back = _paris(2, 14), _paris(2, 31)
    (firing,) = engine.health(
        [HealthChange("pool", HealthProblem.OFFLINE, start, None, "no picture for 20 s")],
        start + 21,
    )
    event = firing.event
    assert event.rule_id == "camera_health_pool" and event.severity is Severity.WARNING
    assert event.message.startswith(
        "Pool camera has been offline since 02:14: Guardian cannot watch the pool."
    )
    assert "track" not in event.message
    (firing,) = engine.health(
        [HealthChange("pool", HealthProblem.OFFLINE, start, back, "")], back + 5
    )
    assert firing.event.severity is Severity.INFO
    assert firing.event.message.startswith(
        "Pool camera is back after 17 min (offline 02:14–02:31): Guardian watches the pool again."
    )
    # the alert goes to the contact on their channels, in these words
    from guardian.effects import Effects

    effects = Effects()
    engine.run_actions([firing], effects)
    assert {(n.channel, n.contact) for n in effects.notifications} == {
        ("console", "owner"),
        ("sms", "owner"),
    }
    assert all(n.message.startswith("Pool camera is back") for n in effects.notifications)


def test_for_waits_and_a_short_problem_says_nothing() -> None:
    """``for: 2m``: a problem over within 2 min never fires (nor its recovery); one that
    lasts fires at 2 min, from the once-a-second call without changes."""
    engine = _engine(
        "rules:\n  - id: camera_health_gate\n    cameras: [gate]\n    triggers:\n"
        "      - {kind: too_dark, for: 2m, recovered: true}\n"
    )
    t = _paris(23, 0)
    dark = HealthChange("gate", HealthProblem.TOO_DARK, t, None, "")
    assert engine.health([dark], t + 30) == []
    assert (
        engine.health([HealthChange("gate", HealthProblem.TOO_DARK, t, t + 60, "")], t + 61) == []
    )
    assert engine.health([dark], t + 90) == []
    (firing,) = engine.health([], t + 121)
    assert firing.event.message.startswith("Gate camera has seen only black since 23:00")
    assert firing.event.severity is Severity.WARNING


def test_a_user_rule_replaces_or_turns_off_the_builtin() -> None:
    """A rule with the built-in's id replaces it (here: offline only, critical); with
    ``enabled: false`` the camera has no health alert."""
    engine = _engine(
        "rules:\n"
        "  - id: camera_health_pool\n    severity: critical\n    cameras: [pool]\n"
        "    triggers: [{kind: camera_offline, place: the swimming pool}]\n"
        "  - id: camera_health_gate\n    enabled: false\n"
        "    triggers: [{kind: camera_offline}]\n"
    )
    t = _paris(12, 0)
    firings = engine.health(
        [
            HealthChange("pool", HealthProblem.OFFLINE, t, None, ""),
            HealthChange("pool", HealthProblem.STALLED, t, None, ""),
            HealthChange("gate", HealthProblem.OFFLINE, t, None, ""),
        ],
        t + 1,
    )
    assert [(f.event.rule_id, f.event.severity) for f in firings] == [
        ("camera_health_pool", Severity.CRITICAL)
    ]
    assert "cannot watch the swimming pool" in firings[0].event.message


def test_words_for_cameras_and_places() -> None:
    assert camera_words("pool") == "Pool camera"
    assert camera_words("gate_cam") == "Gate cam"
    assert place_of(["deck", "water"]) == "the pool"
    assert place_of(["elevator_floor", "exit"]) == "the elevator"
    assert place_of([]) == "what it films"


# -- the site file ----------------------------------------------------------------------------
def _site(tmp_path: Path, extra: str = "", camera: str = "") -> Path:
    video = require_corpus(*UPFALL_WALK)
    (tmp_path / "zones.yaml").write_text(
        "zones:\n  - {name: floor, camera: lab, kind: room, polygon: [[0, 0.5], [1, 0.5], [1, 1]]}\n"
    )
    site = tmp_path / "guardian.yaml"
    site.write_text(
        f"cameras:\n  - id: lab\n    source: {video}\n{camera}"
        "zones: [zones.yaml]\nstorage:\n  database: events.db\n"
        "contacts:\n  - {id: owner, channels: [console]}\n" + extra
    )
    return site


def test_check_lists_the_builtin_health_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(tmp_path)
    assert main(["check", "--config", str(site), "--list"]) == 0
    out = capsys.readouterr().out
    assert (
        "camera_health_lab: built-in [warning] camera_offline, camera_stalled, "
        "camera_obstructed, too_dark, camera_moved" in out
    )
    # health off for the camera: no built-in rule
    site = _site(tmp_path, "health:\n  cameras:\n    lab: {enabled: false}\n")
    assert main(["check", "--config", str(site), "--list"]) == 0
    assert "camera_health_lab" not in capsys.readouterr().out


def test_health_section_problems_name_file_and_line(tmp_path: Path) -> None:
    site = _site(tmp_path, camera="    reference: views/lab.png\n")
    with pytest.raises(ConfigError) as err:
        load_site(site)
    (problem,) = err.value.problems
    assert str(problem).startswith(
        f"{site}:4:16: camera 'lab' reference 'views/lab.png' does not exist"
    )
    site = _site(tmp_path, "health:\n  offline_after: 2m\n")
    with pytest.raises(ConfigError) as err:
        load_site(site)
    (problem,) = err.value.problems
    assert f"{site}:10:" in str(problem) and "within 60s" in str(problem)
    site = _site(tmp_path, "health:\n  cameras:\n    lob: {too_dark_after: 0}\n")
    with pytest.raises(ConfigError) as err:
        load_site(site)
    (problem,) = err.value.problems
    assert f"{site}:11:" in str(problem) and "did you mean 'lab'" in str(problem)


def test_a_file_camera_has_no_moved_check_without_a_reference(tmp_path: Path) -> None:
    """A recording is not a mounted camera: no reference is saved for it; with a
    ``reference:`` image it is compared."""
    bundle = load_site(_site(tmp_path))
    cam = bundle.site.camera("lab")
    monitor = build_monitor(bundle, cam, live=False)
    assert monitor is not None and monitor.reference is None and monitor.reference_path is None
    live = build_monitor(bundle, cam, live=True)
    assert live is not None and live.reference_path == tmp_path / "references" / "lab.png"
    (tmp_path / "views").mkdir()
    cv2.imwrite(str(tmp_path / "views" / "lab.png"), clip(UPFALL_WALK, limit=12)[-1])
    bundle = load_site(_site(tmp_path, camera="    reference: views/lab.png\n"))
    monitor = build_monitor(bundle, bundle.site.camera("lab"), live=False)
    assert monitor is not None and monitor.reference is not None


def test_reference_command_takes_the_view_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``guardian reference --camera lab`` reads the camera (here its video) and saves
    a good frame, 2 s in, where the camera's reference is read from; an unknown camera
    is named with the known ones."""
    site = _site(tmp_path)
    assert main(["reference", "--camera", "lab", "--config", str(site)]) == 0
    saved = tmp_path / "references" / "lab.png"
    assert f"camera lab: reference view saved to {saved} (640x480)" in capsys.readouterr().out
    image = load_reference(saved)
    assert image is not None and image.shape == (480, 640, 3)
    monitor = build_monitor(load_site(site), load_site(site).site.camera("lab"), live=True)
    assert monitor is not None and monitor.reference is not None  # read on the next run
    assert main(["reference", "--camera", "lob", "--config", str(site)]) == 1
    err = capsys.readouterr().err
    assert "guardian reference: no camera 'lob'" in err and "known: lab" in err
