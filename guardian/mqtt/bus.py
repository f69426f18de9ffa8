"""The site's side of MQTT as the run sees it: one small protocol, a no-op, the real one.

The :class:`~guardian.pipeline.Runner` and the :class:`~guardian.dispatch.Dispatcher`
talk to a :class:`SiteBus` — one method per fact — and never to MQTT itself; without an
``mqtt:`` section they get :class:`NoBus`. :class:`MqttBus` publishes (``SitePublisher``),
takes commands (``SiteCommands``, run on the rule thread in ``tick``) and announces the
site to Home Assistant (discovery) after every connect.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from guardian.modes import ModeManager
from guardian.mqtt.commands import SiteCommands
from guardian.mqtt.discovery import Discovery
from guardian.mqtt.link import MqttLink
from guardian.mqtt.publisher import CameraState, SitePublisher
from guardian.records import Event, Observation
from guardian.store import Store

log = logging.getLogger("guardian.mqtt")

#: seconds a starting run waits for the broker before it goes on without it (the link
#: keeps trying in the background: MQTT is a notification path, the cameras come first)
CONNECT_WAIT = 5.0
#: seconds a stopping run waits for its last messages to reach the broker
CLOSE_WAIT = 3.0


class SiteBus(Protocol):
    """What the run tells the outside world, and when it takes its commands."""

    def start(self) -> None:
        """The run starts (connect; announce)."""

    def event(self, event: Event) -> None:
        """An event was stored (called after the commit, never before)."""

    def counts(self, obs: Observation) -> None:
        """An observation, after identity: its zone counts by role."""

    def tick(self, now: float, cameras: Sequence[CameraState]) -> None:
        """Once a second on the rule thread: commands, mode, prompts, camera states."""

    def close(self) -> None:
        """The run ends."""


class NoBus:
    """No ``mqtt:`` section: nothing is published, no command comes."""

    def start(self) -> None:
        pass

    def event(self, event: Event) -> None:
        pass

    def counts(self, obs: Observation) -> None:
        pass

    def tick(self, now: float, cameras: Sequence[CameraState]) -> None:
        pass

    def close(self) -> None:
        pass


class MqttBus:
    """The site on a broker: publisher, commands and Home Assistant discovery.

    ``store`` and ``modes`` are the rule thread's (``tick`` runs there).
    """

    def __init__(
        self,
        link: MqttLink,
        publisher: SitePublisher,
        commands: SiteCommands,
        store: Store,
        modes: ModeManager,
        *,
        discovery: Sequence[Discovery] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.link = link
        self.publisher = publisher
        self.commands = commands
        self.store = store
        self.modes = modes
        self.discovery = tuple(discovery)
        self.clock = clock

    def start(self) -> None:
        self.commands.subscribe()
        self.link.on_connect(self._announce)
        self.link.start()
        if not self.link.wait_connected(CONNECT_WAIT):
            why = self.link.refused or f"no answer within {CONNECT_WAIT:g}s"
            log.error(
                "mqtt: cannot reach the broker at %s:%s (%s): the site runs without it and "
                "keeps trying; events are stored as always",
                self.link.config.host,
                self.link.config.port,
                why,
            )
        self.tick(self.clock(), ())

    def _announce(self) -> None:
        """After every connect (network thread): discovery, online, the retained states."""
        for item in self.discovery:
            self.link.publish(item.topic, item.payload, qos=1, retain=True)
        self.publisher.online()
        self.publisher.republish()

    def event(self, event: Event) -> None:
        self.publisher.event(event)

    def counts(self, obs: Observation) -> None:
        self.publisher.counts(obs)

    def tick(self, now: float, cameras: Sequence[CameraState]) -> None:
        self.commands.run(now)
        try:
            self.publisher.mode(self.modes.current(now))
            pending = self.store.prompt_log.find("pending")
        except sqlite3.OperationalError as exc:  # busy: the next second
            log.info("mqtt: mode and prompts not read: the database is busy (%s)", exc)
        else:
            self.publisher.prompts([p for p in pending if p.expires_at > now])
        for state in cameras:
            self.publisher.camera(state)

    def close(self) -> None:
        self.publisher.offline()
        if not self.link.flush(CLOSE_WAIT):
            log.warning("mqtt: %d message(s) not acknowledged at stop", self.link.pending())
        self.link.close()


__all__ = ["CameraState", "MqttBus", "NoBus", "SiteBus"]
