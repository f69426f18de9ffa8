"""What the site tells the broker: events, the mode, zone counts, camera states, prompts.

:class:`SitePublisher` turns each fact into one JSON message on its topic
(:class:`~guardian.mqtt.topics.Topics`). Events go out once each (QoS 1, not retained)
and only after they are stored: MQTT is a notification path, the database is the
record. Everything else is a retained state, published when it changes and again after
every reconnect (a broker that restarted without persistence gets it back).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from guardian.mqtt.link import MqttLink
from guardian.mqtt.topics import OFFLINE, ONLINE, Topics
from guardian.records import Event, HealthProblem, Observation
from guardian.rules.actions import event_text
from guardian.store import ModeState
from guardian.store.prompts import Prompt
from guardian.timefmt import local_time
from guardian.vocab import Role


@dataclass(frozen=True, slots=True)
class CameraState:
    """A camera as the broker shows it: online or not, and its open problems."""

    camera: str
    online: bool
    problems: tuple[HealthProblem, ...] = ()

    @property
    def problem(self) -> bool:
        """True while the camera cannot watch or cannot be trusted (any open problem)."""
        return bool(self.problems) or not self.online


def _iso(timestamp: float | None, timezone: str) -> str | None:
    return None if timestamp is None else local_time(timestamp, timezone).isoformat()


def event_json(event: Event, timezone: str) -> dict[str, Any]:
    """One event as published on ``<prefix>/events`` (and as Home Assistant's event)."""
    return {
        "event_type": str(event.severity),
        "id": event.event_id,
        "rule": event.rule_id,
        "alias": event.rule_alias,
        "camera": event.camera,
        "zone": event.zone,
        "track": event.track_id,
        "person": event.person_id,
        "severity": str(event.severity),
        "status": str(event.status),
        "text": event_text(event),
        "started_at": event.started_at,
        "ended_at": event.ended_at,
        "time": _iso(event.started_at, timezone),
    }


def mode_json(state: ModeState, timezone: str) -> dict[str, Any]:
    return {
        "mode": str(state.mode),
        "since": state.since,
        "until": state.until,
        "until_time": _iso(state.until, timezone),
        "by": state.by,
        "reason": state.reason,
        "source": state.source,
    }


def prompt_json(prompt: Prompt, timezone: str) -> dict[str, Any]:
    return {
        "id": prompt.prompt_id,
        "question": prompt.question,
        "event": prompt.event_id,
        "rule": prompt.rule_id,
        "expires_at": prompt.expires_at,
        "expires_time": _iso(prompt.expires_at, timezone),
        "on_yes": None if prompt.on_yes is None else str(prompt.on_yes.mode),
    }


def zone_counts(obs: Observation) -> dict[str, dict[str, int]]:
    """zone → {"total": n, "adult": n, "child": n, "unknown": n} for one observation.

    ``total`` counts the people inside, lost ones too (as the rules do); the roles
    split that total by the role of each person's track.
    """
    roles = {t.track_id: t.role for t in obs.tracks}
    out: dict[str, dict[str, int]] = {}
    for count in obs.counts:
        by_role = Counter(
            roles.get(p.track_id, Role.UNKNOWN) for p in obs.presences if p.zone == count.zone
        )
        out[count.zone] = {"total": count.total} | {str(r): by_role.get(r, 0) for r in Role}
    return out


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


class SitePublisher:
    """Publishes the site's facts on one link; retained states only when they change.

    Thread-safe: events come from the rule thread, re-publishing from the network
    thread after a reconnect.
    """

    def __init__(self, link: MqttLink, topics: Topics, *, timezone: str = "UTC") -> None:
        self.link = link
        self.topics = topics
        self.timezone = timezone
        self._lock = threading.Lock()
        #: topic → the retained payload last published (re-sent after a reconnect)
        self._retained: dict[str, bytes] = {}

    def _state(self, topic: str, payload: bytes, *, force: bool = False) -> None:
        with self._lock:
            if not force and self._retained.get(topic) == payload:
                return
            self._retained[topic] = payload
        self.link.publish(topic, payload, qos=1, retain=True)

    def online(self) -> None:
        """The site process is up (its last-will says ``offline``)."""
        self._state(self.topics.status(), ONLINE.encode(), force=True)

    def offline(self) -> None:
        """A clean stop: the will is not sent then, so say it."""
        self._state(self.topics.status(), OFFLINE.encode(), force=True)

    def event(self, event: Event) -> None:
        """One stored event: one message, QoS 1, not retained."""
        self.link.publish(
            self.topics.events(), _dumps(event_json(event, self.timezone)), qos=1, retain=False
        )

    def mode(self, state: ModeState) -> None:
        self._state(self.topics.mode(), _dumps(mode_json(state, self.timezone)))

    def counts(self, obs: Observation) -> None:
        """Each zone's count by role, when it changed."""
        for zone, count in zone_counts(obs).items():
            self._state(self.topics.zone_count(obs.camera, zone), _dumps(count))

    def camera(self, state: CameraState) -> None:
        payload = {
            "status": ONLINE if state.online else OFFLINE,
            "problem": state.problem,
            "problems": [str(p) for p in state.problems],
        }
        self._state(self.topics.camera(state.camera), _dumps(payload))

    def prompts(self, prompts: Sequence[Prompt]) -> None:
        """The open questions (a retained list; empty when none)."""
        items = [prompt_json(p, self.timezone) for p in prompts]
        self._state(self.topics.prompts(), _dumps({"prompts": items, "count": len(items)}))

    def republish(self) -> None:
        """Every retained state again (after a reconnect)."""
        with self._lock:
            states = list(self._retained.items())
        for topic, payload in states:
            self.link.publish(topic, payload, qos=1, retain=True)


__all__ = [
    "CameraState",
    "SitePublisher",
    "event_json",
    "mode_json",
    "prompt_json",
    "zone_counts",
]
