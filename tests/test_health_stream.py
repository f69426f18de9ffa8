"""Camera health on a real stream: ``guardian run`` (the real pose model, in a thread,
stopped as Ctrl-C stops it) watches an HTTP MJPEG camera that ffmpeg serves on
127.0.0.1 from a corpus clip. The camera is stopped (offline), comes back showing a
frozen picture (stalled), then a blacked-out one (too dark): each problem is an event of
the built-in rule ``camera_health_lab``, an alert in the outbox, a span in
``camera_health``; the run's ``watch`` row has its heartbeat and its clean end.

Also: a camera that refuses connections from the start is offline too.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import imageio_ffmpeg
import pytest
from corpus import require_corpus

from guardian.app import run_site
from guardian.records import HealthProblem, Severity
from guardian.store import Store

pytestmark = [pytest.mark.corpus, pytest.mark.model]

REPO = Path(__file__).resolve().parent.parent
CLIP = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class FfmpegCamera:
    """An MJPEG-over-HTTP camera served by ffmpeg (``-listen 1``) on one port: ``show``
    starts serving an input (the previous one stops), ``stop`` takes the camera away."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/stream.mjpg"
        self.proc: subprocess.Popen[bytes] | None = None

    def show(self, *inputs: str, vf: str = "") -> None:
        self.stop()
        filters = "fps=5,scale=320:-2" + (f",{vf}" if vf else "")
        self.proc = subprocess.Popen(
            [
                *(FFMPEG, "-v", "error", "-re", *inputs, "-vf", filters, "-c:v", "mjpeg"),
                *("-q:v", "5", "-f", "mpjpeg", "-listen", "1"),
                *("-content_type", "multipart/x-mixed-replace;boundary=ffmpeg", self.url),
            ],
            stdin=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


def site_file(root: Path, url: str) -> Path:
    site = root / "guardian.yaml"
    site.write_text(
        "site:\n  name: Test\n  timezone: Europe/Paris\n"
        f"cameras:\n  - id: lab\n    source: {url}\n    fps: 4\n    imgsz: 320\n"
        f"storage:\n  database: events.db\n  models: {REPO / 'models'}\n"
        "contacts:\n  - id: owner\n    channels: [console]\n"
        "clips:\n  enabled: false\n"
        "health:\n  offline_after: 3s\n  stalled_after: 3s\n  too_dark_after: 3s\n"
        "  obstructed_after: 3s\n  recover: 1s\n  heartbeat: 1s\n"
    )
    return site


def wait_for(what: str, check: Callable[[], bool], timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)  # polling the store the run writes (no other signal to wait on)
    raise AssertionError(f"timed out waiting for {what}")


class Run:
    """``run_site`` in a thread; ``stop()`` is Ctrl-C."""

    def __init__(self, site: Path) -> None:
        self.stop_event = threading.Event()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._main, args=(site,), daemon=True)
        self.thread.start()

    def _main(self, site: Path) -> None:
        self.code = run_site(site, progress=False, stop=self.stop_event)

    def stop(self) -> int | None:
        self.stop_event.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.code


@pytest.fixture
def camera() -> Iterator[FfmpegCamera]:
    cam = FfmpegCamera(free_port())
    yield cam
    cam.stop()


