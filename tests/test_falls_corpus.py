"""The elevator-fall rule on real footage, through the whole pipeline.

All 22 UP-Fall clips (subject 1, trial 1; A01–A05 falls, A06–A11 daily activities incl.
A11 lying down on a mattress on purpose; two cameras each) run as 22 cameras of one
`guardian run` at 9 fps, with the rules of rules/elevator.yaml's fall kinds. Every fall
clip must fire the fall rule near its ground-truth on-ground frame, on both cameras;
no daily activity may fire it (A11 may fire "person down", which is what it is for).
"""

from __future__ import annotations

import csv
import sqlite3
from collections import defaultdict
from pathlib import Path

import pytest
from corpus import require_corpus

REPO = Path(__file__).resolve().parent.parent
FPS = 18.0

RULES = """
rules:
  - id: fall
    severity: critical
    triggers: [{kind: posture, state: fallen}]
  - id: person_down
    severity: critical
    triggers: [{kind: posture, state: lying, for: 10s}]
"""


def _truth() -> dict[str, dict[str, str]]:
    path = require_corpus("ground_truth", "upfall_subject1_trial1.csv")
    with path.open() as f:
        return {Path(r["file"]).stem: r for r in csv.DictReader(f)}


def _camera(stem: str) -> str:  # UPFall_S1_A01_T1_Cam1 → a01_cam1
    parts = stem.split("_")
    return f"{parts[2]}_{parts[4]}".lower()


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, int]]]:
    """camera → [(rule id, frame index)] from one `guardian run` over all 22 clips."""
    from guardian.app import run_site

    truth = _truth()
    folder = tmp_path_factory.mktemp("falls")
    cameras = "".join(
        f"  - id: {_camera(stem)}\n    source: {require_corpus(row['file'])}\n    fps: 9\n"
        for stem, row in sorted(truth.items())
    )
    (folder / "rules.yaml").write_text(RULES)
    site = folder / "site.yaml"
    site.write_text(
        f"cameras:\n{cameras}rules: [rules.yaml]\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
    )
    assert run_site(site, progress=False) == 0
    out: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with sqlite3.connect(folder / "guardian.db") as conn:
        for camera, rule, frame in conn.execute(
            "select camera, rule_id, frame_index from events order by started_at"
        ):
            out[camera].append((rule, frame))
    return out


CLIPS = [f"UPFall_S1_A{a:02d}_T1_Cam{c}" for a in range(1, 12) for c in (1, 2)]


@pytest.mark.parametrize("stem", CLIPS)
def test_fall_rule_on_upfall(events: dict[str, list[tuple[str, int]]], stem: str) -> None:
    row = _truth()[stem]
    fired = events.get(_camera(stem), [])
    falls = [frame for rule, frame in fired if rule == "fall"]
    if row["is_fall"] == "1":
        assert falls, f"{stem}: the fall was not detected (events: {fired})"
        onset, ground = int(row["fall_onset_frame_est"]), int(row["on_ground_frame_est"])
        first = falls[0] / FPS
        # ground truth is ±3-5 frames by eye; the rule may fire up to 2.5 s after landing
        assert onset / FPS - 0.5 <= first <= ground / FPS + 2.5, (stem, first, onset, ground)
    else:
        assert falls == [], f"{stem}: a daily activity fired the fall rule at frames {falls}"
