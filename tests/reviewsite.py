"""A small real site for the review page tests: site file, SQLite events, real clip files.

The clip is a real H.264 MP4 made by ffmpeg (imageio-ffmpeg's static build); clip rows
are written the way the clips stage stores them (paths relative to the clips folder).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import cv2
import imageio_ffmpeg
import numpy as np

from guardian.config import SiteBundle, load_site
from guardian.effects import ClipRequest
from guardian.records import Event, HealthChange, HealthProblem, Severity
from guardian.review.auth import hash_password
from guardian.review.server import ReviewApp, ReviewServer
from guardian.store import Store, clip_row_id

PASSWORD = "correct horse battery staple"
TZ = "Europe/Paris"
#: the review page's clock: the morning after the night of 2026-11-22
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo(TZ)).timestamp()
SECRET = b"k" * 48
#: the JSON API's bearer token in start_server's environment (named "home")
API_TOKEN = "api-token-" + "t" * 40
_HASH = hash_password(PASSWORD)


def at(day: int, hour: int, minute: int = 0) -> float:
    """Epoch seconds of 2026-11-<day> hour:minute in the site's time zone."""
    return datetime(2026, 11, day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp()


def make_mp4(path: Path, seconds: float = 4.0) -> Path:
    """A real browser-playable H.264 MP4 (testsrc, 320x240, 10 fps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=10",
            "-t",
            str(seconds),
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        timeout=60,
    )
    return path


def make_jpeg(path: Path, color: tuple[int, int, int] = (40, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((120, 160, 3), color, dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def site_file(root: Path, extra: str = "", review: str = "") -> Path:
    """A one-camera site (USB index: nothing to open) with a review section."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "guardian.yaml"
    config.write_text(
        f"site:\n  name: Test pool\n  timezone: {TZ}\n"
        "cameras:\n  - id: pool\n    source: 0\n  - id: gate\n    source: 1\n"
        "contacts:\n"
        "  - id: alex\n    phone_env: REVIEW_TEST_ALEX_PHONE\n    channels: [console, sms]\n"
        "  - id: gran\n    remote: true\n"
        f"review:\n  password_hash: '{_HASH}'\n  user: alex\n{review}" + extra
    )
    return config


def add_event(
    store: Store,
    event_id: str,
    *,
    started_at: float,
    severity: Severity = Severity.WARNING,
    camera: str = "pool",
    rule_id: str = "water_entry",
    message: str = "",
) -> Event:
    event = Event(
        event_id=event_id,
        rule_id=rule_id,
        rule_alias=rule_id.replace("_", " ").capitalize(),
        camera=camera,
        zone="water",
        track_id=1,
        person_id=None,
        severity=severity,
        started_at=started_at,
        ended_at=started_at + 3,
        message=message or f"{rule_id} on {camera}",
        frame_index=10,
    )
    store.event_log.add(event, time.time())
    return event


def add_clip(
    store: Store,
    event_id: str,
    camera: str,
    *,
    path: str | None,
    thumbnail: str | None = None,
    snapshot: str | None = None,
    status: str = "written",
    reason: str | None = None,
) -> None:
    """A clip row as the clips stage writes it (paths relative to the clips folder)."""
    store.clip_log.add_request(ClipRequest(event_id, camera, 0.0, 4.0), time.time())
    store.clip_log.update(
        [clip_row_id(event_id, camera)],
        path=path,
        thumbnail_path=thumbnail,
        snapshot_path=snapshot,
        start=0.0,
        end=4.0,
        size_bytes=0,
        status=status,
        reason=reason,
    )


@dataclass
class Night:
    """The fixed set of events of the night of 2026-11-22 (and two outside it)."""

    bundle: SiteBundle
    store: Store
    video: Path
    ids: dict[str, str] = field(default_factory=dict)


def build_night(root: Path, sample_mp4: Path, *, review: str = "") -> Night:
    bundle = load_site(site_file(root, review=review))
    store = Store(bundle.database_path)
    clips = bundle.clips_dir
    rel = "pool/2026-11-22/ev-crit.mp4"
    video = clips / rel
    video.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample_mp4, video)
    make_jpeg(clips / "pool/2026-11-22/ev-crit.jpg")
    make_jpeg(clips / "pool/2026-11-22/ev-crit-snapshot.jpg", (0, 0, 255))
    night = Night(bundle, store, video)
    night.ids = {
        "crit": add_event(
            store,
            "ev-crit",
            started_at=at(23, 2, 14),
            severity=Severity.CRITICAL,
            rule_id="submersion",
            message="Possible submersion in the water",
        ).event_id,
        "warn": add_event(store, "ev-warn", started_at=at(22, 21, 5)).event_id,
        "info": add_event(
            store,
            "ev-info",
            started_at=at(22, 23, 30),
            severity=Severity.INFO,
            camera="gate",
            rule_id="gate_open",
            message="Gate left open",
        ).event_id,
        "skipped": add_event(
            store,
            "ev-skip",
            started_at=at(23, 5, 0),
            rule_id="water_entry",
            message="Someone entered the water",
        ).event_id,
        "before": add_event(store, "ev-before", started_at=at(22, 12, 0)).event_id,
        "after": add_event(store, "ev-after", started_at=at(23, 10, 0)).event_id,
    }
    add_clip(
        store,
        "ev-crit",
        "pool",
        path=rel,
        thumbnail="pool/2026-11-22/ev-crit.jpg",
        snapshot="pool/2026-11-22/ev-crit-snapshot.jpg",
    )
    add_clip(store, "ev-skip", "pool", path=None, status="skipped", reason="disk full")
    return night


