"""``guardian clips``: list the event clips, or apply retention now (``--prune``)."""

from __future__ import annotations

import argparse
import time

from guardian.cli.options import Commands, add_config, site_and_store, usage_error, when
from guardian.clips.retention import prune
from guardian.config.clips import format_size
from guardian.timefmt import minute


def cmd_clips(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    timezone = bundle.site.site.timezone
    with store:
        now = time.time()
        if args.prune:
            result = prune(store, bundle.clips_dir, bundle.site.clips.retention, now)
            print(
                f"pruned {result.files} clip file(s) ({result.rows} event clip(s)), "
                f"{format_size(result.freed)} freed; {format_size(result.kept_size)} kept "
                f"in {bundle.clips_dir}"
            )
            return 0
        try:
            since = when(args.since or None, timezone, now)
        except ValueError as exc:
            return usage_error("clips", str(exc))
        clips = store.clip_log.find(since=since)
        if args.status:
            clips = [c for c in clips if c.status == args.status]
        for clip in clips:
            size = format_size(clip.size_bytes) if clip.size_bytes else "-"
            line = (
                f"{minute(clip.start, timezone)}  {clip.camera:<10} {clip.status:<9} "
                f"{clip.duration:6.1f} s {size:>9}  {clip.event_id}  {clip.path or '-'}"
            )
            if clip.reason:
                line += f"  ({clip.reason})"
            print(line)
        written = [c for c in clips if c.status == "written"]
        total = sum(c.size_bytes for c in {c.path: c for c in written}.values())
        print(f"{len(clips)} clip(s), {len(written)} written, {format_size(total)} on disk")
    return 0


def add_clips_commands(sub: Commands) -> None:
    """Register ``guardian clips``."""
    p = sub.add_parser(
        "clips",
        help="list event clips (status, length, size, file), or delete old ones with --prune",
        description=(
            "List the clips of events (paths relative to the clips folder), or apply the "
            "retention of 'clips: retention:' now: clips older than max_age, then, while the "
            "folder is over max_size, reviewed non-critical clips first and unreviewed "
            "critical ones last. Events are never deleted."
        ),
    )
    add_config(p)
    p.add_argument(
        "--since",
        metavar="WHEN",
        help="only clips from then on: yesterday, today, 2026-11-22, '2026-11-22 18:00', 12h",
    )
    p.add_argument(
        "--status",
        choices=("pending", "recording", "written", "skipped", "deleted"),
        help="only clips with this status",
    )
    p.add_argument("--prune", action="store_true", help="apply retention now instead of listing")
    p.set_defaults(func=cmd_clips)
