"""The UP-Fall walking pair (A06, Cam1 + Cam2) through ``guardian run``'s pipeline with
the identity stage on: the walker's Cam1 tracks get the person id Cam2's walker holds,
and the seated person in Cam2 never does.

Trimmed to keep the test fast: the real pose model runs on the first 5.5 s of both
videos at 9 fps (the walker's first exit from Cam1 at ~1.6 s and re-entry at ~2.7 s);
later frames are decoded but not detected (no people). ``tracking.max_lost: 0.5`` makes
the walker's re-entry a new track (a real hand-off), as in ``bench/handoff.py``.
"""

from __future__ import annotations

import io
import queue
import threading
from collections import defaultdict
from pathlib import Path

from corpus import require_corpus

from guardian.app import build_runner, load_site_and_rules
from guardian.detection import PoseDetector
from guardian.observations import read_observations
from guardian.records import Detection, Frame, TrackState
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent
#: last frame index detected (18 fps): the walker has left Cam1 and come back by then
LAST = 100


def site_file(tmp_path: Path, identity: bool = True) -> Path:
    cam1 = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    cam2 = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam2.mp4")
    text = f"""
cameras:
  - {{id: cam1, source: {cam1}, fps: 9}}
  - {{id: cam2, source: {cam2}, fps: 9}}
storage: {{database: g.db, clips: clips, models: {REPO / "models"}}}
tracking: {{max_lost: 0.5}}
clips: {{enabled: false}}
"""
    if identity:
        text += """
identity:
  cameras: [{camera: cam1}, {camera: cam2}]
  links: [{from: cam1, to: cam2, same_area: true}]
  faces: false
"""
    path = tmp_path / "guardian.yaml"
    path.write_text(text)
    return path


def seated(camera: str, box_center_x: float, box_bottom: float) -> bool:
    """Cam2's seated person sits at the right of the image, far away."""
    return camera == "cam2" and box_center_x > 470 and box_bottom < 345


def test_walker_keeps_cam2_identity_when_reentering_cam1(
    tmp_path: Path, detector: PoseDetector
) -> None:
    bundle, rules = load_site_and_rules(site_file(tmp_path))
    lock = threading.Lock()

    def factory(camera: object) -> object:
        def detect(frame: Frame) -> tuple[Detection, ...]:
            if frame.index > LAST:
                return ()
            with lock:  # one model shared by the two camera threads
                return detector.detect(frame.image)

        return detect

    record = tmp_path / "obs.jsonl"
    with Store(bundle.database_path) as store:
        runner = build_runner(
            bundle,
            rules,
            store,
            record=record,
            out=io.StringIO(),
            detector_factory=factory,  # type: ignore[arg-type]
        )
        assert runner.identity is not None
        runner.run()

    ids: dict[tuple[str, int], list[str | None]] = defaultdict(list)
    kind: dict[tuple[str, int], list[bool]] = defaultdict(list)
    roles: dict[tuple[str, int], set[str]] = defaultdict(set)
    for obs in read_observations(record):
        for t in obs.tracks:
            if t.state is not TrackState.TRACKED:
                continue
            key = (obs.camera, t.track_id)
            ids[key].append(t.person_id)
            roles[key].add(t.role)
            kind[key].append(seated(obs.camera, t.box.center[0], t.box.y2))
    is_seated = {key: sum(v) > len(v) / 2 for key, v in kind.items()}
    walker2 = {i for key, v in ids.items() if key[0] == "cam2" and not is_seated[key] for i in v}
    walker2.discard(None)
    seat = {i for key, v in ids.items() if is_seated[key] for i in v}
    seat.discard(None)
    assert len(walker2) == 1, ids  # Cam2's walker: one identity all along
    assert len(seat) == 1 and not seat & walker2, ids  # the seated person: another one
    cam1 = sorted(
        (key for key in ids if key[0] == "cam1" and len(ids[key]) >= 5),
        key=lambda key: key[1],
    )
    assert len(cam1) >= 2, ids  # the walker's first Cam1 track and a re-entry
    for key in cam1:
        assert ids[key][-1] in walker2, (key, ids[key])  # handed over: Cam2's walker
        assert not set(ids[key]) & seat, (key, ids[key])  # never the seated person
    # the role found for the walker (body proportions here: faces off) sticks to them
    walker_roles = set().union(*(roles[key] for key in cam1))
    assert "adult" in walker_roles and "child" not in walker_roles, walker_roles


def test_without_identity_section_nothing_loads(tmp_path: Path) -> None:
    bundle, rules = load_site_and_rules(site_file(tmp_path, identity=False))
    assert not bundle.site.identity.enabled
    with Store(bundle.database_path) as store:
        runner = build_runner(
            bundle,
            rules,
            store,
            out=io.StringIO(),
            detector_factory=lambda camera: lambda frame: (),
        )
        assert runner.identity is None
        runner._make_workers(queue.Queue())
        assert all(w.pipeline.identity is None for w in runner.workers)
