"""A real mosquitto broker for the tests: a free 127.0.0.1 port, its own config and folder.

``Broker(tmp).start()`` runs Debian's ``mosquitto`` (persistence on, so QoS 1 messages
for a persistent session survive :meth:`Broker.restart`), ``stop()`` ends it (SIGTERM,
its persistence file written), ``restart()`` brings it back on the same port.
``extra`` lines go into the config (a password file, an ACL file …).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest


def _missing(reason: str) -> NoReturn:
    """Skip; fail when GUARDIAN_REQUIRE_BROWSER is set (CI: make installed the system
    packages, mosquitto among them — scripts/system-deps)."""
    if os.environ.get("GUARDIAN_REQUIRE_BROWSER"):
        pytest.fail(reason + " — GUARDIAN_REQUIRE_BROWSER is set")
    pytest.skip(reason)


def mosquitto_exe() -> str | None:
    """The mosquitto binary (Debian puts it in /usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def tool(name: str, package: str = "mosquitto") -> str:
    """``mosquitto_pub`` / ``mosquitto_passwd`` / ``systemd-analyze`` ... or skip (fail in
    CI: scripts/system-deps installs them)."""
    for candidate in (shutil.which(name), f"/usr/bin/{name}", f"/usr/sbin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    _missing(f"{name} is not installed (apt-get install {package})")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """One mosquitto process on 127.0.0.1 with a config written into ``folder``."""

    def __init__(
        self, folder: Path, *, extra: list[str] | None = None, anonymous: bool = True
    ) -> None:
        exe = mosquitto_exe()
        if exe is None:
            _missing("mosquitto is not installed (scripts/system-deps installs it)")
        self.exe = exe
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = folder / "mosquitto.log"
        self.conf = folder / "mosquitto.conf"
        lines = [
            # run as root (a container), mosquitto would drop to user 'mosquitto', who
            # cannot read the test's files: stay the user running the tests
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
            "per_listener_settings false",
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if anonymous else 'false'}",
            "persistence true",
            f"persistence_location {folder}/",
            "autosave_interval 1",
            f"log_dest file {self.log}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "max_queued_messages 100000",
            *(extra or []),
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> Broker:
        self.process = subprocess.Popen(
            [self.exe, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                raise RuntimeError(f"mosquitto exited at start: {err}\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stderr:
            self.process.stderr.close()
        self.process = None

    def restart(self) -> Broker:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
