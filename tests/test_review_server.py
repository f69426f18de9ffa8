"""The review page over real HTTP: a real server on 127.0.0.1 (port 0) in a thread, a real
SQLite file, a real H.264 clip. Login, throttling, CSRF, actions, path traversal, Range
requests and share links."""

from __future__ import annotations

import html
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reviewsite import (
    NOW,
    SECRET,
    Client,
    Night,
    Reply,
    build_night,
    make_mp4,
    start_server,
    watch_the_night,
)

from guardian.config.review import ReviewConfig
from guardian.effects import Effects, Notification
from guardian.records import HealthChange, HealthProblem
from guardian.review.auth import (
    Sessions,
    ShareLinks,
    escalation_link_maker,
    hash_password,
    load_secret,
    verify_password,
)
from guardian.review.server import ReviewServer


@pytest.fixture(scope="module")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("media") / "sample.mp4")


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


@pytest.fixture
def client(server: ReviewServer) -> Client:
    return Client(server.url)


@pytest.fixture
def logged_in(client: Client) -> Client:
    assert client.login().status == 303
    return client


def _row(night: Night, sql: str, *args: object) -> tuple[object, ...]:
    with sqlite3.connect(night.bundle.database_path) as db:
        row = db.execute(sql, args).fetchone()
    assert row is not None
    return tuple(row)


# -- passwords and tokens ---------------------------------------------------------------


def test_password_hash_is_self_describing_salted_and_checked() -> None:
    first, second = hash_password("s3cret-pass"), hash_password("s3cret-pass")
    assert first.startswith("scrypt$n=16384,r=8,p=1$") and first != second
    assert verify_password("s3cret-pass", first) and verify_password("s3cret-pass", second)
    assert not verify_password("s3cret-pasS", first)
    assert not verify_password("s3cret-pass", "plain-text")
    ReviewConfig(password_hash=first)  # accepted by the site file
    with pytest.raises(ValueError, match="guardian passwd"):
        ReviewConfig(password_hash="hunter2")


def test_sessions_are_signed_and_expire() -> None:
    sessions = Sessions(SECRET, lifetime=3600)
    _, token = sessions.new("alex", now=1000.0)
    assert sessions.read(token, now=1001.0) is not None
    assert sessions.read(token, now=4600.0) is None  # expired
    body, mac = token.split(".")
    assert sessions.read(body[:-2] + "xx." + mac, now=1001.0) is None  # tampered
    assert Sessions(b"other" * 10, 3600).read(token, now=1001.0) is None  # other key
    # a share token is not a session token (one derived key per purpose)
    share = ShareLinks(SECRET, 3600).token("ev", "gran", 1000.0)
    assert sessions.read(share, now=1001.0) is None


def test_generated_secret_is_0600_and_stable(tmp_path: Path) -> None:
    review = ReviewConfig()
    db = tmp_path / "data" / "guardian.db"
    key = load_secret(review, db, environ={})
    secret = db.with_name("guardian.db.secret")
    assert secret.stat().st_mode & 0o777 == 0o600
    assert load_secret(review, db, environ={}) == key and len(key) >= 32
    os.chmod(secret, 0o644)
    with pytest.raises(RuntimeError, match="chmod 600"):
        load_secret(review, db, environ={})
    from_env = ReviewConfig(secret_env="REVIEW_KEY")
    assert load_secret(from_env, db, environ={"REVIEW_KEY": "x" * 40}) == b"x" * 40
    with pytest.raises(RuntimeError, match="at least 32"):
        load_secret(from_env, db, environ={"REVIEW_KEY": "short"})


# -- login -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/?night=2026-11-22", "/events/ev-crit", "/events/ev-crit/clip"]
)
def test_every_page_needs_a_login(client: Client, path: str) -> None:
    reply = client.get(path)
    assert reply.status == 302
    assert reply.headers["location"].startswith("/login?next=")
    assert b"ev-crit" not in reply.body


def test_login_page_and_static_assets_need_no_login(client: Client) -> None:
    assert client.get("/login").status == 200
    css = client.get("/static/review.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")


def test_login_sets_a_strict_httponly_cookie(client: Client) -> None:
    reply = client.login()
    assert reply.status == 303 and reply.headers["location"] == "/"
    cookie = reply.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Max-Age=43200" in cookie
    assert client.get("/").status == 200


def test_session_expires(client: Client, clock: list[float]) -> None:
    client.login()
    assert client.get("/").status == 200
    clock[0] += 43200 + 1
    assert client.get("/").status == 302


