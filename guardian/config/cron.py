"""Crontab lines (the standard 5 fields, weekday 0 = Sunday) as APScheduler triggers.

Used by the config models to validate ``cron:`` keys and by the schedulers to run them.
"""

from __future__ import annotations

import re

from apscheduler.triggers.cron import CronTrigger

_CRON_FIELDS = ("minute", "hour", "day", "month", "weekday")
_CRON_RANGES = {"minute": "0-59", "hour": "0-23", "day": "1-31", "month": "1-12"}
_CRON_HINT = "write 5 fields: minute hour day month weekday, e.g. '0 14 * * sat,sun'"
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # crontab order: 0 is Sunday


def _weekday_number(text: str, *, end: bool = False) -> int:
    """A crontab weekday (0-7 or a name) as 0 (Sunday) … 6; 7 stays 7 at a range's end."""
    word = text.strip().lower()
    if word.isdigit() and int(word) <= 7:
        day = int(word)
        return day if end else day % 7
    if word in _WEEKDAYS:
        return _WEEKDAYS.index(word)
    raise ValueError(
        f"'{text}' is not a weekday — use mon, tue, wed, thu, fri, sat, sun or 0-7 "
        "(0 and 7 are Sunday)"
    )


def crontab_weekdays(field: str) -> str:
    """A standard crontab weekday field, as APScheduler 3 reads it.

    In crontab 0 (and 7) is Sunday; APScheduler 3 counts 0 as Monday. Numbers and ranges
    are turned into day names (``"1-5"`` → ``"mon,tue,wed,thu,fri"``) so a schedule
    written for cron runs on the days it says.
    """
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        match = re.fullmatch(r"([^/-]+)(?:-([^/-]+))?(?:/(\d+))?", item)
        if match is None:
            raise ValueError(f"'{item}' is not a weekday, a range (mon-fri) or a list (sat,sun)")
        first, last, step_text = match.groups()
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"'{item}': the step after '/' must be 1 or more")
        if first == "*":
            if last is not None:
                raise ValueError(f"'{item}' is not a weekday range — write e.g. mon-fri")
            low, high = 0, 6
        else:
            low = _weekday_number(first)
            high = low if last is None and not step_text else 6
            if last is not None:
                high = _weekday_number(last, end=True)
        if low > high:
            raise ValueError(
                f"the range '{item}' goes backwards — write the days as a list, "
                f"e.g. '{','.join(_WEEKDAYS[d % 7] for d in [*range(low, 7), *range(0, high + 1)])}'"
            )
        days.update(day % 7 for day in range(low, high + 1, step))
    monday_first = sorted(days, key=lambda day: (day - 1) % 7)
    return ",".join(_WEEKDAYS[day] for day in monday_first)


def crontab_trigger(expr: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a standard 5-field crontab line, in ``timezone``.

    Raises ValueError naming the field that is wrong and how to write one.
    """
    fields = expr.split()
    if len(fields) != 5:
        extra = " (seconds and years are not supported)" if len(fields) in (6, 7) else ""
        raise ValueError(
            f"'{expr}' is not a crontab: it has {len(fields)} field(s){extra} — {_CRON_HINT}"
        )
    minute, hour, day, month, weekday = fields
    try:
        weekday = crontab_weekdays(weekday)
    except ValueError as exc:
        raise ValueError(f"'{expr}' is not a crontab: weekday {exc}") from None
    if day != "*" and weekday != "*":
        # cron fires when EITHER matches, APScheduler only when both do: refuse the ambiguity
        raise ValueError(
            f"'{expr}' sets both a day of the month ({day}) and a weekday ({fields[4]}) — "
            "crontabs differ on what that means; write two schedule entries, one with "
            "'*' as the day and one with '*' as the weekday"
        )
    values = {"minute": minute, "hour": hour, "day": day, "month": month}
    for name, value in values.items():
        try:
            CronTrigger(**{name: value})
        except ValueError as exc:
            text = str(exc)
            if "than the maximum" in text or "than the minimum" in text:
                detail = f"{name} {value} is out of range ({_CRON_RANGES[name]})"
            else:
                text = re.sub(r"^Error validating expression '[^']*': ", "", text)
                detail = f"{name} '{value}': {text[:1].lower()}{text[1:]}"
            raise ValueError(f"'{expr}' is not a crontab: {detail} — {_CRON_HINT}") from None
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=timezone
    )
