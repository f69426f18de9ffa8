"""``guardian status``: is the site watched right now?

Exit 0 when every enabled camera is watched and healthy, 1 otherwise (or when the site
file or the store cannot be read), so that a cron job or a monitoring script can act on
it; ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import json
import time

from guardian.app import mode_manager
from guardian.cli.options import Commands, add_config, site_and_store
from guardian.health_report import STALE_AFTER
from guardian.status import read_status, status_json, status_lines


def cmd_status(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    with store:
        status = read_status(bundle, store, mode_manager(bundle, store), time.time())
    if args.json:
        print(json.dumps(status_json(status), indent=2))
    else:
        print("\n".join(status_lines(status)))
    return 0 if status.health.healthy else 1


_EPILOG = f"""\
exit status: 0 when every enabled camera is watched and healthy (its run's heartbeat
is less than {STALE_AFTER:.0f} s old, frames are coming and it has no open problem),
1 otherwise or when the site file or its event store cannot be read.
"""


def add_status_commands(sub: Commands) -> None:
    """Register ``guardian status``."""
    p = sub.add_parser(
        "status",
        help="is the site watched now? mode, cameras (fps, last frame, health), prompts, alerts",
        description=(
            "Print the site mode (and until when), each enabled camera with its fps, last "
            "frame and health (ok, its open problems since when, not running, never "
            "watched), the prompts waiting for an answer and the alerts not sent yet."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_config(p, help="site file")
    p.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    p.set_defaults(func=cmd_status)
