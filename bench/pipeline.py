"""Benchmark the pipeline on corpus clips: per-stage latency and processed fps.

Variants: backend .pt vs ONNX, imgsz 640 vs 320, one camera vs two cameras at once,
next to a naive loop of ultralytics' ``YOLO(...).predict`` on the same frames.
Writes JSON (default bench/results/pipeline.json) and prints a table.

    .venv/bin/python bench/pipeline.py [--frames 300] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from benchkit import corpus

from guardian.config import (
    ZoneConfig,
    load_yaml,
)
from guardian.detection import PoseDetector, prepare_environment, shipped_model_path
from guardian.pipeline import CameraPipeline, StageTimes
from guardian.records import Frame
from guardian.rules import RuleEngine, load_rules
from guardian.sources import open_source
from guardian.tracking import Tracker

CLIPS = ("fall/upfall/UPFall_S1_A06_T1_Cam1.mp4", "fall/upfall/UPFall_S1_A06_T1_Cam2.mp4")
RULES = """
rules:
  - id: floor_entry
    triggers: [{kind: zone_enter, zones: floor}]
"""


def load_frames(clip: Path, camera: str, limit: int) -> tuple[list[Frame], float]:
    """Decode up to ``limit`` frames; returns them and the mean decode time (s)."""
    source = open_source(camera, str(clip), fps=1000.0)
    frames, t0 = [], time.perf_counter()
    for frame in source.frames():
        frames.append(frame)
        if len(frames) >= limit:
            break
    source.close()
    return frames, (time.perf_counter() - t0) / max(1, len(frames))


def zones_for(camera: str) -> list[ZoneConfig]:
    return [
        ZoneConfig(
            name="floor",
            camera=camera,
            kind="room",
            polygon=[[0, 0.55], [1, 0.55], [1, 1], [0, 1]],
        )
    ]


def run_camera(
    pipe: CameraPipeline,
    frames: list[Frame],
    engine: RuleEngine,
    times: StageTimes,
    result: dict[str, Any],
) -> None:
    t0 = time.perf_counter()
    for frame in frames:
        obs = pipe.process(frame)
        t = time.perf_counter()
        engine.process(obs)
        times.add("rules", time.perf_counter() - t)
    result["wall"] = time.perf_counter() - t0


def variant(
    backend: str,
    imgsz: int,
    cameras: int,
    clips: list[list[Frame]],
    decode: list[float],
    models: Path,
    rules_doc: Any,
) -> dict[str, Any]:
    threads, results = [], []
    for i in range(cameras):
        camera = f"cam{i + 1}"
        detector = PoseDetector(
            models_dir=models,
            backend=backend,  # type: ignore[arg-type]
            imgsz=imgsz,
            threads=max(1, (os.cpu_count() or 1) // cameras),  # as guardian run does
        )
        detector.detect(clips[i][0].image)  # warm-up
        times = StageTimes()
        pipe = CameraPipeline(
            camera,
            lambda f, d=detector: d.detect(f.image),
            zones_for(camera),
            Tracker(camera),
            times,
        )
        engine = RuleEngine(load_rules([rules_doc], zones_by_camera={camera: {"floor"}}).rules)
        frames = [Frame(camera, f.index, f.timestamp, f.pts, f.image) for f in clips[i]]
        res: dict[str, Any] = {"camera": camera, "frames": len(frames), "times": times}
        results.append(res)
        threads.append(threading.Thread(target=run_camera, args=(pipe, frames, engine, times, res)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {"backend": backend, "imgsz": imgsz, "cameras": cameras, "per_camera": []}
    for i, res in enumerate(results):
        summary = res["times"].summary()
        stages = {k: {"mean_ms": v[0], "p50_ms": v[1], "p95_ms": v[2]} for k, v in summary.items()}
        stages["decode"] = {"mean_ms": 1000 * decode[i], "p50_ms": None, "p95_ms": None}
        out["per_camera"].append(
            {
                "camera": res["camera"],
                "frames": res["frames"],
                "fps": res["frames"] / res["wall"],
                # decode happens in a real run too: fold it into the end-to-end figure
                "fps_with_decode": res["frames"] / (res["wall"] + decode[i] * res["frames"]),
                "stages": stages,
            }
        )
    return out


def naive_baseline(frames: list[Frame], imgsz: int, models: Path) -> dict[str, Any]:
    """The loop people write first: ultralytics predict on every frame, nothing else."""
    prepare_environment(models / "ultralytics")
    from ultralytics import YOLO  # the benchmark's baseline only; Guardian uses its adapter

    model = YOLO(str(shipped_model_path()), task="pose")
    model.predict(frames[0].image, imgsz=imgsz, verbose=False)
    t0 = time.perf_counter()
    for frame in frames:
        model.predict(frame.image, imgsz=imgsz, verbose=False)
    wall = time.perf_counter() - t0
    return {
        "backend": "naive YOLO(.pt).predict",
        "imgsz": imgsz,
        "cameras": 1,
        "fps": len(frames) / wall,
    }


STAGES = ("decode", "inference", "tracking", "zones", "rules")


def print_table(report: dict[str, Any]) -> None:
    """The report as a table: one row per variant, then the naive baselines."""
    head = f"{'backend':<8}{'imgsz':>6}{'cams':>5}{'fps/cam':>9}{'+decode':>9}"
    head += "".join(f"{s + ' ms':>14}" for s in STAGES)
    print(head)
    print("-" * len(head))
    for row in report["variants"]:
        fps = min(c["fps"] for c in row["per_camera"])
        fps_d = min(c["fps_with_decode"] for c in row["per_camera"])
        st = row["per_camera"][0]["stages"]
        cells = "".join(f"{st[s]['mean_ms']:>14.2f}" for s in STAGES)
        print(
            f"{row['backend']:<8}{row['imgsz']:>6}{row['cameras']:>5}{fps:>9.1f}{fps_d:>9.1f}{cells}"
        )
    for b in report["baselines"]:
        print(
            f"{'naive':<8}{b['imgsz']:>6}{1:>5}{b['fps']:>9.1f}   (YOLO(.pt).predict loop, inference only)"
        )
    print("\nfps/cam: the slowest camera of the variant; stages: the first camera, mean ms/frame")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=300, help="frames per camera (default 300)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "pipeline.json")
    parser.add_argument("--quick", action="store_true", help="ONNX 320 only (a smoke run)")
    parser.add_argument(
        "--show", type=Path, metavar="JSON", help="only print the table of a saved run"
    )
    args = parser.parse_args()
    if args.show:
        print_table(json.loads(args.show.read_text()))
        return

    root = corpus()
    models = REPO / "models"
    clips, decode = [], []
    for i, rel in enumerate(CLIPS):
        frames, per = load_frames(root / rel, f"cam{i + 1}", args.frames)
        clips.append(frames)
        decode.append(per)
    with tempfile.TemporaryDirectory() as tmp:
        rules_file = Path(tmp) / "rules.yaml"
        rules_file.write_text(RULES)
        rules_doc = load_yaml(rules_file)

    combos = (
        [("onnx", 320)] if args.quick else [("pt", 640), ("onnx", 640), ("pt", 320), ("onnx", 320)]
    )
    rows = []
    for backend, imgsz in combos:
        for cameras in (1, 2):
            print(f"… {backend} imgsz {imgsz}, {cameras} camera(s)", file=sys.stderr, flush=True)
            rows.append(variant(backend, imgsz, cameras, clips, decode, models, rules_doc))
    baselines = [
        naive_baseline(clips[0], imgsz, models)
        for imgsz in sorted({s for _, s in combos}, reverse=True)
    ]

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "clips": list(CLIPS),
        "frames_per_camera": args.frames,
        "variants": rows,
        "baselines": baselines,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))

    print_table(report)
    print(f"JSON: {args.out}")


if __name__ == "__main__":
    main()
