"""Clips of events: a frame ring per camera, and a writer thread per camera feeding ffmpeg.

Threads and who does what:

* the **camera thread** calls :meth:`CameraClips.push` with every frame: the frame is
  JPEG-encoded into the ring (the last ``clips.buffer`` seconds, bounded in bytes too) and,
  while a clip is open, handed to the writer's bounded queue — never waiting: when the
  queue is full the frame is dropped and counted (the clip holds the previous frame);
* the **dispatcher thread** calls :meth:`ClipRecorder.submit` after the events are stored:
  a request that starts inside the camera's open clip extends it (up to ``max_length``) and
  its row points to the same file; otherwise a new clip starts with the ring's frames from
  ``start`` on (the ring covers ``pre`` plus how far the rules lag behind the camera);
* the **writer thread** decodes the frames and pipes them raw to ffmpeg (libx264,
  yuv420p), resampled to the camera's fps by their timestamps (so the clip lasts what the
  frames span), into ``<event>.mp4.part`` — a fragmented MP4 that stays playable if the
  process is killed — then remuxes it with ``+faststart`` and renames it.

ffmpeg runs in a session of its own: a stop signal sent to Guardian's process group
(Ctrl-C in a terminal, ``systemctl stop``, ``timeout``) does not reach it, so the open clip
ends with the frames it has. An encoder that dies anyway (a signal sent to every process
of the service) leaves its ``.part``, which is kept as the clip, "cut short".

At start-up :meth:`ClipRecorder.recover` turns ``.part`` files left by a crash into MP4s
and marks rows whose frames are gone as skipped. A full disk (below ``clips.min_free``)
or any OSError while writing skips the clip with the reason (keeping what was already
written when it plays); events and alerts go on.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import cv2
import imageio_ffmpeg
import numpy as np

from guardian.clips.drawing import (
    decode_jpeg,
    draw_snapshot,
    encode_jpeg,
    scale_polygon,
    scale_tracks,
    thumbnail,
)
from guardian.clips.paths import PART_SUFFIX, clip_stem, resolve_clip_path
from guardian.config.clips import ClipsConfig, format_size
from guardian.config.zones import ZoneConfig
from guardian.effects import ClipRequest, Effects
from guardian.records import Clip, Event, Frame, Observation, Track
from guardian.store import clip_row_id

log = logging.getLogger("guardian.clips")

#: reason given to clips that a restart interrupted
CUT_SHORT = "cut short by a restart"
#: reason given to requests whose frames a restart lost
FRAMES_LOST = "the frames were lost in a restart before the clip was written"


class ClipRows(Protocol):
    """Where clip rows are kept: the site's ``store.clip_log``, or on a camera worker a
    log that sends each change to the site (guardian.mqtt.worker)."""

    def update(self, clip_ids: Iterable[str], **fields: Any) -> None: ...

    def find(
        self, *, since: float | None = None, status: str | None = None, path: str | None = None
    ) -> list[Clip]: ...


class ClipTaker(Protocol):
    """Keeps one camera's clips: its ring here (:class:`CameraClips`), or the camera
    worker that runs it, asked over MQTT (guardian.mqtt.remote)."""

    def request(
        self, request: ClipRequest, event: Event | None, observation: Observation | None
    ) -> None: ...


class ClipStore(Protocol):
    """What the recorder needs of a store: its clip rows (a :class:`guardian.store.Store`)."""

    @property
    def clip_log(self) -> ClipRows: ...


@dataclass(frozen=True, slots=True)
class BufferedFrame:
    """One frame kept compact (JPEG) in a camera's ring."""

    index: int
    timestamp: float
    width: int
    height: int
    jpeg: bytes
    #: from the camera's record stream (its index is that stream's, not the detect one's)
    record: bool = False


