"""One place that builds Guardian: load a site and its rules, build every part, run.

:func:`load_site_and_rules` reads the site file and builds its rule set as every command
does (built-in rules included); :func:`build_runner` builds each part once, by
constructor injection: the mode managers (one per database connection), the rule
context and engine, the outbox and its channels, the clip recorder, the escalator, the
dispatcher, the scheduled jobs, the site identity and the cameras; :func:`run_site` runs
them until the videos end or a stop.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

from guardian.alerts import Outbox, build_outbox
from guardian.alerts.escalation import Escalator
from guardian.clips import ClipRecorder, add_retention_job, build_recorder
from guardian.config import CameraConfig, ConfigError, SiteBundle, load_site
from guardian.config.pose import build_posture_tracker
from guardian.detection import ModelError, PoseDetector
from guardian.digest import add_digest_job
from guardian.dispatch import Dispatcher
from guardian.health import build_monitor
from guardian.identity.manager import SiteIdentity, build_site_identity
from guardian.logs import use_site_timezone
from guardian.modes import ModeManager
from guardian.observations import ObservationWriter
from guardian.pipeline import (
    CameraParts,
    CameraPipeline,
    Detect,
    Runner,
    StageTimes,
    file_cameras,
    live_cameras,
)
from guardian.relook import Relook
from guardian.review.auth import escalation_link_maker
from guardian.rules import RuleContext, RuleEngine, RuleSet, load_rules
from guardian.rules.health import builtin_health
from guardian.scheduler import Scheduler
from guardian.snapshots import Snapshots
from guardian.sources import open_source
from guardian.store import Store
from guardian.swim.detector import SWIMMER_LABEL, WaterDetector, shipped_swimmer_path
from guardian.tracking import Tracker
from guardian.vocab import Mode

#: builds a camera's detector (tests give one that needs no model)
DetectorFactory = Callable[[CameraConfig], Detect]


def load_site_and_rules(config: Path) -> tuple[SiteBundle, RuleSet]:
    """The site and its rules; ConfigError lists every problem of both."""
    try:
        bundle = load_site(config)
    except ConfigError as err:
        if err.partial is None:
            raise
        rules = site_rules(err.partial)  # check the rules against what did load
        raise ConfigError(err.problems + rules.problems) from None
    use_site_timezone(bundle.site.site.timezone)  # log times in the site's time zone
    return bundle, site_rules(bundle)


def site_rules(bundle: SiteBundle) -> RuleSet:
    """The site's rule set as ``guardian run`` uses it: its rule files against its zones
    and contacts, and the built-in rules (``camera_health_<camera>``)."""
    zones: dict[str, set[str]] = {cam.id: set() for cam in bundle.site.cameras}
    for zone in bundle.zones:
        zones.setdefault(zone.camera, set()).add(zone.name)
    return load_rules(
        bundle.rule_documents,
        zones_by_camera=zones,
        contacts=[c.id for c in bundle.site.contacts],
        broken_zones=bundle.broken_zones,
        builtin_areas=[(z.camera, z.name) for z in bundle.zones if z.kind == "pool_area"],
        builtin=builtin_health(bundle),
        site_name=bundle.site.site.name,
    )


def rule_context(bundle: SiteBundle, mode: Mode | str) -> RuleContext:
    """The site-wide facts the rules read, starting in ``mode``."""
    site = bundle.site
    return RuleContext(
        mode=Mode(mode),
        timezone=site.site.timezone,
        site_name=site.site.name,
        review_url=site.review.url,
        contacts=tuple(c.id for c in site.contacts),
        prompt_expires=site.modes.prompt_expires,
        supervised_for=site.modes.supervised_for,
    )


def mode_manager(
    bundle: SiteBundle, store: Store, clock: Callable[[], float] = time.time
) -> ModeManager:
    """The site's mode, kept in ``store`` (one manager per database connection)."""
    return ModeManager(
        store,
        timezone=bundle.site.site.timezone,
        supervised_for=bundle.site.modes.supervised_for,
        clock=clock,
    )


