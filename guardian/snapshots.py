"""The latest picture of each camera, kept as one JPEG per camera (for the zone editor).

:class:`Snapshots` writes ``<folder>/<camera>.jpg`` atomically, at most once every
``every`` seconds per camera, and reads it back. :func:`grab` takes one frame from a
camera's source when no snapshot exists yet.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from guardian.sources import SourceError, open_source

__all__ = ["SNAPSHOT_FOLDER", "Snapshots", "grab"]

#: the snapshots' folder, inside the site's clips folder
SNAPSHOT_FOLDER = "snapshots"

Image = npt.NDArray[np.uint8]

#: a camera id as the site file allows it (also keeps file names inside the folder)
_CAMERA_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class Snapshots:
    """One JPEG per camera in ``folder``: the newest frame, at most one write every ``every`` s."""

    def __init__(self, folder: Path, *, every: float = 60.0, quality: int = 85) -> None:
        self._folder = Path(folder)
        self._every = every
        self._quality = quality
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def in_clips(cls, clips_dir: Path, *, every: float = 60.0) -> Snapshots:
        """The site's snapshots: ``<clips>/snapshots``."""
        return cls(Path(clips_dir) / SNAPSHOT_FOLDER, every=every)

    @property
    def folder(self) -> Path:
        return self._folder

    def path(self, camera: str) -> Path:
        """Where ``camera``'s snapshot lives (ValueError for a name that is not a camera id)."""
        if not _CAMERA_RE.match(camera):
            raise ValueError(f"not a camera id: {camera!r}")
        return self._folder / f"{camera}.jpg"

    def save(self, camera: str, frame_bgr: Image, now: float) -> bool:
        """Write ``frame_bgr`` as ``camera``'s snapshot unless one was written < ``every`` ago."""
        with self._lock:
            last = self._written.get(camera)
            if last is not None and now - last < self._every:
                return False
            self._written[camera] = now
        ok, data = cv2.imencode(".jpg", frame_bgr, [cv2.IMWRITE_JPEG_QUALITY, self._quality])
        if not ok:
            return False
        _write_atomic(self.path(camera), bytes(data))
        return True

    def latest(self, camera: str) -> Image | None:
        """``camera``'s snapshot as a BGR image, or None when there is none."""
        path = self.path(camera)
        try:
            raw = np.fromfile(path, dtype=np.uint8)
        except OSError:
            return None
        image = cv2.imdecode(raw, cv2.IMREAD_COLOR)
        return None if image is None else np.asarray(image, dtype=np.uint8)

    def latest_jpeg(self, camera: str) -> bytes | None:
        """``camera``'s snapshot as JPEG bytes, or None when there is none."""
        try:
            return self.path(camera).read_bytes()
        except OSError:
            return None


def grab(camera: str, source: str | int, *, timeout: float = 15.0) -> Image | None:
    """One frame from a camera source (file, folder, URL or USB); None if none in ``timeout``."""
    try:
        opened = open_source(camera, source, fps=1.0, backoff_max=1.0)
    except SourceError:
        return None
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)
    timer.daemon = True
    timer.start()
    try:
        with opened:
            for frame in opened.frames(stop):
                return frame.image
    finally:
        timer.cancel()
    return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