class FrameRing:
    """The last ``seconds`` of one camera's frames, at most ``max_bytes`` of JPEG."""

    def __init__(self, seconds: float, max_bytes: int) -> None:
        self.seconds = seconds
        self.max_bytes = max_bytes
        self.frames: deque[BufferedFrame] = deque()
        self.bytes = 0

    def add(self, frame: BufferedFrame) -> None:
        self.frames.append(frame)
        self.bytes += len(frame.jpeg)
        horizon = frame.timestamp - self.seconds
        while len(self.frames) > 1 and (
            self.frames[0].timestamp < horizon or self.bytes > self.max_bytes
        ):
            old = self.frames.popleft()
            self.bytes -= len(old.jpeg)

    def since(self, start: float) -> list[BufferedFrame]:
        return [f for f in self.frames if f.timestamp >= start]

    def find(self, index: int, timestamp: float) -> BufferedFrame | None:
        """The detect frame with this index, else the frame nearest ``timestamp`` (a camera
        that records from its record stream: its frames are found by time)."""
        best: BufferedFrame | None = None
        for f in self.frames:
            if f.index == index and not f.record:
                return f
            if best is None or abs(f.timestamp - timestamp) < abs(best.timestamp - timestamp):
                best = f
        return best

    @property
    def latest(self) -> float | None:
        return self.frames[-1].timestamp if self.frames else None


@dataclass(eq=False)
class Recording:
    """One clip file being written (mutable; shared by the camera and dispatcher threads
    under the camera's lock, read by its writer)."""

    rec_id: int
    camera: str
    start: float
    end: float
    cap: float
    path: str  # relative to the clips folder
    clip_ids: list[str] = field(default_factory=list)
    #: the ring held frames from before ``start``: the clip begins exactly at ``start``
    from_start: bool = False
    #: a frame after ``end`` was seen: the clip ends exactly at ``end``
    complete: bool = False


@dataclass(frozen=True, slots=True)
class _Start:
    rec: Recording
    backlog: tuple[BufferedFrame, ...]


@dataclass(frozen=True, slots=True)
class _Frame:
    rec_id: int
    frame: BufferedFrame


@dataclass(frozen=True, slots=True)
class _Finish:
    rec: Recording


@dataclass(frozen=True, slots=True)
class _Pictures:
    clip_ids: tuple[str, ...]
    frame: BufferedFrame
    tracks: tuple[Track, ...]
    zones: tuple[ZoneConfig, ...]
    thumbnail: str
    snapshot: str
    #: the size of the detect frame the tracks are in (None: the picture's own size)
    detect_size: tuple[int, int] | None = None


@dataclass(frozen=True, slots=True)
class WriterStats:
    """What a camera's clip writer did so far."""

    clips_written: int
    clips_skipped: int
    frames_written: int
    frames_dropped: int


class _Job:
    """The writer's state for the recording it is encoding."""

    def __init__(self, rec: Recording, part: Path, final: Path) -> None:
        self.rec = rec
        self.part = part
        self.final = final
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr: IO[bytes] | None = None
        self.size: tuple[int, int] | None = None
        self.t0: float | None = None
        self.slots = 0
        self.prev: BufferedFrame | None = None
        self.prev_raw: bytes | None = None
        self.failed: str | None = None


