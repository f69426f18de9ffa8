"""Camera workers: `guardian worker` runs cameras elsewhere, `guardian run` the site half.

Real parts only: Debian's mosquitto (tests/broker.py), real `guardian` processes, the
real pose model on real footage (UP-Fall S1 A01, the two cameras of one fall, 5 fps at
320 px), SQLite files read back.

* distributed equals local: the same two clips through two worker processes, the
  broker and `guardian run` give the same events (rule, camera, zone, frame; ids and
  clock times aside) as one local `guardian run`, and the clips the workers write into
  the shared clips folder are recorded by the site;
* the broker stopped for 10 s while the workers produce: every observation reaches the
  site once (the recorded observations equal the local run's), the same events;
* `kill -9` a worker on a live camera (a real MJPEG stream): the camera is reported
  offline (a camera_health span and the built-in rule's event) within 60 s, and back
  when the worker starts again; a garbage message on its feed is ignored.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from broker import Broker, tool
from corpus import require_corpus
from livecam import LiveCamera, scene_frames

from guardian.app import MODEL_THREADS_ENV, threads_per_camera
from guardian.config import ConfigError, load_site
from guardian.config.mqtt import MqttConfig
from guardian.motion import RuleWaits
from guardian.mqtt.feed import StreamEnd, decode_item, encode_item
from guardian.mqtt.link import Message, MqttLink
from guardian.mqtt.remote import RemoteCamera, RemoteCameras
from guardian.mqtt.topics import Topics
from guardian.mqtt.worker import FeedSender, WorkerNode
from guardian.observations import read_observations
from guardian.pipeline import StreamEnded
from guardian.records import HealthChange, HealthProblem, Observation

REPO = Path(__file__).resolve().parent.parent
CLIPS = {
    "cam1": ("fall", "upfall", "UPFall_S1_A01_T1_Cam1.mp4"),
    "cam2": ("fall", "upfall", "UPFall_S1_A01_T1_Cam2.mp4"),
}
WORKERS = {"cam1": "w1", "cam2": "w2"}
#: client ids derived from the site name "Lab"
SITE_FEEDS = "guardian-lab-cameras"
#: files end faster than real time, but a worker loading its model or a broker away
#: must not make a camera "offline" in one run and not the other
FILES_HEALTH = "health:\n  offline_after: 60s\n"


def _site(
    root: Path,
    sources: dict[str, str],
    *,
    workers: dict[str, str] | None = None,
    broker: Broker | None = None,
    extra: str = "",
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    cameras = "".join(
        f"  - id: {cam}\n    source: {source}\n    fps: 5\n    imgsz: 320\n"
        + (f"    worker: {workers[cam]}\n" if workers else "")
        for cam, source in sources.items()
    )
    zones = "".join(
        f"  - name: floor\n    camera: {cam}\n    kind: room\n"
        "    polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]\n"
        for cam in sources
    )
    (root / "zones.yaml").write_text("zones:\n" + zones)
    (root / "rules.yaml").write_text(
        "rules:\n"
        "  - id: on_the_floor\n"
        "    severity: critical\n"
        "    triggers: [{kind: zone_enter, zones: floor}]\n"
        "    actions:\n"
        "      - {kind: alert, channels: [log]}\n"
        "      - {kind: record_clip, pre: 1s, post: 1s}\n"
    )
    site = root / "guardian.yaml"
    site.write_text(
        "site:\n  name: Lab\n"
        f"cameras:\n{cameras}"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: events.db\n  models: {REPO / 'models'}\n"
        + (f"mqtt:\n  url: {broker.url}\n  discovery: false\n" if broker else "")
        + extra
    )
    return site


def _guardian(root: Path, log: str, *args: str) -> subprocess.Popen[bytes]:
    """A `guardian` process, its output in ``root/<log>.log`` (never a full pipe)."""
    out = open(root / f"{log}.log", "ab")  # noqa: SIM115 (the child holds it)
    return subprocess.Popen(
        [sys.executable, "-m", "guardian", *args],
        cwd=REPO,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _log(root: Path, name: str) -> str:
    path = root / f"{name}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def _wait(what: str, check: object, limit: float = 60.0) -> float:
    """Poll ``check()`` until true; the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if check():  # type: ignore[operator]
            return time.monotonic() - t0
        time.sleep(0.1)
    raise AssertionError(f"timed out after {limit:.0f}s waiting for {what}")


