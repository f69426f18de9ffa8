"""Evaluate the posture and fall estimator on the 22 UP-Fall clips of the corpus.

Every clip of ``fall/upfall/`` goes through the real path: the pose model (ONNX, 640),
the tracker and :class:`guardian.pose.PostureTracker`, at 18 fps (every frame) or 9 fps
(every second frame, as the CI test does). Per clip it prints the activity, the camera,
whether a fall was detected (a ``fall_at`` on some track), the delay from the
ground-truth on-ground frame to the first reading that carried it, false fall alarms,
and the longest LYING spell; then recall on the falls (A01–A05) and false falls on the
daily activities (A06–A11).

Falls are scored by :func:`benchkit.score_fall` (the scorer of every bench script): a
fall counts as detected when its ``fall_at`` is no earlier than ``EARLY`` s before the
estimated onset and the reading that first carries it comes no later than ``LATE`` s
after the estimated on-ground frame; another fall in that window is a repeat; any other
fall on any track is a false alarm.

The detector costs ~70 ms a frame, so its output (boxes, scores, keypoints of every
frame) is cached per clip by :func:`guardian.fall.data.clip_detections` in ``--cache``
(default ``~/.cache/guardian/fall-keypoints``, never inside the project) and built there
when missing; the tracker and the estimator always run live.

    .venv/bin/python bench/posture.py [--fps 9|18] [--out FILE] [--cache DIR | --no-cache]
    .venv/bin/python bench/posture.py --show bench/results/posture-9fps.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import EARLY, LATE, FallLog, corpus, score_clip, write_report

from guardian.fall.data import (
    IMGSZ,
    ClipDetections,
    FallClip,
    clip_detections,
    default_cache_dir,
    fall_clips,
)
from guardian.pose import PostureTracker
from guardian.records import Posture
from guardian.tracking import Tracker

#: file timestamps are an arbitrary epoch plus the position in the clip
EPOCH = 1_700_000_000.0


def evaluate(truth: FallClip, dets: ClipDetections, step: int) -> dict[str, Any]:
    """Tracker + PostureTracker over every ``step``-th frame; the clip's row of the table."""
    frames, width, height = dets.frames, dets.width, dets.height
    camera = truth.view.removeprefix("upfall-").capitalize()  # upfall-cam1 → Cam1
    tracker = Tracker(truth.name)
    postures = PostureTracker()
    # a fall handed on to a new track keeps its fall_at: still one fall
    log = FallLog()
    max_lying = 0.0
    cost = 0.0
    track_frames = 0
    for index, pts, dets in frames:
        if index % step:
            continue
        now = EPOCH + pts
        tracks = tracker.update(dets, now)
        t0 = time.perf_counter()
        readings = postures.update(tracks, now, width, height)
        cost += time.perf_counter() - t0
        track_frames += len(tracks)
        log.add(readings, now)
        for r in readings:
            if r.posture is Posture.LYING:
                max_lying = max(max_lying, now - r.since)

    fires, score = score_clip(log, truth, EPOCH)
    row: dict[str, Any] = {
        "clip": Path(truth.path).name,
        "activity": truth.name.split("_")[2],  # UPFall_S1_A01_T1_Cam1 → A01
        "name": truth.activity,
        "camera": camera,
        "is_fall": truth.is_fall,
        "frames": sum(1 for i, _, _ in frames if i % step == 0),
        "falls": [f.as_dict() for f in fires],
        "detected": score.detected is not None,
        "false_falls": len(score.false),
        "repeats": len(score.repeats),
        "max_lying_s": round(max_lying, 2),
        "cost_us_per_track": round(1e6 * cost / max(1, track_frames), 1),
    }
    if score.detected is not None:
        row["delay_s"] = score.delay_s
        row["fall_at_vs_ground_s"] = score.fall_at_vs_ground_s
    return row


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    falls = [r for r in rows if r["is_fall"]]
    adl = [r for r in rows if not r["is_fall"]]
    delays = [r["delay_s"] for r in falls if "delay_s" in r]
    n_tracks = sum(r["frames"] for r in rows)
    return {
        "fall_clips": len(falls),
        "falls_detected": sum(r["detected"] for r in falls),
        "recall": round(sum(r["detected"] for r in falls) / max(1, len(falls)), 3),
        "false_falls_on_fall_clips": sum(r["false_falls"] for r in falls),
        "adl_clips": len(adl),
        "false_falls_on_adl": sum(r["false_falls"] for r in adl),
        "adl_clips_with_false_fall": sum(1 for r in adl if r["false_falls"]),
        "mean_delay_s": round(sum(delays) / len(delays), 2) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "mean_cost_us_per_track": round(
            sum(r["cost_us_per_track"] * r["frames"] for r in rows) / max(1, n_tracks), 1
        ),
    }


