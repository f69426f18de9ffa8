"""The swimmer detector: corpus dataset, merging, configuration, the shipped weights on
real swimmer images, and the pipeline feeding swimmer boxes to the tracker."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
from corpus import require_corpus

from guardian.config import ConfigError, load_site
from guardian.detection import PoseDetector
from guardian.records import Box, Detection, Keypoint
from guardian.swim.data import build_dataset, read_labels
from guardian.swim.detector import (
    SWIMMER_LABEL,
    WaterDetector,
    merge_detections,
    shipped_swimmer_path,
)

NO_POINTS = tuple(Keypoint(0.0, 0.0, 0.0) for _ in range(17))


def _det(x1: float, y1: float, x2: float, y2: float, score: float, label: str) -> Detection:
    return Detection(Box(x1, y1, x2, y2), score, NO_POINTS, label)


# -- merging -------------------------------------------------------------------------------------
def test_a_swimmer_box_on_a_pose_detection_is_the_same_person() -> None:
    person = _det(100, 100, 200, 400, 0.8, "person")
    head = _det(130, 100, 170, 150, 0.9, SWIMMER_LABEL)  # inside the body box
    assert merge_detections([person], [head], 0.4) == (person,)


def test_a_swimmer_nobody_else_found_is_added() -> None:
    person = _det(100, 100, 200, 400, 0.8, "person")
    swimmer = _det(400, 300, 480, 340, 0.5, SWIMMER_LABEL)
    merged = merge_detections([person], [swimmer], 0.4)
    assert merged == (person, swimmer)


def test_overlapping_swimmer_boxes_keep_the_better_one() -> None:
    a = _det(400, 300, 480, 340, 0.5, SWIMMER_LABEL)
    b = _det(405, 302, 482, 342, 0.7, SWIMMER_LABEL)
    assert merge_detections([], [a, b], 0.4) == (b,)


def test_water_detector_runs_both_models_on_the_image() -> None:
    import numpy as np

    image = np.zeros((10, 10, 3), np.uint8)
    seen: list[int] = []

    def pose(img: object) -> list[Detection]:
        seen.append(1)
        return [_det(0, 0, 5, 5, 0.9, "person")]

    def swim(img: object) -> list[Detection]:
        seen.append(2)
        return [_det(6, 6, 9, 9, 0.6, SWIMMER_LABEL)]

    out = WaterDetector(pose, swim, overlap=0.4).detect(image)
    assert seen == [1, 2] and [d.label for d in out] == ["person", SWIMMER_LABEL]


# -- the dataset -----------------------------------------------------------------------------
def test_dataset_links_the_corpus_with_one_class(tmp_path: Path) -> None:
    corpus = require_corpus("pool", "datasets").parent.parent
    data = build_dataset(corpus, tmp_path / "swim")
    train = tmp_path / "swim" / "images" / "train"
    links = list(train.iterdir())
    assert len(links) == data.images("train") == 671
    assert all(p.is_symlink() and str(p.resolve()).startswith(str(corpus)) for p in links)
    labels = list((tmp_path / "swim" / "labels" / "train").glob("*.txt"))
    classes = {line.split()[0] for p in labels for line in p.read_text().splitlines()}
    assert classes == {"0"}
    # the five poolToy boxes of the Notre Dame set are not people
    notre = {s.split: s.boxes for s in data.stats if s.dataset == "notre_dame_underwater_dds"}
    assert notre == {"train": 247, "val": 17}
    again = build_dataset(corpus, tmp_path / "swim")  # rebuilt in place, same content
    assert again.digest == data.digest


def test_dataset_rejects_a_bad_label_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.txt"
    bad.write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(Exception, match=r"x.txt:1: expected 'class x y w h'"):
        read_labels(bad, {0: "person"})


# -- configuration ---------------------------------------------------------------------------
def _site(folder: Path, detection: str, water: bool = True, hall: bool = True) -> Path:
    video = require_corpus("pool", "videos", "backyard_child_goes_under.mp4")
    kind = "water" if water else "deck"
    (folder / "zones.yaml").write_text(
        "zones:\n"
        f"  - {{name: water, camera: pool, kind: {kind}, polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}}\n"
    )
    (folder / "rules.yaml").write_text("rules: []\n")
    site = folder / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n    fps: 8\n"
        + (f"  - id: hall\n    source: {video}\n" if hall else "")
        + "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        "storage:\n  database: guardian.db\n  models: "
        f"{Path(__file__).resolve().parent.parent / 'models'}\n" + detection
    )
    return site


def test_swimmers_run_on_cameras_with_water_by_default(tmp_path: Path) -> None:
    assert load_site(_site(tmp_path, "")).swimmer_cameras() == ("pool",)
    assert load_site(_site(tmp_path, "", water=False)).swimmer_cameras() == ()
    named = "detection:\n  swimmers:\n    cameras: [hall]\n"
    assert load_site(_site(tmp_path, named)).swimmer_cameras() == ("hall",)
    off = "detection:\n  swimmers:\n    enabled: false\n"
    assert load_site(_site(tmp_path, off)).swimmer_cameras() == ()


def test_an_unknown_swimmer_camera_is_named_with_its_line(tmp_path: Path) -> None:
    site = _site(tmp_path, "detection:\n  swimmers:\n    cameras: [pol]\n")
    with pytest.raises(ConfigError) as err:
        load_site(site)
    (problem,) = err.value.problems
    assert (problem.line, problem.col) == (14, 15)
    assert "camera 'pol'" in problem.message and "did you mean 'pool'" in problem.message


def test_a_missing_swimmer_model_is_named_with_its_line(tmp_path: Path) -> None:
    site = _site(tmp_path, "detection:\n  swimmers:\n    model: nope.pt\n")
    with pytest.raises(ConfigError) as err:
        load_site(site)
    (problem,) = err.value.problems
    assert problem.line == 14 and "swimmer model 'nope.pt' does not exist" in problem.message


# -- the shipped weights on real swimmer images -------------------------------------------------
def test_shipped_weights_are_small_and_documented() -> None:
    weights = shipped_swimmer_path()
    assert weights.is_file() and weights.stat().st_size < 8_000_000
    import hashlib

    readme = (weights.parent / "README.md").read_text()
    assert hashlib.sha256(weights.read_bytes()).hexdigest() in readme


@pytest.mark.corpus
@pytest.mark.model
def test_swimmer_detector_finds_underwater_swimmers_the_pose_model_misses(
    detector: PoseDetector, models_dir: Path
) -> None:
    """Val images of the underwater lane-pool set: the swimmer model finds most swimmers;
    the pose model (what Guardian ran before) finds few of them."""
    folder = require_corpus("pool", "datasets", "ietr_underwater_swimmer")
    swim = PoseDetector(
        models_dir=models_dir,
        model_path=shipped_swimmer_path(),
        imgsz=640,
        confidence=0.3,
        task="detect",
        label=SWIMMER_LABEL,
    )
    images = sorted((folder / "images" / "val").iterdir())[::6]  # 12 images
    hits_swim = hits_pose = 0
    for path in images:
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        ((x, y, bw, bh),) = read_labels(folder / "labels" / "val" / f"{path.stem}.txt", {0: "s"})
        truth = Box((x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h)
        found = swim.detect(image)
        assert all(d.label == SWIMMER_LABEL and d.keypoints[0].conf == 0.0 for d in found)
        hits_swim += any(d.box.iou(truth) >= 0.5 for d in found)
        hits_pose += any(d.box.iou(truth) >= 0.5 for d in detector.detect(image))
    assert hits_swim >= 9, f"swimmer model found {hits_swim}/12"
    assert hits_swim > hits_pose


@pytest.mark.corpus
@pytest.mark.model
def test_pipeline_tracks_swimmers_in_the_water_zone(tmp_path: Path) -> None:
    """The overhead lane clip (a backstroke swimmer seen from above, in view 2.2-12.4 s):
    with the swimmer detector on (the camera has a water zone), swimmer boxes reach the
    tracker and the swimmer is a visible track in the water in nearly every frame; the
    pose model alone covers 84.5 % of them (bench/pool.py)."""
    from guardian.app import run_site
    from guardian.observations import read_observations
    from guardian.records import TrackState

    video = require_corpus("pool", "videos", "overhead_lane_backstroke.mp4")
    (tmp_path / "zones.yaml").write_text(
        "zones:\n  - {name: water, camera: pool, kind: water, anchor: hips, inertia: 2,"
        " polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]}\n"
    )
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n    fps: 5\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        "storage:\n  database: guardian.db\n  models: "
        f"{Path(__file__).resolve().parent.parent / 'models'}\n"
    )
    record = tmp_path / "obs.jsonl"
    assert run_site(site, record=record, progress=False) == 0
    frames = in_water = swimmer_frames = 0
    for obs in read_observations(record):
        if not 3.0 <= obs.pts <= 12.0:
            continue
        frames += 1
        seen = {t.track_id for t in obs.tracks if t.state is TrackState.TRACKED}
        swimmer_frames += any(t.label == SWIMMER_LABEL and t.track_id in seen for t in obs.tracks)
        in_water += any(p.zone == "water" and p.track_id in seen for p in obs.presences)
    assert frames >= 40
    assert swimmer_frames >= 1, "no swimmer box reached the tracker"
    assert in_water >= 0.9 * frames, f"{in_water}/{frames}"


# -- no second look in the water ----------------------------------------------------------------
def test_no_second_look_for_people_in_the_water() -> None:
    """A swimmer who goes under must go missing on time: the second look (an upscaled
    crop around a person just lost) is for people on the floor, never in a water zone."""
    import numpy as np

    from guardian.config import ZoneConfig
    from guardian.pipeline import CameraPipeline
    from guardian.records import Frame
    from guardian.tracking import Tracker

    people = {
        "swimmer": _det(300, 300, 340, 340, 0.9, "person"),  # in the water (bottom half)
        "walker": _det(100, 20, 140, 140, 0.9, "person"),  # on the deck (top half)
    }
    looked_at: list[set[int]] = []

    class Looker:
        def find(self, frame: Frame, tracks: object, detections: object) -> tuple[()]:
            looked_at.append({t.track_id for t in tracks})  # type: ignore[attr-defined]
            return ()

    water = ZoneConfig(
        name="water", camera="pool", kind="water", polygon=[[0, 0.5], [1, 0.5], [1, 1], [0, 1]]
    )
    frames = iter([list(people.values())] * 4 + [[]] * 3)  # both seen, then both lost
    pipe = CameraPipeline(
        "pool",
        lambda f: next(frames),
        [water],
        Tracker("pool", min_hits=1),
        relook=Looker(),  # type: ignore[arg-type]
    )
    image = np.zeros((480, 640, 3), np.uint8)
    observations = [pipe.process(Frame("pool", i, 100.0 + i / 10, i / 10, image)) for i in range(7)]
    walker = next(t.track_id for t in observations[0].tracks if t.box == people["walker"].box)
    swimmer = next(t.track_id for t in observations[0].tracks if t.box == people["swimmer"].box)
    assert any(p.track_id == swimmer for p in observations[3].presences)  # in the water
    # once both are lost (frames 4-6), only the walker on the deck gets a second look
    assert looked_at[-3:] == [{walker}] * 3
