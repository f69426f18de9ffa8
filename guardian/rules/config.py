"""Rule configuration: the pydantic models users write in ``rules/*.yaml``.

Trigger, condition and action entries are discriminated unions on ``kind``, built from
the registries, so a new kind needs only registering.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from guardian.config.durations import Duration
from guardian.rules.kinds import ACTIONS, CONDITIONS, TRIGGERS, NameList
from guardian.rules.registry import Registry

Mode = Literal["unsupervised", "supervised"]
SeverityName = Literal["critical", "warning", "info"]


def _union(registry: Registry[Any]) -> Any:
    members = tuple(spec.config for spec in registry)
    if len(members) == 1:
        # a one-member "union" still needs the tag checked, so add a sentinel-free wrapper
        return Annotated[Union[members[0], members[0]], Field(discriminator="kind")]  # noqa: UP007
    return Annotated[Union[members], Field(discriminator="kind")]  # noqa: UP007


class _RuleBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$", description="unique rule id: a-z, 0-9, _ and -"
    )
    alias: str | None = Field(None, description="short human name used in alerts; default: the id")
    description: str = Field("", description="what the rule is for")
    severity: SeverityName = Field("warning", description="critical, warning or info")
    enabled: bool = Field(True, description="false keeps the rule in the file but never runs it")
    cameras: NameList = Field(
        default_factory=list, description="cameras the rule watches; empty: every camera"
    )
    zones: NameList = Field(
        default_factory=list, description="zones the rule is limited to; empty: no limit"
    )
    modes: list[Mode] | None = Field(
        None,
        min_length=1,
        description="site modes in which the rule is active; default: both, except rules "
        "whose triggers are all zone_enter/zone_leave (entry and exit alerts), which are "
        "suppressed in supervised mode unless this says otherwise",
    )
    cooldown: Duration = Field(
        0.0,
        description="after firing, stay quiet this long (e.g. '30s') for the same cooldown_per",
    )
    cooldown_per: Literal["person", "zone", "rule"] = Field(
        "person",
        description="what one cooldown covers: person (camera, zone and person), zone "
        "(camera and zone), or rule (the whole rule)",
    )


@cache
def rule_model() -> type[BaseModel]:
    """The rule model for the kinds registered now."""
    fields: dict[str, Any] = {
        "triggers": (
            list[_union(TRIGGERS)],  # type: ignore[misc]
            Field(min_length=1, description="what starts the rule (edges); at least one"),
        ),
        "conditions": (
            list[_union(CONDITIONS)],  # type: ignore[misc]
            Field(default_factory=list, description="what must also hold when a trigger fires"),
        ),
        "actions": (
            list[_union(ACTIONS)],  # type: ignore[misc]
            Field(default_factory=list, description="what to do when the rule fires"),
        ),
    }
    model: type[BaseModel] = create_model("RuleConfig", __base__=_RuleBase, **fields)
    return model


class RuleFileConfig(BaseModel):
    """A rules file: a list of rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    rules: list[dict[str, Any]] = Field(default_factory=list, description="the rules in this file")
