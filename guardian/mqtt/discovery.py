"""Home Assistant MQTT discovery: the site as one device with its entities.

Each entity is one retained config message on
``<discovery_prefix>/<component>/<node_id>/<object_id>/config`` (Home Assistant's
discovery layout), published after every connect:

* ``select`` ``mode`` — the site mode (state ``<prefix>/mode``, command ``<prefix>/mode/set``);
* ``sensor`` per zone and role — people in the zone (``total``, ``adult``, ``child``,
  ``unknown``), and one for the open mode questions;
* two ``binary_sensor`` per camera — ``connectivity`` (online) and ``problem``;
* ``event`` ``alert`` — one per stored event, ``event_type`` its severity;
* ``button`` ``acknowledge`` — acknowledges the latest unacknowledged critical event.

Every entity shares the site's ``device`` and is available while the site's status
topic says ``online`` (its last-will says ``offline``). ``unique_id`` is
``<node_id>_<object_id>``, the node id coming from the MQTT client id (or the site name),
so entities keep their history across restarts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardian import __version__
from guardian.mqtt.topics import OFFLINE, ONLINE, Topics
from guardian.vocab import MODES, Role, Severity

#: the roles a zone sensor is published for, besides ``total``
COUNT_KEYS: tuple[str, ...] = ("total", *(str(r) for r in Role))


@dataclass(frozen=True, slots=True)
class Discovery:
    """One entity's discovery message."""

    component: str
    object_id: str
    topic: str
    config: dict[str, Any]

    @property
    def payload(self) -> bytes:
        return json.dumps(self.config, separators=(",", ":"), sort_keys=True).encode()


def node_id(client_id: str) -> str:
    """The discovery node id: the client id with only ``[a-zA-Z0-9_]``."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", client_id).strip("_") or "guardian"


def discovery_messages(
    *,
    site_name: str,
    node: str,
    topics: Topics,
    discovery_prefix: str,
    cameras: Sequence[str],
    zones: Sequence[tuple[str, str]],
) -> list[Discovery]:
    """Every entity of the site; ``zones`` are (camera, zone) pairs."""
    device = {
        "identifiers": [node],
        "name": site_name,
        "manufacturer": "Guardian",
        "model": "Guardian site",
        "sw_version": __version__,
    }
    availability = [
        {
            "topic": topics.status(),
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
        }
    ]

    def entity(component: str, object_id: str, name: str, **config: Any) -> Discovery:
        body = {
            "name": name,
            "unique_id": f"{node}_{object_id}",
            "device": device,
            "availability": availability,
            **config,
        }
        topic = f"{discovery_prefix}/{component}/{node}/{object_id}/config"
        return Discovery(component, object_id, topic, body)

    out = [
        entity(
            "select",
            "mode",
            "Mode",
            state_topic=topics.mode(),
            value_template="{{ value_json.mode }}",
            command_topic=topics.mode_set(),
            options=[str(m) for m in MODES],
            icon="mdi:shield-account",
        ),
        entity(
            "event",
            "alert",
            "Alert",
            state_topic=topics.events(),
            event_types=[str(s) for s in Severity],
            icon="mdi:alert",
        ),
        entity(
            "button",
            "acknowledge",
            "Acknowledge latest critical alert",
            command_topic=topics.ack(),
            payload_press="PRESS",
            icon="mdi:check-circle",
        ),
        entity(
            "sensor",
            "open_prompts",
            "Open mode questions",
            state_topic=topics.prompts(),
            value_template="{{ value_json.count }}",
            state_class="measurement",
            icon="mdi:comment-question",
        ),
    ]
    for camera in cameras:
        state = topics.camera(camera)
        out.append(
            entity(
                "binary_sensor",
                f"camera_{camera}_connected".replace("-", "_"),
                f"Camera {camera}",
                state_topic=state,
                device_class="connectivity",
                value_template="{{ 'ON' if value_json.status == 'online' else 'OFF' }}",
            )
        )
        out.append(
            entity(
                "binary_sensor",
                f"camera_{camera}_problem".replace("-", "_"),
                f"Camera {camera} problem",
                state_topic=state,
                device_class="problem",
                value_template="{{ 'ON' if value_json.problem else 'OFF' }}",
                json_attributes_topic=state,
            )
        )
    for camera, zone in zones:
        for key in COUNT_KEYS:
            who = "people" if key == "total" else f"{key} people"
            out.append(
                entity(
                    "sensor",
                    f"zone_{camera}_{zone}_{key}".replace("-", "_"),
                    f"{zone} ({camera}) {who}",
                    state_topic=topics.zone_count(camera, zone),
                    value_template=f"{{{{ value_json.{key} }}}}",
                    state_class="measurement",
                    unit_of_measurement="people",
                    icon="mdi:account-group",
                )
            )
    return out


__all__ = ["COUNT_KEYS", "Discovery", "discovery_messages", "node_id"]
