"""Benchmark the rule engine: evaluation cost per observation for many rules and tracks.

A synthetic scene (no model: the cost measured is the engine's alone): ``--tracks``
people walk around a 1280x720 camera through 6 zones, some hide for a while (lost,
then removed), with roles, postures and a scene change, all through the real
ZoneTracker. ``--rules`` rules cycle through every trigger kind, most with a condition
and an action. The engine's ``process`` and the action requests are timed per frame.
Writes JSON (default bench/results/rules.json) and prints a table.

    .venv/bin/python bench/rules.py [--rules 100] [--tracks 20] [--frames 2000]
    .venv/bin/python bench/rules.py --show bench/results/rules.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import describe, write_report

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from guardian.config import load_yaml
from guardian.effects import Effects
from guardian.records import (
    Box,
    Observation,
    Posture,
    PostureReading,
    SceneChange,
    Track,
    TrackState,
)
from guardian.rules import RuleContext, RuleEngine, load_rules
from guardian.zones import Zone, ZoneTracker

W, H = 1280, 720
ZONES = [
    Zone.from_points(
        "pool_area", "cam", "pool_area", [(40, 80), (1240, 80), (1240, 700), (40, 700)]
    ),
    Zone.from_points("water", "cam", "water", [(300, 250), (980, 250), (980, 600), (300, 600)]),
    Zone.from_points("steps", "cam", "exit", [(900, 250), (980, 250), (980, 330), (900, 330)]),
    Zone.from_points("gate", "cam", "entry", [(0, 200), (120, 200), (120, 500), (0, 500)]),
    Zone.from_points("lawn", "cam", "boundary", [(40, 600), (600, 600), (600, 700), (40, 700)]),
    Zone.from_points("shed", "cam", "boundary", [(1100, 80), (1240, 80), (1240, 250), (1100, 250)]),
]
NAMES = [z.name for z in ZONES]

TRIGGERS = [
    "{{kind: zone_enter, zones: {z}}}",
    "{{kind: zone_leave, zones: {z}}}",
    "{{kind: dwell, zones: {z}, for: 20s}}",
    "{{kind: absent, zones: {z}, timeout: 15s, exits: steps}}",
    "{{kind: occupancy, zones: {z}, children: '>= 1', adults: 0, for: 10s}}",
    "{{kind: count_drop, zones: {z}, for: 5s}}",
    "{{kind: posture, state: fallen, for: 2s}}",
    "{{kind: posture, state: lying, for: 10s, zones: {z}}}",
    "{{kind: new_object, zones: {z}, for: 30s}}",
]
CONDITIONS = [
    "",
    "    conditions: [{{kind: time, after: '22:00', before: '06:00'}}]\n",
    "    conditions: [{{kind: role, roles: child}}]\n",
    "    conditions: [{{kind: occupancy, zones: {z}, adults: 0}}]\n",
]


def rules_text(n: int) -> str:
    out = ["rules:"]
    for i in range(n):
        z = NAMES[i % len(NAMES)]
        trigger = TRIGGERS[i % len(TRIGGERS)].format(z=z)
        condition = CONDITIONS[(i // len(TRIGGERS)) % len(CONDITIONS)].format(z=z)
        out.append(
            f"  - id: r{i}\n    modes: [unsupervised, supervised]\n    cooldown: 30s\n"
            f"    triggers: [{trigger}]\n{condition}"
            f"    actions: [{{kind: alert, channels: [log]}}]"
        )
    return "\n".join(out) + "\n"


def scene(tracks: int, frames: int, fps: float, seed: int = 7) -> list[Observation]:
    """People wandering on Lissajous paths; every 7th hides for 5 s now and then."""
    rng = random.Random(seed)
    zt = ZoneTracker(ZONES)
    t0 = 1_800_000_000.0
    params = [
        (rng.uniform(0.02, 0.1), rng.uniform(0.02, 0.1), rng.uniform(0, 6), rng.uniform(0, 6))
        for _ in range(tracks)
    ]
    last_seen: dict[int, float] = {}
    observations = []
    for f in range(frames):
        ts = t0 + f / fps
        out: list[Track] = []
        postures: list[PostureReading] = []
        for k, (a, b, pa, pb) in enumerate(params):
            x = W / 2 + 0.45 * W * math.sin(a * f + pa)
            y = H / 2 + 0.4 * H * math.sin(b * f + pb)
            box = Box(x - 25, y - 150, x + 25, y)
            hidden = k % 7 == 0 and (f // 50) % 4 == 3
            state = TrackState.LOST if hidden else TrackState.TRACKED
            if not hidden:
                last_seen[k] = ts
            role = ("adult", "child", "unknown")[k % 3]
            out.append(
                Track("cam", k + 1, state, box, 0.9, (), t0, last_seen.get(k, ts), f + 1, (), role)
            )
            posture = Posture.LYING if k % 5 == 0 and (f // 80) % 2 else Posture.STANDING
            postures.append(PostureReading(k + 1, posture, ts - (f % 80) / fps, 0.9, None))
        update = zt.update(out, ts)
        change = (
            SceneChange("lawn", 1, Box(100, 620, 160, 680), 0.02, t0 + 5, ts) if f > 60 else None
        )
        observations.append(
            Observation(
                "cam",
                f,
                ts,
                f / fps,
                W,
                H,
                tuple(out),
                update.presences,
                update.transitions,
                update.counts,
                tuple(postures),
                (change,) if change else (),
            )
        )
    return observations


def measure(n_rules: int, n_tracks: int, frames: int, fps: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_rules.yaml"
        path.write_text(rules_text(n_rules))
        rules = load_rules([load_yaml(path)], zones_by_camera={"cam": set(NAMES)}, contacts=None)
    if rules.problems:
        raise SystemExit("\n".join(str(p) for p in rules.problems))
    observations = scene(n_tracks, frames, fps)
    engine = RuleEngine(rules.rules, RuleContext())
    times, fired = [], 0
    for obs in observations:
        t0 = time.perf_counter()
        firings = engine.process(obs)
        effects = Effects()
        engine.run_actions(firings, effects)
        engine.drain_state()
        times.append(time.perf_counter() - t0)
        fired += len(firings)
    warm = sorted(times[50:])  # the first frames build the zones' state
    n = len(warm)
    return {
        "rules": n_rules,
        "tracks": n_tracks,
        "frames": frames,
        "events": fired,
        "disabled": [r.rule_id for r in engine.rules if not r.enabled],
        "mean_ms": 1000 * sum(warm) / n,
        "median_ms": 1000 * warm[n // 2],
        "p95_ms": 1000 * warm[int(0.95 * n)],
        "max_ms": 1000 * warm[-1],
    }


def show(results: dict[str, Any]) -> None:
    print(f"rule engine, {describe(results['machine'])}")
    print(
        f"{'rules':>6} {'tracks':>6} {'events':>7} {'mean ms':>8} {'median':>8} {'p95':>8} {'max':>8}"
    )
    for r in results["runs"]:
        print(
            f"{r['rules']:>6} {r['tracks']:>6} {r['events']:>7} {r['mean_ms']:>8.3f} "
            f"{r['median_ms']:>8.3f} {r['p95_ms']:>8.3f} {r['max_ms']:>8.3f}"
        )
    print("aim: < 1 ms per frame for 100 rules x 20 tracks")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "rules.json")
    parser.add_argument("--show", type=Path, help="print a saved result and exit")
    args = parser.parse_args()
    if args.show:
        show(json.loads(args.show.read_text()))
        return
    runs = [
        measure(r, t, args.frames, args.fps)
        for r, t in sorted({(10, 5), (100, 5), (args.rules, args.tracks), (100, 40)})
    ]
    results = {
        "runs": runs,
    }
    write_report("rules", results, out=args.out, show=show)


if __name__ == "__main__":
    main()
