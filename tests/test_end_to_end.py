"""One owner's evening, end to end, with every part real.

``guardian run`` (the real pose model) watches a corpus clip; a critical rule fires, its
clip is written, and its SMS goes through the real twilio client to a local server that
speaks Twilio's API, carrying the link to the review page. ``guardian serve`` then runs
as its own process: Debian's Chromium logs in, finds the event and plays the clip made
from the corpus footage (its ``currentTime`` advances); and the owner's SMS reply "ACK",
signed as Twilio signs it, acknowledges the event through the webhook.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from browser import chromium, poll, require_browser, save_screenshot
from corpus import require_corpus
from twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioServer

from guardian.alerts.inbound import twilio_signature
from guardian.review.auth import hash_password
from guardian.store import Store

pytestmark = [pytest.mark.corpus, pytest.mark.model]

REPO = Path(__file__).resolve().parent.parent
UPFALL = ("fall", "upfall", "UPFall_S1_A01_T1_Cam1.mp4")
PUBLIC = "https://guardian.example.test"  # the address links in alerts point to
OWNER = "+33612345678"
PASSWORD = "correct horse battery staple"


@dataclass
class Evening:
    root: Path
    site: Path
    env: dict[str, str]
    twilio: TwilioServer
    run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def evening(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Evening]:
    video = require_corpus(*UPFALL)
    root = tmp_path_factory.mktemp("evening")
    (root / "zones.yaml").write_text(
        "zones:\n  - name: floor\n    camera: lab\n    kind: room\n"
        "    polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]\n"
    )
    (root / "rules.yaml").write_text(
        "rules:\n"
        "  - id: on_the_floor\n"
        "    severity: critical\n"
        "    cooldown: 10m\n"
        "    triggers: [{kind: zone_enter, zones: floor}]\n"
        "    actions:\n"
        "      - {kind: alert, channels: [console, sms], message: 'Someone is on the floor {link}'}\n"
        "      - {kind: record_clip, pre: 2s, post: 3s}\n"
    )
    site = root / "guardian.yaml"
    site.write_text(
        "site:\n  name: Lab\n  timezone: Europe/Paris\n"
        f"cameras:\n  - id: lab\n    source: {video}\n    fps: 5\n    imgsz: 320\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: events.db\n  models: {REPO / 'models'}\n"
        "contacts:\n  - id: owner\n    phone_env: E2E_OWNER_PHONE\n    channels: [console, sms]\n"
        f"review:\n  url: {PUBLIC}\n  user: owner\n  password_hash_env: E2E_REVIEW_HASH\n"
    )
    with TwilioServer() as twilio:
        site.write_text(site.read_text() + f"alerts:\n  twilio:\n    api_base: {twilio.url}\n")
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_FROM_NUMBER": FROM_NUMBER,
            "E2E_OWNER_PHONE": OWNER,
            "E2E_REVIEW_HASH": hash_password(PASSWORD),
        }
        run = subprocess.run(
            [sys.executable, "-m", "guardian", "run", "--quiet", "--config", str(site)],
            capture_output=True,
            text=True,
            timeout=900,
            env=env,
            check=False,
        )
        yield Evening(root, site, env, twilio, run)


def _event_id(evening: Evening) -> str:
    assert evening.run.returncode == 0, evening.run.stderr[-3000:]
    with Store(evening.root / "events.db") as store:
        events = store.event_log.find(rule_id="on_the_floor")
    assert len(events) == 1, evening.run.stdout  # the cooldown keeps it to one
    return events[0].event_id


def test_the_rule_fires_and_its_sms_reaches_twilio_with_the_review_link(
    evening: Evening,
) -> None:
    event_id = _event_id(evening)
    messages = evening.twilio.messages
    assert len(messages) == 1, messages
    body = messages[0]["body"]
    assert messages[0]["to"] == OWNER and messages[0]["from"] == FROM_NUMBER
    assert f"{PUBLIC}/events/{event_id}" in body
    assert "Reply ACK" in body
    with Store(evening.root / "events.db") as store:
        (delivery,) = [d for d in store.outbox.find() if d.channel == "sms"]
        clip = store.clip_log.for_event(event_id)
    assert delivery.status == "sent" and delivery.provider_id == messages[0]["sid"]
    assert clip is not None and clip.status == "written", clip
    assert (evening.root / "clips" / clip.path).stat().st_size > 10_000


@pytest.fixture(scope="module")
def serve(evening: Evening) -> Iterator[str]:
    """``guardian serve`` on a free port of 127.0.0.1; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardian", "serve", "--config", str(evening.site), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=evening.env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert match, line + (proc.stderr.read() if proc.stderr else "")
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)


def test_chromium_plays_the_clip_made_from_the_corpus(evening: Evening, serve: str) -> None:
    require_browser()
    event_id = _event_id(evening)
    with Store(evening.root / "events.db") as store:
        clip = store.clip_log.for_event(event_id)
    assert clip is not None and clip.duration > 0
    with chromium() as driver:
        from selenium.webdriver.common.by import By

        driver.get(f"{serve}/events/{event_id}")  # the link in the SMS, on this machine
        poll(lambda: "/login" in driver.current_url, what="the redirect to /login")
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        video = poll(
            lambda: driver.find_elements(By.CSS_SELECTOR, "video"), what="the event's clip"
        )[0]
        driver.execute_script("arguments[0].muted = true; arguments[0].play();", video)
        loaded = poll(
            lambda: driver.execute_script(
                "const v = arguments[0]; return v.readyState >= 2 ? "
                "[v.videoWidth, v.videoHeight, v.duration] : null;",
                video,
            ),
            what="the clip to load",
        )
        assert loaded[:2] == [640, 480]
        # pre 2 s + post 3 s; less pre when the person walks in at the very start
        assert 3.0 <= loaded[2] <= 5.0 + 0.4
        assert abs(loaded[2] - clip.duration) <= 0.4  # what the recorder says it wrote
        poll(
            lambda: driver.execute_script("return arguments[0].currentTime;", video) > 1.0,
            timeout=30,
            what="currentTime to advance past 1 s",
        )
        assert driver.execute_script("return arguments[0].error;", video) is None
        save_screenshot(driver, "end-to-end-event.png")


def test_an_sms_reply_ack_acknowledges_the_event(evening: Evening, serve: str) -> None:
    event_id = _event_id(evening)
    form = {
        "From": OWNER,
        "To": FROM_NUMBER,
        "Body": "ack",
        "AccountSid": ACCOUNT_SID,
        "MessageSid": "SM" + "e2e" * 10 + "ab",
    }
    url = f"{PUBLIC}/twilio/sms"  # Twilio signs the public address it posts to

    def post(signature: str) -> tuple[int, str]:
        request = urllib.request.Request(
            f"{serve}/twilio/sms",
            data=urllib.parse.urlencode(form).encode(),
            headers={"X-Twilio-Signature": signature},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    forged = twilio_signature("not-the-token", url, form)
    assert post(forged)[0] == 403
    with Store(evening.root / "events.db") as store:
        assert not store.event_log.is_acknowledged(event_id)
    status, body = post(twilio_signature(AUTH_TOKEN, url, form))
    assert status == 200 and "<Response>" in body, body
    deadline = time.monotonic() + 10
    with Store(evening.root / "events.db") as store:
        while not store.event_log.is_acknowledged(event_id):
            assert time.monotonic() < deadline, "the ACK did not acknowledge the event"
            time.sleep(0.05)
        assert store.event_log.get(event_id) is not None
