"""Guardian on MQTT: the ``mqtt:`` section, the broker link, the site's messages and its
commands — against a real mosquitto (tests/broker.py), a real ``guardian run`` watching
a live camera of corpus footage, and real SQLite files."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import pytest
from broker import Broker, tool
from livecam import ZONE, K, LiveCamera, scene_frames
from paho.mqtt.enums import CallbackAPIVersion

from guardian.app import build_site_bus
from guardian.app.site import mode_manager
from guardian.config import ConfigError, load_site
from guardian.config.mqtt import MqttConfig
from guardian.effects import ModeRequest, PromptRequest
from guardian.modes import ModeManager
from guardian.mqtt import Message, MqttError, MqttLink, Topics, Will
from guardian.mqtt.commands import (
    MAX_PAYLOAD,
    BadPayload,
    Outcome,
    SiteCommands,
    parse_ack,
    parse_answer,
    parse_mode,
)
from guardian.mqtt.discovery import discovery_messages, node_id
from guardian.mqtt.link import credentials
from guardian.store import Store
from guardian.vocab import Mode

REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- helpers


def wait_until(check: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    """``check()``'s first true value within ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not seen within {timeout}s: {what}")


@dataclass(frozen=True)
class Seen:
    topic: str
    payload: bytes
    retain: bool

    def json(self) -> object:
        return json.loads(self.payload)


class Listener:
    """An independent paho client that records everything under ``filters``."""

    def __init__(self, url: str, *filters: str, client_id: str = "test-listener") -> None:
        port = int(url.rsplit(":", 1)[1])
        self.messages: list[Seen] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)

        def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
            with self._lock:
                self.messages.append(Seen(msg.topic, bytes(msg.payload), bool(msg.retain)))

        subscribed = threading.Event()

        def on_connect(c: paho.Client, *_: object) -> None:
            c.subscribe([(f, 1) for f in filters or ("#",)])

        self.client.on_message = on_message
        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "the listener could not subscribe"

    def seen(self, topic: str | None = None) -> list[Seen]:
        with self._lock:
            return [m for m in self.messages if topic is None or m.topic == topic]

    def latest(self, topic: str) -> Seen | None:
        found = self.seen(topic)
        return found[-1] if found else None

    def wait(self, check: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
        return wait_until(check, timeout, what)

    def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _site_file(folder: Path, mqtt: str) -> Path:
    (folder / "pool.mp4").write_bytes(b"")
    site = folder / "site.yaml"
    site.write_text(f"cameras:\n  - id: pool\n    source: pool.mp4\n{mqtt}")
    return site


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("section", "line", "words"),
    [
        ("mqtt:\n  url: http://broker:1883\n", 5, "mqtt://host:1883"),
        ("mqtt:\n  url: mqtt://u:s3cr3tpw@broker\n", 5, "username_env"),
        ("mqtt:\n  url: mqtt://broker:99999\n", 5, "bad port"),
        (
            "mqtt:\n  url: mqtt://broker\n  tls:\n    ca_file: ca.pem\n",
            7,
            "use mqtts://",
        ),
        (
            "mqtt:\n  url: mqtt://broker\n  username_env: GUARDIAN_MQTT_USER\n"
            "  password_env: hunter2-hunter2-hunter2\n",
            7,
            "NAME of an environment variable",
        ),
        ("mqtt:\n  url: mqtt://broker\n  password_env: MQTT_PASSWORD\n", 6, "username_env"),
        ("mqtt:\n  url: mqtt://broker\n  topic_prefix: 'guardian/#'\n", 6, "no '+', '#'"),
        ("mqtt:\n  url: mqtt://broker\n  keepalive: 1s\n", 6, "between 5s and 10m"),
        ("mqtt:\n  url: mqtt://broker\n  protocol: 3\n", 6, "MQTT 3.1.1"),
        ("mqtt:\n  url: mqtt://broker\n  backlog: 5\n", 6, "100"),
        ("mqtt:\n  url: mqtt://broker\n  client_id: 'my id'\n", 6, "letters, digits"),
        ("mqtt:\n  url: mqtt://broker\n  brokr: x\n", 6, "brokr"),
        (
            "mqtt:\n  url: mqtts://broker\n  tls:\n    cert_file: c.pem\n",
            7,
            "key_file",
        ),
    ],
)
def test_a_bad_mqtt_section_is_one_located_problem(
    tmp_path: Path, section: str, line: int, words: str
) -> None:
    site = _site_file(tmp_path, section)
    with pytest.raises(ConfigError) as err:
        load_site(site)
    problems = err.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].file == site and problems[0].line == line, str(problems[0])
    assert words in problems[0].message, str(problems[0])
    assert "hunter2" not in problems[0].message and "s3cr3tpw" not in problems[0].message


