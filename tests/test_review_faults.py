"""The review page under hostile requests (issue 14): concurrent password guessing, a
replayed Twilio reply, bursts of connections, slow clients, logout, huge nights and an
unbounded lockout. A real server on 127.0.0.1, real concurrent HTTP clients (threads),
a real SQLite file; everything is checked over HTTP so it carries over to another server."""

from __future__ import annotations

import http.client
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from reviewsite import (
    NOW,
    Client,
    Night,
    add_event,
    at,
    build_night,
    closed_within,
    make_mp4,
    site_file,
    start_server,
)

from guardian.alerts.inbound import twilio_signature
from guardian.config import load_site
from guardian.config.problems import ConfigError
from guardian.records import Severity
from guardian.review.server import ReviewServer, lockout_key
from guardian.store import Store


@pytest.fixture(scope="module")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("media") / "sample.mp4", seconds=1)


@pytest.fixture
def night(tmp_path: Path, sample_mp4: Path) -> Iterator[Night]:
    built = build_night(tmp_path / "site", sample_mp4)
    yield built
    built.store.close()


@pytest.fixture
def clock() -> list[float]:
    return [NOW]


@pytest.fixture
def server(night: Night, clock: list[float]) -> Iterator[ReviewServer]:
    srv = start_server(night, clock)
    yield srv
    srv.shutdown()


def _row(night: Night, sql: str) -> tuple[object, ...] | None:
    with sqlite3.connect(night.bundle.database_path) as db:
        row = db.execute(sql).fetchone()
    return None if row is None else tuple(row)


def _together(workers: int, job: object) -> None:
    """Run ``job(i)`` in ``workers`` threads started at the same moment."""
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            job(i)  # type: ignore[operator]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]


# -- the lockout under concurrency ------------------------------------------------------------


def test_concurrent_wrong_passwords_cannot_pass_the_lockout(
    server: ReviewServer, night: Night
) -> None:
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def guess(i: int) -> None:
        client = Client(server.url)
        for n in range(8):
            status = client.login(f"guess {i}-{n}").status
            with lock:
                statuses[status] += 1

    _together(16, guess)
    # 16 clients × 8 guesses: only max_failures (5) passwords were checked — four
    # "wrong password" answers, the fifth started the lockout — the rest were refused
    assert statuses[401] <= 4, statuses
    assert statuses[303] == 0 and set(statuses) <= {401, 429}, statuses
    assert statuses[429] >= 16 * 8 - 5
    # the lockout is still there: no late failure cleared it, even the right password waits
    assert _row(night, "select locked_until from login_failures") == (NOW + 300,)
    assert Client(server.url).login().status == 429