class ClipWriter(threading.Thread):
    """One camera's writer: a bounded frame queue in, MP4 files out."""

    def __init__(
        self,
        camera: str,
        fps: float,
        config: ClipsConfig,
        store: ClipStore,
        clips_dir: Path,
        ffmpeg: str,
    ) -> None:
        super().__init__(name=f"clips-{camera}", daemon=True)
        self.camera = camera
        self.fps = fps
        self.config = config
        self.store = store
        self.clips_dir = clips_dir
        self.ffmpeg = ffmpeg
        self._items: deque[object] = deque()
        self._frames_queued = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._busy = False
        self._job: _Job | None = None
        self.written = 0
        self.skipped = 0
        self.frames_written = 0
        self.dropped = 0

    # -- producer side (any thread; never blocks) -------------------------------------
    def put_frame(self, rec_id: int, frame: BufferedFrame) -> bool:
        with self._cond:
            if self._frames_queued >= self.config.queue:
                self.dropped += 1
                return False
            self._items.append(_Frame(rec_id, frame))
            self._frames_queued += 1
            self._cond.notify()
            return True

    def put(self, item: object) -> None:
        """A control item (start, finish, pictures): always queued."""
        with self._cond:
            self._items.append(item)
            self._cond.notify()

    def stop_when_done(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything queued so far is handled; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._items or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True

    @property
    def stats(self) -> WriterStats:
        return WriterStats(self.written, self.skipped, self.frames_written, self.dropped)

    # -- the thread ----------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._stopping:
                    self._cond.wait()
                if not self._items:
                    return
                item = self._items.popleft()
                if isinstance(item, _Frame):
                    self._frames_queued -= 1
                self._busy = True
            try:
                self._handle(item)
            except Exception:
                log.exception("clip writer %s: unexpected error", self.camera)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _handle(self, item: object) -> None:
        if isinstance(item, _Start):
            self._start(item)
        elif isinstance(item, _Frame):
            job = self._job
            if job is not None and job.rec.rec_id == item.rec_id:
                self._add(job, item.frame)
        elif isinstance(item, _Finish):
            job = self._job
            if job is not None and job.rec.rec_id == item.rec.rec_id:
                self._finish(job)
                self._job = None
        elif isinstance(item, _Pictures):
            self._pictures(item)

    def _start(self, item: _Start) -> None:
        if self._job is not None:  # a finish was lost: close the previous clip first
            self._finish(self._job)
        rec = item.rec
        final = resolve_clip_path(self.clips_dir, rec.path)
        job = _Job(rec, final.with_name(final.name + PART_SUFFIX), final)
        self._job = job
        low = self._low_space()
        if low is not None:
            job.failed = low
            return
        for frame in item.backlog:
            self._add(job, frame)

    def _low_space(self) -> str | None:
        if self.config.min_free <= 0:
            return None
        try:
            self.clips_dir.mkdir(parents=True, exist_ok=True)
            free = shutil.disk_usage(self.clips_dir).free
        except OSError as exc:
            return f"cannot use the clips folder: {exc}"
        if free < self.config.min_free:
            return (
                f"disk nearly full: {format_size(free)} free, below clips.min_free "
                f"{format_size(self.config.min_free)}"
            )
        return None

    def _open(self, job: _Job, width: int, height: int) -> None:
        job.final.parent.mkdir(parents=True, exist_ok=True)
        job.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _finish)
        argv = [
            self.ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "bgr24",
            "-s",
            f"{width}x{height}",
            "-framerate",
            f"{self.fps:g}",
            "-i",
            "-",
            "-vf",
            "scale=trunc(iw/2)*2:trunc(ih/2)*2",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-tune",
            "zerolatency",  # no lookahead: what was pushed is on disk a second later
            "-crf",
            str(self.config.crf),
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(max(1, round(self.fps))),
            "-threads",
            "2",
            "-movflags",
            "+frag_keyframe+empty_moov+default_base_moof",
            "-flush_packets",
            "1",
            "-f",
            "mp4",
            str(job.part),
        ]
        job.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=job.stderr,
            # a session of its own: Ctrl-C in a terminal, `systemctl stop` or `timeout`
            # signal Guardian's process group, and the encoder must outlive that signal to
            # be handed the last frames and close the file (on a hard kill of Guardian it
            # reads end-of-input and closes the .part, recovered at the next start)
            start_new_session=True,
        )
        job.size = (width, height)

    def _raw(self, job: _Job, frame: BufferedFrame) -> bytes:
        image = decode_jpeg(frame.jpeg)
        assert job.size is not None
        if (image.shape[1], image.shape[0]) != job.size:
            image = np.asarray(cv2.resize(image, job.size), np.uint8)
        return bytes(image.tobytes())

    def _emit(self, job: _Job, until: float, inclusive: bool) -> None:
        """Write the held frame into every output slot before ``until``."""
        assert job.t0 is not None and job.proc is not None and job.proc.stdin is not None
        while True:
            slot = job.t0 + job.slots / self.fps
            if slot > until or (slot == until and not inclusive):
                break
            if job.prev_raw is None:
                assert job.prev is not None
                job.prev_raw = self._raw(job, job.prev)
            job.proc.stdin.write(job.prev_raw)
            job.slots += 1

    def _add(self, job: _Job, frame: BufferedFrame) -> None:
        if job.failed is not None:
            return
        try:
            if job.prev is None:
                self._open(job, frame.width, frame.height)
                # the clip starts at the requested time when the ring reaches back to it
                late = frame.timestamp - job.rec.start
                job.t0 = job.rec.start if job.rec.from_start and late >= 0 else frame.timestamp
            elif frame.timestamp <= job.prev.timestamp:
                return  # out of order or repeated
            else:
                self._emit(job, (job.prev.timestamp + frame.timestamp) / 2, inclusive=False)
            job.prev, job.prev_raw = frame, None
        except OSError as exc:
            self._fail(job, exc)

    def _fail(self, job: _Job, exc: BaseException) -> None:
        detail = self._stderr_tail(job)
        job.failed = f"writing the clip failed: {detail or exc}"
        log.warning("camera %s: clip %s skipped: %s", self.camera, job.rec.path, job.failed)
        if job.proc is not None:
            job.proc.kill()
            job.proc.wait()

    @staticmethod
    def _stderr_tail(job: _Job) -> str:
        if job.stderr is None:
            return ""
        try:
            job.stderr.seek(0)
            text = job.stderr.read().decode(errors="replace").strip()
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return " / ".join(lines[-2:])[:300]

    def _finish(self, job: _Job) -> None:
        rec = job.rec
        ids = list(rec.clip_ids)
        try:
            if job.failed is None and job.prev is not None:
                try:
                    last = job.prev.timestamp
                    # up to the requested end when the frames reach it, else the last frame's
                    limit = job.rec.end if job.rec.complete else last
                    self._emit(job, max(limit, last + 0.5 / self.fps) - 1e-6, inclusive=False)
                    assert job.proc is not None and job.proc.stdin is not None
                    job.proc.stdin.close()
                except OSError as exc:
                    self._fail(job, exc)
                if job.failed is None:
                    assert job.proc is not None
                    code = job.proc.wait()
                    if code != 0:
                        how = f"signal {-code}" if code < 0 else f"exit {code}"
                        tail = self._stderr_tail(job) or "no output"
                        job.failed = f"ffmpeg failed ({how}): {tail}"
                    else:
                        error = finalize_part(self.ffmpeg, job.part, job.final)
                        if error is not None:
                            job.failed = f"finishing the clip failed: {error}"
            elif job.failed is None:
                job.failed = "no frames of this camera in the clip's time span"
        finally:
            if job.stderr is not None:
                job.stderr.close()
        if job.failed is not None:
            if self._salvage(job):
                return
            for path in (job.part, job.final):
                path.unlink(missing_ok=True)
            self.skipped += 1
            self.store.clip_log.update(ids, status="skipped", reason=job.failed)
            log.warning("camera %s: clip %s skipped: %s", self.camera, rec.path, job.failed)
            return
        assert job.t0 is not None and job.prev is not None
        self.written += 1
        self.frames_written += job.slots
        duration = job.slots / self.fps
        self.store.clip_log.update(
            ids,
            status="written",
            reason="",
            size_bytes=job.final.stat().st_size,
            frames=job.slots,
            duration=duration,
            start=job.t0,
            end=job.t0 + duration,
        )
        log.info("camera %s: clip %s written (%.1f s)", self.camera, rec.path, duration)

    def _salvage(self, job: _Job) -> bool:
        """Keep what the encoder wrote before it failed or was stopped: True when kept.

        The ``.part`` is a fragmented MP4, playable up to its last fragment even when
        ffmpeg was killed (a stop signal sent to every process of a service, a crash).
        """
        if job.proc is None or job.part.is_symlink() or not job.part.is_file():
            return False
        if job.proc.poll() is None:
            job.proc.kill()
            job.proc.wait()
        if job.part.stat().st_size == 0 or finalize_part(self.ffmpeg, job.part, job.final):
            return False
        frames, duration = probe_video(self.ffmpeg, job.final)
        if frames == 0:
            job.final.unlink(missing_ok=True)
            return False
        reason = f"cut short: {job.failed}"
        assert job.t0 is not None
        self.written += 1
        self.frames_written += frames
        self.store.clip_log.update(
            list(job.rec.clip_ids),
            status="written",
            reason=reason,
            size_bytes=job.final.stat().st_size,
            frames=frames,
            duration=duration,
            start=job.t0,
            end=job.t0 + duration,
        )
        log.warning(
            "camera %s: clip %s kept with %.1f s: %s", self.camera, job.rec.path, duration, reason
        )
        return True

    def _pictures(self, item: _Pictures) -> None:
        try:
            if self._low_space() is not None:
                raise OSError("disk nearly full")
            image = decode_jpeg(item.frame.jpeg)
            height, width = image.shape[:2]
            # tracks and pixel zones are in detect-frame pixels: scaled to this picture's
            # (a frame of the record stream is bigger than the detect stream's)
            dw, dh = (
                item.detect_size
                if item.detect_size and min(item.detect_size) > 0
                else (width, height)
            )
            sx, sy = width / dw, height / dh
            polygons = [(z.name, scale_polygon(z.polygon_px(dw, dh), sx, sy)) for z in item.zones]
            snap = draw_snapshot(image, scale_tracks(item.tracks, sx, sy), polygons)
            _write_file(resolve_clip_path(self.clips_dir, item.snapshot), encode_jpeg(snap, 85))
            _write_file(
                resolve_clip_path(self.clips_dir, item.thumbnail),
                encode_jpeg(thumbnail(image), self.config.quality),
            )
        except (OSError, ValueError) as exc:
            log.warning("camera %s: pictures %s not written: %s", self.camera, item.snapshot, exc)
            self.store.clip_log.update(item.clip_ids, thumbnail_path=None, snapshot_path=None)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def finalize_part(ffmpeg: str, part: Path, final: Path) -> str | None:
    """Remux a fragmented ``.part`` into a faststart MP4 at ``final``; the error, or None."""
    tmp = final.with_name(final.name + ".tmp")
    done = subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(part),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(tmp),
        ],
        capture_output=True,
        check=False,
        start_new_session=True,  # not stopped half-way by a signal to Guardian's group
    )
    if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        return " / ".join(lines[-2:])[:300] or f"ffmpeg exited {done.returncode}"
    os.replace(tmp, final)
    part.unlink(missing_ok=True)
    return None


