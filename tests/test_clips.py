"""Event clips: ring buffer → writer thread → ffmpeg (H.264 MP4, faststart), pictures,
extension, a stalled writer, restart recovery, and a full disk. Real ffmpeg throughout."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from corpus import require_corpus
from rulesim import T0, P, Sim, rules_from

from guardian.alerts import ConsoleNotifier, LogNotifier, Outbox
from guardian.clips import (
    CUT_SHORT,
    FRAMES_LOST,
    ClipRecorder,
    UnsafeClipPath,
    clip_stem,
    resolve_clip_path,
)
from guardian.config.clips import ClipsConfig
from guardian.dispatch import Dispatcher
from guardian.effects import ClipRequest, Effects
from guardian.modes import ModeManager
from guardian.records import Box, Event, Frame, Keypoint, Observation, Severity, Track, TrackState
from guardian.rules import RuleContext, RuleEngine
from guardian.sources import open_source
from guardian.store import Store

FPS = 10.0
TZ = "Europe/Paris"
UPFALL = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")  # 45 s, 640x480, 18 fps


def ffprobe() -> str:
    exe = shutil.which("ffprobe")
    if exe is None:
        reason = "ffprobe not found (apt install ffmpeg)"
        if os.environ.get("GUARDIAN_REQUIRE_BROWSER"):
            pytest.fail(reason + " — GUARDIAN_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    return exe


def probe(path: Path) -> dict[str, str]:
    done = subprocess.run(
        [
            ffprobe(),
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=codec_name,pix_fmt,nb_read_frames,width,height:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(done.stdout)
    return {**data["streams"][0], "duration": data["format"]["duration"]}


def top_atoms(path: Path) -> list[str]:
    """The MP4's top-level box types, in file order."""
    atoms = []
    data = path.read_bytes()
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        atoms.append(kind)
        if size < 8:
            break
        pos += size
    return atoms


def fragments(path: Path) -> int:
    """How many MP4 fragments (``moof`` boxes) a file holds so far."""
    return path.read_bytes().count(b"moof") if path.exists() else 0


