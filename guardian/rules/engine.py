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
from guardian.records import Event, HealthChange, Observation, Severity
from guardian.rules.base import (
    Action,
    AdultGated,
    Hit,
    Journal,
    Memory,
    MissingPeople,
    Pending,
    RuleContext,
    RuleRuntime,
    Stateful,
    Streamed,
    SwitchesMode,
    Timed,
    View,
    WatchesScene,
)
from guardian.rules.health import HealthTrigger
from guardian.timefmt import clock
from guardian.vocab import Mode, Role

log = logging.getLogger("guardian.rules")


def new_event_id(timestamp: float) -> str:
    """Sortable and unique: UTC time of the event plus random hex.

    UTC on purpose: ids sort the same whatever the site's zone (and across DST changes).
    """
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime(timestamp)) + "-" + secrets.token_hex(4)


def who(hit: Hit) -> str:
    """The person a hit is about, as people say it: the enrolled name, "a child", "an
    adult" or "someone" (never a track number: those are for logs)."""
    if hit.enrolled_id:
        return hit.enrolled_id
    return {Role.CHILD: "a child", Role.ADULT: "an adult"}.get(hit.role, "someone")


def event_message(hit: Hit, timezone: str) -> str:
    """The event's message: the hit's detail with ``{who}`` and ``{clock}`` filled (the
    time in the site's time zone), then where — "A child entered water (pool/water)".

    The rule's alias is not in it: alerts, pages and lines put it in front once.
    """
    text = hit.detail.replace("{who}", who(hit))
    if hit.clock is not None:
        text = text.replace("{clock}", clock(hit.clock, timezone))
    where = hit.camera + (f"/{hit.zone}" if hit.zone else "")
    return f"{text[:1].upper()}{text[1:]} ({where})"


def lowers_protection(rule: RuleRuntime) -> bool:
    """True when one of the rule's actions switches the site to supervised mode (a
    prompt's YES, or set_mode): that turns rules off (entry alerts), so the rule must
    only fire for a confirmed adult."""
    return any(
        isinstance(action, SwitchesMode) and action.switches_to() == Mode.SUPERVISED
        for action in rule.actions
    )


def _forget_cooldowns(rule: RuleRuntime, camera: str) -> None:
    """Drop the rule's cooldowns of one camera (per person or zone; not per rule)."""
    memory = rule.memory.scoped("cooldown:")
    for key, _ in memory.items():
        if key.startswith(camera + "|"):
            memory.drop(key)


def confirmed_adult(hit: Hit, view: View | None) -> bool:
    """The hit's person, or somebody seen in its zone (on its camera when it has none),
    is an adult by the identity stage (its role estimate, or enrolled): not unknown."""
    if hit.role == Role.ADULT:
        return True
    if view is None or view.camera != hit.camera:
        return False
    inside = None
    if hit.zone is not None and view.has_zone(hit.zone):
        inside = {p.track_id for p in view.presences(hit.zone)}
    return any(
        t.role == Role.ADULT and (inside is None or t.track_id in inside) for t in view.obs.tracks
    )


