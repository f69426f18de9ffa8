"""Camera workers over MQTT: what the bus carries and how late.

8 cameras at 10 fps, on two worker processes (4 cameras each), through a real mosquitto
(Debian's, started here on a free 127.0.0.1 port) to the site's side in this process:

* **latency**: each worker replays real observations (recorded once here from UP-Fall
  footage through the real pipeline, so the model is not what is measured) at 10 fps a
  camera, stamped with the wall clock when sent, through the real ``FeedSender`` and
  ``MqttLink``; the site side is the real ``RemoteCameras`` / ``RemoteCamera`` that puts
  them on the runner's queue. Frame → site queue is what the bus adds to frame → event
  (the rules then run as for a local camera). p50 / p95 / max, and every observation
  counted: received, lost, repeated.
* **throughput**: the same, each worker sending as fast as it can: observations per
  second taken off the queue at the site.

Run: ``.venv/bin/python bench/bus.py`` (``--seconds``, ``--count``); writes
``bench/results/bus.json`` and prints a table. ``--show FILE`` prints a saved result.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import corpus, table, write_report

from guardian.app import run_site
from guardian.config.mqtt import MqttConfig
from guardian.mqtt.link import MqttLink, Will
from guardian.mqtt.remote import RemoteCamera, RemoteCameras
from guardian.mqtt.topics import OFFLINE, Topics
from guardian.mqtt.worker import FeedSender
from guardian.observations import from_json, read_observations, to_json
from guardian.records import Observation

CLIP = ("fall", "upfall", "UPFall_S1_A01_T1_Cam1.mp4")
CAMERAS = [f"cam{i}" for i in range(1, 9)]
WORKERS = {"w1": CAMERAS[:4], "w2": CAMERAS[4:]}
#: the issue's aim: what the bus adds to frame → event, p95
AIM_P95_MS = 300.0


# -- the parts -----------------------------------------------------------------------------
def record_observations(path: Path) -> None:
    """Observations of real footage through the real pipeline (`guardian run`)."""
    root = path.parent
    (root / "zones.yaml").write_text(
        "zones:\n  - name: floor\n    camera: cam\n    kind: room\n"
        "    polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]\n"
    )
    (root / "rules.yaml").write_text(
        "rules:\n  - id: floor\n    triggers: [{kind: zone_enter, zones: floor}]\n"
        "    actions: [{kind: alert, channels: [log]}]\n"
    )
    site = root / "guardian.yaml"
    site.write_text(
        f"cameras:\n  - id: cam\n    source: {corpus().joinpath(*CLIP)}\n    fps: 10\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\nclips:\n  enabled: false\n"
        f"storage:\n  database: bench.db\n  models: {REPO / 'models'}\n"
    )
    if run_site(site, record=path, progress=False) != 0:
        raise SystemExit("recording the observations failed")


class Mosquitto:
    """Debian's mosquitto on a free 127.0.0.1 port, its config in ``folder``."""

    def __init__(self, folder: Path) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not os.access(exe, os.X_OK):
            raise SystemExit("mosquitto is not installed (scripts/system-deps installs it)")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        conf = folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 1000000\nmax_inflight_messages 0\n"
        )
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("mosquitto did not start")

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def replay(
    url: str, name: str, cameras: list[str], observations: Path, fps: float, count: int
) -> None:
    """A worker process: ``count`` observations a camera (at ``fps``; 0: at once)."""
    lines = [to_json(o) for o in read_observations(observations)]
    config = MqttConfig(url=url)
    topics = Topics(config.topic_prefix)
    link = MqttLink(
        config,
        client_id=f"bench-worker-{name}",
        will=Will(topics.worker(name), OFFLINE.encode()),
        persistent=True,
    )
    link.connect()
    sender = FeedSender(link, topics, name, backlog=1_000_000)
    t0 = time.monotonic()
    for i in range(count):
        if fps > 0:
            delay = t0 + i / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        base = from_json(lines[i % len(lines)])
        for camera in cameras:
            obs = dataclasses.replace(base, camera=camera, frame_index=i, timestamp=time.time())
            sender.send(obs)
        sender.flush()
    while sender.waiting:
        if not sender.flush():
            time.sleep(0.005)
    link.flush(30)
    link.close()


@dataclasses.dataclass
class Phase:
    received: int
    lost: int
    repeated: int
    rejected: int
    seconds: float
    latency_ms: list[float]


