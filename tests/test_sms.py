"""SMS through Twilio: the real twilio client against a local Messages API server."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioServer, wait_for

from guardian.alerts.base import DeliveryError
from guardian.alerts.outbox import Outbox
from guardian.alerts.sms import SmsNotifier, compose_sms, mask_number
from guardian.app import build_outbox
from guardian.config.site import SiteConfig
from guardian.effects import Notification
from guardian.store import Store, delivery_ref
from guardian.vocab import Channel, Severity

OWNER = "+33612345678"
REPO = Path(__file__).resolve().parent.parent


def sms_site(api_base: str, **alerts: Any) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"name": "Home pool", "timezone": "Europe/Paris"},
            "cameras": [{"id": "pool", "source": "pool.mp4"}],
            "contacts": [
                {"id": "owner", "phone_env": "T_OWNER_PHONE", "channels": ["console", "sms"]}
            ],
            "alerts": {"twilio": {"api_base": api_base}, **alerts},
        }
    )


def env(token: str = AUTH_TOKEN) -> dict[str, str]:
    return {
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": token,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "T_OWNER_PHONE": OWNER,
    }


def note(
    key: str = "ev1:sms:owner", severity: str = "critical", kind: str = "alert"
) -> Notification:
    return Notification(
        key, None, "submersion", severity, "sms", "owner", "Possible submersion", kind
    )


def test_the_right_request_reaches_twilio(tmp_path: Path) -> None:
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        site = sms_site(server.url)
        outbox = build_outbox(store, site, environ=env())
        outbox.notify(note())
        (post,) = server.state.posts
        assert post.authorized
        assert post.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        assert post.params["To"] == OWNER
        assert post.params["From"] == FROM_NUMBER
        body = post.params["Body"]
        assert body.startswith("Possible submersion ")
        assert "Reply ACK" in body
        assert body.endswith(f"[{delivery_ref('ev1:sms:owner')}]")
        (delivery,) = store.outbox.find()
        assert delivery.status == "sent"
        assert delivery.provider_id == server.messages[0]["sid"]
        assert delivery.provider_id is not None and delivery.provider_id.startswith("SM")


def test_reply_hints_depend_on_kind_and_severity() -> None:
    assert "Reply YES or NO" in compose_sms(note(kind="prompt", severity="info"))
    assert "Reply" not in compose_sms(note(severity="warning"))
    assert "Reply ACK" in compose_sms(note(kind="escalation"))
    long = Notification("k", None, None, "info", "sms", "owner", "x" * 5000)
    text = compose_sms(long)
    assert len(text) <= 1600 and text.endswith(f"[{delivery_ref('k')}]")


def test_failing_server_is_retried_with_backoff_and_sent_once(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        server.state.fail_posts = 2
        outbox = build_outbox(store, sms_site(server.url), environ=env(), clock=lambda: clock[0])
        outbox.notify(note())
        (d,) = store.outbox.find()
        assert (d.status, d.attempts) == ("pending", 1)
        assert d.next_attempt_at == pytest.approx(clock[0] + 2)
        assert "500" in (d.last_error or "")
        clock[0] += 1.5
        assert outbox.flush() == 0 and len(server.state.posts) == 1  # not due yet
        clock[0] += 1.0
        assert outbox.flush() == 0 and len(server.state.posts) == 2  # second failure
        d = store.outbox.find()[0]
        assert d.next_attempt_at == pytest.approx(clock[0] + 4)
        clock[0] += 4.0
        assert outbox.flush() == 1
        clock[0] += 1000
        assert outbox.flush() == 0
        assert len(server.state.posts) == 3
        assert len(server.messages) == 1
        assert store.outbox.find()[0].status == "sent"


def test_gives_up_after_max_attempts(tmp_path: Path) -> None:
    clock = [1_800_000_000.0]
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        server.state.fail_posts = 10
        site = sms_site(server.url, max_attempts=3, retry_max="1s")
        outbox = build_outbox(store, site, environ=env(), clock=lambda: clock[0])
        outbox.notify(note())
        for _ in range(5):
            clock[0] += 1.0
            outbox.flush()
        (d,) = store.outbox.find()
        assert (d.status, d.attempts) == ("failed", 3)
        assert len(server.state.posts) == 3


def test_no_token_or_number_in_logs_or_errors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        wrong = "0" * 32
        outbox = build_outbox(store, sms_site(server.url), environ=env(token=wrong))
        outbox.notify(note())
        (d,) = store.outbox.find()
        assert d.status == "pending" and "401" in (d.last_error or "")
        outbox = build_outbox(store, sms_site(server.url), environ=env())
        outbox.flush(now=d.next_attempt_at + 1)
        assert store.outbox.find()[0].status == "sent"
        # every record at INFO and above, and Guardian's own at any level (urllib3's DEBUG
        # lines show request paths, which is what DEBUG is for)
        shown = [
            r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.INFO or r.name.startswith("guardian")
        ]
        text = "\n".join(shown) + (d.last_error or "")
        for secret in (wrong, AUTH_TOKEN, OWNER, OWNER.replace("+", "%2B"), ACCOUNT_SID):
            assert secret not in text
        assert mask_number(OWNER) in caplog.text  # "+33…78"


def test_missing_credentials_say_which_variable(tmp_path: Path) -> None:
    site = sms_site("http://127.0.0.1:9")
    notifier = SmsNotifier.from_site(site, {"T_OWNER_PHONE": OWNER})
    with pytest.raises(DeliveryError, match="TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN"):
        notifier.send(note())


def test_reconcile_finds_a_message_that_went_out(tmp_path: Path) -> None:
    """A delivery left 'sending' by a dead process: found at Twilio → sent, no new POST;
    not found → sent again, once."""
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        site = sms_site(server.url)
        notifier = SmsNotifier.from_site(site, env())
        gone = "somewhere-else:1:x"
        for key in ("went-out:sms:owner", "never-left:sms:owner"):
            sent_before = Notification(
                key, None, None, Severity.CRITICAL, Channel.SMS, "owner", "Possible submersion"
            )
            d = store.outbox.enqueue(sent_before, time.time())
            assert d is not None
            store.outbox.claim(d.delivery_id, owner=gone, now=d.created_at)
        notifier.send(note(key="went-out:sms:owner"))  # it reached Twilio before the crash
        assert len(server.messages) == 1
        outbox = Outbox(store, [notifier], lease=0.0)
        assert outbox.flush() == 2  # one reconciled, one sent
        lists = [r for r in server.state.requests if r.method == "GET"]
        assert lists and lists[0].params["To"] == OWNER and "DateSent>" in lists[0].params
        assert len(server.state.posts) == 2
        bodies = sorted(m["body"] for m in server.messages)
        assert [b[-8:] for b in bodies] == sorted(
            f"[{delivery_ref(k)}]" for k in ("went-out:sms:owner", "never-left:sms:owner")
        )
        assert {d.status for d in store.outbox.find()} == {"sent"}


# --------------------------------------------------------------- kill -9 mid-send

SENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from guardian.app import build_outbox
    from guardian.config.site import SiteConfig
    from guardian.effects import Notification
    from guardian.store import Store

    db, api_base, action = sys.argv[1:4]
    site = SiteConfig.model_validate({
        "cameras": [{"id": "pool", "source": "pool.mp4"}],
        "contacts": [{"id": "owner", "phone_env": "T_OWNER_PHONE", "channels": ["sms"]}],
        "alerts": {"twilio": {"api_base": api_base}},
    })
    store = Store(Path(db))
    outbox = build_outbox(store, site)
    if action == "alert":
        outbox.notify(Notification("ev9:sms:owner", None, "submersion", "critical", "sms",
                                   "owner", "Possible submersion"))
    else:
        print("sent", outbox.flush())
    print("statuses", [str(d.status) for d in store.outbox.find()])
    """
)


