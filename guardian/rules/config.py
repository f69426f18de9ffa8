"""Rule configuration: the pydantic models users write in ``rules/*.yaml``.

Trigger, condition and action entries are discriminated unions on ``kind``, built from
the registries, so a new kind needs only registering. :class:`RuleConfig` types them by
their base (:class:`TriggerConfig` ...); :func:`rule_model` is the model to validate
with: the same fields, its entries narrowed to the registered kinds.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from guardian.config.durations import Duration
from guardian.rules.base import CooldownPer
from guardian.rules.fields import ActionConfig, ConditionConfig, TriggerConfig
from guardian.rules.kinds import ACTIONS, CONDITIONS, TRIGGERS, NameList
from guardian.rules.registry import Registry
from guardian.vocab import Mode, Severity


def _union(registry: Registry[Any]) -> Any:
    members = registry.configs()
    if len(members) == 1:
        # a one-member "union" still needs the tag checked, so add a sentinel-free wrapper
        return Annotated[Union[members[0], members[0]], Field(discriminator="kind")]  # noqa: UP007
    return Annotated[Union[members], Field(discriminator="kind")]  # noqa: UP007


class RuleConfig(BaseModel):
    """One rule as written; validate with :func:`rule_model` (its entries by kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]*$", description="unique rule id: a-z, 0-9, _ and -"
    )
    alias: str | None = Field(None, description="short human name used in alerts; default: the id")
    description: str = Field("", description="what the rule is for")
    severity: Severity = Field(Severity.WARNING, description="critical, warning or info")
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
    cooldown_per: CooldownPer = Field(
        "person",
        description="what one cooldown covers: person (camera, zone and person), zone "
        "(camera and zone), or rule (the whole rule)",
    )
    triggers: list[TriggerConfig] = Field(
        min_length=1, description="what starts the rule (edges); at least one"
    )
    conditions: list[ConditionConfig] = Field(
        default_factory=list, description="what must also hold when a trigger fires"
    )
    actions: list[ActionConfig] = Field(
        default_factory=list, description="what to do when the rule fires"
    )


@cache
def rule_model() -> type[RuleConfig]:
    """The rule model for the kinds registered now: :class:`RuleConfig` with each entry
    a discriminated union (on ``kind``) of the registered kinds' configs."""
    fields: dict[str, Any] = {
        name: (list[_union(registry)], RuleConfig.model_fields[name])  # type: ignore[misc]
        for name, registry in (
            ("triggers", TRIGGERS),
            ("conditions", CONDITIONS),
            ("actions", ACTIONS),
        )
    }
    return create_model("RuleConfig", __base__=RuleConfig, **fields)


class RuleFileConfig(BaseModel):
    """A rules file: a list of rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    rules: list[dict[str, Any]] = Field(default_factory=list, description="the rules in this file")
