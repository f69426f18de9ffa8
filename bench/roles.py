"""What the role estimate says about every adult in the corpus, and what it costs.

For each person of the evaluation corpus with usable frames (UP-Fall subject 1 in both
cameras and the seated man of Cam2, the URFD fall-01 person before the fall and the
URFD side/ceiling stills, the five phone-room people before their fall, the people of
``person_detection/``, and whoever the pose model finds in the pool stills), a few
frames each go through the real pose model (ONNX, 640), then per sighting:

* the face path (:class:`guardian.identity.face.FaceAgeModel`): the age, P(child), and
  whether a face was readable at all;
* the body path (:func:`guardian.identity.proportions.estimate`): the three ratios,
  quality, role and confidence;
* :meth:`RoleEstimator.estimate` (face first, then body) and, per person,
  :meth:`RoleEstimator.combine` over all their sightings;
* the time of each (ms per estimate; the face model's one-off load reported apart).

**The corpus holds no footage of children.** Every real person here is an adult; the
child side is shown only on keypoint sets built from published growth figures
(:func:`guardian.identity.proportions.reference_skeleton`, ages 2–10, front and side
views, with keypoint noise), labelled "synthetic" in the output.

``--calibrate`` prints the keypoint offsets and spreads the body path is calibrated
with (:data:`~guardian.identity.proportions.KEYPOINT_OFFSETS`, ``SPREAD``), measured on
the calibration people only (the phone-room clips and ``bus.jpg``); the other adults
are not used for calibration.

Detections are cached in ``$GUARDIAN_ROLES_CACHE`` (default
``~/.cache/guardian/roles``), never inside the project.

    .venv/bin/python bench/roles.py [--out bench/results/roles.json] [--calibrate]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import corpus, write_report

from guardian.detection import PoseDetector
from guardian.identity import proportions
from guardian.identity.face import FaceAgeModel
from guardian.identity.role import RoleEstimate, RoleEstimator
from guardian.records import Box, Detection, Keypoint

IMGSZ = 640
CONFIDENCE = 0.35
#: people used to calibrate the keypoint offsets and spreads (the rest are held out)
CALIBRATION = ("phone_room", "bus")


@dataclass(frozen=True)
class Source:
    """Frames of one file and how to pick people out of them."""

    group: str
    path: str  # relative to the corpus
    frames: tuple[int, ...]  # decoder indices; () for a still image
    right_half: bool = False  # URFD: left half depth, right half RGB


def sources(root: Path) -> list[Source]:
    out = [
        Source("upfall", f"fall/upfall/UPFall_S1_{clip}_T1_{cam}.mp4", frames)
        for clip, frames in (
            ("A07", (60, 200, 340, 480, 620, 760)),
            ("A06", (100, 240, 400, 540, 700)),
        )
        for cam in ("Cam1", "Cam2")
    ]
    out.append(Source("urfd", "fall/urfd/fall-01-cam0.mp4", (5, 25, 45, 65), right_half=True))
    out += [
        Source("urfd_pairs", str(p.relative_to(root)), ())
        for p in sorted((root / "two_camera" / "urfd_cam0_cam1_frames").glob("*.png"))
    ]
    # phone-room clips: frames before the fall onset (ground_truth/fall_events_other_clips.csv)
    onsets = {1: 130, 2: 115, 3: 90, 4: 180, 5: 155}
    out += [
        Source(
            "phone_room", f"fall/phone_room_falls/Fall0{k}.mp4", tuple(range(10, onset - 15, 20))
        )
        for k, onset in onsets.items()
    ]
    out += [
        Source("person_detection", f"person_detection/{name}", ())
        for name in ("bus.jpg", "zidane.jpg", "gait_recognition_dummy.jpg")
    ]
    out += [
        Source("pool", str(p.relative_to(root)), ())
        for p in sorted((root / "pool" / "pool_cctv_stills").glob("*.png"))
    ]
    return out


def images(root: Path, source: Source) -> list[tuple[int, np.ndarray]]:
    path = root / source.path
    if not source.frames:
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"cannot read {path}")
        return [(0, image)]
    cap = cv2.VideoCapture(str(path))
    out = []
    wanted = set(source.frames)
    index = 0
    while wanted:
        ok, frame = cap.read()
        if not ok:
            break
        if index in wanted:
            wanted.discard(index)
            out.append(
                (index, frame[:, frame.shape[1] // 2 :].copy() if source.right_half else frame)
            )
        index += 1
    cap.release()
    return out


def person_of(source: Source, det: Detection, image: np.ndarray, rank: int) -> str | None:
    """Which corpus person a detection is (None: not a person we report)."""
    name = Path(source.path).stem
    if source.group == "upfall":
        if "Cam2" in name and det.box.center[0] > 480:
            return "UP-Fall seated man (Cam2)"
        if rank > 0 and "Cam1" in name:
            return None  # Cam1 shows only the subject; a second box is a false or partial one
        return f"UP-Fall subject 1 ({name.split('_')[-1]})"
    if source.group == "urfd":
        return "URFD fall-01 person (cam0, before the fall)"
    if source.group == "urfd_pairs":
        return f"URFD {name[:7]} person ({name.split('-')[2]}, stills around the fall)"
    if source.group == "phone_room":
        return f"phone-room person {name}"
    if source.group == "pool":
        return f"pool still {name} person {rank + 1}"
    if det.score < 0.5:
        return None
    return f"{name} person {rank + 1}"


class Cache:
    def __init__(self) -> None:
        folder = os.environ.get("GUARDIAN_ROLES_CACHE")
        self.folder = Path(folder) if folder else Path.home() / ".cache" / "guardian" / "roles"
        self._detector: PoseDetector | None = None

    def detections(self, source: Source, index: int, image: np.ndarray) -> tuple[Detection, ...]:
        key = hashlib.sha1(
            f"{source.path}|{index}|{source.right_half}|{IMGSZ}|{CONFIDENCE}".encode()
        ).hexdigest()
        target = self.folder / f"{key}.pkl"
        if target.is_file():
            try:
                loaded: tuple[Detection, ...] = pickle.loads(target.read_bytes())
                return loaded
            except Exception:
                pass
        if self._detector is None:
            self._detector = PoseDetector(
                models_dir=REPO / "models", backend="onnx", imgsz=IMGSZ, confidence=CONFIDENCE
            )
        dets = self._detector.detect(image)
        self.folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pickle.dumps(dets))
        return dets


@dataclass(frozen=True)
class Sighting:
    person: str
    group: str
    file: str
    frame: int
    box_height: float
    face_readable: bool
    face_age: float | None
    face_p_child: float | None
    face_ms: float | None
    body_role: str
    body_confidence: float
    body_p_child: float
    body_quality: float
    body_reason: str
    head_share: float | None
    head_width: float | None
    leg_share: float | None
    thigh_shin: float | None
    body_ms: float
    role: str
    confidence: float
    source: str
    detail: str


def run_corpus(root: Path) -> tuple[list[Sighting], list[tuple[str, RoleEstimate]], float]:
    cache = Cache()
    face_model = FaceAgeModel()
    estimator = RoleEstimator(faces=True)
    # load both face models once, timed apart from the per-estimate cost
    start = time.perf_counter()
    face_model._load()
    load_ms = (time.perf_counter() - start) * 1000.0
    sightings: list[Sighting] = []
    by_person: dict[str, list[RoleEstimate]] = defaultdict(list)
    for source in sources(root):
        for index, image in images(root, source):
            dets = cache.detections(source, index, image)
            for rank, det in enumerate(dets):
                person = person_of(source, det, image, rank)
                if person is None:
                    continue
                t0 = time.perf_counter()
                face = face_model.estimate(image, det.keypoints)
                t1 = time.perf_counter()
                h, w = image.shape[:2]
                body = proportions.estimate(det.box, det.keypoints, (w, h))
                t2 = time.perf_counter()
                est = estimator.estimate(image, det.box, det.keypoints)
                thigh_shin = _thigh_shin(det.keypoints)
                by_person[person].append(est)
                sightings.append(
                    Sighting(
                        person=person,
                        group=source.group,
                        file=source.path,
                        frame=index,
                        box_height=round(det.box.height, 1),
                        face_readable=face is not None,
                        face_age=None if face is None else round(face.age, 1),
                        face_p_child=None if face is None else round(face.p_child, 4),
                        face_ms=None if face is None else round((t1 - t0) * 1000.0, 2),
                        body_role=body.role,
                        body_confidence=round(body.confidence, 3),
                        body_p_child=round(body.p_child, 3),
                        body_quality=round(body.quality, 3),
                        body_reason=body.reason,
                        head_share=_r(body.ratios.head_share),
                        head_width=_r(body.ratios.head_width),
                        leg_share=_r(body.ratios.leg_share),
                        thigh_shin=_r(thigh_shin),
                        body_ms=round((t2 - t1) * 1000.0, 3),
                        role=est.role,
                        confidence=est.confidence,
                        source=est.source,
                        detail=est.detail,
                    )
                )
    combined = [(p, RoleEstimator.combine(ests)) for p, ests in by_person.items()]
    return sightings, combined, load_ms


def _thigh_shin(kps: tuple[Keypoint, ...]) -> float | None:
    """Mean (knee − hip) / (ankle − knee), vertical, over the legs whose three points are seen."""
    values = []
    for hip, knee, ankle in ((11, 13, 15), (12, 14, 16)):
        if min(kps[hip].conf, kps[knee].conf, kps[ankle].conf) >= proportions.MIN_CONF:
            shin = kps[ankle].y - kps[knee].y
            if shin > 0:
                values.append((kps[knee].y - kps[hip].y) / shin)
    return float(np.mean(values)) if values else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def synthetic(seed: int = 6) -> list[dict[str, Any]]:
    """Keypoint sets built from published growth figures (NOT footage), with noise."""
    rng = np.random.default_rng(seed)
    out = []
    for age in (*proportions.CHILD_AGES, proportions.ADULT_AGE):
        for view in ("front", "side"):
            for height in (160.0, 320.0):
                results = []
                for _ in range(20):
                    base = proportions.reference_skeleton(age, height_px=height, view=view)
                    noise = height * 0.008  # ~1.4 cm at adult size: pose-model jitter
                    kps = tuple(
                        Keypoint(
                            k.x + rng.normal(0, noise), k.y + rng.normal(0, noise), k.conf * 0.9
                        )
                        for k in base
                    )
                    ys = [k.y for k in kps]
                    xs = [k.x for k in kps]
                    box = Box(min(xs) - 10, min(ys) - 0.1 * height, max(xs) + 10, max(ys) + 5)
                    results.append(proportions.estimate(box, kps, (640, 640)))
                roles = [r.role for r in results]
                out.append(
                    {
                        "synthetic": True,
                        "age": age,
                        "view": view,
                        "height_px": height,
                        "samples": len(results),
                        "child": roles.count("child"),
                        "adult": roles.count("adult"),
                        "unknown": roles.count("unknown"),
                        "mean_confidence": round(
                            statistics.fmean(r.confidence for r in results), 3
                        ),
                        "mean_p_child": round(statistics.fmean(r.p_child for r in results), 3),
                    }
                )
    return out


def calibrate(sightings: list[Sighting]) -> dict[str, Any]:
    """Keypoint offsets and log spreads from the calibration people's clean sightings."""
    rows = [
        s
        for s in sightings
        if (s.group in CALIBRATION or "bus" in s.file)
        and s.body_quality >= 0.4
        and s.head_share is not None
    ]
    heads = [s.head_share for s in rows if s.head_share is not None]
    legs = [s.leg_share for s in rows if s.leg_share is not None]
    widths = [s.head_width for s in rows if s.head_width is not None]
    thighs = [s.thigh_shin for s in rows if s.thigh_shin is not None]
    h = 1.0 / 8.0
    eye = 1.0 - 0.5 * h
    height = eye - 0.039

    def spread(values: list[float]) -> float:
        logs = np.log(values)
        return float(1.4826 * np.median(np.abs(logs - np.median(logs))))

    head_med = float(np.median(heads))
    leg_med = float(np.median(legs))
    thigh_med = float(np.median(thighs))
    hip_kp = 0.039 + leg_med * height
    knee_kp = (hip_kp + thigh_med * 0.039) / (1.0 + thigh_med)
    width_med = float(np.median(widths)) if widths else float("nan")
    breadth = 0.27 * 56.0 / 170.0
    return {
        "frames": len(rows),
        "head_share_median": round(head_med, 4),
        "leg_share_median": round(leg_med, 4),
        "head_width_median": round(width_med, 4),
        "head_width_frames": len(widths),
        "thigh_shin_median": round(thigh_med, 3),
        "offset_shoulder": round((eye - head_med * height) - 0.818, 4),
        "offset_hip": round(hip_kp - 0.530, 4),
        "offset_knee": round(knee_kp - 0.285, 4),
        "ear_width": round(width_med * height / breadth, 3) if widths else None,
        "spread_head_share": round(spread(heads), 4),
        "spread_leg_share": round(spread(legs), 4),
        "spread_head_width": round(spread(widths), 4) if len(widths) > 2 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "roles.json")
    parser.add_argument("--calibrate", action="store_true", help="print calibration figures")
    args = parser.parse_args()
    root = corpus()
    sightings, combined, load_ms = run_corpus(root)
    calibration = calibrate(sightings)
    if args.calibrate:
        print(json.dumps(calibration, indent=2))
    synth = synthetic()
    face_ms = [s.face_ms for s in sightings if s.face_ms is not None]
    body_ms = [s.body_ms for s in sightings]
    people = []
    for person, est in sorted(combined):
        rows = [s for s in sightings if s.person == person]
        people.append(
            {
                "person": person,
                "truth": "adult",
                "sightings": len(rows),
                "faces_read": sum(s.face_readable for s in rows),
                "face_ages": [s.face_age for s in rows if s.face_age is not None],
                "body_roles": {
                    r: sum(s.body_role == r for s in rows) for r in ("adult", "child", "unknown")
                },
                "held_out": not any(s.group in CALIBRATION or "bus" in s.file for s in rows),
                "combined": asdict(est),
            }
        )
    result = {
        "note": (
            "The corpus holds no footage of children: every real person below is an adult. "
            "Child results exist only for synthetic keypoint sets built from published growth "
            "figures (rows marked synthetic)."
        ),
        "cost_ms": {
            "face_model_load_once": round(load_ms, 1),
            "face_per_estimate_median": round(statistics.median(face_ms), 2) if face_ms else None,
            "face_per_estimate_max": round(max(face_ms), 2) if face_ms else None,
            "face_estimates": len(face_ms),
            "body_per_estimate_median": round(statistics.median(body_ms), 3),
            "body_per_estimate_max": round(max(body_ms), 3),
            "body_estimates": len(body_ms),
        },
        "calibration": calibration,
        "people": people,
        "sightings": [asdict(s) for s in sightings],
        "synthetic_children": synth,
    }
    write_report("roles", result, out=args.out, show=print_table)


