"""Move a zone's polygon in the zone file it came from, keeping everything else.

The file is read and written with ruamel.yaml's round-trip mode (indentation guessed
from the file), so comments, key order, quoting and the other zones stay as they were;
only the polygon's numbers change, in the units the zone already uses (fractions of
the frame or pixels). The new file is checked by the same loader as ``guardian check``
before it replaces the old one (atomically); a bad polygon leaves the file untouched.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from guardian.config import SiteBundle
from guardian.config.loader import load_zone_file
from guardian.config.zones import ZoneConfig

__all__ = ["PlacedZone", "ZoneEditError", "ZoneEditor", "site_zone_files"]


class ZoneEditError(ValueError):
    """The polygon was refused (the message says why); the file is unchanged."""


@dataclass(frozen=True, slots=True)
class PlacedZone:
    """A zone as its file has it now, and which file that is."""

    zone: ZoneConfig
    file: Path


def site_zone_files(bundle: SiteBundle) -> tuple[Path, ...]:
    """The site's zone files, as absolute paths."""
    files = []
    for rel in bundle.site.zones:
        path = Path(rel).expanduser()
        files.append(path if path.is_absolute() else bundle.base_dir / path)
    return tuple(files)


def _yaml(text: str) -> tuple[YAML, Any]:
    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a line
    yaml.indent(mapping=indent or 2, sequence=indent or 2, offset=block_seq_indent or 0)
    return yaml, yaml.load(text)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


class ZoneEditor:
    """The zones of a site's zone files, and moving one zone's points."""

    def __init__(self, files: Sequence[Path], camera_ids: Collection[str]) -> None:
        self._files = tuple(files)
        self._cameras = frozenset(camera_ids)
        self._lock = threading.Lock()  # one read-modify-write of a file at a time

    def zones(self, camera: str) -> list[PlacedZone]:
        """The camera's valid zones as the files have them now, in file order."""
        placed: list[PlacedZone] = []
        for file in self._files:
            zones, _ = load_zone_file(file, self._cameras)
            placed.extend(PlacedZone(z, file) for z in zones if z.camera == camera)
        return placed

    def move(
        self,
        camera: str,
        name: str,
        points_px: Sequence[tuple[float, float]],
        width: int,
        height: int,
    ) -> PlacedZone:
        """Write the zone's polygon as ``points_px`` (pixels of a ``width`` x ``height``
        picture) into its file; ZoneEditError (file untouched) when it is not valid."""
        if width <= 0 or height <= 0:
            raise ZoneEditError("the picture's size must be positive")
        with self._lock:
            for placed in self.zones(camera):
                if placed.zone.name == name:
                    return self._write(placed, points_px, width, height)
        raise ZoneEditError(f"camera '{camera}' has no zone '{name}' in the zone files")

    def _write(
        self,
        placed: PlacedZone,
        points_px: Sequence[tuple[float, float]],
        width: int,
        height: int,
    ) -> PlacedZone:
        file, zone = placed.file, placed.zone
        try:
            text = file.read_text(encoding="utf-8")
            yaml, data = _yaml(text)
        except (OSError, YAMLError) as exc:
            raise ZoneEditError(f"cannot read {file.name}: {exc}") from None
        entry = next(
            item
            for item in data["zones"]
            if isinstance(item, dict)
            and item.get("name") == zone.name
            and item.get("camera") == zone.camera
        )
        if zone.units == "px":
            points = [(_number(round(x, 1)), _number(round(y, 1))) for x, y in points_px]
        else:
            points = [
                (_number(round(x / width, 4)), _number(round(y / height, 4))) for x, y in points_px
            ]
        try:  # the same checks as the loader, before anything is written
            ZoneConfig.model_validate({**dict(entry), "polygon": [list(p) for p in points]})
        except ValidationError as exc:
            raise ZoneEditError(
                "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            ) from None
        polygon = entry["polygon"]
        if isinstance(polygon, CommentedSeq) and len(polygon) == len(points):
            for old, new in zip(polygon, points, strict=True):
                for i in (0, 1):  # in place: flow style, comments, unchanged numbers stay
                    if not isinstance(old[i], int | float) or float(old[i]) != new[i]:
                        old[i] = new[i]
        else:
            fresh = CommentedSeq()
            for x, y in points:
                pair = CommentedSeq([x, y])
                pair.fa.set_flow_style()
                fresh.append(pair)
            fresh.fa.set_flow_style()
            entry["polygon"] = fresh
        out = io.StringIO()
        yaml.dump(data, out)
        self._replace(file, out.getvalue(), zone)
        for now in self.zones(zone.camera):
            if now.zone.name == zone.name:
                return now
        raise ZoneEditError(f"zone '{zone.name}' did not load after saving")  # not reached

    def _replace(self, file: Path, text: str, zone: ZoneConfig) -> None:
        """Write ``text`` next to ``file``, check it with the loader, then swap it in."""
        fd, tmp_name = tempfile.mkstemp(prefix=f".{file.name}.", suffix=".yaml", dir=file.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.chmod(tmp, file.stat().st_mode & 0o777)
            loaded, problems = load_zone_file(tmp, self._cameras)
            if problems:
                raise ZoneEditError("; ".join(p.message for p in problems))
            if not any(z.name == zone.name and z.camera == zone.camera for z in loaded):
                raise ZoneEditError(f"zone '{zone.name}' would not load from {file.name}")
            os.replace(tmp, file)
        finally:
            tmp.unlink(missing_ok=True)