def _guardian(tmp_path: Path, server: TwilioServer, action: str) -> subprocess.Popen[str]:
    script = tmp_path / "sender.py"
    script.write_text(SENDER)
    environ = {**os.environ, **env(), "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "g.db"), server.url, action],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("hold", ["accept", "drop"])
def test_kill_9_while_sending_then_restart_delivers_exactly_once(tmp_path: Path, hold: str) -> None:
    """'accept': Twilio took the message and the process died waiting for the answer;
    'drop': the process died before Twilio took it. Either way: one message."""
    with TwilioServer() as server:
        server.state.hold = hold
        first = _guardian(tmp_path, server, "alert")
        wait_for(server.state.held.is_set, 20, "the POST to reach the server")
        with Store(tmp_path / "g.db") as store:
            (d,) = store.outbox.find()
            assert d.status == "sending"  # claimed before the provider was called
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        server.state.hold = None
        server.release()
        again = _guardian(tmp_path, server, "flush")
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        assert "statuses ['sent']" in out
        assert len(server.messages) == 1
        assert server.messages[0]["to"] == OWNER
        expected_posts = 1 if hold == "accept" else 2  # 'drop': the held one never counted
        assert len(server.state.posts) == expected_posts
        with Store(tmp_path / "g.db") as store:
            (d,) = store.outbox.find()
            assert d.provider_id == server.messages[0]["sid"]
        third = _guardian(tmp_path, server, "flush")  # and again: nothing more
        third.communicate(timeout=60)
        assert len(server.messages) == 1
