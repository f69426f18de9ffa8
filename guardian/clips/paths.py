"""Where clips go: ``<clips>/<camera>/<YYYY-MM-DD>/<event-id>.mp4`` (+ ``.jpg``,
``-snapshot.jpg``), stored in SQLite relative to the clips folder and never outside it."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from guardian.timefmt import day

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")

#: suffix of a clip being written (a fragmented MP4, playable up to the last fragment)
PART_SUFFIX = ".part"


class UnsafeClipPath(ValueError):
    """A stored clip path that would point outside the clips folder."""


def safe_name(text: str) -> str:
    """``text`` with anything but letters, digits, ``_`` and ``-`` replaced by ``_``."""
    return _UNSAFE.sub("_", text).strip("_") or "clip"


def clip_stem(camera: str, event_id: str, when: float, timezone: str) -> str:
    """``<camera>/<YYYY-MM-DD>/<event-id>`` (the date in the site's time zone)."""
    return f"{safe_name(camera)}/{day(when, timezone)}/{safe_name(event_id)}"


def resolve_clip_path(clips_dir: Path, relative: str) -> Path:
    """The absolute path of a stored relative clip path; :class:`UnsafeClipPath` when it is
    absolute, has ``..`` or otherwise leaves ``clips_dir`` (symlinks included)."""
    pure = PurePosixPath(relative.replace("\\", "/"))
    if not relative or pure.is_absolute() or ".." in pure.parts or "\x00" in relative:
        raise UnsafeClipPath(f"clip path '{relative}' is not inside the clips folder")
    root = clips_dir.resolve()
    target = (root / pure).resolve()
    if not target.is_relative_to(root):
        raise UnsafeClipPath(f"clip path '{relative}' is not inside the clips folder")
    return target
