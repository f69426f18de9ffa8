"""HTML of the review site, from Jinja2 templates (``review/templates``) with autoescape:
every value from the database or the request is escaped.

The review page works without JavaScript: buttons are small POST forms carrying the
session's CSRF token, videos use the browser's own ``<video controls>``, repeated
events fold into ``<details>``. Only the zone editor has a script (``static/zones.js``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote, urlencode

import jinja2
import markupsafe

from guardian.health_report import HealthReport, SiteHealth
from guardian.records import Severity
from guardian.review.queries import ReviewItem, ReviewPage, Window, by_severity
from guardian.store import ModeState, Prompt
from guardian.timefmt import format_duration, hour_minute, stamp

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("guardian.review", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def _render(template: str, timezone: str = "UTC", **values: object) -> str:
    return _ENV.get_template(template).render(
        when=lambda ts: stamp(ts, timezone),
        hm=lambda ts: hour_minute(ts, timezone),
        duration=format_duration,
        q=lambda text: quote(str(text), safe=""),
        **values,
    )


def login_page(site_name: str, *, next_path: str, message: str = "") -> str:
    return _render(
        "login.html",
        title=f"{site_name} — log in",
        site_name=site_name,
        next_path=next_path,
        message=message,
    )


def message_page(title: str, text: str) -> str:
    return _render("message.html", title=title, text=text)


@dataclass(frozen=True, slots=True)
class PageContext:
    """What every logged-in page needs."""

    site_name: str
    timezone: str
    user: str
    csrf: str
    mode: ModeState
    mode_ends: float | None
    supervised_for: float
    now: float


@dataclass(frozen=True, slots=True)
class Filters:
    camera: str | None
    rule: str | None
    unreviewed: bool
    day_from: str | None
    day_to: str | None


@dataclass(frozen=True, slots=True)
class Fold:
    """Events of one rule on one camera, newest first: shown as one, the rest folded."""

    title: str
    items: tuple[ReviewItem, ...]


@dataclass(frozen=True, slots=True)
class Group:
    """One severity's events on the page; ``count`` is the whole window's."""

    severity: Severity
    count: int
    folds: tuple[Fold, ...]


@dataclass(frozen=True, slots=True)
class Headline:
    """``3 critical, 1 not acknowledged``; ``open`` when something waits for an ack."""

    text: str
    open: bool


@dataclass(frozen=True, slots=True)
class CameraChip:
    """One camera in the health strip: its state now."""

    camera: str
    state: str
    css: str
    detail: str


@dataclass(frozen=True, slots=True)
class HealthLine:
    css: str
    text: str


def fold_repeats(items: Sequence[ReviewItem]) -> tuple[Fold, ...]:
    """Items (newest first) grouped by rule and camera, each fold where its newest is."""
    folds: dict[tuple[str, str], list[ReviewItem]] = {}
    for item in items:
        event = item.entry.event
        folds.setdefault((event.rule_id, event.camera), []).append(item)
    return tuple(Fold(group[0].entry.event.rule_alias, tuple(group)) for group in folds.values())


def headline(page: ReviewPage) -> Headline:
    """What a parent reads first: criticals and how many still wait for an ack."""
    counts = dict(page.counts)
    critical = counts.get(Severity.CRITICAL, 0)
    others = [f"{n} {s.value}" for s, n in page.counts if s is not Severity.CRITICAL]
    text = f"{critical} critical, {page.unacknowledged} not acknowledged"
    if others:
        text += " · " + ", ".join(others)
    return Headline(text, page.unacknowledged > 0)


def camera_chips(health: SiteHealth | None) -> tuple[CameraChip, ...]:
    if health is None:
        return ()
    chips = []
    for c in health.cameras:
        state = str(c.state)
        css = "ok" if state == "ok" else "problem" if state == "problem" else "down"
        detail = ", ".join(str(p.problem) for p in c.problems)
        chips.append(CameraChip(c.camera, state.replace("_", " "), css, detail))
    return tuple(chips)


def _health(health: HealthReport | None) -> HealthLine | None:
    """What watched the night: ``watched 22:00–07:00: pool camera offline 02:14–02:31``."""
    if health is None or not health.started:
        return None
    css = "down" if health.watched is None else "problem" if health.all_issues() else "ok"
    text = f"Cameras {health.headline()}" if health.cameras else "No camera is enabled."
    return HealthLine(css, text)


def _pager(page: ReviewPage, query: Sequence[tuple[str, str]]) -> str:
    def link(number: int) -> str:
        return "/?" + urlencode([*query, ("page", str(number))])

    return _ENV.get_template("pager.html").render(page=page, link=link)


def review_page(
    ctx: PageContext,
    *,
    window: Window,
    paging: ReviewPage,
    prompts: Sequence[Prompt],
    filters: Filters,
    cameras: Sequence[str],
    rules: Sequence[str],
    back: str,
    health: HealthReport | None = None,
    live: SiteHealth | None = None,
    query: Sequence[tuple[str, str]] = (),
) -> str:
    """One page of the window's events: headline, camera strip, severity groups (newest
    first), repeats folded."""
    counts: dict[Severity, int] = dict(paging.counts)
    groups = tuple(
        Group(severity, counts.get(severity, len(group)), fold_repeats(group))
        for severity, group in by_severity(list(paging.items))
    )
    keep = [(k, v) for k, v in (("camera", filters.camera), ("rule", filters.rule)) if v]
    if filters.unreviewed:
        keep.append(("unreviewed", "1"))
    prev_query = next_query = ""
    if window.night is not None:
        prev_query = urlencode([("night", (window.night - timedelta(days=1)).isoformat()), *keep])
        next_query = urlencode([("night", (window.night + timedelta(days=1)).isoformat()), *keep])
    shown = ""
    pager = ""
    if paging.pages > 1:
        last = paging.first + len(paging.items) - 1
        shown = f" · showing {paging.first}–{last}, page {paging.page} of {paging.pages}"
        pager = _pager(paging, query)
    return _render(
        "review.html",
        ctx.timezone,
        title=f"{ctx.site_name} — {window.label}",
        ctx=ctx,
        back=back,
        window=window,
        prompts=prompts,
        headline=headline(paging),
        cameras=camera_chips(live),
        health=_health(health),
        filters=filters,
        cameras_all=tuple(cameras),
        rules=tuple(rules),
        prev_query=prev_query,
        next_query=next_query,
        total=paging.total,
        shown=shown,
        pager=markupsafe.Markup(pager),
        groups=groups,
    )


def event_page(ctx: PageContext, item: ReviewItem, back: str) -> str:
    return _render(
        "event.html",
        ctx.timezone,
        title=f"{ctx.site_name} — {item.entry.event.rule_alias}",
        ctx=ctx,
        item=item,
        back=back,
    )


def share_page(site_name: str, item: ReviewItem, token: str, timezone: str, expires: float) -> str:
    event = item.entry.event
    return _render(
        "share.html",
        timezone,
        title=f"{site_name} — {event.rule_alias}",
        site_name=site_name,
        event=event,
        item=item,
        token=token,
        expires=expires,
    )


@dataclass(frozen=True, slots=True)
class ZoneView:
    """One zone as the editor draws it: points in the picture's pixels."""

    name: str
    kind: str
    color: str
    units: str
    points: tuple[tuple[float, float], ...]


def zones_page(
    ctx: PageContext,
    *,
    camera: str,
    cameras: Sequence[str],
    width: int,
    height: int,
    has_picture: bool,
    zones: Sequence[ZoneView],
    back: str,
) -> str:
    """A camera's picture with its zones as SVG polygons whose points can be dragged."""
    return _render(
        "zones.html",
        ctx.timezone,
        title=f"{ctx.site_name} — zones of {camera}",
        ctx=ctx,
        back=back,
        camera=camera,
        cameras=tuple(cameras),
        width=width,
        height=height,
        has_picture=has_picture,
        zones=tuple(zones),
    )
