"""Push through Apprise to a local ntfy-like server, and a failing one."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from twilio_server import PushServer

from guardian.alerts.base import DeliveryError
from guardian.alerts.push import PushNotifier
from guardian.app import build_outbox
from guardian.config.site import SiteConfig
from guardian.effects import Notification
from guardian.store import Store


def push_site() -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"name": "Home pool"},
            "cameras": [{"id": "pool", "source": "pool.mp4"}],
            "contacts": [{"id": "owner", "push_env": "T_OWNER_PUSH", "channels": ["push"]}],
        }
    )


NOTE = Notification("ev1:push:owner", "ev1", "submersion", "critical", "push", "owner", "Help")


def test_push_reaches_the_ntfy_server() -> None:
    with PushServer() as server:
        notifier = PushNotifier.from_site(push_site(), {"T_OWNER_PUSH": server.apprise_url("t1")})
        notifier.send(NOTE)
        (got,) = server.received
        assert got["topic"] == "t1"
        assert got["message"] == "Help"
        assert got["title"] == "Home pool: EMERGENCY"


def test_failing_push_server_raises_then_the_outbox_retries(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="guardian")
    clock = [1_800_000_000.0]
    with PushServer() as server, Store(tmp_path / "g.db") as store:
        url = server.apprise_url("secret-topic")
        notifier = PushNotifier.from_site(push_site(), {"T_OWNER_PUSH": url})
        server.state.fail_posts = 1
        with pytest.raises(DeliveryError, match="HTTP 500"):
            notifier.send(NOTE)
        server.state.fail_posts = 1
        outbox = build_outbox(store, push_site(), notifiers=[notifier], clock=lambda: clock[0])
        outbox.notify(NOTE)
        assert store.outbox.find()[0].status == "pending"
        clock[0] += 3
        assert outbox.flush() == 1
        clock[0] += 300
        assert outbox.flush() == 0
        assert len(server.received) == 1
        guardian_logs = [r.getMessage() for r in caplog.records if r.name.startswith("guardian")]
        assert not any("secret-topic" in m for m in guardian_logs)


def test_unreachable_push_server_and_missing_url() -> None:
    with PushServer() as server:
        url = server.apprise_url()
    notifier = PushNotifier({"owner": url})  # the server is gone: connection refused
    with pytest.raises(DeliveryError, match="unreachable"):
        notifier.send(NOTE)
    with pytest.raises(DeliveryError, match="push_env"):
        PushNotifier({}).send(NOTE)
    with pytest.raises(DeliveryError, match="not an Apprise URL"):
        PushNotifier({"owner": "nonsense"}).send(NOTE)
