"""Observations to JSON lines and back."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardian.observations import (
    ObservationFormatError,
    ObservationWriter,
    read_observations,
)
from guardian.records import (
    Box,
    Keypoint,
    Observation,
    Posture,
    PostureReading,
    SceneChange,
    Track,
    TrackState,
    TransitionKind,
    ZoneCount,
    ZonePresence,
    ZoneTransition,
)


def _obs(index: int) -> Observation:
    track = Track(
        camera="cam",
        track_id=4,
        state=TrackState.TRACKED,
        box=Box(10.5, 20.25, 50.0, 120.0),
        score=0.875,
        keypoints=tuple(Keypoint(float(i), float(i * 2), 0.5) for i in range(17)),
        first_seen=1000.0,
        last_seen=1000.0 + index,
        hits=index + 1,
    )
    return Observation(
        camera="cam",
        frame_index=index,
        timestamp=1000.0 + index,
        pts=index / 10,
        width=640,
        height=480,
        tracks=(track,),
        presences=(ZonePresence("water", 4, 1000.0, True),),
        transitions=(ZoneTransition("cam", "water", "water", 4, TransitionKind.ENTER, 1000.0),),
        counts=(ZoneCount("water", "water", 1, 1),),
        postures=(PostureReading(4, Posture.LYING, 1000.5, 0.75, 1000.25 if index else None),),
        changes=(SceneChange("lawn", 2, Box(1.0, 2.0, 30.5, 40.0), 0.125, 999.0, 1000.0 + index),),
    )


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    writer = ObservationWriter(path)
    originals = [_obs(i) for i in range(3)]
    for o in originals:
        writer.write(o)
    writer.close()
    assert list(read_observations(path)) == originals


def test_a_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "obs.jsonl"
    writer = ObservationWriter(path)
    writer.write(_obs(0))
    writer.close()
    with path.open("a") as f:
        f.write("{not json\n")
    with pytest.raises(ObservationFormatError, match=r"obs\.jsonl:2: not an observation line"):
        list(read_observations(path))
