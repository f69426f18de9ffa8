"""Motion gating (guardian.motion): the models run on movement, on tracked people, while a
rule waits on the camera, and at the heartbeat — on real corpus footage.

The submersion case uses the stand-in scene of ``livecam.py`` (UP-Fall A06 Cam1: a walker
who vanishes where they stood, the camera's empty view from frame K on; the corpus has no
footage of a swimmer going under seen from the side, so the test builds it and says so).
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from corpus import require_corpus
from livecam import EMPTY, FPS, LENGTH, ZONE, K, scene_frames

from guardian.app import build_runner, load_site_and_rules
from guardian.config import ZoneConfig
from guardian.config.motion import MotionConfig
from guardian.detection import PoseDetector
from guardian.motion import InferenceGate, MotionDetector, RuleWaits
from guardian.records import Detection, Frame
from guardian.sources import open_source
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent
WALKING = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
POOL = ("pool", "videos", "wavepool_rescue_elevated.mp4")


def frames_of(parts: tuple[str, ...], fps: float, limit: int = 10_000) -> list[Frame]:
    source = open_source("cam", require_corpus(*parts), fps=fps)
    out = []
    for frame in source.frames():
        out.append(frame)
        if len(out) >= limit:
            break
    source.close()
    return out


def moving_share(frames: list[Frame], detector: MotionDetector) -> float:
    """The share of frames (after the first) in which something moved."""
    seen = [detector.detect(f.image, f.timestamp).moving for f in frames]
    return sum(seen[1:]) / (len(seen) - 1)


def zone(name: str, polygon: list[list[float]], motion: str, kind: str = "other") -> ZoneConfig:
    return ZoneConfig.model_validate(
        {"name": name, "camera": "cam", "kind": kind, "polygon": polygon, "motion": motion}
    )


def still(image: np.ndarray, n: int, fps: float, seed: int = 0) -> list[Frame]:
    """``n`` frames of one real picture, with camera noise (sigma 2 grey levels)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        noisy = image.astype(np.int16) + rng.normal(0, 2, image.shape).astype(np.int16)
        out.append(
            Frame("cam", i, 1000.0 + i / fps, i / fps, np.clip(noisy, 0, 255).astype(np.uint8))
        )
    return out


def test_a_walking_person_moves_and_an_empty_room_does_not() -> None:
    walking = frames_of(WALKING, fps=5, limit=60)
    assert moving_share(walking, MotionDetector(MotionConfig())) > 0.8
    empty = scene_frames()[EMPTY]  # the same camera, nobody in view
    assert moving_share(still(empty, 40, 5), MotionDetector(MotionConfig())) == 0.0


def test_movement_inside_an_ignored_zone_does_not_count() -> None:
    walking = frames_of(WALKING, fps=5, limit=60)
    everything = zone("road", [[0, 0], [1, 0], [1, 1], [0, 1]], "ignore")
    assert moving_share(walking, MotionDetector(MotionConfig(), [everything])) == 0.0
    # area: zones — only the camera's zones count; a zone where nobody walks stays still
    corner = zone("corner", [[0, 0], [0.1, 0], [0.1, 0.1], [0, 0.1]], "watch")
    quiet = MotionDetector(MotionConfig(area="zones"), [corner])
    assert moving_share(walking, quiet) < 0.1


def test_a_shimmer_zone_quietens_the_water_of_a_real_pool() -> None:
    frames = frames_of(POOL, fps=5, limit=80)
    whole = [[0, 0], [1, 0], [1, 1], [0, 1]]
    plain = moving_share(frames, MotionDetector(MotionConfig()))
    shimmer = moving_share(frames, MotionDetector(MotionConfig(), [zone("w", whole, "shimmer")]))
    assert plain > 0.9  # waves and people: every frame moves
    assert shimmer < plain - 0.3, (plain, shimmer)


def test_the_light_switched_on_resets_the_background_and_counts_once() -> None:
    empty = scene_frames()[EMPTY]
    detector = MotionDetector(MotionConfig())
    frames = still(empty, 10, 5)
    for f in frames:
        detector.detect(f.image, f.timestamp)
    brighter = cv2.convertScaleAbs(empty, alpha=1.0, beta=70)
    lit = still(brighter, 5, 5, seed=1)
    first = detector.detect(lit[0].image, 1010.0)
    assert first.lighting and first.moving
    after = [detector.detect(f.image, 1010.2 + 0.2 * i).moving for i, f in enumerate(lit[1:])]
    assert not any(after)


def test_the_gate_runs_on_tracks_rules_and_heartbeat() -> None:
    empty = scene_frames()[EMPTY]
    frames = still(empty, 30, 10)  # 3 s at 10 fps of a still, empty view
    waits = RuleWaits()
    gate = InferenceGate("cam", MotionConfig(heartbeat=1.0), MotionDetector(MotionConfig()), waits)
    reasons = [gate.decide(f, tracking=False).reason for f in frames]
    assert reasons[0] == "first"
    ran = [i for i, r in enumerate(reasons) if r != "still"]
    assert ran == [0, 10, 20], reasons  # once a second
    assert gate.skipped == 27
    assert gate.decide(frames[0], tracking=True).reason == "tracks"
    waits.set("cam", True)
    assert gate.decide(frames[1], tracking=False).reason == "rules"
    waits.set("cam", False)
    assert gate.decide(frames[2], tracking=False).reason == "still"


def _site(folder: Path, video: Path) -> Path:
    (folder / "zones.yaml").write_text(
        "zones:\n  - name: water\n    camera: pool\n    kind: water\n    units: px\n"
        f"    polygon: {ZONE}\n    inertia: 2\n"
    )
    (folder / "rules.yaml").write_text(
        "rules:\n  - id: submersion\n    severity: critical\n"
        "    triggers: [{kind: absent, zones: water, timeout: 5s}]\n"
        "    actions: [{kind: alert, channels: [log]}]\n"
    )
    site = folder / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n    fps: 9\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
    )
    return site


def test_a_submersion_timer_never_starves(tmp_path: Path, detector: PoseDetector) -> None:
    """The walker vanishes at frame K (a stand-in for going under): the model looks at
    every frame until the alarm (tracks, then the rule's timer), then once a second."""
    frames = scene_frames()
    video = tmp_path / "masked.mp4"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for image in frames[:K] + [frames[EMPTY]] * (LENGTH - K):
        writer.write(image)
    writer.release()
    bundle, rules = load_site_and_rules(_site(tmp_path, video))
    looked: list[int] = []
    lock = threading.Lock()

    def factory(camera: object) -> object:
        def detect(frame: Frame) -> tuple[Detection, ...]:
            with lock:
                looked.append(frame.index)
                return detector.detect(frame.image)

        return detect

    with Store(bundle.database_path) as store:
        runner = build_runner(
            bundle,
            rules,
            store,
            out=io.StringIO(),
            detector_factory=factory,  # type: ignore[arg-type]
        )
        events = [e for e in runner.run() if e.rule_id == "submersion"]
    (event,) = events
    fired = event.frame_index
    assert fired / FPS == pytest.approx(K / FPS + 5.0, abs=1.0)
    processed = list(range(0, LENGTH, 2))  # 9 of the clip's 18 fps
    before = [i for i in processed if i <= fired]
    assert set(before) <= set(looked), sorted(set(before) - set(looked))
    # after the alarm: a still, empty view — the heartbeat (about 1 in 9), not every frame
    after = [i for i in processed if i > fired + 2 * FPS]
    share = len(set(after) & set(looked)) / len(after)
    assert share < 0.4, share