def test_a_good_mqtt_section_loads_with_its_defaults(tmp_path: Path) -> None:
    site = _site_file(
        tmp_path,
        "site:\n  name: Villa Rosa\nmqtt:\n  url: mqtts://broker.example.org\n"
        "  username_env: GUARDIAN_MQTT_USER\n  password_env: GUARDIAN_MQTT_PASSWORD\n"
        "  tls: {ca_file: ca.pem}\n",
    )
    config = load_site(site).site.mqtt
    assert config is not None
    assert (config.host, config.port, config.secure) == ("broker.example.org", 8883, True)
    assert config.topic_prefix == "guardian" and config.discovery
    assert config.client_id_for("Villa Rosa") == "guardian-villa-rosa"
    assert config.client_id_for("Villa Rosa", "gate") == "guardian-villa-rosa-worker-gate"


def test_the_login_comes_from_the_named_variables_and_a_missing_one_is_named() -> None:
    config = MqttConfig(url="mqtt://b", username_env="MQ_USER", password_env="MQ_PASS")
    assert credentials(config, {"MQ_USER": "site", "MQ_PASS": "pw"}) == ("site", "pw")
    with pytest.raises(MqttError, match="MQ_PASS is not set") as err:
        credentials(config, {"MQ_USER": "site-user-value"})
    assert "site-user-value" not in str(err.value)
    assert credentials(MqttConfig(url="mqtt://b"), {}) is None


# --------------------------------------------------------------------------- the link


def test_the_link_reconnects_by_itself_and_keeps_its_subscriptions(broker: Broker) -> None:
    config = MqttConfig(url=broker.url)
    got: list[Message] = []
    sub = MqttLink(config, client_id="sub")
    sub.subscribe("t/#", got.append)
    sub.connect()
    pub = MqttLink(config, client_id="pub")
    pub.connect()
    pub.publish("t/a", "before")
    assert pub.flush(5)
    wait_until(lambda: got, 5, "the first message")
    broker.restart()
    wait_until(lambda: sub.connected and pub.connected, 30, "both reconnected")
    pub.publish("t/b", b"after")
    wait_until(lambda: len(got) >= 2, 10, "the message after the restart")
    assert [(m.topic, m.payload) for m in got] == [("t/a", b"before"), ("t/b", b"after")]
    pub.close()
    sub.close()


def test_a_persistent_session_gets_what_was_sent_while_it_was_away(broker: Broker) -> None:
    config = MqttConfig(url=broker.url)
    got: list[Message] = []
    first = MqttLink(config, client_id="site-x", persistent=True)
    first.subscribe("obs/#", got.append)
    first.connect()
    first.close()
    pub = MqttLink(config, client_id="worker-x")
    pub.connect()
    for i in range(50):
        pub.publish("obs/pool", str(i), qos=1)
    assert pub.flush(5)
    again = MqttLink(config, client_id="site-x", persistent=True)
    again.subscribe("obs/#", got.append)
    again.connect()
    wait_until(lambda: len(got) >= 50, 10, "what was sent while away")
    time.sleep(0.3)  # nothing more, nothing twice
    assert [m.payload for m in got] == [str(i).encode() for i in range(50)]
    again.close()
    pub.close()


def test_a_refused_login_is_one_clear_error(tmp_path: Path) -> None:
    passwords = tmp_path / "passwd"
    subprocess.run(
        [tool("mosquitto_passwd"), "-c", "-b", str(passwords), "site", "right-password"],
        check=True,
    )
    with Broker(tmp_path / "b", anonymous=False, extra=[f"password_file {passwords}"]) as broker:
        config = MqttConfig(url=broker.url, username_env="MQ_USER", password_env="MQ_PASS")
        wrong = MqttLink(config, client_id="x", environ={"MQ_USER": "site", "MQ_PASS": "nope"})
        with pytest.raises(MqttError, match="refused") as err:
            wrong.connect(timeout=10)
        assert "nope" not in str(err.value)
        right = MqttLink(
            config, client_id="y", environ={"MQ_USER": "site", "MQ_PASS": "right-password"}
        )
        right.connect(timeout=10)
        assert right.connected
        right.close()


