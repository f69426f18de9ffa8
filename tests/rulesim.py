"""A tiny world for rule tests: people at positions, seen or hidden, turned into real
observations by the real ZoneTracker (a stand-in for detection + tracking only)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from guardian.config import load_yaml
from guardian.effects import Effects
from guardian.records import (
    Box,
    Observation,
    PostureReading,
    SceneChange,
    Track,
    TrackState,
)
from guardian.rules import RuleContext, RuleEngine, RuleSet, load_rules
from guardian.rules.engine import Firing
from guardian.zones import Zone, ZoneTracker

T0 = 1_800_000_000.0  # a fixed clock (2027-01-15 08:00 UTC)
W, H = 640, 480

#: the test camera "pool": deck around water, with steps (an exit) in the water's corner
ZONES = (
    Zone.from_points(
        "deck", "pool", "pool_area", [(60, 100), (580, 100), (580, 440), (60, 440)], inertia=1
    ),
    Zone.from_points(
        "water", "pool", "water", [(200, 200), (440, 200), (440, 400), (200, 400)], inertia=1
    ),
    Zone.from_points(
        "steps", "pool", "exit", [(400, 360), (440, 360), (440, 400), (400, 400)], inertia=1
    ),
)
ZONE_NAMES = {"pool": {z.name for z in ZONES}}

#: the submersion rule of the scripted tests: absent 5 s in the water, on the console
SUBMERSION = """
rules:
  - id: submersion
    severity: critical
    triggers: [{kind: absent, zones: water, timeout: 5s}]
    actions: [{kind: alert, channels: [console]}]
"""


@dataclass(frozen=True)
class P:
    """A person in one frame: feet at (x, y); ``seen=False`` hides them (lost)."""

    x: float
    y: float
    seen: bool = True
    role: str = "unknown"
    person: str | None = None


def box_at(x: float, y: float) -> Box:
    return Box(x - 20, y - 120, x + 20, y)


@dataclass
class Sim:
    """People per frame → observations, with a tracker's lifecycle: a hidden person is
    LOST for ``max_lost`` seconds, then REMOVED once, then forgotten."""

    camera: str = "pool"
    fps: float = 10.0
    max_lost: float = 2.0
    t0: float = T0
    zones: tuple[Zone, ...] = ZONES
    frame: int = 0
    _zt: ZoneTracker = field(init=False)
    _first: dict[int, float] = field(default_factory=dict)
    _last: dict[int, tuple[float, Box]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._zt = ZoneTracker(self.zones)

    @property
    def now(self) -> float:
        return self.t0 + self.frame / self.fps

    def step(
        self,
        people: Mapping[int, P],
        postures: Iterable[PostureReading] = (),
        changes: Iterable[SceneChange] = (),
    ) -> Observation:
        ts = self.now
        tracks: list[Track] = []
        for tid, p in people.items():
            first = self._first.setdefault(tid, ts)
            if p.seen:
                box = box_at(p.x, p.y)
                self._last[tid] = (ts, box)
                state = TrackState.TRACKED
            else:
                if tid not in self._last:
                    continue
                last_ts, box = self._last[tid]
                state = TrackState.LOST if ts - last_ts <= self.max_lost else TrackState.REMOVED
            last_seen = self._last[tid][0]
            tracks.append(
                Track(
                    self.camera, tid, state, box, 0.9, (), first, last_seen, 5, (), p.role, p.person
                )
            )
        for tid, (last_ts, box) in list(self._last.items()):
            if tid not in people:  # dropped from the script: removed now
                tracks.append(
                    Track(
                        self.camera,
                        tid,
                        TrackState.REMOVED,
                        box,
                        0.9,
                        (),
                        self._first[tid],
                        last_ts,
                        5,
                    )
                )
        for t in tracks:
            if t.state is TrackState.REMOVED:
                self._last.pop(t.track_id, None)
        update = self._zt.update(tracks, ts)
        obs = Observation(
            self.camera,
            self.frame,
            ts,
            self.frame / self.fps,
            W,
            H,
            tuple(t for t in tracks),
            update.presences,
            update.transitions,
            update.counts,
            tuple(postures),
            tuple(changes),
        )
        self.frame += 1
        return obs


def rules_from(tmp_path: Path, text: str, zones: Mapping[str, set[str]] = ZONE_NAMES) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    rules = load_rules([load_yaml(path)], zones_by_camera=zones, contacts=["owner", "neighbour"])
    assert rules.problems == (), [str(p) for p in rules.problems]
    return rules


Script = Callable[[float], Mapping[int, P]]


def run(
    engine: RuleEngine,
    script: Script,
    seconds: float,
    sim: Sim | None = None,
    *,
    postures: Callable[[float], Iterable[PostureReading]] | None = None,
    changes: Callable[[float], Iterable[SceneChange]] | None = None,
    effects: Effects | None = None,
) -> list[tuple[str, float]]:
    """Play ``script`` (seconds since start → people) and return (rule id, seconds) fired."""
    sim = sim or Sim()
    out: list[tuple[str, float]] = []
    start = sim.t0
    while sim.now < start + seconds - 1e-9:
        t = sim.now - start
        obs = sim.step(
            script(t),
            postures(sim.now) if postures else (),
            changes(sim.now) if changes else (),
        )
        firings: list[Firing] = engine.process(obs)
        if effects is not None:
            engine.run_actions(firings, effects)
        out.extend((f.event.rule_id, round(f.event.started_at - start, 2)) for f in firings)
    return out


__all__ = [
    "SUBMERSION",
    "T0",
    "ZONES",
    "ZONE_NAMES",
    "H",
    "P",
    "RuleContext",
    "Sim",
    "W",
    "rules_from",
    "run",
]
