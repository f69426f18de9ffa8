"""Labelled fall footage of the evaluation corpus, as typed records for training and benches.

Four kinds of data, all read from the corpus folder (never copied into the project):

* :func:`fall_clips`: every labelled clip — the 22 UP-Fall clips (subject 1, trial 1,
  A01–A05 falls and A06–A11 daily activities, two cameras each) from
  ``ground_truth/upfall_subject1_trial1.csv``, and URFD ``fall-01-cam0`` plus the five
  phone-room falls from ``ground_truth/fall_events_other_clips.csv`` (the elevator GIF has
  no ground truth and is left out). Frame indices are 0-based decoder indices.
* :func:`clip_detections`: what our own pose model (``yolo11n-pose``, ONNX, imgsz 640,
  confidence 0.35) sees in every frame of a clip. The model costs ~70 ms a frame, so the
  result is cached once per clip as ``<clip name>.npz`` in ``cache_dir`` (default
  ``$GUARDIAN_CACHE/fall-keypoints``, else ``~/.cache/guardian/fall-keypoints``; never
  inside the project). A cache made with other settings is rebuilt. For URFD only the
  right half of the frame is the camera (RGB; the left half is a depth map): the
  detections centred there are kept, in the coordinates of that 320×240 half.
* :func:`clip_tracks`: the detections of every ``step``-th frame through
  :class:`guardian.tracking.Tracker`, with timestamps in seconds from the start of the
  clip (``pts``), so ``round(timestamp * clip.fps)`` is the frame index.
* :func:`mediapipe_sequences`: the UP-Fall MediaPipe-Pose skeleton CSVs (33 landmarks,
  normalised x, y) mapped to COCO-17 keypoints in pixels of a 640×480 frame, with the
  upstream per-frame ``LABEL`` (0 before the fall, 1 from the fall on).
* :func:`ambianic_cases`: the ordered still-frame cases of ``ground_truth/
  ambianic_test_cases.csv`` with their expected outcome.

A malformed ground-truth row raises :class:`FallDataError` naming the file and line.
"""

from __future__ import annotations

import csv
import functools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guardian.detection import PoseDetector
from guardian.records import Box, Detection, Keypoint, Track
from guardian.sources import open_source
from guardian.tracking import Tracker

__all__ = [
    "COCO_FROM_MEDIAPIPE",
    "AmbianicCase",
    "ClipDetections",
    "FallClip",
    "FallDataError",
    "SkeletonSequence",
    "ambianic_cases",
    "clip_detections",
    "clip_tracks",
    "default_cache_dir",
    "default_detector",
    "fall_clips",
    "mediapipe_sequences",
]

UPFALL_TRUTH = "ground_truth/upfall_subject1_trial1.csv"
OTHER_TRUTH = "ground_truth/fall_events_other_clips.csv"
AMBIANIC_TRUTH = "ground_truth/ambianic_test_cases.csv"
AMBIANIC_FRAMES = "fall/ambianic_test_frames"
MEDIAPIPE_DIR = "fall/upfall_skeletons_mediapipe"

#: detector settings of the cache (a cache made with other settings is rebuilt)
IMGSZ = 640
CONFIDENCE = 0.35
#: bump when the cache layout changes
CACHE_VERSION = 1
#: the frame the MediaPipe CSVs' normalised coordinates are scaled to (UP-Fall's size)
SKELETON_WIDTH = 640
SKELETON_HEIGHT = 480
#: UP-Fall videos run at 18 fps; the skeleton CSVs were extracted from them frame by frame
UPFALL_FPS = 18.0

#: MediaPipe-Pose landmark index of each COCO-17 keypoint, in COCO order (nose, eyes, ears,
#: shoulders, elbows, wrists, hips, knees, ankles: every COCO point has a direct counterpart)
COCO_FROM_MEDIAPIPE: tuple[int, ...] = (
    0,
    2,
    5,
    7,
    8,
    11,
    12,
    13,
    14,
    15,
    16,
    23,
    24,
    25,
    26,
    27,
    28,
)
_MEDIAPIPE_POINTS = 33


