"""Every corpus fall dataset through the real camera pipeline, leave-one-dataset-out.

Used by ``bench/falls.py --datasets`` (see its docstring). The clips and their ground
truth come from the seven CSVs of ``ground_truth/`` (GMDCSA-24, ASSIST-IoT, FDD bedroom,
URFD RGB, the two demo-repo clips, UP-Fall subject 1 and the other clips: URFD fall-01
and the phone-room falls). Each clip is processed at about ``TARGET_FPS`` (every
``round(fps / TARGET_FPS)``-th frame) through :class:`guardian.pipeline.CameraPipeline`
with the site defaults of the ``pose:`` section: the pose model at the low score floor,
the tracker's low-score and second-look stages, the posture / fall estimator, and the
hold of a person down. The whole-frame detections are cached per clip outside the project
(``~/.cache/guardian/fall-sets/``), and so are the second-look crops' detections, so a
rerun costs seconds.
"""

from __future__ import annotations

import csv
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from benchkit import FallLog, Fire, score_fall

from guardian.app import build_posture_tracker
from guardian.config.pose import PoseConfig
from guardian.detection import PoseDetector
from guardian.fall.data import default_models_dir
from guardian.pipeline import CameraPipeline
from guardian.records import Box, Detection, Frame, Keypoint, Posture, TrackState
from guardian.relook import Relook
from guardian.tracking import Tracker

TARGET_FPS = 10.0
IMGSZ = 640
#: the detection.confidence site default: new tracks need this score
CONFIDENCE = 0.35
#: the tracker's high score before issue 12 (the pipeline left it at the Tracker default)
BEFORE_HIGH = 0.5
CACHE = Path.home() / ".cache" / "guardian" / "fall-sets"
CACHE_VERSION = 1
#: "stays down": the person is still down this long after on-ground (the clip lasts that long)
DOWN_FOR = 5.0
#: person down: a posture rule "lying for DOWN_RULE s" (what the bench counts as raised)
DOWN_RULE = 5.0

DATASETS = {
    "gmdcsa24": "ground_truth/gmdcsa24.csv",
    "assist_iot_mfd": "ground_truth/assist_iot_mfd.csv",
    "fdd_bedroom": "ground_truth/fdd_bedroom.csv",
    "urfd_rgb": "ground_truth/urfd_rgb.csv",
    "demo_repo_clips": "ground_truth/demo_repo_clips.csv",
    "upfall": "ground_truth/upfall_subject1_trial1.csv",
    "other": "ground_truth/fall_events_other_clips.csv",
}
#: fall clips whose person gets up again (frame, from the ground truth's notes): they are
#: down for less than the rest of the clip
GETS_UP = {"phone_outdoor_far_trip_fall": 215, "fdd_bedroom_f0691-0870_fall1": 120}
#: clips that may only ever be evaluated on (never train weights on them)
EVAL_ONLY = ("stock_walker_fall_elderly_woman",)


@dataclass(frozen=True, slots=True)
class SetClip:
    name: str
    path: str
    dataset: str
    is_fall: bool
    fps: float
    frames: int
    onset: int | None
    on_ground: int | None
    start_pose: str
    view: str
    notes: str

    @property
    def crop_right_half(self) -> bool:
        return self.path.startswith("fall/urfd/")

    @property
    def step(self) -> int:
        return max(1, round(self.fps / TARGET_FPS))

    @property
    def seconds(self) -> float:
        return self.frames / self.fps


