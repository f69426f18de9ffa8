"""Command line: ``guardian check | run | demo | mode | prompts | answer | ack``."""

from __future__ import annotations

import argparse
import getpass
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from guardian import __version__
from guardian.alerts.cli import add_alert_commands
from guardian.clips.cli import add_clips_commands
from guardian.config import ConfigError, SiteBundle, load_site
from guardian.fall.cli import add_fall_commands
from guardian.health_cli import add_health_commands
from guardian.identity.cli import add_identity_commands
from guardian.logs import setup_logging, use_site_timezone
from guardian.review.cli import add_review_commands
from guardian.rules import RuleSet, load_rules
from guardian.rules.health import builtin_health
from guardian.status import add_status_commands
from guardian.swim.train import add_detector_commands

if TYPE_CHECKING:
    from guardian.modes import ModeManager
    from guardian.store import ModeState, Store

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
    use_site_timezone(bundle.site.site.timezone)  # log times in the site's time zone
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
        builtin_areas=[(z.camera, z.name) for z in bundle.zones if z.kind == "pool_area"],
        builtin=builtin_health(bundle),  # camera_health_<camera> (guardian.rules.health)
        site_name=bundle.site.site.name,
    )


def cmd_check(args: argparse.Namespace) -> int:
    """Every problem of every file in one pass; warnings fail only with --strict."""
    from guardian.check import check_site

    report = check_site(args.config, rules_for=_rules, probe=args.probe)
    for problem in report.problems:
        print(problem.labelled, file=sys.stderr)
    errors, warnings = len(report.errors), len(report.warnings)
    if args.list and report.rules is not None and report.summary is not None:
        for rule in report.rules.rules:
            kinds = ", ".join(rule.kinds)
            flags = ("built-in " if rule.builtin else "") + ("" if rule.enabled else "disabled ")
            modes = "/".join(sorted(rule.modes))
            print(f"{rule.rule_id}: {flags}[{rule.severity}] {kinds}; modes {modes}; {rule.source}")
    loaded = f"; loaded {report.summary}" if report.summary is not None else ""
    if errors:
        also = f" and {warnings} warning(s)" if warnings else ""
        print(f"{errors} problem(s){also} found{loaded}", file=sys.stderr)
        return 1
    if warnings and args.strict:
        print(f"{warnings} warning(s) found (--strict){loaded}", file=sys.stderr)
        return 1
    tail = f"; {warnings} warning(s)" if warnings else ""
    print(f"ok: {args.config}: {report.summary}{tail}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    """Rules over recorded observations: events and what their actions would do.

    With --config the rules are built by ``_rules``, the function ``guardian run`` uses
    (built-in rules included); --rules then stands in for the site's rule files.
    """
    import dataclasses

    from guardian.config import Problem, load_yaml
    from guardian.observations import ObservationFormatError
    from guardian.replay import replay
    from guardian.rules import RuleContext

    if args.config is None and not args.rules:
        return _usage_error("replay", "give --rules FILE..., or --config SITE (its rules)")
    context = RuleContext(mode=args.mode)
    rules: RuleSet | None = None
    try:
        if args.config is not None:
            bundle = load_site(args.config)
            site = bundle.site
            context = RuleContext(
                mode=args.mode,
                timezone=site.site.timezone,
                site_name=site.site.name,
                review_url=site.review.url,
                contacts=tuple(c.id for c in site.contacts),
                prompt_expires=site.modes.prompt_expires,
                supervised_for=site.modes.supervised_for,
            )
            if args.rules:
                problems: list[Problem] = []
                documents = []
                for path in args.rules:
                    try:
                        documents.append(load_yaml(path))
                    except ConfigError as err:
                        problems.extend(err.problems)
                if problems:
                    raise ConfigError(problems)
                bundle = dataclasses.replace(bundle, rule_documents=tuple(documents))
            rules = _rules(bundle)  # exactly as `guardian run` builds them
        result = replay(
            args.observations,
            args.rules or (),
            rules=rules,
            context=context,
            accept_prompts=args.yes,
            out=sys.stdout,
        )
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return 1
    except (ObservationFormatError, OSError) as exc:
        print(f"guardian replay: {exc}", file=sys.stderr)
        return 1
    print(
        f"{len(result.events)} event(s) from {result.observations} observation(s) "
        f"of {args.observations}"
    )
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

    p = sub.add_parser(
        "check",
        help="validate the site file, its zones and rules; warn on what can never work",
        description=(
            "Check the site file and every zone and rule file it lists, in one pass: each "
            "problem as 'file:line:col: what, what to do'. Warnings ('warning: ...') are "
            "settings that load but can never work: role counts without identity, alerts "
            "nobody receives, unset environment variables, a review url serve is not "
            "reached at, pixel zones outside the frame, and (--probe) cameras that cannot "
            "be opened. Exit 1 on any problem, and with --strict on any warning."
        ),
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="site file (guardian.yaml)")
    p.add_argument(
        "--list", action="store_true", help="also list every rule that loaded, built-ins included"
    )
    p.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    p.add_argument(
        "--probe",
        action="store_true",
        help="open every enabled camera's source and read one frame (a few seconds per "
        "stream); its frame size also checks pixel zones",
    )
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

    p = sub.add_parser(
        "replay",
        help="run rules over recorded observations and print what they would do",
        description=(
            "Run rule files over observations recorded with 'guardian run "
            "--record-observations FILE.jsonl' and print each event with its video time "
            "and clock time, and what its actions would do. Nothing is stored or sent. "
            "Without --config, zones are taken from the recording and only the given rule "
            "files run; with --config the rule set is built as 'guardian run' builds it "
            "(the site's zones, contacts, built-in rules), from --rules or the site's "
            "rule files. Timers still running when the recording ends are printed "
            "(PENDING)."
        ),
    )
    p.add_argument(
        "--observations",
        type=Path,
        required=True,
        metavar="FILE.jsonl",
        help="recorded observations",
    )
    p.add_argument(
        "--rules",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="rule file(s); with --config they stand in for the site's rule files "
        "(default: the site's)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="site file: its time zone, contacts, zones, modes settings, rules and "
        "built-in rules, as 'guardian run' uses them (optional)",
    )
    p.add_argument(
        "--mode",
        choices=("unsupervised", "supervised"),
        default="unsupervised",
        help="the site's mode at the start (default unsupervised)",
    )
    p.add_argument(
        "--yes", action="store_true", help="answer every prompt YES (mode switches take effect)"
    )
    p.set_defaults(func=cmd_replay)

    add_mode_commands(sub)
    add_review_commands(sub)
    add_status_commands(sub)
    add_health_commands(sub)
    add_alert_commands(sub)
    add_clips_commands(sub)
    add_identity_commands(sub)
    add_fall_commands(sub)
    add_detector_commands(sub)
    return parser


# --------------------------------------------------------------------------------------
# Site mode, prompts and acknowledgements: `guardian mode | prompts | answer | ack`.
# They only need the site file's storage, time zone and `modes:` section.


def _login_name() -> str:
    """Who runs the command, for "by" (the login name)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _control_site(config: Path) -> SiteBundle | None:
    """The site, for commands that only need its storage, time zone and modes.

    Problems outside the site file itself (a camera's video missing, a broken zone or
    rule file) do not stop them; a broken site file prints its problems and gives None.
    """
    try:
        bundle = load_site(config)
    except ConfigError as err:
        if isinstance(err.partial, SiteBundle):
            use_site_timezone(err.partial.site.site.timezone)
            return err.partial
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(
            f"{len(err.problems)} problem(s) in the site file — fix them first "
            "('guardian check' lists them)",
            file=sys.stderr,
        )
        return None
    use_site_timezone(bundle.site.site.timezone)  # log times in the site's time zone
    return bundle


def _open_store(bundle: SiteBundle) -> Store | None:
    from guardian.store import Store

    try:
        return Store(bundle.database_path)
    except sqlite3.Error as exc:
        print(f"{bundle.database_path}: cannot open the event store: {exc}", file=sys.stderr)
        return None


def _site_and_store(config: Path) -> tuple[SiteBundle, Store] | None:
    """The site file and its event store for the control commands (problems printed)."""
    bundle = _control_site(config)
    if bundle is None:
        return None
    store = _open_store(bundle)
    return None if store is None else (bundle, store)


def _mode_manager(bundle: SiteBundle, store: Store) -> ModeManager:
    from guardian.modes import ModeManager

    return ModeManager(
        store,
        timezone=bundle.site.site.timezone,
        supervised_for=bundle.site.modes.supervised_for,
    )


def _when(timestamp: float, timezone: str) -> str:
    from guardian.timefmt import local_time

    return local_time(timestamp, timezone).strftime("%Y-%m-%d %H:%M")


def _mode_summary(state: ModeState, modes: ModeManager, now: float) -> list[str]:
    """Two lines: the mode (and its end), then since when, by whom, how and why."""
    from guardian.timefmt import format_duration

    tz = modes.timezone
    head = f"mode: {state.mode}"
    end = modes.ends_at(state)
    if end is not None:
        head += f" until {_when(end, tz)} (in {format_duration(end - now)})"
    if state.source == "default":
        return [head + " — the default: the mode has never been switched"]
    detail = f"  since {_when(state.since, tz)}, by {state.by or '?'} ({state.source})"
    if state.reason:
        detail += f": {state.reason}"
    return [head, detail]


def _history_line(state: ModeState, timezone: str) -> str:
    mode = state.mode
    if state.until is not None:
        mode += f" until {_when(state.until, timezone)}"
    line = f"  {_when(state.since, timezone)}  {mode:<34}  by {state.by or '?'} ({state.source})"
    return line + (f": {state.reason}" if state.reason else "")


def _usage_error(command: str, message: str) -> int:
    print(f"guardian {command}: {message}", file=sys.stderr)
    return 2


def cmd_mode(args: argparse.Namespace) -> int:
    from guardian.config.durations import MAX_SUPERVISED, SUPERVISED_LIMIT
    from guardian.timefmt import parse_for

    switching = args.until is not None or args.duration is not None
    if args.mode is None and (switching or args.by is not None or args.reason is not None):
        return _usage_error(
            "mode",
            "--until, --for, --by and --reason need a mode: e.g. 'guardian mode "
            'supervised --for 2h --reason "swimming lessons"\'',
        )
    if args.mode is not None and args.schedule:
        return _usage_error("mode", "--schedule only lists the schedule; leave out the mode")
    if args.mode == "unsupervised" and switching:
        return _usage_error("mode", "unsupervised mode has no end — leave out --until and --for")
    duration: float | None = None
    if args.duration is not None:
        try:
            duration = parse_for(args.duration)
        except ValueError as exc:
            return _usage_error("mode", f"--for: {exc}")
        if duration <= 0:
            return _usage_error("mode", "--for: the duration must be more than 0, e.g. 2h")
        if duration > MAX_SUPERVISED:
            return _usage_error("mode", f"{SUPERVISED_LIMIT} — --for {args.duration} is too long")

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    with store:
        modes = _mode_manager(bundle, store)
        tz = modes.timezone
        if args.schedule:
            return _print_schedule(bundle, modes)
        if args.mode is None:
            now = modes.clock()
            state = modes.current(now)
            print("\n".join(_mode_summary(state, modes, now)))
            end = modes.ends_at(state)
            if end is not None:
                print("\n".join(_supervised_effect(args.config, end, tz)))
            changes = store.mode_changes(limit=5)
            print(f"\nlast changes (times in {tz}):" if changes else "\nno changes yet")
            for change in changes:
                print(_history_line(change, tz))
            return 0
        from guardian.timefmt import parse_until

        until: float | None = None
        if args.until is not None:
            try:
                until = parse_until(args.until, tz, modes.clock())
            except ValueError as exc:
                return _usage_error("mode", f"--until: {exc}")
        try:
            state = modes.switch(
                args.mode,
                until=until,
                duration=duration,
                by=args.by or _login_name(),
                reason=args.reason or "",
                source="cli",
            )
        except ValueError as exc:
            return _usage_error("mode", str(exc))
        print("\n".join(_mode_summary(state, modes, modes.clock())))
        end = modes.ends_at(state)
        if end is not None:
            print("\n".join(_supervised_effect(args.config, end, tz)))
        print(f"(times in {tz})")
    return 0


def _supervised_effect(config: Path, end: float, timezone: str) -> list[str]:
    """What a supervised mode pauses until ``end`` and what stays on, rule by rule (the
    rules that run in supervised mode stay on: the submersion timer always does)."""
    from guardian.timefmt import local_time

    until = local_time(end, timezone).strftime("%H:%M")
    try:
        _, rules = _load(config)
    except ConfigError:  # the rules cannot be read: say what the defaults do
        return [
            f"  entry alerts paused until {until}; submersion alerts stay on "
            "(the rules could not be read: 'guardian check')"
        ]
    active = [r for r in rules.rules if r.enabled]
    paused = [r.alias for r in active if "supervised" not in r.modes]
    kept = [r.alias for r in active if "supervised" in r.modes]
    return [
        f"  paused until {until}: {', '.join(paused) or 'no rule'}",
        f"  still on: {', '.join(kept) or 'no rule'}",
    ]


def _print_schedule(bundle: SiteBundle, modes: ModeManager, count: int = 10) -> int:
    """The next switches of the site file's mode schedule (nothing is run)."""
    from guardian.scheduler import Scheduler
    from guardian.timefmt import local_time

    entries = bundle.site.modes.schedule
    if not entries:
        print(f"no mode schedule in {bundle.path} — add 'modes: schedule:' entries")
        return 0
    scheduler = Scheduler(modes.timezone)
    scheduler.add_mode_schedule(entries, modes)  # never started: jobs only listed
    print(f"next scheduled mode changes (times in {modes.timezone}):")
    for when, name in scheduler.next_runs(local_time(modes.clock(), modes.timezone), count):
        print(f"  {when:%a %Y-%m-%d %H:%M}  {name}")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    import time

    from guardian.timefmt import format_duration

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    tz = bundle.site.site.timezone
    with store:
        now = time.time()
        store.expire_prompts(now)
        prompts = store.prompts() if args.all else store.prompts("pending")
    if not prompts:
        print("no prompts" if args.all else "no pending prompts")
        return 0
    rows: list[tuple[str, str, str]] = []
    for prompt in prompts:
        if prompt.status == "pending":
            state = f"expires in {format_duration(prompt.expires_at - now)}"
        elif prompt.answered_at is not None:
            state = (
                f"{prompt.status} by {prompt.answered_by or '?'} at {_when(prompt.answered_at, tz)}"
            )
        else:
            state = f"{prompt.status} at {_when(prompt.expires_at, tz)}"
        rows.append((prompt.prompt_id, state, prompt.question))
    id_width = max(len("PROMPT"), *(len(r[0]) for r in rows))
    state_width = max(len("STATUS"), *(len(r[1]) for r in rows))
    print(f"{'PROMPT':<{id_width}}  {'STATUS':<{state_width}}  QUESTION")
    for prompt_id, state, question in rows:
        print(f"{prompt_id:<{id_width}}  {state:<{state_width}}  {question}")
    if any(p.status == "pending" for p in prompts):
        print("\nanswer with: guardian answer PROMPT_ID yes|no")
    return 0


def cmd_answer(args: argparse.Namespace) -> int:
    from guardian.store import PromptError

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    with store:
        modes = _mode_manager(bundle, store)
        now = modes.clock()
        try:
            prompt, _ = store.answer_prompt(
                args.prompt_id,
                yes=args.answer == "yes",
                by=args.by or _login_name(),
                source="cli",
                now=now,
            )
        except PromptError as exc:
            print(f"guardian answer: {exc}", file=sys.stderr)
            return 1
        print(f"prompt {prompt.prompt_id}: answered {args.answer} — {prompt.question}")
        state = modes.current(now)
        print("\n".join(_mode_summary(state, modes, now)))
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    from guardian.rules.actions import event_text

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    by = args.by or _login_name()
    with store:
        event = store.event(args.event_id)
        if event is None:
            print(
                f"guardian ack: no event '{args.event_id}' in {bundle.database_path} — "
                "copy the id from the alert ('acknowledge: guardian ack ...')",
                file=sys.stderr,
            )
            return 1
        already = store.is_acknowledged(args.event_id)
        store.acknowledge(args.event_id, by=by)
    what = event_text(event)
    if already:
        print(f"event {args.event_id} ({what}) was already acknowledged")
    else:
        print(f"acknowledged event {args.event_id} ({what}) by {by}; its escalations are stopped")
    return 0


_MODE_EPILOG = """\
examples:
  guardian mode                                   show the mode and the last 5 changes
  guardian mode supervised --for 2h --reason "swimming lessons"
  guardian mode supervised --for 90               90 minutes (a bare number is minutes)
  guardian mode supervised --until 18:00          until the next 18:00 (site time zone)
  guardian mode unsupervised --reason "lessons over"
  guardian mode --schedule                        the next switches of 'modes: schedule:'

Supervised mode always ends by itself: at --until, after --for, or after the site
file's 'modes: supervised_for' (default 2h); at most 24h. It pauses the rules that
run only in unsupervised mode (entry alerts, by default); the others, the submersion
timer included, stay on. The switch prints which rules are paused and which stay on.
"""


def add_mode_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The `mode`, `prompts`, `answer` and `ack` commands."""
    config_help = "site file (guardian.yaml)"
    by_help = "who does it, recorded with the change (default: your login name)"

    p = sub.add_parser(
        "mode",
        help="show or switch the site mode (supervised / unsupervised)",
        description=(
            "Without a mode: print the current site mode (ending a supervised mode whose\n"
            "time is up), until when, by whom and why, and the last 5 changes.\n"
            "With a mode: switch to it (recorded with source 'cli')."
        ),
        epilog=_MODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "mode",
        nargs="?",
        choices=("supervised", "unsupervised"),
        help="switch to this mode; leave out to show the current one",
    )
    end = p.add_mutually_exclusive_group()
    end.add_argument(
        "--until",
        metavar="TIME",
        help="supervised until HH:MM (the next one, in the site's time zone) "
        "or a date and time such as '2025-07-14 18:00'",
    )
    end.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help="supervised for this long: a bare number is minutes (90), or 90m, 1h30m, 2h "
        "(default: modes.supervised_for)",
    )
    p.add_argument("--by", metavar="NAME", help=by_help)
    p.add_argument("--reason", metavar="TEXT", help="why, recorded with the change")
    p.add_argument("--schedule", action="store_true", help="list the next scheduled mode changes")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=config_help)
    p.set_defaults(func=cmd_mode)

    p = sub.add_parser(
        "prompts",
        help="list the questions waiting for an answer",
        description=(
            "List pending prompts (yes/no questions sent by rules, such as 'switch to "
            "supervised?'): id, time left to answer, question. Answer with 'guardian answer'."
        ),
    )
    p.add_argument(
        "--all", action="store_true", help="also answered and expired prompts, with who answered"
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=config_help)
    p.set_defaults(func=cmd_prompts)

    p = sub.add_parser(
        "answer",
        help="answer a prompt yes or no",
        description=(
            "Answer a pending prompt (recorded with source 'cli'). A yes carries out what "
            "the prompt proposes, e.g. switching to supervised; the resulting mode is "
            "printed. Exit 1 if the prompt is unknown, already answered or expired."
        ),
    )
    p.add_argument("prompt_id", metavar="PROMPT_ID", help="the id shown by 'guardian prompts'")
    p.add_argument("answer", choices=("yes", "no"), help="yes or no")
    p.add_argument("--by", metavar="NAME", help=by_help)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=config_help)
    p.set_defaults(func=cmd_answer)

    p = sub.add_parser(
        "ack",
        help="acknowledge an event (stops its escalation)",
        description=(
            "Acknowledge an event: it is marked as seen and its escalation to the next "
            "contacts stops. The id is in the alert ('acknowledge: guardian ack ID'). "
            "Exit 1 if there is no such event."
        ),
    )
    p.add_argument("event_id", metavar="EVENT_ID", help="the event's id, from the alert")
    p.add_argument("--by", metavar="NAME", help=by_help)
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=config_help)
    p.set_defaults(func=cmd_ack)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # a reader that went away fails here, not at exit
    except BrokenPipeError:  # `guardian review | head -1`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python exits
        return 141  # 128 + SIGPIPE, as a shell reports a command cut off by a pipe
    return code


if __name__ == "__main__":
    sys.exit(main())
