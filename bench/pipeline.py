"""More cameras per core (issue 17): the aims, side by side in one run.

A realistic 16-camera mix built from real corpus footage (:data:`MIX`, described camera by
camera in the report): 4 busy cameras (people walking, sitting, falling) and 12 quiet ones
(empty rooms, water with nobody in it). Parts (``--parts``, default all):

* ``live``: every camera served as a real MJPEG stream on 127.0.0.1 (a separate process,
  ``SERVE_FPS`` frames a second: a sub-stream), a site file of 16 cameras at 5 processed
  fps, the real ``build_runner(...).run()`` for ``--seconds``, motion gating on (the
  default) and off (inference on every frame). Per camera: processed fps, frames dropped,
  gate counts; CPU per processed frame; frame → rules done for every observation and frame
  → alert request (the outbox row's commit) for every alert.
* ``throughput``: the same frames pre-encoded (``--throughput-seconds`` per camera at 5
  fps, decoded in the loop), as fast as they go: the naive ultralytics loop
  (``YOLO(.pt).predict`` on every frame), Guardian with motion off, with motion on (and
  INT8 when the detector offers it). Frames/s, and frames/s per core actually used; the
  cost per stage of each Guardian variant.
* ``scaling``: Guardian (motion on) on the first 1, 2, 4, 8, 16 cameras of the mix.
* ``falls``: the 22 UP-Fall clips at 9 fps through :class:`CameraPipeline` with the gate
  (real frames for the motion check, the model's cached detections) and without it.
* ``pool``: ``bench/pool.py``'s pipeline part (the real ``guardian run`` on the six pool
  videos) with motion on (water zone ``motion: shimmer``) and off.

Timing parts need a quiet machine: run them alone. Inputs are built once into
``~/.cache/guardian/bench-pipeline/`` (corpus images never enter the project).

    .venv/bin/python bench/pipeline.py [--parts live,throughput,scaling,falls,pool]
    .venv/bin/python bench/pipeline.py --show bench/results/pipeline.json

Each run keeps the sections it did not run from ``--out`` (default
bench/results/pipeline.json) and replaces the others.
"""

from __future__ import annotations

import argparse
import gc
import http.server
import inspect
import io
import json
import multiprocessing
import pickle
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2
import numpy as np
import numpy.typing as npt
from benchkit import FallLog, corpus, score_clip, table, write_report

from guardian.app import build_runner, load_site_and_rules
from guardian.app.parts import SiteCameras, SiteDetectors
from guardian.config.motion import MotionConfig
from guardian.detection import PoseDetector, prepare_environment, shipped_model_path
from guardian.fall.data import clip_detections, fall_clips
from guardian.motion import InferenceGate, MotionDetector
from guardian.pipeline import CameraParts, CameraPipeline, Runner
from guardian.records import Detection, Frame, Observation
from guardian.rules import RuleEngine
from guardian.store import Store
from guardian.tracking import Tracker

CACHE = Path.home() / ".cache" / "guardian" / "bench-pipeline"
MODELS = REPO / "models"
#: frames a second each live camera sends (a sub-stream), and Guardian processes
SERVE_FPS = 10.0
PROCESS_FPS = 5
#: grey levels (standard deviation) of the sensor noise added to still pictures
NOISE_SIGMA = 2.0
JPEG_QUALITY = 90
PARTS = ("live", "throughput", "scaling", "falls", "pool")
#: file timestamps of the fall clips: an arbitrary epoch plus the position in the clip
EPOCH = 1_700_000_000.0

Image = npt.NDArray[Any]


# --------------------------------------------------------------------------- the mix


@dataclass(frozen=True)
class Feed:
    """One camera of the mix: what it shows, and its frames as JPEGs at SERVE_FPS
    (played in a loop)."""

    camera: str
    role: str  # busy | room | water
    shows: str
    jpegs: tuple[bytes, ...]
    width: int
    height: int


#: what each of the 16 cameras shows, in the mix's order (one busy camera in every four,
#: so the first k cameras keep the busy:quiet ratio); role:source[:noise seed]
MIX = (
    "busy:upfall-a06-cam1",
    "room:upfall-empty-still:1",
    "water:lane-start",
    "room:upfall-empty-real",
    "busy:upfall-a06-cam2",
    "water:lane-end",
    "room:porch-still:2",
    "water:backyard-corner",
    "busy:upfall-a01-cam1",
    "room:upfall-empty-still:3",
    "water:lane-start-flipped",
    "room:porch-still:4",
    "busy:gmdcsa-s3-adl18",
    "water:lane-end-flipped",
    "room:upfall-empty-real-later",
    "water:backyard-corner-flipped",
)


