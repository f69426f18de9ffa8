"""Command ``guardian zones preview CAMERA``: the camera's picture with its zones drawn."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from guardian.cli.options import Commands, add_config, open_site, usage_error
from guardian.snapshots import Snapshots
from guardian.zone_preview import camera_picture, draw_zones

__all__ = ["add_zones_commands", "cmd_zones_preview"]


def cmd_zones_preview(args: argparse.Namespace) -> int:
    """Write the camera's snapshot (or a grabbed frame) with its zones drawn and named."""
    bundle = open_site(args.config)
    if bundle is None:
        return 1
    camera = args.camera
    known = [c.id for c in bundle.site.cameras]
    if camera not in known:
        return usage_error(
            "zones preview",
            f"no camera '{camera}' in {bundle.path.name} — known cameras: "
            f"{', '.join(known) or '(none)'}",
        )
    image = camera_picture(bundle, camera, Snapshots.in_clips(bundle.clips_dir))
    if image is None:
        print(
            f"guardian zones preview: no snapshot of '{camera}' yet and no frame from its "
            "source — is the camera reachable?",
            file=sys.stderr,
        )
        return 1
    zones = bundle.zones_for(camera)
    out: Path = args.out if args.out is not None else Path(f"{camera}-zones.jpg")
    if not cv2.imwrite(str(out), draw_zones(image, zones)):
        print(f"guardian zones preview: cannot write {out} (use .jpg or .png)", file=sys.stderr)
        return 1
    print(f"{out}: {len(zones)} zone(s) on {camera}")
    return 0


def add_zones_commands(sub: Commands) -> None:
    """The ``zones`` command and its ``preview`` subcommand."""
    zones = sub.add_parser("zones", help="look at the zones drawn on a camera")
    zsub = zones.add_subparsers(dest="zones_command", required=True, metavar="COMMAND")
    p = zsub.add_parser(
        "preview",
        help="write a camera's picture with its zones drawn and named",
        description=(
            "Write the camera's latest snapshot (or, when there is none yet, one frame from "
            "its source) with every zone of that camera drawn over it and named — the same "
            "picture the review page's zone editor shows."
        ),
    )
    p.add_argument("camera", metavar="CAMERA", help="camera id from the site file")
    add_config(p)
    p.add_argument(
        "--out", type=Path, help="picture to write, .jpg or .png (default: CAMERA-zones.jpg)"
    )
    p.set_defaults(func=cmd_zones_preview)
