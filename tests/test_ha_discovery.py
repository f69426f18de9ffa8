"""Home Assistant MQTT discovery: every config message the site publishes, checked against
the documented schema of its component, and every template rendered (with Jinja2, as
Home Assistant does) against the states the site really publishes on a real broker."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import jinja2
import paho.mqtt.client as paho
import pytest
from broker import Broker
from paho.mqtt.enums import CallbackAPIVersion

from guardian.app import build_site_bus
from guardian.app.site import mode_manager
from guardian.config import load_site
from guardian.mqtt.bus import MqttBus
from guardian.mqtt.discovery import COUNT_KEYS, discovery_messages, node_id
from guardian.mqtt.publisher import CameraState, event_json
from guardian.mqtt.topics import Topics
from guardian.records import (
    Box,
    Event,
    HealthProblem,
    Observation,
    Track,
    TrackState,
    ZoneCount,
    ZonePresence,
)
from guardian.store import Store
from guardian.vocab import Role, Severity

# -- the documented schema (https://www.home-assistant.io/integrations/mqtt/ and each
#    component's page: select.mqtt, sensor.mqtt, binary_sensor.mqtt, event.mqtt,
#    button.mqtt): required keys, and every key a component accepts
COMMON = {
    "availability",
    "availability_mode",
    "availability_template",
    "availability_topic",
    "device",
    "enabled_by_default",
    "entity_category",
    "icon",
    "json_attributes_template",
    "json_attributes_topic",
    "name",
    "object_id",
    "default_entity_id",
    "origin",
    "qos",
    "unique_id",
}
SCHEMA: dict[str, tuple[set[str], set[str]]] = {
    "select": (
        {"command_topic", "options"},
        {"command_template", "optimistic", "retain", "state_topic", "value_template"},
    ),
    "sensor": (
        {"state_topic"},
        {
            "device_class",
            "expire_after",
            "force_update",
            "last_reset_value_template",
            "options",
            "state_class",
            "suggested_display_precision",
            "unit_of_measurement",
            "value_template",
        },
    ),
    "binary_sensor": (
        {"state_topic"},
        {
            "device_class",
            "expire_after",
            "force_update",
            "off_delay",
            "payload_off",
            "payload_on",
            "value_template",
        },
    ),
    "event": ({"state_topic", "event_types"}, {"device_class", "value_template"}),
    "button": (
        {"command_topic"},
        {"command_template", "device_class", "payload_press", "retain"},
    ),
}
DEVICE_KEYS = {
    "configuration_url",
    "connections",
    "hw_version",
    "identifiers",
    "manufacturer",
    "model",
    "model_id",
    "name",
    "serial_number",
    "suggested_area",
    "sw_version",
    "via_device",
}
BINARY_CLASSES = {"connectivity", "problem", "motion", "occupancy", "safety", "running"}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
TOPIC_RE = re.compile(r"^homeassistant/([a-z_]+)/([A-Za-z0-9_-]+)/([A-Za-z0-9_-]+)/config$")
MQTT_TOPIC_RE = re.compile(r"^[^+#\x00]+$")


def check_entity(topic: str, config: dict[str, Any]) -> list[str]:
    """What is wrong with one discovery message, by Home Assistant's documented schema."""
    wrong = []
    match = TOPIC_RE.match(topic)
    if not match:
        return [f"{topic}: not <prefix>/<component>/<node_id>/<object_id>/config"]
    component = match.group(1)
    if component not in SCHEMA:
        return [f"{topic}: component {component} is not one we mean to publish"]
    required, allowed = SCHEMA[component]
    for key in sorted(required - set(config)):
        wrong.append(f"{topic}: missing required '{key}'")
    for key in sorted(set(config) - required - allowed - COMMON):
        wrong.append(f"{topic}: '{key}' is not a {component} option")
    for key in ("state_topic", "command_topic", "json_attributes_topic"):
        if key in config and not (
            isinstance(config[key], str) and MQTT_TOPIC_RE.match(config[key])
        ):
            wrong.append(f"{topic}: {key} must be a topic without wildcards")
    if not isinstance(config.get("unique_id"), str) or not config["unique_id"]:
        wrong.append(f"{topic}: no unique_id (entities would not keep their settings)")
    device = config.get("device", {})
    if not isinstance(device, dict) or not device.get("identifiers"):
        wrong.append(f"{topic}: device needs identifiers")
    elif set(device) - DEVICE_KEYS:
        wrong.append(f"{topic}: unknown device keys {sorted(set(device) - DEVICE_KEYS)}")
    for item in config.get("availability", []):
        if set(item) - {"topic", "payload_available", "payload_not_available", "value_template"}:
            wrong.append(f"{topic}: unknown availability keys")
        if "topic" not in item:
            wrong.append(f"{topic}: availability needs a topic")
    if component == "select" and not (
        isinstance(config.get("options"), list)
        and all(isinstance(o, str) for o in config["options"])
    ):
        wrong.append(f"{topic}: options must be a list of strings")
    if component == "event" and not (
        isinstance(config.get("event_types"), list) and config["event_types"]
    ):
        wrong.append(f"{topic}: event_types must be a non-empty list")
    if component == "binary_sensor" and config.get("device_class") not in BINARY_CLASSES:
        wrong.append(f"{topic}: binary_sensor device_class {config.get('device_class')}")
    if "state_class" in config and config["state_class"] not in STATE_CLASSES:
        wrong.append(f"{topic}: state_class {config['state_class']}")
    for key in ("value_template",):
        if key in config:
            try:
                jinja2.Environment().parse(config[key])
            except jinja2.TemplateSyntaxError as exc:
                wrong.append(f"{topic}: {key} does not parse: {exc}")
    return wrong