def read_video(path: Path, start: int = 0, stop: int | None = None) -> tuple[list[Image], float]:
    """Frames ``start``..``stop`` (exclusive) of a video, and its frame rate."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames: list[Image] = []
    index = 0
    while stop is None or index < stop:
        ok, image = cap.read()
        if not ok:
            break
        if index >= start:
            frames.append(image)
        index += 1
    cap.release()
    return frames, fps


def resample(frames: Sequence[Image], fps: float, to: float = SERVE_FPS) -> list[Image]:
    """``frames`` at ``fps`` → ``to`` frames a second (the nearest frame in time)."""
    n = max(1, int(len(frames) / fps * to))
    return [frames[min(len(frames) - 1, round(i * fps / to))] for i in range(n)]


def pingpong(frames: Sequence[Image]) -> list[Image]:
    """Forward then back: a loop of a short stretch without a jump cut."""
    return [*frames, *frames[-2:0:-1]]


def noisy(image: Image, count: int, seed: int, sigma: float = NOISE_SIGMA) -> list[Image]:
    """``count`` copies of a still picture, each with a fresh draw of sensor noise."""
    rng = np.random.default_rng(seed)
    base = image.astype(np.float32)
    return [
        np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
        for _ in range(count)
    ]


def _feed(camera: str, role: str, shows: str, frames: list[Image], shift: int = 0) -> Feed:
    shift %= len(frames)
    frames = frames[shift:] + frames[:shift]
    jpegs = tuple(
        cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()
        for f in frames
    )
    h, w = frames[0].shape[:2]
    return Feed(camera, role, shows, jpegs, w, h)


def _sources(root: Path) -> dict[str, tuple[str, list[Image]]]:
    """Each source of the mix: what it shows, its frames at SERVE_FPS."""
    up = root / "fall" / "upfall"
    a06, fps18 = read_video(up / "UPFall_S1_A06_T1_Cam1.mp4")
    lane, fps25 = read_video(root / "pool" / "videos" / "overhead_lane_backstroke.mp4")
    yard, fps24 = read_video(root / "pool" / "videos" / "backyard_child_goes_under.mp4")
    # the backyard pool's far right corner: water and coping, the child never there
    corner = [cv2.resize(f[90:270, 400:640], (320, 240)) for f in yard]
    porch_image = cv2.imread(str(root / "fall" / "ambianic_test_frames" / "background.jpg"))
    if porch_image is None:
        sys.exit("the corpus lacks fall/ambianic_test_frames/background.jpg")
    porch = cv2.resize(porch_image, (640, 360))
    still = (
        f"a still with sensor noise (sigma {NOISE_SIGMA:g} grey levels, a fresh draw per "
        "frame, 40 frames looped)"
    )
    return {
        "upfall-a06-cam1": (
            "UP-Fall A06 Cam1: a person walks across a room, in and out of view (the whole "
            "45 s clip in a loop)",
            resample(a06, fps18),
        ),
        "upfall-a06-cam2": (
            "UP-Fall A06 Cam2: the same walk seen frontally, a second person seated (45 s, "
            "in a loop)",
            resample(read_video(up / "UPFall_S1_A06_T1_Cam2.mp4")[0], fps18),
        ),
        "upfall-a01-cam1": (
            "UP-Fall A01 Cam1: a person falls forward on their hands and lies (8 s, in a loop)",
            resample(read_video(up / "UPFall_S1_A01_T1_Cam1.mp4")[0], fps18),
        ),
        "gmdcsa-s3-adl18": (
            "GMDCSA-24 S3_ADL_18: a man walks into a bedroom and sits on the bed (11 s, in a loop)",
            resample(*read_video(root / "fall" / "gmdcsa24" / "S3_ADL_18.mp4")),
        ),
        "upfall-empty-still": (f"UP-Fall A06 Cam1 frame 36, the empty room: {still}", [a06[36]]),
        "upfall-empty-real": (
            "UP-Fall A06 Cam1 frames 444-458: real footage of the empty room (its own sensor "
            "noise), played forward and back",
            pingpong(resample(a06[444:459], fps18)),
        ),
        "porch-still": (
            f"an outdoor porch camera's empty view (ambianic background.jpg at 640x360): {still}",
            [porch],
        ),
        "lane-start": (
            "overhead_lane_backstroke frames 0-54: a lane pool from above, water only (before "
            "the swimmer enters at 2.2 s), played forward and back",
            pingpong(resample(lane[:55], fps25)),
        ),
        "lane-end": (
            "overhead_lane_backstroke frames 320-374: the same lane after the swimmer left "
            "(12.4 s), played forward and back",
            pingpong(resample(lane[320:375], fps25)),
        ),
        "backyard-corner": (
            "backyard_child_goes_under cropped to x 400-640, y 90-270 (the far corner of the "
            "water and its coping; the child stays out of it) at 320x240, played forward and "
            "back",
            pingpong(resample(corner, fps24)),
        ),
    }


def build_mix(root: Path) -> list[Feed]:
    """The 16 cameras of :data:`MIX` (built once into CACHE)."""
    target = CACHE / "mix-v1.pkl"
    if target.is_file():
        feeds: list[Feed] = pickle.loads(target.read_bytes())
        return feeds
    sources = _sources(root)
    feeds = []
    for i, spec in enumerate(MIX):
        role, name, *seed = spec.split(":")
        base = name.removesuffix("-flipped").removesuffix("-later")
        shows, frames = sources[base]
        if seed:
            frames = noisy(frames[0], 40, int(seed[0]))
            shows += f" (noise seed {seed[0]})"
        if name.endswith("-flipped"):
            frames = [cv2.flip(f, 1) for f in frames]
            shows += "; mirrored left-right, started half-way"
        if name.endswith("-later"):
            shows += "; started half-way"
        shift = len(frames) // 2 if name != base else 0
        feeds.append(_feed(f"cam{i + 1:02d}", role, shows, frames, shift))
    CACHE.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pickle.dumps(feeds))
    return feeds


# --------------------------------------------------------------------------- site files


def write_site(
    folder: Path,
    feeds: Sequence[Feed],
    sources: Sequence[str],
    *,
    motion: bool,
    precision: str = "fp32",
    water_motion: str = "shimmer",
) -> Path:
    """A site of these cameras at PROCESS_FPS: a floor zone (rooms) or a water zone marked
    ``motion: <water_motion>`` on each, and a rule per camera that requests an alert on entry."""
    zones, rules, cameras = ["zones:"], ["rules:"], ["cameras:"]
    for feed, source in zip(feeds, sources, strict=True):
        cam = feed.camera
        cameras += [f"  - id: {cam}", f"    source: {source}", f"    fps: {PROCESS_FPS}"]
        if not motion:
            cameras.append("    motion: {enabled: false}")
        if feed.role == "water":
            zone = f"water_{cam}"
            zones += [f"  - name: {zone}", f"    camera: {cam}", "    kind: water"]
            zones += [
                f"    motion: {water_motion}",
                "    polygon: [[0, 0], [1, 0], [1, 1], [0, 1]]",
            ]
        else:
            zone = f"floor_{cam}"
            zones += [f"  - name: {zone}", f"    camera: {cam}", "    kind: room"]
            zones += ["    polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]"]
        rules += [
            f"  - id: enter_{cam}",
            "    severity: warning",
            f"    triggers: [{{kind: zone_enter, zones: {zone}}}]",
            "    actions: [{kind: alert, channels: [log]}]",
        ]
    (folder / "zones.yaml").write_text("\n".join(zones) + "\n")
    (folder / "rules.yaml").write_text("\n".join(rules) + "\n")
    site = folder / "site.yaml"
    site.write_text(
        "\n".join(cameras)
        + "\nzones: [zones.yaml]\nrules: [rules.yaml]\n"
        + f"storage:\n  database: guardian.db\n  models: {MODELS}\n"
        + (f"detection:\n  precision: {precision}\n" if precision != "fp32" else "")
    )
    return site


# --------------------------------------------------------------------------- live cameras


def _serve(feeds: list[Feed], fps: float, ports: Any, stop: Any, cpu: Any) -> None:
    """The camera process: one MJPEG server per feed, each connection served its frames
    in a loop at ``fps``; on ``stop``, its CPU seconds go to ``cpu``."""
    servers = []
    for feed in feeds:

        class Handler(http.server.BaseHTTPRequestHandler):
            jpegs = feed.jpegs

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                start = time.monotonic()
                i = 0
                try:
                    while True:
                        jpeg = self.jpegs[i % len(self.jpegs)]
                        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}"
                        self.wfile.write(head.encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        self.wfile.flush()
                        i += 1
                        time.sleep(max(0.0, start + i / fps - time.monotonic()))
                except OSError:
                    return

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    ports.put([s.server_address[1] for s in servers])
    stop.wait()
    cpu.put(time.process_time())


class CameraProcess:
    """The mix's cameras as live MJPEG streams, served by a process of their own (so
    their CPU is not counted as Guardian's)."""

    def __init__(self, feeds: list[Feed], fps: float) -> None:
        ctx = multiprocessing.get_context("fork")
        self._ports: Any = ctx.Queue()
        self._cpu: Any = ctx.Queue()
        self._stop = ctx.Event()
        self.process = ctx.Process(
            target=_serve, args=(feeds, fps, self._ports, self._stop, self._cpu), daemon=True
        )
        self.process.start()
        self.urls = [f"http://127.0.0.1:{p}/stream.mjpg" for p in self._ports.get(timeout=60)]

    def close(self) -> float:
        """Stop serving; the process's CPU seconds."""
        self._stop.set()
        cpu = float(self._cpu.get(timeout=30))
        self.process.join(10)
        return cpu