def _connected(broker: Broker, client_id: str) -> bool:
    return f" as {client_id} " in broker.log_text()


def _stop(proc: subprocess.Popen[bytes], timeout: float = 60) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise


def _events(db: Path) -> list[tuple[str, str, str | None, int]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select rule_id, camera, zone, frame_index from events "
            "order by camera, frame_index, rule_id"
        ).fetchall()
    return [tuple(r) for r in rows]


def _frames(path: Path) -> list[tuple[str, int]]:
    return sorted((o.camera, o.frame_index) for o in read_observations(path))


@pytest.fixture(scope="module")
def sources() -> dict[str, str]:
    return {cam: str(require_corpus(*parts)) for cam, parts in CLIPS.items()}


@pytest.fixture(scope="module")
def local(
    tmp_path_factory: pytest.TempPathFactory, sources: dict[str, str]
) -> tuple[list[tuple[str, str, str | None, int]], list[tuple[str, int]]]:
    """One local `guardian run` of both clips: its events and observed frames."""
    root = tmp_path_factory.mktemp("local")
    site = _site(root, sources, extra=FILES_HEALTH)
    proc = _guardian(
        root,
        "run",
        "run",
        "--quiet",
        "--config",
        str(site),
        "--record-observations",
        str(root / "obs.jsonl"),
    )
    assert proc.wait(300) == 0, _log(root, "run")
    events = _events(root / "events.db")
    assert [e for e in events if e[0] == "on_the_floor"], "the footage must fire the rule"
    return events, _frames(root / "obs.jsonl")


def _distributed(
    root: Path, sources: dict[str, str], broker: Broker, *, outage: float = 0.0
) -> tuple[list[tuple[str, str, str | None, int]], list[tuple[str, int]]]:
    """The site + two workers (+ the broker stopped ``outage`` s once they produce)."""
    site = _site(root, sources, workers=WORKERS, broker=broker, extra=FILES_HEALTH)
    run = _guardian(
        root,
        "run",
        "run",
        "--quiet",
        "--config",
        str(site),
        "--record-observations",
        str(root / "obs.jsonl"),
    )
    workers: list[subprocess.Popen[bytes]] = []
    try:
        # the site's persistent session exists before the workers publish
        _wait("the site's feed session", lambda: _connected(broker, SITE_FEEDS))
        for name in ("w1", "w2"):
            workers.append(_guardian(root, name, "worker", "--config", str(site), "--name", name))
        for name in ("w1", "w2"):
            _wait(f"worker {name}", lambda n=name: _connected(broker, f"guardian-lab-worker-{n}"))
        if outage:
            broker.stop()
            time.sleep(outage)
            broker.start()
        assert run.wait(300) == 0, _log(root, "run")
    finally:
        codes = [_stop(w) for w in workers]
        if run.poll() is None:
            run.kill()
    assert codes == [0, 0], _log(root, "w1") + _log(root, "w2")
    return _events(root / "events.db"), _frames(root / "obs.jsonl")


def test_two_workers_and_the_site_give_the_local_events(
    tmp_path: Path,
    sources: dict[str, str],
    local: tuple[list[tuple[str, str, str | None, int]], list[tuple[str, int]]],
    broker: Broker,
) -> None:
    events, frames = _distributed(tmp_path, sources, broker)
    assert events == local[0]
    assert frames == local[1]  # every observation, once
    # each event's clip: written by its worker into the shared folder, recorded by the site
    with sqlite3.connect(tmp_path / "events.db") as conn:
        clips = conn.execute("select camera, status, path, frames from clips").fetchall()
    assert {c[0] for c in clips} == {"cam1", "cam2"}
    written = [c for c in clips if c[1] == "written"]
    assert written, clips
    for _camera, _status, path, count in written:
        assert count > 0 and (tmp_path / "clips" / path).stat().st_size > 1000