class FallDataError(ValueError):
    """A ground-truth file or cache of the corpus is missing or malformed."""


@dataclass(frozen=True, slots=True)
class FallClip:
    """One labelled clip of the corpus.

    ``onset`` (the person starts to fall) and ``on_ground`` (the body is down) are 0-based
    frame indices, None for clips without a fall.
    """

    name: str
    path: str
    source: str
    view: str
    activity: str
    fps: float
    frames: int
    is_fall: bool
    onset: int | None
    on_ground: int | None

    @property
    def crop_right_half(self) -> bool:
        """True when only the right half of each frame is the camera image (URFD: RGB)."""
        return self.source == "urfd"

    @property
    def onset_s(self) -> float | None:
        return None if self.onset is None else self.onset / self.fps

    @property
    def on_ground_s(self) -> float | None:
        return None if self.on_ground is None else self.on_ground / self.fps


FrameDetections = tuple[int, float, tuple[Detection, ...]]


@dataclass(frozen=True, slots=True)
class ClipDetections:
    """The pose model's detections in every frame of a clip.

    ``frames`` holds ``(frame index, seconds from the start, detections)``; ``width`` and
    ``height`` are the size of the image the model saw (for URFD, the RGB half).
    """

    clip: FallClip
    width: int
    height: int
    frames: tuple[FrameDetections, ...]


@dataclass(frozen=True, slots=True)
class SkeletonSequence:
    """One UP-Fall MediaPipe skeleton file mapped to COCO-17 keypoints in 640×480 pixels."""

    name: str
    view: str
    fps: float
    keypoints: tuple[tuple[Keypoint, ...], ...]
    labels: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AmbianicCase:
    """An ordered sequence of still frames and the outcome the upstream test expects.

    ``frames`` are paths relative to the corpus root; ``expected`` is the upstream text
    (``FALL``, ``NO_FALL``, ``NO_DETECTION``, possibly with a remark in brackets or
    ``NO_FALL after 2 frames; FALL after 3rd``); ``condition`` says how the frames relate
    (time between them, flipped copies ...).
    """

    case_id: str
    frames: tuple[str, ...]
    expected: str
    condition: str

    @property
    def outcome(self) -> str:
        """The expected outcome after the last frame: FALL, NO_FALL or NO_DETECTION."""
        text = re.sub(r"\(.*?\)", "", self.expected).upper()
        text = text.split(";")[-1].strip()  # "NO_FALL after 2 frames; FALL after 3rd"
        for word in ("NO_DETECTION", "NO_FALL", "FALL"):
            if text.startswith(word):
                return word
        raise FallDataError(f"{AMBIANIC_TRUTH}: case {self.case_id}: unknown outcome {text!r}")


# --------------------------------------------------------------------------- ground truth


def _rows(corpus: Path, relative: str) -> Iterator[tuple[int, dict[str, str]]]:
    path = corpus / relative
    if not path.is_file():
        raise FallDataError(
            f"{path} not found: point GUARDIAN_CORPUS (or the corpus argument) at the "
            "evaluation corpus folder that holds MANIFEST.md"
        )
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            yield reader.line_num, row


def _field(row: dict[str, str], key: str, where: str) -> str:
    value = row.get(key)
    if value is None:
        raise FallDataError(f"{where}: column {key!r} is missing")
    return value.strip()


def _int(row: dict[str, str], key: str, where: str) -> int | None:
    text = _field(row, key, where)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise FallDataError(f"{where}: {key} must be a whole number, got {text!r}") from None


def _float(row: dict[str, str], key: str, where: str) -> float:
    text = _field(row, key, where)
    try:
        value = float(text)
    except ValueError:
        raise FallDataError(f"{where}: {key} must be a number, got {text!r}") from None
    if not value > 0:
        raise FallDataError(f"{where}: {key} must be positive, got {text!r}")
    return value