def print_table(result: dict[str, Any]) -> None:
    print(result["note"])
    print("\nReal adults (corpus), per person over all sampled frames:")
    print(
        f"{'person':58s} {'n':>3s} {'faces':>5s} {'face ages':>14s} {'body a/c/u':>10s} {'combined':>9s} {'conf':>5s} {'src':>4s}"
    )
    for p in result["people"]:
        ages = p["face_ages"]
        age_text = f"{min(ages):.0f}–{max(ages):.0f}" if ages else "—"
        b = p["body_roles"]
        c = p["combined"]
        mark = "" if p["held_out"] else " (cal)"
        print(
            f"{p['person'] + mark:58s} {p['sightings']:3d} {p['faces_read']:5d} {age_text:>14s} "
            f"{b['adult']:>3d}/{b['child']}/{b['unknown']:<3d} {c['role']:>9s} {c['confidence']:5.2f} {c['source']:>4s}"
        )
    s = result["sightings"]
    usable = [x for x in s if x["body_role"] != "unknown"]
    print(
        f"\nbody path, single sightings: {len(s)} total, {len(usable)} decided: "
        f"{sum(x['body_role'] == 'adult' for x in usable)} adult, "
        f"{sum(x['body_role'] == 'child' for x in usable)} child (wrong: all are adults)"
    )
    faces = [x for x in s if x["face_readable"]]
    print(
        f"face path, single sightings: {len(faces)} readable faces, "
        f"{sum((x['face_p_child'] or 0) >= 0.5 for x in faces)} with P(child) ≥ 0.5"
    )
    c = result["cost_ms"]
    print(
        f"\ncost: face {c['face_per_estimate_median']} ms median ({c['face_estimates']} faces, "
        f"max {c['face_per_estimate_max']}), model load once {c['face_model_load_once']} ms; "
        f"body {c['body_per_estimate_median']} ms median (max {c['body_per_estimate_max']})"
    )
    print(
        "\nSYNTHETIC keypoint sets from published growth figures (not footage), 20 noisy samples each:"
    )
    print(
        f"{'age':>5s} {'view':>6s} {'px':>5s} {'child':>6s} {'adult':>6s} {'unknown':>8s} {'P(child)':>9s} {'conf':>5s}"
    )
    for r in result["synthetic_children"]:
        age = "adult" if r["age"] == proportions.ADULT_AGE else f"{r['age']:.0f} y"
        print(
            f"{age:>5s} {r['view']:>6s} {r['height_px']:5.0f} {r['child']:6d} {r['adult']:6d} "
            f"{r['unknown']:8d} {r['mean_p_child']:9.2f} {r['mean_confidence']:5.2f}"
        )
    cal = result["calibration"]
    print(f"\ncalibration (phone-room + bus.jpg, {cal['frames']} frames): {json.dumps(cal)}")


if __name__ == "__main__":
    main()
