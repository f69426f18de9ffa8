"""Console and log channels: always available, no secrets."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

from guardian.effects import Notification

log = logging.getLogger("guardian.alerts")


class ConsoleNotifier:
    """Prints one line per notification to a stream (stdout by default)."""

    channel = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def ready(self, contact: str) -> bool:
        """Always: the console needs no address."""
        return True

    def send(self, notification: Notification) -> str | None:
        stream = self.stream or sys.stdout
        line = f"ALERT [{notification.severity}] {notification.message}\n"
        with self._lock:  # one write: a line from another thread never lands inside it
            stream.write(line)
            stream.flush()
        return None


class LogNotifier:
    """Writes notifications to the ``guardian.alerts`` logger."""

    channel = "log"

    def ready(self, contact: str) -> bool:
        """Always: the log needs no address."""
        return True

    def send(self, notification: Notification) -> str | None:
        level = logging.WARNING if notification.severity != "info" else logging.INFO
        log.log(level, "alert for %s: %s", notification.contact, notification.message)
        return None
