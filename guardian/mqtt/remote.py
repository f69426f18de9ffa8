"""The site's side of its camera workers: cameras that another machine runs.

For each camera with ``worker: NAME`` the site opens nothing: a :class:`RemoteCamera`
takes the camera's feed (guardian.mqtt.feed) off the broker and puts its Observations,
HealthChanges and end of stream on the runner's queue, where the site half (identity,
rules, store, alerts) takes them as it takes a local camera's.

* **Exactly once, in order**: the link is a persistent session (QoS 1), so what the
  workers publish while the site is away waits at the broker; a redelivered item (its
  sequence number already seen in that worker run) is dropped; a gap is logged.
* **Offline**: the site's health monitor of the camera counts the time since the last
  item; a dead worker (its last-will) or a lost network stops them, so the built-in
  ``camera_health`` rule fires after ``health: offline_after``, and its items coming back
  end it. The picture's own problems (frozen, dark, covered, moved) are checked on the
  worker and arrive on the feed.
* **Clips**: :class:`RemoteClips` asks the worker for an event's clip; the worker writes
  it into the shared clips folder and reports the clip row's changes, which are checked
  (this camera's rows, known fields, paths inside the clips folder) and stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from guardian.clips.paths import resolve_clip_path
from guardian.clips.recorder import ClipRows
from guardian.effects import ClipRequest
from guardian.health import CameraHealthMonitor
from guardian.mqtt.feed import (
    FeedError,
    FeedItem,
    StreamEnd,
    decode_clip_update,
    decode_item,
    encode_clip_request,
    encode_waiting,
)
from guardian.mqtt.link import Message, MqttError, MqttLink
from guardian.mqtt.topics import OFFLINE, ONLINE, Topics
from guardian.pipeline import CameraStatus, FeedFactory, StreamEnded, put_until_stopped
from guardian.records import Event, HealthChange, Observation
from guardian.vocab import ClipStatus

log = logging.getLogger("guardian.remote")

#: seconds between tries to reach the broker when it is away at the start
RETRY_CONNECT = 5.0
#: seconds the end of a run waits for the clips it asked workers for
CLIP_WAIT = 20.0
#: clip row fields that are paths inside the clips folder
_PATHS = ("path", "thumbnail_path", "snapshot_path")


class RemoteCamera:
    """Same role as :class:`guardian.pipeline.CameraWorker`, for a camera a worker runs."""

    def __init__(
        self,
        camera: str,
        worker: str,
        hub: RemoteCameras,
        out: queue.Queue[object],
        stop: threading.Event,
        *,
        monitor: CameraHealthMonitor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.camera = camera
        self.worker = worker
        self.hub = hub
        self.out = out
        self.stop = stop
        self.monitor = monitor
        self.clock = clock
        self.status = CameraStatus(camera, None)
        #: items dropped as already seen (redeliveries), and items that never came (gaps)
        self.duplicates = 0
        self.missed = 0
        #: payloads that could not be read (logged, ignored)
        self.rejected = 0
        self._run: str | None = None
        self._next = 0
        self._old_runs: set[str] = set()
        self._lock = threading.Lock()

    @property
    def connected(self) -> bool | None:
        return None  # the worker's camera: its connection is the worker's business

    def start(self) -> None:
        self.hub.attach(self)
        # the run stops: this camera's stream ends here, as a CameraWorker's does
        threading.Thread(
            target=self._end_on_stop, name=f"remote-{self.camera}", daemon=True
        ).start()

    def _end_on_stop(self) -> None:
        self.stop.wait()
        if self._end():
            self._put(StreamEnded(self.camera))

    def _end(self) -> bool:
        """Mark the stream over; False when it already was (one StreamEnded per camera)."""
        with self._lock:
            was, self.status.done = self.status.done, True
        return not was

    def join(self, timeout: float | None = None) -> None:
        self.hub.detach(self)

    # -- the network thread ----------------------------------------------------------------
    def receive(self, message: Message) -> None:
        """One message of the camera's feed: checked, deduplicated, queued."""
        try:
            item = decode_item(self.camera, message.payload)
        except FeedError as exc:
            self.rejected += 1
            log.warning("camera %s: ignored a message on %s: %s", self.camera, message.topic, exc)
            return
        if item.worker != self.worker:
            self.rejected += 1
            log.warning(
                "camera %s: ignored items from worker '%s' (the site file says '%s')",
                self.camera,
                item.worker,
                self.worker,
            )
            return
        with self._lock:
            if not self._fresh(item):
                return
        body = item.body
        if isinstance(body, Observation):
            now = self.clock()
            self.status.processed += 1
            self.status.last_index = body.frame_index
            self.status.last_frame = now
            if self.monitor is not None:
                for change in self.monitor.arrived(now):
                    self._put(change)
            self._put(body)
        elif isinstance(body, HealthChange):
            self._put(body)
        elif isinstance(body, StreamEnd) and self._end():
            log.info("camera %s: its video ended on worker %s", self.camera, self.worker)
            self._put(StreamEnded(self.camera))

    def _fresh(self, item: FeedItem) -> bool:
        """False for an item already had; logs a worker restart and a gap."""
        if item.run in self._old_runs:
            self.duplicates += 1
            return False
        if item.run != self._run:
            if self._run is not None:
                log.warning("camera %s: worker %s started again", self.camera, self.worker)
                self._old_runs.add(self._run)
            self._run, self._next = item.run, item.seq
        if item.seq < self._next:
            self.duplicates += 1
            return False
        if item.seq > self._next:
            self.missed += item.seq - self._next
            log.warning(
                "camera %s: %d item(s) from worker %s never came (the worker's backlog "
                "overflowed while the broker was away)",
                self.camera,
                item.seq - self._next,
                self.worker,
            )
        self._next = item.seq + 1
        return True

    def _put(self, item: object) -> None:
        put_until_stopped(self.out, item, self.stop)


