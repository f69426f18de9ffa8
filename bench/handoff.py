"""Hand-off between cameras on real two-camera footage: who keeps their identity.

UP-Fall subject 1 (``fall/upfall/``): every activity was filmed by two synchronised
cameras (Cam1 lateral, Cam2 frontal-oblique); Cam2 also sees a second, seated person.
Each pair runs through the real stages — pose model, tracker, and the identity stage
(:class:`guardian.pipeline.CameraPipeline` with its :class:`CameraIdentity`, then
:class:`SiteIdentity` as the runner calls it) — with both cameras fed frame by frame
at the same timestamps, ``same_area: true`` between them, at 9 fps (every 2nd frame).

For each Cam1 track of the subject (for the walking pair A06: each time the walker
re-enters Cam1), the answer is compared with the identity Cam2's track of the subject
holds: **correct** (the same person), **wrong merge** (another person's identity —
e.g. the seated person's), **new id** (a fresh identity: a split, not a merge) or
**unknown** (no identity: unsure). The seated person's tracks are checked too: they
must never carry the subject's identity. Tracks are labelled by position (the seated
person is the one at the right of Cam2, never standing; small Cam1 tracks high in the image
(under 120 px, bottom above y 280) are people behind the glass wall, left out).

The tracker keeps a person who is out of view for up to ``tracking.max_lost`` (2 s);
the walker's exits from Cam1 last 1–1.6 s, so with that setting every re-entry is the
same track. The main run uses ``max_lost: 0.5 s`` so that every re-entry is a new track
and a real hand-off; the default is reported as well.

Also: the URFD side / ceiling stills (``two_camera/urfd_cam0_cam1_frames``), as a
hand-off from the side camera's person to the ceiling camera's; enrolment (the walker
enrolled from 3 Cam1 frames, then Cam2 alone: how often is the walker named); the cost
per new track and per frame for identified tracks; the same runs again without the
embedder (colours and proportions only), for the cost / accuracy trade; and, when
present, the roles helper's ``bench/results/roles.json``.

Detector output (boxes, scores, keypoints) is cached in ``$GUARDIAN_HANDOFF_CACHE``
(default ``~/.cache/guardian/handoff``, never inside the project); images are decoded
again for the appearance samples.

    .venv/bin/python bench/handoff.py [--out bench/results/handoff.json]
    .venv/bin/python bench/handoff.py --show bench/results/handoff.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import corpus, write_report

from guardian.config.identity import CameraLink, IdentityCamera, IdentityConfig, MatchConfig
from guardian.detection import PoseDetector
from guardian.identity.appearance import describe
from guardian.identity.embedder import AppearanceEmbedder
from guardian.identity.enrol import photo_sample
from guardian.identity.gallery import EnrolledPerson, Gallery
from guardian.identity.handoff import Candidate, decide
from guardian.identity.manager import SiteIdentity
from guardian.identity.role import RoleEstimator
from guardian.pipeline import CameraPipeline
from guardian.records import Box, Detection, Frame, Keypoint, Observation, Track, TrackState
from guardian.sources import open_source
from guardian.store import Store
from guardian.tracking import Tracker

IMGSZ = 640
CONFIDENCE = 0.35
STEP = 2
CACHE = Path(os.environ.get("GUARDIAN_HANDOFF_CACHE", Path.home() / ".cache/guardian/handoff"))
FrameDets = tuple[int, float, tuple[Detection, ...]]


class Detections:
    def __init__(self, cache: Path | None, step: int = STEP) -> None:
        self.cache = cache
        self.step = step
        self._detector: PoseDetector | None = None

    def detector(self) -> PoseDetector:
        if self._detector is None:
            self._detector = PoseDetector(
                models_dir=REPO / "models",
                backend="onnx",
                imgsz=IMGSZ,
                confidence=CONFIDENCE,
                threads=1,
            )
        return self._detector

    def clip(self, path: Path) -> list[FrameDets]:
        target = self.cache / f"{path.stem}-step{self.step}.npz" if self.cache else None
        if target is not None and target.is_file():
            return load_dets(target)
        frames: list[FrameDets] = []
        source = open_source(path.stem, path, fps=1000.0)
        try:
            for frame in source.frames():
                if frame.index % self.step:
                    continue
                frames.append((frame.index, frame.pts, self.detector().detect(frame.image)))
        finally:
            source.close()
        if target is not None:
            save_dets(target, frames)
        return frames


def save_dets(target: Path, frames: list[FrameDets]) -> None:
    dets = [d for _, _, ds in frames for d in ds]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        index=np.array([i for i, _, _ in frames]),
        pts=np.array([p for _, p, _ in frames]),
        count=np.array([len(ds) for _, _, ds in frames]),
        boxes=np.array([(d.box.x1, d.box.y1, d.box.x2, d.box.y2) for d in dets]).reshape(-1, 4),
        scores=np.array([d.score for d in dets], dtype=float),
        kps=np.array([[(k.x, k.y, k.conf) for k in d.keypoints] for d in dets]).reshape(-1, 17, 3),
    )
    os.replace(tmp, target)


def load_dets(target: Path) -> list[FrameDets]:
    z = np.load(target)
    offsets = np.concatenate([[0], np.cumsum(z["count"])]).astype(int).tolist()
    boxes, scores, kps = z["boxes"].tolist(), z["scores"].tolist(), z["kps"].tolist()
    frames: list[FrameDets] = []
    for i, (index, pts) in enumerate(zip(z["index"].tolist(), z["pts"].tolist(), strict=True)):
        dets = tuple(
            Detection(Box(*boxes[j]), scores[j], tuple(Keypoint(x, y, c) for x, y, c in kps[j]))
            for j in range(offsets[i], offsets[i + 1])
        )
        frames.append((int(index), float(pts), dets))
    return frames


EPOCH = 1_700_000_000.0
ACTIVITIES = {
    1: "fall forward (hands)",
    2: "fall forward (knees)",
    3: "fall backwards",
    4: "fall sideways",
    5: "fall sitting (empty chair)",
    6: "walking",
    7: "standing",
    8: "sitting",
    9: "picking up an object",
    10: "jumping",
    11: "lying down (mattress)",
}
ENROL_FRAMES = (100, 260, 520)


def clip_path(root: Path, activity: int, cam: int) -> Path:
    return root / f"fall/upfall/UPFall_S1_A{activity:02d}_T1_Cam{cam}.mp4"


def pair_config(*, embedder: bool, cameras: tuple[str, ...] = ("cam1", "cam2")) -> IdentityConfig:
    links = (
        (CameraLink.model_validate({"from": cameras[0], "to": cameras[1], "same_area": True}),)
        if len(cameras) == 2
        else ()
    )
    return IdentityConfig(
        enabled=True,
        cameras=tuple(IdentityCamera(camera=c, role="area") for c in cameras),
        links=links,
        embedder=embedder,
        faces=False,
        match=MatchConfig(),
    )


def decoded(path: Path, step: int) -> Iterator[tuple[int, float, np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 18.0
    index = -1
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                return
            index += 1
            if index % step == 0:
                yield index, index / fps, image
    finally:
        cap.release()


def label(camera: str, track: Track) -> str:
    """subject / seated / other (a person behind Cam1's glass wall), from position."""
    box = track.box
    if camera == "cam2" and box.center[0] > 470 and box.y2 < 345 and box.height < 230:
        return "seated"
    if camera == "cam1" and box.height < 120 and box.y2 < 280:
        return "other"
    return "subject"


@dataclass
class TrackLife:
    camera: str
    track_id: int
    first_seen: float
    labels: list[str] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    identified_at: float | None = None
    names: set[str] = field(default_factory=set)
    frames: int = 0
    named_frames: int = 0

    @property
    def label(self) -> str:
        return statistics.mode(self.labels) if self.labels else "?"

    @property
    def final(self) -> str | None:
        return self.ids[-1] if self.ids else None


@dataclass
class Costs:
    sample_ms: list[float] = field(default_factory=list)
    sampled_tracks: dict[tuple[str, int], float] = field(default_factory=dict)
    idle_us: list[float] = field(default_factory=list)
    role_only_ms: list[float] = field(default_factory=list)
    update_us: list[float] = field(default_factory=list)


class TimedIdentity:
    """Wraps a CameraIdentity to time its calls (samples taken vs. nothing to do)."""

    def __init__(self, inner: Any, costs: Costs) -> None:
        self.inner = inner
        self.costs = costs

    def sample(self, frame: Frame, tracks: Any) -> Any:
        t0 = time.perf_counter()
        out = self.inner.sample(frame, tracks)
        dt = time.perf_counter() - t0
        looks = [x for x in out if x.appearance is not None]
        if looks:  # a frame with a role-only look as well counts fully here (upper bound)
            share = 1000 * dt / len(looks)
            self.costs.sample_ms.append(share)
            for x in looks:
                key = (x.camera, x.track_id)
                self.costs.sampled_tracks[key] = self.costs.sampled_tracks.get(key, 0.0) + share
        elif out:
            self.costs.role_only_ms.append(1000 * dt / len(out))
        else:
            self.costs.idle_us.append(1e6 * dt)
        return out


def run_cameras(
    root: Path,
    activity: int,
    cams: tuple[int, ...],
    dets: Detections,
    *,
    max_lost: float,
    embedder: AppearanceEmbedder | None,
    roles: RoleEstimator | None,
    enrolled: tuple[EnrolledPerson, ...] = (),
) -> tuple[dict[tuple[str, int], TrackLife], SiteIdentity, Costs]:
    names = tuple(f"cam{c}" for c in cams)
    site = SiteIdentity(
        pair_config(embedder=embedder is not None, cameras=names),
        names,
        enrolled=enrolled,
        embedder=embedder,
        roles=roles,
    )
    costs = Costs()
    cached = {
        name: {i: d for i, _, d in dets.clip(clip_path(root, activity, c))}
        for name, c in zip(names, cams, strict=True)
    }
    pipes = {
        name: CameraPipeline(
            name,
            (lambda frame, table=cached[name]: table.get(frame.index, ())),
            [],
            Tracker(name, max_lost=max_lost),
            identity=TimedIdentity(site.camera(name), costs),  # type: ignore[arg-type]
        )
        for name in names
    }
    lives: dict[tuple[str, int], TrackLife] = {}
    streams = [decoded(clip_path(root, activity, c), dets.step) for c in cams]
    for frames in zip(*streams, strict=False):
        for name, (index, pts, image) in zip(names, frames, strict=True):
            frame = Frame(name, index, EPOCH + pts, pts, image)
            obs: Observation = pipes[name].process(frame)
            t0 = time.perf_counter()
            obs = site.update(obs)
            costs.update_us.append(1e6 * (time.perf_counter() - t0))
            for t in obs.tracks:
                if t.state is TrackState.REMOVED:
                    continue
                life = lives.setdefault(
                    (name, t.track_id), TrackLife(name, t.track_id, t.first_seen)
                )
                if t.state is TrackState.TRACKED:
                    life.labels.append(label(name, t))
                    life.frames += 1
                    life.named_frames += t.name is not None
                if t.person_id is not None:
                    if not life.ids or life.ids[-1] != t.person_id:
                        life.ids.append(t.person_id)
                    if life.identified_at is None:
                        life.identified_at = obs.timestamp
                if t.name is not None:
                    life.names.add(t.name)
    return lives, site, costs


def score_pair(lives: dict[tuple[str, int], TrackLife]) -> dict[str, Any]:
    """Cam1's subject tracks against the identities Cam2's subject and seated person hold."""
    subject2 = {
        i
        for life in lives.values()
        if life.camera == "cam2" and life.label == "subject"
        for i in life.ids
    }
    seated = {i for life in lives.values() if life.label == "seated" for i in life.ids}
    subject_all = {i for life in lives.values() if life.label == "subject" for i in life.ids}
    rows = []
    counts = {"correct": 0, "wrong_merge": 0, "new_id": 0, "unknown": 0}
    for life in sorted(lives.values(), key=lambda x: x.first_seen):
        if life.camera != "cam1" or life.label != "subject":
            continue
        final = life.final
        if final is None:
            verdict = "unknown"
        elif final in seated or any(i in seated for i in life.ids):
            verdict = "wrong_merge"
        elif final in subject2:
            verdict = "correct"
        else:
            verdict = "new_id"
        counts[verdict] += 1
        rows.append(
            {
                "track": life.track_id,
                "start": round(life.first_seen - EPOCH, 2),
                "person": final,
                "verdict": verdict,
                "delay": None
                if life.identified_at is None
                else round(life.identified_at - life.first_seen, 2),
            }
        )
    # the seated person must never hold the subject's identity, on any camera
    seated_merges = sum(
        1
        for life in lives.values()
        if life.label == "seated" and any(i in subject_all for i in life.ids)
    )
    return {
        "cam1_subject_tracks": len(rows),
        **counts,
        "seated_tracks": sum(1 for life in lives.values() if life.label == "seated"),
        "seated_merged": seated_merges,
        "cam2_subject_ids": sorted(subject2),
        "seated_ids": sorted(seated),
        "tracks": rows,
    }


def run_pairs(
    root: Path, dets: Detections, embedder: AppearanceEmbedder | None, roles: RoleEstimator | None
) -> tuple[dict[str, Any], Costs]:
    out: dict[str, Any] = {}
    all_costs = Costs()
    for max_lost in (0.5, 2.0):
        for activity in ACTIVITIES:
            lives, site, costs = run_cameras(
                root, activity, (1, 2), dets, max_lost=max_lost, embedder=embedder, roles=roles
            )
            result = score_pair(lives)
            # roles stick to identities: what the site says about each person at the end
            result["people"] = [
                {"person": p.person_id, "role": p.role, "confidence": round(p.role_confidence, 2)}
                for p in site.people()
            ]
            result["activity"] = activity
            result["name"] = ACTIVITIES[activity]
            out[f"A{activity:02d}@{max_lost:g}"] = result
            print(
                f"A{activity:02d} max_lost {max_lost:g}: {result['correct']}/"
                f"{result['cam1_subject_tracks']} correct, {result['wrong_merge']} wrong, "
                f"{result['new_id']} new, {result['unknown']} unknown; seated merged "
                f"{result['seated_merged']}",
                flush=True,
            )
            if max_lost == 0.5:
                all_costs.sample_ms += costs.sample_ms
                all_costs.sampled_tracks.update(
                    {(f"A{activity}{k[0]}", k[1]): v for k, v in costs.sampled_tracks.items()}
                )
                all_costs.idle_us += costs.idle_us
                all_costs.role_only_ms += costs.role_only_ms
                all_costs.update_us += costs.update_us
    return out, all_costs


def urfd(
    root: Path, detector: PoseDetector, embedder: AppearanceEmbedder | None
) -> list[dict[str, Any]]:
    """Side camera (cam0) person → ceiling camera (cam1) stills, per URFD fall."""
    folder = root / "two_camera/urfd_cam0_cam1_frames"
    rows = []
    looks: dict[tuple[str, str], list[Any]] = {}
    for path in sorted(folder.glob("*.png")):
        fall, cam = path.stem.split("-")[1], path.stem.split("-")[2]
        image = cv2.imread(str(path))
        people = detector.detect(image)
        if not people:
            looks.setdefault((fall, cam), [])
            continue
        person = max(people, key=lambda d: d.box.area)
        vector = embedder.embed(image, [person.box])[0] if embedder is not None else None
        looks.setdefault((fall, cam), []).append(
            describe(image, person.box, person.keypoints, vector)
        )
    match = MatchConfig()
    for fall in sorted({f for f, _ in looks}):
        side, ceiling = looks.get((fall, "cam0"), []), looks.get((fall, "cam1"), [])
        row: dict[str, Any] = {
            "fall": fall,
            "side_people": len(side),
            "ceiling_people": len(ceiling),
        }
        if side and ceiling:
            d = decide(
                {("ceiling", 1): ceiling},
                {("ceiling", 1): [Candidate("side", tuple(side), 0.0)]},
                match,
            )[0]
            row.update(
                verdict=d.verdict.value, cost=round(d.cost, 3), confidence=round(d.confidence, 3)
            )
        else:
            row.update(verdict="no person found", cost=None, confidence=None)
        rows.append(row)
    return rows


def enrolment(
    root: Path, dets: Detections, embedder: AppearanceEmbedder | None, roles: RoleEstimator | None
) -> dict[str, Any]:
    """Enrol the walker from 3 Cam1 frames (real SQLite gallery), then run Cam2 alone."""
    cam1 = clip_path(root, 6, 1)
    table = {i: d for i, _, d in dets.clip(cam1)}
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "people.db") as store:
        gallery = Gallery(store)
        samples = [
            photo_sample(image, table.get(index, ()), source=f"cam1-{index}", embedder=embedder)
            for index, _, image in decoded(cam1, 1)
            if index in ENROL_FRAMES
        ]
        gallery.enroll("walker", "adult", samples)
        enrolled = tuple(gallery.people())
    lives, _, _ = run_cameras(
        root, 6, (2,), dets, max_lost=0.5, embedder=embedder, roles=roles, enrolled=enrolled
    )
    walker = [life for life in lives.values() if life.label == "subject"]
    seated = [life for life in lives.values() if life.label == "seated"]
    return {
        "enrolled_from": [f"UPFall_S1_A06_T1_Cam1 frame {i}" for i in ENROL_FRAMES],
        "cam2_walker_tracks": len(walker),
        "named": sum(1 for life in walker if "walker" in life.names),
        "not_named": sum(1 for life in walker if "walker" not in life.names),
        "walker_frames": sum(life.frames for life in walker),
        "walker_frames_named": sum(life.named_frames for life in walker if "walker" in life.names),
        "unnamed_tracks_frames": [life.frames for life in walker if "walker" not in life.names],
        "seated_tracks": len(seated),
        "seated_named_walker": sum(1 for life in seated if "walker" in life.names),
    }


