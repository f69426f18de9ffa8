"""Sub-streams: a camera detects on its low-resolution ``source`` and records clips from
its high-resolution ``record`` stream (Frigate's detect and record roles)."""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from corpus import require_corpus

from guardian.clips import ClipRecorder, draw_snapshot
from guardian.clips.drawing import scale_tracks
from guardian.config.clips import ClipsConfig
from guardian.detection import PoseDetector
from guardian.pipeline import CameraPipeline, CameraWorker
from guardian.records import Box, Frame, Keypoint, Track, TrackState
from guardian.sources import open_source
from guardian.store import Store
from guardian.tracking import Tracker

REPO = Path(__file__).resolve().parent.parent
UPFALL = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")  # 640x480, 18 fps: a walker


def scaled_copy(clip: Path, out: Path, width: int, height: int, seconds: float) -> Path:
    """The first ``seconds`` of ``clip`` at ``width`` x ``height`` (H.264), with ffmpeg."""
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(clip),
            "-t",
            str(seconds),
            "-vf",
            f"scale={width}:{height}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-an",
            str(out),
        ],
        check=True,
        capture_output=True,
    )
    return out


def red_box(image: np.ndarray) -> Box:
    """The bounding box of the red drawing (person boxes, labels, keypoints) of a snapshot."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    ys, xs = np.nonzero((r > 180) & (g < 80) & (b < 80))
    assert xs.size > 0, "no box drawn"
    return Box(float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))


# --------------------------------------------------------------------------- guardian run


@pytest.mark.corpus
@pytest.mark.model
def test_clips_come_from_the_record_stream_at_its_resolution(
    tmp_path: Path, detector: PoseDetector
) -> None:
    """`guardian run` detects on a 320x240 copy of a corpus clip and records from a
    640x480 copy of the same clip: the clip is 640x480, covers the event, and its
    snapshot's person box (drawn in detect pixels, scaled) lands on the person."""
    clip = require_corpus(*UPFALL)
    low = scaled_copy(clip, tmp_path / "low.mp4", 320, 240, 16)
    high = scaled_copy(clip, tmp_path / "high.mp4", 640, 480, 16)
    (tmp_path / "zones.yaml").write_text(
        "zones:\n  - name: floor\n    camera: lab\n    kind: room\n"
        "    polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]\n"
    )
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: floor_entry\n    triggers: [{kind: zone_enter, zones: floor}]\n"
        "    actions: [{kind: alert, channels: [console]}]\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: lab\n    source: {low}\n    record: {high}\n"
        "    fps: 5\n    imgsz: 320\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: events.db\n  models: {REPO / 'models'}\n"
        "clips:\n  pre: 2s\n  post: 3s\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = [sys.executable, "-m", "guardian", "run", "--quiet", "--config", str(site)]
    done = subprocess.run(run, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    with Store(tmp_path / "events.db") as store:
        events = store.event_log.find()
        assert events, done.stdout + done.stderr[-2000:]
        event = events[0]
        row = store.clip_log.for_event(event.event_id)
    assert row is not None and row.status == "written", row
    assert row.start is not None and row.end is not None
    assert row.start <= event.started_at <= row.end

    video = cv2.VideoCapture(str(tmp_path / "clips" / row.path))
    size = (video.get(cv2.CAP_PROP_FRAME_WIDTH), video.get(cv2.CAP_PROP_FRAME_HEIGHT))
    frames = video.get(cv2.CAP_PROP_FRAME_COUNT)
    video.release()
    assert size == (640, 480)  # the record stream's, not the detect stream's 320x240
    assert frames == row.frames and frames >= 3 * 5  # seconds around the event at 5 fps

    assert row.snapshot_path is not None
    snapshot = cv2.imread(str(tmp_path / "clips" / row.snapshot_path))
    assert snapshot is not None and snapshot.shape[:2] == (480, 640)
    drawn = red_box(snapshot)
    people = [d.box for d in detector.detect(snapshot)]
    assert people, "no person in the snapshot"
    best = max(people, key=drawn.iou)
    # the red drawing is the box (plus its label above it and keypoints inside)
    assert drawn.iou(best) > 0.6, (drawn, people)


# --------------------------------------------------------------------------- the worker


def write_video(path: Path, size: tuple[int, int], n: int = 40, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((size[1], size[0], 3), (6 * i) % 256, np.uint8))
    writer.release()
    return path


def run_worker(tmp_path: Path, record: object) -> tuple[ClipRecorder, CameraWorker]:
    """A camera worker on a 64x48 file with ``record`` as its record stream (no model)."""
    detect = write_video(tmp_path / "detect.mp4", (64, 48))
    store = Store(tmp_path / "events.db")
    recorder = ClipRecorder(
        ClipsConfig(buffer=60),
        store,
        tmp_path / "clips",
        timezone="Europe/Paris",
        cameras={"cam": 10.0},
    )

    def model(frame: Frame) -> tuple[()]:
        time.sleep(0.02)  # a model's time: the record reader (a JPEG a frame) keeps up
        return ()

    pipeline = CameraPipeline("cam", model, [], Tracker("cam"))
    stop = threading.Event()
    worker = CameraWorker(
        lambda: open_source("cam", detect, fps=10),
        pipeline,
        queue.Queue(),
        stop,
        recorder.camera("cam"),
        open_record=lambda: open_source("cam", record, fps=10),  # type: ignore[arg-type]
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive()
    return recorder, worker


def test_the_ring_holds_record_frames_on_the_detect_time_base(tmp_path: Path) -> None:
    # a little longer than the detect file: it does not end first (then it would fall back)
    high = write_video(tmp_path / "high.mp4", (128, 96), n=60)
    recorder, worker = run_worker(tmp_path, high)
    ring = recorder.cameras["cam"].ring
    assert worker.status.error is None and worker.status.processed == 40
    assert worker.record is not None and not worker.record.failed
    assert all(f.record and (f.width, f.height) == (128, 96) for f in ring.frames)
    source_start = ring.frames[0].timestamp
    # the detect frames' times (opened_at + pts): record frames at the same pts match them
    stamps = [round((f.timestamp - source_start) * 10) for f in ring.frames]
    assert stamps == list(range(len(stamps)))
    # the detect file's 4 s, and up to a second of record frames read ahead of them
    assert 40 <= len(stamps) <= 51


def test_a_record_stream_that_cannot_be_opened_falls_back_to_the_detect_frames(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="guardian.pipeline")
    recorder, worker = run_worker(tmp_path, tmp_path / "missing.mp4")
    ring = recorder.cameras["cam"].ring
    assert worker.status.error is None and worker.status.processed == 40
    assert worker.record is not None and worker.record.failed
    assert len(ring.frames) == 40
    assert all(not f.record and (f.width, f.height) == (64, 48) for f in ring.frames)
    said = [r for r in caplog.records if "record stream stopped" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.WARNING
    assert "missing.mp4" in said[0].getMessage()


def test_the_detect_stream_ending_ends_the_record_reader(tmp_path: Path) -> None:
    """A record file longer than the detect file is read no further than ~1 s past it."""
    long = write_video(tmp_path / "long.mp4", (128, 96), n=200)
    recorder, worker = run_worker(tmp_path, long)
    ring = recorder.cameras["cam"].ring
    assert worker.record is not None and not worker.record.is_alive()
    assert not worker.record.failed  # stopped with the detect stream, not failed
    # 40 detect frames at 10 fps: 4 s; the record reader stays within 1 s ahead of them
    assert all(f.record for f in ring.frames)
    assert ring.frames[-1].timestamp - ring.frames[0].timestamp <= 3.9 + 1.0 + 0.11


# --------------------------------------------------------------------------- drawing


def test_tracks_are_scaled_from_detect_pixels_to_the_record_frame() -> None:
    track = Track(
        "cam",
        1,
        TrackState.TRACKED,
        Box(100, 50, 140, 150),
        0.9,
        (Keypoint(120, 60, 0.9), Keypoint(110, 140, 0.1)),
        0.0,
        0.0,
        3,
    )
    (scaled,) = scale_tracks([track], 2.0, 2.0)
    assert scaled.box == Box(200, 100, 280, 300)
    assert scaled.keypoints == (Keypoint(240, 120, 0.9), Keypoint(220, 280, 0.1))
    assert scaled.track_id == 1 and scaled.hits == 3
    picture = draw_snapshot(np.zeros((480, 640, 3), np.uint8), [scaled], [])
    drawn = red_box(picture)
    assert abs(drawn.x1 - 200) <= 2 and abs(drawn.x2 - 280) <= 2 and abs(drawn.y2 - 300) <= 2
