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
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from benchkit import corpus, write_report

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


def camera_thread(
    pipe: CameraPipeline,
    source: list[Frame],
    rules_doc: Any,
    times: StageTimes,
    results: list[dict[str, Any]],
) -> threading.Thread:
    """A thread that plays ``source`` through ``pipe`` and the rules; its figures go to a
    new entry of ``results``."""
    camera = pipe.camera
    engine = RuleEngine(load_rules([rules_doc], zones_by_camera={camera: {"floor"}}).rules)
    frames = [Frame(camera, f.index, f.timestamp, f.pts, f.image) for f in source]
    res: dict[str, Any] = {"camera": camera, "frames": len(frames), "times": times}
    results.append(res)
    return threading.Thread(target=run_camera, args=(pipe, frames, engine, times, res))


def run_all(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join()


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
        threads.append(camera_thread(pipe, clips[i], rules_doc, times, results))
    run_all(threads)
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


POOL_CLIP = "pool/videos/wavepool_rescue_elevated.mp4"


def fleet(
    cameras: int,
    imgsz: int,
    swim_imgsz: int,
    pool: list[Frame],
    clips: list[list[Frame]],
    models: Path,
    rules_doc: Any,
) -> dict[str, Any]:
    """``cameras`` cameras at once, the first one a pool camera running the swimmer
    detector beside the pose model (as ``guardian run`` does on a camera with water)."""
    from guardian.swim.detector import SWIMMER_LABEL, WaterDetector, shipped_swimmer_path

    share = max(1, (os.cpu_count() or 1) // cameras)
    threads, results = [], []
    for i in range(cameras):
        camera = f"cam{i + 1}"
        pose = PoseDetector(models_dir=models, imgsz=imgsz, confidence=0.1, threads=share)
        source = pool if i == 0 else clips[(i - 1) % len(clips)]
        detect = pose.detect
        if i == 0:
            swim = PoseDetector(
                models_dir=models,
                model_path=shipped_swimmer_path(),
                imgsz=swim_imgsz,
                confidence=0.3,
                threads=share,
                task="detect",
                label=SWIMMER_LABEL,
            )
            detect = WaterDetector(pose.detect, swim.detect).detect
        detect(source[0].image)  # warm-up
        times = StageTimes()
        pipe = CameraPipeline(
            camera, lambda f, d=detect: d(f.image), zones_for(camera), Tracker(camera), times
        )
        threads.append(camera_thread(pipe, source, rules_doc, times, results))
    run_all(threads)
    return {
        "cameras": cameras,
        "imgsz": imgsz,
        "swimmer_imgsz": swim_imgsz,
        "per_camera": [
            {
                "camera": r["camera"],
                "swimmers": r["camera"] == "cam1",
                "frames": r["frames"],
                "fps": r["frames"] / r["wall"],
                "inference_ms": r["times"].summary()["inference"][0],
            }
            for r in results
        ],
    }


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


def print_fleet(report: dict[str, Any]) -> None:
    f = report["fleet"]
    print(f"{f['cameras']} cameras at once, pose imgsz {f['imgsz']}, swimmers {f['swimmer_imgsz']}")
    print(f"{'camera':8}{'swimmers':>9}{'frames':>7}{'fps':>7}{'infer ms':>10}")
    for c in f["per_camera"]:
        print(
            f"{c['camera']:8}{'yes' if c['swimmers'] else 'no':>9}{c['frames']:>7}{c['fps']:>7.1f}{c['inference_ms']:>10.1f}"
        )


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
    parser.add_argument(
        "--fleet",
        type=int,
        default=0,
        metavar="N",
        help="only N cameras at once, the first with the swimmer detector (-> pipeline-fleet*.json)",
    )
    parser.add_argument("--imgsz", type=int, default=640, help="with --fleet: pose model size")
    parser.add_argument("--swim-imgsz", type=int, default=0, help="with --fleet: swimmer size")
    args = parser.parse_args()
    if args.show:
        report = json.loads(args.show.read_text())
        if "fleet" in report:
            print_fleet(report)
        else:
            print_table(report)
        return
    if args.fleet:
        root = corpus()
        clips = [
            load_frames(root / rel, f"cam{i + 1}", args.frames)[0] for i, rel in enumerate(CLIPS)
        ]
        pool, _ = load_frames(root / POOL_CLIP, "cam1", args.frames)
        with tempfile.TemporaryDirectory() as tmp:
            rules_file = Path(tmp) / "rules.yaml"
            rules_file.write_text(RULES)
            rules_doc = load_yaml(rules_file)
        swim = args.swim_imgsz or args.imgsz
        report = {
            "fleet": fleet(args.fleet, args.imgsz, swim, pool, clips, REPO / "models", rules_doc),
        }
        out = args.out.with_name(f"pipeline-fleet{args.fleet}-{args.imgsz}-{swim}.json")
        write_report(out.stem, report, out=out, show=print_fleet)
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
        "clips": list(CLIPS),
        "frames_per_camera": args.frames,
        "variants": rows,
        "baselines": baselines,
    }
    write_report("pipeline", report, out=args.out, show=print_table)


if __name__ == "__main__":
    main()