#: environment variable: CPU threads for each camera's models, instead of the machine's
#: cores shared among the cameras (the test suite sets 1; see tests/conftest.py)
MODEL_THREADS_ENV = "GUARDIAN_MODEL_THREADS"


def threads_per_camera(bundle: SiteBundle) -> int:
    """CPU threads each enabled camera's models may use: ``$GUARDIAN_MODEL_THREADS``
    when set to a positive number, else the machine's cores shared among the cameras."""
    configured = os.environ.get(MODEL_THREADS_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    cameras = sum(1 for c in bundle.site.cameras if c.enabled)
    return max(1, (os.cpu_count() or 1) // max(1, cameras))


class SiteDetectors:
    """Builds a camera's detector: the pose model, with the swimmer model on the cameras
    that watch water."""

    def __init__(self, bundle: SiteBundle) -> None:
        self.bundle = bundle

    def __call__(self, camera: CameraConfig) -> Detect:
        bundle, det = self.bundle, self.bundle.site.detection
        threads = threads_per_camera(bundle)
        detector = PoseDetector(
            models_dir=bundle.models_dir,
            model_path=bundle.model_path,
            backend=det.backend,
            imgsz=camera.imgsz,
            # the model runs at the low floor: low scores may continue tracks (pose.low_score)
            confidence=min(det.confidence, bundle.site.pose.low_score),
            device=det.device,
            threads=threads,
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
    ) -> None:
        self.bundle = bundle
        self.detect = detect
        self.scene_zones = scene_zones
        self.clips = clips
        self.identity = identity
        #: the second look needs a detector that works on any image (a crop): the model's
        self.relook = relook
        self.clock = clock

    def build(self) -> list[CameraParts]:
        site = self.bundle.site
        live = live_cameras(site)
        return [self._camera(cam, cam.id in live) for cam in site.cameras if cam.enabled]

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
        )
        return CameraParts(
            camera=cam.id,
            open_source=functools.partial(
                open_source, cam.id, cam.source, fps=cam.fps, loop=cam.loop
            ),
            pipeline=pipeline,
            clips=self.clips.camera(cam.id) if self.clips is not None else None,
            monitor=build_monitor(self.bundle, cam, live=live, clock=self.clock),
        )


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


def build_runner(
    bundle: SiteBundle,
    rules: RuleSet,
    store: Store,
    *,
    record: Path | None = None,
    out: TextIO | None = None,
    progress: TextIO | None = None,
    stop: threading.Event | None = None,
    detector_factory: DetectorFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> Runner:
    """Every part of a run of the site, each built once; ``store`` is the rule thread's
    connection (the other threads get a side connection of their own)."""
    site = bundle.site
    out = out or sys.stdout
    modes = mode_manager(bundle, store, clock)
    engine = RuleEngine(
        rules.rules,
        rule_context(bundle, modes.current().mode),
        state=store.load_state(),
        # cameras playing a file: their timers end with it (reported, never carried over)
        files=file_cameras(site),
    )
    #: the other threads' connection (alert senders, clip writers, scheduled jobs): one
    #: of them waiting for a database another process holds never holds up the rule
    #: thread, whose writes wait briefly on ``store`` (Store.set_patience)
    side = Store(store.path)
    # console, log, and sms / push when contacts use them; quiet hours, retries
    outbox = build_outbox(side, site, out=out, clock=clock)
    # clips: a ring per camera that can produce events, writers, retention (clips:)
    clips = build_recorder(bundle, rules, side)
    # escalations carry a link: the review page, or a share link for remote contacts
    escalator = Escalator(
        store,
        link_maker=escalation_link_maker(
            site.review,
            frozenset(c.id for c in site.contacts if c.remote),
            bundle.database_path,
        ),
    )
    dispatcher = Dispatcher(engine, store, outbox, modes, out=out, clips=clips, escalator=escalator)
    #: who is who across cameras (None: no identity section, nothing loads)
    identity = (
        build_site_identity(
            site.identity,
            [c.id for c in site.cameras if c.enabled],
            database=bundle.database_path,
            threads=threads_per_camera(bundle),
        )
        if site.identity.enabled
        else None
    )
    cameras = SiteCameras(
        bundle,
        detector_factory or SiteDetectors(bundle),
        scene_zones=frozenset(engine.scene_zones()),
        clips=clips,
        identity=identity,
        relook=detector_factory is None,
        clock=clock,
    )
    return Runner(
        bundle,
        store=store,
        side=side,
        snapshots=Snapshots.in_clips(bundle.clips_dir),
        engine=engine,
        modes=modes,
        dispatcher=dispatcher,
        outbox=outbox,
        scheduler=build_scheduler(bundle, side, outbox, clips, clock=clock),
        cameras=cameras,
        clips=clips,
        identity=identity,
        writer=ObservationWriter(record) if record else None,
        progress=progress,
        stop=stop,
        clock=clock,
    )


def _install_stop_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # second Ctrl-C: leave now
            raise KeyboardInterrupt
        print(f"\n{signal.Signals(signum).name}: stopping, flushing…", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def run_site(
    config: Path,
    *,
    record: Path | None = None,
    progress: bool = True,
    stop: threading.Event | None = None,
) -> int:
    """``guardian run``: every enabled camera until its video ends or a stop (SIGINT,
    SIGTERM, ``stop``); what was seen, and not, is said at the end. Exit status."""
    try:
        bundle, rules = load_site_and_rules(config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print("not starting: fix the problems above ('guardian check' lists them)", file=sys.stderr)
        return 1
    for problem in rules.problems:
        print(f"warning: {problem}", file=sys.stderr)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        _install_stop_handlers(stop)
    try:
        store = Store(bundle.database_path)
    except sqlite3.Error as exc:
        print(f"{bundle.database_path}: cannot open the event store: {exc}", file=sys.stderr)
        return 1
    with store:
        runner = build_runner(
            bundle,
            rules,
            store,
            record=record,
            progress=sys.stderr if progress else None,
            stop=stop,
        )
        try:
            events = runner.run()
        except ModelError as exc:
            print(f"{config}: {exc}", file=sys.stderr)
            return 1
        failed = [w.status for w in runner.workers if w.status.error]
    print(f"{len(events)} event(s) stored in {bundle.database_path}")
    for w in runner.workers:  # silence must mean safe: say where nothing could be seen
        seen = w.status
        if seen.error is None and seen.processed == 0:
            print(f"camera {seen.camera} sent no picture: nothing was watched there")
        elif seen.processed and seen.camera not in runner.people_seen:
            print(
                f"nobody was detected on camera {seen.camera} in {seen.processed} frame(s) "
                "— check the camera's view and zones ('guardian check --probe')"
            )
    if runner.pending:  # each said in a PENDING line when its video ended
        print(
            f"{len(runner.pending)} timer(s) still running when the video ended "
            "(PENDING above): reported here, not carried into the next run"
        )
    if runner.unsent:  # a provider that did not answer in time: nothing is lost
        print(
            f"{len(runner.unsent)} alert(s) not sent yet (their provider did not answer): "
            "they are sent, or checked with the provider, at the next start"
        )
    if record:
        print(f"observations written to {record}")
    for status in failed:
        print(f"camera {status.camera} failed: {status.error}", file=sys.stderr)
    return 1 if failed and len(failed) == len(runner.workers) else 0


__all__ = [
    "DetectorFactory",
    "SiteCameras",
    "SiteDetectors",
    "build_runner",
    "build_scheduler",
    "load_site_and_rules",
    "mode_manager",
    "rule_context",
    "run_site",
    "site_rules",
    "threads_per_camera",
]