def cost_summary(costs: Costs) -> dict[str, float]:
    per_track = list(costs.sampled_tracks.values())
    return {
        "per_sample_ms_mean": statistics.fmean(costs.sample_ms),
        "per_sample_ms_median": statistics.median(costs.sample_ms),
        "per_new_track_ms_mean": statistics.fmean(per_track),
        "per_new_track_ms_median": statistics.median(per_track),
        "samples_per_track_mean": len(costs.sample_ms) / max(1, len(per_track)),
        "role_only_looks": len(costs.role_only_ms),
        "role_only_ms_mean": statistics.fmean(costs.role_only_ms) if costs.role_only_ms else 0.0,
        "idle_camera_us_mean": statistics.fmean(costs.idle_us),
        "site_update_us_mean": statistics.fmean(costs.update_us),
        "site_update_us_p95": sorted(costs.update_us)[int(0.95 * len(costs.update_us))],
    }


def summarise(pairs: dict[str, Any], max_lost: float) -> dict[str, Any]:
    rows = [r for k, r in pairs.items() if k.endswith(f"@{max_lost:g}")]
    total = {
        k: sum(r[k] for r in rows)
        for k in (
            "cam1_subject_tracks",
            "correct",
            "wrong_merge",
            "new_id",
            "unknown",
            "seated_merged",
        )
    }
    return total


