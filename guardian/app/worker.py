"""Build and run a camera worker (``guardian worker``): some of a site's cameras on this
machine, their observations to the site over MQTT (see :mod:`guardian.mqtt.worker`)."""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

from guardian.app.parts import DetectorFactory, SiteCameras, SiteDetectors, build_recorder
from guardian.app.site import load_site_and_rules
from guardian.config import ConfigError, SiteBundle
from guardian.detection import ModelError
from guardian.fall.model import ModelError as FallModelError
from guardian.motion import RuleWaits
from guardian.mqtt.link import MqttError, MqttLink, Will
from guardian.mqtt.topics import OFFLINE, Topics
from guardian.mqtt.worker import RemoteClipLog, RemoteClipStore, WorkerNode
from guardian.rules import RuleEngine, RuleSet
from guardian.snapshots import Snapshots


class WorkerSetupError(ValueError):
    """The worker's name or cameras do not match the site file."""


def worker_cameras(
    bundle: SiteBundle, name: str | None, cameras: Sequence[str] | None
) -> tuple[str, tuple[str, ...]]:
    """(worker name, its cameras) from ``--name`` and / or ``--cameras``, checked against
    the site file: each camera exists, is enabled and says ``worker: <name>``."""
    site = bundle.site
    if site.mqtt is None:
        raise WorkerSetupError(
            "the site file has no 'mqtt:' section — a worker sends its cameras to the site "
            "through a broker: add 'mqtt: {url: mqtt://broker:1883}'"
        )
    if not cameras:
        if name is None:
            raise WorkerSetupError("give --cameras CAM,... or --name WORKER")
        cameras = site.workers().get(name, ())
        if not cameras:
            raise WorkerSetupError(
                f"no enabled camera says 'worker: {name}' in the site file — known workers: "
                f"{', '.join(site.workers()) or 'none'}"
            )
    known = {c.id: c for c in site.cameras}
    names: set[str] = set()
    for camera in cameras:
        cam = known.get(camera)
        if cam is None:
            raise WorkerSetupError(
                f"camera '{camera}' is not in the site file — known cameras: {', '.join(known)}"
            )
        if not cam.enabled:
            raise WorkerSetupError(f"camera '{camera}' is disabled in the site file")
        if cam.worker is None:
            raise WorkerSetupError(
                f"camera '{camera}' has no 'worker:' in the site file, so the site opens it "
                "itself — add 'worker: NAME' to it"
            )
        names.add(cam.worker)
    if name is not None and names != {name}:
        wrong = sorted(c for c in cameras if known[c].worker != name)
        raise WorkerSetupError(
            f"camera(s) {', '.join(wrong)} belong to another worker than '{name}' in the site file"
        )
    if len(names) > 1:
        raise WorkerSetupError(
            f"these cameras belong to several workers ({', '.join(sorted(names))}): run "
            "one 'guardian worker' per worker name"
        )
    return names.pop(), tuple(dict.fromkeys(cameras))


def build_worker(
    bundle: SiteBundle,
    rules: RuleSet,
    name: str,
    cameras: Sequence[str],
    *,
    stop: threading.Event | None = None,
    detector_factory: DetectorFactory | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
) -> WorkerNode:
    """The worker ``name`` running ``cameras`` (checked by :func:`worker_cameras`)."""
    site = bundle.site
    config = site.mqtt
    assert config is not None  # worker_cameras checked it
    topics = Topics(config.topic_prefix)
    link = MqttLink(
        config,
        client_id=config.client_id_for(site.site.name, worker=name),
        will=Will(topics.worker(name), OFFLINE.encode()),
        persistent=True,  # what the broker took for the site is kept while it is away
        **({"environ": environ} if environ is not None else {}),
    )
    # clips: the rings are here; the clip files go into the clips folder (shared with the
    # site), and their rows go to the site
    clips = build_recorder(
        bundle, rules, RemoteClipStore(RemoteClipLog(link, topics)), only=cameras
    )
    waits = RuleWaits()  # the site says which of these cameras a rule waits on
    builder = SiteCameras(
        bundle,
        detector_factory or SiteDetectors(bundle, cameras),
        scene_zones=frozenset(RuleEngine(rules.rules).scene_zones()),
        clips=clips,
        identity=None,  # the site identity's camera half does not travel (yet)
        relook=detector_factory is None,
        clock=clock,
        only=cameras,
        waits=waits,
    )
    return WorkerNode(
        name,
        builder,
        link,
        topics,
        backlog=config.backlog,
        clips=clips,
        snapshots=Snapshots.in_clips(bundle.clips_dir),
        stop=stop,
        clock=clock,
        waits=waits,
    )


def _missing_sources(bundle: SiteBundle, cameras: Sequence[str]) -> list[str]:
    """The worker's cameras whose file or folder is not on this machine."""
    missing = []
    for camera in cameras:
        cam = bundle.site.camera(camera)
        if cam.source_kind in ("file", "folder") and not Path(str(cam.source)).exists():
            missing.append(f"camera '{camera}': source {cam.source} does not exist here")
    return missing


def run_worker(
    config: Path,
    *,
    name: str | None = None,
    cameras: Sequence[str] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """``guardian worker``: until SIGINT / SIGTERM (or ``stop``). Exit status."""
    try:
        bundle, rules = load_site_and_rules(config)
        name, cameras = worker_cameras(bundle, name, cameras)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print("not starting: fix the problems above ('guardian check' lists them)", file=sys.stderr)
        return 1
    except WorkerSetupError as exc:
        print(f"{config}: {exc}", file=sys.stderr)
        return 1
    missing = _missing_sources(bundle, cameras)
    if missing:
        for line in missing:
            print(f"{config}: {line}", file=sys.stderr)
        return 1
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():

        def handler(signum: int, _frame: FrameType | None) -> None:
            print(f"\n{signal.Signals(signum).name}: worker stopping…", file=sys.stderr)
            stop.set()

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    try:
        node = build_worker(bundle, rules, name, cameras, stop=stop)
        node.connect()
    except MqttError as exc:
        print(f"{config}: {exc}", file=sys.stderr)
        return 1
    url = bundle.site.mqtt.url if bundle.site.mqtt is not None else "?"
    print(f"worker {name}: cameras {', '.join(cameras)} → {url}", flush=True)
    try:
        node.run()
    except (ModelError, FallModelError) as exc:
        print(f"{config}: {exc}", file=sys.stderr)
        return 1
    sender = node.sender
    print(
        f"worker {name} stopped: {sender.sent} item(s) sent, {sender.dropped} dropped "
        f"(backlog full), {sender.waiting} not sent"
    )
    failed = [w.status for w in node.workers if w.status.error]
    for status in failed:
        print(f"camera {status.camera} failed: {status.error}", file=sys.stderr)
    return 1 if failed and len(failed) == len(node.workers) else 0


__all__ = ["WorkerSetupError", "build_worker", "run_worker", "worker_cameras"]
