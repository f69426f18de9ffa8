"""``guardian alerts`` (the outbox) and ``guardian digest`` (the morning summary)."""

from __future__ import annotations

import argparse
import sys
import time

from guardian.app import build_outbox
from guardian.cli.options import Commands, add_config, site_and_store, usage_error, when
from guardian.digest import build_digest, default_window, digest_recipients, queue_digest
from guardian.timefmt import stamp
from guardian.vocab import DeliveryStatus

STATUSES = tuple(status.value for status in DeliveryStatus)


def _when(timestamp: float | None, timezone: str) -> str:
    return "-" if timestamp is None else stamp(timestamp, timezone)


def cmd_alerts(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    tz = bundle.site.site.timezone
    with store:
        rows = store.outbox.find(args.status)
    rows = rows[-args.limit :] if args.limit > 0 else rows
    if not rows:
        what = f" {args.status}" if args.status else ""
        print(f"no{what} deliveries in {bundle.database_path}")
        return 0
    for d in rows:
        head = (
            f"#{d.delivery_id} {_when(d.created_at, tz)} {d.status:<10} {d.kind:<10} "
            f"[{d.severity}] {d.channel} → {d.contact} ref={d.ref} tries={d.attempts}"
        )
        print(head)
        message = " ".join(d.message.split())
        print(f"    {message[:100]}{'…' if len(message) > 100 else ''}")
        if d.status == "sent":
            print(
                f"    sent {_when(d.sent_at, tz)}"
                + (f" id={d.provider_id}" if d.provider_id else "")
            )
        elif d.status == "suppressed" and d.reason:
            print(f"    {d.reason}")
        elif d.status in ("pending", "failed") and d.last_error:
            retry = f", next try {_when(d.next_attempt_at, tz)}" if d.status == "pending" else ""
            print(f"    last error: {d.last_error}{retry}")
        elif d.status == "sending":
            print(f"    sending since {_when(d.sending_at, tz)}")
    counts: dict[str, int] = {}
    for d in rows:
        counts[d.status] = counts.get(d.status, 0) + 1
    print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    site = bundle.site
    now = time.time()
    try:
        since = when(args.since, site.site.timezone, now)
    except ValueError as exc:
        return usage_error("digest", str(exc))
    # default: the last night, the one 'guardian review' shows
    start = default_window(now, site)[0] if since is None else since
    review_url = site.review.url or None
    with store:
        if not args.send:
            digest = build_digest(store, site, start=start, end=now, review_url=review_url)
            print(digest.text())
            return 0
        if not digest_recipients(site):
            print(
                "guardian digest: nobody to send it to — alerts.digest.channels must share a "
                "channel with the contacts' channels",
                file=sys.stderr,
            )
            return 1
        outbox = build_outbox(store, site)
        digest, queued = queue_digest(
            store, outbox, site, now=now, start=start, review_url=review_url, manual=True
        )
        print(digest.text())
        print()
        failed = 0
        for delivery in queued:
            after = store.outbox.get(delivery.delivery_id)
            status = after.status if after else "?"
            error = f": {after.last_error}" if after and after.last_error else ""
            failed += status != "sent"
            print(f"{delivery.channel} → {delivery.contact}: {status}{error}")
    if failed:
        print(f"{failed} not sent yet: 'guardian run' retries them", file=sys.stderr)
    return 1 if failed else 0


def add_alert_commands(sub: Commands) -> None:
    """Register ``guardian alerts`` and ``guardian digest``."""
    p = sub.add_parser(
        "alerts",
        help="list the alert outbox: what was sent, is waiting, failed or held back",
        description=(
            "List alert deliveries (newest last): status, channel, contact id, reference "
            "and tries. Numbers and tokens are never shown."
        ),
    )
    add_config(p)
    p.add_argument("--status", choices=STATUSES, help="only deliveries with this status")
    p.add_argument(
        "--limit", type=int, default=50, help="show the last N deliveries (0: all; default 50)"
    )
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser(
        "digest",
        help="print the digest of a range (default: the last night), or send it now",
        description=(
            "Summarise events since a time: counts per rule, critical events first, "
            "unacknowledged ones flagged, alerts held back by quiet hours. With --send, "
            "also send it now to the contacts and channels of 'alerts: digest:'."
        ),
    )
    add_config(p)
    p.add_argument(
        "--since",
        default=None,
        help="start: yesterday (00:00), today, 2026-11-22, '2026-11-22 18:00' or 12h "
        "(default: the start of the last night, review.night — the night 'guardian review' "
        "shows — or alerts.digest.hours back when that is set)",
    )
    p.add_argument("--send", action="store_true", help="send it now (through the outbox)")
    p.set_defaults(func=cmd_digest)