def test_wrong_password_is_rejected_then_locked_out(
    client: Client, night: Night, clock: list[float]
) -> None:
    for _ in range(4):
        reply = client.login("wrong password")
        assert reply.status == 401 and "set-cookie" not in reply.headers
        assert "Wrong password" in reply.text
    locked = client.login("wrong password")  # the 5th failure locks the address out
    assert locked.status == 429 and int(locked.headers["retry-after"]) == 300
    # while locked out, even the right password is refused (and not checked)
    assert client.login().status == 429
    assert client.cookie is None
    assert _row(night, "select locked_until from login_failures where key = '127.0.0.1'") == (
        NOW + 300,
    )
    clock[0] += 301
    assert client.login().status == 303
    assert _row(night, "select count(*) from login_failures") == (0,)


def test_redirect_after_login_stays_on_the_site(client: Client) -> None:
    reply = client.post(
        "/login", {"password": "correct horse battery staple", "next": "//evil.example/x"}
    )
    assert reply.status == 303 and reply.headers["location"] == "/"


# -- the page ------------------------------------------------------------------------------


def test_last_night_grouped_by_severity(logged_in: Client) -> None:
    page = logged_in.get("/").text
    assert "night of Sun 2026-11-22 18:00" in page
    # critical first, then warning, then info; events outside the night are left out
    order = [page.index(f'id="group-{s}"') for s in ("critical", "warning", "info")]
    assert order == sorted(order)
    for inside in ("ev-crit", "ev-warn", "ev-info", "ev-skip"):
        assert f'id="event-{inside}"' in page
    assert "ev-before" not in page and "ev-after" not in page
    assert (
        '<video controls preload=metadata playsinline poster="/events/ev-crit/thumbnail" src="/events/ev-crit/clip"'
        in page
    )
    assert '<img class=poster src="/events/ev-crit/thumbnail"' in page
    assert "clip skipped: disk full" in page
    # the headline counts the whole window; the two water entries on the pool fold
    assert "id=headline role=status>1 critical, 1 not acknowledged · 2 warning, 1 info<" in page
    assert re.search(r"<summary>Water entry ×2</summary>\s*<article", page)
    assert "Supervised for 2 h" in page and "id=mode>unsupervised<" in page


def test_previous_night_range_and_filters(logged_in: Client) -> None:
    previous = logged_in.get("/?night=2026-11-21").text
    assert "No events in this window" in previous
    whole_day = logged_in.get("/?from=2026-11-22&to=2026-11-22").text
    assert 'id="event-ev-before"' in whole_day and 'id="event-ev-warn"' in whole_day
    assert 'id="event-ev-crit"' not in whole_day  # that was on the 23rd
    gate = logged_in.get("/?night=2026-11-22&camera=gate").text
    assert 'id="event-ev-info"' in gate and 'id="event-ev-warn"' not in gate
    rule = logged_in.get("/?night=2026-11-22&rule=submersion").text
    assert re.findall(r'id="event-([^"]+)"', rule) == ["ev-crit"]
    assert logged_in.get("/?night=yesterday").status == 400


def test_event_page_is_the_alert_link_target(logged_in: Client) -> None:
    page = logged_in.get("/events/ev-crit")
    assert page.status == 200 and "Possible submersion in the water" in page.text
    assert logged_in.get("/events/no-such-event").status == 404


def test_security_headers(logged_in: Client) -> None:
    headers = logged_in.get("/").headers
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


# -- state changes and CSRF -------------------------------------------------------------


def test_acknowledge_and_mark_reviewed(logged_in: Client, night: Night) -> None:
    token = logged_in.csrf()
    reply = logged_in.post("/events/ev-crit/ack", {"csrf": token, "next": "/?night=2026-11-22"})
    assert reply.status == 303 and reply.headers["location"] == "/?night=2026-11-22"
    assert _row(
        night, "select acknowledged_at, acknowledged_by, status from events where id='ev-crit'"
    ) == (
        NOW,
        "alex",
        "acknowledged",
    )
    assert logged_in.post("/events/ev-warn/reviewed", {"csrf": token}).status == 303
    assert _row(
        night, "select reviewed_at, reviewed_by, status from events where id='ev-warn'"
    ) == (
        NOW,
        "alex",
        "reviewed",
    )
    page = logged_in.get("/?night=2026-11-22&unreviewed=1").text
    assert 'id="event-ev-warn"' not in page and 'id="event-ev-crit"' in page
    assert "acknowledged by alex" in logged_in.get("/events/ev-crit").text


