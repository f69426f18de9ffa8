"""HTML of the review page. Every value from the database or the request is escaped.

No JavaScript: buttons are small POST forms carrying the session's CSRF token, and
videos use the browser's own ``<video controls>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from urllib.parse import quote, urlencode

from guardian.health_report import HealthReport
from guardian.records import Severity
from guardian.review.queries import ReviewItem, ReviewPage, Window, by_severity
from guardian.store import ModeState, Prompt
from guardian.timefmt import format_duration, local_time


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(ts: float, tz: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return local_time(ts, tz).strftime(fmt)


def layout(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        '<link rel=stylesheet href="/static/review.css"></head>'
        f"<body>{body}</body></html>\n"
    )


def button(
    action: str,
    csrf: str,
    label: str,
    *,
    fields: Sequence[tuple[str, str]] = (),
    css: str = "",
    name: str = "",
) -> str:
    hidden = "".join(
        f'<input type=hidden name="{_e(k)}" value="{_e(v)}">' for k, v in (("csrf", csrf), *fields)
    )
    named = f' name="{_e(name)}"' if name else ""
    return (
        f'<form method=post action="{_e(action)}" class=inline>{hidden}'
        f'<button type=submit class="{_e(css)}"{named}>{_e(label)}</button></form>'
    )


def login_page(site_name: str, *, next_path: str, message: str = "") -> str:
    note = f"<p class=error role=alert>{_e(message)}</p>" if message else ""
    body = (
        f"<main class=login><h1>{_e(site_name)}</h1>{note}"
        f'<form method=post action="/login">'
        f'<input type=hidden name=next value="{_e(next_path)}">'
        "<label>Password <input type=password name=password id=password "
        "autocomplete=current-password required autofocus></label>"
        "<button type=submit id=login>Log in</button></form></main>"
    )
    return layout(f"{site_name} — log in", body)


def message_page(title: str, text: str) -> str:
    return layout(title, f"<main class=message><h1>{_e(title)}</h1><p>{_e(text)}</p></main>")


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


def _header(ctx: PageContext, back: str) -> str:
    mode = f"<strong id=mode>{_e(ctx.mode.mode)}</strong>"
    if ctx.mode_ends is not None:
        mode += (
            f" until {_e(_when(ctx.mode_ends, ctx.timezone, '%H:%M'))}"
            f" (in {_e(format_duration(ctx.mode_ends - ctx.now))})"
        )
    buttons = button(
        "/mode",
        ctx.csrf,
        f"Supervised for {format_duration(ctx.supervised_for)}",
        fields=(("mode", "supervised"), ("next", back)),
        name="supervised",
    ) + button(
        "/mode",
        ctx.csrf,
        "Unsupervised",
        fields=(("mode", "unsupervised"), ("next", back)),
        name="unsupervised",
    )
    return (
        f'<header><a href="/" class=site>{_e(ctx.site_name)}</a>'
        f"<span class=mode>mode: {mode} {buttons}</span>"
        f"<span class=user>{_e(ctx.user)} {button('/logout', ctx.csrf, 'Log out')}</span>"
        "</header>"
    )


def _prompts(ctx: PageContext, prompts: Sequence[Prompt], back: str) -> str:
    if not prompts:
        return ""
    rows = "".join(
        f'<li id="prompt-{_e(p.prompt_id)}">{_e(p.question)} '
        f"<small>(expires in {_e(format_duration(p.expires_at - ctx.now))})</small> "
        + button(
            f"/prompts/{quote(p.prompt_id, safe='')}",
            ctx.csrf,
            "YES",
            fields=(("answer", "yes"), ("next", back)),
            css="yes",
            name="yes",
        )
        + button(
            f"/prompts/{quote(p.prompt_id, safe='')}",
            ctx.csrf,
            "NO",
            fields=(("answer", "no"), ("next", back)),
            name="no",
        )
        + "</li>"
        for p in prompts
    )
    return f"<section class=prompts><h2>Waiting for an answer</h2><ul>{rows}</ul></section>"


def _event_card(ctx: PageContext, item: ReviewItem, back: str, *, detail: bool = False) -> str:
    entry, event = item.entry, item.entry.event
    eid = quote(event.event_id, safe="")
    media = ""
    clip = item.clip
    if clip is not None and clip.video is not None:
        poster = f' poster="/events/{eid}/thumbnail"' if clip.thumbnail is not None else ""
        media = (
            f"<video controls preload=metadata playsinline{poster} "
            f'src="/events/{eid}/clip" data-event="{_e(event.event_id)}"></video>'
        )
    elif clip is not None and clip.thumbnail is not None:
        media = f'<img class=thumb src="/events/{eid}/thumbnail" alt="thumbnail">'
    elif clip is not None:
        why = f": {clip.reason}" if clip.reason else ""
        media = f"<p class=noclip>clip {_e(clip.status)}{_e(why)}</p>"
    else:
        media = "<p class=noclip>no clip</p>"
    if clip is not None and clip.snapshot is not None:
        media += f'<a class=snapshot href="/events/{eid}/snapshot">snapshot</a>'
    state: list[str] = []
    actions: list[str] = []
    if entry.acknowledged_at is not None:
        state.append(
            f"<span class=acked>acknowledged by {_e(entry.acknowledged_by or '?')} at "
            f"{_e(_when(entry.acknowledged_at, ctx.timezone, '%H:%M'))}</span>"
        )
    else:
        actions.append(
            button(
                f"/events/{eid}/ack", ctx.csrf, "Acknowledge", fields=(("next", back),), name="ack"
            )
        )
    if entry.reviewed_at is not None:
        state.append(f"<span class=reviewed>reviewed by {_e(entry.reviewed_by or '?')}</span>")
    else:
        actions.append(
            button(
                f"/events/{eid}/reviewed",
                ctx.csrf,
                "Mark reviewed",
                fields=(("next", back),),
                name="reviewed",
            )
        )
    title = _e(event.rule_alias)
    if not detail:
        title = f'<a href="/events/{eid}">{title}</a>'
    where = event.camera + (f" / {event.zone}" if event.zone else "")
    return (
        f'<article class="event {_e(event.severity.value)}" id="event-{_e(event.event_id)}">'
        f"<div class=media>{media}</div><div class=info>"
        f"<h3>{title}</h3>"
        f"<p class=meta><time>{_e(_when(event.started_at, ctx.timezone))}</time> · "
        f"{_e(where)} · <span class=sev>{_e(event.severity.value)}</span></p>"
        f"<p class=msg>{_e(event.message)}</p>"
        f"<p class=state>{' '.join(state)}</p>"
        f"<p class=actions>{''.join(actions)}</p></div></article>"
    )


@dataclass(frozen=True, slots=True)
class Filters:
    camera: str | None
    rule: str | None
    unreviewed: bool
    day_from: str | None
    day_to: str | None


def _nav(window: Window, filters: Filters) -> str:
    keep = [(k, v) for k, v in (("camera", filters.camera), ("rule", filters.rule)) if v]
    if filters.unreviewed:
        keep.append(("unreviewed", "1"))
    if window.night is None:
        return f"<nav class=window><span id=window>{_e(window.label)}</span></nav>"
    prev_n, next_n = window.night - timedelta(days=1), window.night + timedelta(days=1)
    prev_q = urlencode([("night", prev_n.isoformat()), *keep])
    next_q = urlencode([("night", next_n.isoformat()), *keep])
    return (
        f'<nav class=window><a id=prev href="/?{_e(prev_q)}">← previous night</a>'
        f"<span id=window>{_e(window.label)}</span>"
        f'<a id=next href="/?{_e(next_q)}">next night →</a></nav>'
    )


def _filters(window: Window, filters: Filters, cameras: Sequence[str], rules: Sequence[str]) -> str:
    def select(name: str, options: Sequence[str], chosen: str | None) -> str:
        opts = "".join(
            f'<option value="{_e(o)}"{" selected" if o == chosen else ""}>{_e(o) or "all"}</option>'
            for o in ("", *options)
        )
        return f'<label>{name} <select name="{name}">{opts}</select></label>'

    night = (
        f'<input type=hidden name=night value="{_e(window.night.isoformat())}">'
        if window.night is not None and not filters.day_from
        else ""
    )
    checked = " checked" if filters.unreviewed else ""
    return (
        f'<form method=get action="/" class=filters>{night}'
        + select("camera", cameras, filters.camera)
        + select("rule", rules, filters.rule)
        + f'<label>from <input type=date name=from value="{_e(filters.day_from or "")}"></label>'
        + f'<label>to <input type=date name=to value="{_e(filters.day_to or "")}"></label>'
        + f"<label><input type=checkbox name=unreviewed value=1{checked}> unreviewed only</label>"
        + '<button type=submit>Show</button> <a href="/">last night</a></form>'
    )


def _health(health: HealthReport | None) -> str:
    """What watched the night: ``watched 22:00–07:00: pool camera offline 02:14–02:31``."""
    if health is None or not health.started:
        return ""
    css = "down" if health.watched is None else "problem" if health.all_issues() else "ok"
    # "Cameras watched 22:00–07:00: …", "Cameras not watched …: Guardian was not running"
    text = f"Cameras {health.headline()}" if health.cameras else "No camera is enabled."
    return f'<p class="health {css}" id=health role=status>{_e(text)}</p>'


def _pager(page: ReviewPage, query: Sequence[tuple[str, str]]) -> str:
    """Links to the previous and next pages (the other query values kept)."""
    if page.pages <= 1:
        return ""

    def link(number: int, css: str, label: str) -> str:
        href = "/?" + urlencode([*query, ("page", str(number))])
        return f'<a id={css} href="{_e(href)}">{_e(label)}</a>'

    prev = link(page.page - 1, "prev-page", "← previous page") if page.page > 1 else ""
    nxt = link(page.page + 1, "next-page", "next page →") if page.page < page.pages else ""
    return (
        f"<nav class=pages>{prev}<span id=page>page {page.page} of {page.pages}</span>{nxt}</nav>"
    )


def review_page(
    ctx: PageContext,
    *,
    window: Window,
    items: Sequence[ReviewItem],
    prompts: Sequence[Prompt],
    filters: Filters,
    cameras: Sequence[str],
    rules: Sequence[str],
    back: str,
    health: HealthReport | None = None,
    paging: ReviewPage | None = None,
    query: Sequence[tuple[str, str]] = (),
) -> str:
    """The night's events grouped by severity; with ``paging``, one page of them (each
    group's heading counts the whole window's events of that severity)."""
    counts: dict[Severity, int] = dict(paging.counts) if paging is not None else {}
    sections = []
    for severity, group in by_severity(list(items)):
        cards = "".join(_event_card(ctx, item, back) for item in group)
        sections.append(
            f'<section class="group {_e(severity.value)}" id="group-{_e(severity.value)}">'
            f"<h2>{_e(severity.value.capitalize())} ({counts.get(severity, len(group))})</h2>"
            f"{cards}</section>"
        )
    empty = "" if sections else "<p class=empty id=empty>No events in this window.</p>"
    total = paging.total if paging is not None else len(items)
    shown = ""
    pager = ""
    if paging is not None and paging.pages > 1:
        last = paging.first + len(items) - 1
        shown = f" · showing {paging.first}–{last}, page {paging.page} of {paging.pages}"
        pager = _pager(paging, query)
    body = (
        _header(ctx, back)
        + "<main>"
        + _prompts(ctx, prompts, back)
        + _nav(window, filters)
        + _health(health)
        + _filters(window, filters, cameras, rules)
        + f"<p class=count id=count>{total} event(s){shown} · times in {_e(ctx.timezone)}</p>"
        + pager
        + "".join(sections)
        + empty
        + pager
        + "</main>"
    )
    return layout(f"{ctx.site_name} — {window.label}", body)


def event_page(ctx: PageContext, item: ReviewItem, back: str) -> str:
    body = _header(ctx, back) + "<main>" + _event_card(ctx, item, back, detail=True)
    body += '<p><a href="/">← back to the night</a></p></main>'
    return layout(f"{ctx.site_name} — {item.entry.event.rule_alias}", body)


def share_page(site_name: str, item: ReviewItem, token: str, timezone: str, expires: float) -> str:
    event = item.entry.event
    media = "<p class=noclip>no clip for this event</p>"
    if item.clip is not None and item.clip.video is not None:
        poster = f' poster="/share/{token}/thumbnail"' if item.clip.thumbnail else ""
        media = (
            f'<video controls preload=metadata playsinline{poster} src="/share/{token}/clip">'
            "</video>"
        )
    body = (
        f"<main class=share><h1>{_e(site_name)}: {_e(event.rule_alias)}</h1>"
        f"<p class=meta>{_e(_when(event.started_at, timezone))} · {_e(event.camera)}</p>"
        f"<p class=msg>{_e(event.message)}</p>{media}"
        f"<p><small>This link works until {_e(_when(expires, timezone, '%H:%M'))} and only "
        "until someone acknowledges the alert.</small></p></main>"
    )
    return layout(f"{site_name} — {event.rule_alias}", body)
