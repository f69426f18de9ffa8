"""Replay: run rules over recorded observations and say what they would have done.

The way to test a rule before trusting it::

    guardian run --record-observations pool.jsonl       # once, on real footage
    guardian replay --observations pool.jsonl --rules rules/pool.yaml

Nothing is stored or sent: events and the actions' requests are printed with their
times (video time from the first observation, and the clock time). Mode switches
(``set_mode``, and prompts when ``accept_prompts``) take effect in the replay, and a
supervised mode ends when its time is up, so sequences behave as they would live.
Timers still running when the recording ends are printed (``PENDING``), as
``guardian run`` prints those of a video file that ended.

With a site file, the caller builds the rule set the way ``guardian run`` does (the
site's built-in rules included) and passes it as ``rules``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from guardian.config import ConfigError, Problem, load_yaml
from guardian.effects import Effects, ModeRequest
from guardian.observations import read_observations
from guardian.records import Event, Observation
from guardian.rules import RuleContext, RuleEngine, RuleSet, load_rules
from guardian.rules.base import Pending
from guardian.rules.engine import format_pending
from guardian.timefmt import clock
from guardian.vocab import Mode


@dataclass
class ReplayResult:
    """What a replay produced: events in order, with the requests of their actions."""

    events: list[Event] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)
    modes: list[tuple[float, str]] = field(default_factory=list)
    problems: tuple[Problem, ...] = ()
    observations: int = 0
    #: timers still running when the recording ended
    pending: list[Pending] = field(default_factory=list)


def zones_in(path: Path) -> dict[str, set[str]]:
    """camera → zone names, as recorded (every observation counts all its camera's zones)."""
    zones: dict[str, set[str]] = {}
    for obs in read_observations(path):
        zones.setdefault(obs.camera, set()).update(c.zone for c in obs.counts)
    return zones


def load_replay_rules(
    rule_files: Sequence[Path], zones: dict[str, set[str]], contacts: Iterable[str] | None
) -> RuleSet:
    documents = []
    problems: list[Problem] = []
    for path in rule_files:
        try:
            documents.append(load_yaml(path))
        except ConfigError as err:
            problems.extend(err.problems)
    rules = load_rules(documents, zones_by_camera=zones, contacts=contacts)
    return RuleSet(rules.rules, tuple(problems) + rules.problems)


class Replayer:
    """Feeds observations to a rule engine, applying mode switches in memory."""

    def __init__(
        self,
        rules: RuleSet,
        context: RuleContext,
        *,
        accept_prompts: bool = False,
        out: TextIO | None = None,
    ) -> None:
        # nothing is stored: every camera's timers end with the recording
        self.engine = RuleEngine(rules.rules, context)
        self.accept_prompts = accept_prompts
        self.out = out
        self.until: float | None = None
        self.start: float | None = None
        self.result = ReplayResult(problems=rules.problems)

    def feed(self, observations: Iterable[Observation]) -> ReplayResult:
        cameras: dict[str, None] = {}
        for obs in observations:
            cameras.setdefault(obs.camera)
            if self.start is None:
                self.start = obs.timestamp
            self.result.observations += 1
            if self.until is not None and obs.timestamp >= self.until:
                self._switch(obs.timestamp, ModeRequest(Mode.UNSUPERVISED, reason="expired"))
            firings = self.engine.process(obs)
            if not firings:
                self.engine.drain_state()
                continue
            effects = Effects()
            self.engine.run_actions(firings, effects)
            self.engine.drain_state()
            for firing in firings:
                self.result.events.append(firing.event)
                self._print(firing.event.started_at, _describe(firing.event))
            self._apply(obs.timestamp, effects)
        for camera in cameras:  # the recording ended: what was still waiting
            for pending in self.engine.end_stream(camera):
                self.result.pending.append(pending)
                line = format_pending(pending, self.engine.context.timezone, "recording")
                self._print(pending.ended, f"PENDING {line}")
        self.engine.drain_state()
        return self.result

    def _apply(self, now: float, effects: Effects) -> None:
        batch = self.result.effects
        batch.notifications += effects.notifications
        batch.prompts += effects.prompts
        batch.escalations += effects.escalations
        batch.commands += effects.commands
        batch.clips += effects.clips
        for note in effects.notifications:
            self._print(None, f"  {note.kind} → {note.contact} by {note.channel}: {note.message}")
        for req in effects.escalations:
            chain = ", ".join(req.contacts)
            self._print(None, f"  escalation: if not acknowledged, {chain} every {req.after:.0f}s")
        for cmd in effects.commands:
            self._print(None, f"  command: {' '.join(cmd.argv)}")
        for clip in effects.clips:
            self._print(None, f"  clip: {clip.camera} {clip.end - clip.start:.0f}s")
        for mode in effects.modes:
            self._switch(now, mode)
        for prompt in effects.prompts:
            if self.accept_prompts and prompt.on_yes is not None:
                self._print(None, f"  (replay answers YES to prompt {prompt.prompt_id})")
                self._switch(now, prompt.on_yes)

    def _switch(self, now: float, request: ModeRequest) -> None:
        until = request.until
        if until is None and request.duration is not None and request.mode == Mode.SUPERVISED:
            until = now + request.duration
        if request.mode == Mode.SUPERVISED and until is None:
            until = now + self.engine.context.supervised_for
        self.until = until if request.mode == Mode.SUPERVISED else None
        self.engine.set_mode(request.mode)
        self.result.effects.modes.append(request)
        self.result.modes.append((now, request.mode))
        end = f" until {self._clock(self.until)}" if self.until is not None else ""
        self._print(now, f"MODE {request.mode}{end} ({request.reason or request.source})")

    def _clock(self, ts: float) -> str:
        return clock(ts, self.engine.context.timezone)

    def _print(self, ts: float | None, text: str) -> None:
        if self.out is None:
            return
        if ts is None:
            print(text, file=self.out)
            return
        offset = ts - (self.start if self.start is not None else ts)
        print(f"{offset:8.1f}s  {self._clock(ts)}  {text}", file=self.out)


def _describe(event: Event) -> str:
    return f"[{event.severity.value}] {event.rule_id}: {event.message}"


def replay(
    observations: Path,
    rule_files: Sequence[Path] = (),
    *,
    rules: RuleSet | None = None,
    context: RuleContext | None = None,
    zones: dict[str, set[str]] | None = None,
    contacts: Iterable[str] | None = None,
    accept_prompts: bool = False,
    out: TextIO | None = None,
) -> ReplayResult:
    """Run ``rules`` (or else ``rule_files``, checked against the recorded zones) over
    the observations file; raise ConfigError on broken rules."""
    if rules is None:
        zones = zones if zones is not None else zones_in(observations)
        rules = load_replay_rules(rule_files, zones, contacts)
    if rules.problems:
        raise ConfigError(rules.problems)
    player = Replayer(rules, context or RuleContext(), accept_prompts=accept_prompts, out=out)
    return player.feed(read_observations(observations))