def _signed(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if abs(value) >= 0.005 else "0.00"


def print_table(report: dict[str, Any]) -> None:
    print(f"UP-Fall subject 1 trial 1 at {report['fps']} fps (every {report['step']} frame(s))")
    head = (
        f"{'act':<5}{'activity':<32}{'cam':<6}{'fall':>6}{'delay s':>9}"
        f"{'fall_at s':>11}{'false':>7}{'max lying s':>13}"
    )
    print(head)
    print("-" * len(head))
    for r in report["clips"]:
        fall = ("yes" if r["detected"] else "NO") if r["is_fall"] else "-"
        delay = _signed(r.get("delay_s"))
        at = _signed(r.get("fall_at_vs_ground_s"))
        print(
            f"{r['activity']:<5}{r['name'][:31]:<32}{r['camera']:<6}{fall:>6}{delay:>9}"
            f"{at:>11}{r['false_falls']:>7}{r['max_lying_s']:>13.1f}"
        )
    s = report["summary"]
    print(
        f"\nrecall A01–A05: {s['falls_detected']}/{s['fall_clips']}"
        f"   false falls A06–A11: {s['false_falls_on_adl']} "
        f"(in {s['adl_clips_with_false_fall']}/{s['adl_clips']} clips)"
        f"   false falls on fall clips: {s['false_falls_on_fall_clips']}"
    )
    print(
        f"delay after on-ground: mean {s['mean_delay_s']} s, max {s['max_delay_s']} s"
        f"   PostureTracker cost: {s['mean_cost_us_per_track']} µs per track per frame"
    )
    print(
        "\ndelay: first reading carrying fall_at minus the on-ground frame; fall_at s: the "
        f"fall_at itself minus it.\ndetected = fall_at ≥ onset − {EARLY} s and reported ≤ "
        f"on-ground + {LATE} s; another one in that window is a repeat; any other fall on "
        "any track is false (benchkit.score_fall)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fps", type=int, choices=(9, 18), default=9, help="default 9")
    parser.add_argument(
        "--out", type=Path, help="JSON to write (default bench/results/posture-<fps>fps.json)"
    )
    parser.add_argument(
        "--cache", type=Path, default=default_cache_dir(), help=f"default {default_cache_dir()}"
    )
    parser.add_argument("--no-cache", action="store_true", help="run the model on every frame")
    parser.add_argument("--show", type=Path, metavar="JSON", help="only print a saved run")
    args = parser.parse_args()
    if args.show:
        print_table(json.loads(args.show.read_text()))
        return

    root = corpus()
    truths = [c for c in fall_clips(root) if c.source == "upfall"]
    step = 18 // args.fps
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) if args.no_cache else args.cache
        for truth in truths:
            print(f"… {Path(truth.path).name}", file=sys.stderr, flush=True)
            rows.append(evaluate(truth, clip_detections(truth, root, cache_dir=cache), step))
    report = {
        "fps": args.fps,
        "step": step,
        "detector": {"model": "yolo11n-pose", "backend": "onnx", "imgsz": IMGSZ},
        "early_s": EARLY,
        "late_s": LATE,
        "clips": rows,
        "summary": summary(rows),
    }
    write_report(f"posture-{args.fps}fps", report, out=args.out, show=print_table)


if __name__ == "__main__":
    main()
