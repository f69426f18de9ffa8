"""``guardian serve``: the morning review page over HTTP.

The standard library's ``ThreadingHTTPServer`` is enough here: one owner, a handful of
pages, no templates worth a framework, and no new dependency to audit. What a framework
would give is done explicitly below: signed session cookies, CSRF tokens plus an
Origin/Referer check on every POST, login throttling, HTTP Range for ``<video>``, and
security headers (CSP without scripts, no framing, no sniffing).

Routes (everything needs a login except ``/login``, ``/static/…``, ``/share/…``,
``/healthz`` and the Twilio webhook, which is authenticated by its signature)::

    GET  /                         events of a night (or ?from=&to=), grouped by severity
    GET  /events/<id>              one event (the {link} target of alerts)
    GET  /events/<id>/clip|thumbnail|snapshot      the event's files, by id (Range: 206)
    POST /events/<id>/ack | /events/<id>/reviewed   acknowledge / mark reviewed
    POST /mode                     mode=supervised|unsupervised
    POST /prompts/<id>             answer=yes|no
    POST /login, /logout
    GET  /share/<token>[/clip|/thumbnail]           a contact's link to one emergency
    GET  /healthz                  cameras' health as JSON for monitors: 200 ok, 503 not
    POST /twilio/sms               SMS replies (ACK, YES) from Twilio
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from guardian.config import SiteBundle
from guardian.health_report import health_report, site_health
from guardian.modes import ModeManager
from guardian.review import pages
from guardian.review.auth import Session, Sessions, ShareLinks, verify_password
from guardian.review.queries import (
    ClipFiles,
    ReviewItem,
    Window,
    clip_files,
    days_window,
    last_night,
    night_window,
    review_page_items,
)
from guardian.store import PromptError, Store

log = logging.getLogger("guardian.review")

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_MAX_FORM = 64 * 1024
#: events on one page of the review page (?page=2 for the next ones)
PAGE_SIZE = 100
_MAX_PAGE_DIGITS = 6
_PAGE_KEEPS = ("night", "from", "to", "camera", "rule", "unreviewed")
_CHUNK = 256 * 1024
_STATIC = {"review.css": "text/css; charset=utf-8"}
_MEDIA = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
_SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


class ReviewApp:
    """Everything the request handler needs: site, store, keys and the clock."""

    def __init__(
        self,
        bundle: SiteBundle,
        store: Store,
        *,
        secret: bytes,
        password_hash: str,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.bundle = bundle
        self.site = bundle.site
        self.review = bundle.site.review
        self.store = store
        self.password_hash = password_hash
        self.sessions = Sessions(secret, self.review.session_lifetime)
        self.shares = ShareLinks(secret, self.review.share_lifetime)
        self.clock = clock
        self.environ = environ
        self.modes = ModeManager(
            store,
            timezone=self.site.site.timezone,
            supervised_for=self.site.modes.supervised_for,
            clock=clock,
        )
        #: the address the server is reached at, when review.url is not set (set by serve)
        self.fallback_url = ""

    @property
    def public_url(self) -> str:
        return self.review.url or self.fallback_url

    @property
    def secure_cookies(self) -> bool:
        return self.review.url.startswith("https://")


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most ``max_threads`` at a time; a connection waiting
    longer than ``queue_wait`` for a free thread is answered 503 and closed."""

    daemon_threads = True
    #: connections the kernel queues before accepting (the default 5 drops bursts)
    request_queue_size = 128
    app: ReviewApp
    #: seconds a request (its line, headers and body) may take to arrive, and the most a
    #: connection stays open between requests or waiting on a stalled client
    request_timeout: float = 30.0
    max_threads: int = 64
    queue_wait: float = 10.0

    def __init__(
        self, address: tuple[str, int], *, request_timeout: float, max_threads: int
    ) -> None:
        self.request_timeout, self.max_threads = request_timeout, max_threads
        self._slots = threading.BoundedSemaphore(max_threads)
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(timeout=self.queue_wait):
            log.warning("review page: %d connections busy, refusing one", self.max_threads)
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _DeadlineReader:
    """The request's input stream: every read ends by the request's deadline, so a client
    sending its request one byte at a time (slowloris) cannot hold a thread for long."""

    def __init__(self, raw: Any, sock: socket.socket, timeout: float) -> None:
        self._raw, self._sock, self._timeout = raw, sock, timeout
        self.deadline = time.monotonic() + timeout

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long to arrive")
        self._sock.settimeout(min(left, self._timeout))

    def readline(self, limit: int = -1) -> bytes:
        out = bytearray()
        while limit < 0 or len(out) < limit:
            self._arm()
            chunk = self._raw.peek(1)  # at most one recv, each bounded by the deadline
            if not chunk:
                break
            end = chunk.find(b"\n")
            take = len(chunk) if end < 0 else end + 1
            if limit >= 0:
                take = min(take, limit - len(out))
            out += self._raw.read(take)
            if out.endswith(b"\n"):
                break
        return bytes(out)

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("read the body by its Content-Length")
        out = bytearray()
        while len(out) < size:
            self._arm()
            chunk = self._raw.read1(size - len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def close(self) -> None:
        self._raw.close()

    @property
    def closed(self) -> bool:
        return bool(self._raw.closed)


def lockout_key(address: str) -> str:
    """Whose failed logins count together: the client's IPv4 address, or its IPv6 /64
    (one household or host gets a whole /64 to pick addresses from)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class _Response(Exception):
    """Raised to answer at once (errors, redirects)."""

    def __init__(
        self, status: int, body: str = "", headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers


def _local_path(value: str | None) -> str:
    """A redirect target that stays on this site ("/" otherwise)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


def _parse_page(text: str | None) -> int:
    """``?page=``: a whole number from 1 (400 with a clear message otherwise)."""
    if text is None:
        return 1
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_PAGE_DIGITS or int(text) < 1:
        raise _Response(
            HTTPStatus.BAD_REQUEST,
            pages.message_page(
                "Bad page", f"'{text[:40]}' is not a page number — use ?page=1, ?page=2, …"
            ),
        )
    return int(text)


def _parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not 1970 <= day.year <= 9000:  # a night past 9999-12-31 overflows
        raise _Response(
            HTTPStatus.BAD_REQUEST,
            pages.message_page(
                "Bad date", f"'{text[:40]}' is not a date from 1970 on — use YYYY-MM-DD"
            ),
        )
    return day


class Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "Guardian"

    def version_string(self) -> str:
        return self.server_version

    protocol_version = "HTTP/1.1"
    rfile: Any

    # -- plumbing ---------------------------------------------------------------------
    @property
    def app(self) -> ReviewApp:
        return self.server.app

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.request_timeout)  # every read and write
        self.rfile = _DeadlineReader(self.rfile, self.connection, self.server.request_timeout)

    def handle_one_request(self) -> None:
        # each request (its line, headers, body) must arrive within request_timeout of
        # the server starting to wait for it; that is also the keep-alive idle limit
        self.rfile.deadline = time.monotonic() + self.server.request_timeout
        try:
            super().handle_one_request()
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # too slow, or gone: nothing to answer
        finally:
            self.connection.settimeout(self.server.request_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        # share tokens are credentials: never write them to the log
        text = re.sub(r"/share/[^ /?\"]+", "/share/…", format % args)
        log.debug("%s %s", self.address_string(), text)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.send_response(status)
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        names = {n.lower() for n, _ in headers}
        if "cache-control" not in names:
            self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _html(self, status: int, text: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        self._send(status, text.encode("utf-8"), headers=headers)

    def _redirect(self, target: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        status = HTTPStatus.SEE_OTHER if self.command == "POST" else HTTPStatus.FOUND
        self._send(status, b"", headers=(("Location", target), *headers))

    def _route(self, method: str) -> None:
        self.form = {}
        try:
            parts = urlsplit(self.path)
            raw = parts.path
            # split before decoding: an encoded '/' or '..' stays inside one segment
            segments = [unquote(s) for s in raw.split("/")[1:]]
            try:
                fields = parse_qs(parts.query, max_num_fields=20)
            except ValueError:
                raise _Response(
                    HTTPStatus.BAD_REQUEST,
                    pages.message_page("Bad request", "Too many query values."),
                ) from None
            query = {k: v[-1] for k, v in fields.items()}
            if method == "GET":
                self._get(segments, query)
            else:
                self.form = self._form()  # read first: the connection stays usable
                self._post(segments)
        except _Response as answer:
            self._send(answer.status, answer.body.encode("utf-8"), headers=answer.headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away, or was too slow
        except Exception:
            log.exception("review page: error answering %s", self.command)
            self._html(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                pages.message_page("Error", "Something went wrong; see the server's log."),
            )

    def do_GET(self) -> None:
        self._route("GET")

    def do_HEAD(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _not_allowed(self) -> None:
        self._html(HTTPStatus.METHOD_NOT_ALLOWED, pages.message_page("Not allowed", "Not allowed"))

    do_PUT = do_DELETE = do_PATCH = _not_allowed

    # -- sessions and CSRF -------------------------------------------------------------
    def _cookie(self, name: str) -> str | None:
        for part in self.headers.get("Cookie", "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None

    def _session(self) -> Session | None:
        token = self._cookie(Sessions.COOKIE)
        if token is None:
            return None
        now = self.app.clock()
        session = self.app.sessions.read(token, now)
        if session is None or not session.sid:
            return None
        # the server's record decides: a logged-out (revoked) session is refused
        return session if self.app.store.review_session_active(session.sid, now) else None

    def _require_login(self) -> Session:
        session = self._session()
        if session is None:
            if self.command == "POST":
                raise _Response(
                    HTTPStatus.FORBIDDEN,
                    pages.message_page("Forbidden", "Your session has ended — log in again."),
                )
            target = "/login?next=" + quote(_local_path(self.path), safe="")
            raise _Response(HTTPStatus.FOUND, headers=(("Location", target),))
        return session

    def _allowed_origins(self) -> set[str]:
        host = self.headers.get("Host", "")
        origins = {f"http://{host}", f"https://{host}"} if host else set()
        if self.app.review.url:
            url = urlsplit(self.app.review.url)
            origins.add(f"{url.scheme}://{url.netloc}")
        return origins

    def _check_origin(self) -> None:
        """A cross-site POST is refused: Origin (or else Referer) must be this site."""
        origin = self.headers.get("Origin")
        referer = self.headers.get("Referer")
        if origin is not None:
            ok = origin in self._allowed_origins()
        elif referer is not None:
            ref = urlsplit(referer)
            ok = f"{ref.scheme}://{ref.netloc}" in self._allowed_origins()
        else:
            ok = True  # no header (privacy settings, curl): the CSRF token decides
        if not ok:
            raise _Response(
                HTTPStatus.FORBIDDEN,
                pages.message_page("Forbidden", "This request came from another site."),
            )

    form: dict[str, str]

    def _form(self) -> dict[str, str]:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > _MAX_FORM:
            self.close_connection = True
            raise _Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
        body = self.rfile.read(length).decode("utf-8", "replace")
        try:
            fields = parse_qs(body, keep_blank_values=True, max_num_fields=50)
        except ValueError:
            raise _Response(
                HTTPStatus.BAD_REQUEST, pages.message_page("Bad request", "Too many form fields.")
            ) from None
        return {k: v[-1] for k, v in fields.items()}

    def _state_change(self) -> tuple[Session, dict[str, str]]:
        """Login + same-site origin + the session's CSRF token, or 403 (nothing changes)."""
        session = self._require_login()
        self._check_origin()
        form = self.form
        if not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            raise _Response(
                HTTPStatus.FORBIDDEN,
                pages.message_page(
                    "Forbidden", "The form was out of date (missing or wrong token) — reload."
                ),
            )
        return session, form

    def _cookie_header(self, value: str, max_age: int) -> tuple[str, str]:
        secure = "; Secure" if self.app.secure_cookies else ""
        return (
            "Set-Cookie",
            f"{Sessions.COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; "
            f"SameSite=Strict{secure}",
        )

    # -- GET ---------------------------------------------------------------------------
    def _get(self, seg: list[str], query: dict[str, str]) -> None:
        head = seg[0] if seg else ""
        if head == "static" and len(seg) == 2 and seg[1] in _STATIC:
            data = resources.files("guardian.review").joinpath("static", seg[1]).read_bytes()
            self._send(200, data, _STATIC[seg[1]], headers=(("Cache-Control", "max-age=3600"),))
            return
        if head == "login" and len(seg) == 1:
            if self._session() is not None:
                self._redirect(_local_path(query.get("next")))
                return
            self._html(
                200, pages.login_page(self.app.site.site.name, next_path=query.get("next", "/"))
            )
            return
        if head == "share" and len(seg) in (2, 3):
            self._share(seg[1], seg[2] if len(seg) == 3 else "")
            return
        if head == "healthz" and len(seg) == 1:
            self._healthz()
            return
        if head in ("twilio", "logout", "mode", "prompts") or (
            head == "events" and len(seg) == 3 and seg[2] in ("ack", "reviewed")
        ):
            raise _Response(
                HTTPStatus.METHOD_NOT_ALLOWED,
                pages.message_page("Not allowed", "This changes something: use the buttons."),
                (("Allow", "POST"),),
            )
        session = self._require_login()
        if head == "" and len(seg) == 1:
            self._review(session, query)
        elif head == "events" and len(seg) == 2:
            self._event(session, seg[1])
        elif head == "events" and len(seg) == 3 and seg[2] in ("clip", "thumbnail", "snapshot"):
            self._file(self._clip(seg[1]), seg[2])
        else:
            raise _Response(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "Not found"))

    def _context(self, session: Session) -> pages.PageContext:
        now = self.app.clock()
        mode = self.app.modes.current(now)
        return pages.PageContext(
            site_name=self.app.site.site.name,
            timezone=self.app.site.site.timezone,
            user=session.user,
            csrf=session.csrf,
            mode=mode,
            mode_ends=self.app.modes.ends_at(mode),
            supervised_for=self.app.site.modes.supervised_for,
            now=now,
        )

    def _review(self, session: Session, query: dict[str, str]) -> None:
        app, tz = self.app, self.app.site.site.timezone
        day_from, day_to = _parse_date(query.get("from")), _parse_date(query.get("to"))
        night = _parse_date(query.get("night"))
        window: Window
        if day_from or day_to:
            first = day_from or day_to
            assert first is not None
            window = days_window(first, day_to or first, tz)
        elif night is not None:
            window = night_window(night, app.review, tz)
        else:
            window = last_night(app.clock(), app.review, tz)
        filters = pages.Filters(
            camera=query.get("camera") or None,
            rule=query.get("rule") or None,
            unreviewed=query.get("unreviewed") == "1",
            day_from=query.get("from") or None,
            day_to=query.get("to") or None,
        )
        number = _parse_page(query.get("page"))
        paging = review_page_items(
            app.store,
            app.bundle.clips_dir,
            window,
            page=number,
            per_page=PAGE_SIZE,
            camera=filters.camera,
            rule_id=filters.rule,
            unreviewed=filters.unreviewed,
        )
        if number > paging.pages:
            raise _Response(
                HTTPStatus.BAD_REQUEST,
                pages.message_page(
                    "Bad page",
                    f"there is no page {number}: this window has {paging.pages} page(s)",
                ),
            )
        every = app.store.review_events(start=window.start, end=window.end)
        rules = {e.event.rule_id for e in every}
        if filters.rule:
            rules.add(filters.rule)
        now = app.clock()
        app.store.expire_prompts(now)
        enabled = [c.id for c in app.site.cameras if c.enabled]
        health = health_report(
            app.store,
            since=window.start,
            until=window.end,
            now=now,
            timezone=tz,
            cameras=[filters.camera] if filters.camera in enabled else enabled,
        )
        html = pages.review_page(
            self._context(session),
            window=window,
            items=paging.items,
            prompts=app.store.prompts("pending"),
            filters=filters,
            cameras=app.site.camera_ids,
            rules=sorted(rules),
            back=_local_path(self.path),
            health=health,
            paging=paging,
            query=[(k, v) for k, v in query.items() if k in _PAGE_KEEPS],
        )
        self._html(200, html)

    def _healthz(self) -> None:
        """For monitors, without a login: whether every enabled camera is watched and
        healthy (200) or not (503). No picture, no names, no event: states and counts."""
        app = self.app
        now = app.clock()
        health = site_health(app.store, [c.id for c in app.site.cameras if c.enabled], now)
        body = {
            "status": str(health.overall),
            "mode": app.modes.current(now).mode,
            "pending_alerts": sum(len(app.store.deliveries(s)) for s in ("pending", "sending")),
            "cameras": [
                {
                    "camera": c.camera,
                    "state": str(c.state),
                    "last_frame_age": None
                    if c.last_frame is None
                    else round(max(0.0, now - c.last_frame), 1),
                    "fps": None if c.fps is None else round(c.fps, 1),
                    "problems": [
                        {
                            "problem": str(p.problem),
                            "for": None if p.since is None else round(max(0.0, now - p.since)),
                        }
                        for p in c.problems
                    ],
                }
                for c in health.cameras
            ],
        }
        status = HTTPStatus.OK if health.healthy else HTTPStatus.SERVICE_UNAVAILABLE
        self._send(status, json.dumps(body).encode("utf-8"), "application/json")

    def _item(self, event_id: str) -> ReviewItem:
        entry = self.app.store.review_event(event_id) if _ID_RE.match(event_id) else None
        if entry is None:
            raise _Response(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "No such event"))
        return ReviewItem(entry, clip_files(self.app.store, self.app.bundle.clips_dir, event_id))

    def _clip(self, event_id: str) -> ClipFiles | None:
        return self._item(event_id).clip

    def _event(self, session: Session, event_id: str) -> None:
        item = self._item(event_id)
        back = "/events/" + quote(event_id, safe="")
        self._html(200, pages.event_page(self._context(session), item, back))

    def _file(self, clip: ClipFiles | None, kind: str) -> None:
        path: Path | None = None
        if clip is not None:
            path = {"clip": clip.video, "thumbnail": clip.thumbnail, "snapshot": clip.snapshot}[
                kind
            ]
        if path is None:
            raise _Response(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "No such file"))
        self._send_file(path)

    def _send_file(self, path: Path) -> None:
        """A file with HTTP Range support (one range: 206; unsatisfiable: 416)."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            raise _Response(
                HTTPStatus.NOT_FOUND, pages.message_page("Not found", "No such file")
            ) from None
        with os.fdopen(fd, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start, end = 0, size - 1
            status = HTTPStatus.OK
            content_type = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
            headers: list[tuple[str, str]] = [
                ("Accept-Ranges", "bytes"),
                ("Cache-Control", "private, max-age=300"),
            ]
            wanted = self.headers.get("Range")
            # one range of numbers Python can read (a longer one is ignored: the whole file)
            match = re.fullmatch(r"bytes=(\d{0,18})-(\d{0,18})", wanted.strip()) if wanted else None
            if match and (match.group(1) or match.group(2)):
                first, last = match.group(1), match.group(2)
                if first:
                    start = int(first)
                    end = min(int(last), size - 1) if last else size - 1
                else:  # the last N bytes
                    start, end = max(0, size - int(last)), size - 1
                if start >= size or start > end:
                    raise _Response(
                        HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                        "",
                        (("Content-Range", f"bytes */{size}"),),
                    )
                status = HTTPStatus.PARTIAL_CONTENT
                headers.append(("Content-Range", f"bytes {start}-{end}/{size}"))
            length = end - start + 1 if size else 0
            self.send_response(status)
            for name, value in (*_SECURITY_HEADERS, *headers):
                self.send_header(name, value)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            f.seek(start)
            left = length
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    # -- share links -------------------------------------------------------------------
    def _share(self, token: str, kind: str) -> None:
        grant = self.app.shares.read(token)
        if grant is None or kind not in ("", "clip", "thumbnail"):
            raise _Response(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "Not found"))
        if self.app.clock() >= grant.expires:
            raise _Response(
                HTTPStatus.GONE,
                pages.message_page("Link expired", "This link has expired."),
            )
        entry = self.app.store.review_event(grant.event_id)
        if entry is None:
            raise _Response(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "Not found"))
        if entry.acknowledged_at is not None:
            raise _Response(
                HTTPStatus.GONE,
                pages.message_page(
                    "Already handled",
                    "Someone has acknowledged this alert: it was handled, and its video is "
                    "no longer shared.",
                ),
            )
        item = ReviewItem(
            entry, clip_files(self.app.store, self.app.bundle.clips_dir, entry.event.event_id)
        )
        if kind:
            self._file(item.clip, kind)
            return
        log.info("share link of event %s opened (contact %s)", grant.event_id, grant.contact)
        self._html(
            200,
            pages.share_page(
                self.app.site.site.name, item, token, self.app.site.site.timezone, grant.expires
            ),
        )

    # -- POST --------------------------------------------------------------------------
    def _post(self, seg: list[str]) -> None:
        head = seg[0] if seg else ""
        if head == "login" and len(seg) == 1:
            self._login()
        elif head == "twilio" and seg[1:] == ["sms"]:
            self._twilio()
        elif head == "logout" and len(seg) == 1:
            session, _ = self._state_change()
            self.app.store.revoke_review_session(session.sid, self.app.clock())
            log.info("review page: %s logged out", session.user)
            self._redirect("/login", (self._cookie_header("", 0),))
        elif head == "events" and len(seg) == 3 and seg[2] in ("ack", "reviewed"):
            session, form = self._state_change()
            item = self._item(seg[1])
            event_id = item.entry.event.event_id
            if seg[2] == "ack":
                self.app.store.acknowledge(event_id, by=session.user, now=self.app.clock())
                log.info("event %s acknowledged on the review page by %s", event_id, session.user)
            else:
                self.app.store.mark_reviewed(event_id, by=session.user, now=self.app.clock())
            self._redirect(_local_path(form.get("next")))
        elif head == "mode" and len(seg) == 1:
            session, form = self._state_change()
            mode = form.get("mode", "")
            if mode not in ("supervised", "unsupervised"):
                raise _Response(
                    HTTPStatus.BAD_REQUEST, pages.message_page("Bad request", "Unknown mode")
                )
            self.app.modes.switch(
                mode, by=session.user, reason="switched on the review page", source="web"
            )
            self._redirect(_local_path(form.get("next")))
        elif head == "prompts" and len(seg) == 2:
            session, form = self._state_change()
            answer = form.get("answer", "")
            if answer not in ("yes", "no"):
                raise _Response(
                    HTTPStatus.BAD_REQUEST, pages.message_page("Bad request", "Answer yes or no")
                )
            try:
                self.app.store.answer_prompt(
                    seg[1],
                    yes=answer == "yes",
                    by=session.user,
                    source="web",
                    now=self.app.clock(),
                )
            except PromptError as exc:
                raise _Response(
                    HTTPStatus.CONFLICT, pages.message_page("Cannot answer", str(exc))
                ) from None
            self._redirect(_local_path(form.get("next")))
        else:
            raise _Response(HTTPStatus.NOT_FOUND, pages.message_page("Not found", "Not found"))

    def _login(self) -> None:
        app = self.app
        self._check_origin()
        form = self.form
        next_path = _local_path(form.get("next"))
        key = lockout_key(self.client_address[0])
        now = app.clock()
        limit, lockout = app.review.max_failures, app.review.lockout
        # reserve the check first (atomically): a locked-out address is refused before its
        # password is looked at, and concurrent guesses cannot pass more than max_failures
        locked = app.store.begin_login_attempt(key, now=now, max_failures=limit, lockout=lockout)
        if locked is None:
            ok = False
            try:
                ok = verify_password(form.get("password", ""), app.password_hash)
            finally:
                locked = app.store.finish_login_attempt(
                    key, ok=ok, now=app.clock(), max_failures=limit, lockout=lockout
                )
            if ok:
                session, token = app.sessions.new(app.review.user, now)
                app.store.add_review_session(
                    session.sid, session.user, created_at=now, expires_at=session.expires
                )
                log.info("review page: %s logged in from %s", app.review.user, key)
                self._redirect(
                    next_path,
                    (self._cookie_header(token, int(app.review.session_lifetime)),),
                )
                return
            log.warning("review page: wrong password from %s", key)
            if locked is None:
                self._html(
                    HTTPStatus.UNAUTHORIZED,
                    pages.login_page(
                        app.site.site.name, next_path=next_path, message="Wrong password."
                    ),
                )
                return
            log.warning("review page: %s locked out for %.0f s", key, locked - now)
        left = locked - now
        wait = max(1, min(round(left), 86400)) if math.isfinite(left) else 86400
        self._html(
            HTTPStatus.TOO_MANY_REQUESTS,
            pages.login_page(
                app.site.site.name,
                next_path=next_path,
                message=f"Too many wrong passwords: try again in {wait // 60 + 1} min.",
            ),
            (("Retry-After", str(wait)),),
        )

    def _twilio(self) -> None:
        """SMS replies: authenticated by Twilio's signature over the public URL (no login)."""
        from guardian.alerts.inbound import handle_sms_webhook

        app = self.app
        token = app.environ.get(app.site.alerts.twilio.auth_token_env, "")
        reply = handle_sms_webhook(
            app.store,
            app.site,
            url=app.public_url + "/twilio/sms",
            form=self.form,
            signature=self.headers.get("X-Twilio-Signature"),
            auth_token=token or None,
            now=app.clock(),
            environ=app.environ,
        )
        self._send(reply.status, reply.body.encode("utf-8"), reply.content_type)


class ReviewServer:
    """The review page on ``host:port`` in a background thread (port 0: any free port)."""

    def __init__(
        self,
        app: ReviewApp,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        request_timeout: float = 30.0,
        max_threads: int = 64,
    ) -> None:
        self.app = app
        self.httpd = _Server((host, port), request_timeout=request_timeout, max_threads=max_threads)
        self.httpd.app = app
        address = self.httpd.server_address
        self.host, self.port = str(address[0]), int(address[1])
        display = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{display}:{self.port}"
        if not app.fallback_url:
            app.fallback_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> ReviewServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.1,), name="review-server", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
