"""The Twilio SMS webhook over real HTTP (``POST /twilio/sms`` on the review server).

Requests are signed with the real twilio ``RequestValidator`` over the public URL; a
correctly signed ACK acknowledges, anything forged or unsigned is refused with 403 and
changes nothing. The webhook needs no login and no CSRF token: the signature is the
authentication.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from reviewsite import NOW, Client, Night, build_night, make_mp4, start_server
from twilio.request_validator import RequestValidator

from guardian.effects import Notification
from guardian.review.server import ReviewServer
from guardian.vocab import Channel, Severity

TOKEN = "test-auth-token"  # what start_server puts in the server's environment
PUBLIC = "https://guardian.example.org"


@pytest.fixture(scope="module")
def sample_mp4(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("media") / "sample.mp4", seconds=1)


@pytest.fixture
def night(tmp_path: Path, sample_mp4: Path) -> Iterator[Night]:
    built = build_night(tmp_path / "site", sample_mp4, review=f"  url: {PUBLIC}\n")
    note = Notification(
        "alert:ev-crit:sms:alex",
        "ev-crit",
        "submersion",
        Severity.CRITICAL,
        Channel.SMS,
        "alex",
        "Possible submersion",
    )
    delivery = built.store.outbox.enqueue(note, time.time())
    assert delivery is not None
    built.store.outbox.mark(delivery.delivery_id, ok=True)
    yield built
    built.store.close()


@pytest.fixture
def server(night: Night) -> Iterator[ReviewServer]:
    srv = start_server(night)
    yield srv
    srv.shutdown()


def _acknowledged(night: Night) -> tuple[object, ...]:
    with sqlite3.connect(night.bundle.database_path) as db:
        row = db.execute(
            "select acknowledged_at, acknowledged_by from events where id = 'ev-crit'"
        ).fetchone()
    return tuple(row)


def _sms(client: Client, form: dict[str, str], signature: str | None) -> tuple[int, str]:
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    reply = client.request("POST", "/twilio/sms", form, headers)
    return reply.status, reply.text


FORM = {"From": "+15550001111", "To": "+15559990000", "Body": "ACK", "MessageSid": "SM123"}


def test_signed_ack_acknowledges(server: ReviewServer, night: Night) -> None:
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms", FORM)
    status, body = _sms(Client(server.url), FORM, signature)  # no login, no CSRF token
    assert status == 200, body
    assert "<Message>Acknowledged: Submersion" in body
    assert _acknowledged(night) == (NOW, "alex")


@pytest.mark.parametrize(
    "signature",
    [
        None,  # unsigned
        "",
        "bm90IGEgc2lnbmF0dXJl",  # forged
        RequestValidator("another-token").compute_signature(f"{PUBLIC}/twilio/sms", FORM),
        # signed for the server's local address instead of the public URL Twilio calls
        "LOCAL",
        # signed for other form values (the Body was changed on the way)
        RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/twilio/sms", {**FORM, "Body": "NO"}),
    ],
)
def test_forged_or_unsigned_is_rejected(
    server: ReviewServer, night: Night, signature: str | None
) -> None:
    if signature == "LOCAL":
        signature = RequestValidator(TOKEN).compute_signature(f"{server.url}/twilio/sms", FORM)
    status, _ = _sms(Client(server.url), FORM, signature)
    assert status == 403
    assert _acknowledged(night) == (None, None)


def test_webhook_is_post_only(server: ReviewServer) -> None:
    assert Client(server.url).get("/twilio/sms").status == 405
