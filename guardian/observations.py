"""Observations to and from JSON lines, so rules can be replayed on past footage.

One line per camera per processed frame. Track history is not written (it is
in-process state); everything a rule reads is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

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

FORMAT_VERSION = 1


class ObservationFormatError(ValueError):
    """A line of an observations file could not be read."""


def _r(x: float) -> float:
    return round(x, 2)


def to_json(obs: Observation) -> str:
    tracks = [
        {
            "id": t.track_id,
            "state": t.state.value,
            "box": [_r(t.box.x1), _r(t.box.y1), _r(t.box.x2), _r(t.box.y2)],
            "score": round(t.score, 3),
            "kp": [[_r(k.x), _r(k.y), round(k.conf, 3)] for k in t.keypoints],
            "first_seen": t.first_seen,
            "last_seen": t.last_seen,
            "hits": t.hits,
            "role": t.role,
            "person": t.person_id,
            **({"responsible": True} if t.responsible else {}),
            **({"name": t.enrolled_id} if t.enrolled_id is not None else {}),  # key kept
            **({"label": t.label} if t.label != "person" else {}),
        }
        for t in obs.tracks
    ]
    doc: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "camera": obs.camera,
        "frame": obs.frame_index,
        "ts": obs.timestamp,
        "pts": round(obs.pts, 4),
        "size": [obs.width, obs.height],
        "tracks": tracks,
        "presences": [[p.zone, p.track_id, p.since, p.visible] for p in obs.presences],
        "transitions": [
            [t.zone, t.zone_kind, t.track_id, t.kind.value, t.timestamp] for t in obs.transitions
        ],
        "counts": [[c.zone, c.zone_kind, c.visible, c.total] for c in obs.counts],
    }
    if obs.postures:
        doc["postures"] = [
            [p.track_id, p.posture.value, p.since, round(p.confidence, 3), p.fall_at]
            for p in obs.postures
        ]
    if obs.changes:
        doc["changes"] = [
            [
                c.zone,
                c.change_id,
                [_r(c.box.x1), _r(c.box.y1), _r(c.box.x2), _r(c.box.y2)],
                round(c.area, 4),
                c.first_seen,
                c.last_seen,
            ]
            for c in obs.changes
        ]
    return json.dumps(doc, separators=(",", ":"))


def from_json(line: str) -> Observation:
    d = json.loads(line)
    if d.get("v") != FORMAT_VERSION:
        raise ObservationFormatError(f"unsupported observation format {d.get('v')!r}")
    camera = d["camera"]
    tracks = tuple(
        Track(
            camera=camera,
            track_id=t["id"],
            state=TrackState(t["state"]),
            box=Box(*t["box"]),
            score=t["score"],
            keypoints=tuple(Keypoint(*k) for k in t["kp"]),
            first_seen=t["first_seen"],
            last_seen=t["last_seen"],
            hits=t["hits"],
            role=t.get("role", "unknown"),
            person_id=t.get("person"),
            responsible=bool(t.get("responsible", False)),
            enrolled_id=t.get("name"),
            label=t.get("label", "person"),
        )
        for t in d["tracks"]
    )
    return Observation(
        camera=camera,
        frame_index=d["frame"],
        timestamp=d["ts"],
        pts=d["pts"],
        width=d["size"][0],
        height=d["size"][1],
        tracks=tracks,
        presences=tuple(ZonePresence(z, tid, since, vis) for z, tid, since, vis in d["presences"]),
        transitions=tuple(
            ZoneTransition(camera, z, zk, tid, TransitionKind(k), ts)
            for z, zk, tid, k, ts in d["transitions"]
        ),
        counts=tuple(ZoneCount(z, zk, v, tot) for z, zk, v, tot in d["counts"]),
        postures=tuple(
            PostureReading(tid, Posture(p), since, conf, fall)
            for tid, p, since, conf, fall in d.get("postures", ())
        ),
        changes=tuple(
            SceneChange(z, cid, Box(*box), area, first, last)
            for z, cid, box, area, first, last in d.get("changes", ())
        ),
    )


class ObservationWriter:
    """Appends observations to a JSONL file; thread-safe; flushed on close."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, obs: Observation) -> None:
        line = to_json(obs)
        with self._lock:
            self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.flush()
            self._file.close()


def read_observations(path: Path) -> Iterator[Observation]:
    """Observations from a JSONL file; a bad line raises naming the file and line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield from_json(line)
            except (ValueError, KeyError, TypeError, IndexError) as exc:
                raise ObservationFormatError(
                    f"{path}:{number}: not an observation line ({exc}) — "
                    "record observations with 'guardian run --record-observations FILE'"
                ) from exc
