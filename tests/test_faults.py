"""Faults: an alert is never late, doubled or lost because something else misbehaved.

Real parts only: the real ``guardian run`` in a child process, a real live camera (an
HTTP MJPEG stream on 127.0.0.1 of real corpus footage: a person walks into the water
zone and vanishes there, see ``livecam.py``), the real ``twilio`` client against the
local Twilio stand-in made slow or hung, and a second process holding the SQLite
database with ``BEGIN EXCLUSIVE``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from livecam import EMPTY, ZONE, K, LiveCamera, scene_frames
from rulesim import SUBMERSION, P, rules_from, run
from sqlfile import run_sql
from twilio_server import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    TwilioServer,
    twilio_env,
    wait_for,
)

from guardian.alerts.outbox import Outbox
from guardian.alerts.sms import SmsNotifier, TwilioCredentials
from guardian.effects import Notification
from guardian.rules import RuleEngine
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent
EXTRA: list[str] = []
OWNER = "+33612345678"
TIMEOUT = 8.0  # the submersion timer


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return scene_frames()


@pytest.fixture
def camera(frames: list[np.ndarray]) -> Iterator[LiveCamera]:
    """The person walks into the water zone, stands there 4 s (time for a loaded
    machine to see them), and is gone (under water)."""
    cam = LiveCamera([*frames[:K:3], *[frames[K - 1]] * 24, frames[EMPTY]], fps=6)
    yield cam
    cam.close()


def _site(
    folder: Path, camera: str, api_base: str, sms_timeout: str = "2s", timeout: float = TIMEOUT
) -> Path:
    (folder / "zones.yaml").write_text(
        "zones:\n  - name: water\n    camera: pool\n    kind: water\n    units: px\n"
        f"    polygon: {ZONE}\n    inertia: 1\n"
    )
    (folder / "rules.yaml").write_text(
        "rules:\n"
        "  - id: entry\n    severity: warning\n"
        "    triggers: [{kind: zone_enter, zones: water}]\n"
        "    actions: [{kind: alert, contacts: [owner], channels: [sms]}]\n"
        "  - id: submersion\n    severity: critical\n"
        f"    triggers: [{{kind: absent, zones: water, timeout: {timeout:g}s}}]\n"
        "    actions: [{kind: alert, contacts: [owner], channels: [sms]}]\n"
    )
    site = folder / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {camera}\n    fps: 3\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        "contacts:\n  - id: owner\n    phone_env: T_OWNER_PHONE\n    channels: [sms]\n"
        f"alerts:\n  twilio: {{api_base: '{api_base}', timeout: {sms_timeout}}}\n"
        # the stand-in camera repeats its last frame: a frozen picture, not a fault here
        "health:\n  stalled_after: 0\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
    )
    return site


def _spawn(site: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **twilio_env(OWNER)}
    return subprocess.Popen(
        [sys.executable, "-m", "guardian", "run", "--config", str(site), "--quiet", *EXTRA],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _rows(db: Path, sql: str) -> list[dict[str, object]]:
    try:
        with sqlite3.connect(db, timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]
    except sqlite3.OperationalError:  # not created yet
        return []


def _events(db: Path, rule: str) -> list[dict[str, object]]:
    return _rows(db, f"select * from events where rule_id = '{rule}' order by started_at")


def _deadline(db: Path, proc: subprocess.Popen[str], limit: float = 240) -> float:
    """The submersion timer's deadline, once the running process has stored it and kept
    it for 1.5 s (a person flickering while they stand starts timers that end at once)."""
    end = time.monotonic() + limit
    seen: tuple[float, float] | None = None  # (deadline, first read at)
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        deadlines = [
            float(entry["deadline"])
            for row in _rows(db, "select value from rule_state where rule_id = 'submersion'")
            if isinstance(entry := json.loads(str(row["value"])), dict) and "deadline" in entry
        ]
        if not deadlines:
            seen = None
        elif seen is None or seen[0] != max(deadlines):
            seen = (max(deadlines), time.monotonic())
        elif time.monotonic() - seen[1] >= 1.5:
            return seen[0]
        time.sleep(0.05)
    raise AssertionError("no submersion timer was stored")


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT, limit: float = 60) -> float:
    """Signal the run; return how many seconds it took to end."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        proc.wait(timeout=limit)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return time.monotonic() - t0


def _refs(server: TwilioServer) -> Counter[str]:
    """How many messages the provider holds for each delivery reference [G…]."""
    found = Counter[str]()
    for message in server.messages:
        match = re.search(r"\[(G[A-Z0-9]+)\]", str(message["body"]))
        assert match, message["body"]
        found[match.group(1)] += 1
    return found


