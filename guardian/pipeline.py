"""The main job: every camera's frames → detection + pose → tracks → zones → observations,
then one place that runs the rules, stores events and sends alerts.

Each camera runs in its own thread (inference releases the GIL); observations meet in
one queue, so the rule engine, the store and the outbox live on a single thread.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from guardian.alerts import Outbox
from guardian.clips import CameraClips, ClipRecorder
from guardian.config import SiteBundle, SiteConfig, ZoneConfig
from guardian.dispatch import FINAL_WAIT, RETRY_WAIT, Dispatcher
from guardian.health import CameraHealthMonitor
from guardian.identity.manager import CameraIdentity, SiteIdentity
from guardian.modes import ModeManager
from guardian.motion import InferenceGate, RuleWaits
from guardian.mqtt.bus import CameraState, NoBus, SiteBus
from guardian.observations import ObservationWriter
from guardian.pose import PostureEstimator, PostureTracker
from guardian.records import (
    Detection,
    Event,
    Frame,
    HealthChange,
    HealthProblem,
    Observation,
    Posture,
    PostureReading,
    Track,
    TrackState,
)
from guardian.relook import Relook
from guardian.rules import RuleEngine
from guardian.rules.base import Pending
from guardian.scene import SceneWatcher
from guardian.scheduler import Scheduler, catch_up
from guardian.snapshots import Snapshots
from guardian.sources import FrameSource, SourceError, SourceKind
from guardian.store import Delivery, Store
from guardian.streams import RECORD_CATCH_UP, RECORD_START, DropWatch, RecordReader
from guardian.swim.detector import SWIMMER_LABEL
from guardian.tracking import Tracker
from guardian.zones import Zone, ZoneTracker

log = logging.getLogger("guardian.pipeline")

Detect = Callable[[Frame], Sequence[Detection]]


@dataclass
class StageTimes:
    """Per-stage durations in seconds, for progress lines and the benchmark."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def add(self, stage: str, seconds: float) -> None:
        self.samples[stage].append(seconds)

    def summary(self) -> dict[str, tuple[float, float, float]]:
        """stage → (mean ms, median ms, p95 ms)."""
        out = {}
        for stage, values in self.samples.items():
            ordered = sorted(values)
            n = len(ordered)
            out[stage] = (
                1000 * sum(ordered) / n,
                1000 * ordered[n // 2],
                1000 * ordered[min(n - 1, int(0.95 * n))],
            )
        return out


def build_zones(configs: Sequence[ZoneConfig], camera: str, width: int, height: int) -> list[Zone]:
    """The camera's zones in pixels for a frame of this size."""
    return [
        Zone.from_points(
            z.name,
            z.camera,
            z.kind,
            z.polygon_px(width, height),
            anchor=z.anchor,
            inertia=z.inertia,
        )
        for z in configs
        if z.camera == camera
    ]


class CameraPipeline:
    """One camera: ``process(frame)`` → the frame's Observation."""

    def __init__(
        self,
        camera: str,
        detect: Detect,
        zones: Sequence[ZoneConfig],
        tracker: Tracker,
        times: StageTimes | None = None,
        *,
        scene_zones: Iterable[str] = (),
        postures: PostureEstimator | None = None,
        identity: CameraIdentity | None = None,
        relook: Relook | None = None,
        keep_down: float = 0.0,
        gate: InferenceGate | None = None,
    ) -> None:
        self.camera = camera
        #: when the models run (motion, tracks, waiting rules, heartbeat); None: every frame
        self.gate = gate
        self.detect = detect
        self.zone_configs = list(zones)
        self.tracker = tracker
        self.times = times or StageTimes()
        #: zones watched for new objects (background changes); none: no scene stage
        self.scene_zones = frozenset(scene_zones)
        self.postures: PostureEstimator = postures if postures is not None else PostureTracker()
        #: appearance samples of new, unidentified tracks (the site identity's camera half)
        self.identity = identity
        #: the second look around people just lost (None: no second look)
        self.relook = relook
        #: seconds a person down whom the model loses is kept as a lost track (0: off)
        self.keep_down = keep_down
        self._tracks: tuple[Track, ...] = ()
        #: the camera's water zones (no second look there)
        self._water = frozenset(
            z.name for z in self.zone_configs if z.kind == "water" and z.camera == camera
        )
        self._zones: ZoneTracker | None = None
        self._scene: SceneWatcher | None = None
        self._size: tuple[int, int] | None = None

    def process(self, frame: Frame) -> Observation:
        t0 = time.perf_counter()
        run = True
        if self.gate is not None:
            run = self.gate.decide(frame, self.tracker.busy).run
            t_gate = time.perf_counter()
            self.times.add("motion", t_gate - t0)
            t0 = t_gate
        detections = self.detect(frame) if run else ()
        again: tuple[Detection, ...] = ()
        if run and self.relook is not None and self._tracks:
            t_look = time.perf_counter()
            again = self.relook.find(frame, self._tracks, detections)
            self.times.add("relook", time.perf_counter() - t_look)
        t1 = time.perf_counter()
        tracks = self.tracker.update(detections, frame.timestamp, relook=again)
        self._tracks = tracks
        t2 = time.perf_counter()
        if self._zones is None or self._size != (frame.width, frame.height):
            if self._zones is not None:
                log.warning(
                    "%s: frame size changed to %dx%d", self.camera, frame.width, frame.height
                )
            self._size = (frame.width, frame.height)
            zones = build_zones(self.zone_configs, self.camera, frame.width, frame.height)
            self._zones = ZoneTracker(zones)
            watched = [z for z in zones if z.name in self.scene_zones]
            self._scene = SceneWatcher(watched) if watched else None
        update = self._zones.update(tracks, frame.timestamp)
        # people in the water: no second look and no hold for them -- a swimmer who went
        # under must go missing on time (the submersion timer), not be kept by a crop
        # that finds a splash, nor held as "down"
        wet = {p.track_id for p in update.presences if p.zone in self._water}
        if self._water:
            self._tracks = tuple(
                t for t in tracks if t.track_id not in wet and t.label != SWIMMER_LABEL
            )
        t3 = time.perf_counter()
        # a swimmer box has no keypoints and its shape says nothing of posture (a
        # swimmer is wide, not lying on the floor): swimmers get no posture reading
        bodies = [t for t in tracks if t.label != SWIMMER_LABEL]
        postures = self.postures.update(bodies, frame.timestamp, frame.width, frame.height)
        if self.keep_down > 0:
            self._hold_down(tracks, postures, wet)
        t4 = time.perf_counter()
        changes = self._scene.update(frame.image, tracks, frame.timestamp) if self._scene else ()
        t5 = time.perf_counter()
        if self.identity is not None:  # new tracks only, a few times each; then nothing
            self.identity.sample(frame, tracks)
            self.times.add("identity", time.perf_counter() - t5)
        if run:  # per frame the models saw (the gated ones cost nothing here)
            self.times.add("inference", t1 - t0)
        self.times.add("tracking", t2 - t1)
        self.times.add("zones", t3 - t2)
        self.times.add("pose", t4 - t3)
        if self._scene is not None:
            self.times.add("scene", t5 - t4)
        return Observation(
            camera=self.camera,
            frame_index=frame.index,
            timestamp=frame.timestamp,
            pts=frame.pts,
            width=frame.width,
            height=frame.height,
            tracks=tracks,
            presences=update.presences,
            transitions=update.transitions,
            counts=update.counts,
            postures=postures,
            changes=changes,
        )

    def _hold_down(
        self,
        tracks: Sequence[Track],
        postures: Sequence[PostureReading],
        wet: set[int],
    ) -> None:
        """Keep a lost person who was down (lying, or after a fall) for ``keep_down`` s.

        Never inside a water zone (``wet``: their track ids): there a person unseen must
        vanish on time (submersion).
        """
        by_id = {t.track_id: t for t in tracks}
        for r in postures:
            if r.posture is not Posture.LYING and r.fall_at is None:
                continue
            track = by_id.get(r.track_id)
            if track is None or track.state is not TrackState.LOST or r.track_id in wet:
                continue
            self.tracker.hold(r.track_id, track.last_seen + self.keep_down)


@dataclass
class CameraStatus:
    camera: str
    total: int | None
    processed: int = 0
    last_index: int = -1
    started: float = field(default_factory=time.perf_counter)
    done: bool = False
    error: str | None = None
    #: wall-clock time the last frame arrived (None: none yet)
    last_frame: float | None = None
    #: frames of a live camera dropped because processing was slower than its fps
    dropped: int = 0

    @property
    def fps(self) -> float:
        elapsed = time.perf_counter() - self.started
        return self.processed / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True)
