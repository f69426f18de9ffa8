"""One registry per part of a rule (trigger, condition, action).

A kind is registered once with its config model (a pydantic model whose ``kind`` field
is a ``Literal`` of the kind's name) and a builder that makes its runtime object from a
validated config of that model: ``Kind[C, R]`` with ``build: C -> R``. Registering a
name twice is an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from guardian.rules.base import Action, Condition, Trigger

C = TypeVar("C", bound=BaseModel)
R = TypeVar("R")


class RegistryError(ValueError):
    """A kind was registered twice or looked up but never registered."""


@dataclass(frozen=True, slots=True)
class Kind(Generic[C, R]):
    """One kind: its name, its config model, and the builder of its runtime object."""

    name: str
    config: type[C]
    build: Callable[[C], R]
    summary: str

    def make(self, config: BaseModel) -> R:
        """The runtime object for ``config``, which must be this kind's config model."""
        if not isinstance(config, self.config):
            raise RegistryError(
                f"kind '{self.name}' is built from {self.config.__name__}, "
                f"not {type(config).__name__}"
            )
        return self.build(config)


class Registry(Generic[R]):
    """Kinds of one part of a rule, by name and by config model."""

    def __init__(self, part: str) -> None:
        self.part = part
        self._kinds: dict[str, Kind[Any, R]] = {}
        self._by_config: dict[type[BaseModel], Kind[Any, R]] = {}

    def register(self, name: str, config: type[C], build: Callable[[C], R], summary: str) -> None:
        """Add kind ``name``: ``build`` makes its runtime object from a ``config``."""
        if name in self._kinds:
            raise RegistryError(f"{self.part} kind '{name}' is registered twice")
        field = config.model_fields.get("kind")
        if field is None or getattr(field.annotation, "__args__", ()) != (name,):
            raise RegistryError(
                f"{self.part} kind '{name}': its config needs kind: Literal['{name}']"
            )
        # one model per kind: its kind Literal names it, and a name is registered once
        kind: Kind[C, R] = Kind(name, config, build, summary)
        self._kinds[name] = kind
        self._by_config[config] = kind

    def get(self, name: str) -> Kind[Any, R]:
        try:
            return self._kinds[name]
        except KeyError:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise RegistryError(f"unknown {self.part} kind '{name}' (known: {known})") from None

    def of(self, config: BaseModel) -> Kind[Any, R]:
        """The kind whose config model ``config`` is."""
        kind = self._by_config.get(type(config))
        if kind is None:
            known = ", ".join(sorted(self._kinds)) or "none"
            raise RegistryError(
                f"{type(config).__name__} is not the config of any {self.part} kind "
                f"(known: {known})"
            )
        return kind

    def build(self, config: BaseModel) -> R:
        """The runtime object for a validated config of a registered kind."""
        return self.of(config).make(config)

    def configs(self) -> tuple[type[BaseModel], ...]:
        """Every kind's config model, in the order they were registered."""
        return tuple(kind.config for kind in self._kinds.values())

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[Kind[Any, R]]:
        return iter(self._kinds.values())

    def __len__(self) -> int:
        return len(self._kinds)


#: every trigger, condition and action kind, by name (filled by guardian.rules.kinds)
TRIGGERS: Registry[Trigger] = Registry("trigger")
CONDITIONS: Registry[Condition] = Registry("condition")
ACTIONS: Registry[Action] = Registry("action")
