"""The ``guardian`` command line: one thin module per command group.

Each module registers its commands (``add_*_commands``); a command parses its options,
calls :mod:`guardian.app` or a domain module, and prints. What they share is in
:mod:`guardian.cli.options`. Nothing outside this package imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from guardian import __version__
from guardian.cli.alerts import add_alert_commands
from guardian.cli.check import add_check_commands
from guardian.cli.clips import add_clips_commands
from guardian.cli.detector import add_detector_commands
from guardian.cli.fall import add_fall_commands
from guardian.cli.health import add_health_commands
from guardian.cli.identity import add_identity_commands
from guardian.cli.mode import add_mode_commands
from guardian.cli.review import add_review_commands
from guardian.cli.run import add_run_commands
from guardian.cli.status import add_status_commands
from guardian.cli.worker import add_worker_commands
from guardian.cli.zones import add_zones_commands
from guardian.logs import setup_logging


def build_parser() -> argparse.ArgumentParser:
    """The ``guardian`` parser with every command."""
    parser = argparse.ArgumentParser(
        prog="guardian", description="Smart-surveillance rules engine for supervised zones."
    )
    parser.add_argument("--version", action="version", version=f"guardian {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_check_commands(sub)
    add_run_commands(sub)
    add_mode_commands(sub)
    add_review_commands(sub)
    add_status_commands(sub)
    add_health_commands(sub)
    add_alert_commands(sub)
    add_clips_commands(sub)
    add_identity_commands(sub)
    add_fall_commands(sub)
    add_detector_commands(sub)
    add_zones_commands(sub)
    add_worker_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status."""
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