class RemoteClips:
    """A remote camera's clips: asked of its worker (a ``ClipTaker`` of the recorder)."""

    def __init__(self, hub: RemoteCameras, camera: str, worker: str) -> None:
        self.hub = hub
        self.camera = camera
        self.worker = worker

    def request(
        self, request: ClipRequest, event: Event | None, observation: Observation | None
    ) -> None:
        self.hub.ask_clip(self.worker, request, event, observation)


class RemoteCameras:
    """The site's link to its workers: one persistent MQTT session for every remote
    camera's feed, the workers' availability and the clips' hand-off.

    ``make_link`` builds the link (a fresh one for each try while the broker cannot be
    reached at the start); ``cameras``: camera → worker; ``clip_rows``: the site's clip
    rows (its side connection's ``clip_log``), ``clips_dir`` the shared clips folder.
    """

    def __init__(
        self,
        make_link: Callable[[], MqttLink],
        topics: Topics,
        cameras: Mapping[str, str],
        *,
        clip_rows: ClipRows | None = None,
        clips_dir: Path | None = None,
    ) -> None:
        self.make_link = make_link
        self.topics = topics
        self.cameras = dict(cameras)
        self.clip_rows = clip_rows
        self.clips_dir = clips_dir
        self.link: MqttLink | None = None
        self._feeds: dict[str, RemoteCamera] = {}
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        #: clip rows asked of workers and not yet written or skipped
        self._asked: set[str] = set()
        #: remote cameras a rule waits on (their workers keep the models running)
        self._waiting: set[str] = set()
        self._answered = threading.Condition()

    # -- the runner's side -----------------------------------------------------------------
    def feed(
        self,
        camera: str,
        monitor: CameraHealthMonitor | None,
        clock: Callable[[], float] = time.time,
    ) -> FeedFactory:
        """What builds the camera's :class:`RemoteCamera` on the runner's queue."""
        worker = self.cameras[camera]

        def build(out: queue.Queue[object], stop: threading.Event) -> RemoteCamera:
            return RemoteCamera(camera, worker, self, out, stop, monitor=monitor, clock=clock)

        return build

    def clip_takers(self) -> dict[str, RemoteClips]:
        """Each remote camera's clips, for the site's recorder."""
        return {cam: RemoteClips(self, cam, worker) for cam, worker in self.cameras.items()}

    def attach(self, feed: RemoteCamera) -> None:
        """A remote camera starts: the first one connects (in the background)."""
        with self._lock:
            self._feeds[feed.camera] = feed
            if self._thread is None:
                self._thread = threading.Thread(target=self._connect, name="mqtt-cameras")
                self._thread.daemon = True
                self._thread.start()

    def detach(self, feed: RemoteCamera) -> None:
        """A remote camera stops taking items (the run ends)."""
        with self._lock:
            self._feeds.pop(feed.camera, None)

    def close(self, wait: float = CLIP_WAIT) -> None:
        """The run is over: the clips asked for get ``wait`` s to come in; disconnect."""
        deadline = time.monotonic() + wait
        with self._answered:
            while self._asked and self.link is not None and time.monotonic() < deadline:
                self._answered.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            if self._asked:
                log.warning(
                    "%d clip(s) asked of workers had not come in at the end of the run",
                    len(self._asked),
                )
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.link is not None:
            self.link.close()

    def ask_clip(
        self,
        worker: str,
        request: ClipRequest,
        event: Event | None,
        observation: Observation | None,
    ) -> None:
        link = self.link
        if link is None:
            log.warning(
                "clip of event %s not asked: the broker was never reached", request.event_id
            )
            return
        with self._answered:
            self._asked.add(f"{request.event_id}:{request.camera}")
        link.publish(
            self.topics.clip_request(worker),
            encode_clip_request(request, event, observation),
            qos=1,
        )

    def waiting(self, camera: str, waiting: bool) -> None:
        """A rule began or stopped waiting on ``camera`` (the rule thread): its worker is
        told, so that its models keep looking while a submersion timer runs."""
        worker = self.cameras.get(camera)
        if worker is None:
            return
        with self._lock:
            if waiting:
                self._waiting.add(camera)
            else:
                self._waiting.discard(camera)
        self._tell(worker)

    def _tell(self, worker: str) -> None:
        """The worker's cameras a rule waits on, retained (a restarted worker knows)."""
        link = self.link
        if link is None:
            return  # said when the link connects
        with self._lock:
            cameras = [c for c in self._waiting if self.cameras.get(c) == worker]
        link.publish(self.topics.waiting(worker), encode_waiting(cameras), qos=1, retain=True)

    # -- the link --------------------------------------------------------------------------
    def _connect(self) -> None:
        while not self._done.is_set():
            link = self.make_link()
            for camera in self.cameras:
                link.subscribe(self.topics.observations(camera), self._route)
                link.subscribe(self.topics.clip_ready(camera), self._clip_ready)
            for worker in sorted(set(self.cameras.values())):
                link.subscribe(self.topics.worker(worker), self._worker_status)
            try:
                link.connect()
            except MqttError as exc:
                log.error("%s; trying again in %.0f s", exc, RETRY_CONNECT)
                self._done.wait(RETRY_CONNECT)
                continue
            self.link = link
            # every worker hears this run's list (an earlier run's retained one is stale)
            for worker in sorted(set(self.cameras.values())):
                self._tell(worker)
            return

    def _route(self, message: Message) -> None:
        camera = self.topics.camera_of(message.topic)
        with self._lock:
            feed = self._feeds.get(camera) if camera is not None else None
        if feed is None:
            log.debug("no running camera for %s", message.topic)
            return
        feed.receive(message)

    def _worker_status(self, message: Message) -> None:
        worker = self.topics.worker_of(message.topic)
        state = message.payload.decode(errors="replace").strip()
        cameras = ", ".join(c for c, w in self.cameras.items() if w == worker)
        if state == OFFLINE:
            log.warning("worker %s is offline (cameras %s)", worker, cameras)
        elif state == ONLINE:
            log.info("worker %s is online (cameras %s)", worker, cameras)
        else:
            log.warning("worker %s: ignored an unknown status %r", worker, state[:40])

    def _clip_ready(self, message: Message) -> None:
        camera = self.topics.camera_of(message.topic)
        if camera is None or self.clip_rows is None:
            return
        try:
            update = decode_clip_update(camera, message.payload)
            if self.clips_dir is not None:
                for key in _PATHS:
                    value = update.fields.get(key)
                    if isinstance(value, str):
                        resolve_clip_path(self.clips_dir, value)
        except (FeedError, ValueError) as exc:
            log.warning("camera %s: ignored a clip report: %s", camera, exc)
            return
        try:
            self.clip_rows.update(update.ids, **update.fields)
        except Exception as exc:  # an unknown row, a busy database: the report is lost
            log.warning("camera %s: clip report not stored: %s", camera, exc)
            return
        if update.fields.get("status") in (ClipStatus.WRITTEN, ClipStatus.SKIPPED):
            with self._answered:
                self._asked.difference_update(update.ids)
                self._answered.notify_all()


__all__ = ["RemoteCamera", "RemoteCameras", "RemoteClips"]
