"""Frame sources: turn a camera's configured source into a stream of typed :class:`Frame`.

A source is one of

* a folder of images (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``; played in name order, with
  numbers compared as numbers so ``img2`` comes before ``img10``), or a single image file;
* a video file, decoded with OpenCV;
* a network stream URL (``rtsp://``, ``rtsps://``, ``http://``, ``https://``);
* a USB camera index (an ``int`` or a string of digits).

:func:`open_source` picks the kind. Every source yields frames at (at most) the target fps.

Files are read as fast as they decode, not paced to real time (unless ``realtime=True``):
``Frame.index`` is the 0-based decoder index in the file, ``pts`` is ``index / native_fps`` and
``timestamp`` is the wall time at open plus ``pts``, so rules see video time.

Only kept frames are decoded in full: a frame the sampler drops is only ``grab()``-ed (the
decoder advances, without the colour conversion and copy of ``retrieve()``).

Live sources are paced by the device: ``timestamp`` is the wall time at read. A live source
reads on a thread of its own and keeps only the newest sampled frame: when the consumer is
slower than the stream, older frames are dropped (counted in :attr:`LiveSource.dropped`)
instead of piling up in FFmpeg's buffers, so what the consumer gets is always recent. When a
stream drops it is reopened with exponential backoff until the caller sets ``stop``; a
dropped stream never raises out of :meth:`FrameSource.frames`, so other cameras carry on.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import numpy.typing as npt

from guardian.records import Frame

__all__ = [
    "IMAGE_EXTENSIONS",
    "STREAM_SCHEMES",
    "CaptureFactory",
    "CaptureLike",
    "FrameSource",
    "ImageFolderSource",
    "LiveSource",
    "SourceError",
    "SourceKind",
    "VideoFileSource",
    "default_capture_factory",
    "open_source",
]

log = logging.getLogger("guardian.sources")
# OpenCV's own warnings (e.g. "global cap.cpp ... can't open") repeat what this module
# already says in its own words; keep only its errors.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

#: File name endings read as still images (compared case-insensitively).
IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
#: URL schemes opened as live network streams.
STREAM_SCHEMES: tuple[str, ...] = ("rtsp", "rtsps", "http", "https")

#: After this many failed reads in a row inside a video file, the file is taken to have ended.
MAX_BAD_READS = 25
#: First reconnect delay for a dropped live stream, doubled per failure up to BACKOFF_MAX.
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
#: How often a consumer waiting for a live frame looks at its stop event (seconds).
TAKE_POLL = 0.05
#: How long the end of a live iteration waits for its reader thread to let go of the device.
READER_JOIN = 1.0
#: Open / read timeouts given to FFmpeg for network streams, so a dead camera cannot block forever.
STREAM_TIMEOUT_MS = 10_000

Image = npt.NDArray[np.uint8]
Clock = Callable[[], float]
Sleep = Callable[[float], None]


class SourceError(Exception):
    """A camera source cannot be used as configured (missing path, undecodable file, ...)."""


class SourceKind(StrEnum):
    IMAGES = "images"
    VIDEO = "video"
    STREAM = "stream"
    USB = "usb"


class CaptureLike(Protocol):
    """The part of ``cv2.VideoCapture`` the sources use (so tests can inject a fake)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def grab(self) -> bool: ...

    def retrieve(self) -> tuple[bool, Any]: ...

    def get(self, prop_id: int) -> float: ...

    def release(self) -> None: ...


CaptureFactory = Callable[[str | int], CaptureLike]


def default_capture_factory(source: str | int) -> CaptureLike:
    """Open ``source`` with OpenCV; network URLs get FFmpeg open/read timeouts."""
    if isinstance(source, str) and _is_url(source):
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
        ]
        cap: CaptureLike = cv2.VideoCapture(source, cv2.CAP_FFMPEG, params)
        return cap
    cap = cv2.VideoCapture(source)
    return cap


