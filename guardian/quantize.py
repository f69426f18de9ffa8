"""INT8 models: static quantization of an exported ONNX model with calibration frames.

A model is quantized once (``guardian detector quantize``, or the shipped files under
``guardian/weights/int8/``): ONNX Runtime's static quantization in the QDQ format, weights
per channel (int8), activations uint8, scales measured on calibration frames fed as the
detector feeds frames (letterboxed at the run size, RGB, 0..1, NCHW). The head's decode
(the concatenations, the distribution-focal box decode, the sigmoids and the keypoint
decode of the last module) stays in float: quantizing it moves boxes and keypoints. The
exported model's metadata (names, stride, imgsz, kpt_shape, task) is copied, so the INT8
file loads wherever the FP32 one does.

Only ONNX Runtime here: the ultralytics adapter is :mod:`guardian.detection`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnx

log = logging.getLogger("guardian.quantize")

#: image and video files a calibration folder may hold
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm"})
#: the grey ultralytics pads a letterboxed frame with
PAD_VALUE = 114
_MODULE = re.compile(r"^/model\.(\d+)/")


class QuantizeError(RuntimeError):
    """The model or the calibration data cannot be used."""


@dataclass(frozen=True, slots=True)
class CalibrationSpec:
    """How calibration frames are chosen: ``frames`` of them, by a sampler seeded with
    ``seed``, letterboxed at ``imgsz`` (a multiple of ``stride`` on each side)."""

    frames: int = 300
    seed: int = 0
    imgsz: int = 640
    stride: int = 32


def letterbox(
    image: npt.NDArray[np.uint8], imgsz: int, stride: int = 32
) -> npt.NDArray[np.float32]:
    """``image`` (BGR) as the detector's input: scaled to fit ``imgsz``, padded to a multiple
    of ``stride`` on each side (its own aspect ratio: 640×480 for a 4:3 frame at 640),
    RGB, 0..1, NCHW float32 — ultralytics' LetterBox (auto) and preprocessing."""
    h, w = image.shape[:2]
    r = min(imgsz / h, imgsz / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = ((imgsz - nw) % stride) / 2, ((imgsz - nh) % stride) / 2
    resized = (
        cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else image
    )
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(
        resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    rgb = padded[:, :, ::-1].transpose(2, 0, 1)
    return np.ascontiguousarray(rgb[None], dtype=np.float32) / np.float32(255.0)


def calibration_files(source: Path) -> list[Path]:
    """Every image and video of ``source`` (a file or a folder), sorted; QuantizeError
    when it is missing or holds none."""
    media = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    if source.is_file():
        if source.suffix.lower() not in media:
            raise QuantizeError(
                f"calibration source {source} is not an image or a video "
                f"({', '.join(sorted(media))})"
            )
        return [source]
    if not source.is_dir():
        raise QuantizeError(
            f"calibration source {source} does not exist: give folders of images or "
            "videos (or files) that look like the site's cameras"
        )
    inside = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in media)
    if not inside:
        raise QuantizeError(f"calibration folder {source} holds no image or video")
    return inside


def check_sources(sources: Sequence[Path]) -> None:
    """QuantizeError when no source is given or one of them is unusable."""
    if not sources:
        raise QuantizeError("no calibration source given")
    for source in sources:
        calibration_files(source)


def _video_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    finally:
        cap.release()


def _read_video_frame(path: Path, index: int) -> npt.NDArray[np.uint8] | None:
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, image = cap.read()
    finally:
        cap.release()
    return np.asarray(image, np.uint8) if ok else None


def _frames_of(source: Path) -> list[tuple[Path, int]]:
    """(file, video frame index, or -1 for an image) of every frame of ``source``."""
    out: list[tuple[Path, int]] = []
    for path in calibration_files(source):
        if path.suffix.lower() in VIDEO_SUFFIXES:
            out.extend((path, i) for i in range(_video_frames(path)))
        else:
            out.append((path, -1))
    return out


def sample_frames(
    sources: Sequence[Path], frames: int, seed: int
) -> Iterator[npt.NDArray[np.uint8]]:
    """``frames`` BGR frames drawn without replacement by a sampler seeded with ``seed``
    (the same sources and seed give the same frames): each source (a folder or a file)
    gives an equal share, so a folder of long videos does not crowd out a folder of
    photos."""
    check_sources(sources)
    rng = random.Random(seed)
    pools = [_frames_of(source) for source in sources]
    chosen: list[tuple[Path, int]] = []
    for i, pool in enumerate(pools):
        share = frames // len(pools) + (1 if i < frames % len(pools) else 0)
        chosen.extend(rng.sample(pool, min(share, len(pool))))
    if not chosen:
        raise QuantizeError("the calibration sources hold no readable frame")
    for path, index in sorted(chosen):
        image = (
            _read_video_frame(path, index)
            if index >= 0
            else cv2.imread(str(path), cv2.IMREAD_COLOR)
        )
        if image is None:
            log.warning("skipping unreadable calibration frame %s#%d", path, index)
            continue
        yield np.asarray(image, np.uint8)


def calibration_inputs(
    sources: Sequence[Path], spec: CalibrationSpec
) -> Iterator[npt.NDArray[np.float32]]:
    """The model inputs of :func:`sample_frames`, letterboxed at ``spec.imgsz``."""
    for image in sample_frames(sources, spec.frames, spec.seed):
        yield letterbox(image, spec.imgsz, spec.stride)


def head_nodes(model: onnx.ModelProto) -> list[str]:
    """The nodes left in float: the last module's decode (everything of the head except
    the convolutions and activations of its box/class/keypoint branches, and their last
    convolution, whose raw outputs are decoded into pixels and scores)."""
    indices = [int(m.group(1)) for n in model.graph.node if (m := _MODULE.match(n.name))]
    if not indices:
        return []
    prefix = f"/model.{max(indices)}/"
    keep = re.compile(re.escape(prefix) + r"cv\d\.\d/cv\d\.\d\.[01]/")
    return [
        n.name for n in model.graph.node if n.name.startswith(prefix) and not keep.match(n.name)
    ]


class _Reader:
    """ONNX Runtime's calibration data reader over model inputs."""

    def __init__(self, name: str, inputs: Iterable[npt.NDArray[np.float32]]) -> None:
        self.name = name
        self.inputs = iter(inputs)
        self.count = 0

    def get_next(self) -> dict[str, npt.NDArray[np.float32]] | None:
        batch = next(self.inputs, None)
        if batch is None:
            return None
        self.count += 1
        return {self.name: batch}

    def rewind(self) -> None:  # pragma: no cover - only for calibrators that read twice
        raise QuantizeError("calibration frames can be read once only")


def quantize_model(
    fp32_onnx: Path,
    calibration: Iterable[npt.NDArray[np.float32]],
    out: Path,
    *,
    exclude_head: bool = True,
) -> Path:
    """Quantize ``fp32_onnx`` (static, QDQ, per-channel int8 weights, uint8 activations)
    with ``calibration`` (model inputs, e.g. :func:`calibration_inputs`) into ``out``.

    The exported model's metadata is copied. ``out`` is written elsewhere and renamed:
    a crash never leaves a half-written model.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if not fp32_onnx.is_file():
        raise QuantizeError(f"model {fp32_onnx} does not exist")
    model = onnx.load(str(fp32_onnx))
    excluded = head_nodes(model) if exclude_head else []
    reader = _Reader(model.graph.input[0].name, calibration)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".quantize-") as tmp:
        work = Path(tmp) / "model.onnx"
        quantize_static(
            str(fp32_onnx),
            str(work),
            reader,
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=excluded,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibTensorRangeSymmetric": False},
        )
        if reader.count == 0:
            raise QuantizeError("no calibration frame was read: the model cannot be quantized")
        quantized = onnx.load(str(work))
        del quantized.metadata_props[:]
        for prop in model.metadata_props:
            quantized.metadata_props.add(key=prop.key, value=prop.value)
        quantized.metadata_props.add(key="quantization", value="int8-static-qdq")
        quantized.metadata_props.add(key="calibration_frames", value=str(reader.count))
        staged = Path(tmp) / out.name
        onnx.save(quantized, str(staged))
        os.replace(staged, out)
    log.info("quantized %s with %d calibration frames: %s", fp32_onnx.name, reader.count, out)
    return out