def format_pending(pending: Pending, timezone: str, what: str = "video") -> str:
    """The line that says a timer was still running when a file ended, e.g. "pool: timer
    of absent rule submersion still running when the video ended (someone last seen
    12:03:04 in water, 7.0 s before the end; due at 12:03:19)"."""
    detail = pending.detail.replace("{clock}", clock(pending.since, timezone))
    before = max(0.0, pending.ended - pending.since)
    return (
        f"{pending.camera}: timer of {pending.kind} rule {pending.rule_id} still running "
        f"when the {what} ended ({detail}, {before:.1f} s before the end; "
        f"due at {clock(pending.deadline, timezone)})"
    )


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
        files: Iterable[str] = (),
    ) -> None:
        self.rules = list(rules)
        self.context = context or RuleContext()
        #: this run's id: per-track state of another run belongs to tracks that are gone
        self.run_id = run_id or secrets.token_hex(4)
        #: cameras that play a video file (or a folder of images): what their timers wait
        #: for ends with the file (end_stream) and is never carried into another run;
        #: the others are live, and their timers resume after a restart
        self.files = frozenset(files)
        self._views: dict[str, View] = {}
        self._journal: Journal = {}
        self._by_camera: dict[str, list[RuleRuntime]] = {}
        #: rules whose action lowers protection: they fire only for a confirmed adult
        self._gated: set[str] = set()
        state = state or {}
        for rule in self.rules:
            rule.memory = Memory(rule.rule_id, state.get(rule.rule_id, {}), journal=self._journal)
            for i, trigger in enumerate(rule.triggers):
                if isinstance(trigger, Stateful):
                    trigger.bind(rule.memory.scoped(f"t{i}:"), self.run_id)
                if isinstance(trigger, Streamed):
                    trigger.sessions(self.files)
            for camera in self.files:  # cooldowns an earlier run left on a file camera
                _forget_cooldowns(rule, camera)
            if lowers_protection(rule):
                self._gated.add(rule.rule_id)
                for trigger in rule.triggers:
                    if isinstance(trigger, AdultGated):
                        trigger.require_confirmed_adults()

    @property
    def active(self) -> list[RuleRuntime]:
        return [r for r in self.rules if r.enabled]

    def set_mode(self, mode: Mode | str) -> None:
        if mode != self.context.mode:
            self.context = dataclasses.replace(self.context, mode=Mode(mode))

    def scene_zones(self) -> set[str]:
        """Zones some enabled rule watches for background changes (new objects)."""
        zones: set[str] = set()
        for rule in self.active:
            for trigger in rule.triggers:
                if isinstance(trigger, WatchesScene):
                    zones |= trigger.scene_zones
        return zones

    def process(self, observation: Observation) -> list[Firing]:
        view = View(observation, self._missing)
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

    def end_stream(self, camera: str, now: float | None = None) -> list[Pending]:
        """A file camera's frames ended (the video is over): what its rules were still
        waiting for is dropped from the durable state (drain it as usual) and returned,
        for the rules that would have fired in the current mode.

        ``now`` defaults to the time of the camera's last observation.
        """
        if now is None:
            view = self._views.get(camera)
            now = view.timestamp if view is not None else time.time()
        pending: list[Pending] = []
        for rule in self._rules_for(camera):
            counts = rule.enabled and self.context.mode in rule.modes
            _forget_cooldowns(rule, camera)  # the next video is not this one
            for trigger in rule.triggers:
                if not isinstance(trigger, Streamed):
                    continue
                for p in trigger.end_stream(camera, now):
                    if counts:
                        pending.append(
                            dataclasses.replace(p, rule_id=rule.rule_id, rule_alias=rule.alias)
                        )
        return pending

    def waiting_on(self, camera: str) -> bool:
        """An active rule's timer waits for somebody to come back on ``camera`` (the
        submersion timer): its models must keep looking."""
        for rule in self._rules_for(camera):
            if rule.enabled and self.context.mode in rule.modes:
                for trigger in rule.triggers:
                    if isinstance(trigger, MissingPeople) and trigger.timing(camera):
                        return True
        return False

    def _missing(self, camera: str) -> frozenset[int]:
        """Tracks of ``camera`` an absence timer of an active rule waits for (or fired
        for): one disappearance, one alert (count_drop defers to it)."""
        ids: set[int] = set()
        for rule in self._rules_for(camera):
            if rule.enabled and self.context.mode in rule.modes:
                for trigger in rule.triggers:
                    if isinstance(trigger, MissingPeople):
                        ids |= trigger.missing_tracks(camera)
        return frozenset(ids)

    def health(
        self, changes: Sequence[HealthChange], now: float, ended: Iterable[str] = ()
    ) -> list[Firing]:
        """Camera problems that began or ended (guardian.health), and the ``for:`` waits
        of the health triggers (call it once a second, with no changes too).

        ``ended``: cameras no longer watched (a file that ended, a clean stop): what the
        health triggers wait for on them is dropped, with no "back" event.
        """
        gone = list(ended)
        firings: list[Firing] = []
        for rule in self.rules:
            if not rule.enabled:
                continue
            try:
                for trigger in rule.triggers:
                    if gone and isinstance(trigger, HealthTrigger):
                        for camera in gone:
                            trigger.forget(camera)
                hits = [
                    h
                    for t in rule.triggers
                    if isinstance(t, HealthTrigger)
                    for h in t.health(changes, now, self.context, rule.cameras)
                ]
                if hits:
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
            if rule.rule_id in self._gated and not confirmed_adult(hit, view):
                log.info(
                    "rule %s: not fired: it would lower protection and no confirmed adult "
                    "is there (an unknown person never switches protection off)",
                    rule.rule_id,
                )
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
        if isinstance(last, int | float):
            within = 0 <= hit.timestamp - last < rule.cooldown
            if rule.cooldown_per == "zone" and hit.visit is not None:
                # an entry: quiet for the whole visit of the zone the last alert was in;
                # a new visit (the zone was seen empty) is alerted even within the cooldown
                if hit.visit <= last or (within and not hit.new_visit):
                    return False
            elif within:
                return False
        if rule.cooldown_per == "person":  # forget cooldowns that are over (per zone
            for key, value in memory.items():  # and rule they are few, and kept)
                if isinstance(value, int | float) and hit.timestamp - value >= rule.cooldown:
                    memory.drop(key)
        memory.put(subject, hit.timestamp)
        return True

    def _event(self, rule: RuleRuntime, hit: Hit) -> Event:
        message = event_message(hit, self.context.timezone)
        log.info(
            "rule %s on %s (track %s, person %s): %s",
            rule.rule_id,
            hit.camera,
            hit.track_id,
            hit.person_id,
            message,
        )
        return Event(
            event_id=new_event_id(hit.timestamp),
            rule_id=rule.rule_id,
            rule_alias=rule.alias,
            camera=hit.camera,
            zone=hit.zone,
            track_id=hit.track_id,
            person_id=hit.person_id,
            severity=Severity(hit.severity or rule.severity),
            started_at=hit.timestamp,
            ended_at=None,
            message=message,
            frame_index=hit.frame_index,
        )
