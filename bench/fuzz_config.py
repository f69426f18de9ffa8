"""Hostile configuration files through ``guardian check``: how many are handled clearly.

Every case of ``bench/hostile_configs.py`` (hand-written ones for each item of issue 14,
and systematic mutations of the example site) is written over a copy of the example site
and checked in its own subprocess, limited in memory (RLIMIT_AS) and time, two at a time.
Each is classified:

* ``clear``: problems, each ``file:line:col: message``, no traceback;
* ``accepted``: the file loads (a mutation whose change was harmless: an optional key
  deleted, free text changed, a value that is still valid);
* ``traceback``, ``timeout``, ``memory``: what must never happen.

Writes JSON (default bench/results/fuzz_config.json) and prints a table.

    .venv/bin/python bench/fuzz_config.py [--jobs 2] [--timeout 30] [--memory-mb 1536]
    .venv/bin/python bench/fuzz_config.py --show bench/results/fuzz_config.json
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchkit import describe, write_report

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hostile_configs import Case, cases, materialise

LOCATED = re.compile(r"^.+?:\d+:\d+: \S")
CHILD = """
import json, resource, sys, time
from pathlib import Path
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from guardian.check import check_site
from guardian.app import site_rules
start = time.monotonic()
try:
    report = check_site(Path(sys.argv[1]), rules_for=site_rules, environ={})
except MemoryError:
    print(json.dumps({"memory": True}))
    sys.exit(0)
print(json.dumps({"seconds": time.monotonic() - start,
                  "errors": [str(p) for p in report.errors]}))
"""


def _harmless(case: Case) -> str:
    """Why an accepted mutation is harmless, or "" when it needs a look."""
    name = case.name
    if name.endswith(":deleted"):
        return "an optional key deleted: its default applies"
    if re.search(r"\.(description|reason|name|device)(:|$)", name) or ".description:" in name:
        return "free text changed"
    if name.endswith((":zero", ":true", ":minus-one")):
        return "a value that is still valid"
    if ".source:" in name:
        return "a camera source (checked by 'guardian check --probe')"
    return ""


def run_case(case: Case, root: Path, timeout: float, memory: int) -> dict[str, Any]:
    folder = root / re.sub(r"[^A-Za-z0-9_.-]+", "_", case.name)
    site = materialise(case, folder)
    start = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(site), str(memory)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"name": case.name, "outcome": "timeout", "seconds": timeout}
    wall = time.monotonic() - start
    out: dict[str, Any] = {"name": case.name, "which": case.which, "wall_s": round(wall, 2)}
    last = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    result = json.loads(last[0]) if last and last[0].startswith("{") else None
    if result is None or done.returncode != 0:
        memory_hit = "MemoryError" in done.stderr or done.returncode in (-9, 137)
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"]
        out.update(outcome="memory" if memory_hit else "traceback", detail=tail[0][:300])
        return out
    if result.get("memory"):
        out.update(outcome="memory")
        return out
    errors: list[str] = result["errors"]
    out["seconds"] = round(result["seconds"], 3)
    if errors:
        located = all(LOCATED.match(e) for e in errors)
        out.update(outcome="clear" if located else "unlocated", first=errors[0][-300:])
    else:
        why = _harmless(case)
        out.update(outcome="accepted", harmless=bool(why), why=why or "needs a look")
        if case.must_fail:
            out["why"] = "a hand-written case that should fail"
    out["hand_written"] = case.must_fail
    return out


def show(data: dict[str, Any]) -> None:
    counts = data["counts"]
    print(
        f"{data['cases']} cases ({data['hand_written']} hand-written), {describe(data['machine'])}"
    )
    print(f"{'outcome':<12} {'cases':>6}")
    for outcome in ("clear", "accepted", "unlocated", "traceback", "timeout", "memory"):
        print(f"{outcome:<12} {counts.get(outcome, 0):>6}")
    print(
        f"malformed inputs handled / tried: {data['handled']} / {data['cases']} "
        f"(hand-written refused: {data['hand_written_refused']} / {data['hand_written']}; "
        f"slowest check {data['slowest_s']} s)"
    )
    for row in data["results"]:
        if row["outcome"] not in ("clear", "accepted") or (
            row["outcome"] == "accepted" and not row.get("harmless")
        ):
            print(f"  {row['outcome']:<10} {row['name']}: {row.get('detail') or row.get('why')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--memory-mb", type=int, default=1536)
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/fuzz_config.json")
    parser.add_argument("--show", type=Path, help="print a results file and exit")
    args = parser.parse_args()
    if args.show:
        show(json.loads(args.show.read_text()))
        return
    all_cases = cases()
    memory = args.memory_mb * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda c: run_case(c, Path(tmp), args.timeout, memory), all_cases))
    counts = Counter(r["outcome"] for r in results)
    hand = [r for r in results if r.get("hand_written")]
    data = {
        "limits": {"timeout_s": args.timeout, "memory_mb": args.memory_mb, "jobs": args.jobs},
        "cases": len(results),
        "hand_written": sum(c.must_fail for c in all_cases),
        "hand_written_refused": sum(r["outcome"] == "clear" for r in hand),
        "counts": dict(counts),
        "handled": counts["clear"] + counts["accepted"],
        "accepted_harmless": sum(bool(r.get("harmless")) for r in results),
        "slowest_s": max((r.get("seconds", 0.0) for r in results), default=0.0),
        "results": results,
    }
    write_report("fuzz_config", data, out=args.out, show=show)


if __name__ == "__main__":
    main()