def test_a_failure_counted_late_never_clears_a_lockout(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        for _ in range(5):
            locked = store.access_log.record_login_failure(
                "1.2.3.4", now=100.0, max_failures=5, lockout=300
            )
        assert locked == 400.0
        # a check that had started before the lockout ends with one more failure
        store.access_log.record_login_failure("1.2.3.4", now=101.0, max_failures=5, lockout=300)
        assert store.access_log.login_locked_until("1.2.3.4", 102.0) == 400.0


def test_the_lockout_key_is_the_address_or_its_ipv6_64() -> None:
    assert lockout_key("203.0.113.9") == "203.0.113.9"
    assert lockout_key("::ffff:203.0.113.9") == "203.0.113.9"
    # an IPv6 client picks any address of its /64: they all count together
    assert (
        lockout_key("2001:db8:1:2::1")
        == lockout_key("2001:db8:1:2:ffff::9")
        == ("2001:db8:1:2::/64")
    )
    assert lockout_key("2001:db8:1:3::1") != lockout_key("2001:db8:1:2::1")


# -- a replayed SMS reply ---------------------------------------------------------------------


def test_a_replayed_signed_sms_ack_does_nothing(server: ReviewServer, night: Night) -> None:
    from guardian.effects import Effects, Notification

    effects = Effects()
    for event_id in ("ev-warn", "ev-crit"):
        effects.notify(
            Notification(f"{event_id}:sms:alex", event_id, "r", "critical", "sms", "alex", "m")
        )
    night.store.commit(effects=effects, now=NOW - 60)
    for delivery in night.store.outbox.find():
        night.store.outbox.mark(delivery.delivery_id, ok=True, provider_id="SMx", now=NOW - 50)
    form = {
        "From": "+15550001111",
        "To": "+15005550006",
        "Body": "ACK",
        "MessageSid": "SM" + "a" * 32,
    }
    headers = {
        "X-Twilio-Signature": twilio_signature("test-auth-token", server.url + "/twilio/sms", form)
    }
    client = Client(server.url)
    first = client.request("POST", "/twilio/sms", form, headers)
    assert first.status == 200 and "Acknowledged" in first.text
    acked = [e for e in ("ev-crit", "ev-warn") if night.store.event_log.is_acknowledged(e)]
    assert len(acked) == 1
    # the same signed request again (a replay): 200, an empty reply, nothing acknowledged
    again = client.request("POST", "/twilio/sms", form, headers)
    assert again.status == 200 and "<Message>" not in again.text and "<Response" in again.text
    assert [e for e in ("ev-crit", "ev-warn") if night.store.event_log.is_acknowledged(e)] == acked


# -- bursts of connections and slow clients ---------------------------------------------------


def test_200_concurrent_gets_are_all_answered(server: ReviewServer) -> None:
    statuses: Counter[int | str] = Counter()
    lock = threading.Lock()

    def get(_: int) -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
        try:
            conn.request("GET", "/login")
            status: int | str = conn.getresponse().status
        except OSError as exc:
            status = type(exc).__name__
        finally:
            conn.close()
        with lock:
            statuses[status] += 1

    started = time.monotonic()
    _together(200, get)
    assert statuses == Counter({200: 200}), statuses
    assert time.monotonic() - started < 10


def test_slow_and_idle_connections_are_closed_and_do_not_starve_others(night: Night) -> None:
    srv = start_server(night, request_timeout=1.5, max_threads=4)
    try:
        # four slowloris clients: the headers one byte every 0.1 s, never finished
        slow = [socket.create_connection((srv.host, srv.port)) for _ in range(3)]
        idle = socket.create_connection((srv.host, srv.port))  # connects, sends nothing
        trickle = b"GET /login HTTP/1.1\r\nHost: x\r\n" + b"X-a: " + b"a" * 200
        results: list[float | None] = [None] * 4

        def watch(i: int) -> None:
            sock = slow[i] if i < 3 else idle
            results[i] = closed_within(sock, 6.0, trickle if i < 3 else b"")

        watchers = [threading.Thread(target=watch, args=(i,)) for i in range(4)]
        for t in watchers:
            t.start()
        time.sleep(0.3)
        # every thread is held by a slow client: a real one is still answered soon
        started = time.monotonic()
        assert Client(srv.url).get("/login").status == 200
        assert time.monotonic() - started < 4.0
        for t in watchers:
            t.join(10)
        assert all(r is not None and r < 3.0 for r in results), results
        for sock in (*slow, idle):
            sock.close()
    finally:
        srv.shutdown()


# -- logout ------------------------------------------------------------------------------------


def test_logout_ends_the_session_on_the_server(server: ReviewServer) -> None:
    browser = Client(server.url)
    assert browser.login().status == 303
    copied = Client(server.url)
    copied.cookie = browser.cookie  # e.g. taken from the browser before the logout
    csrf = copied.csrf()
    other = Client(server.url)
    assert other.login().status == 303  # another device
    assert browser.post("/logout", {"csrf": browser.csrf()}).status == 303
    assert copied.get("/").status == 302  # back to the login page
    assert copied.post("/mode", {"csrf": csrf, "mode": "supervised"}).status == 403
    assert copied.get("/events/ev-crit/clip").status == 302
    assert other.get("/").status == 200  # only that session ended
    # a forged session without an id (an older cookie format) is refused too
    from guardian.review.auth import Signer

    old = Signer(b"k" * 48, "session").sign({"u": "alex", "exp": NOW + 3600, "csrf": "x"})
    assert Client(server.url).get("/", Cookie=f"guardian_session={old}").status == 302


# -- a night of thousands of events ------------------------------------------------------------


def test_a_busy_night_is_paged(night: Night, server: ReviewServer) -> None:
    for i in range(245):
        add_event(
            night.store,
            f"ev-bulk-{i:04d}",
            started_at=at(22, 19) + 60 * i,
            severity=Severity.INFO if i % 2 else Severity.WARNING,
        )
    client = Client(server.url)
    client.login()
    first = client.get("/")
    assert first.status == 200
    assert first.text.count("<article") == 100
    assert "249 event(s) · showing 1–100, page 1 of 3" in first.text
    assert 'id="event-ev-crit"' in first.text  # critical first, on the first page
    assert 'id=next-page href="/?page=2"' in first.text and "prev-page" not in first.text
    assert len(first.body) < 300_000
    third = client.get("/?page=3&camera=&night=2026-11-22")
    assert third.status == 200 and third.text.count("<article") == 49
    assert "next-page" not in third.text and "night=2026-11-22&amp;page=2" in third.text
    for bad in ("0", "-1", "abc", "1.5", "99999999999999999999", "%00", "4", "%EF%BC%92"):
        reply = client.get(f"/?page={bad}")
        assert reply.status == 400, bad
        assert "page" in reply.text and "Traceback" not in reply.text


# -- an unbounded lockout -------------------------------------------------------------------


def test_an_infinite_lockout_is_refused_by_the_site_file(tmp_path: Path) -> None:
    path = site_file(tmp_path, review="  lockout: .inf\n")
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    text = str(caught.value)
    assert "lockout" in text and "guardian.yaml:" in text


def test_a_stored_lockout_the_server_cannot_use_is_not_a_500(
    server: ReviewServer, night: Night, clock: list[float]
) -> None:
    # what an older build wrote with 'review.lockout: .inf'
    with sqlite3.connect(night.bundle.database_path) as db:
        db.execute(
            "insert into login_failures (key, failures, last_at, locked_until) "
            "values ('127.0.0.1', 0, ?, ?)",
            [NOW - 10, float("inf")],
        )
    client = Client(server.url)
    reply = client.login()
    assert reply.status == 429 and int(reply.headers["retry-after"]) == 300
    clock[0] += 301  # the configured lockout (5 min), not forever
    assert client.login().status == 303


# -- values the server cannot use: 400 (or the whole file), never a 500 --------------------------


@pytest.mark.parametrize(
    ("path", "headers", "expected"),
    [
        ("/?night=9999-12-31", {}, 400),  # the night's end is past the last date Python has
        ("/?from=2026-11-22&to=9999-12-31", {}, 400),
        ("/?night=0001-01-01", {}, 400),
        ("/?" + "&".join(f"q{i}=1" for i in range(1000)), {}, 400),
        ("/events/ev-crit/clip", {"Range": "bytes=" + "1" * 5000 + "-"}, 200),  # ignored
    ],
    ids=["night 9999", "to 9999", "night 0001", "1000 query fields", "5000-digit range"],
)
def test_unusable_values_are_not_a_500(
    server: ReviewServer, path: str, headers: dict[str, str], expected: int
) -> None:
    client = Client(server.url)
    client.login()
    reply = client.request("GET", path, headers=headers)
    assert reply.status == expected and "Something went wrong" not in reply.text


def test_a_form_of_1000_fields_is_a_400(server: ReviewServer) -> None:
    client = Client(server.url)
    client.login()
    form = {f"f{i}": "1" for i in range(1000)}
    assert client.post("/mode", form).status == 400
