"""`--since` / `--until` values as people write them, in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from guardian.timefmt import parse_when

TZ = "Europe/Paris"
NOW = datetime(2026, 11, 23, 7, 30, tzinfo=ZoneInfo(TZ)).timestamp()


def _paris(*args: int) -> float:
    return datetime(*args, tzinfo=ZoneInfo(TZ)).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("today", _paris(2026, 11, 23)),
        ("Yesterday", _paris(2026, 11, 22)),
        ("2026-11-20", _paris(2026, 11, 20)),
        ("2026-11-22 18:00", _paris(2026, 11, 22, 18, 0)),
        ("2026-11-22T18:00+00:00", _paris(2026, 11, 22, 19, 0)),
        ("12h", NOW - 12 * 3600),
        ("2d ago", NOW - 2 * 86400),
        ("90 min", NOW - 90 * 60),
    ],
)
def test_points_in_time(text: str, expected: float) -> None:
    assert parse_when(text, TZ, NOW) == pytest.approx(expected)


def test_yesterday_across_the_dst_change() -> None:
    now = datetime(2026, 3, 29, 12, 0, tzinfo=ZoneInfo(TZ)).timestamp()  # clocks went forward
    assert now - parse_when("yesterday", TZ, now) == pytest.approx((24 + 12 - 1) * 3600)


def test_a_bad_value_says_what_to_write() -> None:
    with pytest.raises(ValueError, match="yesterday, a date"):
        parse_when("last tuesday", TZ, NOW)
