"""Fire a battery of hostile HTTP requests at a real review server (``guardian serve``).

A real server on 127.0.0.1 (any free port) over a small real site built the way the tests
build it (``tests/reviewsite.py``: SQLite file, a real H.264 clip, a fixed clock), with
``request_timeout`` 2 s so slow clients are dealt with quickly. Each request is
classified **handled** (the expected status, never a 500, no bypass: nothing changed in
the database that should not have) or not. Families: path traversal, forged / tampered /
revoked cookies, CSRF (no token, wrong token, another site's Origin), oversized and
malformed requests, bad Range headers, bad query values, HTTP method abuse, the JSON API
(forged or misplaced credentials, session writes without CSRF, bad bodies), share-link
forgery, forged and replayed Twilio signatures, logout and reuse, 200 concurrent GETs,
16 clients guessing passwords concurrently, and slowloris connections.

Writes JSON (default bench/results/hostile_http.json) and prints a table.

    .venv/bin/python bench/hostile_http.py [--out bench/results/hostile_http.json]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import re
import socket
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from benchkit import write_report
from reviewsite import (
    API_TOKEN,
    NOW,
    PASSWORD,
    SECRET,
    Client,
    Night,
    build_night,
    closed_within,
    make_mp4,
    start_server,
)

from guardian.alerts.inbound import twilio_signature
from guardian.effects import Effects, Notification
from guardian.review.auth import ShareLinks, Signer
from guardian.review.server import ReviewServer

TIMEOUT = 2.0  # the server's request_timeout for this bench
TOKEN = "test-auth-token"  # the Twilio auth token start_server's environment holds
ALEX = "+15550001111"


@dataclass
class Case:
    family: str
    name: str
    expected: str
    got: str
    handled: bool


class Bench:
    def __init__(self, server: ReviewServer, night: Night, clock: list[float]) -> None:
        self.server, self.night, self.clock = server, night, clock
        self.cases: list[Case] = []
        self.db = night.bundle.database_path

    # -- plumbing ----------------------------------------------------------------------------
    def record(self, family: str, name: str, expected: str, got: object, ok: bool) -> None:
        self.cases.append(Case(family, name, expected, str(got), bool(ok)))

    def row(self, sql: str) -> tuple[object, ...] | None:
        with sqlite3.connect(self.db) as db:
            found = db.execute(sql).fetchone()
        return None if found is None else tuple(found)

    def state(self) -> tuple[object, ...]:
        """What a bypass would change: acks, reviews, the mode, prompts."""
        return (
            self.row("select count(*) from events where acknowledged_at is not null"),
            self.row("select count(*) from events where reviewed_at is not null"),
            self.row("select count(*) from mode_changes"),
        )

    def raw(self, data: bytes, *, wait: float = TIMEOUT + 2.0) -> str:
        """Send raw bytes; the status code answered, or 'closed' / 'timeout'."""
        with socket.create_connection((self.server.host, self.server.port), timeout=wait) as s:
            try:
                s.sendall(data)
                reply = s.recv(200)
            except TimeoutError:
                return "timeout"
            except OSError:
                return "closed"
        if not reply:
            return "closed"
        if not reply.startswith(b"HTTP/"):  # an error page for an HTTP/0.9-style request
            code = re.search(rb"Error code: (\d{3})", reply)
            return code.group(1).decode() if code else reply[:20].decode("ascii", "replace")
        parts = reply.split(b" ", 2)
        return parts[1].decode("ascii", "replace") if len(parts) > 1 else reply[:20].decode()

    def login(self) -> Client:
        client = Client(self.server.url)
        assert client.login().status == 303, "the bench could not log in"
        return client

    # -- families ----------------------------------------------------------------------------
    def traversal(self, client: Client) -> None:
        paths = [
            "/events/../../etc/passwd",
            "/events/%2e%2e/%2e%2e/etc/passwd",
            "/events/%2e%2e%2f%2e%2e%2fetc%2fpasswd/clip",
            "/events/..%2f..%2f..%2fetc%2fpasswd/clip",
            "/events/%252e%252e%252fetc%252fpasswd/clip",
            "/events/ev-crit/../../../etc/passwd",
            "/events/ev-crit%2f..%2f..%2fguardian.yaml/clip",
            "/events/..\\..\\etc\\passwd/clip",
            "/events/%5c..%5c..%5cetc%5cpasswd/clip",
            "/events/ev-crit%00/clip",
            "/events/%00/clip",
            "/events/.%2e/.%2e/clip",
            "/events/%E2%80%A5/clip",
            "/events/%c0%ae%c0%ae/%c0%ae%c0%ae/clip",
            "/events/" + "a" * 5000 + "/clip",
            "/static/../server.py",
            "/static/..%2fserver.py",
            "/static/%2e%2e/auth.py",
            "/static/review.css/../../../guardian.yaml",
            "/static/../../../../etc/passwd",
            "/share/..%2f..%2fevents%2fev-crit/clip",
            "/share/../events/ev-crit/clip",
            "//etc/passwd",
            "/./././guardian.yaml",
            "/guardian.db",
            "/guardian.db.secret",
        ]
        for path in paths:
            try:
                reply = client.get(path)
                status: object = reply.status
                leaked = b"root:" in reply.body or b"scrypt$" in reply.body
            except (OSError, http.client.HTTPException) as exc:
                status, leaked = type(exc).__name__, False
            ok = status in (400, 404, 405, 414) and not leaked
            self.record("path traversal", path[:60], "400/404, nothing served", status, ok)

    def cookies(self, client: Client) -> None:
        good = (client.cookie or "").split("=", 1)[1]
        body, mac = good.split(".")
        other_key = Signer(b"z" * 48, "session").sign(
            {"u": "alex", "exp": NOW + 3600, "csrf": "x", "sid": "s"}
        )
        expired = Signer(SECRET, "session").sign(
            {"u": "alex", "exp": NOW - 1, "csrf": "x", "sid": "s"}
        )
        no_sid = Signer(SECRET, "session").sign({"u": "alex", "exp": NOW + 3600, "csrf": "x"})
        unknown_sid = Signer(SECRET, "session").sign(
            {"u": "alex", "exp": NOW + 3600, "csrf": "x", "sid": "made-up"}
        )
        share = ShareLinks(SECRET, 3600).token("ev-crit", "gran", NOW)
        variants = {
            "none": "",
            "empty": "guardian_session=",
            "garbage": "guardian_session=garbage",
            "no dot": "guardian_session=" + body,
            "tampered body": f"guardian_session={body[:-2]}AA.{mac}",
            "tampered mac": f"guardian_session={body}.{mac[:-2]}AA",
            "mac swapped": f"guardian_session={mac}.{body}",
            "other key": f"guardian_session={other_key}",
            "expired": f"guardian_session={expired}",
            "no session id": f"guardian_session={no_sid}",
            "unknown session id": f"guardian_session={unknown_sid}",
            "share token as session": f"guardian_session={share}",
            "8 KB cookie": "guardian_session=" + "A" * 8000,
            "non-ascii": "guardian_session=\u00e9\u00e9.\u00e9".encode().decode("latin-1"),
            "json payload": 'guardian_session={"u":"alex"}',
            "many pairs": "; ".join(f"k{i}=v" for i in range(300)),
            "wrong name": f"session={good}",
            "null byte": "guardian_session=a\x00b",
        }
        for name, cookie in variants.items():
            try:
                status: object = client.request(
                    "GET", "/", headers={"Cookie": cookie} if cookie else {"Cookie": "x=y"}
                ).status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
            self.record("cookies", name, "302 to /login (no page)", status, status in (302, 400))

    def csrf(self, client: Client) -> None:
        before = self.state()
        token = client.csrf()
        other = Client(self.server.url)
        other.login()
        other_token = other.csrf()
        evil = {"Origin": "https://evil.example"}
        tries: list[tuple[str, str, dict[str, str], dict[str, str]]] = [
            ("mode, no token", "/mode", {"mode": "supervised"}, {}),
            ("mode, wrong token", "/mode", {"mode": "supervised", "csrf": "x" * 32}, {}),
            ("mode, empty token", "/mode", {"mode": "supervised", "csrf": ""}, {}),
            (
                "mode, other session's token",
                "/mode",
                {"mode": "supervised", "csrf": other_token},
                {},
            ),
            ("mode, evil Origin", "/mode", {"mode": "supervised", "csrf": token}, evil),
            (
                "mode, Origin null",
                "/mode",
                {"mode": "supervised", "csrf": token},
                {"Origin": "null"},
            ),
            (
                "mode, evil Referer",
                "/mode",
                {"mode": "supervised", "csrf": token},
                {"Origin": "", "Referer": "https://evil.example/x"},
            ),
            (
                "mode, look-alike Origin",
                "/mode",
                {"mode": "supervised", "csrf": token},
                {"Origin": client.origin + ".evil.example"},
            ),
            ("ack, no token", "/events/ev-crit/ack", {}, {}),
            ("ack, evil Origin", "/events/ev-crit/ack", {"csrf": token}, evil),
            ("reviewed, wrong token", "/events/ev-crit/reviewed", {"csrf": "nope"}, {}),
            ("prompt, no token", "/prompts/abc", {"answer": "yes"}, {}),
            ("logout, no token", "/logout", {}, {}),
            ("logout, evil Origin", "/logout", {"csrf": token}, evil),
            ("mode, token in the query", f"/mode?csrf={token}", {"mode": "supervised"}, {}),
        ]
        for name, path, form, headers in tries:
            sent = {"Origin": client.origin, **headers}
            if sent.get("Origin") == "":
                del sent["Origin"]
            status = client.request("POST", path, form, sent).status
            self.record("CSRF", name, "403, nothing changes", status, status == 403)
        # still logged in: the failed logout did nothing
        after = self.state()
        self.record("CSRF", "nothing changed", "same acks/reviews/modes", after, after == before)
        self.record(
            "CSRF", "session survives", "200", client.get("/").status, client.get("/").status == 200
        )

    def oversized(self, client: Client) -> None:
        host = f"Host: {self.server.host}\r\n"
        cookie = f"Cookie: {client.cookie}\r\n"
        cases: list[tuple[str, bytes, set[str]]] = [
            (
                "70 KB header line",
                f"GET / HTTP/1.1\r\n{host}X-Big: {'a' * 70000}\r\n\r\n".encode(),
                {"431", "400"},
            ),
            (
                "200 headers",
                (
                    f"GET / HTTP/1.1\r\n{host}"
                    + "".join(f"X-{i}: v\r\n" for i in range(200))
                    + "\r\n"
                ).encode(),
                {"431", "400"},
            ),
            (
                "70 KB request line",
                f"GET /{'a' * 70000} HTTP/1.1\r\n{host}\r\n".encode(),
                {"414", "400"},
            ),
            (
                "form of 10 MB declared",
                f"POST /login HTTP/1.1\r\n{host}Content-Length: 10000000\r\n\r\n".encode(),
                {"413"},
            ),
            (
                "negative Content-Length",
                f"POST /login HTTP/1.1\r\n{host}Content-Length: -5\r\n\r\n".encode(),
                {"413", "400"},
            ),
            (
                "Content-Length not a number",
                f"POST /login HTTP/1.1\r\n{host}Content-Length: lots\r\n\r\n".encode(),
                {"413", "400"},
            ),
            (
                "Content-Length huge",
                f"POST /login HTTP/1.1\r\n{host}Content-Length: {'9' * 40}\r\n\r\n".encode(),
                {"413", "400"},
            ),
            (
                "chunked body",
                f"POST /login HTTP/1.1\r\n{host}Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n0\r\n\r\n".encode(),
                {"401", "403", "400", "411", "429"},
            ),
            (
                "1000 form fields",
                (
                    f"POST /mode HTTP/1.1\r\n{host}{cookie}Content-Type: application/x-www-form-urlencoded\r\n"
                    + f"Content-Length: {len('&'.join(f'f{i}=1' for i in range(1000)))}\r\n\r\n"
                    + "&".join(f"f{i}=1" for i in range(1000))
                ).encode(),
                {"400", "403"},
            ),
            (
                "1000 query fields",
                f"GET /?{'&'.join(f'q{i}=1' for i in range(1000))} HTTP/1.1\r\n{host}{cookie}\r\n".encode(),
                {"400"},
            ),
            (
                "body shorter than declared",
                f"POST /login HTTP/1.1\r\n{host}Content-Length: 500\r\n\r\npassword=x".encode(),
                {"closed", "timeout", "408"},
            ),
        ]
        for name, data, expected in cases:
            got = self.raw(data)
            self.record(
                "oversized / malformed", name, "/".join(sorted(expected)), got, got in expected
            )

    def ranges(self, client: Client) -> None:
        values = [
            ("bytes=abc", {200}),
            ("bytes=-0", {416}),
            ("bytes=5-1", {416}),
            ("bytes=99999999-", {416}),
            ("bytes=0-0", {206}),
            ("bytes=0-1,5-6", {200, 206}),
            ("bytes=-99999999999999999999", {200, 206}),
            ("bytes=0-18446744073709551616", {200, 206}),
            ("bytes=0-99", {206}),
            ("bytes=-100", {206}),
            ("bytes=\t0-5", {200, 206}),
            ("bytes=0x10-20", {200}),
            ("bytes=1e3-", {200}),
            ("items=0-5", {200}),
            ("bytes=", {200}),
            ("bytes=--5", {200}),
            ("bytes=" + "1" * 5000 + "-", {200, 416}),
        ]
        for value, expected in values:
            try:
                status: object = client.get("/events/ev-crit/clip", Range=value).status
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
            self.record(
                "Range",
                value[:40],
                "/".join(map(str, sorted(expected))),
                status,
                status in expected,
            )

    def queries(self, client: Client) -> None:
        values = [
            ("/?night=yesterday", {400}),
            ("/?night=9999-12-31", {400}),
            ("/?night=0001-01-01", {400}),
            ("/?from=2026-13-45", {400}),
            ("/?from=2026-11-22&to=9999-12-31", {400}),
            ("/?to=2026-11-22", {200}),
            ("/?page=0", {400}),
            ("/?page=-1", {400}),
            ("/?page=abc", {400}),
            ("/?page=99999999999999999999", {400}),
            ("/?page=2", {400}),
            ("/?page=%EF%BC%91", {400}),
            ("/?camera=%3Cscript%3Ealert(1)%3C/script%3E", {200}),
            ("/?rule=%27;drop%20table%20events;--", {200}),
            ("/?unreviewed=%00", {200}),
            ("/login?next=//evil.example", {302}),
            ("/?night=2026-11-22&night=garbage", {400}),
        ]
        for path, expected in values:
            reply = client.get(path)
            escaped = b"<script>alert" not in reply.body
            offsite = reply.headers.get("location", "/") != "/"
            ok = reply.status in expected and escaped and not offsite
            self.record(
                "query values", path[:50], "/".join(map(str, sorted(expected))), reply.status, ok
            )
        self.record(
            "query values",
            "tables intact",
            "events still there",
            self.row("select count(*) from events"),
            self.row("select count(*) from events") == (6,),
        )

    def methods(self, client: Client) -> None:
        before = self.state()
        for method, path, expected in [
            ("PUT", "/", {405}),
            ("DELETE", "/events/ev-crit", {405}),
            ("PATCH", "/mode", {405}),
            ("OPTIONS", "/", {501, 405}),
            ("TRACE", "/", {501, 405}),
            ("CONNECT", "/", {501, 405}),
            ("PROPFIND", "/", {501, 405}),
            ("GET", "/events/ev-crit/ack", {405}),
            ("GET", "/mode", {405}),
            ("GET", "/logout", {405}),
            ("HEAD", "/events/ev-crit/clip", {200}),
        ]:
            status = client.request(method, path).status
            self.record(
                "methods",
                f"{method} {path}",
                "/".join(map(str, sorted(expected))),
                status,
                status in expected,
            )
        host = f"Host: {self.server.host}\r\n"
        for name, data, expected in [
            ("HTTP/0.9 request", b"GET /\r\n", {"400", "closed"}),
            ("HTTP/2.0 version", f"GET / HTTP/2.0\r\n{host}\r\n".encode(), {"505", "400"}),
            (
                "garbage request line",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
                {"400", "closed"},
            ),
            ("no Host header", b"GET /login HTTP/1.1\r\n\r\n", {"200", "400"}),
            (
                "absolute URI",
                f"GET http://evil.example/ HTTP/1.1\r\n{host}\r\n".encode(),
                {"302", "404", "400"},
            ),
            ("lowercase method", f"get / HTTP/1.1\r\n{host}\r\n".encode(), {"501", "400"}),
        ]:
            got = self.raw(data)
            self.record("methods", name, "/".join(sorted(expected)), got, got in expected)
        self.record(
            "methods", "nothing changed", "same state", self.state(), self.state() == before
        )

    def anonymous(self) -> None:
        client = Client(self.server.url)
        for path in [
            "/",
            "/?night=2026-11-22",
            "/?page=2",
            "/events/ev-crit",
            "/events/ev-crit/clip",
            "/events/ev-crit/thumbnail",
            "/events/ev-crit/snapshot",
            "/events/nope",
        ]:
            reply = client.get(path)
            ok = reply.status == 302 and reply.headers.get("location", "").startswith("/login")
            self.record("no login", f"GET {path}", "302 to /login", reply.status, ok)
        before = self.state()
        for path, form in [
            ("/events/ev-crit/ack", {"csrf": "x"}),
            ("/events/ev-crit/reviewed", {"csrf": "x"}),
            ("/mode", {"csrf": "x", "mode": "supervised"}),
            ("/prompts/abc", {"csrf": "x", "answer": "yes"}),
            ("/logout", {"csrf": "x"}),
        ]:
            status = client.post(path, form).status
            self.record("no login", f"POST {path}", "403", status, status == 403)
        self.record(
            "no login", "nothing changed", "same state", self.state(), self.state() == before
        )
        for name, next_path in [
            ("CRLF in next", "/%0d%0aSet-Cookie:%20x=1"),
            ("scheme-relative next", "//evil.example/"),
            ("backslash next", "/\\evil.example"),
            ("absolute next", "https://evil.example/"),
        ]:
            reply = client.get("/login?next=" + next_path)
            ok = reply.status == 200 and "set-cookie" not in reply.headers
            self.record("no login", name, "200 login page, no header injected", reply.status, ok)

    def shares(self) -> None:
        client = Client(self.server.url)
        links = ShareLinks(SECRET, 3600)
        good = links.token("ev-crit", "gran", NOW)
        body, mac = good.split(".")
        for name, path, expected in [
            ("forged", "/share/abc.def", {404}),
            ("tampered", f"/share/{body[:-2]}AA.{mac}", {404}),
            (
                "other key",
                "/share/" + ShareLinks(b"z" * 48, 3600).token("ev-crit", "gran", NOW),
                {404},
            ),
            ("expired", "/share/" + links.token("ev-crit", "gran", NOW - 7200), {410}),
            ("unknown event", "/share/" + links.token("ev-nope", "gran", NOW), {404}),
            (
                "session cookie as share",
                "/share/"
                + Signer(SECRET, "session").sign({"e": "ev-crit", "c": "g", "exp": NOW + 99}),
                {404},
            ),
            ("bad file kind", f"/share/{good}/snapshot", {404}),
            ("traversal after token", f"/share/{good}/..%2f..%2fclip", {404}),
            ("good (control)", f"/share/{good}", {200}),
        ]:
            status = client.get(path).status
            self.record(
                "share links",
                name,
                "/".join(map(str, sorted(expected))),
                status,
                status in expected,
            )

    def twilio(self) -> None:
        effects = Effects()
        for event_id in ("ev-warn", "ev-crit"):
            effects.notify(
                Notification(f"{event_id}:sms:alex", event_id, "r", "critical", "sms", "alex", "m")
            )
        self.night.store.commit(effects=effects, now=NOW - 60)
        for d in self.night.store.outbox.find():
            self.night.store.outbox.mark(d.delivery_id, ok=True, provider_id="SMx", now=NOW - 50)
        client = Client(self.server.url)
        url = self.server.url + "/twilio/sms"

        def form(body: str, sid: str = "SM" + "1" * 32, sender: str = ALEX) -> dict[str, str]:
            return {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": sid}

        def post(data: dict[str, str], signature: str | None) -> http.client.HTTPResponse | object:
            headers = {} if signature is None else {"X-Twilio-Signature": signature}
            return client.request("POST", "/twilio/sms", data, headers)

        acked = lambda: self.row("select count(*) from events where acknowledged_at is not null")  # noqa: E731
        before = acked()
        ack = form("ACK")
        for name, data, signature in [
            ("unsigned", ack, None),
            ("forged signature", ack, "bm90IGEgc2lnbmF0dXJl"),
            (
                "signed for another URL",
                ack,
                twilio_signature(TOKEN, "https://evil.example/twilio/sms", ack),
            ),
            ("signed with another token", ack, twilio_signature("0" * 32, url, ack)),
            ("body changed after signing", form("ACK ev-warn"), twilio_signature(TOKEN, url, ack)),
            ("empty signature", ack, ""),
        ]:
            reply = post(data, signature)
            status = reply.status  # type: ignore[attr-defined]
            self.record(
                "Twilio", name, "403, nothing done", status, status == 403 and acked() == before
            )
        first = post(ack, twilio_signature(TOKEN, url, ack))
        self.record(
            "Twilio",
            "signed ACK (control)",
            "200, one event acked",
            first.status,
            first.status == 200 and acked() == (before[0] + 1,),
        )  # type: ignore
        replay = post(ack, twilio_signature(TOKEN, url, ack))
        self.record(
            "Twilio",
            "replayed signed ACK",
            "200 empty, nothing more acked",
            (replay.status, acked()),
            replay.status == 200
            and acked() == (before[0] + 1,)
            and b"<Message>" not in replay.body,
        )  # type: ignore
        no_sid = {"From": ALEX, "Body": "ACK"}
        reply = post(no_sid, twilio_signature(TOKEN, url, no_sid))
        self.record("Twilio", "signed, no MessageSid", "400", reply.status, reply.status == 400)  # type: ignore
        stranger = form("ACK", "SM" + "2" * 32, "+4915112345678")
        reply = post(stranger, twilio_signature(TOKEN, url, stranger))
        self.record(
            "Twilio",
            "signed, not a contact",
            "200, nothing done",
            reply.status,
            reply.status == 200 and acked() == (before[0] + 1,),
        )  # type: ignore
        status = client.get("/twilio/sms").status
        self.record("Twilio", "GET", "405", status, status == 405)
        for name, data in [
            ("signed, 60 KB body", form("ACK " + "x" * 60000, "SM" + "3" * 32)),
            ("signed, NUL in body", form("ACK\x00ev-warn", "SM" + "4" * 32)),
            ("signed, unknown reference", form("ACK GZZZZZ", "SM" + "5" * 32)),
        ]:
            reply = post(data, twilio_signature(TOKEN, url, data))
            got = reply.status  # type: ignore[attr-defined]
            self.record(
                "Twilio",
                name,
                "200/413, nothing more acked",
                got,
                got in (200, 413) and acked() == (before[0] + 1,),
            )

    def api(self, client: Client) -> None:
        """The JSON API: forged or misplaced credentials, session writes without the CSRF
        header, bodies that do not fit, and paths that try to leave the clips folder."""
        before = self.state()
        anon = Client(self.server.url)
        token = {"Authorization": f"Bearer {API_TOKEN}"}
        cookie = (client.cookie or "").split("=", 1)[1]
        share = ShareLinks(SECRET, 3600).token("ev-crit", "gran", NOW)
        session_write = {"Origin": client.origin, "Content-Type": "application/json"}
        mode = {"mode": "supervised", "reason": "x"}
        tries: list[tuple[str, Client, str, str, object, dict[str, str], set[int]]] = [
            ("no credentials", anon, "GET", "/api/v1/events", None, {}, {401}),
            (
                "forged token",
                anon,
                "GET",
                "/api/v1/events",
                None,
                {"Authorization": "Bearer " + "x" * 43},
                {401},
            ),
            (
                "token cut short",
                anon,
                "GET",
                "/api/v1/events",
                None,
                {"Authorization": f"Bearer {API_TOKEN[:-1]}"},
                {401},
            ),
            (
                "token, Basic scheme",
                anon,
                "GET",
                "/api/v1/events",
                None,
                {"Authorization": f"Basic {API_TOKEN}"},
                {401},
            ),
            (
                "share token as bearer",
                anon,
                "GET",
                "/api/v1/events",
                None,
                {"Authorization": f"Bearer {share}"},
                {401},
            ),
            (
                "session cookie as bearer",
                anon,
                "GET",
                "/api/v1/events",
                None,
                {"Authorization": f"Bearer {cookie}"},
                {401},
            ),
            (
                "token as a cookie",
                anon,
                "GET",
                "/api/v1/events",
                None,
                {"Cookie": f"guardian_session={API_TOKEN}"},
                {401},
            ),
            (
                "forged token, write",
                anon,
                "POST",
                "/api/v1/mode",
                mode,
                {"Authorization": "Bearer " + "y" * 43},
                {401},
            ),
            ("token on the HTML page", anon, "GET", "/", None, token, {302}),
            ("token on an HTML clip", anon, "GET", "/events/ev-crit/clip", None, token, {302}),
            (
                "session ack, no CSRF header",
                client,
                "POST",
                "/api/v1/events/ev-crit/ack",
                {},
                session_write,
                {403},
            ),
            (
                "session mode, forged CSRF",
                client,
                "POST",
                "/api/v1/mode",
                mode,
                {**session_write, "X-CSRF-Token": "x" * 32},
                {403},
            ),
            (
                "session mode, evil Origin",
                client,
                "POST",
                "/api/v1/mode",
                mode,
                {"Origin": "https://evil.example", "X-CSRF-Token": client.csrf()},
                {403},
            ),
            (
                "mode, extra field",
                anon,
                "POST",
                "/api/v1/mode",
                {**mode, "by": "evil"},
                token,
                {422},
            ),
            ("mode, not JSON", anon, "POST", "/api/v1/mode", b"{mode", token, {400}),
            (
                "mode, form body",
                anon,
                "POST",
                "/api/v1/mode",
                b"mode=supervised",
                {**token, "Content-Type": "application/x-www-form-urlencoded"},
                {415},
            ),
            (
                "mode, 100 KB body",
                anon,
                "POST",
                "/api/v1/mode",
                b"[" + b"1," * 50000 + b"1]",
                token,
                {413},
            ),
            ("ack, a list body", anon, "POST", "/api/v1/events/ev-crit/ack", [1], token, {422}),
            (
                "clip id traversal",
                anon,
                "GET",
                "/api/v1/clips/..%2f..%2fguardian.db/video",
                None,
                token,
                {404},
            ),
            (
                "clip kind traversal",
                anon,
                "GET",
                "/api/v1/clips/ev-crit/..%2f..%2fguardian.yaml",
                None,
                token,
                {404},
            ),
            (
                "snapshot traversal",
                anon,
                "GET",
                "/api/v1/cameras/..%2f..%2fguardian/snapshot",
                None,
                token,
                {404},
            ),
            ("PUT /api/v1/mode", anon, "PUT", "/api/v1/mode", None, token, {405}),
        ]
        for name, who, method, path, body, headers, expected in tries:
            try:
                reply = who.send_json(method, path, body, headers=headers)
                status: object = reply.status
                leaked = b"ev-crit" in reply.body and status != 200
            except (OSError, http.client.HTTPException) as exc:
                status, leaked = type(exc).__name__, False
            ok = status in expected and not leaked
            self.record("API", name, "/".join(map(str, sorted(expected))), status, ok)
        after = self.state()
        self.record("API", "nothing changed", "same acks/reviews/modes", after, after == before)

    def logout_reuse(self) -> None:
        browser = self.login()
        copied = Client(self.server.url)
        copied.cookie = browser.cookie
        csrf = copied.csrf()
        browser.post("/logout", {"csrf": browser.csrf()})
        for name, reply in [
            ("GET / after logout", copied.get("/")),
            ("clip after logout", copied.get("/events/ev-crit/clip")),
            ("POST /mode after logout", copied.post("/mode", {"csrf": csrf, "mode": "supervised"})),
            ("logout again", copied.post("/logout", {"csrf": csrf})),
        ]:
            self.record("logout + reuse", name, "302/403", reply.status, reply.status in (302, 403))

    def burst(self) -> None:
        statuses: Counter[object] = Counter()
        lock = threading.Lock()

        def get(_: int) -> None:
            conn = http.client.HTTPConnection(self.server.host, self.server.port, timeout=15)
            try:
                conn.request("GET", "/login")
                status: object = conn.getresponse().status
            except OSError as exc:
                status = type(exc).__name__
            finally:
                conn.close()
            with lock:
                statuses[status] += 1

        started = time.monotonic()
        _together(200, get)
        took = time.monotonic() - started
        self.record(
            "200 concurrent GETs",
            "200 x GET /login",
            "all 200",
            f"{dict(statuses)} in {took:.1f}s",
            statuses == Counter({200: 200}),
        )

    def guessing(self) -> None:
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def guess(i: int) -> None:
            client = Client(self.server.url)
            for n in range(8):
                status = client.login(f"wrong {i}-{n}").status
                with lock:
                    statuses[status] += 1

        _together(16, guess)
        checked = statuses[401] + 1  # the failure that started the lockout answered 429
        self.record(
            "login guessing",
            "16 clients x 8 wrong passwords",
            "<= 5 checked",
            dict(statuses),
            statuses[401] <= 4 and statuses[303] == 0,
        )
        right = Client(self.server.url).login(PASSWORD).status
        self.record("login guessing", "right password while locked", "429", right, right == 429)
        locked = self.row("select locked_until from login_failures")
        self.record(
            "login guessing", "lockout kept", "locked 5 min", locked, locked == (NOW + 300,)
        )
        del checked

    def slowloris(self) -> None:
        head = (
            f"GET /login HTTP/1.1\r\nHost: {self.server.host}\r\n".encode() + b"X-a: " + b"a" * 500
        )
        body = (
            f"POST /login HTTP/1.1\r\nHost: {self.server.host}\r\nContent-Length: 400\r\n\r\n".encode()
            + b"p" * 400
        )
        cases = [
            ("headers a byte at a time", head),
            ("request line a byte at a time", b"GET /" + b"a" * 500),
            ("body a byte at a time", body),
            ("connect and send nothing", b""),
        ]
        socks = [socket.create_connection((self.server.host, self.server.port)) for _ in cases]
        results: list[float | None] = [None] * len(cases)

        def watch(i: int) -> None:
            results[i] = closed_within(socks[i], TIMEOUT * 3, cases[i][1])

        _together(len(cases), watch)
        for (name, _), took in zip(cases, results, strict=True):
            ok = took is not None and took < TIMEOUT + 1.5
            self.record(
                "slowloris",
                name,
                f"closed by {TIMEOUT + 1.5:.1f}s",
                "open" if took is None else f"{took:.1f}s",
                ok,
            )
        for s in socks:
            s.close()


def _together(workers: int, job: Callable[[int], None]) -> None:
    barrier = threading.Barrier(workers)

    def run(i: int) -> None:
        barrier.wait()
        job(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)


def run_battery(root: Path) -> tuple[list[Case], list[str]]:
    night = build_night(root / "site", make_mp4(root / "sample.mp4", seconds=2))
    clock = [NOW]
    server = start_server(night, clock, request_timeout=TIMEOUT)
    errors: list[str] = []
    bench = Bench(server, night, clock)
    try:
        client = bench.login()
        steps: Iterable[Callable[[], None]] = (
            lambda: bench.traversal(client),
            lambda: bench.cookies(client),
            lambda: bench.csrf(client),
            lambda: bench.oversized(client),
            lambda: bench.ranges(client),
            lambda: bench.queries(client),
            lambda: bench.methods(client),
            lambda: bench.api(client),
            bench.anonymous,
            bench.shares,
            bench.twilio,
            bench.logout_reuse,
            bench.burst,
            bench.slowloris,
            bench.guessing,  # last: it locks 127.0.0.1 out
        )
        for step in steps:
            try:
                step()
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        log = (root / "site").glob("**/*.log")
        del log
    finally:
        server.shutdown()
        night.store.close()
    return bench.cases, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--out", type=Path, default=REPO / "bench" / "results" / "hostile_http.json"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        cases, errors = run_battery(Path(tmp))
    handled = sum(c.handled for c in cases)
    families: dict[str, list[int]] = {}
    for c in cases:
        families.setdefault(c.family, [0, 0])
        families[c.family][0] += c.handled
        families[c.family][1] += 1
    print(f"{'family':24s} handled / tried")
    for family, (ok, tried) in families.items():
        print(f"{family:24s} {ok:4d} / {tried}")
    for c in cases:
        if not c.handled:
            print(f"NOT HANDLED  {c.family}: {c.name}: expected {c.expected}, got {c.got}")
    for error in errors:
        print(f"STEP FAILED  {error}")
    print(f"hostile requests handled: {handled} / {len(cases)}")
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "request_timeout": TIMEOUT,
        "seconds": round(time.monotonic() - started, 1),
        "handled": handled,
        "tried": len(cases),
        "families": {f: {"handled": ok, "tried": n} for f, (ok, n) in families.items()},
        "step_errors": errors,
        "cases": [asdict(c) for c in cases],
    }
    write_report("hostile_http", result, out=args.out)
    return 0 if handled == len(cases) and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
