"""deploy/: the systemd units pass ``systemd-analyze verify`` and stop gently, and the
mosquitto config with its ACL (on a real mosquitto, with a generated password file)
keeps each camera worker to its own cameras' topics."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from broker import Broker, tool
from paho.mqtt.enums import CallbackAPIVersion

from guardian.config.clips import ClipsConfig
from guardian.config.durations import parse_duration
from guardian.mqtt.topics import Topics

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
INSTALLED = "/opt/guardian/.venv/bin/guardian"
#: every login of the example ACL, with a password of its own
USERS = ("site", "homeassistant", "worker-pool", "worker-gate")


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    return parser


def test_there_is_a_unit_for_run_serve_and_each_worker() -> None:
    assert [p.name for p in UNITS] == [
        "guardian-run.service",
        "guardian-serve.service",
        "guardian-worker@.service",
    ]
    worker = _unit(DEPLOY / "systemd" / "guardian-worker@.service")
    assert "--name %i" in worker["Service"]["ExecStart"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_a_stop_lets_the_clip_encoder_finish(path: Path) -> None:
    """One SIGTERM to guardian only (its ffmpeg children keep encoding), and time enough
    for the longest clip tail to be recorded and encoded before any SIGKILL."""
    service = _unit(path)["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert service["KillMode"] == "mixed"
    # the review server has no clip to finish; the others: the default clip tail
    # (clips: post) and a minute to encode it
    needed = 30.0 if "serve" in path.name else float(ClipsConfig().post) + 60
    assert parse_duration(service["TimeoutStopSec"]) >= needed


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_systemd_analyze_verify_passes(path: Path, tmp_path: Path) -> None:
    analyze = tool("systemd-analyze", package="systemd")
    # the command must exist to be verified: the installed path becomes this checkout's
    guardian = shutil.which("guardian") or str(REPO / ".venv" / "bin" / "guardian")
    text = path.read_text()
    assert INSTALLED in text
    (tmp_path / path.name).write_text(text.replace(INSTALLED, guardian))
    name = path.name.replace("@.", "@gate.")
    done = subprocess.run(
        [analyze, "verify", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # an unknown or misspelt key is only a warning on stderr: nothing may be said
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_systemd_analyze_verify_would_see_a_misspelt_key(tmp_path: Path) -> None:
    """The check above cannot pass by seeing nothing."""
    analyze = tool("systemd-analyze", package="systemd")
    text = (DEPLOY / "systemd" / "guardian-run.service").read_text()
    bad = text.replace(INSTALLED, str(REPO / ".venv" / "bin" / "guardian")).replace(
        "KillMode=", "KilMode="
    )
    (tmp_path / "bad.service").write_text(bad)
    done = subprocess.run(
        [analyze, "verify", "bad.service"], cwd=tmp_path, capture_output=True, text=True
    )
    assert "KilMode" in done.stderr


# --------------------------------------------------------------------------- mosquitto + ACL


def _deploy_broker(folder: Path) -> Broker:
    """mosquitto with deploy/mosquitto/guardian.conf's access rules (password file and
    ACL) on a test port; the passwords generated with mosquitto_passwd."""
    folder.mkdir(parents=True, exist_ok=True)
    passwd = folder / "passwd"
    for index, user in enumerate(USERS):
        flags = ["-c"] if index == 0 else []
        subprocess.run(
            [tool("mosquitto_passwd"), *flags, "-b", str(passwd), user, f"pw-{user}"],
            check=True,
            timeout=30,
        )
    conf = (DEPLOY / "mosquitto" / "guardian.conf").read_text().splitlines()
    settings = [line.split("#")[0].strip() for line in conf]
    settings = [s for s in settings if s]
    assert "allow_anonymous false" in settings
    assert any(s.startswith("password_file ") for s in settings)
    assert any(s.startswith("acl_file ") for s in settings)
    # the listeners, files and folders are the machine's: the test uses its own
    local = ("listener", "cafile", "certfile", "keyfile", "persistence_location", "password_file")
    kept = [
        s
        for s in settings
        if s.split()[0] not in (*local, "acl_file", "allow_anonymous", "per_listener_settings")
    ]
    extra = [*kept, f"password_file {passwd}", f"acl_file {DEPLOY / 'mosquitto' / 'acl'}"]
    return Broker(folder, extra=extra, anonymous=False)


class Client:
    """A paho client logged in as one of the example users."""

    def __init__(self, broker: Broker, user: str, *subscribe: str) -> None:
        self.got: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{user}")
        self.client.username_pw_set(user, f"pw-{user}")
        connected = threading.Event()

        def on_connect(c: paho.Client, *_: object) -> None:
            for topic in subscribe:
                c.subscribe(topic, qos=1)
            connected.set()

        def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
            with self.lock:
                self.got.append((msg.topic, bytes(msg.payload)))

        self.client.on_connect = on_connect
        self.client.on_message = on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert connected.wait(10), f"{user} could not connect"
        time.sleep(0.2)  # the subscriptions are in place

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def received(self) -> list[tuple[str, bytes]]:
        with self.lock:
            return list(self.got)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_a_worker_cannot_publish_to_another_workers_camera(tmp_path: Path) -> None:
    topics = Topics("guardian")
    with _deploy_broker(tmp_path / "broker") as broker:
        site = Client(broker, "site", "guardian/#")
        gate = Client(broker, "worker-gate")
        ha = Client(broker, "homeassistant")
        try:
            gate.publish(topics.observations("pool"), b"forged: the pool is empty")
            gate.publish(topics.worker("pool"), b"offline")
            gate.publish(topics.mode_set(), b"supervised")
            ha.publish(topics.observations("gate"), b"forged by home assistant")
            gate.publish(topics.observations("gate"), b"gate 1")
            gate.publish(topics.observations("drive"), b"drive 1")
            gate.publish(topics.worker("gate"), b"online")
            ha.publish(topics.mode_set(), b"supervised")
            end = time.monotonic() + 10
            while len(site.received()) < 4 and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)  # anything forged would have arrived by now
            assert sorted(site.received()) == sorted(
                [
                    (topics.observations("gate"), b"gate 1"),
                    (topics.observations("drive"), b"drive 1"),
                    (topics.worker("gate"), b"online"),
                    (topics.mode_set(), b"supervised"),
                ]
            )
        finally:
            for client in (site, gate, ha):
                client.close()


def test_a_worker_reads_only_its_own_waiting_list(tmp_path: Path) -> None:
    """The site's list of a worker's cameras a rule waits on: only the site writes it,
    only that worker reads it."""
    topics = Topics("guardian")
    with _deploy_broker(tmp_path / "broker") as broker:
        pool = Client(broker, "worker-pool", topics.waiting("pool"), topics.waiting("gate"))
        gate = Client(broker, "worker-gate")
        site = Client(broker, "site")
        try:
            gate.publish(topics.waiting("pool"), b'["forged"]')
            site.publish(topics.waiting("gate"), b'["gate"]')
            site.publish(topics.waiting("pool"), b'["pool"]')
            end = time.monotonic() + 10
            while not pool.received() and time.monotonic() < end:
                time.sleep(0.05)
            time.sleep(0.5)  # anything it may not read would have arrived by now
            assert pool.received() == [(topics.waiting("pool"), b'["pool"]')]
        finally:
            for client in (pool, gate, site):
                client.close()


def test_without_a_password_nobody_gets_in(tmp_path: Path) -> None:
    with _deploy_broker(tmp_path / "broker") as broker:
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="anonymous")
        codes: list[object] = []
        client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        end = time.monotonic() + 10
        while not codes and time.monotonic() < end:
            time.sleep(0.05)
        client.loop_stop()
        assert codes and getattr(codes[0], "is_failure", False), codes