def load_clips(root: Path) -> list[SetClip]:
    out: list[SetClip] = []
    for dataset, rel in DATASETS.items():
        with (root / rel).open(newline="") as handle:
            for row in csv.DictReader(handle):
                path = row["file"]
                if path.endswith(".gif"):
                    continue  # the elevator GIF: no frame-level ground truth
                name = Path(path).stem
                if dataset == "upfall":
                    act = int(row["activity_id"])
                    clip = SetClip(
                        name, path, "upfall", row["is_fall"] == "1", float(row["fps"]),
                        int(row["frames"]), _int(row["fall_onset_frame_est"]),
                        _int(row["on_ground_frame_est"]),
                        "standing" if act <= 5 else _upfall_adl_pose(act),
                        "side" if row["camera"] == "Cam1" else "front_oblique",
                        row["activity_name"],
                    )  # fmt: skip
                elif dataset == "other":
                    urfd = path.startswith("fall/urfd/")
                    clip = SetClip(
                        name, path, "urfd_cam0" if urfd else "phone_room",
                        row["contains_fall"] == "1", float(row["fps"]), int(row["frames"]),
                        _int(row["fall_onset_frame"]), _int(row["on_ground_frame"]),
                        "walking" if urfd else "standing", "side" if urfd else "front",
                        row["notes"],
                    )  # fmt: skip
                else:
                    clip = SetClip(
                        name, path, dataset, row["label"] == "fall", float(row["fps"]),
                        int(row["frames"]), _int(row["onset_frame"]), _int(row["on_ground_frame"]),
                        row["start_pose"], row["view"], row["notes"],
                    )  # fmt: skip
                out.append(clip)
    return out


def _upfall_adl_pose(activity: int) -> str:
    return {6: "walking", 7: "standing", 8: "sitting", 9: "standing", 10: "standing"}.get(
        activity, "lying"
    )


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text else None


# --------------------------------------------------------------------------- cache


Frames = list[tuple[int, tuple[Detection, ...]]]


def _settings(clip: SetClip, floor: float) -> list[float]:
    return [CACHE_VERSION, IMGSZ, floor, clip.step, float(clip.crop_right_half)]


def _pack(dets: Sequence[Detection]) -> list[Any]:
    return [
        [round(d.box.x1, 1), round(d.box.y1, 1), round(d.box.x2, 1), round(d.box.y2, 1),
         round(d.score, 4), [[round(k.x, 1), round(k.y, 1), round(k.conf, 3)] for k in d.keypoints]]
        for d in dets
    ]  # fmt: skip


def _unpack(rows: list[Any]) -> tuple[Detection, ...]:
    return tuple(
        Detection(Box(r[0], r[1], r[2], r[3]), r[4], tuple(Keypoint(*k) for k in r[5]))
        for r in rows
    )


def _right_half(found: Sequence[Detection], half: int) -> tuple[Detection, ...]:
    out = []
    for d in found:
        if d.box.center[0] < half:
            continue
        box = Box(max(0.0, d.box.x1 - half), d.box.y1, d.box.x2 - half, d.box.y2)
        points = tuple(Keypoint(max(0.0, k.x - half), k.y, k.conf) for k in d.keypoints)
        out.append(Detection(box, d.score, points, d.label))
    return tuple(out)


def read_frames(root: Path, clip: SetClip) -> Any:
    """(index, image) of every ``clip.step``-th frame (URFD: the RGB half)."""
    cap = cv2.VideoCapture(str(root / clip.path))
    index = 0
    try:
        while True:
            if index % clip.step:
                if not cap.grab():
                    break
                index += 1
                continue
            ok, image = cap.read()
            if not ok:
                break
            yield index, np.ascontiguousarray(image)
            index += 1
    finally:
        cap.release()


class Detector:
    """The pose model at a score floor, whole frames cached per clip, crops per frame."""

    def __init__(self, floor: float, cache: Path = CACHE) -> None:
        self.floor = floor
        self.cache = cache
        self._model: PoseDetector | None = None
        self.model_calls = 0

    @property
    def model(self) -> PoseDetector:
        if self._model is None:
            self._model = PoseDetector(
                models_dir=default_models_dir(), backend="onnx", imgsz=IMGSZ, confidence=self.floor
            )
        return self._model

    def _file(self, clip: SetClip, kind: str) -> Path:
        return self.cache / clip.dataset / f"{clip.name}.{kind}.json"

    def whole(self, root: Path, clip: SetClip) -> dict[int, tuple[Detection, ...]]:
        path = self._file(clip, "frames")
        settings = _settings(clip, self.floor)
        if path.is_file():
            data = json.loads(path.read_text())
            if data.get("settings") == settings:
                return {int(k): _unpack(v) for k, v in data["frames"].items()}
        frames: dict[str, Any] = {}
        out: dict[int, tuple[Detection, ...]] = {}
        for index, image in read_frames(root, clip):
            if clip.crop_right_half:
                found = _right_half(self.model.detect(image), image.shape[1] // 2)
            else:
                found = self.model.detect(image)
            self.model_calls += 1
            frames[str(index)] = _pack(found)
            out[index] = found
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"settings": settings, "frames": frames}))
        return out

    def crops(self, clip: SetClip) -> CropCache:
        return CropCache(self, self._file(clip, "crops"), _settings(clip, self.floor))