def render(template: str, payload: bytes) -> str:
    """A value_template applied as Home Assistant does (``value`` and ``value_json``)."""
    text = payload.decode()
    try:
        value_json = json.loads(text)
    except ValueError:
        value_json = None
    return jinja2.Environment().from_string(template).render(value=text, value_json=value_json)


def _messages() -> list[tuple[str, dict[str, Any]]]:
    items = discovery_messages(
        site_name="Villa Rosa",
        node=node_id("guardian-villa-rosa"),
        topics=Topics("guardian"),
        discovery_prefix="homeassistant",
        cameras=["pool", "gate-2"],
        zones=[("pool", "water"), ("pool", "deck"), ("gate-2", "path")],
    )
    return [(m.topic, json.loads(m.payload)) for m in items]


def test_the_schema_check_finds_what_is_wrong() -> None:
    """The checker cannot pass by seeing nothing."""
    topic, good = next((t, c) for t, c in _messages() if "/select/" in t)
    assert check_entity(topic, good) == []
    bad = {k: v for k, v in good.items() if k != "command_topic"} | {"colour": "red"}
    assert len(check_entity(topic, bad)) == 2
    assert check_entity("homeassistant/select/x/config", good)
    sensor = {"name": "x", "unique_id": "u", "device": {"identifiers": ["d"]}}
    assert check_entity("homeassistant/sensor/n/o/config", sensor) == [
        "homeassistant/sensor/n/o/config: missing required 'state_topic'"
    ]


def test_every_discovery_message_follows_the_documented_schema() -> None:
    messages = _messages()
    problems = [p for topic, config in messages for p in check_entity(topic, config)]
    assert problems == []
    components = sorted({topic.split("/")[1] for topic, _ in messages})
    assert components == ["binary_sensor", "button", "event", "select", "sensor"]
    unique = [c["unique_id"] for _, c in messages]
    assert len(unique) == len(set(unique)), "two entities share a unique_id"
    assert len({json.dumps(c["device"], sort_keys=True) for _, c in messages}) == 1
    # the counts: one sensor per zone and role; two binary sensors per camera
    sensors = [c for t, c in messages if "/sensor/" in t and "zone_" in t]
    assert len(sensors) == 3 * len(COUNT_KEYS)
    assert len([t for t, _ in messages if "/binary_sensor/" in t]) == 4
    # stable across restarts: the same site gives the same ids
    assert [c["unique_id"] for _, c in _messages()] == unique


def _observation() -> Observation:
    def track(i: int, role: Role) -> Track:
        return Track(
            camera="pool",
            track_id=i,
            state=TrackState.TRACKED,
            box=Box(0.0, 0.0, 10.0, 10.0),
            score=0.9,
            keypoints=(),
            first_seen=0.0,
            last_seen=1.0,
            hits=5,
            role=role,
        )

    return Observation(
        camera="pool",
        frame_index=1,
        timestamp=1.0,
        pts=1.0,
        width=640,
        height=480,
        tracks=(track(1, Role.ADULT), track(2, Role.CHILD), track(3, Role.CHILD)),
        presences=(
            ZonePresence("water", 2, 0.5, True),
            ZonePresence("water", 3, 0.5, True),
            ZonePresence("deck", 1, 0.5, True),
        ),
        transitions=(),
        counts=(ZoneCount("water", "water", 2, 2), ZoneCount("deck", "pool_area", 1, 1)),
    )


