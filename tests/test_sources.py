"""Frame sources: video files, image folders, live streams (reconnect) and the real corpus."""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from corpus import require_corpus
from livecam import LiveCamera

from guardian.records import Frame
from guardian.sources import (
    FrameSource,
    LiveSource,
    SourceError,
    SourceKind,
    open_source,
)

W, H = 64, 48


def write_video(
    path: Path, n: int = 30, fps: float = 30.0, *, noise: bool = False, seed: int = 0
) -> Path:
    """A tiny mp4v video; frame i is uniformly grey at level 8*i (unless ``noise``)."""
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (W, H))
    assert writer.isOpened()
    for i in range(n):
        if noise:
            img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        else:
            img = np.full((H, W, 3), (8 * i) % 256, np.uint8)
        writer.write(img)
    writer.release()
    return path


def level(frame: Frame) -> int:
    """The grey level of a frame written by write_video: 8 * its decoder index."""
    return round(float(frame.image.mean()) / 8.0)


def take(it: Iterator[Frame], n: int) -> list[Frame]:
    return [next(it) for _ in range(n)]


# --------------------------------------------------------------------------- video files


def test_video_subsampled_to_target_fps(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4")
    src = open_source("cam", str(video), fps=10, clock=lambda: 1000.0)
    assert src.kind is SourceKind.VIDEO
    assert src.native_fps == pytest.approx(30.0)
    assert src.total_frames == 30
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(0, 30, 3))
    for f in frames:
        assert f.camera == "cam"
        assert f.pts == pytest.approx(f.index / 30.0)
        assert f.timestamp == pytest.approx(1000.0 + f.index / 30.0)
        assert f.image.dtype == np.uint8 and f.image.shape == (H, W, 3)
        assert level(f) == f.index  # the index is the decoder index of that very image


