"""Site mode, prompts and acknowledgements: ``guardian mode | prompts | answer | ack``.

They only need the site file's storage, time zone and ``modes:`` section.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from pathlib import Path

from guardian.app import load_site_and_rules, mode_manager
from guardian.cli.options import Commands, add_config, site_and_store, usage_error
from guardian.config import ConfigError, SiteBundle
from guardian.config.durations import MAX_SUPERVISED, SUPERVISED_LIMIT
from guardian.modes import ModeManager
from guardian.rules.actions import event_text
from guardian.scheduler import Scheduler
from guardian.store import ModeState, PromptError
from guardian.timefmt import (
    format_duration,
    hour_minute,
    local_time,
    minute,
    parse_for,
    parse_until,
    weekday_date_minute,
)
from guardian.vocab import Mode


def login_name() -> str:
    """Who runs the command, for "by" (the login name)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"


def _mode_summary(state: ModeState, modes: ModeManager, now: float) -> list[str]:
    """Two lines: the mode (and its end), then since when, by whom, how and why."""
    tz = modes.timezone
    head = f"mode: {state.mode}"
    end = modes.ends_at(state)
    if end is not None:
        head += f" until {minute(end, tz)} (in {format_duration(end - now)})"
    if state.source == "default":
        return [head + " — the default: the mode has never been switched"]
    detail = f"  since {minute(state.since, tz)}, by {state.by or '?'} ({state.source})"
    if state.reason:
        detail += f": {state.reason}"
    return [head, detail]


def _history_line(state: ModeState, timezone: str) -> str:
    mode = str(state.mode)
    if state.until is not None:
        mode += f" until {minute(state.until, timezone)}"
    line = f"  {minute(state.since, timezone)}  {mode:<34}  by {state.by or '?'} ({state.source})"
    return line + (f": {state.reason}" if state.reason else "")


def cmd_mode(args: argparse.Namespace) -> int:
    switching = args.until is not None or args.duration is not None
    if args.mode is None and (switching or args.by is not None or args.reason is not None):
        return usage_error(
            "mode",
            "--until, --for, --by and --reason need a mode: e.g. 'guardian mode "
            'supervised --for 2h --reason "swimming lessons"\'',
        )
    if args.mode is not None and args.schedule:
        return usage_error("mode", "--schedule only lists the schedule; leave out the mode")
    if args.mode == Mode.UNSUPERVISED and switching:
        return usage_error("mode", "unsupervised mode has no end — leave out --until and --for")
    duration: float | None = None
    if args.duration is not None:
        try:
            duration = parse_for(args.duration)
        except ValueError as exc:
            return usage_error("mode", f"--for: {exc}")
        if duration <= 0:
            return usage_error("mode", "--for: the duration must be more than 0, e.g. 2h")
        if duration > MAX_SUPERVISED:
            return usage_error("mode", f"{SUPERVISED_LIMIT} — --for {args.duration} is too long")

    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    with store:
        modes = mode_manager(bundle, store)
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
            changes = store.mode_log.changes(limit=5)
            print(f"\nlast changes (times in {tz}):" if changes else "\nno changes yet")
            for change in changes:
                print(_history_line(change, tz))
            return 0
        until: float | None = None
        if args.until is not None:
            try:
                until = parse_until(args.until, tz, modes.clock())
            except ValueError as exc:
                return usage_error("mode", f"--until: {exc}")
        try:
            state = modes.switch(
                args.mode,
                until=until,
                duration=duration,
                by=args.by or login_name(),
                reason=args.reason or "",
                source="cli",
            )
        except ValueError as exc:
            return usage_error("mode", str(exc))
        print("\n".join(_mode_summary(state, modes, modes.clock())))
        end = modes.ends_at(state)
        if end is not None:
            print("\n".join(_supervised_effect(args.config, end, tz)))
        print(f"(times in {tz})")
    return 0


def _supervised_effect(config: Path, end: float, timezone: str) -> list[str]:
    """What a supervised mode pauses until ``end`` and what stays on, rule by rule (the
    rules that run in supervised mode stay on: the submersion timer always does)."""
    until = hour_minute(end, timezone)
    try:
        _, rules = load_site_and_rules(config)
    except ConfigError:  # the rules cannot be read: say what the defaults do
        return [
            f"  entry alerts paused until {until}; submersion alerts stay on "
            "(the rules could not be read: 'guardian check')"
        ]
    active = [r for r in rules.rules if r.enabled]
    paused = [r.alias for r in active if Mode.SUPERVISED not in r.modes]
    kept = [r.alias for r in active if Mode.SUPERVISED in r.modes]
    return [
        f"  paused until {until}: {', '.join(paused) or 'no rule'}",
        f"  still on: {', '.join(kept) or 'no rule'}",
    ]


def _print_schedule(bundle: SiteBundle, modes: ModeManager, count: int = 10) -> int:
    """The next switches of the site file's mode schedule (nothing is run)."""
    entries = bundle.site.modes.schedule
    if not entries:
        print(f"no mode schedule in {bundle.path} — add 'modes: schedule:' entries")
        return 0
    tz = modes.timezone
    scheduler = Scheduler(tz)
    scheduler.add_mode_schedule(entries, modes)  # never started: jobs only listed
    print(f"next scheduled mode changes (times in {tz}):")
    for when, name in scheduler.next_runs(local_time(modes.clock(), tz), count):
        print(f"  {weekday_date_minute(when.timestamp(), tz)}  {name}")
    return 0


def cmd_prompts(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    tz = bundle.site.site.timezone
    with store:
        now = time.time()
        store.prompt_log.expire(now)
        prompts = store.prompt_log.find() if args.all else store.prompt_log.find("pending")
    if not prompts:
        print("no prompts" if args.all else "no pending prompts")
        return 0
    rows: list[tuple[str, str, str]] = []
    for prompt in prompts:
        if prompt.status == "pending":
            state = f"expires in {format_duration(prompt.expires_at - now)}"
        elif prompt.answered_at is not None:
            state = (
                f"{prompt.status} by {prompt.answered_by or '?'} at "
                f"{minute(prompt.answered_at, tz)}"
            )
        else:
            state = f"{prompt.status} at {minute(prompt.expires_at, tz)}"
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
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    with store:
        modes = mode_manager(bundle, store)
        now = modes.clock()
        try:
            prompt, _ = store.prompt_log.answer(
                args.prompt_id,
                yes=args.answer == "yes",
                by=args.by or login_name(),
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
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    by = args.by or login_name()
    with store:
        event = store.event_log.get(args.event_id)
        if event is None:
            print(
                f"guardian ack: no event '{args.event_id}' in {bundle.database_path} — "
                "copy the id from the alert ('acknowledge: guardian ack ...')",
                file=sys.stderr,
            )
            return 1
        already = store.event_log.is_acknowledged(args.event_id)
        store.event_log.acknowledge(args.event_id, by=by)
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


def add_mode_commands(sub: Commands) -> None:
    """Register ``guardian mode``, ``prompts``, ``answer`` and ``ack``."""
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
        choices=[str(Mode.SUPERVISED), str(Mode.UNSUPERVISED)],
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
    add_config(p)
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
    add_config(p)
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
    add_config(p)
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
    add_config(p)
    p.set_defaults(func=cmd_ack)
