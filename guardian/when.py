"""Points in time and lengths of time as people write and read them: ``yesterday``,
``2026-11-22``; ``45 s``, ``1 h 30 min``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from guardian.config.durations import parse_duration

_AGO_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)\s*(ago)?\s*$")


def parse_when(text: str, timezone: str, now: float) -> float:
    """A user's point in time → epoch seconds (ValueError saying what to write).

    ``now``, ``today`` (00:00), ``yesterday`` (00:00 the day before), a date
    (``2026-11-22``: its 00:00), a date and time (``2026-11-22 18:00``), or a duration
    back from now (``12h``, ``2d``), all in ``timezone`` (the site's).
    """
    zone = ZoneInfo(timezone)
    word = text.strip().lower()
    if word == "now":
        return now
    if word in ("today", "yesterday"):
        today = datetime.fromtimestamp(now, zone).date()
        day = today - timedelta(days=1 if word == "yesterday" else 0)
        return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
    match = _AGO_RE.match(word)
    if match:
        return now - float(parse_duration(match.group(1) + match.group(2)))
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"'{text}' is not a time — write today, yesterday, a date (2026-11-22), a date "
            "and time (2026-11-22 18:00) or how long ago (12h, 2d)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.timestamp()


def format_duration(seconds: float) -> str:
    """``45 s``, ``2 min``, ``1 min 30 s``, ``1 h``, ``2 h 5 min`` (whole seconds)."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {secs} s" if secs else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")
