"""SMS replies: Twilio's signed webhook acknowledges alerts and answers prompts."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from guardian.alerts.inbound import handle_sms_webhook, twilio_signature
from guardian.config.site import SiteConfig
from guardian.effects import Effects, ModeRequest, Notification, PromptRequest
from guardian.records import Event, Severity
from guardian.store import Store, delivery_ref

TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
URL = "https://guardian.example.org/twilio/sms"
OWNER = "+33612345678"
NOW = 1_800_000_000.0
ENV = {"T_OWNER_PHONE": OWNER, "T_NEIGHBOUR_PHONE": "+33 7 11 22 33 44"}

SITE = SiteConfig.model_validate(
    {
        "site": {"name": "Home pool", "timezone": "Europe/Paris"},
        "cameras": [{"id": "pool", "source": "pool.mp4"}],
        "contacts": [
            {"id": "owner", "phone_env": "T_OWNER_PHONE", "channels": ["sms"]},
            {"id": "neighbour", "phone_env": "T_NEIGHBOUR_PHONE", "channels": ["sms"]},
        ],
    }
)


def event(event_id: str, at: float) -> Event:
    return Event(
        event_id,
        "submersion",
        "Possible submersion",
        "pool",
        "water",
        1,
        None,
        Severity.CRITICAL,
        at,
        None,
        "someone under water",
        10,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "g.db")
    effects = Effects()
    for event_id in ("ev-old", "ev-new"):
        effects.notify(
            Notification(
                f"{event_id}:sms:owner",
                event_id,
                "submersion",
                "critical",
                "sms",
                "owner",
                "Possible submersion",
            )
        )
    effects.ask(
        PromptRequest(
            "abc123",
            "ev-new",
            "submersion",
            "Switch to supervised?",
            ("owner",),
            ("sms",),
            NOW + 600,
            ModeRequest("supervised", duration=3600.0, source="prompt"),
        )
    )
    store.commit(
        [event("ev-old", NOW - 600), event("ev-new", NOW - 60)], effects=effects, now=NOW - 60
    )
    for d in store.outbox.find():
        store.outbox.mark(d.delivery_id, ok=True, provider_id="SMx", now=NOW - 50)
    return store


_SIDS = itertools.count(1)


def post(
    store: Store,
    body: str,
    *,
    sender: str = OWNER,
    url: str = URL,
    sign_url: str = URL,
    token: str | None = TOKEN,
    signature: str | None = "compute",
    sid: str | None = None,
):
    """A signed webhook request; each one a new message (MessageSid) unless ``sid``."""
    sid = sid or f"SM{next(_SIDS):032x}"
    form = {"From": sender, "To": "+15005550006", "Body": body, "MessageSid": sid}
    if signature == "compute":
        signature = twilio_signature(TOKEN, sign_url, form)
    return handle_sms_webhook(
        store, SITE, url=url, form=form, signature=signature, auth_token=token, now=NOW, environ=ENV
    )


def test_signed_ack_acknowledges_the_latest_alert(store: Store) -> None:
    reply = post(store, "ack")
    assert (reply.status, reply.content_type) == (200, "application/xml")
    assert reply.body.startswith("<?xml") and "<Response><Message>Acknowledged:" in reply.body
    assert store.event_log.is_acknowledged("ev-new") and not store.event_log.is_acknowledged(
        "ev-old"
    )
    assert "Acknowledged:" in post(store, "OK").body  # then the one before
    assert store.event_log.is_acknowledged("ev-old")
    assert "No alert is waiting" in post(store, "ACK").body


def test_ack_with_a_reference(store: Store) -> None:
    reply = post(store, f"ACK [{delivery_ref('ev-old:sms:owner')}]")
    assert "Acknowledged" in reply.body
    assert store.event_log.is_acknowledged("ev-old") and not store.event_log.is_acknowledged(
        "ev-new"
    )
    assert "Already acknowledged" in post(store, "ack ev-old").body
    assert "No alert with the code GZZZZZ" in post(store, "ack GZZZZZ").body


def test_signed_yes_switches_the_mode(store: Store) -> None:
    assert store.mode_log.latest().mode == "unsupervised"
    reply = post(store, "Yes")
    assert reply.status == 200 and "mode is now supervised until" in reply.body
    state = store.mode_log.latest()
    assert (state.mode, state.by, state.source) == ("supervised", "owner", "sms")
    assert state.until == pytest.approx(NOW + 3600)
    assert store.prompt_log.get("abc123").status == "accepted"  # type: ignore[union-attr]
    assert "No question is waiting" in post(store, "yes").body


def test_no_declines_and_a_reference_names_the_prompt(store: Store) -> None:
    assert "Answered NO" in post(store, "no abc123").body
    assert store.prompt_log.get("abc123").status == "declined"  # type: ignore[union-attr]
    assert store.mode_log.latest().mode == "unsupervised"
    assert "already declined" in post(store, "yes ABC123").body


@pytest.mark.parametrize("kind", ["forged", "unsigned", "wrong url", "no token", "other token"])
def test_bad_signatures_are_refused_and_change_nothing(store: Store, kind: str) -> None:
    args: dict[str, object] = {
        "forged": {"signature": "bm90IGEgc2lnbmF0dXJl"},
        "unsigned": {"signature": None},
        "wrong url": {"sign_url": "https://evil.example.org/twilio/sms"},
        "no token": {"token": None},
        "other token": {"token": "0" * 32},
    }[kind]
    for body in ("ACK", "YES"):
        reply = post(store, body, **args)  # type: ignore[arg-type]
        assert reply.status == 403 and reply.content_type.startswith("text/plain")
    assert not store.event_log.is_acknowledged("ev-new")
    assert store.mode_log.latest().mode == "unsupervised"
    assert store.prompt_log.get("abc123").status == "pending"  # type: ignore[union-attr]


def test_unknown_sender_gets_a_polite_reply_and_nothing_happens(store: Store) -> None:
    reply = post(store, "ACK", sender="+4915112345678")
    assert reply.status == 200 and "not a contact of Home pool" in reply.body
    assert not store.event_log.is_acknowledged("ev-new")


def test_numbers_match_whatever_their_spacing_and_help_for_anything_else(store: Store) -> None:
    reply = post(store, "ack", sender="+33711223344")  # the neighbour: nothing alerted to them
    assert "No alert is waiting" in reply.body
    reply = post(store, "what is going on?")
    assert "reply ACK" in reply.body and "YES or NO" in reply.body


def test_a_request_without_from_is_a_bad_request(store: Store) -> None:
    form = {"Body": "ACK"}
    reply = handle_sms_webhook(
        store,
        SITE,
        url=URL,
        form=form,
        signature=twilio_signature(TOKEN, URL, form),
        auth_token=TOKEN,
        now=NOW,
        environ=ENV,
    )
    assert reply.status == 400


def test_a_replayed_message_sid_is_ignored(store: Store) -> None:
    first = post(store, "ACK", sid="SMreplayed")
    assert "Acknowledged:" in first.body
    assert store.event_log.is_acknowledged("ev-new") and not store.event_log.is_acknowledged(
        "ev-old"
    )
    # the same signed request again (a replay, or Twilio re-sending it): nothing is done
    again = post(store, "ACK", sid="SMreplayed")
    assert (again.status, again.content_type) == (200, "application/xml")
    assert "<Message>" not in again.body and "<Response" in again.body
    assert not store.event_log.is_acknowledged("ev-old")
    # a new message still works; a request without a MessageSid is refused
    assert "Acknowledged:" in post(store, "ACK", sid="SMnext").body
    form = {"From": OWNER, "Body": "ACK"}
    reply = handle_sms_webhook(
        store,
        SITE,
        url=URL,
        form=form,
        signature=twilio_signature(TOKEN, URL, form),
        auth_token=TOKEN,
        now=NOW,
        environ=ENV,
    )
    assert reply.status == 400 and "MessageSid" in reply.body
