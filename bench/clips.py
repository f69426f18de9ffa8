"""Benchmark the event-clip recorder (``guardian/clips``) on real footage.

The UP-Fall walking clip (``A06``, Cam1, 640x480) is decoded at ``--fps`` into memory
first; then, per repeat, a fresh :class:`ClipRecorder` (default clips settings: pre 5 s,
post 10 s, JPEG quality 80, CRF 26, 30 s buffer) with its SQLite store in a temporary
folder is fed the frames **paced at the camera's rate** by this (camera) thread:

* **live clip**: an event at 10 s of video is submitted as the dispatcher does (default
  request, commit, ``submit``) right after that frame's push; the clip (5 s to 20 s) is
  written while the camera keeps pushing. ``push(frame)`` is timed on every frame, and
  filed under "clip being written" from the submit until the final MP4 exists, else
  under "no clip open" (the first ``WARMUP`` pushes of a repeat left out). The writer's
  latency is the wall time from the push that closes the clip (the first frame after its
  end, one frame after the clip's last frame) to the final MP4 being renamed into place.
* **batch clip**: at 38 s the camera stops and an event dated 22.5 s is submitted, so all
  of its 15 s (17.5 s to 32.5 s) are already in the ring: the wall time from ``submit``
  to the final MP4 gives the encode speed (JPEG decode, pipe, libx264, faststart remux)
  as a multiple of real time, with no camera competing for the CPU.

CPU: ``getrusage(RUSAGE_CHILDREN)`` deltas (the ffmpeg encoder and remuxer, reaped by
the time the MP4 is final) and the writer thread's own CPU clock (JPEG decode, pipe
writes, the event's snapshot and thumbnail), per second of clip. Memory: the ring's
JPEG bytes per buffered frame, and MP4 bytes per second of clip.
Writes JSON (default bench/results/clips.json) and prints a table.

    .venv/bin/python bench/clips.py [--fps 10] [--repeats 3]     # about 45 s per repeat
    .venv/bin/python bench/clips.py --show bench/results/clips.json
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import imageio_ffmpeg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchkit import describe, write_report

from guardian.clips import CameraClips, ClipRecorder
from guardian.config.clips import ClipsConfig
from guardian.effects import Effects
from guardian.records import Event, Frame, Severity
from guardian.sources import open_source
from guardian.store import Store

CLIP = ("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")  # 45 s, 640x480, 18 fps
CAMERA = "cam"
PRE, POST = 5.0, 10.0
#: video time (s) of the event whose clip is written while the camera runs
LIVE_EVENT = 10.0
#: video time (s) at which the camera stops and the batch event is submitted ...
BATCH_AT = 38.0
#: ... dated here: its whole clip is in the 30 s ring already
BATCH_EVENT = 22.5
#: first pushes of each repeat left out (first JPEG encodes)
WARMUP = 5
POLL = 0.002  # s between looks for the final MP4


def corpus_file() -> Path:
    configured = os.environ.get("GUARDIAN_CORPUS")
    root = Path(configured).expanduser() if configured else REPO.parent / "shared" / "corpus"
    path = root.joinpath(*CLIP)
    if not path.is_file():
        sys.exit(
            f"corpus video not found: {path}\n"
            "set GUARDIAN_CORPUS to the corpus folder or place it at ../shared/corpus"
        )
    return path


def load_frames(path: Path, fps: float, until: float) -> list[Frame]:
    """Decode the video at ``fps`` up to ``until`` s of video, into memory."""
    source = open_source(CAMERA, str(path), fps=fps)
    frames = []
    try:
        for frame in source.frames(threading.Event()):
            if frame.pts > until:
                break
            frames.append(frame)
    finally:
        source.close()
    if not frames or frames[-1].pts < BATCH_AT - 1.0:
        sys.exit(f"{path} is shorter than the {BATCH_AT:g} s this benchmark needs")
    return frames


def event_at(event_id: str, timestamp: float, index: int) -> Event:
    return Event(
        event_id, "fall", "Fall", CAMERA, None, 1, None, Severity.CRITICAL,
        timestamp, None, "fell", index,
    )  # fmt: skip


def fire(rec: ClipRecorder, store: Store, event: Event) -> Path:
    """What the dispatcher does; returns where the final MP4 will be."""
    effects = Effects()
    rec.add_defaults([event], effects)
    store.commit([event], [], effects)
    rec.submit(effects.clips, [event])
    clip = store.clip_log.for_event(event.event_id)
    if clip is None or not clip.path:
        raise SystemExit(f"the recorder opened no clip for {event.event_id}: {clip}")
    return rec.clips_dir / clip.path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def thread_cpu(thread: threading.Thread) -> float:
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


class Watcher(threading.Thread):
    """Notes the moment ``path`` appears, with the CPU counters at that moment."""

    def __init__(self, path: Path, cam: CameraClips) -> None:
        super().__init__(name="bench-watcher", daemon=True)
        self.path = path
        self.cam = cam
        self.done = threading.Event()
        self.at = 0.0
        self.children = 0.0
        self.writer = 0.0

    def run(self) -> None:
        while not self.path.exists():
            time.sleep(POLL)
        self.at = time.perf_counter()
        self.children = children_cpu()
        self.writer = thread_cpu(self.cam.writer)
        self.done.set()


def clip_row(store: Store, event_id: str) -> dict[str, Any]:
    clip = store.clip_log.for_event(event_id)
    assert clip is not None
    if clip.status != "written":
        raise SystemExit(f"clip of {event_id} not written: {clip.status} {clip.reason}")
    return {"duration_s": clip.duration, "frames": clip.frames, "size_bytes": clip.size_bytes}


def repeat(frames: list[Frame], fps: float, tmp: Path, n: int) -> dict[str, Any]:
    store = Store(tmp / f"guardian-{n}.db")
    config = ClipsConfig(pre=PRE, post=POST)
    rec = ClipRecorder(config, store, tmp / f"clips-{n}", timezone="UTC", cameras={CAMERA: fps})
    rec.start()
    cam = rec.camera(CAMERA)
    assert cam is not None
    base = time.time()
    idle: list[float] = []
    writing: list[float] = []
    live: dict[str, Any] = {}
    watcher: Watcher | None = None
    t_close: float | None = None
    t_last = 0.0  # the push of the clip's last frame (the one before the closing push)
    t_prev = 0.0
    start = time.perf_counter()
    for k, source in enumerate(frames):
        if source.pts > BATCH_AT:
            break
        frame = dataclasses.replace(source, timestamp=base + source.pts)
        delay = start + source.pts - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        busy = watcher is not None and not watcher.done.is_set()
        was_open = cam.active is not None
        t0 = time.perf_counter()
        cam.push(frame)
        elapsed = time.perf_counter() - t0
        if busy:
            writing.append(elapsed)
        elif k >= WARMUP:
            idle.append(elapsed)
        if was_open and cam.active is None:
            t_close, t_last = t0, t_prev
        t_prev = t0
        if watcher is None and source.pts >= LIVE_EVENT:
            event = event_at(f"live{n}", frame.timestamp, frame.index)
            live["children0"], live["writer0"] = children_cpu(), thread_cpu(cam.writer)
            t_submit = time.perf_counter()
            watcher = Watcher(fire(rec, store, event), cam)
            live["submit_ms"] = 1000 * (time.perf_counter() - t_submit)
            watcher.start()
    if watcher is None or t_close is None or not watcher.done.wait(60):
        raise SystemExit("the live clip was not closed and written")
    if not rec.wait_idle(60):
        raise SystemExit("the clip writer did not become idle")
    live.update(clip_row(store, f"live{n}"))
    live["latency_s"] = watcher.at - t_close
    live["latency_from_last_frame_s"] = watcher.at - t_last
    live["ffmpeg_cpu_s"] = watcher.children - live.pop("children0")
    live["writer_cpu_s"] = watcher.writer - live.pop("writer0")
    ring = {"frames": len(cam.ring.frames), "bytes": cam.ring.bytes}

    # batch: every frame of the clip is in the ring; the camera has stopped
    pick = min(frames, key=lambda f: abs(f.pts - BATCH_EVENT))
    event = event_at(f"batch{n}", base + pick.pts, pick.index)
    c0, w0 = children_cpu(), thread_cpu(cam.writer)
    t0 = time.perf_counter()
    batch_watch = Watcher(fire(rec, store, event), cam)
    batch_watch.start()
    if not batch_watch.done.wait(60) or not rec.wait_idle(60):
        raise SystemExit("the batch clip was not written")
    batch = clip_row(store, f"batch{n}")
    batch["wall_s"] = batch_watch.at - t0
    batch["speed_x"] = batch["duration_s"] / batch["wall_s"]
    batch["ffmpeg_cpu_s"] = batch_watch.children - c0
    batch["writer_cpu_s"] = batch_watch.writer - w0
    stats = rec.stats()[CAMERA]
    rec.close()
    store.close()
    return {
        "push_idle_s": idle,
        "push_writing_s": writing,
        "live": live,
        "batch": batch,
        "ring": ring,
        "writer_stats": dataclasses.asdict(stats),
    }


def dist(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    n = len(s)
    return {
        "n": n,
        "mean_ms": 1000 * statistics.fmean(s),
        "median_ms": 1000 * statistics.median(s),
        "p95_ms": 1000 * s[min(n - 1, int(0.95 * n))],
        "max_ms": 1000 * s[-1],
    }


def spread(values: list[float]) -> dict[str, Any]:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values)}


def summarize(runs: list[dict[str, Any]], fps: float, width: int, height: int) -> dict[str, Any]:
    live = [r["live"] for r in runs]
    batch = [r["batch"] for r in runs]
    ring_bytes = sum(r["ring"]["bytes"] for r in runs)
    ring_frames = sum(r["ring"]["frames"] for r in runs)
    per_frame = ring_bytes / ring_frames
    both = live + batch
    return {
        "push_no_clip": dist([t for r in runs for t in r["push_idle_s"]]),
        "push_clip_writing": dist([t for r in runs for t in r["push_writing_s"]]),
        "latency_s": spread([c["latency_s"] for c in live]),
        "latency_from_last_frame_s": spread([c["latency_from_last_frame_s"] for c in live]),
        "speed_x": spread([c["speed_x"] for c in batch]),
        "ffmpeg_cpu_per_clip_s": spread([c["ffmpeg_cpu_s"] / c["duration_s"] for c in both]),
        "writer_cpu_per_clip_s": spread([c["writer_cpu_s"] / c["duration_s"] for c in both]),
        "mp4_bytes_per_s": spread([c["size_bytes"] / c["duration_s"] for c in both]),
        "clip_duration_s": spread([c["duration_s"] for c in both]),
        "ring_bytes_per_frame": per_frame,
        "raw_bytes_per_frame": width * height * 3,
        "ring_bytes_30s": per_frame * fps * ClipsConfig().buffer,
        "frames_dropped": sum(r["writer_stats"]["frames_dropped"] for r in runs),
    }


def show(results: dict[str, Any]) -> None:
    s, m = results["summary"], results["machine"]
    print(
        f"clip recorder, {results['video']['width']}x{results['video']['height']} at "
        f"{results['fps']:g} fps, {results['repeats']} repeats; {describe(m)}, "
        f"{results['date']}"
    )
    print(
        f"{'push(frame), camera thread':<28}{'frames':>7}{'mean ms':>9}{'median':>8}{'p95':>8}{'max':>8}"
    )
    for label, key in (
        ("no clip open", "push_no_clip"),
        ("clip being written", "push_clip_writing"),
    ):
        d = s[key]
        print(
            f"  {label:<26}{d['n']:>7}{d['mean_ms']:>9.2f}{d['median_ms']:>8.2f}"
            f"{d['p95_ms']:>8.2f}{d['max_ms']:>8.2f}"
        )
    print(f"{'writer (15 s clips)':<44}{'mean':>8}{'min':>8}{'max':>8}")
    for label, key, scale in (
        ("last clip frame -> final MP4, live (s)", "latency_from_last_frame_s", 1),
        ("closing frame -> final MP4, live (s)", "latency_s", 1),
        ("encode speed, batch (x real time)", "speed_x", 1),
        ("ffmpeg CPU s per s of clip", "ffmpeg_cpu_per_clip_s", 1),
        ("writer thread CPU s per s of clip", "writer_cpu_per_clip_s", 1),
        ("MP4 KB per s of clip", "mp4_bytes_per_s", 1000),
    ):
        d = s[key]
        print(
            f"  {label:<42}{d['mean'] / scale:>8.2f}{d['min'] / scale:>8.2f}{d['max'] / scale:>8.2f}"
        )
    per, raw = s["ring_bytes_per_frame"], s["raw_bytes_per_frame"]
    print(
        f"ring: {per / 1000:.1f} KB per buffered frame (raw {raw / 1000:.1f} KB, "
        f"{raw / per:.0f}x smaller); 30 s buffer at {results['fps']:g} fps = "
        f"{s['ring_bytes_30s'] / 1e6:.1f} MB per camera; frames dropped: {s['frames_dropped']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fps", type=float, default=10.0, help="camera fps (default 10)")
    parser.add_argument("--repeats", type=int, default=3, help="default 3")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "clips.json")
    parser.add_argument("--show", type=Path, metavar="JSON", help="only print a saved run")
    args = parser.parse_args()
    if args.show:
        show(json.loads(args.show.read_text()))
        return
    if args.repeats < 1 or not args.fps > 0:
        sys.exit("--repeats must be >= 1 and --fps > 0")

    path = corpus_file()
    print(f"… decoding {path.name} at {args.fps:g} fps", file=sys.stderr, flush=True)
    frames = load_frames(path, args.fps, BATCH_AT + 1.0)
    width, height = frames[0].width, frames[0].height
    runs = []
    with tempfile.TemporaryDirectory(prefix="guardian-bench-clips-") as tmp:
        for n in range(args.repeats):
            print(f"… repeat {n + 1}/{args.repeats}", file=sys.stderr, flush=True)
            runs.append(repeat(frames, args.fps, Path(tmp), n))
    config = ClipsConfig(pre=PRE, post=POST)
    results = {
        "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "video": {"file": "/".join(CLIP), "width": width, "height": height},
        "fps": args.fps,
        "repeats": args.repeats,
        "config": config.model_dump(exclude={"retention"}),
        "live_event_s": LIVE_EVENT,
        "batch_event_s": BATCH_EVENT,
        "summary": summarize(runs, args.fps, width, height),
        "runs": [
            {k: v for k, v in r.items() if k not in ("push_idle_s", "push_writing_s")}
            | {
                "push_no_clip": dist(r["push_idle_s"]),
                "push_clip_writing": dist(r["push_writing_s"]),
            }
            for r in runs
        ],
    }
    write_report("clips", results, out=args.out, show=show)


if __name__ == "__main__":
    main()
