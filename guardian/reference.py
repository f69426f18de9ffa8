"""A camera's reference view, taken again (``guardian reference --camera ID``).

The ``moved`` health check compares each camera's picture with its reference view, the
view its zones were drawn on: the camera's ``reference:`` image, or the first good frame
a live camera saved on its first run (``references/<camera>.png`` next to the database).
After moving a camera on purpose (and redrawing its zones), take the reference again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from guardian.config import SiteBundle
from guardian.health import (
    MIN_KEYPOINTS,
    SETTLE,
    Image,
    ReferenceView,
    picture_stats,
    reference_path,
    save_reference,
    small_grey,
)
from guardian.sources import SourceError, open_source


def good_reference(image: Image) -> str | None:
    """Why ``image`` cannot be a reference (None: it can)."""
    stats = picture_stats(small_grey(image))
    if stats.dark:
        return "the picture is black"
    if stats.flat or stats.blinded:
        return "the picture is covered or blinded"
    if ReferenceView(image).keypoints < MIN_KEYPOINTS:
        return "the picture is too plain to recognise"
    return None


def take_reference(
    bundle: SiteBundle, camera_id: str, *, timeout: float = 30.0
) -> tuple[Path, Image]:
    """Read the camera until a good frame (``SETTLE`` s after its first), save it as the
    camera's reference and return where. Raises ValueError saying what went wrong."""
    try:
        camera = bundle.site.camera(camera_id)
    except KeyError:
        known = ", ".join(bundle.site.camera_ids)
        raise ValueError(f"no camera '{camera_id}' in {bundle.path} — known: {known}") from None
    try:
        source = open_source(camera.id, camera.source, fps=min(camera.fps, 5.0))
    except SourceError as exc:
        raise ValueError(str(exc)) from None
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.start()
    why = "no frame came"
    first: float | None = None
    started = time.monotonic()
    try:
        for frame in source.frames(stop):
            first = frame.timestamp if first is None else first
            if frame.timestamp - first < SETTLE:
                continue
            problem = good_reference(frame.image)
            if problem is None:
                path = reference_path(bundle, camera)
                save_reference(path, frame.image)
                return path, frame.image
            why = problem
            if time.monotonic() - started > timeout:
                break
    finally:
        timer.cancel()
        stop.set()
        source.close()
    raise ValueError(
        f"camera '{camera_id}': no good picture in {timeout:.0f} s ({why}) — check the "
        "camera, then run this again"
    )


__all__ = ["good_reference", "take_reference"]
