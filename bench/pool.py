"""People in water: the swimmer detector on the pool datasets and pool videos.

Two parts, both on the real models (ONNX on the CPU):

1. **Detection** on each labelled swimmer dataset's *val* split
   (``pool/datasets/<name>/``): recall and precision at IoU 0.5 of the pose model alone
   (what Guardian ran before), the swimmer detector alone, and the two merged as the
   pipeline merges them (:class:`guardian.swim.detector.WaterDetector`). The shipped
   swimmer weights were trained on the *train* splits of the same four datasets, so
   these figures are in-distribution (the overhead set even has near-duplicate frames
   across its splits).
2. **Pipeline** on the six pool videos (``pool/videos/``, never used for training): the
   real ``guardian run`` with a water zone drawn by us per video (``POOL_ZONES`` below,
   pixel polygons read off the frames) and three rules: entry into the water, and the
   submersion timer at 15 s and at 5 s. Measured against ``ground_truth/pool_videos.csv``:
   the share of frames with a visible swimmer (in the water and not under, per the
   ground truth) in which at least one *visible* track is in the water zone; entry
   alerts within 2 s of a ground-truth entry; entry alerts with no entry (a swimmer
   already in the water found again as a new track); submersion alarms (no clip has a
   person under for 5 s or more seen from above, so every one is false).

Run:  .venv/bin/python bench/pool.py [--imgsz 640] [--no-swimmers] [--show]
Writes bench/results/pool.json (or pool-<tag>.json) and prints the tables; the frames of
the misses (a swimmer in view, no visible track in the water) are drawn into
~/.cache/guardian/pool-misses/<video>/ (corpus images stay out of the project).
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import cv2
from benchkit import corpus, write_report

from guardian.config.site import DetectionConfig
from guardian.detection import PoseDetector
from guardian.observations import read_observations
from guardian.records import Box, Detection, Observation, TrackState
from guardian.swim.data import DATASETS, class_names, read_labels
from guardian.swim.detector import SWIMMER_LABEL, merge_detections, shipped_swimmer_path

RESULTS = REPO / "bench" / "results"
MODELS = REPO / "models"

#: water zones of the pool videos (pixels), drawn by us on frames of each clip
POOL_ZONES: dict[str, list[tuple[int, int]]] = {
    # competition pool from the stands: the water left of the blocks' diagonal; the
    # officials standing at the bottom edge are cut by the frame (feet out of view)
    "race_start_dive_entry": [
        (0, 92),
        (395, 92),
        (455, 150),
        (520, 215),
        (600, 300),
        (610, 330),
        (0, 330),
    ],
    # a wave pool filmed from above the water: everything is water
    "wavepool_rescue_elevated": [(0, 0), (640, 0), (640, 360), (0, 360)],
    "overhead_lane_backstroke": [(0, 0), (360, 0), (360, 640), (0, 640)],
    "underwater_down_person_on_bottom": [(0, 0), (360, 0), (360, 640), (0, 640)],
    # backyard pool: the coping runs from (0, 95) to (300, 55) to (640, 80)
    "backyard_child_goes_under": [(0, 95), (300, 55), (640, 80), (640, 360), (0, 360)],
    # camera at water level: the water below the far wall's coping (y ≈ 100)
    "waterlevel_staged_submersion": [(0, 100), (596, 100), (596, 336), (0, 336)],
}

#: when a swimmer is in view, from the ground truth's notes column where its timed
#: columns say nothing of it: (video, person prefix) → windows in seconds
IN_VIEW: dict[tuple[str, str], list[tuple[float, float]]] = {
    # enters the frame at the bottom edge at ~2.2 s, leaves it at the top at ~12.4 s
    ("overhead_lane_backstroke", "P1"): [(2.2, 12.4)],
    # the lifeguard swims into view from the left at ~7.3 s
    ("wavepool_rescue_elevated", "P2"): [(7.3, 1e9)],
}


@dataclass(frozen=True)
class Truth:
    """One row of pool_videos.csv."""

    file: str
    fps: float
    frames: int
    person: str
    enter: list[float]
    under: list[float]
    resurface: list[float]
    leave: list[float]


def _times(value: str) -> list[float]:
    return [float(v) for v in value.split(";") if v.strip()]


def read_truth(root: Path) -> list[Truth]:
    path = root / "ground_truth" / "pool_videos.csv"
    with path.open() as handle:
        return [
            Truth(
                r["file"],
                float(r["fps"]),
                int(r["frames"]),
                r["person"],
                _times(r["enter_water_s"]),
                _times(r["under_s"]),
                _times(r["resurface_s"]),
                _times(r["leave_s"]),
            )
            for r in csv.DictReader(handle)
        ]


#: clips filmed by a camera under water: a person under the surface is still in view
UNDERWATER_CAMERAS = frozenset({"underwater_down_person_on_bottom"})


def visible_in_water(rows: list[Truth], name: str, t: float) -> bool:
    """Ground truth: some swimmer of this clip is in the water and in view at ``t`` (not
    under the surface, unless the camera itself is under water)."""
    for row in rows:
        windows = IN_VIEW.get((name, row.person.split()[0]))
        if windows is not None and not any(a <= t <= b for a, b in windows):
            continue  # out of view
        if row.enter and t < row.enter[0]:
            continue  # not in the water yet
        if row.leave and t >= row.leave[0]:
            continue
        under = any(
            start <= t < (row.resurface[i] if i < len(row.resurface) else float("inf"))
            for i, start in enumerate(row.under)
        )
        if not under or name in UNDERWATER_CAMERAS:
            return True
    return False


# -- part 1: detection on the val splits -------------------------------------------------------
def _match(dets: list[Box], truth: list[Box]) -> tuple[int, int, int]:
    """Greedy one-to-one matching at IoU >= 0.5: (true positives, false pos., missed)."""
    used: set[int] = set()
    tp = 0
    for d in dets:
        best, best_iou = -1, 0.5
        for j, g in enumerate(truth):
            if j in used:
                continue
            iou = d.iou(g)
            if iou >= best_iou:
                best, best_iou = j, iou
        if best >= 0:
            used.add(best)
            tp += 1
    return tp, len(dets) - tp, len(truth) - tp


def detection_part(
    root: Path, pose: PoseDetector, swim: PoseDetector | None, overlap: float
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for name in DATASETS:
        folder = root / "pool" / "datasets" / name
        names = class_names(folder)
        counts: dict[str, list[int]] = {
            "pose": [0, 0, 0],
            "swimmer": [0, 0, 0],
            "merged": [0, 0, 0],
        }
        images = sorted((folder / "images" / "val").iterdir())
        seconds = {"pose": 0.0, "swimmer": 0.0}
        for image_path in images:
            image = cv2.imread(str(image_path))
            h, w = image.shape[:2]
            truth = [
                Box((x - bw / 2) * w, (y - bh / 2) * h, (x + bw / 2) * w, (y + bh / 2) * h)
                for x, y, bw, bh in read_labels(
                    folder / "labels" / "val" / f"{image_path.stem}.txt", names
                )
            ]
            t0 = time.perf_counter()
            people = [d for d in pose.detect(image) if d.score >= CONFIDENCE]
            seconds["pose"] += time.perf_counter() - t0
            found: dict[str, list[Detection]] = {"pose": people}
            if swim is not None:
                t0 = time.perf_counter()
                swimmers = list(swim.detect(image))
                seconds["swimmer"] += time.perf_counter() - t0
                found["swimmer"] = swimmers
                found["merged"] = list(merge_detections(people, swimmers, overlap))
            for key, dets in found.items():
                tp, fp, fn = _match([d.box for d in dets], truth)
                c = counts[key]
                c[0] += tp
                c[1] += fp
                c[2] += fn
        for key, (tp, fp, fn) in counts.items():
            if key != "pose" and swim is None:
                continue
            rows.append(
                {
                    "dataset": name,
                    "detector": key,
                    "images": len(images),
                    "boxes": tp + fn,
                    "tp": tp,
                    "fp": fp,
                    "fn": fn,
                    "recall": tp / (tp + fn) if tp + fn else None,
                    "precision": tp / (tp + fp) if tp + fp else None,
                    "ms_per_image": 1000
                    * seconds.get(key, seconds["pose"] + seconds["swimmer"])
                    / max(1, len(images)),
                }
            )
    return rows


# -- part 2: the pool videos through the pipeline ----------------------------------------------
#: frames of the misses (corpus images: written outside the project)
MISSES = Path.home() / ".cache" / "guardian" / "pool-misses"


def _save_misses(
    name: str, video: Path, zone: list[tuple[int, int]], missed: list[Observation]
) -> None:
    """Each frame with a swimmer in view but no visible track in the water, drawn: the
    water zone in blue, every track's box (green seen, grey lost, orange swimmer box)."""
    import numpy as np

    folder = MISSES / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jpg"):
        old.unlink()
    cap = cv2.VideoCapture(str(video))
    for obs in missed:
        cap.set(cv2.CAP_PROP_POS_FRAMES, obs.frame_index)
        ok, image = cap.read()
        if not ok:
            continue
        cv2.polylines(image, [np.array(zone, np.int32)], True, (255, 128, 0), 2)
        for tr in obs.tracks:
            color = (0, 200, 0) if tr.state is TrackState.TRACKED else (128, 128, 128)
            if tr.label == SWIMMER_LABEL:
                color = (0, 140, 255)
            b = tr.box
            cv2.rectangle(image, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), color, 2)
        cv2.imwrite(str(folder / f"{obs.frame_index:05d}.jpg"), image)
    cap.release()