def test_mode_switch_and_prompt_answer(logged_in: Client, night: Night) -> None:
    from guardian.effects import ModeRequest, PromptRequest

    token = logged_in.csrf()
    assert logged_in.post("/mode", {"csrf": token, "mode": "supervised"}).status == 303
    assert _row(night, "select mode, until, by, source from mode_changes order by id desc") == (
        "supervised",
        NOW + 7200,
        "alex",
        "web",
    )
    assert logged_in.post("/mode", {"csrf": token, "mode": "unsupervised"}).status == 303
    assert _row(night, "select mode from mode_changes order by id desc") == ("unsupervised",)
    assert logged_in.post("/mode", {"csrf": token, "mode": "party"}).status == 400

    with night.store.transaction():
        night.store.prompt_log.add(
            PromptRequest(
                prompt_id="p1",
                event_id=None,
                rule_id="r",
                question="Swimming lesson now?",
                contacts=("alex",),
                channels=("console",),
                expires_at=NOW + 600,
                on_yes=ModeRequest("supervised", None, duration=3600.0),
            ),
            NOW,
        )
    page = logged_in.get("/").text
    assert "Swimming lesson now?" in page
    assert logged_in.post("/prompts/p1", {"csrf": token, "answer": "yes"}).status == 303
    assert _row(night, "select status, answered_by from prompts where id='p1'") == (
        "accepted",
        "alex",
    )
    assert _row(night, "select mode, until, source from mode_changes order by id desc") == (
        "supervised",
        NOW + 3600,
        "web",
    )
    assert logged_in.post("/prompts/p1", {"csrf": token, "answer": "no"}).status == 409


@pytest.mark.parametrize(
    "form, headers",
    [
        ({}, {}),  # no token
        ({"csrf": "forged"}, {}),  # wrong token
        ("TOKEN", {"Origin": "http://evil.example"}),  # right token, another site
        ("TOKEN", {"Origin": "null"}),
        ("TOKEN", {"Origin": "", "Referer": "http://evil.example/page"}),
    ],
)
def test_state_changes_need_the_csrf_token_and_this_origin(
    logged_in: Client, night: Night, form: object, headers: dict[str, str]
) -> None:
    token = logged_in.csrf()
    sent = {"csrf": token} if form == "TOKEN" else dict(form)  # type: ignore[arg-type]
    if headers.get("Origin") == "":
        # a Referer-only request: send no Origin at all
        reply = logged_in.request(
            "POST", "/events/ev-crit/ack", sent, {"Referer": headers["Referer"]}
        )
    else:
        reply = logged_in.post("/events/ev-crit/ack", sent, headers)
    assert reply.status == 403
    for path, extra in (("/mode", {"mode": "supervised"}), ("/events/ev-warn/reviewed", {})):
        assert logged_in.post(path, {**sent, **extra}, headers or None).status == 403
    assert _row(night, "select acknowledged_at, reviewed_at from events where id='ev-crit'") == (
        None,
        None,
    )
    assert _row(night, "select count(*) from mode_changes") == (0,)


def test_state_changes_refuse_get_and_anonymous_posts(client: Client, night: Night) -> None:
    for path in ("/events/ev-crit/ack", "/events/ev-crit/reviewed", "/mode", "/logout"):
        assert client.get(path).status == 405
    assert client.post("/events/ev-crit/ack", {"csrf": "x"}).status == 403
    client.login()
    assert client.get("/events/ev-crit/ack").status == 405
    assert _row(night, "select acknowledged_at from events where id='ev-crit'") == (None,)


def test_logout_clears_the_cookie(logged_in: Client) -> None:
    reply = logged_in.post("/logout", {"csrf": logged_in.csrf()})
    assert reply.status == 303 and "Max-Age=0" in reply.headers["set-cookie"]


# -- files: by event id only, inside the clips folder, with Range ----------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/events/../../etc/passwd",
        "/events/%2e%2e/%2e%2e/etc/passwd/clip",
        "/events/%2e%2e%2f%2e%2e%2fetc%2fpasswd/clip",
        "/events/..%2f..%2fguardian.db/clip",
        "/events//etc/passwd/clip",
        "/events/%2Fetc%2Fpasswd/clip",
        "/static/../guardian.db",
        "/static/%2e%2e%2fserver.py",
        "/events/ev-crit/clip/../../../../etc/passwd",
        "/events/ev-info/clip",  # no clip
        "/events/ev-skip/clip",  # skipped clip
    ],
)
def test_path_traversal_is_404(logged_in: Client, path: str) -> None:
    reply = logged_in.get(path)
    assert reply.status == 404, (path, reply.status)
    assert b"root:" not in reply.body and b"SQLite" not in reply.body