def _check_fall(clip: FallClip, where: str) -> FallClip:
    if clip.is_fall:
        if clip.onset is None or clip.on_ground is None:
            raise FallDataError(f"{where}: a fall clip needs both its onset and on-ground frame")
        if not 0 <= clip.onset <= clip.on_ground < clip.frames:
            raise FallDataError(
                f"{where}: need 0 <= onset ({clip.onset}) <= on-ground ({clip.on_ground}) "
                f"< frames ({clip.frames})"
            )
    elif clip.onset is not None or clip.on_ground is not None:
        raise FallDataError(f"{where}: a clip without a fall must not have fall frames")
    return clip


def _upfall_clips(corpus: Path) -> list[FallClip]:
    out = []
    for line, row in _rows(corpus, UPFALL_TRUTH):
        where = f"{corpus / UPFALL_TRUTH}:{line}"
        path = _field(row, "file", where)
        camera = _field(row, "camera", where)
        frames = _int(row, "frames", where)
        if frames is None:
            raise FallDataError(f"{where}: frames is empty")
        clip = FallClip(
            name=Path(path).stem,
            path=path,
            source="upfall",
            view=f"upfall-{camera.lower()}",
            activity=_field(row, "activity_name", where),
            fps=_float(row, "fps", where),
            frames=frames,
            is_fall=_field(row, "is_fall", where) == "1",
            onset=_int(row, "fall_onset_frame_est", where),
            on_ground=_int(row, "on_ground_frame_est", where),
        )
        out.append(_check_fall(clip, where))
    return out


def _other_clips(corpus: Path) -> list[FallClip]:
    out = []
    for line, row in _rows(corpus, OTHER_TRUTH):
        where = f"{corpus / OTHER_TRUTH}:{line}"
        path = _field(row, "file", where)
        if path.startswith("fall/urfd/"):
            source, view, activity = "urfd", "urfd-cam0", "Fall (URFD, side camera)"
        elif path.startswith("fall/phone_room_falls/"):
            source, view, activity = "phone_room", "phone", "Fall (phone camera, real room)"
        else:
            continue  # the elevator GIF: no frame-level ground truth
        frames = _int(row, "frames", where)
        if frames is None:
            raise FallDataError(f"{where}: frames is empty")
        clip = FallClip(
            name=Path(path).stem,
            path=path,
            source=source,
            view=view,
            activity=activity,
            fps=_float(row, "fps", where),
            frames=frames,
            is_fall=_field(row, "contains_fall", where) == "1",
            onset=_int(row, "fall_onset_frame", where),
            on_ground=_int(row, "on_ground_frame", where),
        )
        out.append(_check_fall(clip, where))
    return out


def fall_clips(corpus: Path) -> tuple[FallClip, ...]:
    """Every labelled clip: UP-Fall (22), URFD fall-01 and the phone-room falls (5)."""
    return tuple(_upfall_clips(corpus) + _other_clips(corpus))


# --------------------------------------------------------------------------- detections


def default_cache_dir() -> Path:
    """``$GUARDIAN_CACHE/fall-keypoints``, else ``~/.cache/guardian/fall-keypoints``."""
    base = os.environ.get("GUARDIAN_CACHE")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "guardian"
    return root / "fall-keypoints"


def default_models_dir() -> Path:
    """``$GUARDIAN_MODELS``, else the project's git-ignored ``models/`` (the tests' folder)."""
    configured = os.environ.get("GUARDIAN_MODELS")
    if configured:
        return Path(configured).expanduser()
    return Path(__file__).resolve().parents[2] / "models"


@functools.cache
def default_detector() -> PoseDetector:
    """The pose model with the cache's settings (ONNX, imgsz 640, confidence 0.35), made once."""
    return PoseDetector(
        models_dir=default_models_dir(), backend="onnx", imgsz=IMGSZ, confidence=CONFIDENCE
    )


def _settings(clip: FallClip, limit: int | None) -> np.ndarray:
    return np.array(
        [CACHE_VERSION, IMGSZ, CONFIDENCE, 2.0 * clip.crop_right_half, float(limit or 0)]
    )


