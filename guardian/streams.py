"""A camera's streams around its detect frames: the record sub-stream that feeds the clip
ring (:class:`RecordReader`), and the once-a-minute word about frames a live camera
dropped because processing is slower than its fps (:class:`DropWatch`)."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from guardian.clips import CameraClips
from guardian.sources import FrameSource, SourceError, SourceKind

log = logging.getLogger("guardian.pipeline")


#: a record stream (files) never reads further ahead than this of the detect frames, in
#: video time, or it would push the pre-roll out of the clip ring
RECORD_LEAD = 1.0
#: seconds without a record frame (behind the detect frames) after which the detect frames
#: go to the clip ring instead (a live record stream that is down or reconnecting)
RECORD_STALE = 2.0
#: seconds a camera reading files waits for its record stream's first frame
RECORD_START = 10.0
#: seconds a record file gets to catch up with the detect file's end (the post-roll)
RECORD_CATCH_UP = 10.0


class RecordReader(threading.Thread):
    """Reads a camera's record stream (``record:``, e.g. its high-resolution main stream)
    into the camera's clip ring, on a thread of its own.

    Live streams carry wall time, like the detect stream. A file is put on the detect
    file's time base (its ``opened_at`` plus the frame's pts) and paced so that it never
    reads a frame more than :data:`RECORD_LEAD` s ahead of the latest detect frame. A
    record stream that cannot be opened, fails or ends is said once; the worker then puts
    the detect frames in the ring (:meth:`feeding` is False).
    """

    def __init__(
        self,
        camera: str,
        open_source: Callable[[], FrameSource],
        clips: CameraClips,
        stop: threading.Event,
        *,
        base: float | None,
        lead: float = RECORD_LEAD,
        stale: float = RECORD_STALE,
    ) -> None:
        super().__init__(name=f"record-{camera}", daemon=True)
        self.camera = camera
        self.open_source = open_source
        self.clips = clips
        self.stop = stop
        #: the detect file's opened_at (record files are put on its time base); None: live
        self.base = base
        self.lead = lead
        self.stale = stale
        #: the record stream failed or ended (said once): the detect frames are clipped
        self.failed = False
        #: frames put in the ring so far
        self.pushed = 0
        self._latest: float | None = None  # the last record frame's time in the ring
        self._detect: float | None = None  # the latest detect frame's time
        self._cond = threading.Condition()
        self._halt = threading.Event()
        self._source: FrameSource | None = None
        self._waiting = False  # a record file is ahead of the detect frames: waiting

    def detect_at(self, timestamp: float) -> None:
        """The detect stream reached ``timestamp`` (a file's record frames may follow)."""
        with self._cond:
            self._detect = timestamp
            self._cond.notify_all()

    def feeding(self, timestamp: float) -> bool:
        """True while the record stream's frames reach the detect frame at ``timestamp``."""
        with self._cond:
            latest = self._latest
        return not self.failed and latest is not None and timestamp - latest <= self.stale

    def wait_started(self, timeout: float) -> bool:
        """Wait (files) until the first record frame is in the ring or the stream failed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._latest is None and not self.failed and not self._stopped():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return self._latest is not None

    def close(self, catch_up: float = 0.0) -> None:
        """The detect stream is over: stop reading and let go of the record stream. A
        record file first gets up to ``catch_up`` s to reach the last detect frame."""
        deadline = time.monotonic() + catch_up
        with self._cond:
            while self.base is not None and not (self._waiting or self.failed):
                left = deadline - time.monotonic()
                if left <= 0 or self.stop.is_set() or not self.is_alive():
                    break
                self._cond.wait(min(left, 0.1))
        self._halt.set()
        with self._cond:
            self._cond.notify_all()
        if self._source is not None:
            self._source.close()
        if self.is_alive():
            self.join(timeout=5)

    def _stopped(self) -> bool:
        return self._halt.is_set() or self.stop.is_set()

    def run(self) -> None:
        source: FrameSource | None = None
        why = "it ended"
        try:
            source = self.open_source()
            self._source = source
            if self._halt.is_set():
                return
            on_base = self.base is not None and source.kind in (
                SourceKind.VIDEO,
                SourceKind.IMAGES,
            )
            for frame in source.frames(self.stop):
                if on_base:
                    assert self.base is not None
                    frame = dataclasses.replace(frame, timestamp=self.base + frame.pts)
                    if not self._wait_for_detect(frame.timestamp):
                        return
                if self._stopped():
                    return
                self.clips.push(frame, record=True)
                self.pushed += 1
                with self._cond:
                    self._latest = frame.timestamp
                    self._cond.notify_all()
        except SourceError as exc:
            why = str(exc)
        except Exception as exc:  # clips go on from the detect stream
            log.exception("camera %s: reading the record stream failed", self.camera)
            why = f"{type(exc).__name__}: {exc}"
        finally:
            if source is not None:
                source.close()
            if not self._stopped():
                # a record file ends a little before the detect file: no warning for that
                level = logging.INFO if why == "it ended" else logging.WARNING
                log.log(
                    level,
                    "camera %s: the record stream stopped (%s); clips are recorded from the "
                    "detect stream from now on",
                    self.camera,
                    why,
                )
                with self._cond:
                    self.failed = True
                    self._cond.notify_all()

    def _wait_for_detect(self, timestamp: float) -> bool:
        """Wait until the detect frames are at most ``lead`` s behind ``timestamp``;
        False when stopped meanwhile."""
        assert self.base is not None
        with self._cond:
            try:
                while (
                    timestamp
                    > (self._detect if self._detect is not None else self.base) + self.lead
                ):
                    if self._stopped():
                        return False
                    self._waiting = True
                    self._cond.notify_all()
                    self._cond.wait(0.2)
            finally:
                self._waiting = False
        return True


#: a camera that drops frames says so at most this often (seconds)
DROP_WARNING_EVERY = 60.0


class DropWatch:
    """Says, at most once a minute, how many frames a live camera dropped since it last
    said so (its processing is slower than its fps)."""

    def __init__(self, camera: str, now: float, every: float = DROP_WARNING_EVERY) -> None:
        self.camera = camera
        self.every = every
        self._since = now  # when the count below was taken
        self._said = 0  # frames dropped until then

    def update(self, now: float, dropped: int) -> int:
        """``dropped`` so far; returns the frames dropped since the last word, once it is
        said (0 while a word is not due)."""
        if now - self._since < self.every:
            return 0
        recent = dropped - self._said
        if recent > 0:
            log.warning(
                "camera %s: %d frames dropped in the last %.0f s: processing is slower "
                "than its fps",
                self.camera,
                recent,
                now - self._since,
            )
        self._since, self._said = now, dropped
        return recent
