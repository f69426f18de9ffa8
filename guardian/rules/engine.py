"""Runs rules over observations: triggers → mode → conditions → cooldown → event.

Triggers always see every observation of their cameras (so their timers stay right
whatever the mode); a hit counts only when the site is in one of the rule's modes. A
rule that raises while running is disabled and named in the log; the others keep
running. Durable state (timers, cooldowns) is drained after each step with
``drain_state`` and written by the caller in the same transaction as the events.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from guardian.effects import Effects, StateChange
from guardian.records import Event, Observation, Severity
from guardian.rules.base import (
    Action,
    Hit,
    Journal,
    Memory,
    RuleContext,
    RuleRuntime,
    Stateful,
    Timed,
    View,
)

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
    """Evaluates every enabled rule on each observation, and timers on ``tick``."""

    def __init__(
        self,
        rules: Sequence[RuleRuntime],
        context: RuleContext | None = None,
        *,
        state: Mapping[str, Mapping[str, object]] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.rules = list(rules)
        self.context = context or RuleContext()
        #: this run's id: per-track state of another run belongs to tracks that are gone
        self.run_id = run_id or secrets.token_hex(4)
        self._views: dict[str, View] = {}
        self._journal: Journal = {}
        self._by_camera: dict[str, list[RuleRuntime]] = {}
        state = state or {}
        for rule in self.rules:
            rule.memory = Memory(rule.rule_id, state.get(rule.rule_id, {}), journal=self._journal)
            for i, trigger in enumerate(rule.triggers):
                if isinstance(trigger, Stateful):
                    trigger.bind(rule.memory.scoped(f"t{i}:"), self.run_id)

    @property
    def active(self) -> list[RuleRuntime]:
        return [r for r in self.rules if r.enabled]

    def set_mode(self, mode: str) -> None:
        if mode != self.context.mode:
            self.context = dataclasses.replace(self.context, mode=mode)

    def scene_zones(self) -> set[str]:
        """Zones some enabled rule watches for background changes (new objects)."""
        zones: set[str] = set()
        for rule in self.active:
            for trigger in rule.triggers:
                zones |= set(getattr(trigger, "scene_zones", ()))
        return zones

    def process(self, observation: Observation) -> list[Firing]:
        view = View(observation)
        self._views[observation.camera] = view
        firings: list[Firing] = []
        for rule in self._rules_for(observation.camera):
            if not rule.enabled:
                continue
            try:
                triggers = rule.triggers
                if len(triggers) == 1:
                    hits = triggers[0].fire(view)
                else:
                    hits = [h for t in triggers for h in t.fire(view)]
                if hits:
                    firings.extend(self._decide(rule, hits))
            except Exception as exc:
                self._disable(rule, exc)
        return firings

    def _rules_for(self, camera: str) -> list[RuleRuntime]:
        rules = self._by_camera.get(camera)
        if rules is None:
            rules = self._by_camera[camera] = [
                r for r in self.rules if not r.cameras or camera in r.cameras
            ]
        return rules

    def tick(self, now: float, cameras: Iterable[str] | None = None) -> list[Firing]:
        """Timers whose deadline passed by ``now`` (wall clock) on these cameras.

        For live cameras only: a video file's clock is the video, and its observations
        fire its timers. A camera that stopped sending frames still has its timers fire.
        """
        wanted = None if cameras is None else list(cameras)
        firings: list[Firing] = []
        for rule in self.rules:
            if not rule.enabled:
                continue
            try:
                hits = [
                    h for t in rule.triggers if isinstance(t, Timed) for h in t.due(now, wanted)
                ]
                firings.extend(self._decide(rule, hits))
            except Exception as exc:
                self._disable(rule, exc)
        return firings

    def drain_state(self) -> list[StateChange]:
        """Durable state changed since the last drain (write it with the events)."""
        if not self._journal:
            return []
        changes = [StateChange(rule, key, value) for (rule, key), value in self._journal.items()]
        self._journal.clear()
        return changes

    def run_actions(self, firings: Iterable[Firing], effects: Effects) -> None:
        """Let each firing's actions put their requests into ``effects``."""
        for firing in firings:
            for action in firing.actions:
                try:
                    action.run(firing.event, effects, self.context)
                except Exception:
                    log.exception("an action of rule '%s' failed", firing.event.rule_id)

    def _disable(self, rule: RuleRuntime, exc: Exception) -> None:
        rule.enabled = False
        rule.disabled_reason = f"{type(exc).__name__}: {exc}"
        log.error(
            "rule '%s' (%s) raised and is disabled; other rules keep running: %s",
            rule.rule_id,
            rule.source,
            rule.disabled_reason,
            exc_info=True,
        )

    def _decide(self, rule: RuleRuntime, hits: list[Hit]) -> list[Firing]:
        if not hits or self.context.mode not in rule.modes:
            return []
        out = []
        for hit in hits:
            if rule.zones_scope and hit.zone not in rule.zones_scope:
                continue
            view = self._views.get(hit.camera)
            if not all(c.holds(hit, view, self.context) for c in rule.conditions):
                continue
            if not self._cool(rule, hit):
                continue
            out.append(Firing(self._event(rule, hit), tuple(rule.actions)))
        return out

    @staticmethod
    def _cool(rule: RuleRuntime, hit: Hit) -> bool:
        """True when the rule may fire for this hit (and start its cooldown)."""
        if rule.cooldown <= 0:
            return True
        if rule.cooldown_per == "rule":
            subject = "*"
        elif rule.cooldown_per == "zone":
            subject = f"{hit.camera}|{hit.zone}"
        else:
            who = hit.person_id or (str(hit.track_id) if hit.track_id is not None else "-")
            subject = f"{hit.camera}|{hit.zone}|{who}"
        memory = rule.memory.scoped("cooldown:")
        last = memory.get(subject)
        if isinstance(last, int | float) and 0 <= hit.timestamp - last < rule.cooldown:
            return False
        for key, value in memory.items():  # forget cooldowns that are over
            if isinstance(value, int | float) and hit.timestamp - value >= rule.cooldown:
                memory.drop(key)
        memory.put(subject, hit.timestamp)
        return True

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