class CameraClips:
    """One camera's ring and open clip; :meth:`push` is called by the camera thread."""

    def __init__(
        self,
        camera: str,
        fps: float,
        config: ClipsConfig,
        recorder: ClipRecorder,
    ) -> None:
        self.camera = camera
        self.fps = fps
        self.config = config
        self.recorder = recorder
        self.ring = FrameRing(config.buffer, config.buffer_memory)
        self.writer = ClipWriter(
            camera, fps, config, recorder.store, recorder.clips_dir, recorder.ffmpeg
        )
        self.active: Recording | None = None
        self._lock = threading.Lock()

    def push(self, frame: Frame, *, record: bool = False) -> None:
        """Keep the frame (JPEG) and pass it on to an open clip. Never blocks on the writer.

        ``record``: the frame comes from the camera's record stream, not the detect one."""
        jpeg = encode_jpeg(frame.image, self.config.quality)
        kept = BufferedFrame(frame.index, frame.timestamp, frame.width, frame.height, jpeg, record)
        with self._lock:
            self.ring.add(kept)
            rec = self.active
            if rec is None:
                return
            if kept.timestamp > rec.end:
                rec.complete = True
                self.active = None
                self.writer.put(_Finish(rec))
            elif kept.timestamp >= rec.start:
                self.writer.put_frame(rec.rec_id, kept)

    def request(
        self, request: ClipRequest, event: Event | None, observation: Observation | None
    ) -> None:
        """Start or extend a clip for ``request`` (its row is already stored as pending)."""
        clip_id = clip_row_id(request.event_id, request.camera)
        when = event.started_at if event is not None else request.start + self.config.pre
        stem = clip_stem(self.camera, request.event_id, when, self.recorder.timezone)
        pictures: _Pictures | None = None
        queued: list[object] = []
        with self._lock:
            rec = self.active
            if rec is not None and request.start <= rec.end:
                rec.end = min(max(rec.end, request.end), rec.cap)
                rec.clip_ids.append(clip_id)
            else:
                if rec is not None:  # starts after the open clip's end: close that one
                    self.active = None
                    queued.append(_Finish(rec))
                rec = Recording(
                    rec_id=self.recorder.next_id(),
                    camera=self.camera,
                    start=request.start,
                    end=min(request.end, request.start + self.config.max_length),
                    cap=request.start + self.config.max_length,
                    path=f"{stem}.mp4",
                    clip_ids=[clip_id],
                )
                backlog = tuple(f for f in self.ring.since(rec.start) if f.timestamp <= rec.end)
                oldest = self.ring.frames[0].timestamp if self.ring.frames else None
                rec.from_start = oldest is not None and oldest < rec.start
                latest = self.ring.latest
                rec.complete = latest is not None and latest > rec.end
                queued.append(_Start(rec, backlog))
                if rec.complete:
                    queued.append(_Finish(rec))  # every frame it needs was in the ring
                else:
                    self.active = rec
            frame = None
            if event is not None:
                frame = self.ring.find(event.frame_index, event.started_at)
            if frame is None and self.ring.frames:
                frame = self.ring.find(-1, when)
            if frame is not None:
                tracks: tuple[Track, ...] = ()
                detect_size: tuple[int, int] | None = None
                if observation is not None and observation.camera == self.camera:
                    tracks = observation.tracks
                    detect_size = (observation.width, observation.height)
                pictures = _Pictures(
                    (clip_id,),
                    frame,
                    tuple(tracks),
                    self.recorder.zones_for(self.camera),
                    f"{stem}.jpg",
                    f"{stem}-snapshot.jpg",
                    detect_size,
                )
                queued.append(pictures)
            # before the writer can finish it (it then writes the final status); the camera
            # thread waits for this one small write only on a frame that has an event
            self.recorder.store.clip_log.update(
                [clip_id],
                status="recording",
                path=rec.path,
                start=rec.start,
                end=rec.end,
                thumbnail_path=pictures.thumbnail if pictures else None,
                snapshot_path=pictures.snapshot if pictures else None,
            )
            for item in queued:
                self.writer.put(item)

    def finish(self) -> None:
        """Close the open clip with the frames it has (the camera stopped)."""
        with self._lock:
            if self.active is not None:
                self.writer.put(_Finish(self.active))
                self.active = None


