"""Event clips: ring buffer, H.264 writer, pictures, recovery and retention.

See :mod:`guardian.clips.recorder` for how the threads share the work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from guardian.clips.drawing import COCO_EDGES, draw_snapshot, thumbnail
from guardian.clips.paths import UnsafeClipPath, clip_stem, resolve_clip_path
from guardian.clips.recorder import (
    CUT_SHORT,
    FRAMES_LOST,
    BufferedFrame,
    CameraClips,
    ClipRecorder,
    ClipWriter,
    FrameRing,
    RecoveryReport,
    WriterStats,
    cameras_with_events,
    finalize_part,
    recover,
)
from guardian.clips.retention import PruneResult, clip_files, prune
from guardian.config.cron import crontab_trigger

if TYPE_CHECKING:
    from guardian.config import SiteBundle
    from guardian.rules import RuleSet
    from guardian.scheduler import Scheduler
    from guardian.store import Store

__all__ = [
    "COCO_EDGES",
    "CUT_SHORT",
    "FRAMES_LOST",
    "BufferedFrame",
    "CameraClips",
    "ClipRecorder",
    "ClipWriter",
    "FrameRing",
    "PruneResult",
    "RecoveryReport",
    "UnsafeClipPath",
    "WriterStats",
    "add_retention_job",
    "build_recorder",
    "cameras_with_events",
    "clip_files",
    "clip_stem",
    "draw_snapshot",
    "finalize_part",
    "prune",
    "recover",
    "resolve_clip_path",
    "thumbnail",
]


def build_recorder(bundle: SiteBundle, rules: RuleSet, store: Store) -> ClipRecorder | None:
    """The site's clip recorder (None when ``clips.enabled`` is false): a ring and a writer
    for each enabled camera that some enabled rule watches."""
    config = bundle.site.clips
    if not config.enabled:
        return None
    cameras = cameras_with_events(
        ((c.id, c.fps) for c in bundle.site.cameras if c.enabled),
        (r.cameras for r in rules.rules if r.enabled),
    )
    return ClipRecorder(
        config,
        store,
        bundle.clips_dir,
        timezone=bundle.site.site.timezone,
        cameras=cameras,
        zones=bundle.zones,
    )


def add_retention_job(scheduler: Scheduler, bundle: SiteBundle, store: Store) -> None:
    """Run retention on the site's ``clips: retention: schedule`` (hourly by default)."""
    retention = bundle.site.clips.retention
    timezone = bundle.site.site.timezone
    scheduler.add(
        crontab_trigger(retention.schedule, timezone),
        lambda: prune(store, bundle.clips_dir, retention),
        "clips-retention",
        name=f"{retention.schedule}: clips retention",
    )