def open_source(
    camera: str,
    source: str | int | os.PathLike[str],
    *,
    fps: float,
    loop: bool = False,
    clock: Clock = time.time,
    sleep: Sleep = time.sleep,
    realtime: bool | None = None,
    capture_factory: CaptureFactory = default_capture_factory,
    backoff_initial: float = BACKOFF_INITIAL,
    backoff_max: float = BACKOFF_MAX,
) -> FrameSource:
    """Open ``source`` for ``camera``, to be read at (at most) ``fps`` frames per second.

    ``loop`` replays a file or folder forever (ignored for live sources). ``realtime=True``
    paces a file or folder to its own timing, as if it were a camera; by default files are
    read as fast as possible and live sources are paced by the device. ``clock``, ``sleep``
    and ``capture_factory`` are injectable for tests.

    Raises :class:`SourceError` when the source does not exist or cannot be decoded. A live
    source is not opened here: it connects (and reconnects) inside ``frames()``.
    """
    if not fps > 0:
        raise SourceError(f"camera {camera!r}: fps must be positive, got {fps!r}")
    if isinstance(source, bool):
        raise SourceError(f"camera {camera!r}: source must be a path, URL or USB index")
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        index = int(source)
        if index < 0:
            raise SourceError(f"camera {camera!r}: USB camera index must be >= 0, got {index}")
        return LiveSource(
            camera,
            index,
            fps=fps,
            clock=clock,
            sleep=sleep,
            capture_factory=capture_factory,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
    if isinstance(source, str) and _is_url(source):
        return LiveSource(
            camera,
            source.strip(),
            fps=fps,
            clock=clock,
            sleep=sleep,
            capture_factory=capture_factory,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
    if isinstance(source, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source.strip()):
        raise SourceError(
            f"camera {camera!r}: unsupported URL {_redact(source)!r}; "
            f"use one of {', '.join(s + '://' for s in STREAM_SCHEMES)}"
        )

    path = Path(source).expanduser()
    if not path.exists():
        raise SourceError(
            f"camera {camera!r}: source path {str(path)!r} does not exist; set the camera's "
            "source to an existing video file or image folder, an rtsp:// or http(s):// URL, "
            "or a USB camera index such as 0"
        )
    paced = bool(realtime)
    if path.is_dir():
        images = _list_images(path)
        if not images:
            raise SourceError(
                f"camera {camera!r}: folder {str(path)!r} holds no images "
                f"({', '.join(sorted(IMAGE_EXTENSIONS))}); put frames there or point the "
                "camera at a video file"
            )
        return ImageFolderSource(
            camera, images, fps=fps, loop=loop, clock=clock, sleep=sleep, realtime=paced
        )
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageFolderSource(
            camera, [path], fps=fps, loop=loop, clock=clock, sleep=sleep, realtime=paced
        )
    return VideoFileSource(
        camera,
        path,
        fps=fps,
        loop=loop,
        clock=clock,
        sleep=sleep,
        realtime=paced,
        capture_factory=capture_factory,
    )


class FrameSource(ABC):
    """A camera's frames. Iterate :meth:`frames`; call :meth:`close` (or use ``with``) after."""

    #: frames read but never given to the consumer (a live source faster than it); 0 for
    #: files, which are read as fast as they are processed
    dropped: int = 0

    def __init__(self, camera: str, *, fps: float, clock: Clock, sleep: Sleep) -> None:
        self.camera = camera
        #: the target rate: frames are yielded at most this often (in source time)
        self.fps = float(fps)
        self._clock = clock
        self._sleep = sleep
        #: wall time when the source was opened; file timestamps are this plus pts
        self.opened_at = clock()
        self._closed = threading.Event()

    @property
    @abstractmethod
    def kind(self) -> SourceKind:
        """What the source is: image folder, video file, network stream or USB camera."""

    @property
    @abstractmethod
    def total_frames(self) -> int | None:
        """Frames in the file or folder (indices run 0 .. total-1); None for live or loop."""

    @property
    @abstractmethod
    def native_fps(self) -> float | None:
        """The source's own frame rate, when known."""

    @abstractmethod
    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """Yield frames until the source ends, ``stop`` is set, or :meth:`close` is called."""

    def close(self) -> None:
        """Stop any running :meth:`frames` iteration and release the device or file."""
        self._closed.set()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _stopped(self, stop: threading.Event | None) -> bool:
        return self._closed.is_set() or (stop is not None and stop.is_set())

    def _wait(self, stop: threading.Event | None, delay: float) -> bool:
        """Wait ``delay`` seconds, waking early when ``stop`` is set; True when stopped."""
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                self._sleep(delay)
        return self._stopped(stop)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(camera={self.camera!r}, kind={self.kind.value!r})"


class _Sampler:
    """Keeps a frame when its time reaches the next sampling time, one every ``1/fps`` s.

    Sampling times advance by exactly one period, so the average rate is ``fps`` even when the
    native rate is not a multiple of it; after a gap they restart from the late frame.
    """

    def __init__(self, fps: float, slack: float) -> None:
        self._step = 1.0 / fps
        self._slack = slack
        self._next: float | None = None

    def due(self, t: float) -> bool:
        """True when a frame at ``t`` would be kept (nothing changes)."""
        return self._next is None or t >= self._next - self._slack

    def keep(self, t: float) -> bool:
        """Keep the frame at ``t`` when it is due (the next sampling time moves on)."""
        if not self.due(t):
            return False
        due = t if self._next is None else self._next
        self._next = due + self._step
        if self._next <= t:
            self._next = t + self._step
        return True


class _Pacer:
    """Sleeps so that file frames come out at their own timing (``realtime=True``)."""

    def __init__(self, source: FrameSource, enabled: bool) -> None:
        self._source = source
        self._enabled = enabled
        self._origin: tuple[float, float] | None = None

    def wait_for(self, pts: float, stop: threading.Event | None) -> bool:
        """Wait until ``pts`` is due; True when stopped meanwhile."""
        if not self._enabled:
            return False
        now = self._source._clock()
        if self._origin is None:
            self._origin = (now, pts)
            return False
        start, pts0 = self._origin
        return self._source._wait(stop, start + (pts - pts0) - now)


class _CaptureSource(FrameSource):
    """A source read through an OpenCV-like capture that another thread may close."""

    def __init__(self, camera: str, *, fps: float, clock: Clock, sleep: Sleep) -> None:
        super().__init__(camera, fps=fps, clock=clock, sleep=sleep)
        self._lock = threading.Lock()
        self._cap: CaptureLike | None = None

    def close(self) -> None:
        super().close()
        # Release now unless frames() is inside a (possibly blocking) read; then it will.
        if self._lock.acquire(blocking=False):
            try:
                if self._cap is not None:
                    self._cap.release()
                    self._cap = None
            finally:
                self._lock.release()

    def _release(self) -> None:
        with self._lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None


class VideoFileSource(_CaptureSource):
    """A video file decoded with OpenCV, subsampled to the target fps by presentation time."""

    def __init__(
        self,
        camera: str,
        path: Path,
        *,
        fps: float,
        loop: bool = False,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        realtime: bool = False,
        capture_factory: CaptureFactory = default_capture_factory,
        max_bad_reads: int = MAX_BAD_READS,
    ) -> None:
        super().__init__(camera, fps=fps, clock=clock, sleep=sleep)
        self.path = path
        self.loop = loop
        self._realtime = realtime
        self._factory = capture_factory
        self._max_bad_reads = max_bad_reads
        cap = self._open()
        try:
            native = cap.get(cv2.CAP_PROP_FPS)
            count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        finally:
            cap.release()
        if native and 0 < native < 1000:
            self._native_fps = float(native)
        else:
            log.warning(
                "camera %s: %s reports no frame rate (%r); assuming %g fps",
                camera,
                path,
                native,
                fps,
            )
            self._native_fps = float(fps)
        self._frame_count = int(count) if count and count > 0 else None

    @property
    def kind(self) -> SourceKind:
        return SourceKind.VIDEO

    @property
    def total_frames(self) -> int | None:
        return None if self.loop else self._frame_count

    @property
    def native_fps(self) -> float:
        return self._native_fps

    def _open(self) -> CaptureLike:
        cap = self._factory(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(
                f"camera {self.camera!r}: cannot decode video file {str(self.path)!r}; "
                "check that it is a complete video OpenCV can read (e.g. mp4/H.264)"
            )
        return cap

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        sampler = _Sampler(self.fps, slack=1e-6)
        pacer = _Pacer(self, self._realtime)
        offset = 0  # decoder index of this pass's first frame (grows when looping)
        try:
            while not self._stopped(stop):
                try:
                    cap = self._open()
                except SourceError as exc:  # the file vanished or broke between passes
                    log.warning("%s", exc)
                    return
                with self._lock:
                    self._cap = cap
                decoded = 0  # frames read in this pass, good or bad
                end_of_good = 0  # decoded count just after the last good frame
                good = 0
                bad_run = 0
                while not self._stopped(stop):
                    index = offset + decoded
                    pts = index / self._native_fps
                    # the pts is known before decoding: a frame the sampler drops is only
                    # grabbed (the decoder advances), a kept one is also retrieved
                    wanted = sampler.due(pts)
                    with self._lock:
                        if self._cap is None:
                            return
                        try:
                            ok = self._cap.grab()
                            raw = self._cap.retrieve()[1] if ok and wanted else None
                        except cv2.error as exc:
                            log.warning(
                                "camera %s: %s: decode error: %s", self.camera, self.path, exc
                            )
                            ok, raw = False, None
                    image = _to_bgr(raw) if ok and wanted else None
                    if not ok or (wanted and image is None):
                        at_end = self._frame_count is not None and decoded >= self._frame_count
                        if at_end or bad_run + 1 >= self._max_bad_reads:
                            self._log_end(offset, end_of_good, at_end)
                            break
                        bad_run += 1
                        decoded += 1
                        continue
                    if bad_run:
                        log.warning(
                            "camera %s: %s: skipped %d unreadable frame(s) at index %d",
                            self.camera,
                            self.path,
                            bad_run,
                            offset + decoded - bad_run,
                        )
                        bad_run = 0
                    decoded += 1
                    end_of_good = decoded
                    good += 1
                    if image is None or not sampler.keep(pts):
                        continue
                    if pacer.wait_for(pts, stop):
                        return
                    yield Frame(
                        camera=self.camera,
                        index=index,
                        timestamp=self.opened_at + pts,
                        pts=pts,
                        image=image,
                    )
                self._release()
                if not self.loop or self._stopped(stop):
                    return
                if good == 0:
                    log.warning(
                        "camera %s: %s gave no readable frame; not looping", self.camera, self.path
                    )
                    return
                # Unreadable frames at the end of a pass are not counted: the next pass
                # starts right after the last good frame, so pts stays evenly spaced.
                offset += end_of_good
        finally:
            self._release()

    def _log_end(self, offset: int, end_of_good: int, at_end: bool) -> None:
        count = self._frame_count
        if count is not None and end_of_good + 1 < count:
            log.warning(
                "camera %s: %s ends after %d readable frames of the %d its header announces "
                "(truncated or damaged file)",
                self.camera,
                self.path,
                end_of_good,
                count,
            )
        elif count is None and not at_end:
            log.debug(
                "camera %s: %s ended at frame %d", self.camera, self.path, offset + end_of_good
            )


class ImageFolderSource(FrameSource):
    """Still images played as frames at the target fps (pts = index / fps)."""

    def __init__(
        self,
        camera: str,
        paths: Sequence[Path],
        *,
        fps: float,
        loop: bool = False,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        realtime: bool = False,
    ) -> None:
        super().__init__(camera, fps=fps, clock=clock, sleep=sleep)
        self.paths = tuple(paths)
        self.loop = loop
        self._realtime = realtime

    @property
    def kind(self) -> SourceKind:
        return SourceKind.IMAGES

    @property
    def total_frames(self) -> int | None:
        return None if self.loop else len(self.paths)

    @property
    def native_fps(self) -> float:
        return self.fps

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        pacer = _Pacer(self, self._realtime)
        n = len(self.paths)
        index = 0
        while not self._stopped(stop):
            good = 0
            for path in self.paths:
                if self._stopped(stop):
                    return
                i = index
                index += 1
                image = _read_image(path)
                if image is None:
                    log.warning("camera %s: cannot read image %s; skipped", self.camera, path)
                    continue
                good += 1
                pts = i / self.fps
                if pacer.wait_for(pts, stop):
                    return
                yield Frame(
                    camera=self.camera,
                    index=i,
                    timestamp=self.opened_at + pts,
                    pts=pts,
                    image=image,
                )
            if not self.loop:
                return
            if good == 0:
                log.warning(
                    "camera %s: none of the %d images is readable; not looping", self.camera, n
                )
                return


class _Newest:
    """The newest frames a live source's reader kept, at most ``size``: a frame put
    while the buffer is full pushes out the oldest one (the consumer was too slow)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._frames: deque[Frame] = deque()
        self._cond = threading.Condition()
        self._ended = False

    def put(self, frame: Frame) -> bool:
        """Keep ``frame``; True when an older frame was dropped for it."""
        with self._cond:
            dropped = len(self._frames) >= self._size
            if dropped:
                self._frames.popleft()
            self._frames.append(frame)
            self._cond.notify()
            return dropped

    def end(self) -> None:
        """The reader is done: :meth:`take` returns None once the buffer is empty."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def take(self, stopped: Callable[[], bool]) -> Frame | None:
        """The oldest kept frame, waiting for one; None when stopped or ended."""
        with self._cond:
            while True:
                if stopped():
                    return None
                if self._frames:
                    return self._frames.popleft()
                if self._ended:
                    return None
                self._cond.wait(TAKE_POLL)


class LiveSource(_CaptureSource):
    """A network stream or USB camera, read on a thread of its own (the newest frame is
    kept, older ones not taken are dropped) and reconnected with exponential backoff."""

    def __init__(
        self,
        camera: str,
        source: str | int,
        *,
        fps: float,
        clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        capture_factory: CaptureFactory = default_capture_factory,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        buffer: int = 1,
    ) -> None:
        super().__init__(camera, fps=fps, clock=clock, sleep=sleep)
        if buffer < 1:
            raise SourceError(f"camera {camera!r}: buffer must hold a frame, got {buffer!r}")
        if not 0 < backoff_initial <= backoff_max:
            raise SourceError(
                f"camera {camera!r}: need 0 < backoff_initial <= backoff_max, got "
                f"{backoff_initial!r} and {backoff_max!r}"
            )
        self.source = source
        self._factory = capture_factory
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._native_fps: float | None = None
        #: how many times the stream was (re)opened successfully
        self.connects = 0
        #: sampled frames the consumer never got: a newer one came before it asked
        self.dropped = 0
        #: frames kept for a consumer slower than the stream (the newest ones)
        self._buffer = buffer

    @property
    def kind(self) -> SourceKind:
        return SourceKind.USB if isinstance(self.source, int) else SourceKind.STREAM

    @property
    def total_frames(self) -> None:
        return None

    @property
    def native_fps(self) -> float | None:
        return self._native_fps

    @property
    def display_name(self) -> str:
        """The source for logs: URL passwords are masked."""
        if isinstance(self.source, int):
            return f"USB camera {self.source}"
        return _redact(self.source)

    def frames(self, stop: threading.Event | None = None) -> Iterator[Frame]:
        """The newest sampled frame each time; frames read meanwhile are dropped (counted)."""
        newest = _Newest(self._buffer)
        halt = threading.Event()
        reader = threading.Thread(
            target=self._read, args=(stop, halt, newest), name=f"source-{self.camera}", daemon=True
        )
        reader.start()
        try:
            while True:
                frame = newest.take(lambda: self._stopped(stop))
                if frame is None:
                    return
                yield frame
        finally:
            halt.set()
            if self._cap is not None:  # the reader lets go of the device at its next read
                reader.join(READER_JOIN)

    def _read(self, stop: threading.Event | None, halt: threading.Event, newest: _Newest) -> None:
        """The reader thread: connect, read, sample, reconnect with backoff; each kept frame
        goes to ``newest``, replacing one the consumer has not taken yet."""
        sampler = _Sampler(self.fps, slack=0.1 / self.fps)
        delay = self._backoff_initial
        attempt = 0
        index = 0  # frames read from the device since open, kept or not

        def stopped() -> bool:
            return halt.is_set() or self._stopped(stop)

        try:
            while not stopped():
                cap = self._connect()
                if cap is None:
                    attempt += 1
                    log.warning(
                        "camera %s: cannot open %s (attempt %d); retrying in %.1f s",
                        self.camera,
                        self.display_name,
                        attempt,
                        delay,
                    )
                    if self._wait(stop, delay) or stopped():
                        return
                    delay = min(delay * 2.0, self._backoff_max)
                    continue
                log.info("camera %s: connected to %s", self.camera, self.display_name)
                while not stopped():
                    with self._lock:
                        if self._cap is None:
                            return
                        try:
                            ok = self._cap.grab()
                            now = self._clock()
                            # a frame the sampler drops is not converted nor copied
                            wanted = ok and sampler.due(now)
                            raw = self._cap.retrieve()[1] if wanted else None
                        except cv2.error as exc:
                            log.warning("camera %s: read error: %s", self.camera, exc)
                            ok, wanted, raw = False, False, None
                    image = _to_bgr(raw) if wanted else None
                    if not ok or (wanted and image is None):
                        break
                    i = index
                    index += 1
                    if attempt or delay != self._backoff_initial:
                        attempt = 0
                        delay = self._backoff_initial
                    if image is None or not sampler.keep(now):
                        continue
                    frame = Frame(
                        camera=self.camera,
                        index=i,
                        timestamp=now,
                        pts=now - self.opened_at,
                        image=image,
                    )
                    if newest.put(frame):
                        self.dropped += 1
                self._release()
                if stopped():
                    return
                attempt += 1
                log.warning(
                    "camera %s: stream %s dropped (reconnect attempt %d); retrying in %.1f s",
                    self.camera,
                    self.display_name,
                    attempt,
                    delay,
                )
                if self._wait(stop, delay) or stopped():
                    return
                delay = min(delay * 2.0, self._backoff_max)
        except Exception:  # never a silent end: the camera's thread would wait for ever
            log.exception("camera %s: reading %s failed", self.camera, self.display_name)
        finally:
            self._release()
            newest.end()

    def _connect(self) -> CaptureLike | None:
        try:
            cap = self._factory(self.source)
        except Exception as exc:  # a broken backend must not kill the camera thread
            log.warning("camera %s: opening %s failed: %s", self.camera, self.display_name, exc)
            return None
        if not cap.isOpened():
            cap.release()
            return None
        native = cap.get(cv2.CAP_PROP_FPS)
        if native and 0 < native < 1000:
            self._native_fps = float(native)
        with self._lock:
            self._cap = cap
        self.connects += 1
        return cap


def _is_url(source: str) -> bool:
    scheme, sep, _ = source.strip().partition("://")
    return bool(sep) and scheme.lower() in STREAM_SCHEMES


def _redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (camera URLs often embed credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username or ''}:***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    parts = re.split(r"(\d+)", path.name.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p)


def _list_images(folder: Path) -> list[Path]:
    images = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return sorted(images, key=lambda p: (_natural_key(p), p.name))


def _read_image(path: Path) -> Image | None:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    try:
        decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    return _to_bgr(decoded)


def _to_bgr(raw: object) -> Image | None:
    """``raw`` as a BGR uint8 image, or None when it is empty or not an 8-bit image."""
    if not isinstance(raw, np.ndarray) or raw.size == 0 or raw.dtype != np.uint8:
        return None
    if raw.ndim == 2 or (raw.ndim == 3 and raw.shape[2] == 1):
        return np.ascontiguousarray(cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if raw.ndim == 3 and raw.shape[2] == 4:
        return np.ascontiguousarray(cv2.cvtColor(raw, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    if raw.ndim == 3 and raw.shape[2] == 3:
        return raw
    return None
