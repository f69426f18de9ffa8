"""Build a site's runner from its parts, once, by constructor injection, and run it."""

from __future__ import annotations

import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TextIO

from guardian.alerts.escalation import Escalator
from guardian.app.parts import (
    DetectorFactory,
    SiteCameras,
    SiteDetectors,
    build_outbox,
    build_recorder,
    build_remote_cameras,
    build_scheduler,
    build_site_bus,
    build_site_identity,
    threads_per_camera,
)
from guardian.app.site import load_site_and_rules, mode_manager, rule_context
from guardian.config import ConfigError, SiteBundle
from guardian.detection import ModelError
from guardian.dispatch import Dispatcher
from guardian.motion import RuleWaits
from guardian.mqtt.link import MqttError
from guardian.observations import ObservationWriter
from guardian.pipeline import (
    Runner,
    file_cameras,
)
from guardian.review.auth import escalation_link_maker
from guardian.rules import RuleEngine, RuleSet
from guardian.snapshots import Snapshots
from guardian.store import Store


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
        state=store.rule_states.load(),
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
    # cameras with `worker:` run on other machines: their feeds come over MQTT
    remote = build_remote_cameras(bundle, side)
    clips = build_recorder(bundle, rules, side, remote=remote)
    # escalations carry a link: the review page, or a share link for remote contacts
    escalator = Escalator(
        store,
        link_maker=escalation_link_maker(
            site.review,
            frozenset(c.id for c in site.contacts if c.remote),
            bundle.database_path,
        ),
    )
    # MQTT (mqtt:): events once stored, mode, counts, camera states, commands, discovery
    bus = build_site_bus(bundle, store, modes, clock=clock)
    dispatcher = Dispatcher(
        engine, store, outbox, modes, out=out, clips=clips, escalator=escalator, bus=bus
    )
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
    # the rule thread says which cameras a timer waits on (a worker's are told over MQTT)
    waits = RuleWaits(on_change=remote.waiting if remote is not None else None)
    cameras = SiteCameras(
        bundle,
        detector_factory or SiteDetectors(bundle),
        scene_zones=frozenset(engine.scene_zones()),
        clips=clips,
        identity=identity,
        relook=detector_factory is None,
        clock=clock,
        remote=remote,
        waits=waits,
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
        bus=bus,
        waits=waits,
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
        try:
            runner = build_runner(
                bundle,
                rules,
                store,
                record=record,
                progress=sys.stderr if progress else None,
                stop=stop,
            )
        except MqttError as exc:  # a login variable that is not set: say which
            print(f"{config}: {exc}", file=sys.stderr)
            return 1
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


__all__ = ["build_runner", "run_site"]
