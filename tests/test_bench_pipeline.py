"""bench/pipeline.py's helpers: the mix's loops and noise, percentiles, and the site file
it writes (a real site: loaded and checked by the real loader)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from guardian.app import load_site_and_rules

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from pipeline import Feed, noisy, percentile, pingpong, resample, write_site  # noqa: E402


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0, 1.0, 2.0], 1.0) == 3.0
    assert percentile([], 0.5) is None


def test_pingpong_loops_without_a_jump() -> None:
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(4)]
    loop = pingpong(frames)
    assert [int(f[0, 0, 0]) for f in loop] == [0, 1, 2, 3, 2, 1]
    # played in a loop, each step moves one frame: never a cut from the last to the first
    steps = [
        abs(int(loop[(i + 1) % len(loop)][0, 0, 0]) - int(loop[i][0, 0, 0]))
        for i in range(len(loop))
    ]
    assert max(steps) == 1


def test_resample_keeps_the_duration() -> None:
    frames = [np.full((2, 2, 3), i, np.uint8) for i in range(36)]  # 2 s at 18 fps
    out = resample(frames, 18.0, to=10.0)
    assert len(out) == 20
    assert int(out[10][0, 0, 0]) == 18  # 1 s in


def test_noise_is_fresh_per_frame_and_of_the_asked_size() -> None:
    still = np.full((120, 160, 3), 128, np.uint8)
    a, b = noisy(still, 2, seed=1, sigma=2.0)
    diff = a.astype(np.float32) - still
    assert 1.8 < float(diff.std()) < 2.2
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("motion", [True, False])
def test_the_site_it_writes_loads(tmp_path: Path, motion: bool) -> None:
    feeds = [
        Feed("cam01", "busy", "a walk", (b"",), 640, 480),
        Feed("cam02", "water", "water", (b"",), 360, 640),
    ]
    urls = ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    bundle, rules = load_site_and_rules(write_site(tmp_path, feeds, urls, motion=motion))
    assert [c.motion.enabled for c in bundle.site.cameras] == [motion, motion]
    assert {z.name: z.motion for z in bundle.zones} == {
        "floor_cam01": "watch",
        "water_cam02": "shimmer",
    }
    # a rule per camera that requests an alert (beside the built-in health rules)
    assert {"enter_cam01", "enter_cam02"} <= {r.rule_id for r in rules.rules}
