"""Zone files: named polygons drawn on one camera's image.

A zone file holds a ``zones:`` list. Each zone belongs to one camera, has a kind
(water, deck, elevator_floor, ...) that rules can refer to, and a polygon in
fractions of the frame (0..1, the default) or in pixels.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from guardian.config.motion import ZoneMotion
from guardian.config.problems import located_error
from guardian.config.site import check_id

ZoneKind = Literal[
    "water",
    "deck",
    "pool_area",
    "entry",
    "exit",
    "elevator_floor",
    "room",
    "boundary",
    "other",
]
Anchor = Literal["bottom_center", "center", "top_center", "head", "hips", "feet"]
Units = Literal["fraction", "px"]

_VALIDITY_RE = re.compile(r"^(?P<what>.*?)\[(?P<x>\S+) (?P<y>\S+)\]$")


#: the largest pixel coordinate (no camera frame is wider or taller)
MAX_PIXEL = 100_000


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class ZoneConfig(BaseModel):
    """One zone: a polygon on one camera, with the rules for being "inside" it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="zone")

    name: str = Field(
        description="zone name used by rules, unique per camera: lowercase, digits, _ and -"
    )
    camera: str = Field(description="id of the camera (from the site file) this zone is drawn on")
    kind: ZoneKind = Field(
        description=(
            "what the zone is: water, deck, pool_area, entry, exit, elevator_floor, room, "
            "boundary or other"
        )
    )
    units: Units = Field(
        "fraction",
        description="fraction: coordinates are 0..1 of the frame width/height; px: pixels",
    )
    polygon: tuple[tuple[float, float], ...] = Field(
        description="at least 3 [x, y] points, in order around the zone"
    )
    anchor: Anchor = Field(
        "bottom_center",
        description=(
            "the point of a person tested against the polygon: bottom_center (feet of the "
            "box), center, top_center, or head/hips/feet from keypoints (box if not seen)"
        ),
    )
    inertia: int = Field(
        3,
        ge=1,
        le=100,
        description=(
            "frames in a row a person must be inside before an enter counts, "
            "and outside before a leave counts"
        ),
    )
    motion: ZoneMotion = Field(
        "watch",
        description="what movement here means to the camera's motion check: watch (wakes "
        "the person models), shimmer (water or leaves: only movement well above the usual "
        "here counts) or ignore (never wakes them; the heartbeat still looks)",
    )
    description: str | None = Field(None, description="free text for people reading the file")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_id(value, "zone name")

    @field_validator("polygon", mode="before")
    @classmethod
    def _check_points(cls, value: Any, info: Any) -> Any:
        name = info.data.get("name", "?")
        if not isinstance(value, list | tuple):
            return value  # let pydantic say it should be a list
        for index, point in enumerate(value):
            if not isinstance(point, list | tuple):
                raise located_error(
                    f"point #{index + 1} of zone '{name}' is not a pair of numbers — write each "
                    "point as [x, y]",
                    index,
                )
            if len(point) == 2 and not all(_is_number(c) for c in point):
                bad = next(c for c in point if not _is_number(c))
                shown = "an empty value" if bad is None else repr(bad)
                raise located_error(
                    f"point #{index + 1} of zone '{name}' has {shown} where a number belongs "
                    "— write each point as [x, y] with two numbers, e.g. [0.25, 0.5]",
                    index,
                )
            if any(_is_number(c) and not math.isfinite(c) for c in point):
                raise located_error(
                    f"point #{index + 1} of zone '{name}' has a coordinate that is not a finite "
                    "number — write each point as [x, y] with two numbers, e.g. [0.25, 0.5]",
                    index,
                )
            if len(point) != 2 or not all(_is_number(c) for c in point):
                raise located_error(
                    f"point #{index + 1} of zone '{name}' must be exactly 2 numbers [x, y], "
                    f"it has {len(point)} value(s) — write each point as [x, y]",
                    index,
                )
        if len(value) < 3:
            raise ValueError(
                f"polygon of zone '{name}' has {len(value)} point(s) — it needs at least 3 "
                "to enclose an area"
            )
        return value

    @model_validator(mode="after")
    def _check_shape(self) -> ZoneConfig:
        for index, (x, y) in enumerate(self.polygon):
            if self.units == "fraction" and not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise located_error(
                    f"point #{index + 1} [{x:g}, {y:g}] of zone '{self.name}' is outside 0..1 — "
                    "with 'units: fraction' coordinates are fractions of the frame width and "
                    "height; use 'units: px' for pixel coordinates",
                    "polygon",
                    index,
                )
            if self.units == "px" and (x > MAX_PIXEL or y > MAX_PIXEL):
                raise located_error(
                    f"point #{index + 1} [{x:g}, {y:g}] of zone '{self.name}' is beyond "
                    f"{MAX_PIXEL} pixels — no camera frame is that large; pixels count from 0 "
                    "at the top-left corner of the frame",
                    "polygon",
                    index,
                )
            if self.units == "px" and (x < 0 or y < 0):
                raise located_error(
                    f"point #{index + 1} [{x:g}, {y:g}] of zone '{self.name}' has a negative "
                    "pixel coordinate — pixels count from 0 at the top-left corner",
                    "polygon",
                    index,
                )
        shape = Polygon(self.polygon)
        if shape.convex_hull.area == 0:
            raise located_error(
                f"polygon of zone '{self.name}' has zero area — its points lie on one line; "
                "spread them around the zone",
                "polygon",
            )
        if not shape.is_valid:
            reason = explain_validity(shape)
            found = _VALIDITY_RE.match(reason)
            if found:
                x, y = float(found["x"]), float(found["y"])
                reason = f"{found['what']} at ({x:g}, {y:g})"
            raise located_error(
                f"polygon of zone '{self.name}' is not valid: {reason} — reorder the points "
                "so the edges do not cross (go around the zone in one direction)",
                "polygon",
            )
        return self

    def polygon_px(self, width: int | float, height: int | float) -> list[tuple[float, float]]:
        """The polygon in pixels of a ``width`` x ``height`` frame."""
        if self.units == "px":
            return [(float(x), float(y)) for x, y in self.polygon]
        return [(x * width, y * height) for x, y in self.polygon]

    def shape_px(self, width: int | float, height: int | float) -> Polygon:
        """The polygon in pixels as a shapely ``Polygon``."""
        return Polygon(self.polygon_px(width, height))


class ZoneFile(BaseModel):
    """The top level of a zone file (zones are validated one by one)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="zone file")

    zones: list[Any] = Field(description="the zones: a list of '- name: ...' entries")
