"""The morning digest: built from the store, scheduled at 07:00 local, sent once a day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlfile import run_sql
from twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, PushServer, TwilioServer

from guardian.app import add_digest_job, build_outbox
from guardian.cli import main
from guardian.config.site import SiteConfig
from guardian.digest import build_digest, digest_job, digest_trigger
from guardian.effects import Effects, Notification
from guardian.records import Event, HealthChange, HealthProblem, Severity
from guardian.scheduler import Scheduler
from guardian.store import Store

PARIS = ZoneInfo("Europe/Paris")
OWNER = "+33612345678"


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


def site(api_base: str = "http://127.0.0.1:9") -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "site": {"name": "Home pool", "timezone": "Europe/Paris"},
            "cameras": [{"id": "pool", "source": "pool.mp4"}],
            "contacts": [
                {
                    "id": "owner",
                    "phone_env": "T_OWNER_PHONE",
                    "push_env": "T_OWNER_PUSH",
                    "channels": ["sms", "push"],
                },
                {"id": "nobody", "channels": ["console"]},
            ],
            "alerts": {
                "twilio": {"api_base": api_base},
                "quiet_hours": {"start": "22:00", "end": "07:00"},
            },
        }
    )


@pytest.mark.parametrize(
    "before",
    [
        local(2026, 11, 23, 6, 59),
        local(2026, 3, 29, 6, 59),  # the night clocks went forward (02:00 → 03:00)
        local(2026, 10, 25, 6, 59),  # the night clocks went back (03:00 → 02:00)
    ],
)
def test_the_digest_fires_at_seven_local_time(before: dt.datetime) -> None:
    when = digest_trigger(site()).get_next_fire_time(None, before)
    assert when is not None
    assert when.astimezone(PARIS).replace(tzinfo=None) == before.replace(
        minute=0, hour=7, tzinfo=None
    )
    assert when.timestamp() - before.timestamp() == 60.0


def test_the_digest_job_is_on_the_scheduler(tmp_path: Path) -> None:
    scheduler = Scheduler("Europe/Paris")
    with Store(tmp_path / "g.db") as store:
        outbox = build_outbox(store, site(), environ={})
        assert add_digest_job(scheduler, store, outbox, site(), clock=lambda: 0.0)
        runs = scheduler.next_runs(local(2026, 11, 23, 6, 59), 2)
        assert runs[0] == (local(2026, 11, 23, 7, 0), "0 7 * * *: morning digest")
        assert runs[1][0] == local(2026, 11, 24, 7, 0)


def event(event_id: str, rule: str, alias: str, severity: Severity, at: dt.datetime) -> Event:
    return Event(
        event_id, rule, alias, "pool", "water", 1, None, severity, at.timestamp(), None, alias, 0
    )


def fill(store: Store) -> None:
    night = [
        event(
            "e1",
            "water_entry",
            "Someone entered the water",
            Severity.WARNING,
            local(2026, 11, 22, 23, 5),
        ),
        event(
            "e2", "submersion", "Possible submersion", Severity.CRITICAL, local(2026, 11, 23, 2, 13)
        ),
        event(
            "e3",
            "water_entry",
            "Someone entered the water",
            Severity.WARNING,
            local(2026, 11, 23, 3, 40),
        ),
        event(
            "e4", "submersion", "Possible submersion", Severity.CRITICAL, local(2026, 11, 23, 4, 0)
        ),
        event(
            "old",
            "water_entry",
            "Someone entered the water",
            Severity.WARNING,
            local(2026, 11, 21, 12, 0),
        ),
    ]
    effects = Effects()
    effects.notify(
        Notification("e1:sms:owner", "e1", "water_entry", "warning", "sms", "owner", "x")
    )
    store.commit(night, effects=effects, now=local(2026, 11, 22, 23, 5).timestamp())
    run_sql(
        store.path,
        "update alert_deliveries set created_at = ?1, next_attempt_at = ?1",
        [local(2026, 11, 22, 23, 5).timestamp()],
    )
    store.event_log.acknowledge("e4", by="owner")


EXPECTED = """\
Home pool digest Sun 22 Nov 18:00 to Mon 23 Nov 07:00
4 event(s): 2 critical, 2 warning.
1 critical NOT ACKNOWLEDGED.
CRITICAL Mon 23 Nov 02:13 Possible submersion (pool/water) - not acknowledged
CRITICAL Mon 23 Nov 04:00 Possible submersion (pool/water)
WARNING Sun 22 Nov 23:05 Someone entered the water (pool/water) - not acknowledged
WARNING Mon 23 Nov 03:40 Someone entered the water (pool/water) - not acknowledged
Per rule: Possible submersion 2 (1 unack.); Someone entered the water 2.
Not watched 18:00-07:00: Guardian was not running.
1 alert(s) held back by quiet hours.
Review: https://guardian.example.org/"""