def clip_detections(
    clip: FallClip,
    corpus: Path,
    *,
    cache_dir: Path | None = None,
    detector: PoseDetector | None = None,
    limit: int | None = None,
) -> ClipDetections:
    """The detections of every frame of ``clip``, from the cache or the model (then cached).

    ``detector`` defaults to :func:`default_detector`; ``limit`` keeps only the first
    ``limit`` frames (a cache made with another limit is rebuilt).
    """
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    target = folder / f"{clip.name}.npz"
    settings = _settings(clip, limit)
    if target.is_file():
        loaded = _load(target, clip, settings)
        if loaded is not None:
            return loaded
    model = detector if detector is not None else default_detector()
    frames: list[FrameDetections] = []
    width = height = 0
    video = corpus / clip.path
    source = open_source(clip.name, video, fps=1000.0)  # above the native rate: every frame
    try:
        for frame in source.frames():
            if limit is not None and len(frames) >= limit:
                break
            height, width = frame.height, frame.width
            found = model.detect(frame.image)
            if clip.crop_right_half:
                width //= 2
                found = _right_half(found, width)
            frames.append((frame.index, frame.pts, found))
    finally:
        source.close()
    if not frames:
        raise FallDataError(f"{video}: no frame could be decoded")
    _save(target, frames, width, height, settings)
    return ClipDetections(clip, width, height, tuple(frames))


def _right_half(found: tuple[Detection, ...], half: int) -> tuple[Detection, ...]:
    """The detections centred in the right half, moved into its coordinates.

    The model sees the whole frame rather than the cropped half: at imgsz 640 the half
    (320×240) would be enlarged twice, and on URFD that finds the person in 3 frames of
    20 instead of 20 of 20; the whole 640×240 frame is seen at its own scale.
    """
    out = []
    for d in found:
        if d.box.center[0] < half:
            continue  # the depth map on the left
        box = Box(max(0.0, d.box.x1 - half), d.box.y1, d.box.x2 - half, d.box.y2)
        points = tuple(Keypoint(max(0.0, k.x - half), k.y, k.conf) for k in d.keypoints)
        out.append(Detection(box, d.score, points, d.label))
    return tuple(out)


def _save(
    target: Path, frames: list[FrameDetections], width: int, height: int, settings: np.ndarray
) -> None:
    dets = [d for _, _, ds in frames for d in ds]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        index=np.array([i for i, _, _ in frames], dtype=np.int64),
        pts=np.array([p for _, p, _ in frames], dtype=np.float64),
        count=np.array([len(ds) for _, _, ds in frames], dtype=np.int64),
        boxes=np.array([(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in dets]).reshape(-1, 4),
        scores=np.array([d.score for d in dets], dtype=np.float64),
        kps=np.array([[(k.x, k.y, k.conf) for k in d.keypoints] for d in dets]).reshape(-1, 17, 3),
        width=width,
        height=height,
        settings=settings,
    )
    os.replace(tmp, target)


def _load(target: Path, clip: FallClip, settings: np.ndarray) -> ClipDetections | None:
    try:
        z = np.load(target)
        if "settings" not in z.files or not np.array_equal(z["settings"], settings):
            return None
        offsets = np.concatenate([[0], np.cumsum(z["count"])]).astype(int).tolist()
        boxes, scores, kps = z["boxes"].tolist(), z["scores"].tolist(), z["kps"].tolist()
        index, pts = z["index"].tolist(), z["pts"].tolist()
        width, height = int(z["width"]), int(z["height"])
    except (OSError, ValueError, KeyError):
        return None  # unreadable or half-written: rebuild it
    frames: list[FrameDetections] = []
    for i, (frame_index, t) in enumerate(zip(index, pts, strict=True)):
        dets = tuple(
            Detection(Box(*boxes[j]), scores[j], tuple(Keypoint(x, y, c) for x, y, c in kps[j]))
            for j in range(offsets[i], offsets[i + 1])
        )
        frames.append((int(frame_index), float(t), dets))
    return ClipDetections(clip, width, height, tuple(frames))


