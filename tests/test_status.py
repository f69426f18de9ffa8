"""``guardian status``: mode, cameras (fps, last frame, health), prompts, alerts — from a real
site file and a real SQLite store written the way ``guardian run`` writes it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from guardian.cli import main
from guardian.effects import Effects, ModeRequest, Notification, PromptRequest
from guardian.records import HealthChange, HealthProblem
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent


def write_site(root: Path) -> Path:
    config = root / "guardian.yaml"
    config.write_text(
        "site: {name: Home pool, timezone: Europe/Paris}\n"
        "cameras:\n"
        "  - {id: pool, source: 0}\n"
        "  - {id: gate, source: 1}\n"
        "  - {id: shed, source: 2, enabled: false}\n"
        "contacts:\n  - {id: owner, channels: [console]}\n"
    )
    return config


def live(store: Store, camera: str, now: float, *, fps: float = 9.8) -> None:
    """``camera`` watched by a run that is running now (heartbeat 2 s ago)."""
    store.camera_health.begin_watch("run-now", camera, now - 3600)
    store.camera_health.beat(
        "run-now", camera, now - 2, last_frame=now - 2.4, frames=35000, fps=fps
    )


def test_all_watched_and_healthy_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_site(tmp_path)
    now = time.time()
    with Store(tmp_path / "guardian.db") as store:
        live(store, "pool", now)
        live(store, "gate", now, fps=5.0)
    assert main(["status", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "mode: unsupervised"
    assert lines[1] == "cameras: ok (times in Europe/Paris)"
    assert re.fullmatch(r"  pool: ok, 9\.8 fps, last frame \d s ago \(\d\d:\d\d:\d\d\)", lines[2])
    assert re.fullmatch(r"  gate: ok, 5\.0 fps, last frame \d s ago \(\d\d:\d\d:\d\d\)", lines[3])
    assert "shed" not in out  # disabled: not expected to be watched
    assert "prompts waiting for an answer: none" in out and "alerts not sent yet: none" in out


def test_problems_stale_runs_prompts_and_pending_alerts_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_site(tmp_path)
    now = time.time()
    with Store(tmp_path / "guardian.db") as store:
        live(store, "pool", now)
        store.camera_health.record(
            HealthChange(
                "pool",
                HealthProblem.OFFLINE,
                now - 600,
                None,
                "rtsp://admin:hunter2@10.0.0.5/live: connection refused",
            ),
            "run-now",
        )
        store.camera_health.begin_watch("run-old", "gate", now - 7200)  # died 20 min ago
        store.camera_health.beat(
            "run-old", "gate", now - 1200, last_frame=now - 1200, frames=1, fps=10.0
        )
        effects = Effects()
        effects.ask(
            PromptRequest(
                "p-adult",
                None,
                "adult_arrives",
                "An adult is at the pool. Switch to supervised swimming?",
                ("owner",),
                ("console",),
                now + 300,
                ModeRequest("supervised", duration=7200.0, source="prompt"),
            )
        )
        effects.notify(
            Notification("e1:sms:owner", "e1", "entry", "critical", "sms", "owner", "In the pool")
        )
        store.commit([], effects=effects, now=now)
    assert main(["status", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "cameras: down" in out  # nothing is watched as it should be
    assert "  pool: OFFLINE since " in out and "(10 min): rtsp://***@10.0.0.5/live" in out
    assert "hunter2" not in out
    assert "  gate: NOT RUNNING — no heartbeat since " in out and "(20 min ago)" in out
    assert "prompts waiting for an answer: 1" in out
    assert "p-adult  expires in 5 min  An adult is at the pool." in out
    assert "alerts not sent yet: 1" in out and "pending alert [critical] sms → owner" in out

    assert main(["status", "--config", str(config), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "down" and data["healthy"] is False
    assert data["mode"] == {"mode": "unsupervised", "until": None}
    pool, gate = data["cameras"]
    assert pool["state"] == "problem" and pool["fps"] == 9.8
    assert pool["problems"][0]["problem"] == "offline"
    assert abs(pool["problems"][0]["since"] - (now - 600)) < 1e-3
    assert gate["state"] == "not_running" and gate["fps"] is None
    assert gate["last_frame_age"] >= 1200
    assert [p["id"] for p in data["prompts"]] == ["p-adult"]
    assert [(a["channel"], a["contact"], a["status"]) for a in data["pending_alerts"]] == [
        ("sms", "owner", "pending")
    ]


def test_never_watched_and_supervised_until(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_site(tmp_path)
    assert main(["mode", "supervised", "--for", "2h", "--config", str(config)]) == 0
    capsys.readouterr()
    assert main(["status", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("mode: supervised until ") and "(in 2 h)" in out.splitlines()[0]
    assert "cameras: down" in out
    assert "  pool: never watched" in out and "  gate: never watched" in out


def test_a_broken_site_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "guardian.yaml"
    config.write_text("site: {name: x}\ncameras: nope\n")
    assert main(["status", "--config", str(config)]) == 1
    assert "problem(s) in the site file" in capsys.readouterr().err


def test_status_as_a_command(tmp_path: Path) -> None:
    """The real entry point, in its own process (what a cron job runs)."""
    config = write_site(tmp_path)
    now = time.time()
    with Store(tmp_path / "guardian.db") as store:
        live(store, "pool", now)
        live(store, "gate", now)
    done = subprocess.run(
        [sys.executable, "-m", "guardian", "status", "--json", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"
    helped = subprocess.run(
        [sys.executable, "-m", "guardian", "status", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "exit status: 0 when every enabled camera" in helped.stdout
