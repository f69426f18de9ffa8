"""The durable state of the triggers that wait, one record per trigger kind.

The rule store keeps JSON: :meth:`to_json` writes exactly the keys earlier runs wrote
and :meth:`from_json` reads them back (missing optional keys take their defaults), so
state saved by an older run still loads. ``file``: the entry came from a camera playing
a video file, and ends with it (never resumed by a later run).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar

from guardian.vocab import Role

JsonDict = dict[str, Any]


def _file(data: Mapping[str, Any]) -> bool:
    return bool(data.get("file", False))


def _with_file(json: JsonDict, file: bool) -> JsonDict:
    return {**json, "file": True} if file else json


@dataclass(frozen=True, slots=True)
class DwellEntry:
    """A person inside a zone since ``since``; ``fired`` once the rule fired for them."""

    since: float
    fired: bool
    x: float
    y: float
    file: bool = False

    def who(self) -> str:
        return "someone"

    def to_json(self) -> JsonDict:
        d = {"since": self.since, "fired": self.fired, "x": self.x, "y": self.y}
        return _with_file(d, self.file)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            since=float(data["since"]),
            fired=bool(data.get("fired", False)),
            x=float(data.get("x", 0.5)),
            y=float(data.get("y", 0.5)),
            file=_file(data),
        )


@dataclass(frozen=True, slots=True)
class PostureEntry:
    """A person down (fallen, or lying) since ``start``; ``reading`` is the pose stage's
    own start of it (a new one restarts the entry)."""

    start: float
    reading: float
    fired: bool
    x: float
    y: float
    file: bool = False

    def who(self) -> str:
        return "someone"

    def to_json(self) -> JsonDict:
        d = {"start": self.start, "reading": self.reading, "fired": self.fired}
        return _with_file({**d, "x": self.x, "y": self.y}, self.file)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        start = float(data["start"])
        return cls(
            start=start,
            reading=float(data.get("reading", start)),
            fired=bool(data.get("fired", False)),
            x=float(data.get("x", 0.5)),
            y=float(data.get("y", 0.5)),
            file=_file(data),
        )


@dataclass(frozen=True, slots=True)
class AbsentEntry:
    """The submersion timer of one person lost inside a zone (``edge``: lost at the
    edge of the water, the band's name)."""

    camera: str
    zone: str
    track: int
    last_seen: float
    deadline: float
    x: float
    y: float
    person: str | None = None
    role: Role = Role.UNKNOWN
    responsible: bool = False
    enrolled_id: str | None = None
    edge: str | None = None
    file: bool = False

    def who(self) -> str:
        if self.enrolled_id:
            return self.enrolled_id
        return {Role.CHILD: "a child", Role.ADULT: "an adult"}.get(self.role, "someone")

    def to_json(self) -> JsonDict:
        d: JsonDict = {
            "camera": self.camera,
            "zone": self.zone,
            "track": self.track,
            "last_seen": self.last_seen,
            "deadline": self.deadline,
            "x": self.x,
            "y": self.y,
            "person": self.person,
            "role": str(self.role),
            "responsible": self.responsible,
            "name": self.enrolled_id,  # the key earlier runs wrote
        }
        if self.edge is not None:
            d["edge"] = self.edge
        return _with_file(d, self.file)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        role = str(data.get("role") or Role.UNKNOWN)
        return cls(
            camera=str(data["camera"]),
            zone=str(data["zone"]),
            track=int(data["track"]),
            last_seen=float(data["last_seen"]),
            deadline=float(data["deadline"]),
            x=float(data["x"]),
            y=float(data["y"]),
            person=data.get("person"),
            role=Role(role) if role in set(Role) else Role.UNKNOWN,
            responsible=bool(data.get("responsible", False)),
            enrolled_id=data.get("name") or None,
            edge=data.get("edge") or None,
            file=_file(data),
        )


@dataclass(frozen=True, slots=True)
class OccupancyState:
    """One camera's occupancy test has held since ``since``; ``fired`` once it fired."""

    since: float
    fired: bool = False
    file: bool = False

    def to_json(self) -> JsonDict:
        return _with_file({"since": self.since, "fired": self.fired}, self.file)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(float(data["since"]), bool(data.get("fired", False)), _file(data))


@dataclass(frozen=True, slots=True)
class CountDropState:
    """How many people a zone is expected to hold, and since when fewer are seen
    (``below`` None: not fewer)."""

    expected: int
    below: float | None = None
    file: bool = False

    def to_json(self) -> JsonDict:
        return _with_file({"expected": self.expected, "below": self.below}, self.file)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        below = data.get("below")
        return cls(int(data["expected"]), float(below) if below is not None else None, _file(data))


Entry = TypeVar("Entry", DwellEntry, PostureEntry, AbsentEntry)


def marked_file(entry: Entry) -> Entry:
    """``entry`` marked as coming from a video file."""
    return entry if entry.file else dataclasses.replace(entry, file=True)