def test_a_hung_sms_provider_never_delays_the_submersion_alarm_nor_doubles_a_text(
    tmp_path: Path, camera: LiveCamera
) -> None:
    """Twilio answers every message 10 s late (the client gives up after 2 s): the
    entry text goes out while the person walks in, then the person vanishes. The
    submersion event is stored at its deadline (the rule thread never waits for
    Twilio), once; each text reaches Twilio once (a timeout is reconciled with Twilio,
    which has the message, instead of sent again) and ends marked sent."""
    with TwilioServer() as server:
        server.state.delay = 10.0
        site = _site(tmp_path, camera.url, server.url)
        db = tmp_path / "guardian.db"
        proc = _spawn(site)
        try:
            deadline = _deadline(db, proc)
            wait_for(
                lambda: bool(_events(db, "submersion")) or proc.poll() is not None,
                timeout=deadline - time.time() + 30,
                what="the submersion event",
            )
            wait_for(  # both texts settled: reconciled with Twilio, not sent twice
                lambda: (
                    len(_rows(db, "select id from alert_deliveries where status = 'sent'")) >= 2
                    or proc.poll() is not None
                ),
                timeout=90,
                what="both texts marked sent",
            )
            time.sleep(3)  # time for a duplicate, if one were coming
        finally:
            _stop(proc)
        refs = _refs(server)
    (event,) = _events(db, "submersion")
    assert float(event["started_at"]) == pytest.approx(deadline, abs=1.5)  # type: ignore[arg-type]
    assert float(event["created_at"]) - deadline < 2.0  # type: ignore[arg-type]
    deliveries = _rows(db, "select * from alert_deliveries order by id")
    assert sorted(str(d["rule_id"]) for d in deliveries) == ["entry", "submersion"]
    assert [d["status"] for d in deliveries] == ["sent", "sent"]
    assert set(refs.values()) == {1} and set(refs) == {str(d["ref"]) for d in deliveries}


def test_stopping_while_twilio_hangs_takes_seconds_and_the_next_start_sends_nothing_twice(
    tmp_path: Path, camera: LiveCamera
) -> None:
    """SIGTERM while Twilio holds the entry text (it answers after 60 s, the client
    waits 30 s): the run ends within a few seconds, leaving the text ``sending``. The
    next start asks Twilio, finds the text there and marks it sent: one message."""
    with TwilioServer() as server:
        server.state.delay = 60.0
        site = _site(tmp_path, camera.url, server.url, sms_timeout="30s")
        db = tmp_path / "guardian.db"
        proc = _spawn(site)
        try:
            wait_for(lambda: bool(server.messages), timeout=240, what="the entry text")
            took = _stop(proc, signal.SIGTERM)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, proc.communicate()[1][-3000:]
        assert took < 8.0, f"stopping took {took:.1f}s"
        (left,) = _rows(db, "select * from alert_deliveries where rule_id = 'entry'")
        assert left["status"] == "sending"
        server.state.delay = 0.0
        proc = _spawn(site)
        try:
            wait_for(
                lambda: (
                    _rows(db, "select status from alert_deliveries where rule_id = 'entry'")
                    == [{"status": "sent"}]
                ),
                timeout=120,
                what="the entry text reconciled",
            )
        finally:
            _stop(proc)
        assert _refs(server)[str(left["ref"])] == 1


def _outbox(store: Store, server: TwilioServer) -> Outbox:
    """An outbox with the real SMS channel on the stand-in, client timeout 1 s."""
    sms = SmsNotifier(
        TwilioCredentials(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER),
        {"owner": OWNER},
        api_base=server.url,
        timeout=1.0,
    )
    return Outbox(store, [sms])


def test_a_slow_provider_gets_one_message_and_the_delivery_is_marked_sent(
    tmp_path: Path,
) -> None:
    """A response slower than the client's timeout: the outbox asks Twilio before
    trying again (it has the message) instead of sending it 8 times and calling it
    failed."""
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        server.state.delay = 3.0
        outbox = _outbox(store, server)
        outbox.notify(
            Notification("ev1:sms:owner", None, "entry", "warning", "sms", "owner", "In", "alert")
        )
        for _ in range(8):  # the retries the old outbox made
            run_sql(store.path, "update alert_deliveries set next_attempt_at = 0")
            outbox.flush()
        (delivery,) = store.outbox.find()
        assert delivery.status == "sent" and delivery.provider_id
        assert list(_refs(server).values()) == [1]


def test_a_timeout_with_nothing_at_the_provider_is_sent_again(tmp_path: Path) -> None:
    """The other side of a timeout: the provider never got the message (dropped), so
    the reconcile finds nothing and the text is sent again, once."""
    with TwilioServer() as server, Store(tmp_path / "g.db") as store:
        server.state.hold = "drop"
        outbox = _outbox(store, server)
        outbox.notify(
            Notification("ev2:sms:owner", None, "sub", "critical", "sms", "owner", "Help", "alert")
        )
        (doubt,) = store.outbox.find()
        assert doubt.status == "sending" and doubt.claimed_by is None  # in doubt
        server.state.hold = None
        server.release()
        run_sql(store.path, "update alert_deliveries set next_attempt_at = 0")
        outbox.flush()
        (sent,) = store.outbox.find()
        assert sent.status == "sent"
        assert list(_refs(server).values()) == [1]


WATER = P(300, 300)


