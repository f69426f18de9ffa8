"""The bench kit: the one fall scorer, the machine block and the report writer."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from guardian.records import Posture, PostureReading

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from benchkit import (  # noqa: E402
    EARLY,
    LATE,
    FallLog,
    FallScore,
    Fire,
    machine_info,
    score_fall,
    table,
    write_report,
)

#: a hand-made clip: the person starts falling at 10 s and is on the ground at 11 s
ONSET, GROUND = 10.0, 11.0


def scored(*fires: Fire, is_fall: bool = True) -> FallScore:
    return score_fall(fires, is_fall=is_fall, onset_s=ONSET, on_ground_s=GROUND)


def test_a_fire_in_the_window_is_a_hit() -> None:
    s = scored(Fire(10.2, 11.5, (1,)))
    assert s.detected == Fire(10.2, 11.5, (1,))
    assert s.false == () and s.repeats == ()
    assert s.delay_s == 0.5 and s.fall_at_vs_ground_s == pytest.approx(-0.8)


def test_the_window_edges() -> None:
    assert scored(Fire(ONSET - EARLY, GROUND + LATE)).detected is not None
    assert scored(Fire(ONSET - EARLY - 0.01, GROUND)).detected is None  # dated too early
    assert scored(Fire(ONSET, GROUND + LATE + 0.01)).detected is None  # reported too late


def test_a_late_fire_is_a_miss_and_a_false_fall() -> None:
    late = Fire(10.4, GROUND + LATE + 1.0)
    s = scored(late)
    assert s.detected is None and s.delay_s is None
    assert s.false == (late,)


def test_a_fire_on_a_clip_without_a_fall_is_a_false_fall() -> None:
    fire = Fire(3.0, 3.5)
    s = scored(fire, is_fall=False)
    assert s.detected is None and s.false == (fire,)
    # a fall clip whose ground truth lacks the frames cannot be detected either
    s = score_fall([fire], is_fall=True, onset_s=None, on_ground_s=None)
    assert s.detected is None and s.false == (fire,)


def test_two_fires_one_fall_count_once() -> None:
    first, again = Fire(10.3, 11.2, (1,)), Fire(10.6, 11.8, (2,))
    s = scored(again, first)  # in any order: the first reported one detects
    assert s.detected == first and s.delay_s == 0.2
    assert s.repeats == (again,) and s.false == ()
    # ... while one outside the window, on the same clip, is false
    stray = Fire(2.0, 2.4)
    s = scored(first, stray)
    assert s.detected == first and s.false == (stray,)


def reading(track: int, fall_at: float | None) -> PostureReading:
    return PostureReading(track, Posture.LYING, 0.0, 0.9, fall_at)


def test_the_log_counts_a_fall_handed_on_once() -> None:
    log = FallLog()
    log.add([reading(1, None)], 10.0)
    log.add([reading(1, 10.1234)], 10.5)
    log.add([reading(1, 10.1234), reading(2, 10.1234)], 11.0)  # handed on: same fall_at
    log.add([reading(2, 12.0)], 13.0)
    assert log.fires() == (Fire(10.123, 10.5, (1, 2)), Fire(12.0, 13.0, (2,)))


def test_machine_info_names_the_machine() -> None:
    info = machine_info()
    assert info["cpus"] and info["python"] and info["cpu"]
    assert set(info) >= {"torch", "onnxruntime", "ultralytics", "commit"}
    assert info["commit"] is None or len(info["commit"].split("+")[0]) == 40


def test_write_report_writes_machine_and_figures(tmp_path: Path) -> None:
    shown: list[dict[str, object]] = []
    path = write_report("x", {"recall": 0.9}, out=tmp_path / "x.json", show=shown.append)
    saved = json.loads(path.read_text())
    assert saved["recall"] == 0.9 and saved["machine"]["cpus"]
    assert shown == [saved]


def test_table_aligns_columns() -> None:
    text = table(["model", "recall"], [["geometric", 0.8], ["learned", None]])
    lines = text.splitlines()
    assert lines[0] == "model      recall"
    assert lines[2] == "geometric     0.8"
    assert lines[3] == "learned         -"
