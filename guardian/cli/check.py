"""``guardian check``: every problem of the site file and what it lists, in one pass."""

from __future__ import annotations

import argparse
import sys

from guardian.app import site_rules
from guardian.check import check_site
from guardian.cli.options import Commands, add_config


def cmd_check(args: argparse.Namespace) -> int:
    """Every problem of every file in one pass; warnings fail only with --strict."""
    report = check_site(args.config, rules_for=site_rules, probe=args.probe)
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


def add_check_commands(sub: Commands) -> None:
    """Register ``guardian check``."""
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
    add_config(p)
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
