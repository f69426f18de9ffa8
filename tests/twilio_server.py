"""A local HTTP server speaking Twilio's Messages API, for the real ``twilio`` client.

* ``POST /2010-04-01/Accounts/{Sid}/Messages.json`` (form To, From, Body) → 201 with a
  message resource like Twilio's (``sid`` ``SM…``, ``status`` ``queued``);
* ``GET …/Messages.json?To=&From=&DateSent>=`` → the list, in Twilio's paging JSON;
* ``GET …/Messages/{Sid}.json`` → one message.

HTTP Basic auth (account SID + auth token) is checked; errors use Twilio's JSON error
shape. ``fail_posts = n`` makes the next n POSTs answer 500; ``hold = "accept"``
records the message and then holds the response until :meth:`release` (a provider that
got the message, with a client killed while waiting), ``hold = "drop"`` holds the
request and then drops it unrecorded (the crash came before Twilio took it).
``delay = s`` records each POSTed message and answers it only ``s`` seconds later (a slow
or hung provider: longer than the client's timeout, the client gives up on a message
Twilio has); ``get_delay = s`` does the same to every GET (the list cannot be asked).

Also a tiny ntfy-like push server (:class:`PushServer`).
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
FROM_NUMBER = "+15005550006"


def twilio_env(phone: str) -> dict[str, str]:
    """The environment the SMS channel reads: the stand-in's credentials, and the
    owner's number in T_OWNER_PHONE (the tests' contacts name that variable)."""
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "T_OWNER_PHONE": phone,
    }


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll until ``predicate()`` is true, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@dataclass
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    params: dict[str, str]
    authorized: bool


@dataclass
class TwilioState:
    account_sid: str
    auth_token: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Seen] = field(default_factory=list)
    fail_posts: int = 0
    hold: str | None = None  # None | "accept" | "drop"
    delay: float = 0.0  # seconds each POST is answered after its message is recorded
    get_delay: float = 0.0  # seconds each GET waits before it is answered
    held: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def posts(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST"]


def _rfc2822(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=False).replace("-0000", "+0000")


def _error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _TwilioHandler(BaseHTTPRequestHandler):
    server: _TwilioHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        state = self.server.state
        header = self.headers.get("Authorization", "")
        expected = base64.b64encode(f"{state.account_sid}:{state.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _route(self) -> tuple[str, str | None] | None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        state = self.server.state
        if len(parts) < 4 or parts[:2] != ["2010-04-01", "Accounts"]:
            return None
        if parts[2] != state.account_sid:
            return None
        if parts[3:] == ["Messages.json"]:
            return ("list", None)
        if len(parts) == 5 and parts[3] == "Messages" and parts[4].endswith(".json"):
            return ("one", parts[4][: -len(".json")])
        return None

    def _record(self, method: str, params: dict[str, str], authorized: bool) -> None:
        state = self.server.state
        with state.lock:
            state.requests.append(Seen(method, urlsplit(self.path).path, params, authorized))

    def do_GET(self) -> None:
        state = self.server.state
        query = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        authorized = self._authorized()
        self._record("GET", query, authorized)
        if state.get_delay:
            state.released.wait(state.get_delay)
        if not authorized:
            self._send_json(401, _error(401, 20003, "Authenticate"))
            return
        route = self._route()
        if route is None:
            self._send_json(404, _error(404, 20404, "The requested resource was not found"))
            return
        kind, sid = route
        with state.lock:
            messages = list(state.messages)
        if kind == "one":
            for message in messages:
                if message["sid"] == sid:
                    self._send_json(200, message)
                    return
            self._send_json(404, _error(404, 20404, f"Message {sid} was not found"))
            return
        selected = [
            m
            for m in reversed(messages)  # newest first, like Twilio
            if ("To" not in query or m["to"] == query["To"])
            and ("From" not in query or m["from"] == query["From"])
            and ("DateSent>" not in query or m["_sent_day"] >= query["DateSent>"][:10])
        ]
        size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
        chunk = selected[page * size : (page + 1) * size]
        base = f"/2010-04-01/Accounts/{state.account_sid}/Messages.json"
        more = (page + 1) * size < len(selected)
        self._send_json(
            200,
            {
                "messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in chunk],
                "end": page * size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{base}?PageSize={size}&Page=0",
                "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}" if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": None,
                "start": page * size,
                "uri": f"{base}?PageSize={size}&Page={page}",
            },
        )

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        authorized = self._authorized()
        self._record("POST", form, authorized)
        if not authorized:
            self._send_json(401, _error(401, 20003, "Authenticate"))
            return
        if self._route() != ("list", None):
            self._send_json(404, _error(404, 20404, "The requested resource was not found"))
            return
        with state.lock:
            fail = state.fail_posts > 0
            if fail:
                state.fail_posts -= 1
            hold = state.hold
        if fail:
            self._send_json(500, _error(500, 20500, "Internal Server Error"))
            return
        for name in ("To", "From", "Body"):
            if not form.get(name):
                self._send_json(400, _error(400, 21604, f"A '{name}' parameter is required."))
                return
        if hold == "drop":
            state.held.set()
            state.released.wait(30)
            self.close_connection = True
            return  # never recorded: the provider did not take it
        now = time.time()
        sid = "SM" + secrets.token_hex(16)
        message = {
            "account_sid": state.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": _rfc2822(now),
            "date_sent": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form["From"],
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{state.account_sid}/Messages/{sid}/Media.json"
            },
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{state.account_sid}/Messages/{sid}.json",
            "_sent_day": time.strftime("%Y-%m-%d", time.gmtime(now)),
        }
        with state.lock:
            state.messages.append(message)
        if hold == "accept":
            state.held.set()
            state.released.wait(30)
        elif state.delay:
            state.released.wait(state.delay)
        with contextlib.suppress(OSError):  # the client may be gone (killed while waiting)
            self._send_json(201, {k: v for k, v in message.items() if not k.startswith("_")})


class _TwilioHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: TwilioState) -> None:
        super().__init__(("127.0.0.1", 0), _TwilioHandler)
        self.state = state


class TwilioServer:
    """The fake Twilio on 127.0.0.1 (a port chosen by the OS), in a thread."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.state = TwilioState(account_sid, auth_token)
        self._server = _TwilioHTTPServer(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def messages(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.messages)

    def release(self) -> None:
        self.state.released.set()

    def __enter__(self) -> TwilioServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------------------------ a push (ntfy) server


@dataclass
class PushState:
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_posts: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class _PushHandler(BaseHTTPRequestHandler):
    server: _PushHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        state = self.server.state
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        with state.lock:
            fail = state.fail_posts > 0
            if fail:
                state.fail_posts -= 1
        if fail:
            status, payload = 500, {"code": 50001, "http": 500, "error": "internal error"}
        else:
            body = json.loads(raw or b"{}")
            with state.lock:
                state.received.append({"path": self.path, **body})
            status = 200
            payload = {"id": secrets.token_hex(6), "event": "message", "topic": body.get("topic")}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _PushHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: PushState) -> None:
        super().__init__(("127.0.0.1", 0), _PushHandler)
        self.state = state


class PushServer:
    """An ntfy-like server: ``POST /`` with JSON {topic, title, message} → 200."""

    def __init__(self) -> None:
        self.state = PushState()
        self._server = _PushHTTPServer(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def apprise_url(self, topic: str = "guardian-test") -> str:
        return f"ntfy://127.0.0.1:{self.port}/{topic}"

    @property
    def received(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.received)

    def __enter__(self) -> PushServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