def watch_the_night(store: Store) -> None:
    """Both cameras watched 22:00 → 07:00 (clean stop), the pool camera offline
    02:14 → 02:31: the rows ``guardian run`` writes (heartbeats and a problem span)."""
    for camera in ("pool", "gate"):
        store.camera_health.begin_watch("run-night", camera, at(22, 22))
        store.camera_health.beat(
            "run-night", camera, at(23, 7), last_frame=at(23, 7), frames=324000, fps=10.0
        )
    store.camera_health.record(
        HealthChange("pool", HealthProblem.OFFLINE, at(23, 2, 14), None, "no frame for 30 s"),
        "run-night",
    )
    store.camera_health.record(
        HealthChange("pool", HealthProblem.OFFLINE, at(23, 2, 14), at(23, 2, 31)), "run-night"
    )
    for camera in ("pool", "gate"):
        store.camera_health.end_watch("run-night", camera, at(23, 7))


def start_server(
    night: Night,
    clock: list[float] | None = None,
    *,
    request_timeout: float = 30.0,
    max_threads: int = 64,
) -> ReviewServer:
    """The review page on 127.0.0.1, any free port; ``clock[0]`` is its "now"."""
    now = clock if clock is not None else [NOW]
    app = ReviewApp(
        night.bundle,
        night.store,
        secret=SECRET,
        password_hash=_HASH,
        clock=lambda: now[0],
        environ={
            "TWILIO_AUTH_TOKEN": "test-auth-token",
            "REVIEW_TEST_ALEX_PHONE": "+15550001111",
            # one good token, one too short (ignored)
            "GUARDIAN_API_TOKENS": f"home:{API_TOKEN}, short:abc",
        },
    )
    return ReviewServer(
        app, "127.0.0.1", 0, request_timeout=request_timeout, max_threads=max_threads
    ).start()


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A tiny HTTP client that never follows redirects and keeps the session cookie."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.origin = f"http://{self.host}:{self.port}"
        self.cookie: str | None = None

    def request(
        self,
        method: str,
        path: str,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = dict(headers or {})
        if self.cookie and "Cookie" not in sent:
            sent["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urlencode(form)
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        finally:
            conn.close()

    def send_json(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> Reply:
        """``body`` as JSON (bytes and str are sent as they are), the cookie kept."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        sent = {"Content-Type": "application/json", **(headers or {})}
        if self.cookie and "Cookie" not in sent:
            sent["Cookie"] = self.cookie
        data: bytes | None = None
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        elif body is not None:
            data = json.dumps(body).encode()
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            raw = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, raw)
        finally:
            conn.close()

    def get(self, path: str, **headers: str) -> Reply:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
        return self.request("POST", path, form, {"Origin": self.origin, **(headers or {})})

    def login(self, password: str = PASSWORD) -> Reply:
        reply = self.post("/login", {"password": password, "next": "/"})
        cookie = reply.headers.get("set-cookie", "")
        if reply.status == 303 and cookie:
            self.cookie = cookie.split(";")[0]
        return reply

    def csrf(self, path: str = "/") -> str:
        page = self.get(path)
        assert page.status == 200, page.status
        match = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert match, "no CSRF token in the page"
        return match.group(1)


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Seconds until the server closed ``sock`` (sending ``trickle`` a byte at a time every
    0.1 s meanwhile), or None if still open after ``seconds``."""
    started = time.monotonic()
    sock.settimeout(0.1)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            pass
        except OSError:
            return time.monotonic() - started
        try:
            if sent < len(trickle):
                sock.sendall(trickle[sent : sent + 1])
                sent += 1
        except OSError:
            return time.monotonic() - started
    return None