def _script(appears: float, spot: P):  # type: ignore[no-untyped-def]
    """The swimmer (track 1) goes under at 4 s; at ``appears`` s a person is seen for
    1 s inside the water at ``spot`` as a new track (2), then lost there too."""
    gone = P(WATER.x, WATER.y, seen=False)

    def script(t: float) -> dict[int, P]:
        people = {1: WATER} if t < 4 else {1: gone} if t < 6 else {}
        if appears <= t < appears + 1:
            people[2] = spot
        elif t >= appears + 1:
            people[2] = P(spot.x, spot.y, seen=False)
        return people

    return script


def test_the_same_disappearance_never_fires_twice(tmp_path: Path) -> None:
    """Scripted: the alarm for the swimmer fires at 9 s; at 10 s frames that queued
    while Guardian was held up (or a ghost detection) show a person where the swimmer
    was last seen, as a new track, who is lost again at once. The old engine timed that
    track and fired a second submersion at 16 s for the same vanished person."""
    engine = RuleEngine(rules_from(tmp_path, SUBMERSION).rules)
    fired = run(engine, _script(10.0, P(305, 305)), 25)
    assert fired == [("submersion", pytest.approx(9.0, abs=0.11))]


@pytest.mark.parametrize(
    ("appears", "spot"),
    [(45.0, P(305, 305)), (10.0, P(420, 220))],
    ids=["40 s after the alarm", "elsewhere in the water"],
)
def test_a_second_person_vanishing_later_or_elsewhere_still_fires(
    tmp_path: Path, appears: float, spot: P
) -> None:
    """Scripted: not the same disappearance (long after the alarm, or far from where
    the swimmer was last seen): the second timer fires too."""
    engine = RuleEngine(rules_from(tmp_path, SUBMERSION).rules)
    fired = run(engine, _script(appears, spot), appears + 10)
    assert [rule for rule, _ in fired] == ["submersion", "submersion"]
    assert fired[1][1] == pytest.approx(appears + 1 + 5.0, abs=0.11)


def test_a_retry_pending_when_a_video_run_ends_is_sent_before_it_ends(
    tmp_path: Path, frames: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run on a video file: Twilio fails the entry text twice (HTTP 500), and the
    video ends before the retry is due. The run gives pending retries a short while
    before it ends: the text is sent in this run (it used to wait for the next start)."""
    import cv2

    from guardian.app import run_site

    video = tmp_path / "pool.mp4"
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 18.0, (w, h))
    for image in [*frames[:K], *[frames[K - 1]] * 18]:
        writer.write(image)
    writer.release()
    for name, value in twilio_env(OWNER).items():
        monkeypatch.setenv(name, value)
    with TwilioServer() as server:
        server.state.fail_posts = 2
        site = _site(tmp_path, str(video), server.url)
        site.write_text(site.read_text().replace("fps: 3", "fps: 6"))
        assert run_site(site, progress=False) == 0
        messages = server.messages
        posts = len(server.state.posts)
    (delivery,) = _rows(tmp_path / "guardian.db", "select * from alert_deliveries")
    assert delivery["rule_id"] == "entry" and delivery["status"] == "sent"
    assert posts == 3 and len(messages) == 1


def _hold_database(db: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process that takes the database with BEGIN EXCLUSIVE for ``seconds``."""
    code = (
        "import sqlite3, sys, time\n"
        "conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)\n"
        "conn.execute('BEGIN EXCLUSIVE')\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "conn.execute('COMMIT')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_the_database_held_by_another_process_loses_nothing(
    tmp_path: Path, camera: LiveCamera
) -> None:
    """A second process takes the database (BEGIN EXCLUSIVE) while the submersion timer
    runs and holds it until 8 s past the deadline. The run does not die; the timer fires
    on time while the database is held (the rules keep running), the event waits in
    memory and is stored, with its alert (sent once), as soon as the database is free;
    the entry event before it is intact."""
    with TwilioServer() as server:
        site = _site(tmp_path, camera.url, server.url, timeout=15.0)
        db = tmp_path / "guardian.db"
        proc = _spawn(site)
        holder: subprocess.Popen[str] | None = None
        try:
            deadline = _deadline(db, proc)
            assert deadline - time.time() > 2.0, "the timer was read too late to test this"
            hold = deadline - time.time() + 8.0
            holder = _hold_database(db, hold)
            held, released = time.time(), time.time() + hold
            holder.wait(timeout=60)
            wait_for(
                lambda: bool(_events(db, "submersion")) or proc.poll() is not None,
                timeout=30,
                what="the submersion event after the database was free",
            )
            wait_for(lambda: len(server.messages) >= 2, timeout=30, what="both texts")
            assert proc.poll() is None, proc.communicate()[1][-3000:]
        finally:
            if holder is not None and holder.poll() is None:
                holder.kill()
            _stop(proc)
        _, err = proc.communicate()
    assert "held by another process" in err  # said, not a crash
    assert "Traceback" not in err
    (event,) = _events(db, "submersion")
    fired, stored = float(event["started_at"]), float(event["created_at"])  # type: ignore[arg-type]
    assert fired == pytest.approx(deadline, abs=1.5) and held < fired < released
    assert released - 0.5 < stored < released + 3.0
    assert len(_events(db, "entry")) == 1
    assert set(_refs(server).values()) == {1} and len(_refs(server)) == 2