class CropCache:
    """The second look's detector for one clip: crops by (frame, size, content hash)."""

    def __init__(self, owner: Detector, path: Path, settings: list[float]) -> None:
        self.owner = owner
        self.path = path
        self.settings = settings
        self.data: dict[str, Any] = {}
        self.dirty = False
        if path.is_file():
            loaded = json.loads(path.read_text())
            if loaded.get("settings") == settings:
                self.data = loaded["crops"]

    def __call__(self, frame: Frame) -> tuple[Detection, ...]:
        img = frame.image
        key = f"{frame.index}:{img.shape[1]}x{img.shape[0]}:{int(img[::7, ::7].sum()) % 1000003}"
        if key not in self.data:
            self.data[key] = _pack(self.owner.model.detect(img))
            self.owner.model_calls += 1
            self.dirty = True
        return _unpack(self.data[key])

    def save(self) -> None:
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"settings": self.settings, "crops": self.data}))


# --------------------------------------------------------------------------- one clip


@dataclass
class ClipRun:
    falls: tuple[Fire, ...]
    #: per processed frame: time, whether anyone was reported LYING for DOWN_RULE s or more
    down_from: float | None
    relook_crops: int
    seconds: float


def run_clip(
    root: Path,
    clip: SetClip,
    detector: Detector,
    config: PoseConfig,
    *,
    relook: bool,
    low: bool,
) -> ClipRun:
    whole = detector.whole(root, clip)
    crops = detector.crops(clip)
    floor = config.low_score if low else CONFIDENCE

    def detect(frame: Frame) -> tuple[Detection, ...]:
        return tuple(d for d in whole.get(frame.index, ()) if d.score >= floor)

    tracker = Tracker(
        clip.name,
        high_score=CONFIDENCE if low else BEFORE_HIGH,
        low_score=floor,
        relink_lost=float(config.relink) if low else 0.0,
    )
    second = (
        Relook(
            crops,
            window=float(config.relook_window),
            max_crops=config.relook_crops,
            max_score=0.9 * CONFIDENCE,
        )
        if relook
        else None
    )
    pipe = CameraPipeline(
        clip.name,
        detect,
        (),
        tracker,
        postures=build_posture_tracker(config),
        relook=second,
        keep_down=float(config.keep_down),
    )
    falls = FallLog()
    down_from: float | None = None
    lying_since: dict[int, float] = {}
    started = time.perf_counter()
    for index, image in read_frames(root, clip):
        t = index / clip.fps
        obs = pipe.process(Frame(clip.name, index, t, t, image))
        alive = {tr.track_id for tr in obs.tracks if tr.state is not TrackState.REMOVED}
        falls.add(obs.postures, t)
        for r in obs.postures:
            if r.posture is Posture.LYING and r.track_id in alive:
                lying_since[r.track_id] = r.since
                if t - r.since >= DOWN_RULE and down_from is None:
                    down_from = t
    crops.save()
    return ClipRun(
        falls=falls.fires(),
        down_from=down_from,
        relook_crops=second.crops if second is not None else 0,
        seconds=time.perf_counter() - started,
    )


def score(clip: SetClip, run: ClipRun) -> dict[str, Any]:
    row: dict[str, Any] = {
        "clip": clip.name,
        "dataset": clip.dataset,
        "is_fall": clip.is_fall,
        "start_pose": clip.start_pose,
        "view": clip.view,
        "seconds": round(clip.seconds, 2),
        "processed_fps": round(clip.fps / clip.step, 2),
        "eval_only": clip.name in EVAL_ONLY,
        "falls": [f.as_dict() for f in run.falls],
        "relook_crops": run.relook_crops,
        "person_down_at": None if run.down_from is None else round(run.down_from, 2),
    }
    ground = None if clip.on_ground is None else clip.on_ground / clip.fps
    score = score_fall(
        run.falls,
        is_fall=clip.is_fall,
        onset_s=None if clip.onset is None else clip.onset / clip.fps,
        on_ground_s=ground,
    )
    detected = score.detected
    if clip.is_fall and clip.onset is not None and ground is not None:
        row["delay_s"] = score.delay_s
        up = GETS_UP.get(clip.name, clip.frames) / clip.fps
        row["stays_down"] = up - ground >= DOWN_FOR
        row["person_down"] = run.down_from is not None
    row["detected"] = detected is not None
    row["false_falls"] = len(score.false)
    row["repeats"] = len(score.repeats)
    if not clip.is_fall:
        row["person_down"] = run.down_from is not None
    return row


