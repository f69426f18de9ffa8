"""Command line: ``guardian check | run | demo``."""

from __future__ import annotations

import argparse
import logging
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from guardian import __version__
from guardian.config import ConfigError, SiteBundle, load_site
from guardian.rules import RuleSet, load_rules

DEFAULT_CONFIG = Path("guardian.yaml")


def _load(config: Path) -> tuple[SiteBundle, RuleSet]:
    """The site and its rules; ConfigError lists every problem of both."""
    try:
        bundle = load_site(config)
    except ConfigError as err:
        if err.partial is None:
            raise
        rules = _rules(err.partial)  # check the rules against what did load
        raise ConfigError(err.problems + rules.problems) from None
    return bundle, _rules(bundle)


def _rules(bundle: SiteBundle) -> RuleSet:
    zones: dict[str, set[str]] = {cam.id: set() for cam in bundle.site.cameras}
    for zone in bundle.zones:
        zones.setdefault(zone.camera, set()).add(zone.name)
    return load_rules(
        bundle.rule_documents,
        zones_by_camera=zones,
        contacts=[c.id for c in bundle.site.contacts],
        broken_zones=bundle.broken_zones,
    )


def cmd_check(args: argparse.Namespace) -> int:
    try:
        bundle, rules = _load(args.config)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"{len(err.problems)} problem(s) found", file=sys.stderr)
        return 1
    for problem in rules.problems:
        print(problem, file=sys.stderr)
    cams = len(bundle.site.cameras)
    summary = f"{cams} camera(s), {len(bundle.zones)} zone(s), {len(rules.rules)} rule(s)"
    if rules.problems:
        print(f"{len(rules.problems)} problem(s) found; loaded {summary}", file=sys.stderr)
        return 1
    print(f"ok: {args.config}: {summary}")
    return 0


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
    from guardian.pipeline import Runner
    from guardian.store import Store

    try:
        bundle, rules = _load(config)
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
    from guardian.detection import ModelError

    try:
        store = Store(bundle.database_path)
    except sqlite3.Error as exc:
        print(f"{bundle.database_path}: cannot open the event store: {exc}", file=sys.stderr)
        return 1
    with store:
        runner = Runner(
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
    if record:
        print(f"observations written to {record}")
    for status in failed:
        print(f"camera {status.camera} failed: {status.error}", file=sys.stderr)
    return 1 if failed and len(failed) == len(runner.workers) else 0


def cmd_run(args: argparse.Namespace) -> int:
    return run_site(args.config, record=args.record_observations, progress=not args.quiet)


def cmd_demo(args: argparse.Namespace) -> int:
    from guardian.demo import run_demo

    return run_demo(args.workdir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="guardian", description="Smart-surveillance rules engine for supervised zones."
    )
    parser.add_argument("--version", action="version", version=f"guardian {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("check", help="validate the site file, its zones and rules")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site file (guardian.yaml)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run every camera through the pipeline and the rules")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site file (guardian.yaml)")
    p.add_argument(
        "--record-observations",
        type=Path,
        metavar="FILE.jsonl",
        help="also write every observation to this JSON-lines file (for replaying rules)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="build a demo scene (no camera needed) and run on it")
    p.add_argument(
        "--workdir", type=Path, default=Path(".demo"), help="where the scene and results go"
    )
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
