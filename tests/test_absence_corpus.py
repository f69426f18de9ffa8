"""The submersion timer on real footage, through the whole pipeline (real model).

The corpus has no footage of a person going under water seen from the pool side, so
the test BUILDS a stand-in from a real clip and says so: UP-Fall A06 Cam1 (a person
walking), where from frame K on every frame is replaced by an empty frame of the same
camera (frame 36, when the walker is out of view). To the detector the walker vanishes
where they stood at frame K-1 — exactly what a swimmer going under looks like. The
"water" zone is drawn around that spot. The unmasked clip (the walker walks on, out of
the zone) must not fire; the masked one must fire at K + timeout (±1 s of video time).

The restart tests run the real `guardian run` in a child process, kill it with SIGKILL
while the timer is pending, switch the camera's video to the empty scene (the person is
still under water) and run again.
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
from corpus import require_corpus

REPO = Path(__file__).resolve().parent.parent
CLIP = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
FPS = 18.0
K = 120  # the walker stands around x 341..412, feet at y 412 (well inside the frame)
EMPTY = 36  # the walker is out of Cam1's view here
LENGTH = 300
ZONE = "[[300, 380], [460, 380], [460, 445], [300, 445]]"


def _frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(require_corpus(*CLIP)))
    frames = []
    while len(frames) < LENGTH:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    assert len(frames) == LENGTH
    return frames


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
        "empty": _write(folder / "empty.mp4", [empty] * int(90 * FPS)),
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
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("select * from events order by started_at")]


def test_a_person_vanishing_in_the_zone_fires_at_k_plus_timeout(
    tmp_path: Path, clips: dict[str, Path]
) -> None:
    from guardian.cli import run_site
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
    from guardian.cli import run_site

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


@pytest.mark.parametrize("late", [False, True], ids=["back in time", "deadline passed while down"])
def test_kill_9_then_restart_fires_the_pending_timer_once(
    tmp_path: Path, clips: dict[str, Path], late: bool
) -> None:
    video = tmp_path / "pool.mp4"
    video.write_bytes(clips["masked_long"].read_bytes())
    # long enough that run 1 cannot reach the deadline and run 2 starts before it
    # (3 fps keeps the 90 s empty video quick to process; at 3 fps the walker is in
    # the zone for one processed frame before K, hence inertia 1)
    timeout = "20s" if late else "60s"
    site = _site(tmp_path, video, timeout, fps=3, inertia=1)
    db = tmp_path / "guardian.db"
    proc = _spawn(site)
    try:
        deadline = _pending_deadline(db, proc)
        proc.send_signal(signal.SIGKILL)  # no chance to flush anything
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert _events(db) == []
    video.write_bytes(clips["empty"].read_bytes())  # still nobody in sight
    if late:
        while time.time() < deadline + 1:
            time.sleep(0.2)
    done = subprocess.run(
        [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    (event,) = _events(db)
    started = float(event["started_at"])  # type: ignore[arg-type]
    if late:  # at once: on the first frames of the new run
        assert started > deadline and int(event["frame_index"]) < 10  # type: ignore[call-overload]
    else:  # on time, by the camera's clock
        assert started == pytest.approx(deadline, abs=1.0)
        assert int(event["frame_index"]) > 3 * FPS  # type: ignore[call-overload]
    video.write_bytes(clips["blank"].read_bytes())
    again = subprocess.run(
        [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert len(_events(db)) == 1  # nothing fires twice
