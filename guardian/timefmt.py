"""Time as people write and read it, always in the site's time zone: one module.

Parsing: points in time (``yesterday``, ``2026-11-22``, ``12h`` ago: :func:`parse_when`),
end times (``18:00``: :func:`parse_until`), lengths (``1h30``: :func:`parse_for`).
Formatting: :func:`clock` (``18:04:05``), :func:`hour_minute` (``18:04``), :func:`minute`
(``2026-11-22 18:04``), :func:`stamp` (``2026-11-22 18:04:05``), :func:`day`
(``2026-11-22``), :func:`nearby` (the clock today, the full stamp another day),
:func:`format_duration` (``1 h 30 min``). Every function takes the site's IANA zone name.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from zoneinfo import ZoneInfo

from guardian.config.durations import parse_duration

_HHMM_RE = re.compile(r"^\s*([01]?\d|2[0-3])\s*(?::|h)\s*([0-5]\d)?\s*$", re.IGNORECASE)
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


_SPAN_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|min|m|s)?\s*", re.IGNORECASE)
_SPAN_UNITS = {"d": 86400.0, "h": 3600.0, "min": 60.0, "m": 60.0, "s": 1.0, "": 60.0}


def parse_for(text: str) -> float:
    """How long a supervised mode lasts, as a user writes it → seconds.

    A bare number is minutes (``90``: 90 min); with units: ``90m``, ``2h``, ``1h30m``,
    ``1h30`` (the number after hours is minutes), ``1.5h``, ``45s``. Anything else raises
    ValueError saying what to write.
    """
    spans = list(_SPAN_RE.finditer(text.strip()))
    joined = "".join(m.group(0) for m in spans).strip()
    units = [(m.group(2) or "").lower() for m in spans]
    if not spans or joined != text.strip() or "" in units[:-1] or len(set(units)) < len(units):
        raise ValueError(
            f"'{text}' is not a duration — write minutes (90) or with a unit: 90m, 1h30m, 2h"
        )
    return sum(float(m.group(1)) * _SPAN_UNITS[u] for m, u in zip(spans, units, strict=True))


def parse_until(text: str, timezone: str, now: float) -> float:
    """An end time as a user writes it → epoch seconds.

    ``"18:00"`` (also ``"8:30"``, ``"18h"``, ``"18h30"``) is the next 18:00 in
    ``timezone``: today, or tomorrow when it has passed. An ISO date and time
    (``"2025-07-14 18:00"``, ``"2025-07-14T18:00+02:00"``) is taken as is, in ``timezone``
    when it has no offset. Anything else raises ValueError saying what to write.
    """
    zone = ZoneInfo(timezone)
    match = _HHMM_RE.match(text)
    if match:
        wanted = time_of_day(int(match.group(1)), int(match.group(2) or 0))
        today = datetime.fromtimestamp(now, zone).date()
        for day in (today, today + timedelta(days=1)):
            candidate = datetime.combine(day, wanted, tzinfo=zone).timestamp()
            if candidate > now:
                return candidate
        raise AssertionError("unreachable: a time of day comes again within a day")
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"'{text}' is not a time — write HH:MM (e.g. 18:00: the next 18:00 in {timezone}) "
            "or a date and time (e.g. 2025-07-14 18:00)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone)
    return when.timestamp()


def local_time(timestamp: float, timezone: str) -> datetime:
    """Epoch seconds as an aware datetime in ``timezone``."""
    return datetime.fromtimestamp(timestamp, ZoneInfo(timezone))


def next_time_of_day(text: str, timezone: str, now: float) -> float:
    """Like :func:`parse_until` but only ``HH:MM`` (schedules repeat: no dates)."""
    if not _HHMM_RE.match(text):
        raise ValueError(f"'{text}' is not a time of day — write HH:MM, e.g. 18:00")
    return parse_until(text, timezone, now)


def clock(timestamp: float, timezone: str) -> str:
    """``18:04:05``."""
    return local_time(timestamp, timezone).strftime("%H:%M:%S")


def hour_minute(timestamp: float, timezone: str) -> str:
    """``18:04``."""
    return local_time(timestamp, timezone).strftime("%H:%M")


def minute(timestamp: float, timezone: str) -> str:
    """``2026-11-22 18:04``."""
    return local_time(timestamp, timezone).strftime("%Y-%m-%d %H:%M")


def stamp(timestamp: float, timezone: str) -> str:
    """``2026-11-22 18:04:05``."""
    return local_time(timestamp, timezone).strftime("%Y-%m-%d %H:%M:%S")


def day(timestamp: float, timezone: str) -> str:
    """``2026-11-22``: the site's calendar day of ``timestamp``."""
    return local_time(timestamp, timezone).date().isoformat()


def local_date(timestamp: float, timezone: str) -> date:
    """The site's calendar day of ``timestamp``."""
    return local_time(timestamp, timezone).date()


def at(when: date, hour: int, minute: int, timezone: str) -> float:
    """``hour``:``minute`` of ``when`` in ``timezone``, as epoch seconds."""
    moment = datetime.combine(when, time_of_day(hour, minute), tzinfo=ZoneInfo(timezone))
    return moment.timestamp()


def day_start(when: date, timezone: str) -> float:
    """00:00 of ``when`` in ``timezone``, as epoch seconds."""
    return datetime(when.year, when.month, when.day, tzinfo=ZoneInfo(timezone)).timestamp()


def nearby(timestamp: float, timezone: str, now: float) -> str:
    """The clock (``18:04:05``) on the day of ``now``, the full stamp on another day."""
    if local_date(timestamp, timezone) == local_date(now, timezone):
        return clock(timestamp, timezone)
    return stamp(timestamp, timezone)


def day_month_minute(timestamp: float, timezone: str) -> str:
    """``22 Nov 18:04``."""
    return local_time(timestamp, timezone).strftime("%d %b %H:%M")


def weekday_minute(timestamp: float, timezone: str) -> str:
    """``Sun 22 Nov 18:04``."""
    return local_time(timestamp, timezone).strftime("%a %d %b %H:%M")


def weekday_date_minute(timestamp: float, timezone: str) -> str:
    """``Sun 2026-11-22 18:04``."""
    return local_time(timestamp, timezone).strftime("%a %Y-%m-%d %H:%M")
