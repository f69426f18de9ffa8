"""Runs rules over observations: triggers → conditions → cooldown → event.

A rule that raises while running is disabled and named in the log; the others keep
running.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from guardian.records import Event, Observation, Severity
from guardian.rules.base import Action, Hit, RuleContext, RuleRuntime

log = logging.getLogger("guardian.rules")


def new_event_id(timestamp: float) -> str:
    """Sortable and unique: UTC time of the event plus random hex."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(timestamp)) + "-" + secrets.token_hex(4)


@dataclass(frozen=True, slots=True)
class Firing:
    """A rule fired: the event to record and the actions to run for it."""

    event: Event
    actions: tuple[Action, ...]


class RuleEngine:
    """Evaluates every enabled rule on each observation."""

    def __init__(self, rules: Sequence[RuleRuntime], context: RuleContext | None = None) -> None:
        self.rules = list(rules)
        self.context = context or RuleContext()

    @property
    def active(self) -> list[RuleRuntime]:
        return [r for r in self.rules if r.enabled]

    def process(self, observation: Observation) -> list[Firing]:
        firings: list[Firing] = []
        for rule in self.rules:
            if not rule.enabled or self.context.mode not in rule.modes:
                continue
            if rule.cameras and observation.camera not in rule.cameras:
                continue
            try:
                firings.extend(self._evaluate(rule, observation))
            except Exception as exc:
                rule.enabled = False
                rule.disabled_reason = f"{type(exc).__name__}: {exc}"
                log.error(
                    "rule '%s' (%s) raised and is disabled; other rules keep running: %s",
                    rule.rule_id,
                    rule.source,
                    rule.disabled_reason,
                    exc_info=True,
                )
        return firings

    def _evaluate(self, rule: RuleRuntime, observation: Observation) -> list[Firing]:
        out = []
        for trigger in rule.triggers:
            for hit in trigger.fire(observation):
                if rule.zones_scope and hit.zone not in rule.zones_scope:
                    continue
                if not all(c.holds(hit, self.context) for c in rule.conditions):
                    continue
                key = (hit.camera, hit.zone, hit.track_id)
                last = rule.last_fired.get(key)
                if last is not None and hit.timestamp - last < rule.cooldown:
                    continue
                rule.last_fired[key] = hit.timestamp
                out.append(Firing(self._event(rule, hit), tuple(rule.actions)))
        return out

    @staticmethod
    def _event(rule: RuleRuntime, hit: Hit) -> Event:
        where = hit.camera + (f"/{hit.zone}" if hit.zone else "")
        who = hit.person_id or (f"track {hit.track_id}" if hit.track_id is not None else "")
        message = f"{rule.alias}: {who + ' ' if who else ''}{hit.detail} ({where})"
        return Event(
            event_id=new_event_id(hit.timestamp),
            rule_id=rule.rule_id,
            rule_alias=rule.alias,
            camera=hit.camera,
            zone=hit.zone,
            track_id=hit.track_id,
            person_id=hit.person_id,
            severity=Severity(rule.severity),
            started_at=hit.timestamp,
            ended_at=None,
            message=message,
            frame_index=hit.frame_index,
        )