def test_the_will_says_offline_when_the_connection_dies(broker: Broker) -> None:
    listener = Listener(broker.url, "site/status")
    config = MqttConfig(url=broker.url, keepalive=5)
    link = MqttLink(config, client_id="dying", will=Will("site/status", b"offline"))
    link.connect()
    link.publish("site/status", "online", retain=True)
    listener.wait(lambda: (m := listener.latest("site/status")) and m.payload == b"online", 10)
    link._client._sock_close()  # the socket dies without a DISCONNECT: the broker sends the will
    listener.wait(lambda: (m := listener.latest("site/status")) and m.payload == b"offline", 20)
    link.close()
    listener.close()


# --------------------------------------------------------------------------- command payloads


@pytest.mark.parametrize(
    ("parse", "payload", "why"),
    [
        (parse_mode, b"party", "unsupervised or supervised"),
        (parse_mode, b'{"mode": "party"}', "mode"),
        (parse_mode, b'{"mode": "supervised", "for": "48h"}', "24 h"),
        (parse_mode, b'{"mode": "supervised", "sudo": true}', "sudo"),
        (parse_mode, b'{"mode": "supervised", "by": ""}', "by"),
        (parse_mode, b'{"mode": ', "not valid JSON"),
        (parse_mode, b"\xff\xfe", "UTF-8"),
        (parse_mode, b'{"mode": "supervised", "reason": "' + b"x" * 300 + b'"}', "reason"),
        (parse_mode, b"{" + b" " * MAX_PAYLOAD + b"}", "more than"),
        (parse_ack, b'{"event": "../../etc/passwd"}', "event"),
        (parse_ack, b"DROP TABLE events;", "event id"),
        (parse_ack, b'{"event": "e1", "status": "closed"}', "status"),
        (parse_answer, b"yes", "JSON object"),
        (parse_answer, b'{"prompt": "p1", "answer": "maybe"}', "answer"),
        (parse_answer, b'{"prompt": "p1"}', "answer"),
    ],
)
def test_a_bad_command_payload_is_refused_with_a_reason(
    parse: Callable[[bytes], object], payload: bytes, why: str
) -> None:
    with pytest.raises(BadPayload) as err:
        parse(payload)
    assert why in str(err.value)
    assert "passwd" not in str(err.value) and "DROP" not in str(err.value)


def test_good_command_payloads_are_understood() -> None:
    assert parse_mode(b"supervised").mode == Mode.SUPERVISED
    command = parse_mode(b'{"mode": "supervised", "for": "1h", "by": "ha", "reason": "lesson"}')
    assert (command.duration, command.by, command.reason) == (3600.0, "ha", "lesson")
    assert parse_ack(b"PRESS").event is None
    assert parse_ack(b"evt-1").event == "evt-1"
    assert parse_ack(b'{"event": "evt-2", "by": "alex"}').by == "alex"
    answer = parse_answer(b'{"prompt": "p1", "answer": "yes"}')
    assert (answer.prompt, answer.answer) == ("p1", "yes")