def _read(db: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows from the run's database, read-only (never racing its first migrations)."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return list(conn.execute(sql, args))
    except sqlite3.OperationalError:  # not created yet
        return []


def open_spans(db: Path, problem: HealthProblem) -> bool:
    return bool(
        _read(db, "select 1 from camera_health where ended is null and problem = ?", problem)
    )


def frames(db: Path) -> int:
    rows = _read(db, "select max(frames) from watch")
    return int(rows[0][0] or 0) if rows else 0


def test_stopped_frozen_and_blacked_out_stream(
    tmp_path: Path, camera: FfmpegCamera, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(require_corpus(*CLIP))
    still = tmp_path / "still.png"
    cap = cv2.VideoCapture(clip)
    cap.set(cv2.CAP_PROP_POS_FRAMES, 60)
    ok, image = cap.read()
    assert ok
    cv2.imwrite(str(still), image)
    db = tmp_path / "events.db"

    camera.show("-stream_loop", "-1", "-i", clip)
    run = Run(site_file(tmp_path, camera.url))
    try:
        wait_for("frames from the camera", lambda: frames(db) >= 8, timeout=60)
        camera.stop()  # the camera goes away
        wait_for("offline", lambda: open_spans(db, HealthProblem.OFFLINE))
        camera.show("-loop", "1", "-i", str(still))  # back, but frozen
        wait_for("stalled", lambda: open_spans(db, HealthProblem.STALLED))
        camera.show("-stream_loop", "-1", "-i", clip, vf="lutyuv=y=val/12")  # blacked out
        wait_for("too dark", lambda: open_spans(db, HealthProblem.TOO_DARK))
    finally:
        code = run.stop()
    assert code == 0

    with Store(db) as store:
        events = store.event_log.find()
        spans = store.camera_health.spans()
        (watch,) = store.camera_health.latest_watch()
        alerts = store.outbox.find(kind="alert")
    health = [e for e in events if e.rule_id == "camera_health_lab"]
    said = [(e.severity, e.message) for e in health]

    def has(severity: Severity, start: str) -> bool:
        return any(sev is severity and m.startswith(start) for sev, m in said)

    assert has(Severity.WARNING, "Lab camera has been offline since "), said
    assert has(Severity.INFO, "Lab camera is back after "), said
    assert has(Severity.WARNING, "Lab camera has shown a frozen picture since "), said
    assert has(Severity.WARNING, "Lab camera has seen only black since "), said
    # each event's alert went to the contact, in the same words
    messages = {a.message for a in alerts if a.contact == "owner" and a.channel == "console"}
    assert {e.message for e in health} <= messages
    # the spans: offline and stalled closed when the picture changed, too dark at the end
    problems = [s.problem for s in spans]
    assert problems.index(HealthProblem.OFFLINE) < problems.index(HealthProblem.STALLED)
    assert problems.index(HealthProblem.STALLED) < problems.index(HealthProblem.TOO_DARK)
    assert all(s.ended is not None and s.ended >= s.started for s in spans)
    assert {s.run_id for s in spans} == {watch.run_id}
    # the watch row: beaten while running, ended by the clean stop
    assert watch.camera == "lab" and watch.ended is not None and watch.frames >= 20
    assert watch.last_frame is not None and watch.started < watch.last_frame <= watch.ended


def test_a_camera_refusing_connections_from_the_start_is_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on the camera's port: offline offline_after seconds after the run
    began ("refuses connections"), alerted, and the span ends with the clean stop."""
    url = f"http://127.0.0.1:{free_port()}/stream.mjpg"
    db = tmp_path / "events.db"
    run = Run(site_file(tmp_path, url))
    try:
        wait_for("offline", lambda: open_spans(db, HealthProblem.OFFLINE), timeout=30)
        time.sleep(1.5)  # the event is committed right after its span
    finally:
        assert run.stop() == 0
    with Store(db) as store:
        (span,) = store.camera_health.spans()
        (event,) = store.event_log.find(rule_id="camera_health_lab")
        (watch,) = store.camera_health.latest_watch()
        alerts = store.outbox.find(kind="alert")
    assert span.problem is HealthProblem.OFFLINE and span.detail == "the camera refuses connections"
    assert span.started == pytest.approx(watch.started, abs=0.5)
    assert span.ended == watch.ended and watch.frames == 0 and watch.last_frame is None
    assert "has been offline since" in event.message and event.severity is Severity.WARNING
    assert [a.message for a in alerts] == [event.message]
    assert "camera lab sent no picture: nothing was watched there" in capsys.readouterr().out


def test_a_run_that_sees_nobody_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty scene (a real photo with nobody in it, the real model): the run ends
    with "0 event(s)" and a hint to check the camera's view, not silence."""
    empty = require_corpus("fall", "ambianic_test_frames", "background.jpg")
    site = site_file(tmp_path, str(empty))
    assert run_site(site, progress=False) == 0
    out = capsys.readouterr().out
    assert "0 event(s) stored" in out
    assert "nobody was detected on camera lab in 1 frame(s) — check the camera's view" in out