# --------------------------------------------------------------------------- statistics


def machine_busy() -> float:
    """CPU seconds the whole machine has been busy (every process), from /proc/stat:
    a run's figures are honest only when the others took next to nothing meanwhile."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / 100.0  # USER_HZ


def others_cores(busy: float, own: float, wall: float) -> float:
    """Cores the other processes of the machine used over ``wall`` seconds."""
    return round(max(0.0, busy - own) / wall, 2)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of ``values`` by nearest rank; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(np.ceil(q * len(ordered))))
    return ordered[rank - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(1000 * seconds, 1)


def latency(values: Sequence[float]) -> dict[str, Any]:
    """Samples, p50, p95 and max in ms."""
    return {
        "samples": len(values),
        "p50_ms": _ms(percentile(values, 0.5)),
        "p95_ms": _ms(percentile(values, 0.95)),
        "max_ms": _ms(max(values) if values else None),
    }


def stage_table(samples: Sequence[dict[str, list[float]]], frames: int) -> dict[str, Any]:
    """Mean ms per stage: per frame that ran it, and per processed frame (``frames``)."""
    merged: dict[str, list[float]] = {}
    for per_camera in samples:
        for stage, values in per_camera.items():
            merged.setdefault(stage, []).extend(values)
    return {
        stage: {
            "frames": len(values),
            "ms_when_run": round(1000 * sum(values) / len(values), 2),
            "ms_per_frame": round(1000 * sum(values) / max(1, frames), 2),
        }
        for stage, values in merged.items()
        if values
    }


# --------------------------------------------------------------------------- part: live


@dataclass
class _Watch:
    """What the live run records on the rule thread."""

    #: (frame time, rules done) of every observation
    handled: list[tuple[float, float]]
    #: event id → the time of the frame whose observation raised it
    frame_of_event: dict[str, float]


def _watch(runner: Runner) -> _Watch:
    """Time every observation the rule thread handles (frame time → rules done)."""
    watch = _Watch([], {})
    handle = runner.handle

    def timed(obs: Observation) -> None:
        before = len(runner.events)
        handle(obs)
        watch.handled.append((obs.timestamp, time.time()))
        for event in runner.events[before:]:
            watch.frame_of_event[event.event_id] = obs.timestamp

    runner.handle = timed  # type: ignore[method-assign]
    return watch


def _snapshot(runner: Runner) -> dict[str, dict[str, Any]]:
    """Each camera's counters now: processed, dropped, gate counts, stage samples."""
    out = {}
    for w in runner.workers:
        pipeline = getattr(w, "pipeline", None)
        dropped = getattr(w.status, "dropped", None)
        if dropped is None:
            dropped = getattr(getattr(w, "_source", None), "dropped", None)
        gate = pipeline.gate if pipeline is not None else None
        out[w.status.camera] = {
            "processed": w.status.processed,
            "dropped": dropped,
            "gate": dict(gate.counts) if gate is not None else {},
            "samples": {k: len(v) for k, v in pipeline.times.samples.items()} if pipeline else {},
        }
    return out


