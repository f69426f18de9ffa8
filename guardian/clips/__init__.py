"""Event clips: ring buffer, H.264 writer, pictures, recovery and retention.

See :mod:`guardian.clips.recorder` for how the threads share the work.
"""

from __future__ import annotations

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