def test_commands_run_on_the_callers_thread_and_bad_ones_are_logged_and_ignored(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real path without a run: broker → link → SiteCommands → the store's mode."""
    store = Store(tmp_path / "g.db")
    modes = ModeManager(store)
    config = MqttConfig(url=broker.url)
    topics = Topics("g")
    sender = Listener(broker.url, "nothing", client_id="sender")
    # a command left retained on the broker: it would run again at every start
    sender.publish(topics.mode_set(), b"unsupervised", retain=True)
    caplog.set_level(logging.WARNING, logger="guardian.mqtt.commands")
    link = MqttLink(config, client_id="site")
    commands = SiteCommands(link, topics, store, modes)
    commands.subscribe()
    link.connect()
    sender.publish(topics.mode_set(), b'{"mode": "supervised", "for": "30m", "by": "ha"}')
    sender.publish(topics.mode_set(), b'{"mode": "supervised", "for": "1000h"}')
    sender.publish(topics.mode_set(), b"\x00" * 5000)
    sender.publish(topics.ack(), b'{"event": "nope"}')
    end = time.monotonic() + 10
    outcomes: list[Outcome] = []
    while time.monotonic() < end and not (outcomes and commands.rejected >= 3):
        outcomes += commands.run()
        time.sleep(0.05)
    assert modes.current().mode == Mode.SUPERVISED, (outcomes, caplog.text, modes.current())
    assert modes.current().source == "mqtt"
    assert modes.current().by == "ha"
    assert commands.rejected == 3, caplog.text
    end = time.monotonic() + 5
    while len(outcomes) < 2 and time.monotonic() < end:
        outcomes += commands.run()
        time.sleep(0.05)
    assert [o.ok for o in outcomes] == [True, False]  # the unknown event: refused, logged
    assert "no event 'nope'" in outcomes[1].detail
    lines = [r.getMessage() for r in caplog.records if "ignored a message" in r.getMessage()]
    assert len(lines) == 3 and all("\x00" not in line for line in lines), lines
    assert any("retained command" in line for line in lines)
    sender.close()
    link.close()
    store.close()


def test_a_login_variable_not_set_stops_guardian_run_with_one_line(tmp_path: Path) -> None:
    site = _site_file(
        tmp_path,
        "mqtt:\n  url: mqtt://127.0.0.1:1\n  username_env: T_MQTT_USER\n"
        "  password_env: T_MQTT_PASSWORD\n",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("T_MQTT_")}
    done = subprocess.run(
        [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 1
    assert "variables T_MQTT_USER and T_MQTT_PASSWORD are not set" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_broker_away_at_start_is_said_once_and_joined_when_it_comes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MQTT is a notification path: the site starts without it and catches up."""
    broker = Broker(tmp_path / "broker")  # not started yet
    site = _site_file(tmp_path, f"site: {{name: Villa Rosa}}\nmqtt: {{url: '{broker.url}'}}\n")
    bundle = load_site(site)
    store = Store(bundle.database_path)
    bus = build_site_bus(bundle, store, mode_manager(bundle, store))
    caplog.set_level(logging.INFO, logger="guardian.mqtt")
    started = time.monotonic()
    bus.start()
    assert time.monotonic() - started < 10
    assert "cannot reach the broker" in caplog.text and "keeps trying" in caplog.text
    broker.start()
    try:
        listener = Listener(broker.url, "guardian/#")
        listener.wait(
            lambda: (m := listener.latest("guardian/status")) and m.payload == b"online",
            30,
            "the site online once the broker is there",
        )
        listener.wait(lambda: listener.latest("guardian/mode"), 10, "the mode, retained")
        listener.close()
    finally:
        bus.close()
        store.close()
        broker.stop()


def test_a_prompt_answered_over_mqtt_switches_the_mode_as_an_sms_yes_would(
    broker: Broker, tmp_path: Path
) -> None:
    store = Store(tmp_path / "g.db")
    modes = ModeManager(store)
    now = time.time()
    store.prompt_log.add(
        PromptRequest(
            "p1",
            None,
            "lesson",
            "Swimming lesson now?",
            ("owner",),
            ("sms",),
            now + 600,
            on_yes=ModeRequest(Mode.SUPERVISED, duration=3600.0),
        ),
        now,
    )
    topics = Topics("g")
    link = MqttLink(MqttConfig(url=broker.url), client_id="site")
    commands = SiteCommands(link, topics, store, modes)
    commands.subscribe()
    link.connect()
    sender = Listener(broker.url, "nothing", client_id="sender")
    sender.publish(topics.prompt_answer(), b'{"prompt": "p1", "answer": "yes", "by": "alex"}')
    sender.publish(topics.prompt_answer(), b'{"prompt": "p1", "answer": "no"}')
    outcomes: list[Outcome] = []

    def answered() -> bool:
        outcomes.extend(commands.run())
        return len(outcomes) >= 2

    wait_until(answered, 10, "two answers")
    prompt = store.prompt_log.get("p1")
    assert prompt is not None and prompt.status == "accepted" and prompt.answered_by == "alex"
    state = modes.current()
    assert (state.mode, state.by, state.source) == (Mode.SUPERVISED, "alex", "mqtt")
    assert [o.ok for o in outcomes] == [True, False]  # answered already
    sender.close()
    link.close()
    store.close()


# --------------------------------------------------------------------------- a real run


@dataclass
class SiteRun:
    broker: Broker
    folder: Path
    site: Path
    database: Path
    process: subprocess.Popen[bytes]
    listener: Listener
    topics: Topics
    stderr: Path

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def alive(self) -> None:
        assert self.process.poll() is None, self.log()[-3000:]

    def rows(self, sql: str) -> list[dict[str, object]]:
        with sqlite3.connect(self.database, timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return scene_frames()


@pytest.fixture(scope="module")
def site_run(
    tmp_path_factory: pytest.TempPathFactory, frames: list[np.ndarray]
) -> Iterator[SiteRun]:
    """``guardian run`` with ``mqtt:``: a live camera where a person walks into the water
    zone (a critical entry event) and stays; a mosquitto; a listener on everything."""
    folder = tmp_path_factory.mktemp("mqtt-site")
    camera = LiveCamera([*frames[:K:3], frames[K - 1]], fps=6)  # then the last, for ever
    broker = Broker(folder / "broker").start()
    listener = Listener(broker.url, "guardian/#", "homeassistant/#")
    (folder / "zones.yaml").write_text(
        "zones:\n  - name: water\n    camera: pool\n    kind: water\n    units: px\n"
        f"    polygon: {ZONE}\n    inertia: 1\n"
    )
    (folder / "rules.yaml").write_text(
        "rules:\n  - id: entry\n    severity: critical\n"
        "    triggers: [{kind: zone_enter, zones: water}]\n"
        "    actions: [{kind: alert, contacts: [owner], channels: [console]}]\n"
    )
    site = folder / "site.yaml"
    site.write_text(
        f"site:\n  name: Villa Rosa\ncameras:\n  - id: pool\n    source: {camera.url}\n"
        "    fps: 3\nzones: [zones.yaml]\nrules: [rules.yaml]\n"
        "contacts:\n  - id: owner\n    channels: [console]\n"
        "health:\n  stalled_after: 0\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
        f"mqtt:\n  url: {broker.url}\n  keepalive: 5s\n"
    )
    stderr = folder / "stderr.txt"
    with stderr.open("wb") as err, (folder / "stdout.txt").open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet"],
            cwd=REPO,
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    run = SiteRun(broker, folder, site, folder / "guardian.db", process, listener, Topics(), stderr)
    try:
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        listener.close()
        broker.stop()
        camera.close()


def _state(run: SiteRun, topic: str) -> dict[str, object] | None:
    seen = run.listener.latest(topic)
    return None if seen is None else json.loads(seen.payload)


def test_a_run_announces_every_entity_and_its_retained_states(site_run: SiteRun) -> None:
    run, topics = site_run, site_run.topics
    expected = discovery_messages(
        site_name="Villa Rosa",
        node=node_id("guardian-villa-rosa"),
        topics=topics,
        discovery_prefix="homeassistant",
        cameras=["pool"],
        zones=[("pool", "water")],
    )
    for item in expected:
        seen = run.listener.wait(
            lambda item=item: run.listener.latest(item.topic), 120, f"discovery {item.topic}"
        )
        assert isinstance(seen, Seen) and json.loads(seen.payload) == item.config
    status = run.listener.wait(lambda: run.listener.latest(topics.status()), 30, "status")
    assert isinstance(status, Seen) and status.payload == b"online"
    mode = run.listener.wait(lambda: _state(run, topics.mode()), 30, "mode")
    assert isinstance(mode, dict) and mode["mode"] == "unsupervised"
    camera = run.listener.wait(
        lambda: (s := _state(run, topics.camera("pool"))) and s["status"] == "online" and s,
        120,
        "camera online",
    )
    assert camera == {"status": "online", "problem": False, "problems": []}
    count = run.listener.wait(
        lambda: (c := _state(run, topics.zone_count("pool", "water"))) and c["total"] and c,
        180,
        "somebody counted in the water zone",
    )
    assert isinstance(count, dict) and set(count) == {"total", "adult", "child", "unknown"}
    assert count["total"] == count["adult"] + count["child"] + count["unknown"]
    prompts = run.listener.wait(lambda: _state(run, topics.prompts()), 10, "prompts")
    assert prompts == {"count": 0, "prompts": []}
    # retained: a client that comes later gets the states at once
    late = Listener(run.broker.url, "guardian/#", client_id="late")
    late.wait(
        lambda: (
            {topics.status(), topics.mode(), topics.camera("pool")}
            <= {m.topic for m in late.seen() if m.retain}
        ),
        10,
        "retained states for a late subscriber",
    )
    late.close()
    run.alive()


def test_each_stored_event_is_published_once(site_run: SiteRun) -> None:
    run = site_run
    seen = run.listener.wait(
        lambda: run.listener.seen(run.topics.events()), 180, "the entry event on MQTT"
    )
    assert isinstance(seen, list)
    time.sleep(2)  # a duplicate would come now
    stored = {str(r["id"]) for r in run.rows("select id from events")}
    published = [json.loads(m.payload) for m in run.listener.seen(run.topics.events())]
    ids = [p["id"] for p in published]
    assert len(ids) == len(set(ids)), "an event was published twice"
    assert set(ids) <= stored, "an event was published but is not stored"
    first = published[0]
    assert first["rule"] == "entry" and first["event_type"] == "critical"
    assert first["camera"] == "pool" and first["zone"] == "water"
    assert not any(m.retain for m in run.listener.seen(run.topics.events()))
    run.alive()


def test_the_mode_is_switched_from_mqtt_and_guardian_mode_says_so(site_run: SiteRun) -> None:
    run, topics = site_run, site_run.topics
    run.listener.publish(
        topics.mode_set(),
        json.dumps({"mode": "supervised", "for": "1h", "by": "ha", "reason": "lesson"}),
    )
    state = run.listener.wait(
        lambda: (s := _state(run, topics.mode())) and s["mode"] == "supervised" and s,
        30,
        "supervised on the mode topic",
    )
    assert isinstance(state, dict) and state["by"] == "ha" and state["source"] == "mqtt"
    shown = subprocess.run(
        [sys.executable, "-m", "guardian", "mode", "--config", str(run.site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "mode: supervised until" in shown.stdout, shown.stdout + shown.stderr
    assert "by ha (mqtt): lesson" in shown.stdout, shown.stdout
    run.listener.publish(topics.mode_set(), "unsupervised")  # Home Assistant's select
    run.listener.wait(
        lambda: (s := _state(run, topics.mode())) and s["mode"] == "unsupervised",
        30,
        "unsupervised again",
    )
    run.alive()


def test_forged_malformed_and_oversized_commands_are_logged_and_ignored(
    site_run: SiteRun,
) -> None:
    run, topics = site_run, site_run.topics
    before = run.rows("select count(*) as n from mode_changes")[0]["n"]
    bad = [
        (topics.mode_set(), b'{"mode": "supervised", "for": "99h"}'),
        (topics.mode_set(), b'{"mode": "supervised", "admin": true}'),
        (topics.mode_set(), b"\xff" * 10),
        (topics.mode_set(), b"A" * 100_000),
        (topics.ack(), b'{"event": "x", "by": "' + b"z" * 500 + b'"}'),
        (topics.prompt_answer(), b'{"prompt": "nope", "answer": "sure"}'),
    ]
    for topic, payload in bad:
        run.listener.publish(topic, payload)
    run.listener.wait(
        lambda: run.log().count("ignored a message on") >= len(bad), 30, "a log line each"
    )
    assert "Traceback" not in run.log()
    assert "AAAA" not in run.log()
    time.sleep(1.5)  # a command that slipped through would have run by now
    assert run.rows("select count(*) as n from mode_changes")[0]["n"] == before
    # ... and the run goes on: a good command still works
    run.listener.publish(topics.mode_set(), b"supervised")
    run.listener.wait(
        lambda: (s := _state(run, topics.mode())) and s["mode"] == "supervised", 30, "supervised"
    )
    run.listener.publish(topics.mode_set(), b"unsupervised")
    run.alive()


def test_the_home_assistant_button_acknowledges_the_latest_critical_event(
    site_run: SiteRun,
) -> None:
    run, topics = site_run, site_run.topics
    run.listener.wait(lambda: run.listener.seen(topics.events()), 180, "an event")
    run.listener.publish(topics.ack(), b"PRESS")

    def acknowledged() -> list[dict[str, object]]:
        return run.rows("select * from events where acknowledged_at is not null")

    rows = run.listener.wait(acknowledged, 30, "the event acknowledged")
    assert isinstance(rows, list) and rows[0]["acknowledged_by"] == "mqtt"
    assert rows[0]["severity"] == "critical"
    run.alive()


def test_killed_the_site_is_marked_offline_by_its_last_will(site_run: SiteRun) -> None:
    """Last in this module: it ends the run."""
    run, topics = site_run, site_run.topics
    run.listener.wait(
        lambda: (m := run.listener.latest(topics.status())) and m.payload == b"online", 120
    )
    killed = time.monotonic()
    run.process.send_signal(signal.SIGKILL)
    run.process.wait(10)
    run.listener.wait(
        lambda: (m := run.listener.latest(topics.status())) and m.payload == b"offline",
        20,
        "offline from the will",
    )
    assert time.monotonic() - killed < 20
    # retained: whoever looks later sees the site offline
    late = Listener(run.broker.url, topics.status(), client_id="late2")
    late.wait(lambda: (m := late.latest(topics.status())) and m.payload == b"offline", 10)
    late.close()