def _site(
    folder: Path,
    video: Path,
    zone: list[tuple[int, int]],
    fps: int,
    imgsz: int,
    swimmers: bool,
    weights: Path | None = None,
    *,
    motion: str | None = None,
    water_motion: str = "watch",
) -> Path:
    """The site of one video. ``motion``: "on" (the water zone marked ``motion:
    water_motion``), "off" (``motion: {enabled: false}``: the models on every frame) or
    None (neither written: the site's defaults)."""
    points = ", ".join(f"[{x}, {y}]" for x, y in zone)
    (folder / "zones.yaml").write_text(
        "zones:\n  - name: water\n    camera: pool\n    kind: water\n    units: px\n"
        f"    polygon: [{points}]\n    anchor: hips\n    inertia: 2\n"
        + (f"    motion: {water_motion}\n" if motion == "on" else "")
    )
    (folder / "rules.yaml").write_text(
        "rules:\n"
        "  - id: entry\n    severity: warning\n    modes: [unsupervised, supervised]\n"
        "    triggers: [{kind: zone_enter, zones: water}]\n"
        "    actions: [{kind: alert, channels: [log]}]\n"
        "  - id: submersion_15s\n    severity: critical\n"
        "    triggers: [{kind: absent, zones: water, timeout: 15s}]\n"
        "    actions: [{kind: alert, channels: [log]}]\n"
        "  - id: submersion_5s\n    severity: critical\n"
        "    triggers: [{kind: absent, zones: water, timeout: 5s}]\n"
        "    actions: [{kind: alert, channels: [log]}]\n"
    )
    site = folder / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n    fps: {fps}\n    imgsz: {imgsz}\n"
        + ("    motion: {enabled: false}\n" if motion == "off" else "")
        + "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: guardian.db\n  models: {MODELS}\n"
        f"detection:\n  swimmers:\n    enabled: {'true' if swimmers else 'false'}\n"
        + (f"    model: {weights}\n" if weights is not None else "")
    )
    return site