def test_stored_paths_leading_outside_the_clips_folder_are_not_served(
    logged_in: Client, night: Night, tmp_path: Path
) -> None:
    from reviewsite import add_clip

    outside = tmp_path / "private.mp4"
    outside.write_bytes(b"private video")
    clips = night.bundle.clips_dir
    (clips / "pool").mkdir(parents=True, exist_ok=True)
    (clips / "pool" / "link.mp4").symlink_to(outside)
    for event_id, stored in (
        ("ev-warn", "../../private.mp4"),  # .. out of the clips folder
        ("ev-info", str(outside)),  # an absolute path
        ("ev-before", "pool/link.mp4"),  # a symlink pointing outside
        ("ev-after", str(night.bundle.database_path)),
    ):
        add_clip(night.store, event_id, "pool", path=stored, thumbnail=stored, snapshot=stored)
        for kind in ("clip", "thumbnail", "snapshot"):
            reply = logged_in.get(f"/events/{event_id}/{kind}")
            assert reply.status == 404, (stored, kind)
            assert b"private video" not in reply.body


def test_clip_files_with_range_requests(logged_in: Client, night: Night) -> None:
    data = night.video.read_bytes()
    full = logged_in.get("/events/ev-crit/clip")
    assert full.status == 200 and full.body == data
    assert full.headers["content-type"] == "video/mp4" and full.headers["accept-ranges"] == "bytes"
    part = logged_in.get("/events/ev-crit/clip", Range="bytes=100-199")
    assert part.status == 206 and part.body == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = logged_in.get("/events/ev-crit/clip", Range="bytes=-50")
    assert tail.status == 206 and tail.body == data[-50:]
    rest = logged_in.get("/events/ev-crit/clip", Range=f"bytes={len(data) - 10}-")
    assert rest.status == 206 and rest.body == data[-10:]
    beyond = logged_in.get("/events/ev-crit/clip", Range=f"bytes={len(data)}-")
    assert beyond.status == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    thumb = logged_in.get("/events/ev-crit/thumbnail")
    assert thumb.status == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.body[:2] == b"\xff\xd8"
    assert logged_in.get("/events/ev-crit/snapshot").status == 200


# -- share links ----------------------------------------------------------------------------------


def test_share_link_works_until_the_event_is_acknowledged(
    client: Client, night: Night, clock: list[float]
) -> None:
    links = ShareLinks(SECRET, lifetime=3600)
    token = links.token("ev-crit", "gran", NOW)
    page = client.get(f"/share/{token}")  # no login
    assert page.status == 200 and "Possible submersion" in page.text
    assert f'src="/share/{token}/clip"' in page.text
    video = client.get(f"/share/{token}/clip", Range="bytes=0-99")
    assert video.status == 206 and video.body == night.video.read_bytes()[:100]
    # the link gives this event only: no snapshot, no other pages, no state change
    assert client.get(f"/share/{token}/snapshot").status == 404
    assert client.get("/events/ev-crit/clip").status == 302
    # forged or for another key
    assert client.get(f"/share/{token[:-3]}abc").status == 404
    other = ShareLinks(b"z" * 48, 3600).token("ev-crit", "gran", NOW)
    assert client.get(f"/share/{other}").status == 404

    night.store.event_log.acknowledge("ev-crit", by="alex", now=NOW + 60)
    handled = client.get(f"/share/{token}")
    assert handled.status == 410 and "acknowledged" in handled.text and "handled" in handled.text
    assert client.get(f"/share/{token}/clip").status == 410


def test_share_link_expires(client: Client, clock: list[float]) -> None:
    token = ShareLinks(SECRET, lifetime=3600).token("ev-crit", "gran", NOW)
    assert client.get(f"/share/{token}/clip").status == 200
    clock[0] = NOW + 3601
    expired = client.get(f"/share/{token}/clip")
    assert expired.status == 410
    assert "expired" in client.get(f"/share/{token}").text


