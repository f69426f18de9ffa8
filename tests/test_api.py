"""The JSON API (/api/v1) over real HTTP: a real uvicorn server on 127.0.0.1, a real
SQLite file, a real H.264 clip. Both auths (bearer token, session cookie + CSRF), every
endpoint, forged and absent credentials, and bodies that do not fit."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from reviewsite import (
    API_TOKEN,
    NOW,
    Client,
    Night,
    Reply,
    build_night,
    make_mp4,
    start_server,
)

from guardian.effects import ModeRequest, PromptRequest
from guardian.review.server import ReviewServer

BEARER = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="module")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("media") / "sample.mp4", seconds=1)


@pytest.fixture
def night(tmp_path: Path, sample_mp4: Path) -> Iterator[Night]:
    built = build_night(tmp_path / "site", sample_mp4)
    yield built
    built.store.close()


@pytest.fixture
def server(night: Night) -> Iterator[ReviewServer]:
    srv = start_server(night)
    yield srv
    srv.shutdown()


@pytest.fixture
def api(server: ReviewServer) -> Client:
    return Client(server.url)


def _row(night: Night, sql: str) -> tuple[object, ...] | None:
    with sqlite3.connect(night.bundle.database_path) as db:
        row = db.execute(sql).fetchone()
    return None if row is None else tuple(row)


def _get(client: Client, path: str, **headers: str) -> Reply:
    return client.send_json("GET", path, headers={**BEARER, **headers})


def _post(client: Client, path: str, body: object = None, **headers: str) -> Reply:
    return client.send_json("POST", path, body, headers={**BEARER, **headers})


def test_events_list_filters_and_one_event(api: Client) -> None:
    reply = _get(api, "/api/v1/events")
    assert reply.status == 200 and reply.headers["content-type"] == "application/json"
    body = reply.json
    assert body["window"]["label"].startswith("night of Sun 2026-11-22")
    assert body["total"] == 4 and body["unacknowledged_critical"] == 1
    assert [e["id"] for e in body["events"]] == ["ev-crit", "ev-skip", "ev-warn", "ev-info"]
    crit = body["events"][0]
    assert crit["severity"] == "critical" and crit["started"] == "2026-11-23 02:14:00"
    assert crit["clip"]["video"] == "/api/v1/clips/ev-crit/video"
    gate = _get(api, "/api/v1/events?night=2026-11-22&camera=gate").json
    assert [e["id"] for e in gate["events"]] == ["ev-info"]
    crit_only = _get(api, "/api/v1/events?severity=critical").json
    assert [e["id"] for e in crit_only["events"]] == ["ev-crit"] and crit_only["total"] == 1
    day = _get(api, "/api/v1/events?from=2026-11-22&to=2026-11-22").json
    assert {e["id"] for e in day["events"]} == {"ev-before", "ev-warn", "ev-info"}
    one = _get(api, "/api/v1/events/ev-crit")
    assert one.status == 200 and one.json["message"] == "Possible submersion in the water"
    for bad, status in (
        ("/api/v1/events/no-such-event", 404),
        ("/api/v1/events?night=yesterday", 400),
        ("/api/v1/events?page=0", 400),
        ("/api/v1/events?severity=loud", 400),
        ("/api/v1/nope", 404),
    ):
        reply = _get(api, bad)
        assert reply.status == status, bad
        assert reply.headers["content-type"] == "application/json"
        assert isinstance(reply.json["error"], str) and reply.json["error"], bad


@pytest.mark.parametrize(
    "headers",
    [
        {},  # nothing
        {"Authorization": "Bearer " + "x" * 50},  # forged
        {"Authorization": "Bearer " + API_TOKEN[:-1]},  # one character short
        {"Authorization": "Bearer abc"},  # the short token of the environment is ignored
        {"Authorization": f"Basic {API_TOKEN}"},  # another scheme
        {"Authorization": ""},
        {"Cookie": "guardian_session=forged.cookie"},
    ],
    ids=["none", "forged", "truncated", "short-env-token", "basic", "empty", "forged-cookie"],
)
def test_no_or_bad_credentials_are_401(api: Client, night: Night, headers: dict[str, str]) -> None:
    for method, path, body in (
        ("GET", "/api/v1/events", None),
        ("GET", "/api/v1/clips/ev-crit/video", None),
        ("GET", "/api/v1/health", None),
        ("POST", "/api/v1/events/ev-crit/ack", {}),
        ("POST", "/api/v1/mode", {"mode": "supervised", "reason": "x"}),
    ):
        reply = api.send_json(method, path, body, headers=headers)
        assert reply.status == 401, (method, path, reply.status)
        assert "error" in reply.json and "www-authenticate" in reply.headers
        assert b"ev-crit" not in reply.body
    assert _row(night, "select acknowledged_at from events where id='ev-crit'") == (None,)
    assert _row(night, "select count(*) from mode_changes") == (0,)


def test_bearer_writes_ack_review_and_mode(api: Client, night: Night) -> None:
    acked = _post(api, "/api/v1/events/ev-crit/ack", {})
    assert acked.status == 200 and acked.json["acknowledged_by"] == "home"
    assert _row(
        night, "select acknowledged_at, acknowledged_by from events where id='ev-crit'"
    ) == (
        NOW,
        "home",
    )
    assert _post(api, "/api/v1/events/ev-warn/reviewed").status == 200  # no body: {}
    assert _row(night, "select reviewed_by from events where id='ev-warn'") == ("home",)
    assert _post(api, "/api/v1/events/nope/ack", {}).status == 404

    assert _get(api, "/api/v1/mode").json["mode"] == "unsupervised"
    switched = _post(
        api, "/api/v1/mode", {"mode": "supervised", "reason": "swimming lesson", "minutes": 30}
    )
    assert switched.status == 200, switched.text
    assert switched.json["mode"] == "supervised" and switched.json["until"] == NOW + 1800
    assert _row(night, "select mode, until, by, reason, source from mode_changes") == (
        "supervised",
        NOW + 1800,
        "home",
        "swimming lesson",
        "api",
    )
    assert _get(api, "/api/v1/mode").json["reason"] == "swimming lesson"


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", {}, 400),
        ({"mode": "supervised"}, {}, 422),  # no reason
        ({"mode": "party", "reason": "x"}, {}, 422),
        ({"mode": "supervised", "reason": "x", "extra": 1}, {}, 422),  # extra="forbid"
        ({"mode": "supervised", "reason": "x", "minutes": -5}, {}, 422),
        ({"mode": "supervised", "reason": "x", "minutes": 100000}, {}, 422),
        (["supervised"], {}, 422),
        (b"mode=supervised&reason=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b'{"mode": "' + b"s" * 70000 + b'"}', {}, 413),
    ],
    ids=[
        "not-json",
        "no-reason",
        "bad-mode",
        "extra",
        "negative",
        "too-long",
        "list",
        "form",
        "huge",
    ],
)
def test_bad_bodies_are_refused_with_a_json_error(
    api: Client, night: Night, body: object, headers: dict[str, str], status: int
) -> None:
    reply = _post(api, "/api/v1/mode", body, **headers)
    assert reply.status == status, reply.text
    assert reply.json["error"]
    assert _row(night, "select count(*) from mode_changes") == (0,)
    extra = _post(api, "/api/v1/events/ev-crit/ack", {"by": "someone else"})
    assert extra.status == 422 and "by" in extra.json["error"]


def test_the_session_cookie_works_and_writes_need_the_csrf_token(api: Client, night: Night) -> None:
    assert api.login().status == 303
    listed = api.send_json("GET", "/api/v1/events")
    assert listed.status == 200 and listed.json["total"] == 4
    token = api.csrf()
    origin = {"Origin": api.origin}
    for headers in (
        origin,  # no token
        {**origin, "X-CSRF-Token": "forged"},
        {"Origin": "http://evil.example", "X-CSRF-Token": token},
        {"Origin": "null", "X-CSRF-Token": token},
    ):
        reply = api.send_json("POST", "/api/v1/events/ev-crit/ack", {}, headers=headers)
        assert reply.status == 403 and reply.json["error"], headers
    assert _row(night, "select acknowledged_at from events where id='ev-crit'") == (None,)
    done = api.send_json(
        "POST", "/api/v1/events/ev-crit/ack", {}, headers={**origin, "X-CSRF-Token": token}
    )
    assert done.status == 200 and done.json["acknowledged_by"] == "alex"


def test_prompts_list_and_answer(api: Client, night: Night) -> None:
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
    listed = _get(api, "/api/v1/prompts").json["prompts"]
    assert [(p["id"], p["question"], p["status"]) for p in listed] == [
        ("p1", "Swimming lesson now?", "pending")
    ]
    assert _post(api, "/api/v1/prompts/p1", {"answer": "maybe"}).status == 422
    answered = _post(api, "/api/v1/prompts/p1", {"answer": "yes"})
    assert answered.status == 200 and answered.json["status"] == "accepted"
    assert answered.json["answered_by"] == "home"
    assert _row(night, "select mode, source from mode_changes order by id desc") == (
        "supervised",
        "api",
    )
    again = _post(api, "/api/v1/prompts/p1", {"answer": "no"})
    assert again.status == 409 and again.json["error"]
    assert _post(api, "/api/v1/prompts/nope", {"answer": "no"}).status == 404
    assert _get(api, "/api/v1/prompts").json["prompts"] == []


def test_clips_and_their_video_with_range(api: Client, night: Night) -> None:
    clips = _get(api, "/api/v1/clips").json["clips"]
    by_event = {c["event_id"]: c for c in clips}
    assert set(by_event) == {"ev-crit", "ev-skip"}
    assert by_event["ev-skip"]["status"] == "skipped" and by_event["ev-skip"]["video"] is None
    one = _get(api, "/api/v1/clips/ev-crit").json
    assert one["thumbnail"] == "/api/v1/clips/ev-crit/thumbnail"
    data = night.video.read_bytes()
    part = _get(api, one["video"], Range="bytes=10-29")
    assert part.status == 206 and part.body == data[10:30]
    assert part.headers["content-type"] == "video/mp4"
    whole = _get(api, one["video"])
    assert whole.status == 200 and whole.body == data
    assert _get(api, one["thumbnail"]).body[:2] == b"\xff\xd8"
    for missing in (
        "/api/v1/clips/ev-info",  # no clip
        "/api/v1/clips/ev-skip/video",  # skipped
        "/api/v1/clips/ev-crit/secret",
        "/api/v1/clips/..%2f..%2fguardian.db/video",
    ):
        reply = _get(api, missing)
        assert reply.status == 404 and reply.json["error"], missing


def test_cameras_health_and_snapshots(api: Client, night: Night, server: ReviewServer) -> None:
    cameras = _get(api, "/api/v1/cameras").json["cameras"]
    assert [(c["id"], c["state"]) for c in cameras] == [
        ("pool", "never_watched"),
        ("gate", "never_watched"),
    ]
    health = _get(api, "/api/v1/health")
    assert health.status == 200 and health.json["status"] == "down"
    assert health.json["healthy"] is False
    assert _get(api, "/api/v1/cameras/pool/snapshot").status == 404
    frame = np.full((48, 64, 3), (0, 0, 255), dtype=np.uint8)
    assert server.app.snapshots.save("pool", frame, NOW)
    picture = _get(api, "/api/v1/cameras/pool/snapshot")
    assert picture.status == 200 and picture.headers["content-type"] == "image/jpeg"
    assert picture.body[:2] == b"\xff\xd8"
    assert _get(api, "/api/v1/cameras/..%2fguardian/snapshot").status == 404