def test_the_broker_away_for_10s_loses_and_repeats_nothing(
    tmp_path: Path,
    sources: dict[str, str],
    local: tuple[list[tuple[str, str, str | None, int]], list[tuple[str, int]]],
    broker: Broker,
) -> None:
    events, frames = _distributed(tmp_path, sources, broker, outage=10.0)
    assert "lost the broker" in _log(tmp_path, "w1") + _log(tmp_path, "w2")
    assert frames == local[1]  # none lost, none twice
    assert events == local[0]


@pytest.fixture
def live_camera() -> Iterator[LiveCamera]:
    frames = scene_frames()
    camera = LiveCamera(frames[:120:3], fps=6)  # then the last one, for ever
    yield camera
    camera.close()


def _offline_spans(db: Path) -> list[tuple[float, float | None]]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "select started, ended from camera_health where problem = 'offline'"
            ).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    return [tuple(r) for r in rows]


def _frames_seen(db: Path) -> int:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute("select max(frames) from watch where camera = 'gate'").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0)


def test_a_killed_worker_s_camera_goes_offline_and_comes_back(
    tmp_path: Path, broker: Broker, live_camera: LiveCamera
) -> None:
    health = (
        "health:\n  offline_after: 5s\n  recover: 1s\n  heartbeat: 1s\n  stalled_after: 0s\n"
        "  moved_after: 0s\n  too_dark_after: 0s\n  obstructed_after: 0s\n"
    )
    site = _site(
        tmp_path, {"gate": live_camera.url}, workers={"gate": "w1"}, broker=broker, extra=health
    )
    db = tmp_path / "events.db"
    run = _guardian(tmp_path, "run", "run", "--quiet", "--config", str(site))
    worker = _guardian(tmp_path, "w1", "worker", "--config", str(site), "--cameras", "gate")
    try:
        _wait("observations at the site", lambda: _frames_seen(db) > 5, limit=90)
        _wait("no open offline span", lambda: all(e for _, e in _offline_spans(db)), 30)
        before = len(_offline_spans(db))
        # a forged payload on the camera's feed is ignored, the run goes on
        pub = tool("mosquitto_pub")
        topic = "guardian/cameras/gate/observations"
        for payload in ("garbage", '{"run":"x","seq":-1}\n{}', '{"v":1}'):
            subprocess.run(
                [pub, "-p", str(broker.port), "-q", "1", "-t", topic, "-m", payload], check=True
            )
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        took = _wait("the camera offline", lambda: len(_offline_spans(db)) > before)
        assert took <= 60
        assert _offline_spans(db)[-1][1] is None
        _wait("the last-will", lambda: "worker w1 is offline" in _log(tmp_path, "run"), 30)
        worker = _guardian(tmp_path, "w1", "worker", "--config", str(site), "--cameras", "gate")
        _wait("the camera back", lambda: _offline_spans(db)[-1][1] is not None, limit=90)
        assert run.poll() is None, _log(tmp_path, "run")
    finally:
        _stop(worker)
        code = _stop(run)
    assert code == 0, _log(tmp_path, "run")
    log = _log(tmp_path, "run")
    assert log.count("ignored a message on guardian/cameras/gate/observations") == 3, log
    with sqlite3.connect(db) as conn:
        messages = [
            m
            for (m,) in conn.execute(
                "select message from events where rule_id = 'camera_health_gate' "
                "order by started_at"
            )
        ]
    assert any("offline" in m for m in messages), messages
    assert any("back" in m for m in messages), messages


# -- the feed's wire format and its bookkeeping, without processes ------------------------
def _obs(camera: str, index: int) -> Observation:
    return Observation(camera, index, 1000.0 + index, index / 5, 640, 480, (), (), (), ())