def clip_tracks(
    dets: ClipDetections, *, step: int = 1
) -> tuple[tuple[float, tuple[Track, ...]], ...]:
    """Every ``step``-th frame through a fresh tracker: ``(timestamp, tracks)`` per frame.

    Timestamps are seconds from the start of the clip (the frame's ``pts``).
    """
    if step < 1:
        raise ValueError(f"step must be >= 1, got {step}")
    tracker = Tracker(dets.clip.name)
    return tuple(
        (t, tracker.update(detections, t))
        for index, t, detections in dets.frames
        if index % step == 0
    )


# --------------------------------------------------------------------------- skeletons


def _view_of_skeleton(name: str, where: Path) -> str:
    if len(name) < 2 or name[0] != "C" or not name[1].isdigit():
        raise FallDataError(f"{where}: expected a name like C1S1A1T1 (C<camera>...)")
    return f"upfall-cam{name[1]}"


def _skeleton_file(path: Path) -> SkeletonSequence:
    name = path.stem.replace("_", "")  # C2S1_A1_T2 → C2S1A1T2, like the other files
    view = _view_of_skeleton(name, path)
    frames: list[tuple[Keypoint, ...]] = []
    labels: list[int] = []
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        # two upstream files spell the last column "LLABEL"
        label_names = [n for n in ("LABEL", "LLABEL") if header is not None and n in header]
        if header is None or not label_names:
            raise FallDataError(f"{path}:1: expected a header with Joint<n>_X/Y/Z and LABEL")
        label_col = header.index(label_names[0])
        cols = []
        for joint in COCO_FROM_MEDIAPIPE:
            x, y = f"Joint{joint + 1}_X", f"Joint{joint + 1}_Y"
            vis = f"Joint{joint + 1}_V"
            if x not in header or y not in header:
                raise FallDataError(f"{path}:1: column {x} or {y} is missing")
            cols.append(
                (header.index(x), header.index(y), header.index(vis) if vis in header else None)
            )
        for line, row in enumerate(reader, start=2):
            try:
                points = []
                for cx, cy, cv in cols:
                    px, py = float(row[cx]), float(row[cy])
                    conf = float(row[cv]) if cv is not None else 1.0
                    if px == 0.0 and py == 0.0:  # MediaPipe found no pose in this frame
                        conf = 0.0
                    points.append(Keypoint(px * SKELETON_WIDTH, py * SKELETON_HEIGHT, conf))
                label = int(float(row[label_col]))
            except (ValueError, IndexError):
                raise FallDataError(
                    f"{path}:{line}: expected numbers in every Joint column and LABEL"
                ) from None
            frames.append(tuple(points))
            labels.append(label)
    return SkeletonSequence(name, view, UPFALL_FPS, tuple(frames), tuple(labels))


def mediapipe_sequences(corpus: Path) -> tuple[SkeletonSequence, ...]:
    """Every UP-Fall MediaPipe skeleton CSV, mapped to COCO-17, sorted by name."""
    folder = corpus / MEDIAPIPE_DIR
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise FallDataError(f"{folder}: no skeleton CSVs found; is the corpus complete?")
    return tuple(sorted((_skeleton_file(path) for path in files), key=lambda s: s.name))


# --------------------------------------------------------------------------- ambianic


def ambianic_cases(corpus: Path) -> tuple[AmbianicCase, ...]:
    """The still-frame cases, frames as corpus-relative paths, in file order."""
    out = []
    for line, row in _rows(corpus, AMBIANIC_TRUTH):
        where = f"{corpus / AMBIANIC_TRUTH}:{line}"
        names = [n.strip() for n in _field(row, "frames_in_order", where).split(">")]
        if not all(names):
            raise FallDataError(f"{where}: frames_in_order must be 'a.png > b.png > ...'")
        frames = tuple(f"{AMBIANIC_FRAMES}/{n}" for n in names)
        for frame in frames:
            if not (corpus / frame).is_file():
                raise FallDataError(f"{where}: frame {corpus / frame} does not exist")
        out.append(
            AmbianicCase(
                case_id=_field(row, "case_id", where),
                frames=frames,
                expected=_field(row, "expected", where),
                condition=_field(row, "condition", where),
            )
        )
    return tuple(out)