def live_run(
    feeds: list[Feed],
    urls: list[str],
    *,
    motion: bool,
    seconds: float,
    precision: str = "fp32",
    water_motion: str = "shimmer",
) -> dict[str, Any]:
    """The real runner on the live streams for ``seconds``, counted from the moment every
    camera has processed a frame (the models are loaded)."""
    with tempfile.TemporaryDirectory() as tmp:
        site = write_site(
            Path(tmp), feeds, urls, motion=motion, precision=precision, water_motion=water_motion
        )
        bundle, rules = load_site_and_rules(site)
        with Store(bundle.database_path) as store:
            runner = build_runner(bundle, rules, store, out=io.StringIO())
            watch = _watch(runner)
            thread = threading.Thread(target=runner.run, name="runner")
            t_load = time.perf_counter()
            thread.start()
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline and (
                len(runner.workers) < len(feeds)
                or any(w.status.processed == 0 for w in runner.workers)
            ):
                time.sleep(0.2)
            load_s = time.perf_counter() - t_load
            start, n_handled, wall_start = _snapshot(runner), len(watch.handled), time.time()
            t0, cpu0, busy0 = time.perf_counter(), time.process_time(), machine_busy()
            time.sleep(seconds)
            end = _snapshot(runner)
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            busy = machine_busy() - busy0
            window = watch.handled[n_handled:]
            samples = [
                {
                    k: v[
                        start[w.status.camera]["samples"].get(k, 0) : end[w.status.camera][
                            "samples"
                        ].get(k, 0)
                    ]
                    for k, v in w.pipeline.times.samples.items()  # type: ignore[attr-defined]
                }
                for w in runner.workers
            ]
            runner.stop.set()
            thread.join(60)
            events = {e.event_id: e for e in runner.events}
            deliveries = [
                d
                for d in store.outbox.find()
                if d.event_id in watch.frame_of_event and d.created_at >= wall_start
            ]
    per_camera = []
    for feed in feeds:
        a, b = start[feed.camera], end[feed.camera]
        done = b["processed"] - a["processed"]
        dropped = None if b["dropped"] is None else b["dropped"] - (a["dropped"] or 0)
        gate = {k: v - a["gate"].get(k, 0) for k, v in b["gate"].items()}
        gate = {k: v for k, v in gate.items() if v}
        per_camera.append(
            {
                "camera": feed.camera,
                "role": feed.role,
                "fps": round(done / wall, 2),
                "processed": done,
                "dropped": dropped,
                "inferences": sum(v for k, v in gate.items() if k != "still") if gate else done,
                "gate": gate,
            }
        )
    processed = sum(c["processed"] for c in per_camera)
    slow = [c["camera"] for c in per_camera if c["fps"] < 0.95 * PROCESS_FPS]
    alert = [d.created_at - watch.frame_of_event[str(d.event_id)] for d in deliveries]
    from_started = [
        d.created_at - events[str(d.event_id)].started_at
        for d in deliveries
        if d.event_id in events
    ]
    return {
        "motion": motion,
        "precision": precision,
        "water_motion": water_motion,
        "seconds": round(wall, 1),
        "startup_s": round(load_s, 1),
        "cameras": len(feeds),
        "processed": processed,
        "fps_total": round(processed / wall, 1),
        "cpu_s": round(cpu, 1),
        # the camera process (about 0.05 core) is among the others
        "others_cores": others_cores(busy, cpu, wall),
        "cores_used": round(cpu / wall, 2),
        "cpu_ms_per_frame": round(1000 * cpu / max(1, processed), 1),
        "all_kept_5fps": not slow,
        "below_5fps": slow,
        "dropped_total": sum(c["dropped"] or 0 for c in per_camera),
        "dropped_known": all(c["dropped"] is not None for c in per_camera),
        "inferences_per_s": round(sum(c["inferences"] for c in per_camera) / wall, 1),
        "frame_to_rules": latency([done - frame for frame, done in window]),
        "frame_to_alert_request": {
            **latency(alert),
            "from_event_started_at_p95_ms": _ms(percentile(from_started, 0.95)),
        },
        "stages": stage_table(samples, processed),
        "per_camera": per_camera,
    }