class ClipRecorder:
    """Every camera's clips for one site (see the module's docstring)."""

    def __init__(
        self,
        config: ClipsConfig,
        store: ClipStore,
        clips_dir: Path,
        *,
        timezone: str,
        cameras: Mapping[str, float],
        zones: Sequence[ZoneConfig] = (),
        ffmpeg: str | None = None,
        remote: Mapping[str, ClipTaker] | None = None,
    ) -> None:
        """``cameras``: id → fps of the cameras that can produce events and whose frames
        come here; ``remote``: the cameras run by workers, whose clips they write."""
        self.config = config
        self.store = store
        self.clips_dir = clips_dir
        self.timezone = timezone
        self.zones = tuple(zones)
        self.ffmpeg = ffmpeg or imageio_ffmpeg.get_ffmpeg_exe()
        self._ids = 0
        self._id_lock = threading.Lock()
        self.cameras: dict[str, CameraClips] = {
            cam: CameraClips(cam, fps, config, self) for cam, fps in cameras.items()
        }
        self.remote: dict[str, ClipTaker] = dict(remote or {})
        self._started = False

    def next_id(self) -> int:
        with self._id_lock:
            self._ids += 1
            return self._ids

    def zones_for(self, camera: str) -> tuple[ZoneConfig, ...]:
        return tuple(z for z in self.zones if z.camera == camera)

    def camera(self, camera: str) -> CameraClips | None:
        return self.cameras.get(camera)

    def start(self) -> None:
        if not self._started:
            self._started = True
            for cam in self.cameras.values():
                cam.writer.start()

    # -- dispatcher side -------------------------------------------------------------------
    def add_defaults(self, events: Iterable[Event], effects: Effects) -> None:
        """Give every event without a clip request one with the default pre/post."""
        have = {(c.event_id, c.camera) for c in effects.clips}
        for event in events:
            if (event.event_id, event.camera) not in have:
                effects.record_clip(
                    ClipRequest(
                        event.event_id,
                        event.camera,
                        event.started_at - self.config.pre,
                        event.started_at + self.config.post,
                    )
                )

    def submit(
        self,
        requests: Iterable[ClipRequest],
        events: Sequence[Event],
        observation: Observation | None = None,
    ) -> None:
        """Start or extend clips for stored requests (after the commit)."""
        by_id = {e.event_id: e for e in events}
        for request in requests:
            cam: ClipTaker | None = self.cameras.get(request.camera) or self.remote.get(
                request.camera
            )
            if cam is None:
                self.store.clip_log.update(
                    [clip_row_id(request.event_id, request.camera)],
                    status="skipped",
                    reason=f"camera '{request.camera}' keeps no frames for clips",
                )
                continue
            try:
                cam.request(request, by_id.get(request.event_id), observation)
            except Exception as exc:  # a clip never stops events or alerts
                log.exception("camera %s: clip request failed", request.camera)
                self.store.clip_log.update(
                    [clip_row_id(request.event_id, request.camera)],
                    status="skipped",
                    reason=f"clip request failed: {exc}",
                )

    def stats(self) -> dict[str, WriterStats]:
        return {cam: c.writer.stats for cam, c in self.cameras.items()}

    def wait_idle(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        return all(
            c.writer.wait_idle(max(0.0, deadline - time.monotonic())) for c in self.cameras.values()
        )

    def close(self, timeout: float = 60.0) -> None:
        """Finish open clips with the frames they have and stop the writers."""
        for cam in self.cameras.values():
            cam.finish()
            cam.writer.stop_when_done()
        deadline = time.monotonic() + timeout
        for cam in self.cameras.values():
            if cam.writer.is_alive():
                cam.writer.join(max(0.0, deadline - time.monotonic()))

    # -- start-up ------------------------------------------------------------------------
    def recover(self) -> RecoveryReport:
        """Turn ``.part`` files left by a crash into MP4s; skip rows whose frames are gone."""
        return recover(self.store, self.clips_dir, self.ffmpeg)


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What start-up recovery did."""

    recovered: tuple[str, ...]  # relative paths of MP4s made from .part files
    lost: tuple[str, ...]  # relative paths whose .part held no playable video
    skipped_rows: int


def recover(store: ClipStore, clips_dir: Path, ffmpeg: str | None = None) -> RecoveryReport:
    """See :meth:`ClipRecorder.recover`."""
    exe = ffmpeg or imageio_ffmpeg.get_ffmpeg_exe()
    recovered: list[str] = []
    lost: list[str] = []
    root = clips_dir.resolve()
    parts = sorted(root.rglob("*" + PART_SUFFIX)) if root.is_dir() else []
    for part in parts:
        _wait_until_settled(part)
        final = part.with_name(part.name[: -len(PART_SUFFIX)])
        relative = final.relative_to(root).as_posix()
        error = finalize_part(exe, part, final)
        if error is None:
            recovered.append(relative)
            size = final.stat().st_size
            frames, duration = probe_video(exe, final)
            ids = [c.clip_id for c in store.clip_log.find(path=relative) if c.status == "recording"]
            store.clip_log.update(
                ids,
                status="written",
                reason=CUT_SHORT,
                size_bytes=size,
                frames=frames,
                duration=duration,
            )
            log.warning("clip %s %s: recovered %.1f s", relative, CUT_SHORT, duration)
        else:
            part.unlink(missing_ok=True)
            lost.append(relative)
            log.warning("clip %s %s and held no playable video: %s", relative, CUT_SHORT, error)
    skipped = 0
    for clip in store.clip_log.find(status="recording"):
        final_ok = False
        if clip.path:
            try:
                final_ok = resolve_clip_path(clips_dir, clip.path).is_file()
            except ValueError:
                final_ok = False
        if final_ok:  # finished, but the row was not updated before the crash
            path = resolve_clip_path(clips_dir, clip.path)
            frames, duration = probe_video(exe, path)
            store.clip_log.update(
                [clip.clip_id],
                status="written",
                reason=CUT_SHORT,
                size_bytes=path.stat().st_size,
                frames=frames,
                duration=duration,
            )
        else:
            skipped += 1
            store.clip_log.update(
                [clip.clip_id], status="skipped", reason=f"{CUT_SHORT}: nothing was written"
            )
    pending = store.clip_log.find(status="pending")
    store.clip_log.update([c.clip_id for c in pending], status="skipped", reason=FRAMES_LOST)
    return RecoveryReport(tuple(recovered), tuple(lost), skipped + len(pending))


def _wait_until_settled(path: Path, quiet: float = 1.5, limit: float = 15.0) -> None:
    """Wait (at most ``limit`` s) until ``path`` went ``quiet`` s without a write.

    The encoder runs in its own session, so after a hard kill of Guardian it reads the end
    of its input and closes the ``.part`` by itself, a moment later: a restart right away
    must not remux the file under it.
    """
    deadline = time.monotonic() + limit
    while True:
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return
        left = deadline - time.monotonic()
        if age >= quiet or left <= 0:
            return
        time.sleep(min(quiet - age, left, 0.5))


def probe_video(ffmpeg: str, path: Path) -> tuple[int, float]:
    """(frames, seconds) of a video file, read with imageio-ffmpeg (0, 0.0 when unreadable)."""
    try:
        frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (RuntimeError, OSError, ValueError):
        return 0, 0.0
    return int(frames), float(seconds)


def cameras_with_events(
    cameras: Iterable[tuple[str, float]], rule_cameras: Iterable[frozenset[str]]
) -> dict[str, float]:
    """The (camera → fps) of ``cameras`` that some enabled rule watches (an empty set: all)."""
    scopes = list(rule_cameras)
    return {cam: fps for cam, fps in cameras if any(not scope or cam in scope for scope in scopes)}
