"""Durations as users write them: ``15``, ``"15s"``, ``"2m"``, ``"1.5h"`` → seconds."""

from __future__ import annotations

import re
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


def parse_duration(value: Any) -> Any:
    """``15``, ``"15s"``, ``"2m"``, ``"1.5h"`` → seconds; anything else is left to pydantic."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"'{value}' is not a duration — write e.g. 15, '15s', '2m' or '1h'")
        return float(match.group(1)) * _UNITS[match.group(2)]
    return value


#: seconds, written as a number or with a unit (ms, s, m, h, d)
Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