def test_video_target_above_native_gives_every_frame(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4")
    frames = list(open_source("cam", video, fps=60).frames())
    assert [f.index for f in frames] == list(range(30))
    assert [level(f) for f in frames] == list(range(30))


def test_video_non_integer_ratio_keeps_average_rate(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=30, fps=30)
    frames = list(open_source("cam", video, fps=12).frames())
    assert len(frames) == 12  # 1 s of video at 12 fps
    gaps = {b.index - a.index for a, b in pairwise(frames)}
    assert gaps <= {2, 3}


def test_video_loop_keeps_counting(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=30)
    src = open_source("cam", video, fps=30, loop=True)
    assert src.total_frames is None
    frames = take(src.frames(), 75)  # 2.5 passes
    assert [f.index for f in frames] == list(range(75))
    pts = [f.pts for f in frames]
    assert all(b > a for a, b in pairwise(pts))
    assert frames[-1].pts == pytest.approx(74 / 30.0)
    assert [level(f) for f in frames[30:35]] == [0, 1, 2, 3, 4]  # the file started again
    src.close()


def test_video_eof_ends_iteration(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=12)
    it = open_source("cam", video, fps=30).frames()
    assert len(take(it, 12)) == 12
    with pytest.raises(StopIteration):
        next(it)


def test_video_can_be_read_twice_and_closed(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=6)
    with open_source("cam", video, fps=30) as src:
        assert len(list(src.frames())) == 6
        assert len(list(src.frames())) == 6
        it = src.frames()
        next(it)
        src.close()
        assert list(it) == []


def test_stop_event_ends_file_iteration(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=30)
    stop = threading.Event()
    got = []
    for f in open_source("cam", video, fps=30).frames(stop):
        got.append(f)
        if len(got) == 4:
            stop.set()
    assert len(got) == 4


def test_realtime_paces_file_by_pts(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=9)
    slept: list[float] = []
    src = open_source("cam", video, fps=10, realtime=True, clock=lambda: 50.0, sleep=slept.append)
    frames = list(src.frames())
    assert [f.index for f in frames] == [0, 3, 6]
    assert slept == pytest.approx([0.1, 0.2])  # the fake clock never moves


def _atoms(buf: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", buf[pos : pos + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", buf[pos + 8 : pos + 16])
            header = 16
        elif size == 0:
            size = end - pos
        yield kind, pos, header, size
        pos += size


def faststart(data: bytes) -> bytes:
    """Move the ``moov`` index in front of the frame data (like ``ffmpeg -movflags faststart``).

    OpenCV writes the index last, so chopping the tail of its files loses the index and nothing
    can open them; a camera that records with the index first can be cut off mid-frame-data,
    which is what the truncation test needs.
    """
    top = {kind: (pos, size) for kind, pos, _, size in _atoms(data, 0, len(data))}
    moov_pos, moov_size = top[b"moov"]
    assert top[b"ftyp"][0] == 0 and moov_pos > top[b"mdat"][0]
    moov = bytearray(data[moov_pos : moov_pos + moov_size])

    def shift(start: int, end: int) -> None:
        for kind, pos, header, size in _atoms(moov, start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                shift(pos + header, pos + size)
            assert kind != b"co64"
            if kind == b"stco":
                (count,) = struct.unpack(">I", moov[pos + 12 : pos + 16])
                for k in range(count):
                    at = pos + 16 + 4 * k
                    (offset,) = struct.unpack(">I", moov[at : at + 4])
                    moov[at : at + 4] = struct.pack(">I", offset + moov_size)

    shift(8, moov_size)
    ftyp_size = top[b"ftyp"][1]
    rest = data[:moov_pos] + data[moov_pos + moov_size :]
    return rest[:ftyp_size] + bytes(moov) + rest[ftyp_size:]


def test_truncated_video_yields_its_head_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = write_video(tmp_path / "whole.mp4", n=30, noise=True).read_bytes()
    fast = faststart(whole)
    (tmp_path / "fast.mp4").write_bytes(fast)
    assert len(list(open_source("cam", tmp_path / "fast.mp4", fps=30).frames())) == 30

    cut = tmp_path / "cut.mp4"
    cut.write_bytes(fast[: len(fast) * 6 // 10])  # the last ~40 % of the frame data is gone
    caplog.set_level(logging.WARNING, logger="guardian.sources")
    src = open_source("cam", cut, fps=30)
    frames = list(src.frames())  # must not raise
    assert 0 < len(frames) < 30
    assert [f.index for f in frames] == list(range(len(frames)))
    assert any("truncated" in r.getMessage() for r in caplog.records)


def test_video_with_lost_index_is_a_clear_source_error(tmp_path: Path) -> None:
    data = write_video(tmp_path / "whole.mp4", n=30, noise=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # OpenCV writes the index last: now unreadable
    with pytest.raises(SourceError, match="cannot decode video file"):
        open_source("cam", cut, fps=10)


class ScriptedCapture:
    """A capture that returns a scripted list of reads (images or None for a failed read).

    ``period``: each read takes this long, as a camera's does; ``hold``: once the script
    is over, the last image comes again for ever (a camera that stays up), else reads fail.
    """

    def __init__(
        self,
        reads: list[np.ndarray | None],
        opened: bool = True,
        fps: float = 30.0,
        frame_count: float = 8.0,
        *,
        period: float = 0.0,
        hold: bool = False,
    ) -> None:
        self.reads = list(reads)
        self.opened = opened
        self.fps = fps
        self.frame_count = frame_count
        self.period = period
        self.hold = hold
        self.released = False
        self.grabbed: np.ndarray | None = None
        #: how many frames were grabbed, and how many of them retrieved (decoded in full)
        self.grabs = 0
        self.retrieves = 0

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        return self.retrieve() if self.grab() else (False, None)

    def grab(self) -> bool:
        if self.period:
            time.sleep(self.period)
        if self.hold and len(self.reads) == 1:
            self.grabbed = self.reads[0]
        elif self.reads:
            self.grabbed = self.reads.pop(0)
        else:
            self.grabbed = None
        self.grabs += self.grabbed is not None
        return self.grabbed is not None

    def retrieve(self) -> tuple[bool, Any]:
        self.retrieves += 1
        return self.grabbed is not None, self.grabbed

    def get(self, prop_id: int) -> float:
        if prop_id == cv2.CAP_PROP_FPS:
            return self.fps
        if prop_id == cv2.CAP_PROP_FRAME_COUNT:
            return self.frame_count
        return 0.0

    def release(self) -> None:
        self.released = True


def grey(value: int) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def test_corrupt_frames_inside_video_are_skipped(caplog: pytest.LogCaptureFixture) -> None:
    # Real decoders rarely return a bad frame mid-file on demand, so a scripted capture
    # stands in for one: frames 2 and 3 fail, frame 5 is an empty image.
    reads = [grey(0), grey(8), None, None, grey(32), np.zeros((0, 0, 3), np.uint8), grey(48)]
    reads += [grey(56)]
    caps = [ScriptedCapture([]), ScriptedCapture(reads)]  # the first one is the probe at open
    caplog.set_level(logging.WARNING, logger="guardian.sources")
    src = open_source("cam", __file__, fps=30, capture_factory=lambda s: caps.pop(0))
    frames = list(src.frames())
    assert [f.index for f in frames] == [0, 1, 4, 6, 7]
    assert [level(f) for f in frames] == [0, 1, 4, 6, 7]
    assert sum("unreadable" in r.getMessage() for r in caplog.records) == 2


def test_too_many_bad_reads_end_the_file() -> None:
    # No frame count known (as for some containers): 25 failed reads in a row mean the end.
    reads: list[np.ndarray | None] = [grey(0)] + [None] * 100 + [grey(8)]
    decoding = ScriptedCapture(reads, frame_count=0)
    caps = [ScriptedCapture([], frame_count=0), decoding]
    src = open_source("cam", __file__, fps=30, capture_factory=lambda s: caps.pop(0))
    assert src.total_frames is None
    frames = list(src.frames())
    assert [f.index for f in frames] == [0]
    assert len(decoding.reads) == 101 - 25  # gave up after 25 bad reads, not at the last one
    assert decoding.released


# --------------------------------------------------------------------------- image folders


def test_image_folder_skips_corrupt_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, name in enumerate(["a1.jpg", "a2.png", "a10.bmp", "a3.jpeg"]):
        cv2.imwrite(str(folder / name), grey(40 * (i + 1)))
    (folder / "x.jpg").write_bytes(b"\x00 definitely not a jpeg \xff" * 20)
    (folder / "notes.txt").write_text("ignored")
    caplog.set_level(logging.WARNING, logger="guardian.sources")

    src = open_source("cam", str(folder), fps=5, clock=lambda: 10.0)
    assert src.kind is SourceKind.IMAGES
    assert src.total_frames == 5
    frames = list(src.frames())
    # natural name order: a1, a2, a3, a10, x (corrupt: index 4 skipped)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [round(float(f.image.mean())) for f in frames] == [40, 80, 160, 120]
    assert [f.pts for f in frames] == pytest.approx([0.0, 0.2, 0.4, 0.6])
    assert [f.timestamp for f in frames] == pytest.approx([10.0, 10.2, 10.4, 10.6])
    assert any("x.jpg" in r.getMessage() for r in caplog.records)


def test_image_folder_loop_and_single_image(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), grey(10))
    cv2.imwrite(str(folder / "1.png"), grey(20))
    frames = take(open_source("cam", folder, fps=10, loop=True).frames(), 5)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [int(f.image[0, 0, 0]) for f in frames] == [10, 20, 10, 20, 10]

    single = list(open_source("cam", folder / "1.png", fps=10).frames())
    assert len(single) == 1 and single[0].image.shape == (H, W, 3)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="holds no images"):
        open_source("cam", tmp_path, fps=10)


# --------------------------------------------------------------------------- open_source


def test_missing_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "lobby.mp4"
    with pytest.raises(SourceError) as err:
        open_source("lobby", str(missing), fps=10)
    assert str(missing) in str(err.value)
    assert "does not exist" in str(err.value)


def test_bad_arguments() -> None:
    with pytest.raises(SourceError, match="fps"):
        open_source("cam", 0, fps=0)
    with pytest.raises(SourceError, match="index"):
        open_source("cam", -1, fps=10)
    with pytest.raises(SourceError, match="unsupported URL"):
        open_source("cam", "ftp://user:secret@host/x", fps=10)


@pytest.mark.parametrize(
    ("source", "kind", "opened_with"),
    [
        (0, SourceKind.USB, 0),
        ("2", SourceKind.USB, 2),
        ("rtsp://cam.local:554/stream1", SourceKind.STREAM, "rtsp://cam.local:554/stream1"),
        ("RTSPS://cam.local/s", SourceKind.STREAM, "RTSPS://cam.local/s"),
        ("http://10.0.0.5/video.mjpg", SourceKind.STREAM, "http://10.0.0.5/video.mjpg"),
        ("https://cam.example/live", SourceKind.STREAM, "https://cam.example/live"),
    ],
)
def test_live_kinds(source: str | int, kind: SourceKind, opened_with: str | int) -> None:
    seen: list[str | int] = []

    def factory(s: str | int) -> ScriptedCapture:
        seen.append(s)
        return ScriptedCapture([grey(1)], fps=25.0)

    src = open_source("cam", source, fps=10, capture_factory=factory)
    assert isinstance(src, LiveSource)
    assert src.kind is kind
    assert src.total_frames is None
    assert seen == []  # live sources connect lazily, inside frames()
    first = next(src.frames())
    assert seen == [opened_with]
    assert src.native_fps == 25.0
    assert first.index == 0
    src.close()


# --------------------------------------------------------------------------- live reconnect
# A network camera cannot run in the test environment, so a scripted capture factory stands in
# for one: it refuses to open, delivers frames, drops mid-stream and comes back.


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded (the backoff delays)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        return self.is_set()


class Ticker:
    """A fake clock advancing 0.1 s per call."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.1
        return self.now


def test_live_stream_reconnects_with_backoff(caplog: pytest.LogCaptureFixture) -> None:
    script = [
        ScriptedCapture([], opened=False),
        ScriptedCapture([], opened=False),
        # then the read fails: stream dropped
        ScriptedCapture([grey(1), grey(2), grey(3)], period=0.01),
        ScriptedCapture([], opened=False),
        ScriptedCapture([grey(4)], period=0.01, hold=True),
    ]
    opened: list[ScriptedCapture] = []

    def factory(source: str | int) -> ScriptedCapture:
        cap = script.pop(0)
        opened.append(cap)
        return cap

    caplog.set_level(logging.INFO, logger="guardian.sources")
    stop = RecordingStop()
    src = open_source(
        "gate",
        "rtsp://admin:hunter2@10.0.0.9/live",
        fps=10,
        clock=Ticker(),
        capture_factory=factory,
    )
    got: list[Frame] = []
    for frame in src.frames(stop):
        got.append(frame)
        if len(got) == 6:
            stop.set()
    assert len(got) == 6  # stopped promptly: nothing after the stop was set
    levels = [int(f.image[0, 0, 0]) for f in got]
    # the reader runs on: a frame the consumer had not taken yet may be replaced by a newer
    assert levels == sorted(levels) and set(levels) <= {1, 2, 3, 4} and levels[-3:] == [4] * 3
    assert all(b.index > a.index for a, b in pairwise(got))  # index continues across the drop
    assert got[-3].index >= 3
    ts = [f.timestamp for f in got]
    assert all(b > a for a, b in pairwise(ts))
    # two failed opens (0.5, 1.0), then a good frame resets the backoff: drop (0.5),
    # failed reopen (1.0)
    assert stop.waits == [0.5, 1.0, 0.5, 1.0]
    assert all(cap.released for cap in opened)
    log_text = caplog.text
    assert "hunter2" not in log_text and "admin:***@10.0.0.9" in log_text
    assert "dropped" in log_text and "attempt" in log_text


def test_backoff_doubles_up_to_max_and_uses_sleep_without_stop() -> None:
    slept: list[float] = []
    src = open_source(
        "cam",
        "http://nowhere/stream",
        fps=10,
        sleep=slept.append,
        capture_factory=lambda s: (
            ScriptedCapture([], opened=False)
            if len(slept) < 9
            else ScriptedCapture([grey(7)], period=0.01, hold=True)
        ),
    )
    frame = next(src.frames())
    assert int(frame.image[0, 0, 0]) == 7
    assert slept == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    src.close()


def test_stop_interrupts_backoff_wait_promptly() -> None:
    src = open_source(
        "cam",
        "rtsp://10.255.255.1/never",
        fps=10,
        capture_factory=lambda s: ScriptedCapture([], opened=False),
        backoff_initial=30.0,
        backoff_max=60.0,
    )
    stop = threading.Event()
    got: list[Frame] = []
    worker = threading.Thread(target=lambda: got.extend(src.frames(stop)))
    worker.start()
    time.sleep(0.05)
    started = time.monotonic()
    stop.set()
    worker.join(timeout=2.0)
    assert not worker.is_alive()
    assert time.monotonic() - started < 1.0
    assert got == []


def test_live_subsamples_by_time_and_decodes_only_what_it_keeps() -> None:
    # 30 fps device, 10 fps target: one frame in three is kept, and only those are retrieved.
    t = [0.0]

    def clock() -> float:
        t[0] += 1 / 30
        return t[0]

    cap = ScriptedCapture([grey(1)], period=0.005, hold=True)
    src = open_source("cam", 1, fps=10, clock=clock, capture_factory=lambda s: cap)
    frames = take(src.frames(), 10)
    src.close()
    gaps = [b.index - a.index for a, b in pairwise(frames)]
    # a gap longer than 3 is a kept frame the consumer was too slow for (counted)
    assert all(g % 3 == 0 for g in gaps), gaps
    assert src.dropped >= sum(g // 3 - 1 for g in gaps)
    assert cap.grabs >= 28 and cap.retrieves <= cap.grabs // 3 + 1


# --------------------------------------------------------------------------- live latency
# A real MJPEG camera over HTTP (tests/livecam.py): a consumer slower than the stream gets
# the newest frame each time, never a queue of old ones.


def test_a_slow_consumer_gets_recent_frames_and_the_rest_are_counted() -> None:
    period = 1 / 20
    camera = LiveCamera([grey(10 * i) for i in range(20)], fps=1 / period)
    src = open_source("cam", camera.url, fps=100)  # every frame of the stream is kept
    assert isinstance(src, LiveSource)
    stop = threading.Event()
    got: list[Frame] = []
    ages: list[float] = []
    try:
        frames = src.frames(stop)
        got.append(next(frames))
        for _ in range(5):
            time.sleep(0.3)  # "processing" much slower than the stream
            got.append(next(frames))
            ages.append(time.time() - got[-1].timestamp)
        dropped = src.dropped
    finally:
        stop.set()
        src.close()
        camera.close()
    # what the consumer gets is as old as one frame period at most (plus scheduling)
    assert max(ages) < period + 0.1, ages
    skipped = sum(b.index - a.index - 1 for a, b in pairwise(got))
    assert skipped >= 5 * 4  # 0.3 s at 20 fps: about 6 frames read per frame taken
    # each frame skipped was dropped, unless two came so close the sampler left one out
    assert 15 <= dropped <= skipped + got[0].index + 2, (dropped, skipped)


def test_a_fast_consumer_drops_nothing() -> None:
    camera = LiveCamera([grey(10 * i) for i in range(20)], fps=10)
    src = open_source("cam", camera.url, fps=100)
    assert isinstance(src, LiveSource)
    stop = threading.Event()
    try:
        got = take(src.frames(stop), 15)
    finally:
        stop.set()
        src.close()
        camera.close()
    assert src.dropped == 0
    assert len(got) == 15 and all(b.index > a.index for a, b in pairwise(got))


def test_files_are_never_dropped(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=30)
    got = []
    for frame in open_source("cam", video, fps=30).frames():
        time.sleep(0.01)  # slower than nothing: a file waits for its consumer
        got.append(frame.index)
    assert got == list(range(30))


def test_frame_source_is_abstract() -> None:
    with pytest.raises(TypeError):
        FrameSource("cam", fps=1, clock=time.time, sleep=time.sleep)  # type: ignore[abstract]


# --------------------------------------------------------------------------- real footage


@pytest.mark.corpus
def test_corpus_upfall_clip_at_native_fps() -> None:
    clip = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    cap = cv2.VideoCapture(str(clip))
    reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    src = open_source("cam1", clip, fps=18)
    assert src.native_fps == pytest.approx(18.0)
    assert src.total_frames == reported
    count = 0
    last = -1
    for f in src.frames():
        assert (f.width, f.height) == (640, 480)
        assert f.index == last + 1
        last = f.index
        count += 1
    assert abs(count - reported) <= 1


class MjpegCamera:
    """A real HTTP MJPEG camera on 127.0.0.1 that can drop its stream and come back.

    Each connection is served frames until ``drop()`` closes every open connection;
    while ``down`` is set, new connections are refused with 503.
    """

    def __init__(self) -> None:
        import http.server

        camera = self
        self.down = threading.Event()
        self.drops = threading.Event()
        self.connections = 0
        jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 128, np.uint8))[1].tobytes()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if camera.down.is_set():
                    self.send_error(503)
                    return
                camera.connections += 1
                generation = camera.connections
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                try:
                    while not camera.drops.is_set() or generation < camera.connections:
                        part = b"--frame\r\nContent-Type: image/jpeg\r\n"
                        part += f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n"
                        self.wfile.write(part)
                        self.wfile.flush()
                        time.sleep(0.04)
                        if camera.drops.is_set() and generation == camera.connections:
                            return  # the drop: close this connection mid-stream
                except OSError:
                    return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream.mjpg"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def drop(self) -> None:
        self.down.set()
        self.drops.set()

    def recover(self) -> None:
        self.drops.clear()
        self.down.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_real_http_stream_is_reopened_after_it_drops() -> None:
    """A real MJPEG stream over HTTP, read by OpenCV's FFmpeg backend, drops and
    comes back: the source keeps yielding frames, reconnecting with backoff."""
    camera = MjpegCamera()
    stop = threading.Event()
    source = open_source("cam", camera.url, fps=10, backoff_initial=0.2, backoff_max=1.0)
    got: list[Frame] = []
    try:
        frames = source.frames(stop)
        got += take(frames, 5)
        camera.drop()
        threading.Timer(1.5, camera.recover).start()
        got += take(frames, 5)  # only possible after a reconnect
    finally:
        stop.set()
        source.close()
        camera.close()
    assert len(got) == 10
    assert all(f.image.shape == (48, 64, 3) for f in got)
    assert camera.connections >= 2
    assert [f.timestamp for f in got] == sorted(f.timestamp for f in got)


def test_dropped_frames_are_said_at_most_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    from guardian.streams import DropWatch

    watch = DropWatch("gate", now=1000.0)
    with caplog.at_level(logging.WARNING, logger="guardian.pipeline"):
        assert watch.update(1010.0, 5) == 0  # not a minute yet
        assert watch.update(1060.0, 12) == 12
        assert watch.update(1100.0, 30) == 0  # said 40 s ago
        assert watch.update(1125.0, 30) == 18
        assert watch.update(1190.0, 30) == 0  # nothing more dropped: nothing said
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        "camera gate: 12 frames dropped in the last 60 s: processing is slower than its fps",
        "camera gate: 18 frames dropped in the last 65 s: processing is slower than its fps",
    ]
