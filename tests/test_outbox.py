"""The outbox: written before sending, de-duplicated, claimed, quiet hours, recovery."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils
from sqlfile import run_sql

from guardian.alerts.outbox import Outbox
from guardian.config.alerts import QuietHours
from guardian.effects import Notification
from guardian.store import MIGRATIONS, Store, delivery_ref, migrate
from guardian.vocab import Channel, Severity

PARIS = ZoneInfo("Europe/Paris")


class Recorder:
    """A channel that records what it is asked to send."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.sent: list[Notification] = []

    def ready(self, contact: str) -> bool:
        return True

    def send(self, notification: Notification) -> str | None:
        self.sent.append(notification)
        return f"id-{len(self.sent)}"


def at(hour: int, minute: int = 0) -> float:
    return dt.datetime(2026, 11, 23, hour, minute, tzinfo=PARIS).timestamp()


def note(
    key: str, severity: str = "warning", channel: str = "sms", kind: str = "alert"
) -> Notification:
    return Notification(key, None, "r", severity, channel, "owner", "msg", kind)


def test_same_key_twice_is_sent_once(tmp_path: Path) -> None:
    sms = Recorder("sms")
    with Store(tmp_path / "g.db") as store:
        outbox = Outbox(store, [sms])
        outbox.notify(note("a"))
        outbox.notify(note("a"))
        assert len(sms.sent) == 1 and len(store.outbox.find()) == 1
        (d,) = store.outbox.find()
        assert (d.status, d.provider_id, d.ref) == ("sent", "id-1", delivery_ref("a"))


def test_quiet_hours_hold_back_non_critical_sms_and_push_only(tmp_path: Path) -> None:
    sms, push, console = Recorder("sms"), Recorder("push"), Recorder("console")
    clock = [at(23, 30)]
    with Store(tmp_path / "g.db") as store:
        outbox = Outbox(
            store,
            [sms, push, console],
            quiet_hours=QuietHours(start="22:00", end="07:00"),
            timezone="Europe/Paris",
            clock=lambda: clock[0],
        )
        for key, severity, channel, kind in [
            ("w-sms", "warning", "sms", "alert"),
            ("w-push", "warning", "push", "alert"),
            ("c-sms", "critical", "sms", "alert"),
            ("w-console", "warning", "console", "alert"),
            ("prompt", "info", "sms", "prompt"),
            ("digest", "info", "sms", "digest"),
        ]:
            note = Notification(
                key, None, None, Severity(severity), Channel(channel), "owner", "m", kind
            )
            d = store.outbox.enqueue(note, time.time())
            assert d is not None
            # created in the night (the store stamps real time: set it for the test)
            run_sql(
                store.path,
                "update alert_deliveries set created_at = ?1, next_attempt_at = ?1 where id = ?2",
                [at(23, 30), d.delivery_id],
            )
        outbox.flush(now=at(23, 30))
        statuses = {d.dedup_key: d.status for d in store.outbox.find()}
        assert statuses == {
            "w-sms": "suppressed",
            "w-push": "suppressed",
            "c-sms": "sent",
            "w-console": "sent",
            "prompt": "sent",
            "digest": "sent",
        }
        reason = store.outbox.find("suppressed")[0].reason or ""
        assert "quiet hours 22:00-07:00" in reason
        assert [n.key for n in sms.sent] == ["c-sms", "prompt", "digest"]
        # a warning alert created at 07:00 (the end is excluded) goes
        note = Notification("morning", None, None, Severity.WARNING, Channel.SMS, "owner", "m")
        d = store.outbox.enqueue(note, time.time())
        assert d is not None
        run_sql(
            store.path,
            "update alert_deliveries set created_at = ?1, next_attempt_at = ?1 where id = ?2",
            [at(7, 0), d.delivery_id],
        )
        outbox.flush(now=at(7, 0))
        assert store.outbox.get(d.delivery_id).status == "sent"  # type: ignore[union-attr]


def test_quiet_hours_window() -> None:
    night = QuietHours(start="22:00", end="07:00")
    assert night.contains(22 * 60) and night.contains(3 * 60) and not night.contains(7 * 60)
    assert not night.contains(12 * 60)
    lunch = QuietHours(start="12:00", end="14:00")
    assert lunch.contains(13 * 60) and not lunch.contains(23 * 60)


def test_a_claimed_delivery_is_not_sent_by_another_outbox(tmp_path: Path) -> None:
    a, b = Recorder("sms"), Recorder("sms")
    with Store(tmp_path / "g.db") as store:
        note = Notification("k", None, None, Severity.CRITICAL, Channel.SMS, "owner", "m")
        d = store.outbox.enqueue(note, time.time())
        assert d is not None
        assert store.outbox.claim(d.delivery_id, owner="other:1:x", now=d.created_at) is not None
        assert store.outbox.claim(d.delivery_id, owner="other:1:x", now=d.created_at) is None
        assert Outbox(store, [a]).send(d) == 0
        assert Outbox(store, [b]).flush() == 0
        assert a.sent == [] and b.sent == []


def test_recovery_waits_for_a_live_claimer_and_resends_for_a_dead_one(tmp_path: Path) -> None:
    push = Recorder("push")  # push cannot be asked: an interrupted send is sent again
    live = f"{socket.gethostname()}:{os.getppid()}:x"  # our parent runs
    dead_proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{socket.gethostname()}:{dead_proc.stdout.strip()}:x"
    with Store(tmp_path / "g.db") as store:
        ids = {}
        for key, owner in (("live", live), ("dead", dead)):
            note = Notification(key, None, None, Severity.CRITICAL, Channel.PUSH, "owner", "m")
            d = store.outbox.enqueue(note, time.time())
            assert d is not None
            store.outbox.claim(d.delivery_id, owner=owner, now=1000.0)
            ids[key] = d.delivery_id
        outbox = Outbox(store, [push], lease=120.0)
        assert outbox.flush(now=1010.0) == 1
        assert [n.key for n in push.sent] == ["dead"]
        assert store.outbox.get(ids["live"]).status == "sending"  # type: ignore[union-attr]
        assert outbox.flush(now=1000.0 + 121) == 1  # the lease ran out
        assert [n.key for n in push.sent] == ["dead", "live"]


def test_migration_004_adds_refs_to_an_existing_outbox(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrate(db, [m for m in MIGRATIONS if m[0] in ("001_initial", "002_prompts_escalations")])
    db.table("alert_deliveries").insert(
        {
            "dedup_key": "old",
            "severity": "info",
            "channel": "sms",
            "status": "pending",
            "created_at": 1.0,
            "attempts": 0,
            "next_attempt_at": 1.0,
            "kind": "alert",
            "contact": "owner",
            "message": "m",
        }
    )
    db.conn.close()
    with Store(path) as store:
        assert "004_outbox" in store.applied_migrations
        (d,) = store.outbox.find()
        assert d.ref == delivery_ref("old")
        assert store.outbox.by_ref(d.ref.lower())[0].dedup_key == "old"
