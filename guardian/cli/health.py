"""``guardian reference --camera ID``: take a camera's reference view again
(:mod:`guardian.reference`)."""

from __future__ import annotations

import argparse
import sys

from guardian.cli.options import Commands, add_config
from guardian.config import ConfigError, load_site
from guardian.reference import take_reference


def cmd_reference(args: argparse.Namespace) -> int:
    try:
        bundle = load_site(args.config)
    except ConfigError as err:
        if err.partial is None:
            for problem in err.problems:
                print(problem, file=sys.stderr)
            return 1
        bundle = err.partial
    try:
        path, image = take_reference(bundle, args.camera, timeout=args.timeout)
    except (ValueError, OSError) as exc:
        print(f"guardian reference: {exc}", file=sys.stderr)
        return 1
    h, w = image.shape[:2]
    print(
        f"camera {args.camera}: reference view saved to {path} ({w}x{h}); the 'moved' "
        "check compares the camera's picture with it from the next 'guardian run'"
    )
    return 0


def add_health_commands(sub: Commands) -> None:
    """Register ``guardian reference``."""
    p = sub.add_parser(
        "reference",
        help="take a camera's reference view again (the 'moved' check compares with it)",
        description=(
            "Open the camera, wait for a good picture (not black, covered or too plain) and "
            "save it as the camera's reference view: its 'reference:' image when the site "
            "file gives one, else references/<camera>.png next to the database. Do it after "
            "moving a camera on purpose (and redrawing its zones). Exit 1 when no good "
            "picture came."
        ),
    )
    p.add_argument("--camera", required=True, metavar="ID", help="the camera's id")
    p.add_argument(
        "--timeout", type=float, default=30.0, metavar="SECONDS", help="wait at most this long"
    )
    add_config(p, help="site file")
    p.set_defaults(func=cmd_reference)