def live_part(feeds: list[Feed], seconds: float) -> dict[str, Any]:
    cameras = CameraProcess(feeds, SERVE_FPS)
    try:
        runs = []
        # (motion, precision, water zones' motion, cameras): the issue's 16 cameras with
        # shimmer on the water, the same with water at 'watch' (what zones/pool.yaml
        # advises), without motion, with INT8, and the first 8 cameras of the mix
        variants = [
            (True, "fp32", "shimmer", 16),
            (True, "fp32", "watch", 16),
            (False, "fp32", "shimmer", 16),
            (True, "fp32", "shimmer", 8),
        ]
        if int8_available():
            variants.append((True, "int8", "shimmer", 16))
        for motion, precision, water, count in variants:
            print(
                f"… live, motion {motion}, {precision}, water {water}, {count} cameras",
                file=sys.stderr,
                flush=True,
            )
            runs.append(
                live_run(
                    feeds[:count],
                    cameras.urls[:count],
                    motion=motion,
                    seconds=seconds,
                    precision=precision,
                    water_motion=water,
                )
            )
            gc.collect()
    finally:
        server_cpu = cameras.close()
    return {
        "serve_fps": SERVE_FPS,
        "process_fps": PROCESS_FPS,
        "camera_process_cpu_s": round(server_cpu, 1),
        "runs": runs,
    }


# --------------------------------------------------------------------------- throughput


def frames_at(feed: Feed, count: int) -> list[bytes]:
    """``count`` JPEGs of the feed at PROCESS_FPS (every other frame of its loop)."""
    step = max(1, round(SERVE_FPS / PROCESS_FPS))
    return [feed.jpegs[(i * step) % len(feed.jpegs)] for i in range(count)]