class StreamEnded:
    """A camera's worker ended: its file is over, it failed, or the run stops."""

    camera: str


class CameraFeed(Protocol):
    """What the runner runs for each camera: a :class:`CameraWorker` reading it here, or
    the feed of a camera a worker runs elsewhere (guardian.mqtt.remote). Either puts
    Observations, HealthChanges and a last StreamEnded on the runner's queue."""

    status: CameraStatus

    @property
    def connected(self) -> bool | None: ...

    def start(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...


#: builds a remote camera's feed on the runner's queue (the queue, the run's stop)
FeedFactory = Callable[[queue.Queue[object], threading.Event], CameraFeed]


def put_until_stopped(out: queue.Queue[object], item: object, stop: threading.Event) -> None:
    """Put ``item`` on the Runner's queue, waiting while it is full (back-pressure); once
    ``stop`` is set, give up on anything but the end of a stream (never deadlock)."""
    while True:
        try:
            out.put(item, timeout=0.2)
            return
        except queue.Full:
            if stop.is_set() and not isinstance(item, StreamEnded):
                return


class CameraWorker(threading.Thread):
    """Reads one camera and puts its observations on the shared queue."""

    def __init__(
        self,
        open_source: Callable[[], FrameSource],
        pipeline: CameraPipeline,
        out: queue.Queue[object],
        stop: threading.Event,
        clips: CameraClips | None = None,
        health: CameraHealthMonitor | None = None,
        clock: Callable[[], float] = time.time,
        snapshots: Snapshots | None = None,
        open_record: Callable[[], FrameSource] | None = None,
    ) -> None:
        super().__init__(name=f"camera-{pipeline.camera}", daemon=True)
        #: the camera's latest picture for the zone editor (one JPEG a minute at most)
        self.snapshots = snapshots
        #: the camera's clip ring: every frame is handed to it (never blocks)
        self.clips = clips
        self.open_source = open_source
        #: the camera's record stream (None: clips come from the detect frames)
        self.open_record = open_record
        self.pipeline = pipeline
        self.out = out
        self.stop = stop
        self.status = CameraStatus(pipeline.camera, None)
        #: the camera's health: every frame is checked, problems go on the queue
        self.health = health
        self.clock = clock
        self._source: FrameSource | None = None
        #: the record stream's reader while it runs
        self.record: RecordReader | None = None

    @property
    def connected(self) -> bool | None:
        """False while a live camera never accepted a connection; None for files."""
        connects = getattr(self._source, "connects", None)
        return None if connects is None else connects > 0

    def _start_record(self, source: FrameSource) -> RecordReader | None:
        """The record stream's reader, started (None: no record stream, or no clips)."""
        if self.open_record is None or self.clips is None:
            return None
        live = source.kind in (SourceKind.STREAM, SourceKind.USB)
        record = RecordReader(
            self.pipeline.camera,
            self.open_record,
            self.clips,
            self.stop,
            base=None if live else source.opened_at,
        )
        self.record = record
        record.start()
        if not live:  # the first detect frames are clipped from the record file too
            record.wait_started(RECORD_START)
        return record

    def run(self) -> None:
        source: FrameSource | None = None
        record: RecordReader | None = None
        try:
            source = self.open_source()  # a bad file fails this camera only
            self._source = source
            self.status.total = source.total_frames
            drops = DropWatch(self.pipeline.camera, self.clock())
            record = self._start_record(source)
            frames = iter(source.frames(self.stop))
            while not self.stop.is_set():
                t0 = time.perf_counter()
                frame = next(frames, None)
                if frame is None:
                    break
                self.pipeline.times.add("decode", time.perf_counter() - t0)
                self.status.last_frame = self.clock()
                if source.dropped:  # a live camera faster than its processing
                    self.status.dropped = source.dropped
                    drops.update(self.status.last_frame, source.dropped)
                if self.health is not None:  # problems before the frame's observation
                    t1 = time.perf_counter()
                    for change in self.health.check(frame):
                        self._put(change)
                    self.pipeline.times.add("health", time.perf_counter() - t1)
                if record is not None:
                    record.detect_at(frame.timestamp)
                if self.clips is not None and (
                    record is None or not record.feeding(frame.timestamp)
                ):
                    t1 = time.perf_counter()
                    self.clips.push(frame)
                    self.pipeline.times.add("clips", time.perf_counter() - t1)
                if self.snapshots is not None:
                    self.snapshots.save(frame.camera, frame.image, self.status.last_frame)
                obs = self.pipeline.process(frame)
                self._put(obs)
                self.status.processed += 1
                self.status.last_index = frame.index
        except SourceError as exc:  # bad input: say what, no traceback
            self.status.error = str(exc)
            log.error("camera %s stopped: %s", self.pipeline.camera, exc)
        except Exception as exc:
            self.status.error = f"{type(exc).__name__}: {exc}"
            log.exception("camera %s stopped: %s", self.pipeline.camera, self.status.error)
        finally:
            if record is not None:  # its frames end with the detect frames
                record.close(catch_up=RECORD_CATCH_UP)
            if source is not None:
                source.close()
            if self.clips is not None:  # no more frames: an open clip ends here
                self.clips.finish()
            self.status.done = True
            self._put(StreamEnded(self.pipeline.camera))

    def _put(self, item: object) -> None:
        put_until_stopped(self.out, item, self.stop)


@dataclass(frozen=True)
class CameraParts:
    """What one camera's worker runs: its frames, its pipeline, its clip ring and its
    health monitor (None: no clips, or health off), and its record stream (None: clips
    come from the detect frames)."""

    camera: str
    open_source: Callable[[], FrameSource]
    pipeline: CameraPipeline
    clips: CameraClips | None = None
    monitor: CameraHealthMonitor | None = None
    open_record: Callable[[], FrameSource] | None = None

    def worker(
        self,
        out: queue.Queue[object],
        stop: threading.Event,
        *,
        clock: Callable[[], float],
        snapshots: Snapshots | None,
    ) -> CameraWorker:
        """The thread that reads this camera and puts what it sees on ``out``."""
        return CameraWorker(
            self.open_source,
            self.pipeline,
            out,
            stop,
            self.clips,
            health=self.monitor,
            clock=clock,
            snapshots=snapshots,
            open_record=self.open_record,
        )


@dataclass(frozen=True)
class RemoteParts:
    """A camera that a worker runs on another machine: its feed, and the site's monitor
    of it (offline only: the worker checks the picture)."""

    camera: str
    feed: FeedFactory
    monitor: CameraHealthMonitor | None = None


class CameraBuilder(Protocol):
    """Builds every enabled camera's parts when a run starts (models load then)."""

    def build(self) -> Sequence[CameraParts | RemoteParts]: ...

    def close(self) -> None:
        """The run is over: what the built cameras share goes (a remote cameras' link)."""


def live_cameras(site: SiteConfig) -> list[str]:
    """The enabled cameras that stream (a URL or a USB device)."""
    return [c.id for c in site.cameras if c.enabled and c.source_kind in ("url", "usb")]


def file_cameras(site: SiteConfig) -> list[str]:
    """The enabled cameras that play a video file (their timers end with it)."""
    return [c.id for c in site.cameras if c.enabled and c.source_kind not in ("url", "usb")]


#: seconds a run on video files that ended by itself gives alerts still pending (a retry
#: after a provider error) to go out before it ends; the rest go at the next start
DRAIN_LIMIT = 20.0
#: seconds a stop waits for the senders; a send still waiting for its provider is left
#: ``sending`` and reconciled with the provider at the next start
STOP_WAIT = 3.0


class Runner:
    """Runs every enabled camera of a site until the files end or ``stop`` is set.

    One consumer thread owns the rule engine: each observation's events, the rules'
    durable state and the actions' requests are committed to SQLite in one transaction,
    then alerts are sent, the mode switched and commands run. Once a second it also
    fires timers of live cameras, sends escalations, expires prompts and supervised
    mode, and retries failed alerts. Mode schedules run on apscheduler.
    """

    def __init__(
        self,
        bundle: SiteBundle,
        *,
        store: Store,
        side: Store,
        engine: RuleEngine,
        modes: ModeManager,
        dispatcher: Dispatcher,
        outbox: Outbox,
        scheduler: Scheduler,
        cameras: CameraBuilder,
        clips: ClipRecorder | None = None,
        identity: SiteIdentity | None = None,
        writer: ObservationWriter | None = None,
        snapshots: Snapshots | None = None,
        progress: TextIO | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        bus: SiteBus | None = None,
        waits: RuleWaits | None = None,
    ) -> None:
        self.bundle = bundle
        #: cameras a rule waits on (their models keep running; see guardian.motion)
        self.waits = waits
        #: MQTT (Home Assistant): counts, camera states, mode, commands; NoBus: off
        self.bus: SiteBus = bus if bus is not None else NoBus()
        #: the rule thread's connection
        self.store = store
        #: the other threads' connection (alert senders, clip writers, scheduled jobs):
        #: one of them waiting for a database another process holds never holds up the
        #: rule thread, whose writes wait briefly on ``store`` (Store.set_patience)
        self.side = side
        self.engine = engine
        self.modes = modes
        self.dispatcher = dispatcher
        self.outbox = outbox
        #: the mode schedule, clip retention and the digest (started by ``run``)
        self.scheduler = scheduler
        #: builds each camera's parts when the run starts
        self.cameras = cameras
        self.clips = clips
        #: who is who across cameras (None: no identity section, nothing loads)
        self.identity = identity
        self.writer = writer
        #: each camera's latest picture (the zone editor's background)
        self.snapshots = snapshots
        self.progress = progress
        self.stop = stop or threading.Event()
        self.clock = clock
        site = bundle.site
        # cameras playing a file: their timers end with it (reported, never carried over)
        self.files = file_cameras(site)
        self.live_cameras = live_cameras(site)
        #: timers still running when a file camera's video ended (said as PENDING lines)
        self.pending: list[Pending] = []
        self._ended: set[str] = set()
        self.events: list[Event] = []
        #: alerts not sent when the run ended (sent, or reconciled, at the next start)
        self.unsent: list[Delivery] = []
        self.times = StageTimes()
        self.workers: list[CameraFeed] = []
        #: cameras run by workers elsewhere: watched for silence whatever their source
        self.remote: set[str] = set()
        #: each camera's health monitor (cameras whose health is checked), by camera id
        self.monitors: dict[str, CameraHealthMonitor] = {}
        #: cameras this run watches: a watch row each, with a heartbeat every
        #: health.heartbeat seconds (camera → time and frame count at the last beat)
        self._watching: dict[str, tuple[float, int]] = {}
        self._next_beat = 0.0
        #: cameras on which somebody was seen (the end of a run says where nobody was)
        self.people_seen: set[str] = set()

    def _make_workers(self, q: queue.Queue[object]) -> None:
        for parts in self.cameras.build():
            if parts.monitor is not None:
                self.monitors[parts.camera] = parts.monitor
            if isinstance(parts, RemoteParts):  # a worker elsewhere runs it
                self.remote.add(parts.camera)
                self.workers.append(parts.feed(q, self.stop))
                continue
            self.workers.append(
                parts.worker(q, self.stop, clock=self.clock, snapshots=self.snapshots)
            )

    def run(self) -> list[Event]:
        q: queue.Queue[object] = queue.Queue(maxsize=64)
        self._make_workers(q)
        # alerts are sent from threads of their own; those left pending or in doubt by
        # an earlier run go first (a provider that hangs never holds up the rules)
        self.outbox.start()
        self.outbox.wake()
        if self.clips is not None:  # .part files left by a crash → MP4s, lost ones skipped
            self.clips.recover()
            self.clips.start()
        catch_up(self.bundle.site.modes.schedule, self.modes)  # missed while not running
        self.engine.set_mode(self.modes.current().mode)
        self.scheduler.start()
        self._begin_watch()
        self.bus.start()  # MQTT: connect, announce; its commands run in housekeeping
        # the rule thread never waits long for another process holding the database:
        # its events wait in memory instead (Dispatcher), the rest is tried a second later
        self.store.set_patience(RETRY_WAIT)
        for w in self.workers:
            w.start()
        running = len(self.workers)
        last_progress = last_house = 0.0
        try:
            while running:
                try:
                    item = q.get(timeout=0.25)
                except queue.Empty:
                    item = None
                if isinstance(item, StreamEnded):
                    running -= 1
                    self._stream_ended(item.camera)
                    if item.camera not in self.live_cameras:  # a file is done, not offline
                        self._end_watch(item.camera)
                elif isinstance(item, Observation):
                    self.handle(item)
                elif isinstance(item, HealthChange):
                    self.health([item])
                now = time.monotonic()
                if self.progress is not None and now - last_progress >= 2.0:
                    last_progress = now
                    self._print_progress()
                if now - last_house >= 1.0:  # housekeeping, not per frame
                    last_house = now
                    self.housekeeping()
            if not self.stop.is_set():  # the videos ended: pending alerts get a while
                self._drain()
        finally:
            self.stop.set()
            self.scheduler.shutdown()
            for w in self.workers:
                w.join(timeout=10)
            while True:  # whatever was already observed is still handled
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                if isinstance(item, Observation):
                    self.handle(item)
                elif isinstance(item, HealthChange):
                    self.health([item])
                elif isinstance(item, StreamEnded):
                    self._stream_ended(item.camera)
            for camera in self.files:  # stopped before the end: that run's video is over
                self._stream_ended(camera)
            for camera in list(self._watching):  # a clean stop: watching ends here
                self._end_watch(camera)
            self.store.set_patience(None)
            if not self.dispatcher.retry(FINAL_WAIT) and self.dispatcher.waiting is not None:
                lost = self.dispatcher.waiting.events
                log.error(
                    "the database stayed busy: %d event(s) could not be stored: %s",
                    len(lost),
                    "; ".join(f"{e.rule_id} at {e.started_at:.0f}" for e in lost),
                )
            busy = self.outbox.stop(STOP_WAIT)
            if busy:
                log.warning(
                    "stopping while %s still holds a send: it is asked at the next start "
                    "whether it went out",
                    ", ".join(busy),
                )
            with contextlib.suppress(sqlite3.Error):
                self.unsent = self.store.outbox.find("pending") + self.store.outbox.find("sending")
            if self.progress is not None:
                self._print_progress()
            if self.clips is not None:  # open clips end with the frames they have
                self.clips.close()
            self.cameras.close()  # remote cameras: their clips come in, the link goes
            if self.writer is not None:
                self.writer.close()
            self.bus.close()
            if not busy:  # a sender still waiting for its provider keeps the connection
                self.side.close()
        return self.events

    def _drain(self) -> None:
        """Every video ended by itself: what waits for the database is stored, and alerts
        still pending get up to DRAIN_LIMIT seconds to go out (not the next start)."""
        self.dispatcher.retry(FINAL_WAIT)
        if self.outbox.stop(STOP_WAIT):
            return  # a provider still holds a send: the next start reconciles it
        self.outbox.drain(DRAIN_LIMIT, stop=self.stop)

    def handle(self, obs: Observation) -> None:
        """Rules → events + state + requests (one transaction) → side effects."""
        if self.identity is not None:  # person, role, name, responsible before the rules
            t = time.perf_counter()
            obs = self.identity.update(obs)
            self.times.add("identity", time.perf_counter() - t)
        if self.writer is not None:
            self.writer.write(obs)
        if obs.tracks:
            self.people_seen.add(obs.camera)
        self.bus.counts(obs)
        t0 = time.perf_counter()
        self.events.extend(self.dispatcher.handle(obs))
        if self.waits is not None:
            self.waits.set(obs.camera, self.engine.waiting_on(obs.camera))
        self.times.add("rules", time.perf_counter() - t0)

    def _stream_ended(self, camera: str) -> None:
        """A file camera's frames ended: its running timers are said and dropped."""
        if camera in self.files and camera not in self._ended:
            self._ended.add(camera)
            self.pending += self.dispatcher.end_stream(camera)

    def housekeeping(self) -> None:
        self.events.extend(self.dispatcher.housekeeping(self.clock(), self.live_cameras))
        try:
            self._health_tick(beat=self.dispatcher.waiting is None)
        except sqlite3.OperationalError as exc:  # heartbeats: the next one will do
            log.info("heartbeat skipped: the database is busy (%s)", exc)
        self.bus.tick(self.clock(), self.camera_states())

    def camera_states(self) -> list[CameraState]:
        """Each camera as MQTT shows it: watched and not offline, and its problems."""
        states = []
        for w in self.workers:
            camera = w.status.camera
            monitor = self.monitors.get(camera)
            problems = monitor.problems if monitor is not None else ()
            online = (
                camera in self._watching
                and w.status.error is None
                and HealthProblem.OFFLINE not in problems
            )
            states.append(CameraState(camera, online, problems))
        return states

    # -- camera health: what watched when ------------------------------------------------
    def health(self, changes: Sequence[HealthChange]) -> None:
        """Camera problems that began or ended: stored as spans, then the rules."""
        for change in changes:
            what = "over" if change.ended is not None else "began"
            log.warning(
                "camera %s: %s %s%s",
                change.camera,
                change.problem,
                what,
                f" ({change.detail})" if change.detail and change.ended is None else "",
            )
        self.events.extend(self.dispatcher.health(changes, self.clock()))

    def _begin_watch(self) -> None:
        now = self.clock()
        for w in self.workers:
            self.store.camera_health.begin_watch(self.engine.run_id, w.status.camera, now)
            self._watching[w.status.camera] = (now, 0)
        self._next_beat = now + float(self.bundle.site.health.heartbeat)

    def _end_watch(self, camera: str) -> None:
        """The camera is no longer watched (a file that ended, or a clean stop)."""
        if camera not in self._watching:
            return
        now = self.clock()
        try:
            self._beat(camera, now)
        except sqlite3.OperationalError as exc:
            log.warning("last heartbeat of %s skipped: the database is busy (%s)", camera, exc)
        del self._watching[camera]
        # its problems end with the watch: no "back" alert, nothing left waiting
        self.events.extend(self.dispatcher.health([], now, ended=[camera]))
        try:
            self.store.camera_health.end_watch(self.engine.run_id, camera, now)
        except sqlite3.OperationalError as exc:  # shown as ending at its last heartbeat
            log.warning("end of watch of %s not stored: the database is busy (%s)", camera, exc)

    def _health_tick(self, beat: bool = True) -> None:
        """Once a second: offline live cameras, the health rules' waits, heartbeats
        (``beat`` False: not now, the database is held by another process)."""
        now = self.clock()
        changes: list[HealthChange] = []
        for w in self.workers:
            camera = w.status.camera
            monitor = self.monitors.get(camera)
            watched = camera in self.live_cameras or camera in self.remote
            if monitor is not None and watched and camera in self._watching:
                changes += monitor.tick(now, w.status.last_frame, w.connected)
        self.health(changes)
        if beat and now >= self._next_beat:
            self._next_beat = now + float(self.bundle.site.health.heartbeat)
            for camera in list(self._watching):
                self._beat(camera, now)

    def _beat(self, camera: str, now: float) -> None:
        status = next(w.status for w in self.workers if w.status.camera == camera)
        then, frames = self._watching.get(camera, (now, status.processed))
        fps = (status.processed - frames) / (now - then) if now > then else 0.0
        self._watching[camera] = (now, status.processed)
        monitor = self.monitors.get(camera)
        self.store.camera_health.beat(
            self.engine.run_id,
            camera,
            now,
            last_frame=status.last_frame,
            frames=status.processed,
            fps=fps,
            problems=monitor.problems if monitor is not None else (),
        )

    def _print_progress(self) -> None:
        assert self.progress is not None
        parts = []
        for w in self.workers:
            s = w.status
            total = f"/{s.total}" if s.total else ""
            pct = f" {100 * (s.last_index + 1) / s.total:3.0f}%" if s.total else ""
            state = " done" if s.done else ""
            dropped = f" {s.dropped} dropped" if s.dropped else ""
            parts.append(
                f"{s.camera}: frame {s.last_index + 1}{total}{pct} {s.fps:4.1f} fps{dropped}{state}"
            )
        print("progress  " + " | ".join(parts), file=self.progress, flush=True)
