"""``guardian run``, ``guardian demo`` and ``guardian replay``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from guardian.app import rule_context, run_site, site_rules
from guardian.cli.options import Commands, add_config, usage_error
from guardian.config import ConfigError, Problem, load_site, load_yaml
from guardian.demo import DemoError, clear_demo, demo_files, write_demo_site
from guardian.observations import ObservationFormatError
from guardian.replay import replay
from guardian.rules import RuleContext, RuleSet
from guardian.rules.actions import event_text
from guardian.store import Store
from guardian.vocab import MODES, Mode


def cmd_run(args: argparse.Namespace) -> int:
    return run_site(args.config, record=args.record_observations, progress=not args.quiet)


def cmd_demo(args: argparse.Namespace) -> int:
    """Build the demo scene, run it as ``guardian run`` would, list its events."""
    workdir: Path = args.workdir.resolve()
    try:
        zones, rules = demo_files()
    except DemoError as exc:
        print(exc, file=sys.stderr)
        return 1
    clear_demo(workdir)  # the database and clips of an earlier demo run
    print(f"building the demo scene in {workdir} (people cut from ultralytics' sample photos)…")
    site = write_demo_site(workdir, zones, rules)
    print(f"running: guardian run --config {site}")
    code = run_site(site, record=workdir / "observations.jsonl")
    if code != 0:
        return code
    db = workdir / "guardian.db"
    with Store(db) as store:
        events = store.event_log.find()
        clips = {e.event_id: store.clip_log.for_event(e.event_id) for e in events}
    print(f"\n{len(events)} event(s) in {db}:")
    for e in events:
        print(f"  {e.event_id}  {event_text(e)}")
        clip = clips[e.event_id]
        if clip is not None and clip.status == "written":
            print(f"    clip: {workdir / 'clips' / clip.path} ({clip.duration:.1f} s, H.264)")
        elif clip is not None:
            print(f"    clip {clip.status}: {clip.reason or '-'}")
    print(f"\nthe same in the terminal: guardian review --config {site} --since today")
    return 0 if events else 1


def _replay_rules(config: Path, rule_files: list[Path]) -> tuple[RuleSet, RuleContext]:
    """With ``--config``: the rules exactly as ``guardian run`` builds them (``rule_files``
    stand in for the site's), and the site's context; ConfigError lists the problems."""
    bundle = load_site(config)
    if rule_files:
        problems: list[Problem] = []
        documents = []
        for path in rule_files:
            try:
                documents.append(load_yaml(path))
            except ConfigError as err:
                problems.extend(err.problems)
        if problems:
            raise ConfigError(problems)
        bundle = dataclasses.replace(bundle, rule_documents=tuple(documents))
    return site_rules(bundle), rule_context(bundle, Mode.UNSUPERVISED)


def cmd_replay(args: argparse.Namespace) -> int:
    """Rules over recorded observations: events and what their actions would do.

    With --config the rules are built by ``site_rules``, as ``guardian run`` builds them
    (built-in rules included); --rules then stands in for the site's rule files.
    """
    if args.config is None and not args.rules:
        return usage_error("replay", "give --rules FILE..., or --config SITE (its rules)")
    context = RuleContext(mode=Mode(args.mode))
    rules: RuleSet | None = None
    try:
        if args.config is not None:
            rules, site_context = _replay_rules(args.config, args.rules or [])
            context = dataclasses.replace(site_context, mode=Mode(args.mode))
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


def add_run_commands(sub: Commands) -> None:
    """Register ``guardian run``, ``guardian demo`` and ``guardian replay``."""
    p = sub.add_parser("run", help="run every camera through the pipeline and the rules")
    add_config(p)
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
        choices=[str(m) for m in MODES],
        default=str(Mode.UNSUPERVISED),
        help="the site's mode at the start (default unsupervised)",
    )
    p.add_argument(
        "--yes", action="store_true", help="answer every prompt YES (mode switches take effect)"
    )
    p.set_defaults(func=cmd_replay)