def test_escalation_messages_carry_the_links(night: Night, tmp_path: Path) -> None:
    from guardian.alerts.escalation import Escalator
    from guardian.effects import EscalationRequest

    review = ReviewConfig(url="https://guardian.example.org/", secret_env="K")
    maker = escalation_link_maker(
        review, frozenset({"gran"}), night.bundle.database_path, environ={"K": SECRET.decode()}
    )
    assert maker is not None
    with night.store.transaction():
        night.store.prompt_log.add_escalation(
            EscalationRequest(
                event_id="ev-crit",
                rule_id="submersion",
                severity="critical",
                contacts=("alex", "gran"),
                channels=("console",),
                message="Submersion",
                after=60.0,
                repeat=0,
                start=NOW,
            ),
            NOW,
        )
    escalator = Escalator(night.store, maker)
    local = escalator.tick(NOW + 60)[0].message
    assert local.endswith("see: https://guardian.example.org/events/ev-crit")
    remote = escalator.tick(NOW + 120)[0].message
    match = re.search(r"see: https://guardian\.example\.org/share/(\S+)$", remote)
    assert match, remote
    grant = ShareLinks(SECRET, 3600).read(match.group(1))
    assert grant is not None and (grant.event_id, grant.contact) == ("ev-crit", "gran")
    assert grant.expires == NOW + 120 + 3600
    # a remote contact gets no link for a non-critical event; no url: no link maker
    assert maker("ev-warn", "gran", "warning", NOW) is None
    assert escalation_link_maker(ReviewConfig(), frozenset(), night.bundle.database_path) is None


# -- camera health: the page's header and /healthz --------------------------------------


def _health_line(reply_text: str) -> str:
    match = re.search(r'<p class="health (\w+)" id=health role=status>([^<]*)</p>', reply_text)
    assert match, "no health line on the page"
    return f"{match.group(1)}: {html.unescape(match.group(2))}"


def test_the_header_says_what_watched_the_night(logged_in: Client, night: Night) -> None:
    # no run wrote anything: the page must not be silent about it
    assert _health_line(logged_in.get("/").text) == (
        "down: Cameras not watched since 18:00: Guardian was not running"
    )
    watch_the_night(night.store)
    assert _health_line(logged_in.get("/").text) == (
        "problem: Cameras watched 22:00–07:00: pool camera offline 02:14–02:31"
    )
    assert _health_line(logged_in.get("/?night=2026-11-22&camera=gate").text) == (
        "ok: Cameras watched 22:00–07:00: no camera problems"
    )
    assert _health_line(logged_in.get("/?night=2026-11-21").text) == (
        "down: Cameras not watched 18:00–09:00: Guardian was not running"
    )
    # a range of days: dates with the times
    assert _health_line(logged_in.get("/?from=2026-11-22&to=2026-11-23").text) == (
        "problem: Cameras watched 22 Nov 22:00–23 Nov 07:00: pool camera offline 23 Nov 02:14–02:31"
    )


def _healthz(client: Client) -> tuple[int, Any, Reply]:
    reply = client.get("/healthz")
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["cache-control"] == "no-store"
    return reply.status, json.loads(reply.body), reply


def test_healthz_needs_no_login_and_says_200_only_when_all_is_watched(
    client: Client, night: Night, clock: list[float]
) -> None:
    status, body, _ = _healthz(client)
    assert status == 503 and body["status"] == "down"
    assert [c["state"] for c in body["cameras"]] == ["never_watched", "never_watched"]

    store, now = night.store, clock[0]
    for camera in ("pool", "gate"):  # a run that is running now
        store.camera_health.begin_watch("run-live", camera, now - 3600)
        store.camera_health.beat(
            "run-live", camera, now - 2, last_frame=now - 2.5, frames=36000, fps=9.96
        )
    status, body, reply = _healthz(client)
    assert status == 200, body
    assert body == {
        "status": "ok",
        "mode": "unsupervised",
        "pending_alerts": 0,
        "cameras": [
            {"camera": "pool", "state": "ok", "last_frame_age": 2.5, "fps": 10.0, "problems": []},
            {"camera": "gate", "state": "ok", "last_frame_age": 2.5, "fps": 10.0, "problems": []},
        ],
    }
    assert client.request("HEAD", "/healthz").status == 200

    store.camera_health.record(
        HealthChange("gate", HealthProblem.OBSTRUCTED, now - 90, None, "rtsp://u:pw@cam/1"),
        "run-live",
    )
    effects = Effects()
    effects.notify(Notification("k1", "ev-crit", "submersion", "critical", "sms", "alex", "Help"))
    store.commit([], effects=effects, now=now)
    status, body, reply = _healthz(client)
    assert status == 503 and body["status"] == "degraded" and body["pending_alerts"] == 1
    gate = body["cameras"][1]
    assert gate["state"] == "problem"
    assert gate["problems"] == [{"problem": "obstructed", "for": 90}]
    # privacy: no picture, no names, no event, no detail
    for secret in ("Test pool", "alex", "Help", "ev-crit", "submersion", "rtsp", "pw@"):
        assert secret not in reply.text, secret

    clock[0] = now + 60  # the run stopped beating a minute ago
    status, body, _ = _healthz(client)
    assert status == 503 and body["status"] == "down"
    assert {c["state"] for c in body["cameras"]} == {"not_running"}
