"""Retention: delete clips by age and by total size; unreviewed critical clips go last.

A clip file may be shared by several events (a later event extended an open clip); it is
deleted as one, ranked by the most important of its events. Rows are marked ``deleted``
(with the reason); events are never deleted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from guardian.clips.paths import UnsafeClipPath, resolve_clip_path
from guardian.config.clips import RetentionConfig, format_size
from guardian.store import ClipRetention, Store

log = logging.getLogger("guardian.clips")

#: deletion order, first deleted first
RANK_REVIEWED = 0  # reviewed (or acknowledged), not critical
RANK_UNREVIEWED = 1  # not reviewed, not critical
RANK_CRITICAL_REVIEWED = 2
RANK_CRITICAL_UNREVIEWED = 3


@dataclass(frozen=True, slots=True)
class ClipFile:
    """One video file on disk with its pictures and the rows that point to it."""

    path: str
    clip_ids: tuple[str, ...]
    files: tuple[Path, ...]
    size: int
    end: float
    rank: int


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What one retention run deleted."""

    files: int
    rows: int
    freed: int
    kept_size: int


def rank(rows: list[ClipRetention]) -> int:
    critical = [r for r in rows if r.critical]
    if any(not r.reviewed for r in critical):
        return RANK_CRITICAL_UNREVIEWED
    if critical:
        return RANK_CRITICAL_REVIEWED
    if any(not r.reviewed for r in rows):
        return RANK_UNREVIEWED
    return RANK_REVIEWED


def clip_files(store: Store, clips_dir: Path) -> list[ClipFile]:
    """Written clips grouped by file, in deletion order (rank, then oldest first)."""
    groups: dict[str, list[ClipRetention]] = {}
    for row in store.clip_log.retention_rows():
        groups.setdefault(row.clip.path, []).append(row)
    out = []
    for path, rows in groups.items():
        files: list[Path] = []
        names = [path] + [
            p for r in rows for p in (r.clip.thumbnail_path, r.clip.snapshot_path) if p
        ]
        for name in dict.fromkeys(names):
            try:
                files.append(resolve_clip_path(clips_dir, name))
            except UnsafeClipPath:
                log.error("clip row points outside the clips folder: %r (ignored)", name)
        size = sum(f.stat().st_size for f in files if f.is_file())
        out.append(
            ClipFile(
                path=path,
                clip_ids=tuple(r.clip.clip_id for r in rows),
                files=tuple(files),
                size=size,
                end=max(r.clip.end for r in rows),
                rank=rank(rows),
            )
        )
    out.sort(key=lambda c: (c.rank, c.end))
    return out


def prune(
    store: Store, clips_dir: Path, retention: RetentionConfig, now: float | None = None
) -> PruneResult:
    """Delete clips older than ``max_age``, then, while the total is over ``max_size``,
    clips in deletion order (reviewed non-critical first, unreviewed critical last)."""
    now = time.time() if now is None else now
    files = clip_files(store, clips_dir)
    total = sum(c.size for c in files)
    deleted_files = deleted_rows = freed = 0
    for clip in files:
        reason = None
        if retention.max_age > 0 and clip.end < now - retention.max_age:
            reason = f"retention: older than {_age(retention.max_age)}"
        elif retention.max_size > 0 and total > retention.max_size:
            reason = f"retention: clips over {format_size(retention.max_size)}"
        if reason is None:
            continue
        for path in clip.files:
            path.unlink(missing_ok=True)
            _remove_empty_parents(path.parent, clips_dir)
        store.clip_log.update(clip.clip_ids, status="deleted", reason=reason)
        total -= clip.size
        freed += clip.size
        deleted_files += 1
        deleted_rows += len(clip.clip_ids)
    if deleted_files:
        log.info(
            "retention: deleted %d clip(s), %s freed, %s kept",
            deleted_files,
            format_size(freed),
            format_size(total),
        )
    return PruneResult(deleted_files, deleted_rows, freed, total)


def _remove_empty_parents(folder: Path, clips_dir: Path) -> None:
    root = clips_dir.resolve()
    folder = folder.resolve()
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _age(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"
