"""INT8 against FP32: the shipped quantized models on held-out data, side by side.

1. **Build** (``--build``, or when a shipped file is missing): the pose model and the
   swimmer detector quantized by :func:`guardian.quantize.quantize_model` with calibration
   frames drawn by the seeded sampler (``CALIBRATION`` below: UP-Fall's videos and the
   pool datasets' *train* splits for the pose model, the *train* splits for the swimmer
   detector), written to ``guardian/weights/int8/`` with ``manifest.json`` (which model
   each was quantized from, by sha256; the calibration settings).
2. **Forward time**: the raw ONNX Runtime forward of each model and precision on a
   640×480 input (and the swimmer at its 416 run size: 416×320), one and two threads,
   median of ``REPEATS`` runs after a warm-up.
3. **Falls** (held out: every corpus fall dataset but UP-Fall, which calibrated the pose
   model): :mod:`fallsets` — each clip at about 10 processed fps through the real camera
   pipeline with the site's ``pose:`` defaults, scored by ``benchkit.score_fall``; fall
   recall, false falls and false "person down". Detections are cached per precision
   under ``~/.cache/guardian/int8/<precision>/``.
4. **Pools** (held out: the swimmer datasets' *val* splits and the six pool videos):
   :func:`pool.detection_part` (recall / precision at IoU 0.5) and
   :func:`pool.pipeline_part` (``guardian run`` with ``detection.precision`` set: visible-
   swimmer coverage, entry alerts, false entries, submersion alarms).

Run:  .venv/bin/python bench/int8.py [--build] [--skip-falls] [--skip-pool] [--show]
Writes bench/results/int8.json and prints the tables.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import fallsets
import numpy as np
import onnxruntime
import pool
from benchkit import corpus, table, write_report

from guardian.config.pose import PoseConfig
from guardian.config.site import SwimmersConfig
from guardian.detection import (
    INT8_MANIFEST,
    SHIPPED_INT8,
    PoseDetector,
    Precision,
    Task,
    ensure_onnx,
    find_int8,
    shipped_model_path,
)
from guardian.fall.data import default_models_dir
from guardian.quantize import CalibrationSpec, calibration_inputs, quantize_model
from guardian.swim.data import DATASETS
from guardian.swim.detector import SWIMMER_LABEL, shipped_swimmer_path

RESULTS = REPO / "bench" / "results" / "int8.json"
CACHE = Path.home() / ".cache" / "guardian" / "int8"
PRECISIONS: tuple[Precision, ...] = ("fp32", "int8")
REPEATS = 20
#: calibration of the shipped files: corpus folders (never evaluation data) and the spec
CALIBRATION: dict[str, tuple[tuple[str, ...], CalibrationSpec]] = {
    "pose": (
        ("fall/upfall", *(f"pool/datasets/{d}/images/train" for d in DATASETS)),
        CalibrationSpec(frames=300, seed=0, imgsz=640),
    ),
    "swimmer": (
        tuple(f"pool/datasets/{d}/images/train" for d in DATASETS),
        CalibrationSpec(frames=300, seed=0, imgsz=416),
    ),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _models() -> dict[str, tuple[Path, Task, str]]:
    """name → (fp32 weights, task, shipped INT8 file name)."""
    return {
        "pose": (shipped_model_path(), "pose", "yolo11n-pose-int8.onnx"),
        "swimmer": (shipped_swimmer_path(), "detect", "swimmer-int8.onnx"),
    }


def build(root: Path, models_dir: Path) -> dict[str, Any]:
    """Quantize both models into guardian/weights/int8/ and write its manifest."""
    entries = []
    for name, (weights, task, file) in _models().items():
        folders, spec = CALIBRATION[name]
        fp32 = ensure_onnx(weights, models_dir, task)
        out = SHIPPED_INT8 / file
        started = time.perf_counter()
        quantize_model(fp32, calibration_inputs([root / f for f in folders], spec), out)
        print(f"built {out} in {time.perf_counter() - started:.0f} s", flush=True)
        entries.append(
            {
                "name": name,
                "task": task,
                "file": file,
                "bytes": out.stat().st_size,
                "sha256": _sha256(out),
                "source": weights.name,
                "source_sha256": _sha256(weights),
                "onnx_sha256": _sha256(fp32),
                "calibration": {
                    "corpus_folders": list(folders),
                    "frames": spec.frames,
                    "seed": spec.seed,
                    "imgsz": spec.imgsz,
                },
                "quantization": "static QDQ, per-channel int8 weights, uint8 activations, "
                "MinMax calibration; the head's decode left in float",
            }
        )
    manifest = {"models": entries}
    (SHIPPED_INT8 / INT8_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# -- forward time ------------------------------------------------------------------------------
def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def forward_ms(path: Path, threads: int, height: int, width: int) -> float:
    session = _session(path, threads)
    name = session.get_inputs()[0].name
    x = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    for _ in range(3):
        session.run(None, {name: x})
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        session.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return round(1000 * statistics.median(times), 1)


def timing(models_dir: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    files = {e["name"]: SHIPPED_INT8 / e["file"] for e in manifest["models"]}
    rows = []
    for name, (weights, task, _) in _models().items():
        sizes = [(480, 640)] + ([(320, 416)] if name == "swimmer" else [])
        for precision in PRECISIONS:
            path = ensure_onnx(weights, models_dir, task) if precision == "fp32" else files[name]
            for h, w in sizes:
                rows.append(
                    {
                        "model": name,
                        "precision": precision,
                        "input": f"{w}x{h}",
                        "ms_1_thread": forward_ms(path, 1, h, w),
                        "ms_2_threads": forward_ms(path, 2, h, w),
                    }
                )
                print(f"  {rows[-1]}", flush=True)
    return rows


def _weights(precision: Precision, model: str = "pose") -> Path:
    """The file a model runs at ``precision`` (the fall caches are named by its content)."""
    weights, task, _ = _models()[model]
    models_dir = default_models_dir()
    if precision == "int8":
        return find_int8(weights, models_dir)
    return ensure_onnx(weights, models_dir, task)


# -- falls -------------------------------------------------------------------------------------
class PrecisionDetector(fallsets.Detector):
    """The fall sets' detector (whole frames and second-look crops, cached) at a precision."""

    def __init__(self, floor: float, precision: Precision) -> None:
        super().__init__(floor, CACHE / precision / _sha256(_weights(precision))[:12])
        self.precision = precision

    @property
    def model(self) -> PoseDetector:
        if self._model is None:
            self._model = PoseDetector(
                models_dir=default_models_dir(),
                imgsz=fallsets.IMGSZ,
                confidence=self.floor,
                threads=1,
                precision=self.precision,
            )
        return self._model


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def falls(root: Path) -> dict[str, Any]:
    clips = [c for c in fallsets.load_clips(root) if c.dataset != "upfall"]
    configs = {"site defaults": (PoseConfig(), True, True)}
    out: dict[str, Any] = {}
    for precision in PRECISIONS:
        detector = PrecisionDetector(PoseConfig().low_score, precision)
        started = time.perf_counter()
        result = fallsets.evaluate(root, clips, detector, configs, _log)
        body = result["site defaults"]
        out[precision] = {
            "tables": {k: v for k, v in body["tables"].items() if k.startswith(("all", "dataset"))},
            "clips": body["clips"],
            "model_calls": detector.model_calls,
            "seconds": round(time.perf_counter() - started, 1),
        }
        print(f"  falls {precision}: {out[precision]['tables']['all']['detected']}", flush=True)
    return out


