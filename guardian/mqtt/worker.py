"""A camera worker (``guardian worker``): the camera half of a site on another machine.

It runs the named cameras exactly as ``guardian run`` runs its own (source → detection →
tracking → zones → pose → scene → Observation, the parts guardian.app builds) and sends
each camera's observations and picture problems to the site over MQTT, in order, from a
persistent session (QoS 1, a fixed client id): the site's rules, store and alerts take
them as if the cameras were its own.

* **Broker away**: the items wait in a bounded backlog (``mqtt: backlog``); past it the
  oldest are dropped, counted and logged; the rest go out in order once it is back.
* **Availability**: ``<prefix>/workers/<name>/status`` is ``online`` (retained); the
  broker's last-will says ``offline`` when the worker dies, and a clean stop says it too.
* **Clips**: the worker keeps each camera's frame ring; when the site asks for a clip it
  writes it into the clips folder it was given (the site's clips folder, shared: see
  README), and each change of the clip's row goes back to the site (:class:`RemoteClipLog`).

A worker is a service: a video file that ends does not stop it (the site is told the
camera's stream ended); it runs until SIGINT / SIGTERM.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from typing import Any

from guardian.clips import ClipRecorder
from guardian.motion import RuleWaits
from guardian.mqtt.feed import (
    FeedBody,
    FeedError,
    StreamEnd,
    decode_clip_request,
    decode_waiting,
    encode_clip_update,
    encode_item,
)
from guardian.mqtt.link import Message, MqttLink
from guardian.mqtt.topics import OFFLINE, ONLINE, Topics
from guardian.pipeline import CameraBuilder, CameraParts, CameraWorker, StreamEnded
from guardian.records import Clip, HealthChange, Observation
from guardian.snapshots import Snapshots

log = logging.getLogger("guardian.worker")

#: messages handed to the link but not yet acknowledged by the broker, at most
INFLIGHT = 1000
#: seconds a stopping worker waits for the broker to take what is left
STOP_FLUSH = 10.0


class FeedSender:
    """Each camera's items → its feed topic, numbered and in order (one thread calls it).

    While the link is down (or too much is in flight) items wait in a backlog of at most
    ``backlog`` messages; beyond it the oldest is dropped and counted (``dropped``).
    """

    def __init__(
        self, link: MqttLink, topics: Topics, worker: str, *, backlog: int, run: str | None = None
    ) -> None:
        self.link = link
        self.topics = topics
        self.worker = worker
        #: this run of the worker: the site tells a restart from a redelivery by it
        self.run = run or f"{int(time.time())}-{secrets.token_hex(3)}"
        self.limit = backlog
        self.dropped = 0
        self.sent = 0
        self._seq: defaultdict[str, int] = defaultdict(int)
        self._backlog: deque[tuple[str, bytes]] = deque()

    @property
    def waiting(self) -> int:
        """Messages in the backlog."""
        return len(self._backlog)

    def send(self, body: FeedBody) -> None:
        camera = body.camera
        seq = self._seq[camera]
        self._seq[camera] = seq + 1
        if len(self._backlog) >= self.limit and not self.flush():
            self._backlog.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "the broker is away and the backlog is full (mqtt.backlog %d): "
                    "%d oldest observation(s) dropped so far",
                    self.limit,
                    self.dropped,
                )
        self._backlog.append(
            (self.topics.observations(camera), encode_item(self.worker, self.run, seq, body))
        )
        self.flush()

    def flush(self) -> int:
        """Publish what waits while the broker takes it; how many went."""
        went = 0
        while self._backlog and self.link.connected and self.link.pending() < INFLIGHT:
            topic, payload = self._backlog.popleft()
            self.link.publish(topic, payload, qos=1)
            went += 1
        self.sent += went
        return went


class RemoteClipLog:
    """The clip rows of a worker's clip writers: each change goes to the site, which
    keeps the rows (``<prefix>/cameras/<camera>/clips/ready``)."""

    def __init__(self, link: MqttLink, topics: Topics) -> None:
        self.link = link
        self.topics = topics

    def update(self, clip_ids: Iterable[str], **fields: Any) -> None:
        by_camera: defaultdict[str, list[str]] = defaultdict(list)
        for clip_id in clip_ids:  # "<event>:<camera>"
            by_camera[clip_id.rsplit(":", 1)[-1]].append(clip_id)
        for camera, ids in by_camera.items():
            self.link.publish(
                self.topics.clip_ready(camera), encode_clip_update(tuple(ids), fields), qos=1
            )

    def find(
        self, *, since: float | None = None, status: str | None = None, path: str | None = None
    ) -> list[Clip]:
        """The rows are the site's: a worker finds none."""
        return []


class RemoteClipStore:
    """A store whose only part is the clip log that reports to the site."""

    def __init__(self, clip_log: RemoteClipLog) -> None:
        self.clip_log = clip_log