def test_the_job_at_seven_sends_the_summary_once(tmp_path: Path) -> None:
    seven = local(2026, 11, 23, 7, 0).timestamp()
    with TwilioServer() as twilio, PushServer() as push, Store(tmp_path / "g.db") as store:
        the_site = site(twilio.url)
        environ = {
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "T_OWNER_PHONE": OWNER,
            "T_OWNER_PUSH": push.apprise_url("digest"),
        }
        fill(store)
        outbox = build_outbox(store, the_site, environ=environ, clock=lambda: seven)
        outbox.flush()  # the 23:05 warning sms falls in quiet hours
        assert [d.status for d in store.outbox.find()] == ["suppressed"]
        job = digest_job(
            store, outbox, the_site, clock=lambda: seven, review_url="https://guardian.example.org/"
        )
        digest, queued = job()
        assert digest.text() == EXPECTED
        assert [(d.channel, d.contact) for d in queued] == [("sms", "owner"), ("push", "owner")]
        (sms,) = twilio.messages
        assert sms["to"] == OWNER and sms["body"].startswith(EXPECTED + " [G")
        (note,) = push.received
        assert note["message"] == EXPECTED and note["title"] == "Home pool: Morning digest"
        _, again = job()  # a second run the same day (a restart at 07:00)
        assert again == [] and len(twilio.messages) == 1 and len(push.received) == 1


def test_build_digest_of_nothing(tmp_path: Path) -> None:
    with Store(tmp_path / "g.db") as store:
        text = build_digest(store, site(), start=0.0, end=100.0).text()
    assert text.splitlines()[1] == "No events."


def test_the_digest_says_what_watched(tmp_path: Path) -> None:
    """Issue 13: "No events." means safe only when the cameras were watched."""
    seven = local(2026, 11, 23, 7, 0).timestamp()
    evening = local(2026, 11, 22, 19, 0).timestamp()
    with Store(tmp_path / "g.db") as store:
        lines = build_digest(store, site(), start=evening, end=seven).text().splitlines()
        assert lines[1:] == ["No events.", "Not watched 19:00-07:00: Guardian was not running."]

        start = local(2026, 11, 22, 21, 0).timestamp()
        store.camera_health.begin_watch("run-1", "pool", start)  # still running at 07:00
        store.camera_health.beat(
            "run-1", "pool", seven - 3, last_frame=seven - 3, frames=1, fps=10.0
        )
        offline = local(2026, 11, 23, 2, 14).timestamp(), local(2026, 11, 23, 2, 31).timestamp()
        store.camera_health.record(
            HealthChange("pool", HealthProblem.OFFLINE, offline[0], None), "run-1"
        )
        store.camera_health.record(HealthChange("pool", HealthProblem.OFFLINE, *offline), "run-1")
        text = build_digest(store, site(), start=evening, end=seven).text()
        assert "Watched since 21:00: pool camera offline 02:14-02:31." in text.splitlines()
        assert text.isascii()  # an SMS in the GSM alphabet
        day = build_digest(store, site(), start=seven - 86400, end=seven).text()
        assert "Watched since 22 Nov 21:00: pool camera offline 23 Nov 02:14-02:31." in day


def write_site(tmp_path: Path, api_base: str = "http://127.0.0.1:9") -> Path:
    (tmp_path / "pool.mp4").write_bytes(b"")
    path = tmp_path / "guardian.yaml"
    path.write_text(
        "site: {name: Home pool, timezone: Europe/Paris}\n"
        "cameras: [{id: pool, source: pool.mp4}]\n"
        "contacts:\n"
        "  - {id: owner, phone_env: T_OWNER_PHONE, channels: [sms]}\n"
        f"alerts: {{twilio: {{api_base: '{api_base}'}}, digest: {{channels: [sms]}}}}\n"
    )
    return path


def test_cli_digest_and_alerts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_site(tmp_path)
    with Store(tmp_path / "guardian.db") as store:
        fill(store)
    assert main(["digest", "--config", str(config), "--since", "2026-11-22 07:00"]) == 0
    out = capsys.readouterr().out
    assert "Home pool digest Sun 22 Nov 07:00" in out and "CRITICAL Mon 23 Nov 02:13" in out
    assert main(["alerts", "--config", str(config), "--status", "suppressed"]) == 0
    assert main(["alerts", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "pending" in out and "sms → owner" in out and "1 pending" in out
    assert main(["digest", "--config", str(config), "--since", "someday"]) == 2
    assert "not a time" in capsys.readouterr().err

    with TwilioServer() as twilio:
        config = write_site(tmp_path, twilio.url)
        for name, value in (
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_FROM_NUMBER", FROM_NUMBER),
            ("T_OWNER_PHONE", OWNER),
        ):
            monkeypatch.setenv(name, value)
        assert main(["digest", "--config", str(config), "--since", "12h", "--send"]) == 0
        out = capsys.readouterr().out
        assert "sms → owner: sent" in out
        assert len(twilio.messages) == 1 and "digest" in twilio.messages[0]["body"]
        assert main(["alerts", "--config", str(config), "--status", "sent"]) == 0
        out = capsys.readouterr().out
        assert "digest" in out and OWNER not in out and AUTH_TOKEN not in out


def test_the_runner_builds_the_channels_and_schedules_the_digest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from guardian.alerts.sms import SmsNotifier
    from guardian.app import build_runner, load_site_and_rules

    monkeypatch.setenv("T_OWNER_PHONE", OWNER)
    bundle, rules = load_site_and_rules(write_site(tmp_path))
    with Store(tmp_path / "guardian.db") as store:
        runner = build_runner(bundle, rules, store)
        assert set(runner.outbox.notifiers) == {"console", "log", "sms"}
        assert isinstance(runner.outbox.notifiers["sms"], SmsNotifier)
        assert runner.outbox.quiet_hours is None
        assert "digest" in runner.scheduler.job_ids()