def site_side(url: str, observations: Path, fps: float, count: int, timeout: float) -> Phase:
    """Start the workers, take their observations off the runner's queue, time them."""
    config = MqttConfig(url=url)
    topics = Topics(config.topic_prefix)
    owner = {cam: w for w, cams in WORKERS.items() for cam in cams}
    hub = RemoteCameras(
        lambda: MqttLink(config, client_id="bench-site-cameras", persistent=True),
        topics,
        owner,
    )
    q: queue.Queue[object] = queue.Queue(maxsize=64)
    stop = threading.Event()
    feeds = [hub.feed(cam, None)(q, stop) for cam in CAMERAS]
    for feed in feeds:
        feed.start()
    deadline = time.monotonic() + 10
    while hub.link is None and time.monotonic() < deadline:
        time.sleep(0.02)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--replay",
                name,
                "--url",
                url,
                "--cameras",
                ",".join(cams),
                "--observations",
                str(observations),
                "--fps",
                str(fps),
                "--count",
                str(count),
            ]
        )
        for name, cams in WORKERS.items()
    ]
    expected = count * len(CAMERAS)
    latency: list[float] = []
    first = last = None
    end = time.monotonic() + timeout
    while len(latency) < expected and time.monotonic() < end:
        try:
            item = q.get(timeout=0.5)
        except queue.Empty:
            if all(p.poll() is not None for p in procs) and q.empty():
                time.sleep(1.0)
                if q.empty():
                    break
            continue
        if isinstance(item, Observation):
            now = time.time()
            latency.append(1000 * (now - item.timestamp))
            first = first if first is not None else time.monotonic()
            last = time.monotonic()
    for p in procs:
        p.wait(60)
    stop.set()
    for feed in feeds:
        feed.join()
    hub.close(wait=0)
    remote = [f for f in feeds if isinstance(f, RemoteCamera)]
    return Phase(
        received=len(latency),
        lost=expected - len(latency),
        repeated=sum(f.duplicates for f in remote),
        rejected=sum(f.rejected for f in remote),
        seconds=(last - first) if first is not None and last is not None else 0.0,
        latency_ms=latency,
    )


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def run(seconds: float, count: int, observations: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="guardian-bus-") as tmp:
        folder = Path(tmp)
        if observations is None:
            observations = folder / "observations.jsonl"
            record_observations(observations)
        sample = next(iter(read_observations(observations)))
        size = len(to_json(sample))
        mean_size = statistics.mean(len(to_json(o)) for o in read_observations(observations))
        broker = Mosquitto(folder)
        try:
            paced = site_side(broker.url, observations, 10.0, int(seconds * 10), seconds + 60)
            flat = site_side(broker.url, observations, 0.0, count, 300)
        finally:
            broker.stop()
    lat = paced.latency_ms
    return {
        "cameras": len(CAMERAS),
        "workers": len(WORKERS),
        "fps_per_camera": 10,
        "observation_bytes": {"first": size, "mean": round(mean_size)},
        "latency": {
            "observations": paced.received,
            "lost": paced.lost,
            "repeated": paced.repeated,
            "p50_ms": round(_pct(lat, 0.50), 2),
            "p95_ms": round(_pct(lat, 0.95), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "aim_p95_ms": AIM_P95_MS,
            "within_aim": bool(lat) and _pct(lat, 0.95) <= AIM_P95_MS,
        },
        "throughput": {
            "observations": flat.received,
            "lost": flat.lost,
            "repeated": flat.repeated,
            "seconds": round(flat.seconds, 2),
            "per_second": round(flat.received / flat.seconds) if flat.seconds else None,
        },
    }


def show(result: dict[str, Any]) -> None:
    lat, thr = result["latency"], result["throughput"]
    print(
        f"{result['cameras']} cameras at {result['fps_per_camera']} fps on {result['workers']} "
        f"workers, observations of {result['observation_bytes']['mean']} bytes on average"
    )
    print(
        table(
            ["phase", "observations", "lost", "repeated", "p50 ms", "p95 ms", "max ms", "obs/s"],
            [
                [
                    "paced 10 fps",
                    lat["observations"],
                    lat["lost"],
                    lat["repeated"],
                    lat["p50_ms"],
                    lat["p95_ms"],
                    lat["max_ms"],
                    None,
                ],
                [
                    "as fast as possible",
                    thr["observations"],
                    thr["lost"],
                    thr["repeated"],
                    None,
                    None,
                    None,
                    thr["per_second"],
                ],
            ],
        )
    )
    verdict = "within" if lat["within_aim"] else "NOT within"
    print(f"frame → site queue p95 {lat['p95_ms']} ms: {verdict} the aim ({lat['aim_p95_ms']} ms)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="paced phase length")
    parser.add_argument(
        "--count", type=int, default=1500, help="observations a camera, unpaced phase"
    )
    parser.add_argument("--observations", type=Path, help="a recorded JSONL (default: record)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--show", type=Path, help="print a saved result and exit")
    # a worker process of the benchmark
    parser.add_argument("--replay", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--cameras", help=argparse.SUPPRESS)
    parser.add_argument("--fps", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.show:
        show(json.loads(args.show.read_text()))
        return 0
    if args.replay:
        replay(
            args.url, args.replay, args.cameras.split(","), args.observations, args.fps, args.count
        )
        return 0
    result = run(args.seconds, args.count, args.observations)
    write_report("bus", result, out=args.out, show=show)
    lat = result["latency"]
    return 0 if lat["lost"] == 0 and result["throughput"]["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
