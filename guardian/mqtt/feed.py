"""The wire format between camera workers and the site (see :mod:`guardian.mqtt.topics`).

A camera's feed (``<prefix>/cameras/<camera>/observations``, QoS 1, in order) carries
one message per item: a header line, a newline, then the body::

    {"run": "<worker run id>", "seq": 41, "kind": "obs", "worker": "gate"}
    {... the Observation, as guardian.observations writes it ...}

``kind`` is ``obs`` (an Observation), ``health`` (a HealthChange of the picture: frozen,
dark, covered, moved) or ``end`` (the camera's video file ended; empty body). ``seq``
counts a camera's items from 0 in each run of the worker (``run``): the site drops what it
already had (a QoS 1 redelivery) and logs a gap.

Clips: the site asks on ``<prefix>/workers/<worker>/clips/request`` (the clip request,
its event, the observation that fired it); the worker writes the clip into the shared
clips folder and reports every change of the clip's row on
``<prefix>/cameras/<camera>/clips/ready`` (``{"ids": [...], "fields": {...}}``), which
the site applies to its database.

Every decoder raises :class:`FeedError` with one clear sentence on a bad payload.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from guardian.effects import ClipRequest
from guardian.observations import ObservationFormatError, from_json, to_json
from guardian.records import Event, HealthChange, HealthProblem, Observation
from guardian.vocab import ClipStatus, EventStatus, Severity

#: item kinds on a camera's feed
OBS, HEALTH, END = "obs", "health", "end"
#: the clip row fields a worker may set, with their types
_CLIP_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "reason": (str,),
    "path": (str,),
    "thumbnail_path": (str, type(None)),
    "snapshot_path": (str, type(None)),
    "start": (int, float),
    "end": (int, float),
    "duration": (int, float),
    "size_bytes": (int,),
    "frames": (int,),
}


class FeedError(ValueError):
    """A message of a worker's feed could not be read."""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """A remote camera's video file ended (a live camera never ends)."""

    camera: str


FeedBody = Observation | HealthChange | StreamEnd


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One message of a camera's feed."""

    worker: str
    run: str
    seq: int
    body: FeedBody


def encode_item(worker: str, run: str, seq: int, body: FeedBody) -> bytes:
    """A feed message: the header line, then the body."""
    if isinstance(body, Observation):
        kind, text = OBS, to_json(body)
    elif isinstance(body, HealthChange):
        kind = HEALTH
        text = json.dumps(
            {
                "problem": body.problem.value,
                "started": body.started,
                "ended": body.ended,
                "detail": body.detail,
            },
            separators=(",", ":"),
        )
    else:
        kind, text = END, ""
    head = json.dumps(
        {"run": run, "seq": seq, "kind": kind, "worker": worker}, separators=(",", ":")
    )
    return (head + "\n" + text).encode()


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FeedError(f"'{what}' must be a number, not {value!r}")
    return float(value)


