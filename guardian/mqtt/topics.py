"""Every MQTT topic Guardian uses, in one place (``<prefix>`` is ``mqtt: topic_prefix``).

Site → world (retained unless said otherwise)::

    <prefix>/status                          site availability: online / offline (last-will)
    <prefix>/events                          one JSON message per event (QoS 1, not retained)
    <prefix>/mode                            the site mode (JSON)
    <prefix>/prompts                         the open mode questions (JSON list)
    <prefix>/zones/<camera>/<zone>/count     people in a zone, by role (JSON)
    <prefix>/cameras/<camera>/state          online / offline and the camera's problem (JSON)

World → site (commands, never retained by Guardian)::

    <prefix>/mode/set                        {"mode": ..., "for": ..., "by": ..., "reason": ...}
    <prefix>/ack                             {"event": <id>, "by": ...} or PRESS (latest critical)
    <prefix>/prompts/answer                  {"prompt": <id>, "answer": "yes" | "no", "by": ...}

Camera workers ↔ site::

    <prefix>/workers/<worker>/status         worker availability: online / offline (last-will)
    <prefix>/cameras/<camera>/observations   observations (QoS 1, ordered per camera)
    <prefix>/workers/<worker>/clips/request  the site asks a worker for a clip
    <prefix>/workers/<worker>/waiting        the worker's cameras a rule waits on (JSON list,
                                             retained): their models keep running
    <prefix>/cameras/<camera>/clips/ready    a worker says a clip was handed over
"""

from __future__ import annotations

import re

#: one topic level built from an id: no '/', no wildcard, no '$'
_LEVEL_RE = re.compile(r"^[A-Za-z0-9_-]+$")

#: availability payloads (site and workers)
ONLINE = "online"
OFFLINE = "offline"


def level(value: str) -> str:
    """``value`` as one topic level; ValueError for '/', '+', '#', '$' or empty."""
    if not _LEVEL_RE.match(value):
        raise ValueError(f"'{value}' cannot be an MQTT topic level (letters, digits, _ and -)")
    return value


class Topics:
    """The topic names under one prefix."""

    def __init__(self, prefix: str = "guardian") -> None:
        self.prefix = prefix.rstrip("/")

    def _t(self, *levels: str) -> str:
        return "/".join((self.prefix, *levels))

    # site → world
    def status(self) -> str:
        """The site process's availability (its last-will says offline)."""
        return self._t("status")

    def events(self) -> str:
        return self._t("events")

    def mode(self) -> str:
        return self._t("mode")

    def prompts(self) -> str:
        return self._t("prompts")

    def zone_count(self, camera: str, zone: str) -> str:
        return self._t("zones", level(camera), level(zone), "count")

    def camera(self, camera: str) -> str:
        """A camera's retained state: online / offline and its problem."""
        return self._t("cameras", level(camera), "state")

    # world → site
    def mode_set(self) -> str:
        return self._t("mode", "set")

    def ack(self) -> str:
        return self._t("ack")

    def prompt_answer(self) -> str:
        return self._t("prompts", "answer")

    # workers ↔ site
    def worker(self, name: str) -> str:
        """A worker's availability (its last-will says offline)."""
        return self._t("workers", level(name), "status")

    def workers(self) -> str:
        """Filter for every worker's availability."""
        return self._t("workers", "+", "status")

    def observations(self, camera: str) -> str:
        return self._t("cameras", level(camera), "observations")

    def clip_request(self, worker: str) -> str:
        return self._t("workers", level(worker), "clips", "request")

    def waiting(self, worker: str) -> str:
        """The worker's cameras a rule of the site waits on (a submersion timer)."""
        return self._t("workers", level(worker), "waiting")

    def clip_ready(self, camera: str) -> str:
        return self._t("cameras", level(camera), "clips", "ready")

    def camera_of(self, topic: str) -> str | None:
        """The camera id in a ``<prefix>/cameras/<camera>/...`` topic, else None."""
        head = self._t("cameras") + "/"
        if not topic.startswith(head):
            return None
        rest = topic[len(head) :].split("/", 1)[0]
        return rest if _LEVEL_RE.match(rest) else None

    def worker_of(self, topic: str) -> str | None:
        """The worker name in a ``<prefix>/workers/<worker>/...`` topic, else None."""
        head = self._t("workers") + "/"
        if not topic.startswith(head):
            return None
        rest = topic[len(head) :].split("/", 1)[0]
        return rest if _LEVEL_RE.match(rest) else None


__all__ = ["OFFLINE", "ONLINE", "Topics", "level"]
