"""One registry per part of a rule (trigger, condition, action).

A kind is registered once with its config model (a pydantic model whose ``kind`` field
is a ``Literal`` of the kind's name) and a factory that builds its runtime object from
a validated config. Registering a name twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from guardian.rules.base import Action, Condition, Trigger

R = TypeVar("R")


class RegistryError(ValueError):
    """A kind was registered twice or looked up but never registered."""


@dataclass(frozen=True, slots=True)
class KindSpec(Generic[R]):
    name: str
    config: type[BaseModel]
    factory: Callable[[Any], R]
    summary: str


class Registry(Generic[R]):
    """Kinds of one part of a rule, by name."""

    def __init__(self, part: str) -> None:
        self.part = part
        self._kinds: dict[str, KindSpec[R]] = {}

    def register(
        self, name: str, config: type[BaseModel], factory: Callable[[Any], R], summary: str
    ) -> None:
        if name in self._kinds:
            raise RegistryError(f"{self.part} kind '{name}' is registered twice")
        field = config.model_fields.get("kind")
        if field is None or getattr(field.annotation, "__args__", ()) != (name,):
            raise RegistryError(
                f"{self.part} kind '{name}': its config needs kind: Literal['{name}']"
            )
        self._kinds[name] = KindSpec(name, config, factory, summary)

    def get(self, name: str) -> KindSpec[R]:
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise RegistryError(f"unknown {self.part} kind '{name}' (known: {known})") from None

    def build(self, config: Any) -> R:
        """The runtime object for a validated config of a registered kind."""
        return self.get(str(config.kind)).factory(config)

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[KindSpec[R]]:
        return iter(self._kinds.values())

    def __len__(self) -> int:
        return len(self._kinds)


#: every trigger, condition and action kind, by name (filled by guardian.rules.kinds)
TRIGGERS: Registry[Trigger] = Registry("trigger")
CONDITIONS: Registry[Condition] = Registry("condition")
ACTIONS: Registry[Action] = Registry("action")