def print_table(doc: dict[str, Any]) -> None:
    print(
        f"\nhand-off on UP-Fall subject 1 pairs (Cam1 subject tracks vs Cam2's identity), {doc['fps']:g} fps"
    )
    print(
        f"{'pair':<6}{'activity':<28}{'max_lost':>9}{'tracks':>7}{'correct':>8}{'wrong':>6}{'new':>5}{'unkn':>5}{'seated merged':>14}"
    )
    for key, r in doc["pairs"].items():
        print(
            f"A{r['activity']:02d}   {r['name']:<28}{key.split('@')[1] + 's':>9}{r['cam1_subject_tracks']:>7}"
            f"{r['correct']:>8}{r['wrong_merge']:>6}{r['new_id']:>5}{r['unknown']:>5}{r['seated_merged']:>14}"
        )
    for ml, s in doc["summary"].items():
        n = s["cam1_subject_tracks"] or 1
        print(
            f"all pairs, max_lost {ml}: {s['correct']}/{s['cam1_subject_tracks']} correct "
            f"({100 * s['correct'] / n:.0f} %), {s['wrong_merge']} wrong merges, {s['new_id']} new ids, "
            f"{s['unknown']} unknown; seated person merged {s['seated_merged']} times"
        )
    walk = doc["walk_handoff"]
    print(
        f"\nA06 walking pair, re-entries into Cam1 (max_lost 0.5 s): {walk['correct']}/{walk['reentries']} "
        f"correct, {walk['wrong_merge']} wrong merges, {walk['new_id']} new ids, {walk['unknown']} unknown"
    )
    for t in walk["tracks"]:
        print(
            f"   cam1 track {t['track']:>3} from {t['start']:6.2f}s: {t['verdict']:<12} {t['person']} (after {t['delay']} s)"
        )
    print("\nURFD side (cam0) → ceiling (cam1) stills")
    for r in doc["urfd"]:
        print(
            f"   fall-{r['fall']}: {r['side_people']} side / {r['ceiling_people']} ceiling sample(s): {r['verdict']} cost {r['cost']} confidence {r['confidence']}"
        )
    e = doc["enrolment"]
    print(
        f"\nenrolment: walker from {len(e['enrolled_from'])} Cam1 frames; Cam2 alone: named in "
        f"{e['named']}/{e['cam2_walker_tracks']} walker track(s), "
        f"{e['walker_frames_named']}/{e['walker_frames']} walker frames (unnamed tracks: "
        f"{e['unnamed_tracks_frames']} frames long); seated person named walker "
        f"{e['seated_named_walker']}/{e['seated_tracks']}"
    )
    c = doc["cost"]
    print(
        f"\ncost: {c['per_sample_ms_mean']:.1f} ms per sample (median {c['per_sample_ms_median']:.1f}), "
        f"{c['per_new_track_ms_mean']:.1f} ms per new track (median {c['per_new_track_ms_median']:.1f}, "
        f"{c['samples_per_track_mean']:.1f} samples); role-only looks at identified people "
        f"whose role is unknown: {c.get('role_only_looks', 0)} x {c.get('role_only_ms_mean', 0):.2f} ms; "
        f"identified tracks: camera side "
        f"{c['idle_camera_us_mean']:.1f} µs a frame, site update {c['site_update_us_mean']:.1f} µs a frame"
    )
    plain = doc.get("without_embedder")
    if plain:
        s, pc = plain["summary"]["0.5s"], plain["cost"]
        print(
            f"without the embedder (colours + proportions): {s['correct']}/"
            f"{s['cam1_subject_tracks']} correct, {s['wrong_merge']} wrong merges "
            f"(A06 {plain['walk_correct']}/{walk['reentries']}); URFD "
            + ", ".join(f"fall-{r['fall']} {r['verdict']}" for r in plain["urfd"])
            + f"; {pc['per_new_track_ms_mean']:.1f} ms per new track "
            f"(median {pc['per_new_track_ms_median']:.1f})"
        )
    people = doc["pairs"]["A06@0.5"].get("people", [])
    print(
        "\nA06 roles on site (body proportions only here, faces: false): "
        + ", ".join(f"{p['person']} {p['role']} ({p['confidence']})" for p in people)
    )
    roles = doc.get("roles")
    if roles:
        print(
            "\nroles of every adult in the corpus (bench/results/roles.json, the roles helper's):"
        )
        for p in roles.get("people", []):
            c = p["combined"]
            print(
                f"   {p['person']:<52} truth {p['truth']:<6} says {c['role']:<8} "
                f"{c['confidence']:.2f} ({c['source']})"
            )
        if roles.get("note"):
            print(f"   {roles['note']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/handoff.json")
    parser.add_argument("--show", type=Path, help="print the table of a results file")
    parser.add_argument("--cache-only", action="store_true", help="only build the detection cache")
    parser.add_argument("--no-embedder", action="store_true", help="colours and proportions only")
    args = parser.parse_args()
    if args.show:
        print_table(json.loads(args.show.read_text()))
        return 0
    root = corpus()
    dets = Detections(CACHE)
    if args.cache_only:
        for a in ACTIVITIES:
            for cam in (1, 2):
                print(
                    clip_path(root, a, cam).name,
                    len(dets.clip(clip_path(root, a, cam))),
                    flush=True,
                )
        return 0
    embedder = None if args.no_embedder else AppearanceEmbedder(threads=1)
    roles = RoleEstimator(faces=False)
    pairs, costs = run_pairs(root, dets, embedder, roles)
    walk = pairs["A06@0.5"]
    roles_json = REPO / "bench/results/roles.json"
    doc: dict[str, Any] = {
        "fps": 18 / dets.step,
        "embedder": embedder is not None,
        "match": MatchConfig().model_dump(),
        "pairs": pairs,
        "summary": {f"{ml:g}s": summarise(pairs, ml) for ml in (0.5, 2.0)},
        "walk_handoff": {
            "reentries": walk["cam1_subject_tracks"],
            **{
                k: walk[k]
                for k in ("correct", "wrong_merge", "new_id", "unknown", "seated_merged", "tracks")
            },
        },
        "urfd": urfd(root, dets.detector(), embedder),
        "enrolment": enrolment(root, dets, embedder, roles),
        "cost": cost_summary(costs),
        "roles": json.loads(roles_json.read_text()) if roles_json.is_file() else None,
    }
    if embedder is not None:  # the same runs with colours and proportions only
        plain, plain_costs = run_pairs(root, dets, None, roles)
        doc["without_embedder"] = {
            "summary": {f"{ml:g}s": summarise(plain, ml) for ml in (0.5, 2.0)},
            "walk_correct": plain["A06@0.5"]["correct"],
            "urfd": urfd(root, dets.detector(), None),
            "cost": cost_summary(plain_costs),
        }
    write_report("handoff", doc, out=args.out, show=print_table, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
