"""Falling in from the water's edge, on real footage, through the whole pipeline.

The corpus has no footage of anybody falling into a pool (nor of a pool-side camera at
all), so this test BUILDS the scene from a real clip and says so: UP-Fall A06 Cam1 (a
person walking), from frame 44 (the walker comes into view at the left, walks along the
bottom of the image to the right border, turns and walks back up-left) to frame K-1;
from frame K on every frame is the empty scene of the same camera (frame 36), so to the
detector the walker vanishes where they were at K-1, feet at about (404, 412), as a
person falling in would. Two pools are drawn on that floor, each with its edge band:

* ``left``: water to the left of that spot, the band a step around it; the walker comes
  towards it and vanishes 0.3 s after stepping into the band: the timer must start
  (fires at K + timeout, ±1 s of video time), with "at the edge" in the event;
* ``far``: water above the walker's path, its band the strip of floor the walker walked
  along for ~4 s; vanishing there while walking along is not falling in: no event.

One pipeline run (6 fps, 3 s timeout) keeps it at about half a minute.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
from corpus import require_corpus

REPO = Path(__file__).resolve().parent.parent
CLIP = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
FPS = 18.0
START, K, EMPTY = 44, 120, 36
TIMEOUT = 3.0
ZONES = """zones:
  - {name: left, camera: pool, kind: water, units: px, inertia: 1,
     polygon: [[150, 300], [390, 300], [390, 400], [150, 400]]}
  - {name: left_edge, camera: pool, kind: deck, units: px, inertia: 1,
     polygon: [[130, 280], [430, 280], [430, 425], [130, 425]]}
  - {name: far, camera: pool, kind: water, units: px, inertia: 1,
     polygon: [[0, 250], [640, 250], [640, 380], [0, 380]]}
  - {name: far_edge, camera: pool, kind: deck, units: px, inertia: 1,
     polygon: [[0, 380], [640, 380], [640, 480], [0, 480]]}
"""
RULES = """rules:
  - id: fell_in_left
    severity: critical
    triggers: [{kind: absent, zones: left, timeout: 3s, edge: left_edge}]
    actions: [{kind: alert, channels: [log]}]
  - id: fell_in_far
    severity: critical
    triggers: [{kind: absent, zones: far, timeout: 3s, edge: far_edge}]
    actions: [{kind: alert, channels: [log]}]
"""


def _clip(path: Path) -> Path:
    cap = cv2.VideoCapture(str(require_corpus(*CLIP)))
    frames: list[np.ndarray] = []
    while len(frames) < K:
        ok, image = cap.read()
        assert ok
        frames.append(image)
    cap.release()
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for f in frames[START:K] + [frames[EMPTY]] * int((TIMEOUT + 2.5) * FPS):
        writer.write(f)
    writer.release()
    return path


def test_vanishing_at_the_edge_of_real_footage(tmp_path: Path) -> None:
    from guardian.app import run_site

    video = _clip(tmp_path / "masked.mp4")
    (tmp_path / "zones.yaml").write_text(ZONES)
    (tmp_path / "rules.yaml").write_text(RULES)
    site = tmp_path / "site.yaml"
    site.write_text(
        f"cameras:\n  - id: pool\n    source: {video}\n    fps: 6\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage:\n  database: guardian.db\n  models: {REPO / 'models'}\n"
    )
    assert run_site(site, progress=False) == 0
    with sqlite3.connect(tmp_path / "guardian.db") as conn:
        rows = conn.execute("select rule_id, zone, frame_index, message from events").fetchall()
    (event,) = rows  # the far pool's edge, walked along, stays quiet
    rule_id, zone, frame_index, message = event
    assert rule_id == "fell_in_left" and zone == "left"
    assert "at the edge of left (left_edge)" in message
    assert frame_index / FPS == pytest.approx((K - START) / FPS + TIMEOUT, abs=1.0)