class WorkerNode:
    """Runs a worker's cameras and sends what they see to the site (see the module)."""

    def __init__(
        self,
        name: str,
        cameras: CameraBuilder,
        link: MqttLink,
        topics: Topics,
        *,
        backlog: int,
        clips: ClipRecorder | None = None,
        snapshots: Snapshots | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.time,
        waits: RuleWaits | None = None,
    ) -> None:
        self.name = name
        #: this worker's cameras a rule of the site waits on (the site says, over MQTT)
        self.waits = waits
        self._waited: frozenset[str] = frozenset()
        self.cameras = cameras
        self.link = link
        self.topics = topics
        self.sender = FeedSender(link, topics, name, backlog=backlog)
        self.clips = clips
        self.snapshots = snapshots
        self.stop = stop or threading.Event()
        self.clock = clock
        self.workers: list[CameraWorker] = []

    def connect(self, timeout: float = 10.0) -> None:
        """Connect to the broker (MqttError when it cannot be reached)."""
        self.link.on_connect(self._online)
        self.link.subscribe(self.topics.clip_request(self.name), self._on_clip_request)
        self.link.subscribe(self.topics.waiting(self.name), self._on_waiting)
        self.link.connect(timeout)

    def run(self) -> None:
        """Until ``stop``: every camera's items to its feed."""
        q: queue.Queue[object] = queue.Queue(maxsize=64)
        try:
            for parts in self.cameras.build():  # the models load here
                assert isinstance(parts, CameraParts)  # a worker runs its cameras itself
                self.workers.append(
                    parts.worker(q, self.stop, clock=self.clock, snapshots=self.snapshots)
                )
            if self.clips is not None:
                self.clips.start()
            for w in self.workers:
                w.start()
            while not self.stop.is_set():
                try:
                    item = q.get(timeout=0.2)
                except queue.Empty:
                    item = None
                if item is not None:
                    self._send(item)
                self.sender.flush()
        finally:
            self.stop.set()
            for w in self.workers:
                w.join(timeout=10)
            while True:
                try:
                    self._send(q.get_nowait())
                except queue.Empty:
                    break
            if self.clips is not None:  # open clips end with the frames they have
                self.clips.close()
            self._goodbye()

    def _send(self, item: object) -> None:
        if isinstance(item, Observation | HealthChange):
            self.sender.send(item)
        elif isinstance(item, StreamEnded) and not self.stop.is_set():
            # the file ended (a stop is not the stream's end: the camera goes offline)
            log.warning("camera %s: its video ended; the worker keeps running", item.camera)
            self.sender.send(StreamEnd(item.camera))

    def _goodbye(self) -> None:
        """Send what waits (STOP_FLUSH s at most), say offline, disconnect."""
        deadline = time.monotonic() + STOP_FLUSH
        while self.sender.waiting and time.monotonic() < deadline:
            if not self.sender.flush():
                time.sleep(0.05)
        self.link.flush(max(0.0, deadline - time.monotonic()))
        left = self.sender.waiting + self.link.pending()
        if left or self.sender.dropped:
            log.warning(
                "worker %s stopped with %d message(s) not taken by the broker and %d dropped",
                self.name,
                left,
                self.sender.dropped,
            )
        if self.link.connected:
            self.link.publish(self.topics.worker(self.name), OFFLINE, retain=True)
            self.link.flush(2.0)
        self.link.close()

    # -- the network thread ----------------------------------------------------------------
    def _online(self) -> None:
        self.link.publish(self.topics.worker(self.name), ONLINE, retain=True)

    def _on_waiting(self, message: Message) -> None:
        """The site's list of this worker's cameras a rule waits on."""
        try:
            cameras = decode_waiting(message.payload)
        except FeedError as exc:
            log.warning("ignored a waiting list on %s: %s", message.topic, exc)
            return
        if self.waits is None:
            return
        for camera in self._waited - cameras:
            self.waits.set(camera, False)
        for camera in cameras:
            self.waits.set(camera, True)
        self._waited = cameras

    def _on_clip_request(self, message: Message) -> None:
        try:
            ask = decode_clip_request(message.payload)
        except FeedError as exc:
            log.warning("ignored a clip request on %s: %s", message.topic, exc)
            return
        if self.clips is None:
            log.warning("clip of event %s asked, but clips are off here", ask.request.event_id)
            return
        events = [ask.event] if ask.event is not None else []
        self.clips.submit([ask.request], events, ask.observation)
        camera = ask.request.camera
        ended = any(w.status.done and w.status.camera == camera for w in self.workers)
        clips = self.clips.camera(camera)
        if ended and clips is not None:  # no frame will close it: it ends with what it has
            clips.finish()


__all__ = ["FeedSender", "RemoteClipLog", "RemoteClipStore", "WorkerNode"]