def pipeline_part(
    root: Path,
    fps: int,
    imgsz: int,
    swimmers: bool,
    weights: Path | None,
    only: list[str] | None = None,
    *,
    motion: str | None = None,
    water_motion: str = "watch",
) -> list[dict[str, object]]:
    """Each pool video through ``guardian run``; ``motion``: see :func:`_site`."""
    from guardian.app import run_site

    truth = read_truth(root)
    out: list[dict[str, object]] = []
    for name, zone in POOL_ZONES.items():
        if only and name not in only:
            continue
        rows = [r for r in truth if Path(r.file).stem == name]
        video = root / "pool" / "videos" / f"{name}.mp4"
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            site = _site(
                folder,
                video,
                zone,
                fps,
                imgsz,
                swimmers,
                weights,
                motion=motion,
                water_motion=water_motion,
            )
            record = folder / "obs.jsonl"
            t0 = time.perf_counter()
            code = run_site(site, record=record, progress=False)
            took = time.perf_counter() - t0
            if code != 0:
                raise SystemExit(f"guardian run failed on {name} (exit {code})")
            with sqlite3.connect(folder / "guardian.db") as conn:
                events = conn.execute(
                    "select rule_id, frame_index, track_id from events order by frame_index"
                ).fetchall()
            frames = visible = covered = 0
            missed: list[Observation] = []
            tracks_in_water: list[int] = []
            swimmer_boxes = 0
            for obs in read_observations(record):
                frames += 1
                t = obs.pts
                seen = {tr.track_id for tr in obs.tracks if tr.state is TrackState.TRACKED}
                swimmer_boxes += sum(
                    1
                    for tr in obs.tracks
                    if tr.state is TrackState.TRACKED and tr.label == SWIMMER_LABEL
                )
                wet = {
                    p.track_id for p in obs.presences if p.zone == "water" and p.track_id in seen
                }
                if visible_in_water(rows, name, t):
                    visible += 1
                    covered += bool(wet)
                    tracks_in_water.append(len(wet))
                    if not wet:
                        missed.append(obs)
            _save_misses(name, video, zone, missed)
        src_fps = rows[0].fps
        enters = [e for r in rows for e in r.enter]
        entry_times = [fi / src_fps for rule, fi, _ in events if rule == "entry"]
        on_time = [any(e <= t <= e + 2.0 for t in entry_times) for e in enters]
        # somebody already in the water when the camera starts is reported once, as
        # Guardian cannot know they did not just go in: counted apart, not as false
        at_start = [t for t in entry_times if t < START and not enters]
        false_entries = [
            t
            for t in entry_times
            if t not in at_start and not any(e - 0.5 <= t <= e + 2.0 for e in enters)
        ]
        out.append(
            {
                "video": name,
                "frames_processed": frames,
                "visible_frames": visible,
                "covered_frames": covered,
                "coverage": covered / visible if visible else None,
                "median_tracks_in_water": sorted(tracks_in_water)[len(tracks_in_water) // 2]
                if tracks_in_water
                else 0,
                "swimmer_box_sightings": swimmer_boxes,
                "entries_truth": len(enters),
                "entries_on_time": sum(on_time),
                "entry_alerts": len(entry_times),
                "entry_alerts_at_start": len(at_start),
                "entry_alerts_without_entry": len(false_entries),
                "entry_alert_times": [round(t, 2) for t in entry_times],
                "submersion_15s": sum(1 for r, _, _ in events if r == "submersion_15s"),
                "submersion_5s": sum(1 for r, _, _ in events if r == "submersion_5s"),
                "seconds": round(took, 1),
            }
        )
        print(f"  {name}: {out[-1]['coverage']}", flush=True)
    return out


#: the pose model's person score, as Guardian runs it (the site file's default)
CONFIDENCE = DetectionConfig().confidence
#: entry alerts this early (s) in a clip whose swimmers are in the water from its start
START = 1.0


def _pct(v: object) -> str:
    return "—" if v is None else f"{100 * float(v):5.1f} %"  # type: ignore[arg-type]


def show(result: dict[str, object]) -> None:
    print(
        f"\nDetection on the val splits (IoU 0.5; pose at {CONFIDENCE} and {result['imgsz']} px, "
        f"swimmer at {result['swimmer_confidence']} and {result.get('swimmer_imgsz')} px)"
    )
    print(
        f"{'dataset':34} {'detector':9} {'boxes':>5} {'recall':>8} {'precision':>10} {'ms/img':>7}"
    )
    for r in result["detection"]:  # type: ignore[union-attr]
        print(
            f"{r['dataset']:34} {r['detector']:9} {r['boxes']:5d} {_pct(r['recall']):>8} {_pct(r['precision']):>10} {r['ms_per_image']:7.1f}"
        )
    print(
        f"\nPool videos through guardian run ({result['fps']} fps, imgsz {result['imgsz']}, swimmers {'on' if result['swimmers'] else 'off'})"
    )
    print(
        f"{'video':34} {'coverage':>9} {'entries':>8} {'at start':>8} {'false entry':>11} {'sub 15s':>7} {'sub 5s':>6}"
    )
    for r in result["pipeline"]:  # type: ignore[union-attr]
        entries = f"{r['entries_on_time']}/{r['entries_truth']}"
        print(
            f"{r['video']:34} {_pct(r['coverage']):>9} {entries:>8} {r.get('entry_alerts_at_start', 0):8d} {r['entry_alerts_without_entry']:11d} {r['submersion_15s']:7d} {r['submersion_5s']:6d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--imgsz", type=int, default=640, help="inference size of both models")
    parser.add_argument("--fps", type=int, default=10, help="processed frames per second")
    parser.add_argument("--no-swimmers", action="store_true", help="the pose model alone (before)")
    parser.add_argument(
        "--weights", type=Path, default=None, help="swimmer weights (default: shipped)"
    )
    parser.add_argument("--tag", default="", help="result file pool-<tag>.json")
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--videos", nargs="*", help="only these pool videos (file stems)")
    parser.add_argument("--show", action="store_true", help="reprint the saved result")
    parser.add_argument(
        "--motion",
        choices=("on", "off"),
        default=None,
        help="motion gating of the pool camera: on (the water zone marked --water-motion) "
        "or off (the models on every frame); default: the site's defaults",
    )
    parser.add_argument(
        "--water-motion",
        choices=("watch", "shimmer", "ignore"),
        default="watch",
        help="with --motion on: what the water zone's movement means (default watch, as zones/pool.yaml advises)",
    )
    args = parser.parse_args()
    path = RESULTS / (f"pool-{args.tag}.json" if args.tag else "pool.json")
    if args.show:
        show(json.loads(path.read_text()))
        return
    root = corpus()
    swimmers = not args.no_swimmers
    from guardian.config.site import SwimmersConfig

    swim_cfg = SwimmersConfig()
    weights = args.weights or shipped_swimmer_path()
    detection: list[dict[str, object]] = []
    if not args.skip_detection:
        pose = PoseDetector(models_dir=MODELS, imgsz=args.imgsz, confidence=0.1)
        swim = (
            PoseDetector(
                models_dir=MODELS,
                model_path=weights,
                imgsz=swim_cfg.imgsz or args.imgsz,
                confidence=swim_cfg.confidence,
                task="detect",
                label=SWIMMER_LABEL,
            )
            if swimmers
            else None
        )
        detection = detection_part(root, pose, swim, swim_cfg.overlap)
    pipeline = pipeline_part(
        root,
        args.fps,
        args.imgsz,
        swimmers,
        args.weights,
        args.videos,
        motion=args.motion,
        water_motion=args.water_motion,
    )
    import hashlib

    result: dict[str, object] = {
        "imgsz": args.imgsz,
        "fps": args.fps,
        "swimmers": swimmers,
        "swimmer_weights": str(weights.relative_to(REPO))
        if weights.is_relative_to(REPO)
        else str(weights),
        "swimmer_sha256": hashlib.sha256(weights.read_bytes()).hexdigest() if swimmers else None,
        "swimmer_confidence": swim_cfg.confidence,
        "swimmer_imgsz": swim_cfg.imgsz or args.imgsz,
        "motion": args.motion,
        "water_motion": args.water_motion if args.motion == "on" else None,
        "detection": detection,
        "pipeline": pipeline,
    }
    write_report(path.stem, result, out=path, show=show)


if __name__ == "__main__":
    main()