class _Hub:
    def attach(self, feed: RemoteCamera) -> None: ...

    def detach(self, feed: RemoteCamera) -> None: ...


def _message(run: str, seq: int, body: object, worker: str = "w1") -> Message:
    return Message("guardian/cameras/gate/observations", encode_item(worker, run, seq, body), False)  # type: ignore[arg-type]


def test_a_remote_camera_drops_repeats_and_counts_gaps() -> None:
    out: queue.Queue[object] = queue.Queue()
    cam = RemoteCamera("gate", "w1", _Hub(), out, threading.Event())  # type: ignore[arg-type]
    for seq in (0, 1, 1, 0, 2, 5):  # a redelivery, then three that never came
        cam.receive(_message("r1", seq, _obs("gate", seq)))
    cam.receive(_message("r1", 6, HealthChange("gate", HealthProblem.TOO_DARK, 1.0, None, "x")))
    cam.receive(_message("r2", 0, _obs("gate", 0)))  # the worker started again
    cam.receive(_message("r1", 7, _obs("gate", 7)))  # a late one of its old run
    cam.receive(_message("r2", 1, _obs("gate", 1), worker="intruder"))  # not its worker
    cam.receive(Message("guardian/cameras/gate/observations", b"\xff\xfe", False))
    cam.receive(_message("r2", 1, StreamEnd("gate")))
    items = []
    while not out.empty():
        items.append(out.get())
    indexes = [i.frame_index for i in items if isinstance(i, Observation)]
    assert indexes == [0, 1, 2, 5, 0]
    assert isinstance(items[-1], StreamEnded)
    assert [i.problem for i in items if isinstance(i, HealthChange)] == [HealthProblem.TOO_DARK]
    assert (cam.duplicates, cam.missed, cam.rejected) == (3, 2, 2)
    assert cam.status.done and cam.status.processed == 5


def test_feed_items_round_trip_and_bad_ones_say_why() -> None:
    obs = _obs("gate", 3)
    item = decode_item("gate", encode_item("w1", "r", 7, obs))
    assert (item.worker, item.run, item.seq, item.body) == ("w1", "r", 7, obs)
    for payload, words in (
        (b"nope", "not a feed message"),
        (b'{"run":"r","seq":1,"kind":"obs","worker":"w"}\n{"v":9}', "not an observation"),
        (b'{"run":"r","seq":true,"kind":"obs","worker":"w"}\n', "'seq'"),
        (b'{"run":"r","seq":1,"kind":"what","worker":"w"}\n', "unknown kind"),
    ):
        with pytest.raises(ValueError, match=words):
            decode_item("gate", payload)
    with pytest.raises(ValueError, match="camera 'gate' on the feed of 'pool'"):
        decode_item("pool", encode_item("w1", "r", 0, obs))


def test_a_worker_camera_needs_an_mqtt_section(tmp_path: Path) -> None:
    site = tmp_path / "guardian.yaml"
    site.write_text("cameras:\n  - id: gate\n    source: rtsp://cam/1\n    worker: w1\n")
    with pytest.raises(ConfigError) as err:
        load_site(site)
    (problem,) = [str(p) for p in err.value.problems]
    assert f"{site}:4:" in problem and "no 'mqtt:' section" in problem
    # a worker's camera file is on the worker's machine: the site does not look for it
    site.write_text(
        "cameras:\n  - id: gate\n    source: /elsewhere/gate.mp4\n    worker: w1\n"
        "mqtt:\n  url: mqtt://127.0.0.1:1883\n"
    )
    assert load_site(site).site.workers() == {"w1": ("gate",)}


