"""`guardian review`, `guardian passwd` and `guardian serve` as real child processes."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from reviewsite import TZ, Client, add_clip, add_event, make_jpeg, site_file

from guardian.config import load_site
from guardian.records import Severity
from guardian.review.auth import verify_password
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent


def guardian(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "guardian", *args],
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _local(day: date, hour: int, minute: int = 0) -> float:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(TZ)).timestamp()


def test_review_since_yesterday_lists_events_by_severity(tmp_path: Path) -> None:
    config = site_file(tmp_path)
    bundle = load_site(config)
    yesterday = datetime.now(ZoneInfo(TZ)).date() - timedelta(days=1)
    with Store(bundle.database_path) as store:
        add_event(store, "e-old", started_at=_local(yesterday - timedelta(days=1), 23))
        add_event(store, "e-warn", started_at=_local(yesterday, 1, 30), message="In the water")
        add_event(
            store,
            "e-crit",
            started_at=_local(yesterday, 23, 5),
            severity=Severity.CRITICAL,
            rule_id="submersion",
            message="Possible submersion",
        )
        add_event(
            store,
            "e-info",
            started_at=_local(yesterday, 22, 0),
            severity=Severity.INFO,
            camera="gate",
            rule_id="gate_open",
            message="Gate open",
        )
        add_event(store, "e-skip", started_at=_local(yesterday, 2, 0), message="Skipped clip")
        clip = bundle.clips_dir / "pool" / "e-crit.mp4"
        make_jpeg(clip.with_suffix(".jpg"))
        clip.write_bytes(b"mp4")
        add_clip(store, "e-crit", "pool", path="pool/e-crit.mp4", thumbnail="pool/e-crit.jpg")
        add_clip(store, "e-skip", "pool", path=None, status="skipped", reason="disk full")
        store.event_log.acknowledge("e-warn", by="alex")
        store.event_log.mark_reviewed("e-warn", by="alex")

    done = guardian("review", "--since", "yesterday", "--config", str(config))
    assert done.returncode == 0, done.stderr
    d = yesterday.isoformat()
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"4 event(s), {d} 00:00 → ")
    assert lines[0].endswith(f"(times in {TZ})")
    assert lines[1:] == [
        "",
        "CRITICAL (1)",
        f"  {d} 23:05:00  pool/water       Submersion: Possible submersion  "
        "[NOT ACKNOWLEDGED]  id=e-crit",
        f"      clip: {(bundle.clips_dir / 'pool' / 'e-crit.mp4').resolve()}",
        "",
        "WARNING (2)",
        f"  {d} 01:30:00  pool/water       Water entry: In the water  "
        "[acknowledged by alex, reviewed]  id=e-warn",
        "      clip: none",
        f"  {d} 02:00:00  pool/water       Water entry: Skipped clip  [open]  id=e-skip",
        "      clip: skipped (disk full)",
        "",
        "INFO (1)",
        f"  {d} 22:00:00  gate/water       Gate open  [open]  id=e-info",
        "      clip: none",
    ]

    only = guardian(
        "review",
        "--since",
        "yesterday",
        "--unreviewed",
        "--camera",
        "pool",
        "--config",
        str(config),
    )
    assert only.returncode == 0, only.stderr
    assert "id=e-crit" in only.stdout and "id=e-skip" in only.stdout
    assert "id=e-warn" not in only.stdout and "id=e-info" not in only.stdout

    bad = guardian("review", "--since", "last tuesday", "--config", str(config))
    assert bad.returncode == 2 and "not a time" in bad.stderr


def test_passwd_prints_a_hash_that_verifies() -> None:
    done = guardian("passwd", "--stdin", stdin="a long enough password\n")
    assert done.returncode == 0, done.stderr
    hashed = done.stdout.strip()
    assert hashed.startswith("scrypt$") and "a long enough password" not in done.stdout
    assert verify_password("a long enough password", hashed)
    assert "password_hash" in done.stderr
    short = guardian("passwd", "--stdin", stdin="short\n")
    assert short.returncode == 1 and short.stdout == ""


def _read_line(proc: subprocess.Popen[str], prefix: str, deadline: float) -> str:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    while time.monotonic() < deadline:
        if selector.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith(prefix):
                return line
    raise AssertionError(f"no '{prefix}' line from guardian serve in time")


def _serve(config: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "guardian", "serve", "--config", str(config), "--port", "0", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )


def test_serve_runs_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = site_file(tmp_path)
    proc = _serve(config)
    try:
        line = _read_line(proc, "review page: ", time.monotonic() + 60)
        url = line.split()[2].rstrip("/")
        assert url.startswith("http://127.0.0.1:")
        client = Client(url)
        assert client.get("/").status == 302
        assert client.login().status == 303 and client.get("/").status == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    assert "WARNING" not in proc.stderr.read()
    secret = load_site(config).database_path.with_name("guardian.db.secret")
    assert secret.stat().st_mode & 0o777 == 0o600


def test_serve_warns_loudly_off_localhost(tmp_path: Path) -> None:
    proc = _serve(site_file(tmp_path), "--host", "0.0.0.0")
    try:
        _read_line(proc, "review page: ", time.monotonic() + 60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "WARNING: the review page listens on 0.0.0.0" in err and "WITHOUT TLS" in err


@pytest.mark.parametrize(
    "review, env, message",
    [
        ("", {}, "no password for the review page — run 'guardian passwd'"),
        (
            "password_hash_env: REVIEW_TEST_HASH\n",
            {},
            "REVIEW_TEST_HASH (review.password_hash_env) is not set",
        ),
    ],
)
def test_serve_without_a_password_says_how_to_set_one(
    tmp_path: Path, review: str, env: dict[str, str], message: str
) -> None:
    config = tmp_path / "guardian.yaml"
    config.write_text(
        "cameras:\n  - id: pool\n    source: 0\n" + (f"review:\n  {review}" if review else "")
    )
    done = guardian("serve", "--config", str(config), "--port", "0")
    assert done.returncode == 1
    assert message in done.stderr


def test_serve_listens_where_the_site_file_says(tmp_path: Path) -> None:
    """review.host / review.port are serve's defaults (what `guardian check` compares the
    url with); --host / --port still override them."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = site_file(tmp_path, review=f"  host: 127.0.0.1\n  port: {port}\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardian", "serve", "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = _read_line(proc, "review page: ", time.monotonic() + 60)
        assert line.split()[2] == f"http://127.0.0.1:{port}/"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
