"""The submersion timer on real footage, through the whole pipeline (real model).

The corpus has no footage of a person going under water seen from the pool side, so
the test BUILDS a stand-in from a real clip and says so: UP-Fall A06 Cam1 (a person
walking), where from frame K on every frame is replaced by an empty frame of the same
camera (frame 36, when the walker is out of view). To the detector the walker vanishes
where they stood at frame K-1 — exactly what a swimmer going under looks like. The
"water" zone is drawn around that spot. The unmasked clip (the walker walks on, out of
the zone) must not fire; the masked one must fire at K + timeout (±1 s of video time).

The restart tests run the real `guardian run` in a child process, kill it with SIGKILL
while the timer is pending, switch the camera to the empty scene (the person is still
under water) and run again: on a video file the timer is dropped (it belonged to that
playing of the file, issue 13); on a live camera (a real MJPEG stream over HTTP, served
from the same frames in real time) it fires on time, once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from livecam import EMPTY, FPS, LENGTH, ZONE, K, LiveCamera, scene_frames

REPO = Path(__file__).resolve().parent.parent


def _frames() -> list[np.ndarray]:
    return scene_frames()


def _write(path: Path, frames: list[np.ndarray]) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for f in frames:
        writer.write(f)
    writer.release()
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """original: the real clip; masked: empty from frame K on (built here, a stand-in
    for going under water); empty: the empty scene only (after a restart)."""
    frames = _frames()
    folder = tmp_path_factory.mktemp("clips")
    empty = frames[EMPTY]
    return {
        "original": _write(folder / "original.mp4", frames),
        "masked": _write(folder / "masked.mp4", frames[:K] + [empty] * (LENGTH - K)),
        "masked_long": _write(folder / "masked_long.mp4", frames[:K] + [empty] * int(40 * FPS)),
        # 40 s: more than K / FPS + 20 s (the kill-9 test's timer), so a timer carried
        # over would fall due while it plays (its clock starts later than the first run's)
        "empty": _write(folder / "empty.mp4", [empty] * int(40 * FPS)),
        "blank": _write(folder / "blank.mp4", [empty] * int(3 * FPS)),
    }


def _site(folder: Path, video: Path, timeout: str, fps: int = 9, inertia: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zones.yaml").write_text(
        "zones:\n  - name: water\n    camera: pool\n    kind: water\n    units: px\n"
        f"    polygon: {ZONE}\n    inertia: {inertia}\n"
    )
    (folder / "rules.yaml").write_text(
        "rules:\n  - id: submersion\n    severity: critical\n"
        f"    triggers: [{{kind: absent, zones: water, timeout: {timeout}}}]\n"
        "    actions: [{kind: alert, channels: [log]}]\n"
    )
    site = folder / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n    fps: {fps}\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
    )
    return site


def _events(db: Path) -> list[dict[str, object]]:
    """The events of these tests' rules (not the camera-health ones: a video or a stream
    that holds the empty scene still for 20 s is a frozen camera)."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = [dict(r) for r in conn.execute("select * from events order by started_at")]
    return [r for r in rows if not str(r["rule_id"]).startswith("camera_health")]