# -- pools -------------------------------------------------------------------------------------
def _with_precision(precision: Precision) -> None:
    """Make :func:`pool._site` write ``detection.precision`` into its site file."""
    original = pool._site.__wrapped__ if hasattr(pool._site, "__wrapped__") else pool._site

    def site(*args: Any, **kwargs: Any) -> Path:
        path = original(*args, **kwargs)
        text = path.read_text().replace("detection:\n", f"detection:\n  precision: {precision}\n")
        path.write_text(text)
        return path

    site.__wrapped__ = original  # type: ignore[attr-defined]
    pool._site = site


def pools(root: Path, models_dir: Path) -> dict[str, Any]:
    swim = SwimmersConfig()
    out: dict[str, Any] = {}
    for precision in PRECISIONS:
        pose_model = PoseDetector(
            models_dir=models_dir, imgsz=640, confidence=0.1, threads=1, precision=precision
        )
        swim_model = PoseDetector(
            models_dir=models_dir,
            model_path=shipped_swimmer_path(),
            imgsz=swim.imgsz or 640,
            confidence=swim.confidence,
            threads=1,
            task="detect",
            label=SWIMMER_LABEL,
            precision=precision,
        )
        started = time.perf_counter()
        detection = pool.detection_part(root, pose_model, swim_model, swim.overlap)
        _with_precision(precision)
        videos = pool.pipeline_part(root, 10, 640, True, None)
        out[precision] = {
            "detection": detection,
            "pipeline": videos,
            "seconds": round(time.perf_counter() - started, 1),
        }
    return out


# -- report ------------------------------------------------------------------------------------
def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * float(v):.1f} %"


def _sum_detection(rows: list[dict[str, Any]], detector: str) -> tuple[int, int, int]:
    picked = [r for r in rows if r["detector"] == detector]
    return (
        sum(r["tp"] for r in picked),
        sum(r["fp"] for r in picked),
        sum(r["fn"] for r in picked),
    )


def summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: FP32 and INT8 side by side."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, values: dict[str, Any], better: str) -> None:
        rows.append({"figure": figure, **values, "better": better})

    timing = result.get("timing", [])
    for model in ("pose", "swimmer"):
        for size in sorted({t["input"] for t in timing if t["model"] == model}):
            for threads in ("ms_1_thread", "ms_2_threads"):
                values = {
                    t["precision"]: t[threads]
                    for t in timing
                    if t["model"] == model and t["input"] == size
                }
                add(f"{model} forward {size} {threads[3:].replace('_', ' ')} (ms)", values, "lower")
    fall = result.get("falls")
    if fall:
        for key, label, better in (
            ("detected", "falls detected (held out)", "higher"),
            ("false_falls_adl", "false falls on daily activities", "lower"),
            ("false_falls_on_fall_clips", "false falls on fall clips", "lower"),
            ("person_down", "person down on falls that stay down", "higher"),
        ):
            add(label, {p: fall[p]["tables"]["all"][key] for p in PRECISIONS}, better)
        add(
            "false person down on daily activities",
            {p: len(fall[p]["tables"]["all"]["false_person_down_adl"]) for p in PRECISIONS},
            "lower",
        )
        add(
            "median delay after on-ground (s)",
            {p: fall[p]["tables"]["all"]["median_delay_s"] for p in PRECISIONS},
            "lower",
        )
    pools_ = result.get("pools")
    if pools_:
        for detector in ("pose", "swimmer", "merged"):
            counts = {p: _sum_detection(pools_[p]["detection"], detector) for p in PRECISIONS}
            add(
                f"{detector} recall, swimmer val splits",
                {p: round(tp / max(1, tp + fn), 3) for p, (tp, fp, fn) in counts.items()},
                "higher",
            )
            add(
                f"{detector} precision, swimmer val splits",
                {p: round(tp / max(1, tp + fp), 3) for p, (tp, fp, fn) in counts.items()},
                "higher",
            )
        for key, label, better in (
            ("covered_frames", "pool videos: frames with a visible swimmer covered", "higher"),
            ("entries_on_time", "pool videos: entries alerted on time", "higher"),
            ("entry_alerts_without_entry", "pool videos: false entry alerts", "lower"),
            ("submersion_5s", "pool videos: submersion alarms at 5 s (all false)", "lower"),
            ("submersion_15s", "pool videos: submersion alarms at 15 s (all false)", "lower"),
        ):
            add(label, {p: sum(v[key] for v in pools_[p]["pipeline"]) for p in PRECISIONS}, better)
        add(
            "pool videos: visible-swimmer frames",
            {p: sum(v["visible_frames"] for v in pools_[p]["pipeline"]) for p in PRECISIONS},
            "same",
        )
    for row in rows:
        a, b = row.get("fp32"), row.get("int8")
        worse = None
        if isinstance(a, int | float) and isinstance(b, int | float):
            worse = (
                (b < a)
                if row["better"] == "higher"
                else (b > a)
                if row["better"] == "lower"
                else None
            )
        row["int8_worse"] = worse
    return rows


def show(result: dict[str, Any]) -> None:
    rows = result["summary"]
    print("\nFP32 against INT8 (held-out data; forward times on this machine)")
    print(
        table(
            ["figure", "fp32", "int8", "better", "int8 worse"],
            [
                [r["figure"], r.get("fp32"), r.get("int8"), r["better"], r["int8_worse"]]
                for r in rows
            ],
        )
    )
    accuracy = [r for r in rows if "forward" not in r["figure"] and r["int8_worse"] is not None]
    dropped = [r["figure"] for r in accuracy if r["int8_worse"]]
    print(f"\naccuracy figures where INT8 is worse: {', '.join(dropped) or 'none'}")
    if result.get("falls"):
        f = result["falls"]
        print("falls missed, fp32:", ", ".join(f["fp32"]["tables"]["all"]["missed"]) or "none")
        print("falls missed, int8:", ", ".join(f["int8"]["tables"]["all"]["missed"]) or "none")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build", action="store_true", help="quantize the shipped files again")
    parser.add_argument("--skip-falls", action="store_true")
    parser.add_argument("--skip-pool", action="store_true")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--show", action="store_true", help="reprint the saved result")
    args = parser.parse_args()
    if args.show:
        show(json.loads(RESULTS.read_text()))
        return
    root = corpus()
    models_dir = default_models_dir()
    manifest_path = SHIPPED_INT8 / INT8_MANIFEST
    manifest = (
        build(root, models_dir)
        if args.build or not manifest_path.is_file()
        else json.loads(manifest_path.read_text())
    )
    started = time.perf_counter()
    result: dict[str, Any] = {"manifest": manifest}
    if not args.skip_timing:
        result["timing"] = timing(models_dir, manifest)
    if not args.skip_falls:
        result["falls"] = falls(root)
    if not args.skip_pool:
        result["pools"] = pools(root, models_dir)
    result["held_out"] = (
        "falls: every corpus fall dataset but UP-Fall (GMDCSA-24, ASSIST-IoT, FDD bedroom, "
        "URFD RGB, URFD fall-01, the demo clips, the phone-room falls); pools: the swimmer "
        "datasets' val splits and the six pool videos. Calibration saw only UP-Fall and the "
        "pool datasets' train splits (the overhead set has near-duplicate frames across "
        "its splits)."
    )
    result["summary"] = summary(result)
    result["seconds"] = round(time.perf_counter() - started, 1)
    write_report(RESULTS.stem, result, out=RESULTS, show=show)


if __name__ == "__main__":
    main()