@pytest.fixture
def published(broker: Broker, tmp_path: Path) -> dict[str, bytes]:
    """The real site bus of a site file on a real broker: every retained message a
    subscriber gets after the bus started, told one observation and camera states."""
    (tmp_path / "pool.mp4").write_bytes(b"")
    (tmp_path / "zones.yaml").write_text(
        "zones:\n"
        "  - {name: water, camera: pool, kind: water, polygon: [[0,0],[1,0],[1,1]]}\n"
        "  - {name: deck, camera: pool, kind: pool_area, polygon: [[0,0],[1,0],[0,1]]}\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text(
        "site: {name: Villa Rosa}\ncameras:\n  - {id: pool, source: pool.mp4}\n"
        f"zones: [zones.yaml]\nmqtt: {{url: '{broker.url}'}}\n"
    )
    bundle = load_site(site)
    store = Store(bundle.database_path)
    bus = build_site_bus(bundle, store, mode_manager(bundle, store))
    assert isinstance(bus, MqttBus)
    bus.start()
    bus.counts(_observation())
    bus.tick(time.time(), [CameraState("pool", False, (HealthProblem.OFFLINE,))])
    assert bus.link.flush(5)
    seen: dict[str, bytes] = {}
    lock = threading.Lock()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="home-assistant")

    def on_message(_c: paho.Client, _u: object, msg: paho.MQTTMessage) -> None:
        with lock:
            seen[msg.topic] = bytes(msg.payload)

    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe([("homeassistant/#", 1), ("guardian/#", 1)])
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    expected = {item.topic for item in bus.discovery}
    end = time.monotonic() + 15
    while time.monotonic() < end and not expected <= set(seen):
        time.sleep(0.05)
    time.sleep(0.3)
    client.disconnect()
    client.loop_stop()
    bus.close()
    store.close()
    with lock:
        return dict(seen)


def test_a_subscriber_gets_every_entity_and_every_template_reads_the_real_states(
    published: dict[str, bytes],
) -> None:
    configs = {t: json.loads(p) for t, p in published.items() if t.startswith("homeassistant/")}
    assert len(configs) == 4 + 2 + 2 * len(COUNT_KEYS)  # site + camera + 2 zones × roles
    assert [p for t, c in configs.items() for p in check_entity(t, c)] == []
    values: dict[str, str] = {}
    for config in configs.values():
        state = config.get("state_topic")
        if state is None or "value_template" not in config:
            continue
        assert state in published, f"{config['name']}: nothing retained on {state}"
        values[config["unique_id"]] = render(config["value_template"], published[state])
        for item in config["availability"]:
            assert published[item["topic"]] == item["payload_available"].encode()
    node = node_id("guardian-villa-rosa")
    assert values[f"{node}_mode"] == "unsupervised"
    mode = next(c for c in configs.values() if c["unique_id"] == f"{node}_mode")
    assert values[f"{node}_mode"] in mode["options"]
    assert values[f"{node}_camera_pool_connected"] == "OFF"
    assert values[f"{node}_camera_pool_problem"] == "ON"
    assert values[f"{node}_zone_pool_water_total"] == "2"
    assert values[f"{node}_zone_pool_water_child"] == "2"
    assert values[f"{node}_zone_pool_water_adult"] == "0"
    assert values[f"{node}_zone_pool_deck_adult"] == "1"
    assert values[f"{node}_open_prompts"] == "0"


def test_an_event_payload_is_a_home_assistant_event() -> None:
    """The event entity needs ``event_type`` among its ``event_types``."""
    event = Event(
        "e1",
        "entry",
        "Pool entry",
        "pool",
        "water",
        3,
        None,
        Severity.CRITICAL,
        10.0,
        None,
        "A child entered the water",
        7,
    )
    payload = event_json(event, "Europe/Paris")
    entity = next(c for t, c in _messages() if "/event/" in t)
    assert payload["event_type"] in entity["event_types"]
    assert payload["text"] == "Pool entry: A child entered the water"
    assert payload["time"] == "1970-01-01T01:00:10+01:00"
    json.dumps(payload)
