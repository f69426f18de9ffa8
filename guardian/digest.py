"""The morning digest: what happened in a range (by default the last night), in a few lines.

Critical events come first, each flagged when still not acknowledged; then counts per
rule; alerts held back by quiet hours and deliveries that failed are counted; the
review page's address ends it when one is given. ``queue_digest`` writes it to the
outbox (kind ``digest``) under one key per local day, channel and contact, so a day's
digest is sent once however often the job runs (a restart at 07:00, a manual
``guardian digest --send``). The runner schedules it with the site's
``alerts.digest.cron`` (default ``0 7 * * *``) in the site's time zone.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from guardian.config.cron import crontab_trigger
from guardian.effects import Notification
from guardian.health_report import health_report
from guardian.review.queries import last_night
from guardian.store import Delivery, Store
from guardian.timefmt import day, weekday_minute
from guardian.vocab import SEVERITY_ORDER, Channel, DeliveryStatus, Severity

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

    from guardian.alerts.outbox import Outbox
    from guardian.config.site import SiteConfig

log = logging.getLogger("guardian.digest")

#: events listed one per line (the rest are only counted)
MAX_LINES = 8


@dataclass(frozen=True, slots=True)
class DigestEvent:
    """One event as the digest lists it."""

    event_id: str
    rule_id: str
    alias: str
    severity: Severity
    camera: str
    zone: str | None
    started_at: float
    acknowledged: bool


@dataclass(frozen=True, slots=True)
class RuleCount:
    """How many events one rule had in the range, and how many are not acknowledged."""

    rule_id: str
    alias: str
    severity: Severity
    count: int
    unacknowledged: int


@dataclass(frozen=True, slots=True)
class Digest:
    """The summary of a range of time."""

    site_name: str
    timezone: str
    start: float
    end: float
    events: tuple[DigestEvent, ...]  # critical first, then warning, info; oldest first
    rules: tuple[RuleCount, ...]  # most severe first, then most events
    suppressed: int  # alerts held back by quiet hours
    failed: int  # deliveries given up
    review_url: str | None = None
    #: what watched the range (camera health, issue 13): see ``health_lines``
    health: tuple[str, ...] = ()

    @property
    def critical(self) -> int:
        return sum(1 for e in self.events if e.severity == Severity.CRITICAL)

    @property
    def unacknowledged_critical(self) -> int:
        return sum(1 for e in self.events if e.severity == Severity.CRITICAL and not e.acknowledged)

    def text(self) -> str:
        """The digest as sent: short lines, fit for an SMS or a push."""
        start = weekday_minute(self.start, self.timezone)
        end = weekday_minute(self.end, self.timezone)
        lines = [f"{self.site_name} digest {start} to {end}"]
        if not self.events:
            lines.append("No events.")
        else:
            by_severity = Counter(e.severity for e in self.events)
            counts = ", ".join(
                f"{by_severity[s]} {s}" for s in sorted(by_severity, key=SEVERITY_ORDER.index)
            )
            lines.append(f"{len(self.events)} event(s): {counts}.")
            if self.unacknowledged_critical:
                lines.append(f"{self.unacknowledged_critical} critical NOT ACKNOWLEDGED.")
            shown = [e for e in self.events if e.severity != Severity.INFO][:MAX_LINES]
            for event in shown:
                when = weekday_minute(event.started_at, self.timezone)
                flag = "" if event.acknowledged else " - not acknowledged"
                where = event.camera + (f"/{event.zone}" if event.zone else "")
                lines.append(f"{event.severity.upper()} {when} {event.alias} ({where}){flag}")
            per_rule = "; ".join(
                f"{r.alias} {r.count}"
                + (f" ({r.unacknowledged} unack.)" if r.unacknowledged else "")
                for r in self.rules
            )
            lines.append(f"Per rule: {per_rule}.")
        lines.extend(self.health)  # camera health: the silence above means safe only if watched
        if self.suppressed:
            lines.append(f"{self.suppressed} alert(s) held back by quiet hours.")
        if self.failed:
            lines.append(f"{self.failed} alert(s) could not be delivered.")
        if self.review_url:
            lines.append(f"Review: {self.review_url}")
        return "\n".join(lines)


def build_digest(
    store: Store,
    site: SiteConfig,
    *,
    start: float,
    end: float,
    review_url: str | None = None,
) -> Digest:
    """The digest of events that started in [start, end)."""
    events = [e for e in store.event_log.find(since=start) if e.started_at < end]
    listed = sorted(
        (
            DigestEvent(
                event_id=e.event_id,
                rule_id=e.rule_id,
                alias=e.rule_alias,
                severity=e.severity,
                camera=e.camera,
                zone=e.zone,
                started_at=e.started_at,
                acknowledged=store.event_log.is_acknowledged(e.event_id),
            )
            for e in events
        ),
        key=lambda e: (SEVERITY_ORDER.index(e.severity), e.started_at),
    )
    counts: dict[str, list[DigestEvent]] = {}
    for event in listed:
        counts.setdefault(event.rule_id, []).append(event)
    rules = sorted(
        (
            RuleCount(
                rule_id=rule_id,
                alias=items[0].alias,
                severity=items[0].severity,
                count=len(items),
                unacknowledged=sum(
                    1 for e in items if not e.acknowledged and e.severity == Severity.CRITICAL
                ),
            )
            for rule_id, items in counts.items()
        ),
        key=lambda r: (SEVERITY_ORDER.index(r.severity), -r.count, r.rule_id),
    )
    in_range = store.outbox.find(since=start, until=end)
    return Digest(
        site_name=site.site.name,
        timezone=site.site.timezone,
        start=start,
        end=end,
        events=tuple(listed),
        rules=tuple(rules),
        suppressed=sum(1 for d in in_range if d.status == DeliveryStatus.SUPPRESSED),
        failed=sum(1 for d in in_range if d.status == DeliveryStatus.FAILED and d.kind != "digest"),
        review_url=review_url or None,
        health=health_lines(store, site, start=start, end=end),
    )


# -- camera health (issue 13) -------------------------------------------------------------


def health_lines(store: Store, site: SiteConfig, *, start: float, end: float) -> tuple[str, ...]:
    """What watched [start, end): ``Watched 22:00-07:00: pool camera offline 02:14-02:31.``
    (ASCII dashes: an SMS stays in the GSM alphabet)."""
    report = health_report(
        store,
        since=start,
        until=end,
        now=end,
        timezone=site.site.timezone,
        cameras=[c.id for c in site.cameras if c.enabled],
    )
    if not report.started:
        return ()
    line = report.headline(dash="-")
    return (line[:1].upper() + line[1:] + ".",)


# -----------------------------------------------------------------------------------------


def default_window(now: float, site: SiteConfig) -> tuple[float, float]:
    """The range a digest covers by default, up to ``now``: from the start of the last
    night (``review.night``: the night ``guardian review`` and the review page show; at
    07:00, yesterday 18:00), or ``alerts.digest.hours`` back when that is set."""
    hours = site.alerts.digest.hours
    if hours is not None:
        return now - hours, now
    return last_night(now, site.review, site.site.timezone).start, now


def digest_key(day: str, channel: str, contact: str, *, manual: float | None = None) -> str:
    """The outbox key of one day's digest (``YYYY-MM-DD``, local) to one contact; a
    manual one is keyed by when it was asked for."""
    if manual is not None:
        return f"digest:{day}:manual-{manual:.3f}:{channel}:{contact}"
    return f"digest:{day}:{channel}:{contact}"


def digest_recipients(site: SiteConfig) -> list[tuple[str, str]]:
    """(channel, contact) pairs the digest goes to: the digest's channels that each
    chosen contact also lists in its own ``channels``."""
    cfg = site.alerts.digest
    wanted = set(cfg.contacts)
    pairs: list[tuple[str, str]] = []
    for contact in site.contacts:
        if wanted and contact.id not in wanted:
            continue
        for channel in cfg.channels:
            if channel in contact.channels:
                pairs.append((channel, contact.id))
    return pairs


def queue_digest(
    store: Store,
    outbox: Outbox,
    site: SiteConfig,
    *,
    now: float,
    start: float | None = None,
    review_url: str | None = None,
    manual: bool = False,
) -> tuple[Digest, list[Delivery]]:
    """Build the digest of [start (default: :func:`default_window`), now), queue
    it for every recipient under the local day's key, and send it.

    Returns the digest and the deliveries newly queued (none when today's was already).
    A ``manual`` digest (``guardian digest --send``) has its own key: it is sent even
    when the scheduled one went out today."""
    start = default_window(now, site)[0] if start is None else start
    digest = build_digest(store, site, start=start, end=now, review_url=review_url)
    today = day(now, site.site.timezone)
    text = digest.text()
    queued = []
    for channel, contact in digest_recipients(site):
        key = digest_key(today, channel, contact, manual=now if manual else None)
        note = Notification(
            key, None, None, Severity.INFO, Channel(channel), contact, text, kind="digest"
        )
        delivery = store.outbox.enqueue(note, time.time())
        if delivery is not None:
            queued.append(delivery)
    if outbox.running:  # from the run's scheduler: the channel's sender sends it
        outbox.submit(queued)
    else:
        for delivery in queued:
            outbox.send(delivery, now=now)
    log.info("digest of %s: %d event(s), %d delivery(ies)", today, len(digest.events), len(queued))
    return digest, queued


def digest_trigger(site: SiteConfig) -> CronTrigger:
    """When the digest runs: ``alerts.digest.cron`` in the site's time zone."""
    return crontab_trigger(site.alerts.digest.cron, site.site.timezone)


def digest_job(
    store: Store,
    outbox: Outbox,
    site: SiteConfig,
    *,
    clock: Callable[[], float],
    review_url: str | None = None,
) -> Callable[[], tuple[Digest, list[Delivery]]]:
    """The function the scheduler runs at the digest's time."""

    def run() -> tuple[Digest, list[Delivery]]:
        return queue_digest(store, outbox, site, now=clock(), review_url=review_url)

    return run


__all__ = [
    "Digest",
    "DigestEvent",
    "RuleCount",
    "build_digest",
    "default_window",
    "digest_job",
    "digest_key",
    "digest_recipients",
    "digest_trigger",
    "health_lines",
    "queue_digest",
]