def test_a_person_vanishing_in_the_zone_fires_at_k_plus_timeout(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    from guardian.app import run_site
    from guardian.replay import replay

    site = _site(tmp_path, clips["masked"], "5s")
    record = tmp_path / "obs.jsonl"
    assert run_site(site, record=record, progress=False) == 0
    (event,) = _events(tmp_path / "guardian.db")
    assert event["rule_id"] == "submersion" and event["zone"] == "water"
    fired_at = int(event["frame_index"]) / FPS  # type: ignore[call-overload]
    assert fired_at == pytest.approx(K / FPS + 5.0, abs=1.0)
    # the recording replays to the same event (how a user tests a rule on footage)
    (again,) = replay(record, [tmp_path / "rules.yaml"]).events
    assert again.started_at == event["started_at"] and again.track_id == event["track_id"]


def test_the_same_person_walking_out_of_the_zone_does_not(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    record = tmp_path / "obs.jsonl"
    from guardian.app import run_site

    site = _site(tmp_path, clips["original"], "5s")
    assert run_site(site, record=record, progress=False) == 0
    assert _events(tmp_path / "guardian.db") == []
    edges = [
        t[3]
        for line in record.read_text().splitlines()
        for t in json.loads(line)["transitions"]
        if t[0] == "water"
    ]
    assert edges[:2] == ["enter", "leave"]  # it did go in, and walked out


def _spawn(site: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _pending_deadline(db: Path, proc: subprocess.Popen[str], limit: float = 240) -> float:
    """Wait until the running process has stored a pending absence timer."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        assert proc.poll() is None, "the run ended before its timer was stored"
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    rows = conn.execute(
                        "select value from rule_state where rule_id = 'submersion'"
                    ).fetchall()
            except sqlite3.OperationalError:  # schema not created yet
                rows = []
            for (value,) in rows:
                entry = json.loads(value)
                if isinstance(entry, dict) and "deadline" in entry:
                    return float(entry["deadline"])
        time.sleep(0.05)
    raise AssertionError("no pending timer was stored")


def test_kill_9_on_a_video_file_leaves_nothing_for_the_next_run(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    """A run on a video file is killed (SIGKILL: nothing flushed) while the timer waits.
    A file's timers belong to that playing of it: the next run plays the file from the
    start (or another one), so the timer is dropped, never fired about a person of
    another video (issue 13: "track 1 not seen for 1674s"). A live camera's timers
    resume: the test below."""
    video = tmp_path / "pool.mp4"
    video.write_bytes(clips["masked_long"].read_bytes())
    # at 3 fps the walker is in the zone for one processed frame before K: inertia 1
    site = _site(tmp_path, video, "20s", fps=3, inertia=1)
    db = tmp_path / "guardian.db"
    proc = _spawn(site)
    try:
        _pending_deadline(db, proc)
        proc.send_signal(signal.SIGKILL)  # no chance to flush anything
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    video.write_bytes(clips["empty"].read_bytes())  # 40 s: its clock passes the deadline
    done = subprocess.run(
        [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert [e for e in _events(db) if e["rule_id"] == "submersion"] == []
    with sqlite3.connect(db) as conn:
        left = conn.execute("select key from rule_state where rule_id = 'submersion'")
        assert left.fetchall() == []


def test_kill_9_on_a_live_camera_then_restart_fires_the_pending_timer_once(
    tmp_path: Path,
) -> None:
    """The same scene from a real live stream (HTTP MJPEG, served in real time at 6 fps
    from the clip's frames): the run is killed while the 15 s timer waits, the camera
    keeps showing the empty scene (the person is still under water), and the restarted
    run fires the timer on time, by the wall clock, once."""
    frames = _frames()
    # the walker walks into the water zone and stands there, then is gone (under water)
    camera = LiveCamera([*frames[:K:3], frames[EMPTY]], fps=6)
    try:
        site = _site(tmp_path, Path("unused.mp4"), "15s", fps=3, inertia=1)
        text = site.read_text().replace("source: unused.mp4", f"source: {camera.url}")
        site.write_text(text)
        db = tmp_path / "guardian.db"
        proc = _spawn(site)
        try:
            deadline = _pending_deadline(db, proc)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        camera.show([frames[EMPTY]])  # still nobody in sight
        proc = _spawn(site)
        try:
            end = time.monotonic() + (deadline - time.time()) + 60
            while time.monotonic() < end and not _events(db):
                assert proc.poll() is None, proc.communicate()[1]
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)  # a normal stop
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        camera.close()
    (event,) = [e for e in _events(db) if e["rule_id"] == "submersion"]
    assert float(event["started_at"]) == pytest.approx(deadline, abs=1.5)  # type: ignore[arg-type]
    with sqlite3.connect(db) as conn:  # fired and gone in one transaction: never again
        left = conn.execute("select key from rule_state where rule_id = 'submersion'")
        assert left.fetchall() == []
