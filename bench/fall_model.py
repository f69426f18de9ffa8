"""Choose and check the learned fall model: cross-view, in-sample, cost; against geometry.

Runs on the cached detections of the corpus clips (``guardian.fall.data``; built once by
the pose model, then reused) and trains with :func:`guardian.fall.train.train`:

* ``cam1→cam2`` / ``cam2→cam1``: train on one UP-Fall camera (its clips and its
  MediaPipe skeletons, plus URFD and the phone-room falls), test on the other camera's
  22/2 = 11 clips;
* ``upfall→others``: train on UP-Fall only (both cameras, the skeletons), test on the
  six falls of other people, rooms and cameras (URFD fall-01, phone-room Fall01–05);
* ``all``: the shipped configuration trained on everything, tested on all 28 clips
  (in-sample: the same footage it learned from — not a generalisation figure);

each at about 9 processed fps (every 2nd frame at 18 fps, every 3rd at 30) for the learned model, the hybrid
(geometric fall + learned agreement) and the geometric baseline
(:class:`guardian.pose.PostureTracker`), scored by :func:`benchkit.score_fall`
(a fall is detected when ``fall_at`` ≥ onset − 0.5 s and it is reported ≤ on-ground +
2 s; another one in that window is a repeat; any other fall is false). It also measures the classifier's cost per track per
frame; ``rates``: the shipped weights on all 28 clips at 5 fps and at 30 fps (the
clip's own rate when lower: 18 fps for UP-Fall). The full benchmark of issue 5 (leave-one-clip-out, false alarms per hour,
the still-frame cases) is ``bench/falls.py``.

    .venv/bin/python bench/fall_model.py [--epochs N] [--out FILE] [--only all,cam1→cam2,rates]
    .venv/bin/python bench/fall_model.py --show bench/results/fall_model.json
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import FallLog, corpus, score_fall, write_report

from guardian.config.training import load_training_config
from guardian.fall.classifier import FallClassifier
from guardian.fall.data import (
    ClipDetections,
    clip_detections,
    clip_tracks,
    fall_clips,
    mediapipe_sequences,
)
from guardian.fall.model import FallNet, shipped_weights
from guardian.fall.train import TrainConfig, train
from guardian.pose import PostureEstimator, PostureTracker

FPS = 9.0  # processed frame rate: every 2nd frame at 18 fps, every 3rd at 30 fps


def evaluate(
    dets: ClipDetections, make: Callable[[], PostureEstimator], fps: float = FPS
) -> dict[str, Any]:
    """One clip through the tracker and an estimator: detected, delay, false falls, cost."""
    clip = dets.clip
    est = make()
    log = FallLog()
    cost = 0.0
    n = 0
    for t, tracks in clip_tracks(dets, step=max(1, round(clip.fps / fps))):
        t0 = time.perf_counter()
        readings = est.update(tracks, t, dets.width, dets.height)
        cost += time.perf_counter() - t0
        n += len(tracks)
        log.add(readings, t)
    score = score_fall(
        log.fires(), is_fall=clip.is_fall, onset_s=clip.onset_s, on_ground_s=clip.on_ground_s
    )
    row: dict[str, Any] = {
        "clip": clip.name,
        "activity": clip.activity,
        "is_fall": clip.is_fall,
        "detected": score.detected is not None,
        "false_falls": len(score.false),
        "repeats": len(score.repeats),
        "cost_us_per_track": round(1e6 * cost / max(1, n), 1),
        "track_frames": n,
    }
    if score.detected is not None:
        row["delay_s"] = score.delay_s
    return row


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    falls = [r for r in rows if r["is_fall"]]
    adl = [r for r in rows if not r["is_fall"]]
    delays = [r["delay_s"] for r in falls if "delay_s" in r]
    tp = sum(r["detected"] for r in falls)
    fp = sum(r["false_falls"] for r in rows)
    n = sum(r["track_frames"] for r in rows)
    return {
        "falls": len(falls),
        "detected": tp,
        "recall": round(tp / max(1, len(falls)), 3),
        "precision": round(tp / max(1, tp + fp), 3),
        "false_on_adl": sum(r["false_falls"] for r in adl),
        "false_on_fall_clips": sum(r["false_falls"] for r in falls),
        "median_delay_s": round(statistics.median(delays), 2) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "cost_us_per_track": round(
            sum(r["cost_us_per_track"] * r["track_frames"] for r in rows) / max(1, n), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=None, help="override the epochs")
    parser.add_argument("--config", type=Path, default=REPO / "guardian/fall/weights/train.yaml")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/fall_model.json")
    parser.add_argument("--only", default="", help="comma-separated experiments")
    parser.add_argument("--show", type=Path, metavar="JSON", help="only print a saved run")
    parser.add_argument(
        "--features",
        action="store_true",
        help="compare the feature sets (gravity / + skeleton / + Procrustes skeleton) "
        "across cameras instead; JSON: bench/results/fall_model_features.json",
    )
    args = parser.parse_args()
    if args.show:
        print_table(json.loads(args.show.read_text()))
        return
    root = corpus()
    base = load_training_config(args.config, TrainConfig)
    if args.epochs:
        base = base.model_copy(update={"epochs": args.epochs})
    clips = fall_clips(root)
    dets = {c.name: clip_detections(c, root) for c in clips}
    seqs = mediapipe_sequences(root)
    if args.features:
        compare_features(dets, seqs, base, REPO / "bench/results/fall_model_features.json")
        return
    upfall = [c.name for c in clips if c.source == "upfall"]
    experiments = {
        "cam1→cam2": ("upfall-cam1", "upfall-cam2"),
        "cam2→cam1": ("upfall-cam2", "upfall-cam1"),
        "upfall→others": ("upfall", "others"),
        "all": (None, None),
    }
    only = [s for s in args.only.split(",") if s]
    report: dict[str, Any] = {
        "fps": 9,
        "config": base.model_dump(),
        "experiments": {},
    }
    for name, (train_view, test_view) in experiments.items():
        if only and name not in only:
            continue
        if train_view == "upfall":  # UP-Fall (both cameras) → URFD and the phone room
            train_clips = [dets[n] for n in upfall]
            train_seqs = list(seqs)
            test = [c.name for c in clips if c.source != "upfall"]
        else:
            train_clips = [dets[c.name] for c in clips if train_view is None or c.view != test_view]
            train_seqs = [s for s in seqs if train_view is None or s.view == train_view]
            test = [n for n in upfall if dets[n].clip.view == test_view]
            test = test if test_view else list(dets)
        print(
            f"== {name}: train {len(train_clips)} clips + {len(train_seqs)} skeletons",
            file=sys.stderr,
            flush=True,
        )
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            weights = train(
                train_clips, base, out_dir=Path(tmp), sequences=train_seqs, log=io.StringIO()
            )
            net = FallNet.load(weights)
        seconds = time.perf_counter() - t0
        result: dict[str, Any] = {"train_s": round(seconds, 1), "test_clips": test}
        makers: dict[str, Callable[[], PostureEstimator]] = {
            "learned": functools.partial(FallClassifier, net, mode="learned"),
            "hybrid": functools.partial(FallClassifier, net, mode="hybrid"),
            "geometric": PostureTracker,
        }
        for model, make in makers.items():
            rows = [evaluate(dets[n], make) for n in test]
            result[model] = {"clips": rows, "summary": summary(rows)}
        report["experiments"][name] = result
        print_experiment(name, result)
    if not only or "rates" in only:  # the shipped weights at 5 fps and at the clips' own rate
        net = FallNet.load(shipped_weights())
        for fps in (5.0, 30.0):
            name = f"shipped@{fps:g}fps"
            result = {"train_s": 0.0, "test_clips": list(dets), "fps": fps}
            makers = {
                "learned": functools.partial(FallClassifier, net, mode="learned"),
                "hybrid": functools.partial(FallClassifier, net, mode="hybrid"),
                "geometric": PostureTracker,
            }
            for model, make in makers.items():
                rows = [evaluate(dets[n], make, fps) for n in dets]
                result[model] = {"clips": rows, "summary": summary(rows)}
            report["experiments"][name] = result
            print_experiment(name, result)
    write_report("fall_model", report, out=args.out)


class _Counting:
    """A FallNet that remembers every probability it gave (window-level figures)."""

    def __init__(self, net: FallNet) -> None:
        self.net = net
        self.window, self.rate, self.threshold = net.window, net.rate, net.threshold
        self.features = net.features
        self.probs: list[float] = []

    def probability(self, window: Any) -> float:
        p = self.net.probability(window)
        self.probs.append(p)
        return p


def compare_features(
    dets: dict[str, ClipDetections], seqs: Sequence[Any], base: TrainConfig, out: Path
) -> None:
    """Cross-camera and cross-source runs of each feature set, learned model only.

    Besides the clip-level result: on the held-out daily-activity clips, how many ticks
    the network put at or above the threshold and its highest P (lower is better: the
    margin before a false fall), and on the held-out falls the lowest of the per-clip
    highest P (higher is better).
    """
    clips = [d.clip for d in dets.values()]
    upfall = [c.name for c in clips if c.source == "upfall"]
    splits = {
        "cam1→cam2": "upfall-cam2",
        "cam2→cam1": "upfall-cam1",
        "upfall→others": "others",
    }
    results: dict[str, Any] = {"config": base.model_dump(), "runs": {}}
    print(
        f"{'features':<12}{'split':<15}{'falls':>7}{'false':>7}{'ADL ticks≥thr':>15}"
        f"{'ADL max P':>11}{'falls min P':>13}"
    )
    for kind in ("none", "plain", "procrustes"):
        config = base.model_copy(update={"skeleton": kind})
        for split, test_view in splits.items():
            if test_view == "others":
                train_clips = [dets[n] for n in upfall]
                train_seqs = list(seqs)
                test = [c.name for c in clips if c.source != "upfall"]
            else:
                train_clips = [dets[c.name] for c in clips if c.view != test_view]
                train_seqs = [q for q in seqs if q.view != test_view]
                test = [n for n in upfall if dets[n].clip.view == test_view]
            with tempfile.TemporaryDirectory() as tmp:
                weights = train(
                    train_clips,
                    config,
                    out_dir=Path(tmp),
                    sequences=train_seqs,
                    log=io.StringIO(),
                )
                net = FallNet.load(weights)
            rows = []
            adl_probs: list[float] = []
            fall_max: list[float] = []
            for n in test:
                counting = _Counting(net)
                rows.append(evaluate(dets[n], functools.partial(FallClassifier, counting)))  # type: ignore[arg-type]
                if dets[n].clip.is_fall:
                    fall_max.append(max(counting.probs, default=0.0))
                else:
                    adl_probs.extend(counting.probs)
            s = summary(rows)
            run = {
                "summary": s,
                "clips": rows,
                "adl_ticks": len(adl_probs),
                "adl_ticks_over": int(sum(p >= net.threshold for p in adl_probs)),
                "adl_max_p": round(max(adl_probs, default=0.0), 4),
                "falls_min_max_p": round(min(fall_max, default=0.0), 4),
            }
            results["runs"][f"{kind} {split}"] = run
            print(
                f"{kind:<12}{split:<15}{s['detected']:>4}/{s['falls']:<2}"
                f"{s['false_on_adl'] + s['false_on_fall_clips']:>7}"
                f"{run['adl_ticks_over']:>9}/{run['adl_ticks']:<5}{run['adl_max_p']:>11.3f}"
                f"{run['falls_min_max_p']:>13.3f}",
                flush=True,
            )
    write_report(out.stem, results, out=out)


def print_experiment(name: str, result: dict[str, Any]) -> None:
    fps = result.get("fps", FPS)
    how = f"trained in {result['train_s']} s" if result["train_s"] else "shipped weights"
    print(f"\n{name} at {fps:g} fps or the clip's own rate if lower ({how})")
    head = (
        f"{'model':<11}{'recall':>9}{'precision':>11}{'false ADL':>11}{'false fall':>12}"
        f"{'median s':>10}{'max s':>8}{'µs/track':>10}"
    )
    print(head)
    print("-" * len(head))
    for model in ("learned", "hybrid", "geometric"):
        s = result[model]["summary"]
        med = "-" if s["median_delay_s"] is None else f"{s['median_delay_s']:+.2f}"
        mx = "-" if s["max_delay_s"] is None else f"{s['max_delay_s']:+.2f}"
        print(
            f"{model:<11}{s['detected']:>5}/{s['falls']:<3}{s['precision']:>11.3f}"
            f"{s['false_on_adl']:>11}{s['false_on_fall_clips']:>12}{med:>10}{mx:>8}"
            f"{s['cost_us_per_track']:>10.0f}"
        )
    missed = [
        f"{m}:{r['clip']}"
        for m in ("learned", "hybrid", "geometric")
        for r in result[m]["clips"]
        if r["is_fall"] and not r["detected"]
    ]
    false = [
        f"{m}:{r['clip']}×{r['false_falls']}"
        for m in ("learned", "hybrid", "geometric")
        for r in result[m]["clips"]
        if r["false_falls"]
    ]
    print("missed:", ", ".join(missed) or "none")
    print("false falls:", ", ".join(false) or "none")


def print_table(report: dict[str, Any]) -> None:
    for name, result in report["experiments"].items():
        print_experiment(name, result)


if __name__ == "__main__":
    main()
