"""Injected faults: does an alert stay on time, single and recorded when something else
misbehaves?

Each fault is injected by one test that uses real parts (the real ``guardian run`` in a
child process, a real live MJPEG camera of corpus footage, the real ``twilio`` client
against the local Twilio stand-in made slow or hung, a second process holding the SQLite
database, ``kill -9``, a full disk, …) and checks that nothing was lost, doubled or late.
This script runs that catalogue with pytest and counts the faults survived: the figures
of issue 14 ("faults survived / injected"). Nothing here is timed by a test.

Writes JSON (default bench/results/faults.json) and prints a table.

    .venv/bin/python bench/faults.py [--out bench/results/faults.json]
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path

from benchkit import write_report

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Fault:
    name: str
    test: str  # pytest node id (a parametrised test: every case must pass)
    survived_means: str


CATALOGUE = (
    Fault(
        "SMS provider hangs (answers 10 s late, client timeout 2 s) on a live camera",
        "tests/test_faults.py::test_a_hung_sms_provider_never_delays_the_submersion_alarm_nor_doubles_a_text",
        "submersion stored at its deadline (±1.5 s), once; each text once at Twilio, sent",
    ),
    Fault(
        "SMS provider slower than the client timeout",
        "tests/test_faults.py::test_a_slow_provider_gets_one_message_and_the_delivery_is_marked_sent",
        "one message at Twilio, delivery marked sent (was 8 messages, failed)",
    ),
    Fault(
        "provider drops the request (timeout, nothing taken)",
        "tests/test_faults.py::test_a_timeout_with_nothing_at_the_provider_is_sent_again",
        "reconciled, then sent again once",
    ),
    Fault(
        "SIGTERM while the provider hangs",
        "tests/test_faults.py::test_stopping_while_twilio_hangs_takes_seconds_and_the_next_start_sends_nothing_twice",
        "stopped in < 8 s; next start reconciles: one message",
    ),
    Fault(
        "another process holds the database (BEGIN EXCLUSIVE) over the deadline",
        "tests/test_faults.py::test_the_database_held_by_another_process_loses_nothing",
        "run survives; event + alert stored and sent < 3 s after the database is free",
    ),
    Fault(
        "frames queued while held up show the vanished person again",
        "tests/test_faults.py::test_the_same_disappearance_never_fires_twice",
        "one submersion alarm for one disappearance",
    ),
    Fault(
        "provider errors when a video run ends",
        "tests/test_faults.py::test_a_retry_pending_when_a_video_run_ends_is_sent_before_it_ends",
        "retry sent before the run ends, once",
    ),
    Fault(
        "kill -9 while a submersion timer waits (live camera), restart",
        "tests/test_absence_corpus.py::test_kill_9_on_a_live_camera_then_restart_fires_the_pending_timer_once",
        "the timer fires on time after the restart, once",
    ),
    Fault(
        "kill -9 while a timer waits (video file), next run",
        "tests/test_absence_corpus.py::test_kill_9_on_a_video_file_leaves_nothing_for_the_next_run",
        "nothing fired about a person of another video",
    ),
    Fault(
        "kill -9 in the middle of an SMS send, restart",
        "tests/test_sms.py::test_kill_9_while_sending_then_restart_delivers_exactly_once",
        "delivered exactly once",
    ),
    Fault(
        "camera stream stops / freezes / goes black",
        "tests/test_health_stream.py::test_stopped_frozen_and_blacked_out_stream",
        "health events and alerts, spans recorded",
    ),
    Fault(
        "a full disk while a clip is written",
        "tests/test_clips.py::test_a_full_disk_skips_the_clip_but_not_the_event_or_its_alerts",
        "event and alerts kept, clip skipped with the reason",
    ),
    Fault(
        "the clip encoder killed under a running camera",
        "tests/test_clips.py::test_an_encoder_killed_under_a_running_camera_keeps_what_it_wrote",
        "what was written is kept, the camera goes on",
    ),
    Fault(
        "SIGTERM to the whole process group with a clip open",
        "tests/test_clips.py::test_a_stop_of_the_whole_process_group_keeps_the_open_clip",
        "the open clip is kept",
    ),
)


def run(catalogue: tuple[Fault, ...]) -> list[dict[str, object]]:
    """Run every fault's test (one pytest run); return one row per fault."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"--junitxml={report}",
                *[f.test for f in catalogue],
            ],
            cwd=REPO,
            check=False,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        took = time.monotonic() - started
        cases = ET.parse(report).getroot().iter("testcase")
        outcomes: dict[str, list[str]] = {}
        for case in cases:
            path = str(case.get("classname", "")).replace(".", "/") + ".py"
            name = str(case.get("name", "")).split("[")[0]
            bad = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
            outcomes.setdefault(f"{path}::{name}", []).append(bad[0] if bad else "passed")
    rows = []
    for fault in catalogue:
        results = outcomes.get(fault.test, [])
        survived = bool(results) and all(r == "passed" for r in results)
        rows.append({**asdict(fault), "cases": results, "survived": survived})
    print(f"(pytest took {took:.0f}s)")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "faults.json")
    args = parser.parse_args(argv)
    rows = run(CATALOGUE)
    survived = sum(1 for r in rows if r["survived"])
    result = {
        "bench": "faults",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "survived": survived,
        "injected": len(rows),
        "faults": rows,
    }
    write_report("faults", result, out=args.out)
    width = max(len(f.name) for f in CATALOGUE)
    print(f"{'fault':<{width}}  survived  cases")
    for row in rows:
        mark = "yes" if row["survived"] else "NO"
        print(f"{row['name']:<{width}}  {mark:<8}  {','.join(map(str, row['cases'])) or '-'}")
    print(f"faults survived / injected: {survived} / {len(rows)}  → {args.out}")
    return 0 if survived == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