def _decode(jpeg: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "a JPEG of the mix does not decode"
    return image


def _rate(name: str, frames: int, wall: float, cpu: float, busy: float) -> dict[str, Any]:
    cores = cpu / wall
    return {
        "others_cores": others_cores(busy, cpu, wall),
        "variant": name,
        "frames": frames,
        "seconds": round(wall, 1),
        "fps": round(frames / wall, 1),
        "cores_used": round(cores, 2),
        "fps_per_core": round(frames / wall / max(cores, 1e-9), 1),
        "cpu_ms_per_frame": round(1000 * cpu / frames, 1),
    }


def naive(feeds: list[Feed], count: int) -> dict[str, Any]:
    """The loop people write first: decode, then ``YOLO(.pt).predict`` on every frame of
    every camera in turn (torch uses its own threads)."""
    prepare_environment(MODELS / "ultralytics")
    from ultralytics import YOLO  # type: ignore[attr-defined]  # the baseline only; Guardian uses its adapter

    model = YOLO(str(shipped_model_path()), task="pose")
    jpegs = [frames_at(f, count) for f in feeds]
    model.predict(_decode(jpegs[0][0]), verbose=False)
    t0, cpu0, busy0 = time.perf_counter(), time.process_time(), machine_busy()
    for i in range(count):
        for cam in jpegs:
            model.predict(_decode(cam[i]), verbose=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    busy = machine_busy() - busy0
    del model
    gc.collect()
    out = _rate("naive YOLO(.pt).predict", count * len(feeds), wall, cpu, busy)
    out["cameras"] = len(feeds)
    return out


def guardian_fast(
    feeds: list[Feed], count: int, *, motion: bool, precision: str = "fp32"
) -> dict[str, Any]:
    """Guardian's camera pipelines (built as ``guardian run`` builds them: models, threads
    per camera, gate) and the rules, each camera on a thread, ``count`` frames each, as
    fast as they go."""
    urls = [f"http://127.0.0.1:9/{f.camera}" for f in feeds]  # never opened
    with tempfile.TemporaryDirectory() as tmp:
        site = write_site(Path(tmp), feeds, urls, motion=motion, precision=precision)
        bundle, rules = load_site_and_rules(site)
        built = SiteCameras(
            bundle,
            SiteDetectors(bundle),
            scene_zones=frozenset(),
            clips=None,
            identity=None,
            relook=True,
        ).build()
    cameras = [p for p in built if isinstance(p, CameraParts)]
    pipes = [p.pipeline for p in cameras]
    jpegs = [frames_at(f, count) for f in feeds]
    base = time.time()

    def play(parts: CameraParts, frames: list[bytes]) -> None:
        pipe, monitor = parts.pipeline, parts.monitor
        engine = RuleEngine(rules.rules)
        for i, jpeg in enumerate(frames):
            t = time.perf_counter()
            image = _decode(jpeg)
            pipe.times.add("decode", time.perf_counter() - t)
            frame = Frame(pipe.camera, i, base + i / PROCESS_FPS, i / PROCESS_FPS, image)
            if monitor is not None:  # the camera's health check, as its worker runs it
                t = time.perf_counter()
                monitor.check(frame)
                pipe.times.add("health", time.perf_counter() - t)
            obs = pipe.process(frame)
            t = time.perf_counter()
            engine.process(obs)
            pipe.times.add("rules", time.perf_counter() - t)

    threads = [
        threading.Thread(target=play, args=(p, j)) for p, j in zip(cameras, jpegs, strict=True)
    ]
    t0, cpu0, busy0 = time.perf_counter(), time.process_time(), machine_busy()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    busy = machine_busy() - busy0
    frames = count * len(pipes)
    name = f"guardian, motion {'on' if motion else 'off'}" + (
        f", {precision}" if precision != "fp32" else ""
    )
    out = _rate(name, frames, wall, cpu, busy)
    out["cameras"] = len(pipes)
    gates = [p.gate.counts for p in pipes if p.gate is not None]
    if gates:
        total: Counter[str] = Counter()
        for c in gates:
            total.update(c)
        out["gate"] = dict(total)
        out["inference_share"] = round(1 - total["still"] / max(1, total.total()), 3)
    out["stages"] = stage_table([dict(p.times.samples) for p in pipes], frames)
    del built, cameras, pipes
    gc.collect()
    return out


def int8_available() -> bool:
    """The detector offers INT8 models (``PoseDetector(precision=...)``) and the site's
    detectors are built with ``detection.precision``."""
    return "precision" in inspect.signature(PoseDetector).parameters and "precision" in (
        inspect.getsource(SiteDetectors)
    )


def throughput_part(feeds: list[Feed], seconds: float) -> dict[str, Any]:
    count = int(seconds * PROCESS_FPS)
    print("… throughput: the naive loop", file=sys.stderr, flush=True)
    rows = [naive(feeds, count)]
    for motion in (False, True):
        print(f"… throughput: guardian, motion {motion}", file=sys.stderr, flush=True)
        rows.append(guardian_fast(feeds, count, motion=motion))
    note = None
    if int8_available():
        print("… throughput: guardian, motion on, int8", file=sys.stderr, flush=True)
        try:
            rows.append(guardian_fast(feeds, count, motion=True, precision="int8"))
        except Exception as exc:  # an INT8 model that cannot be had: say so, go on
            note = f"INT8 left out: {type(exc).__name__}: {exc}"
    else:
        note = "INT8 left out: this checkout's detectors have no precision (not built yet)"
    naive_per_core = rows[0]["fps_per_core"]
    for r in rows:
        r["per_core_vs_naive"] = round(r["fps_per_core"] / naive_per_core, 2)
    return {"frames_per_camera": count, "cameras": len(feeds), "rows": rows, "note": note}


def scaling_part(feeds: list[Feed], seconds: float) -> dict[str, Any]:
    count = int(seconds * PROCESS_FPS)
    rows = []
    for k in (1, 2, 4, 8, 16):
        if k > len(feeds):
            break
        chosen = feeds[:k]  # the mix's order keeps one busy camera in four
        print(f"… scaling: {k} camera(s)", file=sys.stderr, flush=True)
        row = guardian_fast(chosen, count, motion=True)
        row["busy"] = sum(1 for f in chosen if f.role == "busy")
        rows.append(row)
    return {"frames_per_camera": count, "rows": rows}


# --------------------------------------------------------------------------- falls


def _fall_row(
    truth: Any, dets: Any, images: list[Image], gate: InferenceGate | None
) -> dict[str, Any]:
    """One clip at 9 fps through CameraPipeline (detections from the cache by index)."""
    by_index = {i: tuple(d) for i, _, d in dets.frames}
    ran: list[int] = []

    def detect(frame: Frame) -> tuple[Detection, ...]:
        ran.append(frame.index)
        return by_index.get(frame.index, ())

    pipe = CameraPipeline(truth.name, detect, [], Tracker(truth.name), gate=gate)
    log = FallLog()
    frames = 0
    for index, pts, _ in dets.frames:
        if index % 2 or index >= len(images):
            continue
        frames += 1
        obs = pipe.process(Frame(truth.name, index, EPOCH + pts, pts, images[index]))
        log.add(obs.postures, EPOCH + pts)
    _, score = score_clip(log, truth, EPOCH)
    return {
        "clip": truth.name,
        "is_fall": truth.is_fall,
        "detected": score.detected is not None,
        "false_falls": len(score.false),
        "delay_s": score.delay_s,
        "frames": frames,
        "inferences": len(ran),
    }


def falls_part(root: Path) -> dict[str, Any]:
    """The 22 UP-Fall clips at 9 fps through CameraPipeline, with the gate (which sees
    the real frames) and without; detections from the cache (bench/posture.py's)."""
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    for truth in [c for c in fall_clips(root) if c.source == "upfall"]:
        print(f"… falls: {truth.name}", file=sys.stderr, flush=True)
        dets = clip_detections(truth, root)
        images, _ = read_video(root / truth.path)
        results["off"].append(_fall_row(truth, dets, images, None))
        config = MotionConfig()
        gate = InferenceGate(truth.name, config, MotionDetector(config))
        results["on"].append(_fall_row(truth, dets, images, gate))
    summary = {}
    for mode, rows in results.items():
        falls = [r for r in rows if r["is_fall"]]
        summary[mode] = {
            "falls_detected": sum(r["detected"] for r in falls),
            "fall_clips": len(falls),
            "false_falls": sum(r["false_falls"] for r in rows),
            "false_falls_on_adl": sum(r["false_falls"] for r in rows if not r["is_fall"]),
            "inference_share": round(
                sum(r["inferences"] for r in rows) / max(1, sum(r["frames"] for r in rows)), 3
            ),
        }
    return {"fps": 9, "summary": summary, "clips": results}


#: the pool runs: motion off, on with the water zone marked shimmer (what a user would
#: write for water), on with the water zone left at watch
POOL_VARIANTS = ("off", "shimmer", "watch")


def pool_part(root: Path, variants: Sequence[str], old: dict[str, Any] | None) -> dict[str, Any]:
    """bench/pool.py's pipeline part (the real guardian run) in each of ``variants``;
    the other variants stay as they were in ``old``."""
    import pool  # bench/pool.py, next to this script

    runs = dict(old["runs"]) if old and "runs" in old else {}
    for variant in variants:
        print(f"… pool videos, motion {variant}", file=sys.stderr, flush=True)
        motion = "off" if variant == "off" else "on"
        runs[variant] = pool.pipeline_part(
            root, 10, 640, True, None, motion=motion, water_motion=variant
        )
    return {"fps": 10, "imgsz": 640, "runs": {v: runs[v] for v in POOL_VARIANTS if v in runs}}


# --------------------------------------------------------------------------- report


def _v(value: Any) -> Any:
    return "-" if value is None else value


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _show_live(live: dict[str, Any]) -> None:
    print(
        f"\nLive: {live['runs'][0]['cameras']} MJPEG cameras at {live['serve_fps']:g} fps, "
        f"processed at {live['process_fps']} fps (camera process CPU: "
        f"{live['camera_process_cpu_s']} s, not counted)"
    )
    rows: list[tuple[Any, ...]] = []
    for r in live["runs"]:
        a, f = r["frame_to_alert_request"], r["frame_to_rules"]
        rows.append(
            (
                _run_name(r),
                r["seconds"],
                r["fps_total"],
                min(c["fps"] for c in r["per_camera"]),
                "yes" if r["all_kept_5fps"] else f"no ({len(r['below_5fps'])})",
                r["dropped_total"] if r["dropped_known"] else "-",
                r["inferences_per_s"],
                r["cores_used"],
                _v(r.get("others_cores")),
                r["cpu_ms_per_frame"],
                f"{_v(f['p50_ms'])}/{_v(f['p95_ms'])}",
                a["samples"],
                f"{_v(a['p50_ms'])}/{_v(a['p95_ms'])}",
            )
        )
    head: tuple[str, ...] = (
        "run",
        "s",
        "fps sum",
        "min fps",
        "all 5 fps",
        "dropped",
        "infer/s",
        "cores",
        "others",
    )
    head += ("CPU ms/frame", "rules p50/p95 ms", "alerts", "alert p50/p95 ms")
    print(table(head, rows))
    for r in live["runs"]:
        print(f"\n  per camera, {_run_name(r)}")
        rows = [
            (
                c["camera"],
                c["role"],
                c["fps"],
                _v(c["dropped"]),
                c["inferences"],
                " ".join(f"{k}:{v}" for k, v in sorted(c["gate"].items())),
            )
            for c in r["per_camera"]
        ]
        print(table(("camera", "role", "fps", "dropped", "inferences", "gate"), rows))
        print("  (live, 'decode' is the wait for the next frame from the stream's reader)")
        _show_stages(r["stages"])


def _run_name(run: dict[str, Any]) -> str:
    name = "motion on" if run["motion"] else "motion off"
    name += ", int8" if run.get("precision", "fp32") != "fp32" else ""
    if run["motion"] and run.get("water_motion", "shimmer") != "shimmer":
        name += f", water {run['water_motion']}"
    return name + (f", {run['cameras']} cams" if run.get("cameras", 16) != 16 else "")


def _show_stages(stages: dict[str, Any]) -> None:
    rows: list[tuple[Any, ...]] = [
        (s, v["frames"], v["ms_when_run"], v["ms_per_frame"]) for s, v in stages.items()
    ]
    print(table(("stage", "frames", "ms when run", "ms per frame"), rows))


def _show_throughput(tp: dict[str, Any]) -> None:
    print(
        f"\nThe same frames as fast as they go ({tp['cameras']} cameras x "
        f"{tp['frames_per_camera']} frames)"
    )
    rows: list[tuple[Any, ...]] = [
        (
            r["variant"],
            r["fps"],
            r["cores_used"],
            _v(r.get("others_cores")),
            r["fps_per_core"],
            r["per_core_vs_naive"],
            r["cpu_ms_per_frame"],
            _v(r.get("inference_share")),
        )
        for r in tp["rows"]
    ]
    head: tuple[str, ...] = (
        "variant",
        "fps",
        "cores",
        "others",
        "fps/core",
        "x naive per core",
        "CPU ms/frame",
    )
    print(table((*head, "inference share"), rows))
    if tp.get("note"):
        print(f"  {tp['note']}")
    for r in tp["rows"][1:]:
        print(f"\n  cost per stage, {r['variant']}")
        _show_stages(r["stages"])


def show(report: dict[str, Any]) -> None:
    """The report as tables."""
    print(f"\nThe mix (still pictures carry sensor noise, sigma {report['noise_sigma']:g})")
    for m in report["mix"]:
        print(
            f"  {m['camera']}  {m['role']:5}  {m['size']:>7}  loop of {m['frames']:3d}: {m['shows']}"
        )
    if "live" in report:
        _show_live(report["live"])
    if "throughput" in report:
        _show_throughput(report["throughput"])
    if "scaling" in report:
        sc = report["scaling"]
        print(f"\nScaling, motion on ({sc['frames_per_camera']} frames per camera)")
        rows: list[tuple[Any, ...]] = [
            (
                r["cameras"],
                r["busy"],
                r["fps"],
                round(r["fps"] / r["cameras"], 1),
                r["cores_used"],
                _v(r.get("others_cores")),
                r["cpu_ms_per_frame"],
                _v(r.get("inference_share")),
                round(r["cameras"] * PROCESS_FPS * r["cpu_ms_per_frame"] / 1000, 2),
            )
            for r in sc["rows"]
        ]
        head: tuple[str, ...] = (
            "cameras",
            "busy",
            "fps sum",
            "fps/camera",
            "cores",
            "others",
            "CPU ms/frame",
        )
        print(table((*head, "inference share", f"cores at {PROCESS_FPS} fps each"), rows))
        print(
            "  (the cameras run as fast as they go, so the quiet ones finish first: the cost "
            f"is CPU ms/frame; the last column is that cost at {PROCESS_FPS} fps a camera)"
        )
    if "falls" in report:
        print("\nFalls: the 22 UP-Fall clips at 9 fps (cached detections)")
        rows = [
            (
                f"gate {mode}",
                f"{s['falls_detected']}/{s['fall_clips']}",
                s["false_falls"],
                s["false_falls_on_adl"],
                s["inference_share"],
            )
            for mode, s in report["falls"]["summary"].items()
        ]
        print(table(("run", "falls found", "false falls", "on ADL", "inference share"), rows))
    if "pool" in report:
        runs = report["pool"]["runs"]
        print(
            "\nPool videos through guardian run: motion off | on, water zone 'motion: "
            "shimmer' | on, water zone 'motion: watch'"
        )
        names = list(runs)
        rows = []
        for i, first in enumerate(runs[names[0]]):
            rs = [runs[n][i] for n in names]
            rows.append(
                (
                    first["video"],
                    " | ".join(_pct(r["coverage"]) for r in rs),
                    " | ".join(f"{r['entries_on_time']}/{r['entries_truth']}" for r in rs),
                    " | ".join(str(r["entry_alerts_without_entry"]) for r in rs),
                    " | ".join(str(r["submersion_5s"] + r["submersion_15s"]) for r in rs),
                )
            )
        head = ("video", "coverage", "entries on time", "entries w/o entry", "submersion")
        print(f"  ({' | '.join(names)})")
        print(table(head, rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--parts", default=",".join(PARTS), help="comma list (default all)")
    parser.add_argument("--cameras", type=int, default=16, help="the first N cameras of the mix")
    parser.add_argument("--seconds", type=float, default=75.0, help="live: seconds per run")
    parser.add_argument(
        "--throughput-seconds", type=float, default=20.0, help="video seconds per camera"
    )
    parser.add_argument("--scaling-seconds", type=float, default=12.0)
    parser.add_argument(
        "--pool-variants",
        default=",".join(POOL_VARIANTS),
        help="pool part: comma list of off, shimmer, watch (default all)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline.json")
    parser.add_argument("--show", type=Path, metavar="JSON", help="only print a saved run")
    args = parser.parse_args()
    if args.show:
        show(json.loads(args.show.read_text()))
        return
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        sys.exit(f"unknown part(s) {', '.join(unknown)}: choose among {', '.join(PARTS)}")
    root = corpus()
    mix = build_mix(root)
    feeds = mix[: args.cameras]
    report: dict[str, Any] = {}
    if args.out.is_file():  # the parts not run now stay as they were
        old = json.loads(args.out.read_text())
        if "mix" in old:
            report = {k: v for k, v in old.items() if k != "machine"}
    report["mix"] = [
        {
            "camera": f.camera,
            "role": f.role,
            "size": f"{f.width}x{f.height}",
            "frames": len(f.jpegs),
            "shows": f.shows,
        }
        for f in mix
    ]
    report["noise_sigma"] = NOISE_SIGMA
    if "live" in parts:
        report["live"] = live_part(feeds, args.seconds)
    if "throughput" in parts:
        report["throughput"] = throughput_part(feeds, args.throughput_seconds)
    if "scaling" in parts:
        report["scaling"] = scaling_part(feeds, args.scaling_seconds)
    if "falls" in parts:
        report["falls"] = falls_part(root)
    if "pool" in parts:
        variants = [v.strip() for v in args.pool_variants.split(",") if v.strip()]
        report["pool"] = pool_part(root, variants, report.get("pool"))
    write_report("pipeline", report, out=args.out, show=show)


if __name__ == "__main__":
    main()
