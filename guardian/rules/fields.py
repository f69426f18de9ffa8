"""Field types shared by the rule kinds' config models."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from guardian.config.durations import Duration, LongDuration, TimerDuration

__all__ = [
    "ActionConfig",
    "ConditionConfig",
    "Count",
    "CountTest",
    "Duration",
    "KindConfig",
    "LongDuration",
    "NameList",
    "TimerDuration",
    "TriggerConfig",
    "parse_count",
]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


#: one name or a list of names
NameList = Annotated[list[str], BeforeValidator(_as_list)]


class KindConfig(BaseModel):
    """Base of every trigger, condition and action config: strict and frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TriggerConfig(KindConfig):
    """Base of every trigger kind's config (``triggers:`` entries)."""


class ConditionConfig(KindConfig):
    """Base of every condition kind's config (``conditions:`` entries)."""


class ActionConfig(KindConfig):
    """Base of every action kind's config (``actions:`` entries)."""


_OPS: dict[str, Callable[[int, int], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_COUNT = re.compile(r"^\s*(>=|<=|==|=|!=|>|<)?\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class CountTest:
    """A test on a head count, written ``0``, ``">= 1"``, ``"< 2"``."""

    op: str
    value: int

    def __call__(self, count: int) -> bool:
        return _OPS[self.op](count, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value}" if self.op != "==" else str(self.value)


def parse_count(value: Any) -> Any:
    if isinstance(value, CountTest):
        return value
    if isinstance(value, bool):
        raise ValueError("a count is a number or a comparison like '>= 1'")
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        match = _COUNT.match(value)
        if not match:
            raise ValueError(
                f"'{value}' is not a count test — write a number (0, 2) or a comparison "
                "('>= 1', '< 2', '!= 0')"
            )
        op = match.group(1) or "=="
        return CountTest("==" if op == "=" else op, int(match.group(2)))
    raise ValueError("a count is a number or a comparison like '>= 1'")


#: a head-count test: ``0``, ``">= 1"``, ``"< 2"``
Count = Annotated[CountTest, BeforeValidator(parse_count)]
