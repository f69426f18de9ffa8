"""The labelled fall data of the corpus: ground truth, MediaPipe skeletons, ambianic cases, cache.

Everything reads the real corpus files; the cache test runs the real pose model on the first
frames of the URFD clip (the RGB right half) into a temporary cache folder.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from corpus import require_corpus

from guardian.detection import PoseDetector
from guardian.fall.data import (
    COCO_FROM_MEDIAPIPE,
    ClipDetections,
    FallClip,
    FallDataError,
    ambianic_cases,
    clip_detections,
    clip_tracks,
    fall_clips,
    mediapipe_sequences,
)
from guardian.records import KEYPOINT_NAMES, TrackState


@pytest.fixture(scope="module")
def corpus() -> Path:
    return require_corpus("ground_truth")


@pytest.fixture(scope="module")
def root(corpus: Path) -> Path:
    return corpus.parent


def test_fall_clips_come_from_both_ground_truth_files(root: Path) -> None:
    clips = fall_clips(root)
    by_name = {c.name: c for c in clips}
    assert len(by_name) == len(clips) == 28
    upfall = [c for c in clips if c.source == "upfall"]
    assert len(upfall) == 22
    assert sum(c.is_fall for c in upfall) == 10  # A01–A05, two cameras
    assert {c.view for c in upfall} == {"upfall-cam1", "upfall-cam2"}
    assert [c.name for c in clips if c.source == "urfd"] == ["fall-01-cam0"]
    assert [c.name for c in clips if c.source == "phone_room"] == [f"Fall0{i}" for i in range(1, 6)]
    assert all(c.is_fall for c in clips if c.source != "upfall")

    a01 = by_name["UPFall_S1_A01_T1_Cam1"]
    assert (a01.activity, a01.fps, a01.frames) == ("Falling forward using hands", 18.0, 142)
    assert (a01.onset, a01.on_ground) == (46, 58)
    assert a01.on_ground_s == pytest.approx(58 / 18)
    walk = by_name["UPFall_S1_A06_T1_Cam2"]
    assert (walk.is_fall, walk.onset, walk.on_ground, walk.activity) == (
        False,
        None,
        None,
        "Walking",
    )
    urfd = by_name["fall-01-cam0"]
    # the official labels: falling from 1-based frame 83, lying from 113 → 0-based 82 / 112
    assert (urfd.fps, urfd.frames, urfd.onset, urfd.on_ground) == (30.0, 160, 82, 112)
    assert urfd.crop_right_half and not a01.crop_right_half
    fall2 = by_name["Fall02"]
    assert (fall2.fps, fall2.onset, fall2.on_ground, fall2.view) == (29.0, 115, 130, "phone")
    for clip in clips:
        assert (root / clip.path).is_file(), clip.path
        if clip.is_fall:
            assert clip.onset is not None and clip.on_ground is not None
            assert 0 <= clip.onset <= clip.on_ground < clip.frames


def test_a_bad_ground_truth_row_names_file_and_line(root: Path, tmp_path: Path) -> None:
    (tmp_path / "ground_truth").mkdir()
    with open(root / "ground_truth" / "upfall_subject1_trial1.csv", newline="") as f:
        rows = list(csv.reader(f))
    rows[2][rows[0].index("on_ground_frame_est")] = "soon"  # line 3 of the file
    with open(tmp_path / "ground_truth" / "upfall_subject1_trial1.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    with pytest.raises(FallDataError, match=r"upfall_subject1_trial1\.csv:3: .*on_ground"):
        fall_clips(tmp_path)


def test_mediapipe_skeletons_map_to_coco(root: Path) -> None:
    sequences = mediapipe_sequences(root)
    assert len(sequences) == 20
    assert {s.view for s in sequences} == {"upfall-cam1", "upfall-cam2"}
    assert "C2S1A1T2" in {s.name for s in sequences}  # upstream file C2S1_A1_T2.csv ("LLABEL")
    first = sequences[0]
    assert first.name == "C1S1A1T1"
    assert len(first.keypoints) == len(first.labels) == 100
    assert all(len(frame) == len(KEYPOINT_NAMES) for frame in first.keypoints)

    with open(root / "fall" / "upfall_skeletons_mediapipe" / "C1S1A1T1.csv", newline="") as f:
        raw = list(csv.DictReader(f))
    # every COCO point is its MediaPipe landmark scaled to 640x480 (left shoulder = landmark 11)
    assert COCO_FROM_MEDIAPIPE[KEYPOINT_NAMES.index("left_shoulder")] == 11
    for frame, row in ((0, raw[0]), (99, raw[99])):
        for coco, landmark in enumerate(COCO_FROM_MEDIAPIPE):
            point = first.keypoints[frame][coco]
            assert point.x == pytest.approx(float(row[f"Joint{landmark + 1}_X"]) * 640)
            assert point.y == pytest.approx(float(row[f"Joint{landmark + 1}_Y"]) * 480)
    assert list(first.labels) == [int(r["LABEL"]) for r in raw]

    for seq in sequences:
        # labels go 0 → 1 once: before the fall, then from the fall on
        assert seq.labels[0] == 0 and seq.labels[-1] == 1
        assert list(seq.labels) == sorted(seq.labels)
        # anatomy: standing at the start (nose high above the ankles); after the fall label
        # the head comes down to near ankle height at some frame (some clips get up again)
        nose, ankle = KEYPOINT_NAMES.index("nose"), KEYPOINT_NAMES.index("left_ankle")
        rise = [f[ankle].y - f[nose].y for f in seq.keypoints]
        assert rise[0] > 150, seq.name
        down = [r for r, label in zip(rise, seq.labels, strict=True) if label == 1]
        assert min(down) < 0.5 * rise[0], seq.name


def test_ambianic_cases(root: Path) -> None:
    cases = {c.case_id: c for c in ambianic_cases(root)}
    assert len(cases) == 14
    assert cases["case_1"].frames == (
        "fall/ambianic_test_frames/fall_img_1.png",
        "fall/ambianic_test_frames/fall_img_3.png",
    )
    assert cases["case_5"].frames == tuple(reversed(cases["case_2_1"].frames))
    assert cases["case_2_1"].outcome == "NO_FALL" and "timing" in cases["case_2_1"].condition
    assert cases["case_2_2"].outcome == "FALL"
    assert cases["case_bg"].outcome == "NO_DETECTION" and len(cases["case_bg"].frames) == 1
    assert len(cases["case_3f_1"].frames) == 3 and cases["case_3f_1"].outcome == "FALL"
    assert cases["case_3f_3"].outcome == "NO_FALL"
    assert sum(c.outcome == "FALL" for c in cases.values()) == 6
    for case in cases.values():
        assert all((root / f).is_file() for f in case.frames)


class _NoModel(PoseDetector):
    """A detector that must not be asked: the cache must answer."""

    def __init__(self) -> None:  # no model is loaded
        pass

    def detect(self, image: np.ndarray) -> tuple[()]:  # type: ignore[override]
        raise AssertionError("the model ran although the cache should have answered")


def test_detection_cache_round_trip(root: Path, tmp_path: Path, detector: PoseDetector) -> None:
    urfd = next(c for c in fall_clips(root) if c.name == "fall-01-cam0")
    built = clip_detections(urfd, root, cache_dir=tmp_path, detector=detector, limit=20)
    assert (tmp_path / "fall-01-cam0.npz").is_file()
    # only the RGB right half of the 640x240 frame reaches the model
    assert (built.width, built.height) == (320, 240)
    assert [i for i, _, _ in built.frames] == list(range(20))
    assert built.frames[1][1] == pytest.approx(1 / 30, abs=2e-3)
    seen = [dets for _, _, dets in built.frames if dets]
    assert len(seen) >= 18, "the standing person is found in nearly every frame"
    assert all(0 <= d.box.x1 < d.box.x2 <= 320 for dets in seen for d in dets)

    loaded = clip_detections(urfd, root, cache_dir=tmp_path, detector=_NoModel(), limit=20)
    assert loaded == built
    assert isinstance(loaded, ClipDetections) and loaded.clip == urfd

    # a cache made with other settings (here: another frame limit) is rebuilt, not reused
    shorter = clip_detections(urfd, root, cache_dir=tmp_path, detector=detector, limit=8)
    assert shorter.frames == built.frames[:8]

    tracks = clip_tracks(loaded, step=2)
    assert [t for t, _ in tracks] == [t for i, t, _ in built.frames if i % 2 == 0]
    confirmed = [tr for _, trs in tracks for tr in trs if tr.state is TrackState.TRACKED]
    assert confirmed and {tr.track_id for tr in confirmed} == {1}
    with pytest.raises(ValueError, match="step"):
        clip_tracks(loaded, step=0)


def test_fall_clip_checks_its_frames(root: Path, tmp_path: Path) -> None:
    clip = next(c for c in fall_clips(root) if c.name == "Fall01")
    assert isinstance(clip, FallClip)
    (tmp_path / "ground_truth").mkdir()
    src = root / "ground_truth" / "fall_events_other_clips.csv"
    text = src.read_text().replace("Fall01.mp4,1,207,30,130,150", "Fall01.mp4,1,207,30,160,150")
    (tmp_path / "ground_truth" / "fall_events_other_clips.csv").write_text(text)
    (tmp_path / "ground_truth" / "upfall_subject1_trial1.csv").write_text(
        (root / "ground_truth" / "upfall_subject1_trial1.csv").read_text()
    )
    with pytest.raises(FallDataError, match=r"fall_events_other_clips\.csv:3: need 0 <= onset"):
        fall_clips(tmp_path)
    assert replace(clip, onset=None).onset_s is None