def table(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    falls = [r for r in rows if r["is_fall"]]
    adl = [r for r in rows if not r["is_fall"]]
    down = [r for r in falls if r.get("stays_down")]
    delays = [r["delay_s"] for r in falls if r["delay_s"] is not None]
    return {
        "falls": len(falls),
        "detected": sum(r["detected"] for r in falls),
        "missed": [r["clip"] for r in falls if not r["detected"]],
        "median_delay_s": round(statistics.median(delays), 2) if delays else None,
        "max_delay_s": max(delays) if delays else None,
        "stay_down": len(down),
        "person_down": sum(r["person_down"] for r in down),
        "no_person_down": [r["clip"] for r in down if not r["person_down"]],
        "adl": len(adl),
        "adl_seconds": round(sum(r["seconds"] for r in adl), 1),
        "false_falls_adl": sum(r["false_falls"] for r in adl),
        "false_falls_on_fall_clips": sum(r["false_falls"] for r in falls),
        "false_person_down_adl": [r["clip"] for r in adl if r["person_down"]],
    }


def evaluate(
    root: Path,
    clips: Sequence[SetClip],
    detector: Detector,
    configs: dict[str, tuple[PoseConfig, bool, bool]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every clip under every named configuration; per dataset, start pose and view."""
    out: dict[str, Any] = {}
    for name, (config, relook, low) in configs.items():
        rows = []
        for clip in clips:
            run = run_clip(root, clip, detector, config, relook=relook, low=low)
            row = score(clip, run)
            rows.append(row)
            log(
                f"{name:<10} {clip.dataset:<16} {clip.name:<48} "
                f"{'fall' if clip.is_fall else 'adl ':<5} det={row['detected']!s:<5} "
                f"delay={row.get('delay_s')} false={row['false_falls']} "
                f"down={row['person_down']} crops={run.relook_crops} ({run.seconds:.1f} s)"
            )
        groups: dict[str, Any] = {"all": table(rows)}
        for key in ("dataset", "start_pose", "view"):
            for value in sorted({r[key] for r in rows}):
                groups[f"{key}={value}"] = table([r for r in rows if r[key] == value])
        out[name] = {"clips": rows, "tables": groups}
    return out


def print_tables(result: dict[str, Any]) -> None:
    for name, body in result["configs"].items():
        print(f"\n=== {name}: {result['described'][name]} ===")
        head = (
            f"{'group':<28}{'falls':>8}{'delay med/max':>15}{'down≥5s':>9}"
            f"{'ADL':>5}{'ADL s':>7}{'false fall':>11}{'false down':>11}"
        )
        print(head)
        print("-" * len(head))
        for group, t in body["tables"].items():
            delay = (
                f"{t['median_delay_s']:+.1f}/{t['max_delay_s']:+.1f}"
                if t["median_delay_s"] is not None
                else "-"
            )
            falls = f"{t['detected']}/{t['falls']}" if t["falls"] else "-"
            down = f"{t['person_down']}/{t['stay_down']}" if t["stay_down"] else "-"
            fd = len(t["false_person_down_adl"])
            print(
                f"{group:<28}{falls:>8}{delay:>15}{down:>9}{t['adl']:>5}{t['adl_seconds']:>7.0f}"
                f"{t['false_falls_adl']:>11}{fd:>11}"
            )
        a = body["tables"]["all"]
        print(f"missed: {', '.join(a['missed']) or 'none'}")
        print(f"no person-down: {', '.join(a['no_person_down']) or 'none'}")
        print(f"false person-down on ADL: {', '.join(a['false_person_down_adl']) or 'none'}")
        print(f"false falls on fall clips (other tracks / second falls): "
              f"{a['false_falls_on_fall_clips']}")  # fmt: skip
