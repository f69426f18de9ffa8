"""``guardian train-detector --config FILE [--resume]``: fine-tune the swimmer detector
(:mod:`guardian.swim.train` says how); ``guardian detector quantize``: make the INT8
models that ``detection.precision: int8`` runs (:mod:`guardian.quantize`)."""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardian.cli.options import Commands, open_site, usage_error
from guardian.config.training import training_setup
from guardian.detection import (
    ModelError,
    Task,
    ensure_onnx,
    int8_path_for,
    shipped_model_path,
    train_detector,
)
from guardian.quantize import (
    CalibrationSpec,
    QuantizeError,
    calibration_inputs,
    check_sources,
    quantize_model,
)
from guardian.swim.data import DatasetError, build_dataset
from guardian.swim.detector import shipped_swimmer_path
from guardian.swim.train import DetectorTrainConfig, file_sha256, training_device

__all__ = ["add_detector_commands", "cmd_quantize", "cmd_train_detector"]

#: where ``--model`` puts the exported and quantized files when no site says
MODELS_DIR = Path("models")


def cmd_train_detector(args: argparse.Namespace) -> int:
    path: Path = args.config
    setup = training_setup(path, DetectorTrainConfig)
    if setup is None:
        return 1
    config, corpus = setup
    out = Path(args.out or config.out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    try:
        data = build_dataset(
            corpus, Path(config.data_dir).expanduser(), train=config.train, val=config.val
        )
    except DatasetError as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    device = training_device(config.device)
    print(
        f"training the swimmer detector on {data.images('train')} images "
        f"({', '.join(config.train)}), {config.epochs} epochs at {config.imgsz} px on {device}",
        flush=True,
    )
    try:
        last, results = train_detector(
            data.data_yaml,
            out / "run",
            epochs=config.epochs,
            imgsz=config.imgsz,
            batch=config.batch,
            seed=config.seed,
            workers=config.workers,
            device=device,
            resume=bool(args.resume),
            hyper=config.hyper(),
        )
    except ModelError as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    weights = out / "swimmer.pt"
    shutil.copy2(last, weights)
    shutil.copy2(path, out / "train.yaml")
    epochs: list[dict[str, Any]] = []
    if results.is_file():
        with results.open() as handle:
            epochs = [
                {k.strip(): v.strip() for k, v in row.items()} for row in csv.DictReader(handle)
            ]
    summary = {
        "config": config.model_dump(),
        "device": device,
        "data_digest": data.digest,
        "data": [
            {"dataset": s.dataset, "split": s.split, "images": s.images, "boxes": s.boxes}
            for s in data.stats
        ],
        "epochs": epochs,
        "weights": str(weights),
        "sha256": file_sha256(weights),
        "bytes": weights.stat().st_size,
    }
    (out / "train.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"weights: {weights} ({weights.stat().st_size / 1e6:.1f} MB, sha256 {summary['sha256']})")
    return 0


@dataclass(frozen=True, slots=True)
class _Job:
    """One model to quantize: its weights (.pt or .onnx), task, models folder, INT8 file
    and inference size."""

    model: Path
    task: Task
    models_dir: Path
    out: Path
    imgsz: int

    def run(self, sources: list[Path], frames: int, seed: int) -> Path:
        spec = CalibrationSpec(frames=frames, seed=seed, imgsz=self.imgsz)
        fp32 = (
            self.model
            if self.model.suffix.lower() == ".onnx"
            else ensure_onnx(self.model, self.models_dir, self.task)
        )
        print(
            f"quantizing {self.model.name} ({self.task}) with {frames} calibration frames at "
            f"{self.imgsz} px (seed {seed})",
            flush=True,
        )
        return quantize_model(fp32, calibration_inputs(sources, spec), self.out)


def _site_jobs(config: Path, imgsz: int | None) -> list[_Job] | None:
    """The site's pose model, and its swimmer detector when a camera watches water."""
    bundle = open_site(config)
    if bundle is None:
        return None
    site, models = bundle.site, bundle.models_dir
    size = imgsz or (site.cameras[0].imgsz if site.cameras else 640)
    pose = bundle.model_path or shipped_model_path()
    jobs = [_Job(pose, "pose", models, int8_path_for(pose, models), size)]
    if bundle.swimmer_cameras():
        swim = bundle.swimmer_model_path or shipped_swimmer_path()
        swim_size = site.detection.swimmers.imgsz or size
        jobs.append(_Job(swim, "detect", models, int8_path_for(swim, models), swim_size))
    return jobs


def cmd_quantize(args: argparse.Namespace) -> int:
    sources: list[Path] = args.calibration
    if args.frames < 1:
        return usage_error("detector quantize", "--frames must be at least 1")
    try:
        check_sources(sources)  # a wrong path is said before any model is loaded
    except QuantizeError as err:
        print(f"guardian detector quantize: {err}", file=sys.stderr)
        return 1
    if args.config is not None:
        if args.model is not None or args.out is not None:
            return usage_error("detector quantize", "give --config or --model (with --out)")
        jobs = _site_jobs(args.config, args.imgsz)
        if jobs is None:
            return 1
    elif args.model is not None:
        model: Path = args.model
        if not model.is_file():
            print(f"guardian detector quantize: model {model} does not exist", file=sys.stderr)
            return 1
        out = args.out or int8_path_for(model, MODELS_DIR)
        jobs = [_Job(model, args.task, MODELS_DIR, out, args.imgsz or 640)]
    else:
        return usage_error("detector quantize", "give --config SITE or --model FILE")
    try:
        for job in jobs:
            done = job.run(sources, args.frames, args.seed)
            print(f"wrote {done} ({done.stat().st_size / 1e6:.1f} MB)", flush=True)
    except (QuantizeError, ModelError) as err:
        print(f"guardian detector quantize: {err}", file=sys.stderr)
        return 1
    return 0


def add_detector_commands(sub: Commands) -> None:
    """Register ``train-detector`` and ``detector quantize`` on the CLI's sub-command
    parser."""
    p = sub.add_parser(
        "train-detector",
        help="fine-tune the swimmer detector on the corpus's pool datasets",
        description=(
            "Fine-tune YOLO11n (from the shipped pose model's weights) on the labelled "
            "swimmer datasets of the corpus: seeded, a checkpoint per epoch, --resume."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help="training config YAML")
    p.add_argument("--out", type=str, default=None, help="output folder (default: out_dir)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.set_defaults(func=cmd_train_detector)

    group = sub.add_parser(
        "detector",
        help="the detection models: make their INT8 versions",
        description="Work on the detection models (the pose model and the swimmer detector).",
    )
    commands = group.add_subparsers(dest="detector_command", required=True, metavar="COMMAND")
    q = commands.add_parser(
        "quantize",
        help="quantize the models to INT8 for detection.precision: int8",
        description=(
            "Quantize a model (static INT8, QDQ, per-channel) with calibration frames: "
            "with --config, the site's pose model (and its swimmer detector when a camera "
            "watches water), written to the site's models folder where "
            "'detection.precision: int8' finds them; with --model, one .pt or .onnx file. "
            "Frames are drawn from the calibration images and videos by a seeded sampler."
        ),
    )
    q.add_argument("--config", type=Path, default=None, help="site file (guardian.yaml)")
    q.add_argument("--model", type=Path, default=None, help="a .pt or exported .onnx model")
    q.add_argument(
        "--task", choices=("pose", "detect"), default="pose", help="--model's task (pose)"
    )
    q.add_argument(
        "--out", type=Path, default=None, help="--model's INT8 file (default: models/ cache)"
    )
    q.add_argument(
        "--calibration",
        type=Path,
        nargs="+",
        required=True,
        help="folders or files of images/videos like the cameras' (never evaluation data)",
    )
    q.add_argument("--frames", type=int, default=300, help="calibration frames (300)")
    q.add_argument("--seed", type=int, default=0, help="the sampler's seed (0)")
    q.add_argument(
        "--imgsz", type=int, default=None, help="inference size (default: the camera's, or 640)"
    )
    q.set_defaults(func=cmd_quantize)
