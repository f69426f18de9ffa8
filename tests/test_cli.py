"""The command line, end to end: `guardian check`, `guardian run`, `guardian demo`.

Each runs the real command in a child process against real files: a real SQLite file,
the real model, real corpus footage.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from corpus import require_corpus

REPO = Path(__file__).resolve().parent.parent


def guardian(
    *args: str, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "guardian", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_help_lists_every_command() -> None:
    done = guardian("--help")
    assert done.returncode == 0
    for command in ("check", "run", "demo"):
        assert command in done.stdout


def test_check_accepts_the_shipped_example_site() -> None:
    done = guardian("check", "--config", "guardian.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: guardian.yaml:")


FLOOR = "  - name: floor\n    camera: cam\n    kind: room\n    polygon: [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]\n"


def _check(tmp_path: Path, zones: str, rules: str) -> subprocess.CompletedProcess[str]:
    """`guardian check` on a one-camera site with these zone and rule entries."""
    (tmp_path / "zones.yaml").write_text("zones:\n" + zones)
    (tmp_path / "rules.yaml").write_text("rules:\n" + rules)
    (tmp_path / "site.yaml").write_text(
        "cameras:\n  - id: cam\n    source: 0\nzones: [zones.yaml]\nrules: [rules.yaml]\n"
    )
    return guardian("check", "--config", str(tmp_path / "site.yaml"))


def test_check_on_a_broken_rule_file_exits_1_naming_file_and_line(tmp_path: Path) -> None:
    rule = "  - id: floor_entry\n    triggers:\n      - kind: zone_enter\n        zones: flor\n"
    done = _check(tmp_path, FLOOR, rule)
    assert done.returncode == 1
    assert f"{tmp_path / 'rules.yaml'}:5:16: rule 'floor_entry': unknown zone 'flor'" in done.stderr
    assert "known zones: floor" in done.stderr
    # the one rule that loaded is the camera's built-in health rule
    assert "1 problem(s) found; loaded 1 camera(s), 1 zone(s), 1 rule(s)" in done.stderr


def test_check_on_a_yaml_syntax_error_exits_1(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text("cameras:\n  - id: cam\n    source: [unclosed\n")
    done = guardian("check", "--config", str(tmp_path / "site.yaml"))
    assert done.returncode == 1
    assert str(tmp_path / "site.yaml") + ":" in done.stderr


def _floor_site(tmp_path: Path, clip: Path) -> Path:
    (tmp_path / "zones.yaml").write_text(
        "zones:\n"
        "  - name: floor\n"
        "    camera: lab\n"
        "    kind: room\n"
        "    polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]\n"
    )
    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        "  - id: floor_entry\n"
        "    alias: Someone on the floor area\n"
        "    triggers:\n"
        "      - kind: zone_enter\n"
        "        zones: floor\n"
        "    actions:\n"
        "      - kind: alert\n"
        "        channels: [console]\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text(
        "cameras:\n"
        f"  - id: lab\n    source: {clip}\n    fps: 9\n    imgsz: 320\n"
        "zones: [zones.yaml]\n"
        "rules: [rules.yaml]\n"
        f"storage:\n  database: events.db\n  models: {REPO / 'models'}\n"
    )
    return site


def test_run_on_corpus_clip_writes_zone_enter_event_to_sqlite(tmp_path: Path) -> None:
    clip = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    site = _floor_site(tmp_path, clip)
    record = tmp_path / "obs.jsonl"
    done = guardian("run", "--config", str(site), "--record-observations", str(record))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "EVENT" in done.stdout and "floor_entry" in done.stdout
    assert "ALERT [warning] Someone on the floor area" in done.stdout
    assert "progress" in done.stderr and "lab: frame" in done.stderr

    db = sqlite3.connect(tmp_path / "events.db")
    rows = db.execute("select rule_id, camera, zone, track_id, status from events").fetchall()
    assert rows, "no event stored"
    assert {r[:3] for r in rows} == {("floor_entry", "lab", "floor")}
    assert all(r[3] is not None and r[4] == "open" for r in rows)
    sent = db.execute("select count(*) from alert_deliveries where status = 'sent'").fetchone()[0]
    assert sent == len(rows)

    lines = record.read_text().splitlines()
    assert 400 <= len(lines) <= 420  # 818 frames at 18 fps, processed at 9 fps
    docs = [json.loads(line) for line in lines]
    assert all(d["camera"] == "lab" and d["size"] == [640, 480] for d in docs)
    assert any(t[3] == "enter" and t[0] == "floor" for d in docs for t in d["transitions"])

    # the camera's latest picture, for the zone editor (clips folder: ./clips by default)
    snapshot = tmp_path / "clips" / "snapshots" / "lab.jpg"
    assert snapshot.is_file() and snapshot.read_bytes()[:2] == b"\xff\xd8"  # a JPEG


def test_run_refuses_a_broken_site_and_names_the_problem(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text("cameras:\n  - id: cam\n    source: missing.mp4\n")
    done = guardian("run", "--config", str(site))
    assert done.returncode == 1
    assert f"{site}:3:" in done.stderr and "missing.mp4" in done.stderr


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_run_stops_cleanly_on_signal_with_everything_flushed(
    tmp_path: Path, signal_name: str
) -> None:
    import signal
    import time

    clip = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    site = _floor_site(tmp_path, clip)
    site.write_text(site.read_text().replace("fps: 9", "fps: 9\n    loop: true"))
    record = tmp_path / "obs.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "guardian",
            "run",
            "--config",
            str(site),
            "--record-observations",
            str(record),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait until it is really processing frames
        if (
            record.exists()
            and record.stat().st_size > 0
            and len(record.read_text().splitlines()) > 20
        ):
            break
        time.sleep(0.5)
    proc.send_signal(getattr(signal, signal_name))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "stopping" in err
    assert "event(s) stored in" in out
    lines = record.read_text().splitlines()
    assert lines and all(json.loads(line)["camera"] == "lab" for line in lines)  # no torn line


def test_demo_runs_without_a_camera(tmp_path: Path) -> None:
    done = guardian("demo", "--workdir", str(tmp_path / "demo"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 event(s) in" in done.stdout
    db = sqlite3.connect(tmp_path / "demo" / "guardian.db")
    rows = db.execute("select rule_id, zone from events").fetchall()
    assert rows == [("demo_water_entry", "water")]


def test_run_on_an_unreadable_video_names_it_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"this is not a video" * 100)
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: cam\n    source: {bad}\nstorage:\n  models: {REPO / 'models'}\n"
    )
    done = guardian("run", "--config", str(site))
    assert done.returncode == 1
    assert "camera cam failed" in done.stderr and str(bad) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_dead_stream_does_not_stop_the_other_camera(tmp_path: Path) -> None:
    """Two cameras at once: a file, and a stream nobody serves (a refused port on
    127.0.0.1). The file camera runs to the end and its events are stored while the
    stream camera keeps retrying with backoff; Ctrl-C then stops both cleanly."""
    import signal
    import socket
    import time

    clip = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    with socket.socket() as s:  # a port that is free now, so nothing listens on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = _floor_site(tmp_path, clip)
    site.write_text(
        site.read_text().replace(
            "zones: [zones.yaml]",
            f"  - id: street\n    source: http://127.0.0.1:{port}/stream.mjpg\nzones: [zones.yaml]",
        )
        # offline after 3 s, not 20: said while the file camera plays, on a fast machine too
        + "health:\n  offline_after: 3s\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardian", "run", "--config", str(site)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    import threading

    lines: list[str] = []
    assert proc.stderr is not None
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr or ()), daemon=True)
    reader.start()
    finished = re.compile(r"lab: frame \d+/818 100% .*done")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if any(finished.search(line) for line in list(lines)):
            break  # the file camera ran to its end meanwhile
        time.sleep(1)
    while time.monotonic() < deadline and proc.poll() is None:  # the stream's offline alert
        with sqlite3.connect(tmp_path / "events.db") as conn:
            if conn.execute("select 1 from events where camera = 'street'").fetchone():
                break
        time.sleep(0.5)
    assert proc.poll() is None, "guardian run ended although a live camera was configured"
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    reader.join(timeout=10)
    err = "".join(lines)
    assert proc.returncode == 0, err[-2000:]
    with sqlite3.connect(tmp_path / "events.db") as conn:
        rows = conn.execute("select camera, rule_id from events").fetchall()
    assert rows and {r[0] for r in rows} == {"lab", "street"}
    # the dead stream is not only retried: its built-in health rule says it is offline
    assert [r[1] for r in rows if r[0] == "street"] == ["camera_health_street"]
    assert "camera street: cannot open" in err and "retrying in" in err
    before_stop = err.split("SIGINT: stopping")[0]
    assert re.search(r"lab: frame \d+/818 100% .*done", before_stop)  # finished meanwhile


def test_check_reports_zone_and_rule_problems_in_one_pass(tmp_path: Path) -> None:
    door = "  - name: door\n    camera: cma\n    kind: entry\n    polygon: [[0, 0], [0.2, 0], [0.2, 0.5]]\n"
    rules = (
        "  - id: r\n    triggers:\n      - kind: zone_enter\n        zones: flor\n"
        "  - id: at_door\n    triggers:\n      - kind: zone_enter\n        zones: door\n"
    )
    done = _check(tmp_path, FLOOR + door, rules)
    assert done.returncode == 1
    assert f"{tmp_path / 'zones.yaml'}:7:13: zone 'door' names camera 'cma'" in done.stderr
    assert f"{tmp_path / 'rules.yaml'}:5:16: rule 'r': unknown zone 'flor'" in done.stderr
    assert "at_door" not in done.stderr  # its zone is broken: said once, at the zone
    assert "2 problem(s) found" in done.stderr