def test_model_threads_are_shared_among_the_cameras_this_machine_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The site shares its cores among its own cameras, a worker among its cameras."""
    monkeypatch.delenv(MODEL_THREADS_ENV, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    site = tmp_path / "guardian.yaml"
    site.write_text(
        "cameras:\n"
        "  - id: hall\n    source: rtsp://cam/0\n"
        "  - id: gate\n    source: rtsp://cam/1\n    worker: w1\n"
        "  - id: pool\n    source: rtsp://cam/2\n    worker: w1\n"
        "  - id: shed\n    source: rtsp://cam/3\n    worker: w1\n"
        "mqtt:\n  url: mqtt://127.0.0.1:1883\n"
    )
    bundle = load_site(site)
    assert threads_per_camera(bundle) == 8  # the site runs the hall's models only
    assert threads_per_camera(bundle, ("gate", "pool", "shed")) == 2  # worker w1: 8 // 3


class _Link:
    """Stands in for MqttLink in the backlog test: up or down, what was published."""

    def __init__(self) -> None:
        self.connected = False
        self.published: list[tuple[str, bytes]] = []

    def pending(self) -> int:
        return 0

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.published.append((topic, payload))


def test_a_worker_s_backlog_is_bounded_and_goes_out_in_order() -> None:
    link = _Link()
    sender = FeedSender(link, Topics(), "w1", backlog=100)  # type: ignore[arg-type]
    for i in range(250):  # the broker is away
        sender.send(_obs("gate", i))
    assert (sender.waiting, sender.dropped, link.published) == (100, 150, [])
    link.connected = True
    sender.send(_obs("gate", 250))
    items = [decode_item("gate", payload) for _, payload in link.published]
    assert [i.seq for i in items] == list(range(150, 251))  # the newest, in order
    assert {topic for topic, _ in link.published} == {"guardian/cameras/gate/observations"}


class _NoCameras:
    """A worker's camera builder for a test that only connects the worker."""

    def build(self) -> list[object]:
        return []

    def close(self) -> None:
        pass


def _until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_the_site_tells_a_worker_which_of_its_cameras_a_rule_waits_on(broker: Broker) -> None:
    """A submersion timer on a worker's camera keeps that camera's models running there:
    the site's RuleWaits → its link (retained, per worker) → the worker's RuleWaits, on a
    real mosquitto; a restarted worker learns the list; a malformed list is ignored."""
    config = MqttConfig(url=broker.url)
    topics = Topics("guardian")
    owners = {"pool": "poolside", "slide": "poolside", "road": "street"}

    def worker(name: str) -> tuple[WorkerNode, RuleWaits]:
        waits = RuleWaits()
        node = WorkerNode(
            name,
            _NoCameras(),  # type: ignore[arg-type]
            MqttLink(config, client_id=f"worker-{name}-{time.monotonic_ns()}"),
            topics,
            backlog=10,
            waits=waits,
        )
        node.connect()
        return node, waits

    poolside, pool_waits = worker("poolside")
    street, street_waits = worker("street")
    remote = RemoteCameras(lambda: MqttLink(config, client_id="site"), topics, owners)
    site = RuleWaits(on_change=remote.waiting)
    stop = threading.Event()
    feed = remote.feed("pool", None)(queue.Queue(), stop)
    feed.start()  # the site's link connects and tells every worker its (empty) list
    _until(lambda: remote.link is not None and remote.link.connected, "the site's link")
    site.set("pool", True)
    _until(lambda: "pool" in pool_waits, "pool waited on at the worker")
    assert "slide" not in pool_waits and "road" not in street_waits
    site.set("slide", True)
    site.set("pool", False)
    _until(lambda: "pool" not in pool_waits and "slide" in pool_waits, "the new list")
    # a worker that restarts gets the retained list
    poolside.link.close()
    again, again_waits = worker("poolside")
    _until(lambda: "slide" in again_waits, "the retained list after a restart")
    # a malformed list is one log line; the worker keeps what it knew
    bad = MqttLink(config, client_id="bad")
    bad.connect()
    bad.publish(topics.waiting("poolside"), b"{not a list", qos=1)
    assert bad.flush(5)
    time.sleep(0.5)
    assert "slide" in again_waits
    bad.close()
    stop.set()
    remote.close(wait=0)
    for node in (again, street):
        node.link.close()