def decode_item(camera: str, payload: bytes) -> FeedItem:
    """The item a worker sent on ``camera``'s feed; FeedError when it is not one."""
    try:
        text = payload.decode()
        head_line, _, body = text.partition("\n")
        head = json.loads(head_line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"not a feed message ({exc})") from None
    if not isinstance(head, dict):
        raise FeedError("the header is not a JSON object")
    run, seq, kind, worker = head.get("run"), head.get("seq"), head.get("kind"), head.get("worker")
    if not isinstance(run, str) or not run or not isinstance(worker, str):
        raise FeedError("the header has no 'run' or 'worker'")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise FeedError(f"'seq' must be a whole number from 0, not {seq!r}")
    item: FeedBody
    if kind == OBS:
        try:
            item = from_json(body)
        except (ObservationFormatError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise FeedError(f"not an observation ({type(exc).__name__}: {exc})") from None
        if item.camera != camera:
            raise FeedError(f"an observation of camera '{item.camera}' on the feed of '{camera}'")
    elif kind == HEALTH:
        try:
            doc = json.loads(body)
            problem = HealthProblem(doc["problem"])
            ended = doc.get("ended")
            item = HealthChange(
                camera,
                problem,
                _number(doc["started"], "started"),
                None if ended is None else _number(ended, "ended"),
                str(doc.get("detail", ""))[:500],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise FeedError(f"not a health change ({type(exc).__name__}: {exc})") from None
    elif kind == END:
        item = StreamEnd(camera)
    else:
        raise FeedError(f"unknown kind {kind!r} (obs, health or end)")
    return FeedItem(worker, run, seq, item)


# -- clips ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClipAsk:
    """The site asks a worker for a clip: the request, its event, the observation."""

    request: ClipRequest
    event: Event | None
    observation: Observation | None


def encode_clip_request(
    request: ClipRequest, event: Event | None, observation: Observation | None
) -> bytes:
    doc: dict[str, Any] = {
        "event_id": request.event_id,
        "camera": request.camera,
        "start": request.start,
        "end": request.end,
    }
    if event is not None:
        doc["event"] = {
            "event_id": event.event_id,
            "rule_id": event.rule_id,
            "rule_alias": event.rule_alias,
            "camera": event.camera,
            "zone": event.zone,
            "track_id": event.track_id,
            "person_id": event.person_id,
            "severity": event.severity.value,
            "started_at": event.started_at,
            "ended_at": event.ended_at,
            "message": event.message,
            "frame_index": event.frame_index,
            "status": event.status.value,
        }
    if observation is not None:
        doc["observation"] = to_json(observation)
    return json.dumps(doc, separators=(",", ":")).encode()


#: the largest list of waited-on cameras a worker reads
MAX_WAITING = 4096


def encode_waiting(cameras: Iterable[str]) -> bytes:
    """The cameras a rule waits on, as the site tells their worker (a JSON list)."""
    return json.dumps(sorted(cameras)).encode()


def decode_waiting(payload: bytes) -> frozenset[str]:
    """The cameras in a ``waiting`` message; FeedError when it is not a list of ids."""
    if len(payload) > MAX_WAITING:
        raise FeedError(f"a waiting list of {len(payload)} bytes is too long")
    try:
        doc = json.loads(payload)
    except ValueError as exc:
        raise FeedError(f"not JSON: {exc}") from exc
    if not isinstance(doc, list) or not all(isinstance(c, str) and c for c in doc):
        raise FeedError("a waiting list must be a JSON list of camera ids")
    return frozenset(doc)


def decode_clip_request(payload: bytes) -> ClipAsk:
    try:
        doc = json.loads(payload)
        request = ClipRequest(
            str(doc["event_id"]),
            str(doc["camera"]),
            _number(doc["start"], "start"),
            _number(doc["end"], "end"),
        )
        ev = doc.get("event")
        event = None
        if ev is not None:
            event = Event(
                event_id=str(ev["event_id"]),
                rule_id=str(ev["rule_id"]),
                rule_alias=str(ev["rule_alias"]),
                camera=str(ev["camera"]),
                zone=ev["zone"],
                track_id=ev["track_id"],
                person_id=ev["person_id"],
                severity=Severity(ev["severity"]),
                started_at=_number(ev["started_at"], "started_at"),
                ended_at=ev["ended_at"],
                message=str(ev["message"]),
                frame_index=int(ev["frame_index"]),
                status=EventStatus(ev["status"]),
            )
        obs = doc.get("observation")
        observation = from_json(obs) if isinstance(obs, str) else None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise FeedError(f"not a clip request ({type(exc).__name__}: {exc})") from None
    return ClipAsk(request, event, observation)


@dataclass(frozen=True, slots=True)
class ClipUpdate:
    """A change of clip rows made by a worker's clip writer."""

    ids: tuple[str, ...]
    fields: Mapping[str, object]


def encode_clip_update(ids: tuple[str, ...], fields: Mapping[str, object]) -> bytes:
    values = {k: (v.value if isinstance(v, ClipStatus) else v) for k, v in fields.items()}
    return json.dumps({"ids": list(ids), "fields": values}, separators=(",", ":")).encode()


def decode_clip_update(camera: str, payload: bytes) -> ClipUpdate:
    """A worker's clip row change for ``camera``: only that camera's rows, known fields."""
    try:
        doc = json.loads(payload)
        ids, fields = doc["ids"], doc["fields"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FeedError(f"not a clip update ({type(exc).__name__}: {exc})") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise FeedError("'ids' must be a list of clip ids")
    if any(not i.endswith(f":{camera}") for i in ids):
        raise FeedError(f"a clip id that is not camera '{camera}''s")
    if not isinstance(fields, dict):
        raise FeedError("'fields' must be an object")
    for key, value in fields.items():
        types = _CLIP_FIELDS.get(key)
        if types is None:
            raise FeedError(f"unknown clip field '{key}'")
        if isinstance(value, bool) or not isinstance(value, types):
            raise FeedError(f"clip field '{key}' has a bad value {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise FeedError(f"clip field '{key}' is not a finite number")
    if "status" in fields:
        try:
            ClipStatus(fields["status"])
        except ValueError:
            raise FeedError(f"unknown clip status {fields['status']!r}") from None
    return ClipUpdate(tuple(ids), dict(fields))


__all__ = [
    "ClipAsk",
    "ClipUpdate",
    "FeedError",
    "FeedItem",
    "StreamEnd",
    "decode_clip_request",
    "decode_clip_update",
    "decode_item",
    "decode_waiting",
    "encode_clip_request",
    "encode_clip_update",
    "encode_item",
    "encode_waiting",
]
