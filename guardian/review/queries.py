"""What the review page and ``guardian review`` show: a time window's events with clips.

Windows are in the site's time zone. A *night* is named by the date it starts on: the
night of 2026-11-22 runs from 2026-11-22 18:00 to 2026-11-23 09:00 (``review.night``).
Clip files are found by event id and resolved inside the clips folder; a stored path
that leads outside it (``..``, an absolute path, a symlink) is treated as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from guardian.clips.paths import UnsafeClipPath, resolve_clip_path
from guardian.config.review import ReviewConfig
from guardian.store import ReviewedEvent, Store
from guardian.timefmt import at, day_start, local_date
from guardian.vocab import SEVERITY_ORDER, Severity


@dataclass(frozen=True, slots=True)
class Window:
    """A time range [start, end) in epoch seconds; ``night`` is set for a night."""

    start: float
    end: float
    label: str
    night: date | None = None


def night_window(day: date, review: ReviewConfig, timezone: str) -> Window:
    """The night that starts on ``day`` (ends the next day when the end is earlier)."""
    start_t, end_t = review.night_times
    end_day = day + timedelta(days=1) if end_t <= start_t else day
    start, end = at(day, *start_t, timezone), at(end_day, *end_t, timezone)
    label = (
        f"night of {day:%a %Y-%m-%d} {review.night[0]} → {end_day:%a %Y-%m-%d} {review.night[1]}"
    )
    return Window(start, end, label, day)


def last_night(now: float, review: ReviewConfig, timezone: str) -> Window:
    """The latest night that has started by ``now`` (in the morning: last night)."""
    today = local_date(now, timezone)
    tonight = night_window(today, review, timezone)
    return tonight if tonight.start <= now else night_window(today - timedelta(1), review, timezone)


def days_window(first: date, last: date, timezone: str) -> Window:
    """Whole days, ``first`` 00:00 to the end of ``last``."""
    if last < first:
        first, last = last, first
    start = day_start(first, timezone)
    end = day_start(last + timedelta(days=1), timezone)
    label = f"{first:%Y-%m-%d}" if first == last else f"{first:%Y-%m-%d} → {last:%Y-%m-%d}"
    return Window(start, end, label)


@dataclass(frozen=True, slots=True)
class ClipFiles:
    """An event's clip as stored, with the files that exist inside the clips folder."""

    status: str  # written | skipped | pending | deleted | …
    reason: str | None
    video: Path | None
    thumbnail: Path | None
    snapshot: Path | None


def inside(root: Path, stored: str | None) -> Path | None:
    """``stored`` (relative to ``root``) as a real file inside ``root``, else None.

    The path is resolved (``..`` and symlinks followed) before the check, so nothing
    outside the clips folder is ever served, whatever the database says.
    """
    if not stored:
        return None
    try:
        real = resolve_clip_path(root, stored)
    except (UnsafeClipPath, OSError, RuntimeError):
        return None
    return real if real.is_file() else None


def clip_files(store: Store, clips_dir: Path, event_id: str) -> ClipFiles | None:
    """The clip of an event (None when none was recorded)."""
    clip = store.clip_log.for_event(event_id)
    if clip is None:
        return None
    video, thumbnail, snapshot = (
        inside(clips_dir, p) for p in (clip.path, clip.thumbnail_path, clip.snapshot_path)
    )
    if clip.status != "written":
        video = None  # being written, or deleted by retention: nothing to play
    return ClipFiles(clip.status, clip.reason or None, video, thumbnail, snapshot)


@dataclass(frozen=True, slots=True)
class ReviewItem:
    """One event on the page: the event, its ack/review state, and its clip."""

    entry: ReviewedEvent
    clip: ClipFiles | None


def review_items(
    store: Store,
    clips_dir: Path,
    window: Window,
    *,
    camera: str | None = None,
    rule_id: str | None = None,
    unreviewed: bool = False,
) -> list[ReviewItem]:
    entries = store.event_log.reviewed(
        start=window.start, end=window.end, camera=camera, rule_id=rule_id, unreviewed=unreviewed
    )
    return [ReviewItem(e, clip_files(store, clips_dir, e.event.event_id)) for e in entries]


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """One page of a window's events, critical first, then newest first."""

    items: tuple[ReviewItem, ...]  # this page's events, with their clips
    total: int  # events in the window (after the filters)
    counts: tuple[tuple[Severity, int], ...]  # events per severity in the whole window
    page: int  # 1-based
    pages: int  # at least 1
    first: int  # 1-based index of this page's first event (0 when there is none)
    unacknowledged: int = 0  # critical events in the whole window not acknowledged


def review_page_items(
    store: Store,
    clips_dir: Path,
    window: Window,
    *,
    page: int,
    per_page: int,
    camera: str | None = None,
    rule_id: str | None = None,
    unreviewed: bool = False,
    severity: Severity | None = None,
) -> ReviewPage:
    """Page ``page`` of the window's events (``per_page`` each); clips are looked up for
    this page's events only. A page past the last has no items."""
    entries = store.event_log.reviewed(
        start=window.start, end=window.end, camera=camera, rule_id=rule_id, unreviewed=unreviewed
    )
    if severity is not None:
        entries = [e for e in entries if e.event.severity == severity]
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    entries.sort(key=lambda e: (rank.get(e.event.severity, len(rank)), -e.event.started_at))
    total = len(entries)
    pages = max(1, -(-total // per_page))
    start = (page - 1) * per_page
    chosen = entries[start : start + per_page]
    counts = tuple(
        (s, n) for s in SEVERITY_ORDER if (n := sum(1 for e in entries if e.event.severity == s))
    )
    return ReviewPage(
        items=tuple(ReviewItem(e, clip_files(store, clips_dir, e.event.event_id)) for e in chosen),
        total=total,
        counts=counts,
        page=page,
        pages=pages,
        first=start + 1 if chosen else 0,
        unacknowledged=sum(
            1
            for e in entries
            if e.event.severity is Severity.CRITICAL and e.acknowledged_at is None
        ),
    )


def by_severity(items: list[ReviewItem]) -> list[tuple[Severity, list[ReviewItem]]]:
    """Groups in the order critical, warning, info (empty groups left out)."""
    groups: list[tuple[Severity, list[ReviewItem]]] = []
    for severity in SEVERITY_ORDER:
        group = [i for i in items if i.entry.event.severity is severity]
        if group:
            groups.append((severity, group))
    return groups
