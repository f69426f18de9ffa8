"""Commands ``guardian serve``, ``guardian review`` and ``guardian passwd``."""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import signal
import sys
import threading
import time
from types import FrameType

from guardian.cli.options import Commands, add_config, site_and_store, usage_error, when
from guardian.records import Severity
from guardian.review.auth import AuthSetupError, hash_password, load_secret, password_hash
from guardian.review.queries import Window, by_severity, last_night, review_items
from guardian.review.server import ReviewApp, ReviewServer
from guardian.rules.actions import event_text
from guardian.timefmt import minute, stamp


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    review = bundle.site.review
    with store:
        try:
            hashed = password_hash(review)
            secret = load_secret(review, bundle.database_path)
        except AuthSetupError as exc:
            print(f"guardian serve: {exc}", file=sys.stderr)
            return 1
        app = ReviewApp(bundle, store, secret=secret, password_hash=hashed)
        host = args.host if args.host is not None else review.host
        port = args.port if args.port is not None else review.port
        try:
            server = ReviewServer(app, host, port)
        except OSError as exc:
            print(f"guardian serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
            return 1
        if not _is_loopback(host) and not review.url.startswith("https://"):
            print(
                "\n".join(
                    [
                        "!" * 78,
                        f"WARNING: the review page listens on {host}, not only on this "
                        "machine, WITHOUT TLS:",
                        "the password, the session cookie and the clips cross the network "
                        "in clear text.",
                        "Put it behind a TLS reverse proxy (Caddy, nginx) on 127.0.0.1 and "
                        "set 'review: url: https://…'.",
                        "!" * 78,
                    ]
                ),
                file=sys.stderr,
            )
        stop = threading.Event()

        def handler(signum: int, _frame: FrameType | None) -> None:
            stop.set()

        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, handler)
            signal.signal(signal.SIGTERM, handler)
        server.start()
        print(f"review page: {server.url}/ (Ctrl-C to stop)", flush=True)
        if review.url:
            print(f"public address (links in alerts): {review.url}/", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.shutdown()
    print("review page stopped", file=sys.stderr)
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    tz = bundle.site.site.timezone
    now = time.time()
    try:
        if args.since is None and args.until is None:
            window = last_night(now, bundle.site.review, tz)
        else:
            start = when(args.since or None, tz, now)
            end = when(args.until or None, tz, now)
            window = Window(0.0 if start is None else start, now + 1e-6 if end is None else end, "")
    except ValueError as exc:
        return usage_error("review", str(exc))
    with store:
        items = review_items(
            store,
            bundle.clips_dir,
            window,
            camera=args.camera,
            rule_id=args.rule,
            unreviewed=args.unreviewed,
        )
    label = window.label or f"{minute(window.start, tz)} → {minute(window.end, tz)}"
    print(f"{len(items)} event(s), {label} (times in {tz})")
    for severity, group in by_severity(items):
        print(f"\n{severity.value.upper()} ({len(group)})")
        for item in group:
            entry, event = item.entry, item.entry.event
            where = event.camera + (f"/{event.zone}" if event.zone else "")
            flags = []
            if entry.acknowledged_at is None:
                flags.append("NOT ACKNOWLEDGED" if severity is Severity.CRITICAL else "open")
            else:
                flags.append(f"acknowledged by {entry.acknowledged_by or '?'}")
            if entry.reviewed_at is not None:
                flags.append("reviewed")
            text = event_text(event)  # the rule's alias once, then the message
            print(
                f"  {stamp(event.started_at, tz)}  {where:<16} {text}  [{', '.join(flags)}]  "
                f"id={event.event_id}"
            )
            clip = item.clip
            if clip is None:
                print("      clip: none")
            elif clip.video is not None:
                print(f"      clip: {clip.video}")
            else:
                reason = f" ({clip.reason})" if clip.reason else ""
                print(f"      clip: {clip.status}{reason}")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("new review page password: ")
        if getpass.getpass("again: ") != password:
            print("guardian passwd: the two passwords differ — nothing printed", file=sys.stderr)
            return 1
    if len(password) < 8:
        print("guardian passwd: use at least 8 characters", file=sys.stderr)
        return 1
    print(hash_password(password))
    print(
        "paste it into the site file as 'review: password_hash: <hash>', or put it in the "
        "environment variable named by 'review: password_hash_env'",
        file=sys.stderr,
    )
    return 0


def add_review_commands(sub: Commands) -> None:
    """Register ``guardian serve``, ``guardian review`` and ``guardian passwd``."""

    p = sub.add_parser(
        "serve",
        help="serve the review page (login required; 127.0.0.1 by default)",
        description=(
            "Serve the morning review page: the events of a night grouped by severity, "
            "with clips, acknowledge / mark reviewed, mode switches and pending prompts; "
            "also the Twilio webhook (POST /twilio/sms) and contacts' share links. Needs a "
            "password hash ('guardian passwd'). Listens on 127.0.0.1 unless --host says "
            "otherwise: to reach it from elsewhere put a TLS reverse proxy in front."
        ),
    )
    add_config(p)
    p.add_argument(
        "--host", help="address to listen on (default: review.host, 127.0.0.1 unless set)"
    )
    p.add_argument(
        "--port", type=int, help="port (default: review.port, 8080 unless set; 0: any free port)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "review",
        help="list a night's events in the terminal, grouped by severity, with clip paths",
        description=(
            "List events grouped by severity (critical first) with their state and clip "
            "file. Without --since/--until: the last night (review.night, default "
            "18:00 → 09:00). Times: today, yesterday (00:00), 2026-11-22, "
            "'2026-11-22 18:00', or how long ago: 12h, 2d."
        ),
    )
    p.add_argument("--since", metavar="WHEN", help="from (default: the last night's start)")
    p.add_argument("--until", metavar="WHEN", help="up to (default: now)")
    p.add_argument("--camera", metavar="ID", help="only this camera")
    p.add_argument("--rule", metavar="ID", help="only this rule")
    p.add_argument("--unreviewed", action="store_true", help="only events not yet reviewed")
    add_config(p)
    p.set_defaults(func=cmd_review)

    p = sub.add_parser(
        "passwd",
        help="make the review page's password hash (to paste into the site file)",
        description=(
            "Ask for a password (twice) and print its scrypt hash, for 'review: "
            "password_hash:' in the site file or the variable named by "
            "'review: password_hash_env'. The password itself is never stored."
        ),
    )
    p.add_argument(
        "--stdin", action="store_true", help="read the password from the first line of stdin"
    )
    p.set_defaults(func=cmd_passwd)