def is_jpeg(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9", path
    image = cv2.imread(str(path))
    assert image is not None
    return image.shape[1], image.shape[0]


def synthetic(camera: str, count: int, t0: float, fps: float = FPS) -> Iterator[Frame]:
    """Frames with a moving block, ``fps`` apart from ``t0``."""
    for i in range(count):
        image = np.full((240, 320, 3), 40, np.uint8)
        x = (i * 7) % 280
        image[100:160, x : x + 40] = (0, 200, 255)
        yield Frame(camera, i, t0 + i / fps, i / fps, image)


def recorder(tmp_path: Path, store: Store, **config: object) -> ClipRecorder:
    rec = ClipRecorder(
        ClipsConfig.model_validate(config),
        store,
        tmp_path / "clips",
        timezone=TZ,
        cameras={"cam": FPS, "pool": FPS},
    )
    rec.start()
    return rec


def event_at(event_id: str, frame: Frame) -> Event:
    return Event(
        event_id, "fall", "Fall", frame.camera, None, 1, None, Severity.CRITICAL,
        frame.timestamp, None, "fell", frame.index,
    )  # fmt: skip


def fire(rec: ClipRecorder, store: Store, event: Event, obs: Observation | None = None) -> None:
    """What the dispatcher does: default request, commit, then hand it to the recorder."""
    effects = Effects()
    rec.add_defaults([event], effects)
    store.commit([event], [], effects)
    rec.submit(effects.clips, [event], obs)


def person(frame: Frame) -> Observation:
    kps = tuple(Keypoint(300 + 5 * (k % 3), 150 + 15 * k, 0.9) for k in range(17))
    track = Track(
        frame.camera, 1, TrackState.TRACKED, Box(250, 120, 360, 420), 0.9, kps,
        frame.timestamp, frame.timestamp, 5,
    )  # fmt: skip
    return Observation(
        frame.camera, frame.index, frame.timestamp, frame.pts, frame.width, frame.height,
        (track,), (), (), (),
    )  # fmt: skip


# --------------------------------------------------------------------------- corpus


def run_corpus(
    tmp_path: Path, store: Store, events_at: tuple[float, ...], **config: object
) -> tuple[ClipRecorder, list[Event], list[float]]:
    """Real UP-Fall frames through a camera's ring; an event at each video time."""
    path = require_corpus(*UPFALL)
    rec = recorder(tmp_path, store, **config)
    cam = rec.camera("cam")
    assert cam is not None
    source = open_source("cam", str(path), fps=FPS)
    pending = list(events_at)
    events: list[Event] = []
    push_times: list[float] = []
    stop_at = max(events_at) + 12.0
    try:
        for frame in source.frames(threading.Event()):
            t = time.perf_counter()
            cam.push(frame)
            push_times.append(time.perf_counter() - t)
            if pending and frame.pts >= pending[0]:
                pending.pop(0)
                event = event_at(f"ev{len(events)}", frame)
                events.append(event)
                fire(rec, store, event, person(frame))
            if frame.pts > stop_at:
                break
    finally:
        source.close()
    assert rec.wait_idle(60)
    rec.close()
    return rec, events, push_times


def test_an_event_on_real_footage_makes_a_browser_ready_mp4(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db")
    rec, (event,), push_times = run_corpus(tmp_path, store, (10.0,), pre=5, post=10)
    clip = store.clip_log.for_event(event.event_id)
    assert clip is not None and clip.status == "written", clip
    stem = clip_stem("cam", event.event_id, event.started_at, TZ)
    assert clip.path == f"{stem}.mp4" and clip.path.startswith("cam/")
    mp4 = tmp_path / "clips" / clip.path
    info = probe(mp4)
    assert (info["codec_name"], info["pix_fmt"]) == ("h264", "yuv420p")
    assert (int(info["width"]), int(info["height"])) == (640, 480)
    # pre + event (an instant) + post, within a frame
    assert float(info["duration"]) == pytest.approx(15.0, abs=1.5 / FPS)
    assert int(info["nb_read_frames"]) == pytest.approx(150, abs=1)
    assert clip.frames == int(info["nb_read_frames"]) and clip.size_bytes == mp4.stat().st_size
    atoms = top_atoms(mp4)
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # faststart
    assert "moof" not in atoms  # the fragmented .part was remuxed
    assert not list((tmp_path / "clips").rglob("*.part"))
    assert clip.thumbnail_path and clip.snapshot_path
    assert is_jpeg(tmp_path / "clips" / clip.thumbnail_path) == (320, 240)
    snap = tmp_path / "clips" / clip.snapshot_path
    assert is_jpeg(snap) == (640, 480) and snap.name == f"{event.event_id}-snapshot.jpg"
    # the snapshot has the skeleton drawn: yellow bones where the raw frame has none
    image = cv2.imread(str(snap))
    yellow = (image[:, :, 0] < 80) & (image[:, :, 1] > 200) & (image[:, :, 2] > 200)
    assert yellow[150:420, 280:340].sum() > 200
    assert rec.stats()["cam"].frames_dropped == 0
    print(f"push p95 {1000 * sorted(push_times)[int(0.95 * len(push_times))]:.1f} ms")


@pytest.mark.parametrize(("max_length", "expected"), [(120.0, 19.0), (16.0, 16.0)])
def test_a_second_event_extends_the_open_clip(
    tmp_path: Path, max_length: float, expected: float
) -> None:
    store = Store(tmp_path / "g.db")
    _, (first, second), _ = run_corpus(
        tmp_path, store, (8.0, 12.0), pre=5, post=10, max_length=max_length
    )
    a, b = store.clip_log.for_event(first.event_id), store.clip_log.for_event(second.event_id)
    assert a is not None and b is not None
    assert a.status == b.status == "written"
    assert a.path == b.path == f"{clip_stem('cam', first.event_id, first.started_at, TZ)}.mp4"
    assert b.snapshot_path and b.snapshot_path.endswith(f"{second.event_id}-snapshot.jpg")
    assert len(list((tmp_path / "clips").rglob("*.mp4"))) == 1
    info = probe(tmp_path / "clips" / a.path)
    # from 5 s before the first event to 10 s after the second (or the cap)
    assert float(info["duration"]) == pytest.approx(expected, abs=1.5 / FPS)
    assert a.duration == pytest.approx(expected, abs=1.5 / FPS)


# --------------------------------------------------------------------------- writer


def test_a_stalled_writer_never_blocks_the_camera(tmp_path: Path) -> None:
    stalled = tmp_path / "ffmpeg-stalled"
    stalled.write_text("#!/bin/sh\nexec sleep 60\n")  # never reads its input
    stalled.chmod(0o755)
    store = Store(tmp_path / "g.db")
    rec = ClipRecorder(
        ClipsConfig(queue=20, post=60, max_length=120),
        store,
        tmp_path / "clips",
        timezone=TZ,
        cameras={"cam": FPS},
        ffmpeg=str(stalled),
    )
    rec.start()
    cam = rec.camera("cam")
    assert cam is not None
    frames = list(synthetic("cam", 400, T0))
    for frame in frames[:50]:
        cam.push(frame)
    fire(rec, store, event_at("slow", frames[49]))
    worst = 0.0
    for frame in frames[50:]:
        t = time.perf_counter()
        cam.push(frame)
        worst = max(worst, time.perf_counter() - t)
    stats = rec.stats()["cam"]
    assert stats.frames_dropped > 300  # the pipe and the queue filled up; the rest dropped
    assert worst < 0.25, f"a push waited {worst:.3f} s"
    job = cam.writer._job
    assert job is not None and job.proc is not None
    job.proc.kill()  # the stalled encoder dies: its clip is skipped, with the reason
    rec.close(timeout=20)
    clip = store.clip_log.for_event("slow")
    assert clip is not None and clip.status == "skipped" and "failed" in clip.reason


# --------------------------------------------------------------------------- restart

_CHILD = """
import sys, time, threading
import numpy as np
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_clips import synthetic, event_at, fire, recorder
from guardian.store import Store
tmp = Path({tmp!r})
store = Store(tmp / "g.db")
rec = recorder(tmp, store, post=60, max_length=120)
cam = rec.camera("cam")
frames = synthetic("cam", 100, {t0!r})
for i, frame in enumerate(frames):
    cam.push(frame)
    if i == 29:
        fire(rec, store, event_at("crash", frame))
# a request whose frames the restart will lose
from guardian.effects import ClipRequest, Effects
effects = Effects()
effects.record_clip(ClipRequest("lost", "pool", {t0!r}, {t0!r} + 10))
store.commit([event_at("lost", frame)], [], effects)
print("ready", flush=True)
time.sleep(600)
"""


def encoders_writing(path: Path) -> list[int]:
    """Pids of the processes whose command line names ``path`` (the ffmpeg writing it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if os.fsencode(path) in argv:
                pids.append(int(entry.name))
    return pids


@pytest.mark.parametrize("encoder", ["outlives", "killed"])
def test_a_clip_cut_short_by_a_crash_is_recovered_at_start_up(tmp_path: Path, encoder: str) -> None:
    """kill -9 of Guardian's process group: ffmpeg, in its own session, outlives it and
    closes the .part at the end of its input; killed too (power cut, OOM) the fragments it
    wrote are still recovered."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(tests=str(Path(__file__).parent), tmp=str(tmp_path), t0=T0)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal or systemd gives
    )  # fmt: skip
    part = tmp_path / "clips" / f"{clip_stem('cam', 'crash', T0 + 2.9, TZ)}.mp4.part"
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while fragments(part) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the file ffmpeg writes (no other signal to wait on)
        assert fragments(part) >= 3  # at least 3 s of video on disk
        ffmpeg = encoders_writing(part)
        assert len(ffmpeg) == 1 and os.getpgid(ffmpeg[0]) != child.pid  # a session of its own
    finally:
        os.killpg(child.pid, signal.SIGKILL)  # kill -9 of the whole group
        child.wait()
    if encoder == "killed":
        for pid in ffmpeg:
            os.kill(pid, signal.SIGKILL)
    store = Store(tmp_path / "g.db")
    before = store.clip_log.for_event("crash")
    assert before is not None and before.status == "recording"
    report = recorder(tmp_path, store).recover()
    clip = store.clip_log.for_event("crash")
    assert clip is not None and (clip.status, clip.reason) == ("written", CUT_SHORT)
    assert report.recovered == (clip.path,)
    mp4 = tmp_path / "clips" / clip.path
    assert not part.exists() and mp4.is_file()
    info = probe(mp4)
    assert info["codec_name"] == "h264" and float(info["duration"]) >= 2.0
    atoms = top_atoms(mp4)
    assert atoms.index("moov") < atoms.index("mdat")
    assert clip.duration == pytest.approx(float(info["duration"]), abs=0.2)
    lost = store.clip_log.for_event("lost")
    assert lost is not None and (lost.status, lost.reason) == ("skipped", FRAMES_LOST)


def test_an_encoder_killed_under_a_running_camera_keeps_what_it_wrote(tmp_path: Path) -> None:
    """A stop signal sent to every process of the service (systemd's default KillMode)
    reaches ffmpeg too: the fragments it wrote are kept as the clip, "cut short"."""
    store = Store(tmp_path / "g.db")
    rec = recorder(tmp_path, store, post=60, max_length=120)
    cam = rec.camera("cam")
    assert cam is not None
    frames = list(synthetic("cam", 150, T0))
    for frame in frames[:30]:
        cam.push(frame)
    event = event_at("stopped", frames[29])
    fire(rec, store, event)
    part = tmp_path / "clips" / f"{clip_stem('cam', 'stopped', event.started_at, TZ)}.mp4.part"
    pushed = 30
    deadline = time.monotonic() + 30
    while fragments(part) < 3 and time.monotonic() < deadline:
        if pushed < 100:
            cam.push(frames[pushed])
            pushed += 1
        time.sleep(0.02)
    assert fragments(part) >= 3
    (ffmpeg,) = encoders_writing(part)
    os.kill(ffmpeg, signal.SIGTERM)
    for frame in frames[pushed:]:
        cam.push(frame)
    assert rec.wait_idle(30)
    rec.close()
    clip = store.clip_log.for_event("stopped")
    assert clip is not None and clip.status == "written", clip
    assert clip.reason.startswith("cut short: ")
    mp4 = tmp_path / "clips" / clip.path
    assert mp4.is_file() and not part.exists()
    info = probe(mp4)
    assert info["codec_name"] == "h264" and float(info["duration"]) >= 2.0
    assert int(info["nb_read_frames"]) == clip.frames
    assert clip.duration == pytest.approx(float(info["duration"]), abs=0.2)


# --------------------------------------------------------------------------- full disk


def _world(tmp_path: Path, **clips: object) -> tuple[Dispatcher, Store, ClipRecorder]:
    store = Store(tmp_path / "g.db")
    text = (
        "rules:\n  - id: entry\n    severity: critical\n"
        "    triggers: [{kind: zone_enter, zones: water}]\n"
        "    actions: [{kind: alert, channels: [console, log]}]\n"
    )
    engine = RuleEngine(rules_from(tmp_path, text).rules, RuleContext(contacts=("owner",)))
    outbox = Outbox(store, [ConsoleNotifier(io.StringIO()), LogNotifier()])
    rec = recorder(tmp_path, store, **clips)
    dispatcher = Dispatcher(
        engine, store, outbox, ModeManager(store, clock=lambda: T0), out=io.StringIO(), clips=rec
    )
    return dispatcher, store, rec


def _walk_in(d: Dispatcher, rec: ClipRecorder, frames: int = 120) -> Event:
    """Frames on camera 'pool' while someone walks into the water at frame 40."""
    sim = Sim()
    cam = rec.camera("pool")
    assert cam is not None
    events: list[Event] = []
    for i in range(frames):
        obs = sim.step({1: P(300, 300) if i >= 40 else P(30, 470)})
        image = np.full((480, 640, 3), 90, np.uint8)
        cam.push(Frame("pool", obs.frame_index, obs.timestamp, obs.pts, image))
        events += d.handle(obs)
    (event,) = events
    return event


def test_every_event_gets_a_clip_with_the_default_times(tmp_path: Path) -> None:
    d, store, rec = _world(tmp_path, pre=2, post=3)
    event = _walk_in(d, rec)
    assert rec.wait_idle(30)
    rec.close()
    clip = store.clip_log.for_event(event.event_id)
    assert clip is not None and clip.status == "written", clip
    assert clip.duration == pytest.approx(5.0, abs=1.5 / FPS)


def test_a_full_disk_skips_the_clip_but_not_the_event_or_its_alerts(tmp_path: Path) -> None:
    d, store, rec = _world(tmp_path, min_free="1000TB")
    event = _walk_in(d, rec)
    assert rec.wait_idle(30)
    rec.close()
    assert store.event_log.get(event.event_id) is not None
    assert {x.status for x in store.outbox.find()} == {"sent"} and len(store.outbox.find()) == 2
    clip = store.clip_log.for_event(event.event_id)
    assert clip is not None and clip.status == "skipped"
    assert "disk nearly full" in clip.reason and "below clips.min_free 1000.0 TB" in clip.reason
    assert not list((tmp_path / "clips").rglob("*.mp4*"))


def test_enospc_while_writing_skips_the_clip_with_the_reason(tmp_path: Path) -> None:
    """The clip's .part is a symlink to /dev/full: every write fails with ENOSPC."""
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full is not available on this system")
    store = Store(tmp_path / "g.db")
    rec = recorder(tmp_path, store)
    cam = rec.camera("cam")
    assert cam is not None
    frames = list(synthetic("cam", 200, T0))
    event = event_at("full", frames[60])
    part = tmp_path / "clips" / f"{clip_stem('cam', 'full', event.started_at, TZ)}.mp4.part"
    part.parent.mkdir(parents=True)
    part.symlink_to("/dev/full")
    for frame in frames[:61]:
        cam.push(frame)
    fire(rec, store, event)
    for frame in frames[61:]:
        cam.push(frame)
    assert rec.wait_idle(30)
    rec.close()
    clip = store.clip_log.for_event("full")
    assert clip is not None and clip.status == "skipped", clip
    assert "No space left on device" in clip.reason
    assert store.event_log.get("full") is not None


# --------------------------------------------------------------------------- paths


def test_a_stored_path_never_leaves_the_clips_folder(tmp_path: Path) -> None:
    root = tmp_path / "clips"
    (root / "cam").mkdir(parents=True)
    (tmp_path / "secret").write_text("x")
    (root / "cam" / "link").symlink_to(tmp_path / "secret")
    assert (
        resolve_clip_path(root, "cam/2026-01-01/a.mp4") == root.resolve() / "cam/2026-01-01/a.mp4"
    )
    for bad in ("../secret", "/etc/passwd", "cam/../../secret", "cam/link", "", "a\\..\\..\\x"):
        with pytest.raises(UnsafeClipPath):
            resolve_clip_path(root, bad)
    assert clip_stem("../x", "ev/../1", T0, TZ) == "x/2027-01-15/ev_1"


def test_no_clips_request_for_a_camera_without_a_buffer(tmp_path: Path) -> None:
    store = Store(tmp_path / "g.db")
    rec = recorder(tmp_path, store)
    effects = Effects()
    effects.record_clip(ClipRequest("e1", "gate", T0, T0 + 5))
    frame = next(synthetic("gate", 1, T0))
    store.commit([event_at("e1", frame)], [], effects)
    rec.submit(effects.clips, [])
    rec.close()
    clip = store.clip_log.for_event("e1")
    assert clip is not None and clip.status == "skipped" and "keeps no frames" in clip.reason


# --------------------------------------------------------------------------- end to end

REPO = Path(__file__).resolve().parent.parent


def test_guardian_run_writes_a_clip_for_every_event(tmp_path: Path) -> None:
    """The real pipeline (pose model at 320, 5 fps) on UP-Fall: each event's clip is written
    while the camera runs, and `guardian clips` lists them."""
    video = require_corpus(*UPFALL)
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
        f"cameras:\n  - id: lab\n    source: {video}\n    fps: 5\n    imgsz: 320\n"
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
        assert events, done.stdout
        clips = [store.clip_log.for_event(e.event_id) for e in events]
    assert all(c is not None and c.status == "written" for c in clips), clips
    for clip in clips:
        assert clip is not None
        info = probe(tmp_path / "clips" / clip.path)
        assert info["codec_name"] == "h264" and float(info["duration"]) >= 2.0
    listing = subprocess.run(
        [sys.executable, "-m", "guardian", "clips", "--config", str(site)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert (
        listing.returncode == 0
        and f"{len(events)} clip(s), {len(events)} written" in listing.stdout
    )


# --------------------------------------------------------------------------- a normal stop


@pytest.mark.corpus
@pytest.mark.model
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_stop_of_the_whole_process_group_keeps_the_open_clip(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """Ctrl-C in a terminal and `systemctl stop` / `timeout` signal Guardian's whole process
    group: the clip being recorded ends with the frames it has, as an MP4 with its row."""
    video = require_corpus(*UPFALL)
    (tmp_path / "zones.yaml").write_text(
        "zones:\n  - name: room\n    camera: lab\n    kind: room\n"
        "    polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]\n"
    )
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - id: someone_in\n    triggers: [{kind: zone_enter, zones: room}]\n"
        "    actions:\n      - {kind: alert, channels: [console]}\n"
        "      - {kind: record_clip, pre: 1s, post: 300s}\n"  # open until the stop
    )
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: lab\n    source: {video}\n    fps: 5\n    imgsz: 320\n"
        "    loop: true\n"  # never ends by itself: only the signal stops it
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: events.db\n  models: {REPO / 'models'}\n"
        "clips:\n  max_length: 600s\n  min_free: 0\n"
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "guardian", "run", "--quiet", "--config", str(site)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # a process group of its own, as a terminal or systemd gives
    )
    try:
        deadline = time.monotonic() + 300
        parts: list[Path] = []
        while time.monotonic() < deadline and child.poll() is None:
            parts = list((tmp_path / "clips").rglob("*.mp4.part"))
            if parts and fragments(parts[0]) >= 3:
                break
            time.sleep(0.1)  # polling the file ffmpeg writes (no other signal to wait on)
        assert child.poll() is None, child.communicate()[1][-3000:]
        assert parts and fragments(parts[0]) >= 3, "no clip was being recorded"
        os.killpg(child.pid, stop)  # the whole group, as Ctrl-C / systemctl stop do
        _, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
    assert child.returncode == 0, stderr[-3000:]
    with Store(tmp_path / "events.db") as store:
        events = store.event_log.find()
        assert events, stderr[-3000:]
        clip = store.clip_log.for_event(events[0].event_id)
    assert clip is not None and clip.status == "written", (clip, stderr[-3000:])
    mp4 = tmp_path / "clips" / clip.path
    assert mp4.is_file() and not list((tmp_path / "clips").rglob("*.part"))
    info = probe(mp4)
    assert info["codec_name"] == "h264" and float(info["duration"]) >= 2.0
    assert clip.duration == pytest.approx(float(info["duration"]), abs=0.3)
    assert int(info["nb_read_frames"]) == clip.frames
