"""``guardian worker``: run some of a site's cameras on this machine for a site elsewhere
(:mod:`guardian.app.worker`)."""

from __future__ import annotations

import argparse

from guardian.app.worker import run_worker
from guardian.cli.options import Commands, add_config, usage_error


def cmd_worker(args: argparse.Namespace) -> int:
    cameras = [c.strip() for c in (args.cameras or "").split(",") if c.strip()]
    if not cameras and args.name is None:
        return usage_error("worker", "give --cameras CAM,... or --name WORKER (or both)")
    return run_worker(args.config, name=args.name, cameras=cameras or None)


def add_worker_commands(sub: Commands) -> None:
    """Register ``guardian worker``."""
    p = sub.add_parser(
        "worker",
        help="run cameras of the site here and send what they see to the site over MQTT",
        description=(
            "Run the camera half of the site (video → detection → tracking → zones → "
            "posture → observations) for cameras whose 'worker:' in the site file names "
            "this worker, and publish their observations to the site's MQTT broker; "
            "'guardian run' on the site's machine runs the rules, the store and the "
            "alerts. Clips are written into the site's clips folder, which must be shared "
            "with this machine at the path the site file gives ('storage: clips'). Runs "
            "until stopped (SIGINT / SIGTERM)."
        ),
    )
    add_config(p)
    p.add_argument(
        "--cameras",
        metavar="CAM,...",
        help="camera ids, comma-separated (default: every camera of --name)",
    )
    p.add_argument(
        "--name",
        metavar="WORKER",
        help="the worker's name, as the cameras' 'worker:' give it (default: theirs)",
    )
    p.set_defaults(func=cmd_worker)
