"""Every part of a running site, built from its configuration (the ``build_*`` factories).

Each factory turns one section of the site file into the object that does the work:
the alert channels and outbox, the clip recorder and its retention job, a camera's
health monitor and posture estimator, the site identity, the digest job, the scheduler,
and each camera's detector and pipeline (:class:`SiteDetectors`, :class:`SiteCameras`).
:mod:`guardian.app.run` wires them together; nothing else builds them.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from guardian.alerts import Outbox
from guardian.alerts.base import Notifier
from guardian.alerts.console import ConsoleNotifier, LogNotifier
from guardian.alerts.push import PushNotifier
from guardian.alerts.sms import SmsNotifier
from guardian.app.site import mode_manager
from guardian.clips import ClipRecorder, cameras_with_events
from guardian.clips.recorder import ClipStore
from guardian.clips.retention import prune
from guardian.config import CameraConfig, SiteBundle
from guardian.config.cron import crontab_trigger
from guardian.config.identity import IdentityConfig
from guardian.config.pose import PoseConfig
from guardian.config.site import SiteConfig
from guardian.detection import PoseDetector
from guardian.digest import digest_job, digest_recipients, digest_trigger
from guardian.fall.classifier import FallClassifier
from guardian.health import (
    CameraHealthMonitor,
    HealthSettings,
    load_reference,
    reference_path,
)
from guardian.identity.manager import SiteIdentity, load_enrolled
from guardian.identity.role import RoleEstimator
from guardian.modes import ModeManager
from guardian.motion import InferenceGate, MotionDetector, RuleWaits
from guardian.mqtt.bus import MqttBus, NoBus, SiteBus
from guardian.mqtt.commands import SiteCommands
from guardian.mqtt.discovery import discovery_messages, node_id
from guardian.mqtt.link import MqttLink, Will, credentials
from guardian.mqtt.publisher import SitePublisher
from guardian.mqtt.remote import RemoteCameras
from guardian.mqtt.topics import OFFLINE, Topics
from guardian.pipeline import (
    CameraParts,
    CameraPipeline,
    Detect,
    RemoteParts,
    StageTimes,
    live_cameras,
)
from guardian.pose import PostureEstimator, PostureTracker, PostureTuning
from guardian.relook import Relook
from guardian.rules import RuleSet
from guardian.scheduler import Scheduler
from guardian.sources import open_source
from guardian.store import Store
from guardian.swim.detector import SWIMMER_LABEL, WaterDetector, shipped_swimmer_path
from guardian.tracking import Tracker

log = logging.getLogger("guardian.health")  # build_monitor's messages


#: environment variable: CPU threads for each camera's models, instead of the machine's
#: cores shared among the cameras (the test suite sets 1; see tests/conftest.py)
MODEL_THREADS_ENV = "GUARDIAN_MODEL_THREADS"


#: builds a camera's detector (tests give one that needs no model)
DetectorFactory = Callable[[CameraConfig], Detect]


def threads_per_camera(bundle: SiteBundle, here: Sequence[str] | None = None) -> int:
    """CPU threads each camera's models may use: ``$GUARDIAN_MODEL_THREADS`` when set to a
    positive number, else this machine's cores shared among the cameras it runs — ``here``
    (a worker's cameras), or by default the enabled cameras no worker runs elsewhere."""
    configured = os.environ.get(MODEL_THREADS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    if here is None:
        here = [c.id for c in bundle.site.cameras if c.enabled and c.worker is None]
    return max(1, (os.cpu_count() or 1) // max(1, len(here)))


class SiteDetectors:
    """Builds a camera's detector: the pose model, with the swimmer model on the cameras
    that watch water."""

    def __init__(self, bundle: SiteBundle, here: Sequence[str] | None = None) -> None:
        self.bundle = bundle
        #: the cameras whose models run in this process (None: the site's own cameras)
        self.here = here

    def __call__(self, camera: CameraConfig) -> Detect:
        bundle, det = self.bundle, self.bundle.site.detection
        threads = threads_per_camera(bundle, self.here)
        detector = PoseDetector(
            models_dir=bundle.models_dir,
            model_path=bundle.model_path,
            backend=det.backend,
            imgsz=camera.imgsz,
            # the model runs at the low floor: low scores may continue tracks (pose.low_score)
            confidence=min(det.confidence, bundle.site.pose.low_score),
            device=det.device,
            threads=threads,
            precision=det.precision,
        )
        if camera.id not in bundle.swimmer_cameras():
            return lambda frame: detector.detect(frame.image)
        swim = det.swimmers
        swimmers = PoseDetector(
            models_dir=bundle.models_dir,
            model_path=bundle.swimmer_model_path or shipped_swimmer_path(),
            backend=det.backend,
            imgsz=swim.imgsz or camera.imgsz,
            confidence=swim.confidence,
            device=det.device,
            threads=threads,
            task="detect",
            label=SWIMMER_LABEL,
            precision=det.precision,
        )
        water = WaterDetector(detector.detect, swimmers.detect, overlap=swim.overlap)
        return lambda frame: water.detect(frame.image)


class SiteCameras:
    """Builds each enabled camera's parts when the run starts (the models load then)."""

    def __init__(
        self,
        bundle: SiteBundle,
        detect: DetectorFactory,
        *,
        scene_zones: frozenset[str],
        clips: ClipRecorder | None,
        identity: SiteIdentity | None,
        relook: bool,
        clock: Callable[[], float] = time.time,
        remote: RemoteCameras | None = None,
        only: Collection[str] | None = None,
        waits: RuleWaits | None = None,
    ) -> None:
        self.bundle = bundle
        #: cameras a rule waits on (set by the rule thread; None: a worker, no rules here)
        self.waits = waits
        self.detect = detect
        self.scene_zones = scene_zones
        self.clips = clips
        self.identity = identity
        #: the second look needs a detector that works on any image (a crop): the model's
        self.relook = relook
        self.clock = clock
        #: the site's link to the cameras with ``worker:`` (their feeds come from there)
        self.remote = remote
        #: a camera worker: these cameras only, opened here whatever their ``worker:``
        self.only = None if only is None else frozenset(only)

    def build(self) -> list[CameraParts | RemoteParts]:
        site = self.bundle.site
        live = live_cameras(site)
        parts: list[CameraParts | RemoteParts] = []
        for cam in site.cameras:
            if not cam.enabled or (self.only is not None and cam.id not in self.only):
                continue
            if self.only is None and cam.worker is not None and self.remote is not None:
                monitor = build_monitor(self.bundle, cam, live=False, clock=self.clock)
                feed = self.remote.feed(cam.id, monitor, self.clock)
                parts.append(RemoteParts(cam.id, feed, monitor))
            else:
                parts.append(self._camera(cam, cam.id in live))
        return parts

    def close(self) -> None:
        """The run is over: the remote cameras' link goes (once their clips are in)."""
        if self.remote is not None:
            self.remote.close()

    def _gate(self, cam: CameraConfig) -> InferenceGate | None:
        """When the camera's models run (None: on every frame: ``motion.enabled`` false)."""
        if not cam.motion.enabled:
            return None
        zones = [z for z in self.bundle.zones if z.camera == cam.id]
        return InferenceGate(cam.id, cam.motion, MotionDetector(cam.motion, zones), self.waits)

    def _camera(self, cam: CameraConfig, live: bool) -> CameraParts:
        site, pose = self.bundle.site, self.bundle.site.pose
        tracker = Tracker(
            cam.id,
            min_hits=site.tracking.min_hits,
            max_lost=site.tracking.max_lost,
            # new tracks need detection.confidence; lower scores only continue one
            high_score=site.detection.confidence,
            low_score=min(pose.low_score, site.detection.confidence),
            relink_lost=float(pose.relink),
        )
        detect = self.detect(cam)
        relook = (
            Relook(
                detect,
                window=float(pose.relook_window),
                max_crops=pose.relook_crops,
                # a box from a crop continues a track, but is never taken as upright
                max_score=0.9 * site.detection.confidence,
            )
            if pose.relook and self.relook
            else None
        )
        pipeline = CameraPipeline(
            cam.id,
            detect,
            self.bundle.zones,
            tracker,
            StageTimes(),
            scene_zones=self.scene_zones,
            postures=build_posture_tracker(
                site.pose, self.bundle.base_dir, upright_score=site.detection.confidence
            ),
            identity=self.identity.camera(cam.id) if self.identity is not None else None,
            relook=relook,
            keep_down=float(pose.keep_down),
            gate=self._gate(cam),
        )
        return CameraParts(
            camera=cam.id,
            open_source=functools.partial(
                open_source, cam.id, cam.source, fps=cam.fps, loop=cam.loop
            ),
            pipeline=pipeline,
            clips=self.clips.camera(cam.id) if self.clips is not None else None,
            monitor=build_monitor(self.bundle, cam, live=live, clock=self.clock),
            open_record=(
                functools.partial(
                    open_source,
                    cam.id,
                    cam.record,  # a path is made absolute by the loader
                    fps=cam.fps,
                    loop=cam.loop,
                )
                if cam.record
                else None
            ),
        )


def build_notifiers(
    site: SiteConfig, *, out: TextIO | None = None, environ: Mapping[str, str] = os.environ
) -> list[Notifier]:
    """Every channel of the site: console, log, and sms / push when contacts use them."""
    notifiers: list[Notifier] = [ConsoleNotifier(out), LogNotifier()]
    channels = {ch for c in site.contacts for ch in c.channels}
    channels.update(site.alerts.digest.channels if site.alerts.digest.enabled else ())
    if "sms" in channels:
        notifiers.append(SmsNotifier.from_site(site, environ))
    if "push" in channels:
        notifiers.append(PushNotifier.from_site(site, environ))
    return notifiers


def build_outbox(
    store: Store,
    site: SiteConfig,
    *,
    out: TextIO | None = None,
    environ: Mapping[str, str] = os.environ,
    notifiers: Iterable[Notifier] | None = None,
    clock: Callable[[], float] = time.time,
) -> Outbox:
    """The site's outbox, with its channels, quiet hours and retry settings."""
    alerts = site.alerts
    return Outbox(
        store,
        build_notifiers(site, out=out, environ=environ) if notifiers is None else notifiers,
        quiet_hours=alerts.quiet_hours,
        timezone=site.site.timezone,
        max_attempts=alerts.max_attempts,
        retry_max=alerts.retry_max,
        clock=clock,
    )


def build_recorder(
    bundle: SiteBundle,
    rules: RuleSet,
    store: ClipStore,
    *,
    remote: RemoteCameras | None = None,
    only: Collection[str] | None = None,
) -> ClipRecorder | None:
    """The site's clip recorder (None when ``clips.enabled`` is false): a ring and a writer
    for each enabled camera that some enabled rule watches; the cameras of ``remote``
    (run by workers) are asked of their worker. A camera worker's: ``only`` its cameras."""
    config = bundle.site.clips
    if not config.enabled:
        return None
    takers = remote.clip_takers() if remote is not None else {}
    cameras = cameras_with_events(
        (
            (c.id, c.fps)
            for c in bundle.site.cameras
            if c.enabled and c.id not in takers and (only is None or c.id in only)
        ),
        (r.cameras for r in rules.rules if r.enabled),
    )
    return ClipRecorder(
        config,
        store,
        bundle.clips_dir,
        timezone=bundle.site.site.timezone,
        cameras=cameras,
        zones=bundle.zones,
        remote=takers,
    )


def build_remote_cameras(bundle: SiteBundle, side: Store) -> RemoteCameras | None:
    """The site's link to its camera workers (None: no camera has ``worker:``): a
    persistent MQTT session of its own (``<client id>-cameras``), so nothing the workers
    send while the site is away is lost. Raises MqttError for a login variable not set."""
    config = bundle.site.mqtt
    cameras = {c.id: c.worker for c in bundle.site.cameras if c.enabled and c.worker}
    if config is None or not cameras:
        return None
    client_id = config.client_id_for(bundle.site.site.name)[:56] + "-cameras"
    credentials(config, os.environ)  # a missing login variable: said now, not in a thread
    return RemoteCameras(
        lambda: MqttLink(config, client_id=client_id, persistent=True),
        Topics(config.topic_prefix),
        cameras,
        clip_rows=side.clip_log,
        clips_dir=bundle.clips_dir,
    )


def add_retention_job(scheduler: Scheduler, bundle: SiteBundle, store: Store) -> None:
    """Run retention on the site's ``clips: retention: schedule`` (hourly by default)."""
    retention = bundle.site.clips.retention
    timezone = bundle.site.site.timezone
    scheduler.add(
        crontab_trigger(retention.schedule, timezone),
        lambda: prune(store, bundle.clips_dir, retention),
        "clips-retention",
        name=f"{retention.schedule}: clips retention",
    )


def build_monitor(
    bundle: SiteBundle,
    camera: CameraConfig,
    *,
    live: bool,
    started: float | None = None,
    clock: Callable[[], float] = time.time,
) -> CameraHealthMonitor | None:
    """The camera's monitor with the site's ``health:`` settings (None: health is off).

    The moved check compares with the camera's ``reference:`` image; a live camera
    without one uses the reference it saved on its first run (or saves one now). A video
    file has no moved check unless its ``reference:`` is given (a recording is not a
    mounted camera).
    """
    health = bundle.site.health
    own = health.for_camera(camera.id)
    if not own.enabled:
        return None
    settings = HealthSettings(
        offline_after=float(own.offline_after or health.offline_after),
        stalled_after=float(own.stalled_after or 0.0),
        obstructed_after=float(own.obstructed_after or 0.0),
        too_dark_after=float(own.too_dark_after or 0.0),
        moved_after=float(own.moved_after or 0.0),
        recover=float(health.recover),
    )
    path = reference_path(bundle, camera)
    image = load_reference(path) if path.is_file() else None
    if camera.reference is not None and image is None:
        log.error(
            "camera %s: cannot read its reference image %s; no 'moved' check", camera.id, path
        )
    save_to = path if live and camera.reference is None and image is None else None
    if not live and camera.reference is None:
        image = None
    return CameraHealthMonitor(
        camera.id,
        settings,
        reference=image,
        reference_path=save_to,
        started=started,
        clock=clock,
    )


def build_posture_tracker(
    config: PoseConfig, base_dir: Path | None = None, *, upright_score: float = 0.35
) -> PostureEstimator:
    """The posture and fall estimator of one camera (``base_dir``: the site file's folder;
    ``upright_score``: detection.confidence, the least score of a box that may count as
    standing upright -- lower ones only continue a track).

    Raises :class:`guardian.fall.model.ModelError` when the weights cannot be read.
    """
    tuning = PostureTuning(
        clear_after=float(config.clear_after),
        lost_fall=float(config.lost_fall),
        upright_score=upright_score,
    )
    if config.model == "geometric":
        return PostureTracker(tuning)
    weights = None
    if config.weights is not None:
        weights = Path(config.weights)
        if not weights.is_absolute() and base_dir is not None:
            weights = base_dir / weights
    return FallClassifier.load(
        weights,
        mode=config.model,
        threshold=config.threshold,
        confirm=config.confirm,
        postures=PostureTracker(tuning),
    )


def build_site_identity(
    config: IdentityConfig,
    cameras: Sequence[str],
    *,
    database: Path | None = None,
    threads: int | None = None,
) -> SiteIdentity:
    """The site identity with its models loaded as the config says (the embedder only
    when ``embedder: true``; the age model only when ``faces: true``)."""
    embedder = None
    if config.embedder:
        from guardian.identity.embedder import AppearanceEmbedder

        embedder = AppearanceEmbedder(threads=config.threads or threads)
    roles = RoleEstimator(faces=config.faces)
    enrolled = load_enrolled(database) if database is not None else []
    return SiteIdentity(config, cameras, enrolled=enrolled, embedder=embedder, roles=roles)


def add_digest_job(
    scheduler: Scheduler,
    store: Store,
    outbox: Outbox,
    site: SiteConfig,
    *,
    clock: Callable[[], float],
    review_url: str | None = None,
) -> bool:
    """Schedule the digest on the runner's scheduler; False when it is disabled or has
    no recipient."""
    if not site.alerts.digest.enabled or not digest_recipients(site):
        return False
    scheduler.add(
        digest_trigger(site),
        digest_job(store, outbox, site, clock=clock, review_url=review_url),
        "digest",
        name=f"{site.alerts.digest.cron}: morning digest",
    )
    return True


def build_scheduler(
    bundle: SiteBundle,
    side: Store,
    outbox: Outbox,
    clips: ClipRecorder | None,
    *,
    clock: Callable[[], float] = time.time,
) -> Scheduler:
    """The scheduled jobs (not started): the mode schedule, clip retention, the digest.
    They run on their own threads, so they use the side connection ``side``."""
    site = bundle.site
    scheduler = Scheduler(site.site.timezone)
    scheduler.add_mode_schedule(site.modes.schedule, mode_manager(bundle, side, clock))
    if clips is not None:
        add_retention_job(scheduler, bundle, side)
    add_digest_job(scheduler, side, outbox, site, clock=clock, review_url=site.review.url or None)
    return scheduler


def build_site_bus(
    bundle: SiteBundle,
    store: Store,
    modes: ModeManager,
    *,
    clock: Callable[[], float] = time.time,
    environ: Mapping[str, str] = os.environ,
) -> SiteBus:
    """The site on its MQTT broker (``mqtt:``): publisher, commands, Home Assistant
    discovery, with the site's availability as the link's last-will; NoBus without one.
    ``store`` and ``modes`` are the rule thread's. Raises MqttError for a login variable
    that is not set."""
    site = bundle.site
    config = site.mqtt
    if config is None:
        return NoBus()
    topics = Topics(config.topic_prefix)
    client_id = config.client_id_for(site.site.name)
    link = MqttLink(
        config,
        client_id=client_id,
        will=Will(topics.status(), OFFLINE.encode()),
        environ=environ,
    )
    cameras = [c.id for c in site.cameras if c.enabled]
    discovery = (
        discovery_messages(
            site_name=site.site.name,
            node=node_id(client_id),
            topics=topics,
            discovery_prefix=config.discovery_prefix,
            cameras=cameras,
            zones=[(z.camera, z.name) for z in bundle.zones if z.camera in cameras],
        )
        if config.discovery
        else []
    )
    return MqttBus(
        link,
        SitePublisher(link, topics, timezone=site.site.timezone),
        SiteCommands(link, topics, store, modes, clock=clock),
        store,
        modes,
        discovery=discovery,
        clock=clock,
    )
