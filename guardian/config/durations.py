"""Durations as users write them: ``15``, ``"15s"``, ``"2m"``, ``"1.5h"`` → seconds.

Every duration is finite and bounded (``.inf``, ``1e300`` or ``99999999999999999999d``
would make a timer that never fires):

* :data:`Duration` — at most :data:`MAX_DURATION` (7 days): settings, cooldowns;
* :data:`LongDuration` — at most :data:`MAX_LONG_DURATION` (366 days): how long things are
  kept (clip retention, login sessions);
* :data:`TimerDuration` — at most :data:`MAX_TIMER` (24 h): rule timers (``absent``
  ``timeout``, ``for:`` of dwell, occupancy, posture, …, escalation steps);
* a supervised mode lasts at most :data:`MAX_SUPERVISED` (24 h), wherever it is set
  (``modes:``, a ``set_mode`` / ``prompt`` action, ``guardian mode --for``, the mode
  manager): :func:`supervised_too_long` words the one message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d)?\s*$")
_UNITS = {
    None: 1.0,
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}

#: the longest generic duration (a setting, a cooldown): 7 days
MAX_DURATION = 7 * 86400.0
#: the longest "how long is it kept" duration (retention, login sessions): 366 days
MAX_LONG_DURATION = 366 * 86400.0
#: the longest rule timer (absent timeout, for: of dwell / occupancy / posture ...): 24 h
MAX_TIMER = 86400.0
#: the longest a supervised mode may last (it pauses entry alerts, so it ends by itself)
MAX_SUPERVISED = 86400.0
#: what every refusal of a too-long supervised mode says (config, CLI, mode manager)
SUPERVISED_LIMIT = (
    "a supervised mode lasts at most 24 h (it pauses entry alerts; submersion alerts stay on)"
)


def human(seconds: float) -> str:
    """``90`` → ``1.5m``, ``172800`` → ``2d``: a duration written back as a user would."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.4g}{unit}"
    return f"{seconds:.4g}s"


def _seconds(value: Any) -> Any:
    """The value in seconds (a float), or the value itself for pydantic to refuse."""
    if isinstance(value, bool):
        raise ValueError(f"'{str(value).lower()}' is not a duration — write e.g. 15, '15s' or '2m'")
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a duration — write e.g. 15, '15s', '2m' or '1h'")
        return float(match.group(1)) * _UNITS[match.group(2)]
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"'{value}' is not a usable duration — write e.g. '15s'") from None
    return value


def _bounded(limit: float, what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        seconds = _seconds(value)
        if isinstance(seconds, float):
            shown = value if isinstance(value, str) else f"{value:g}"
            if not math.isfinite(seconds):
                raise ValueError(
                    f"'{shown}' is not a finite duration — write e.g. 15, '15s', '2m' or '1h'"
                )
            if seconds > limit:
                raise ValueError(
                    f"'{shown}' is too long — {what} is at most {human(limit)} "
                    f"({limit:g} s); write e.g. '15s', '2m' or '1h'"
                )
        return seconds

    return check


def parse_duration(value: Any) -> Any:
    """``15``, ``"15s"``, ``"2m"``, ``"1.5h"`` → seconds, finite and at most
    :data:`MAX_DURATION`; anything else is left to pydantic."""
    return _bounded(MAX_DURATION, "a duration")(value)


def supervised_too_long(key: str, seconds: float) -> str:
    """The one message for a supervised mode longer than :data:`MAX_SUPERVISED`."""
    return f"'{key}' is {seconds / 3600:.4g}h — {SUPERVISED_LIMIT}; write e.g. '2h'"


def check_supervised(value: float, key: str) -> float:
    """``value`` seconds as the length of a supervised mode: more than 0, at most 24 h."""
    if value <= 0:
        raise ValueError(f"'{key}' must be more than 0 — e.g. '2h'")
    if value > MAX_SUPERVISED:
        raise ValueError(supervised_too_long(key, value))
    return value


#: seconds, written as a number or with a unit (ms, s, m, h, d); finite, at most 7 days
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0, allow_inf_nan=False)]
#: like :data:`Duration`, at most 366 days (how long clips or logins are kept)
LongDuration = Annotated[
    float,
    BeforeValidator(_bounded(MAX_LONG_DURATION, "a duration here")),
    Field(ge=0, allow_inf_nan=False),
]
#: like :data:`Duration`, at most 24 h (a rule timer: it must fire one day)
TimerDuration = Annotated[
    float,
    BeforeValidator(_bounded(MAX_TIMER, "a rule timer")),
    Field(ge=0, allow_inf_nan=False),
]
#: the length of a supervised mode: finite here, then :func:`check_supervised` (at most 24 h,
#: with the one message) in the model's validator
SupervisedDuration = Annotated[
    float,
    BeforeValidator(_bounded(math.inf, "a supervised mode")),
    Field(ge=0, allow_inf_nan=False),
]
