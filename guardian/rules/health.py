"""Camera health as rules: trigger kinds that fire from camera problems, and a built-in
rule per camera.

The kinds ``camera_offline``, ``camera_stalled``, ``camera_obstructed``, ``too_dark``
and ``camera_moved`` fire from the :class:`~guardian.records.HealthChange` records of
:mod:`guardian.health` (the runner hands them to ``RuleEngine.health``), not from
observations. Each fires once when its problem has lasted ``for`` (from when it began),
with a message for people ("Pool camera has been offline since 02:14: Guardian cannot
watch the pool."), and with ``recovered: true`` once more, as an info event, when it is
over ("Pool camera is back after 17 min (offline 02:14–02:31): ...").

Every enabled camera gets a built-in rule ``camera_health_<camera>`` with the five
triggers (recovered too), severity warning, alerting the site's contacts on their own
channels (not the remote ones, unless all are).
A rule of the same id in a rules file replaces it; ``enabled: false`` turns it off.
``guardian check --list`` lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import yaml
from pydantic import Field

from guardian.config import YamlDocument, load_yaml
from guardian.records import HealthChange, HealthProblem
from guardian.rules.base import Hit, RuleContext, View
from guardian.rules.fields import Duration, NameList, TriggerConfig
from guardian.rules.registry import TRIGGERS
from guardian.timefmt import format_duration, hour_minute
from guardian.vocab import Channel, Severity

if TYPE_CHECKING:
    from guardian.config import SiteBundle

HEALTH_PATH = Path("<built-in camera health rules>")

#: each problem in a few words, and the trigger kind that fires on it
PROBLEM_WORDS: dict[HealthProblem, str] = {
    HealthProblem.OFFLINE: "offline",
    HealthProblem.STALLED: "frozen",
    HealthProblem.OBSTRUCTED: "covered or blinded",
    HealthProblem.TOO_DARK: "too dark",
    HealthProblem.MOVED: "moved",
}
KIND_OF: dict[HealthProblem, str] = {
    HealthProblem.OFFLINE: "camera_offline",
    HealthProblem.STALLED: "camera_stalled",
    HealthProblem.OBSTRUCTED: "camera_obstructed",
    HealthProblem.TOO_DARK: "too_dark",
    HealthProblem.MOVED: "camera_moved",
}
#: what a camera watches, by the kinds of the zones drawn on it (first match)
_PLACES: tuple[tuple[str, str], ...] = (
    ("water", "the pool"),
    ("pool_area", "the pool"),
    ("deck", "the pool"),
    ("elevator_floor", "the elevator"),
    ("room", "the room"),
    ("entry", "the entrance"),
    ("exit", "the exit"),
    ("boundary", "the boundary"),
)
DEFAULT_PLACE = "what it films"


@runtime_checkable
class HealthTrigger(Protocol):
    """A trigger that fires from camera health changes (``RuleEngine.health``)."""

    def health(
        self,
        changes: Sequence[HealthChange],
        now: float,
        context: RuleContext,
        cameras: frozenset[str],
    ) -> list[Hit]: ...

    def forget(self, camera: str) -> None:
        """The camera is no longer watched: drop what waits on it."""
        ...


def camera_words(camera: str) -> str:
    """A camera id as people say it: ``pool`` → "Pool camera", ``gate_cam`` → "Gate cam"."""
    words = camera.replace("_", " ").replace("-", " ").strip() or camera
    if not words.lower().endswith(("camera", "cam")):
        words += " camera"
    return words[:1].upper() + words[1:]


def place_of(zone_kinds: Iterable[str]) -> str:
    """What a camera watches, from the kinds of its zones ("the pool")."""
    kinds = set(zone_kinds)
    return next((words for kind, words in _PLACES if kind in kinds), DEFAULT_PLACE)


def _clock(ts: float, timezone: str) -> str:
    return hour_minute(ts, timezone)


class _CameraProblemConfig(TriggerConfig):
    """Fires when a camera has a problem (from the camera health monitor)."""

    cameras: NameList = Field(
        default_factory=list,
        description="cameras to watch; empty: the rule's cameras (every camera)",
    )
    for_: Duration = Field(
        0.0,
        alias="for",
        description="how long the problem must last before it fires, counted from when it "
        "began (the monitor's own wait, e.g. health.offline_after, comes first)",
    )
    recovered: bool = Field(False, description="also fire (an info event) when the problem is over")
    place: str = Field(
        "",
        description=f"what the camera watches, for messages ('the pool'); empty: '{DEFAULT_PLACE}'",
    )


class CameraOfflineConfig(_CameraProblemConfig):
    kind: Literal["camera_offline"] = Field(
        description="camera_offline: no picture from a camera (refused, unplugged, gone)"
    )


class CameraStalledConfig(_CameraProblemConfig):
    kind: Literal["camera_stalled"] = Field(
        description="camera_stalled: frames arrive but the picture is frozen"
    )


class CameraObstructedConfig(_CameraProblemConfig):
    kind: Literal["camera_obstructed"] = Field(
        description="camera_obstructed: a covered lens or a blinded picture"
    )


class TooDarkConfig(_CameraProblemConfig):
    kind: Literal["too_dark"] = Field(description="too_dark: a black picture")


class CameraMovedConfig(_CameraProblemConfig):
    kind: Literal["camera_moved"] = Field(
        description="camera_moved: the view no longer matches the camera's reference"
    )


@dataclass
class _Open:
    started: float
    fired: bool = False


class CameraProblem:
    """One problem of some cameras: fires once it has lasted ``for``, and when over."""

    def __init__(self, problem: HealthProblem, config: _CameraProblemConfig) -> None:
        self.problem = problem
        self.cameras = frozenset(config.cameras)
        self.duration = float(config.for_)
        self.recovered = config.recovered
        self.place = config.place or DEFAULT_PLACE
        self._open: dict[str, _Open] = {}

    def fire(self, view: View) -> list[Hit]:
        return []  # observations say nothing of camera health

    def forget(self, camera: str) -> None:
        self._open.pop(camera, None)

    def _watches(self, camera: str, rule_cameras: frozenset[str]) -> bool:
        if self.cameras:
            return camera in self.cameras
        return not rule_cameras or camera in rule_cameras

    def health(
        self,
        changes: Sequence[HealthChange],
        now: float,
        context: RuleContext,
        cameras: frozenset[str],
    ) -> list[Hit]:
        hits: list[Hit] = []
        for change in changes:
            if change.problem is not self.problem or not self._watches(change.camera, cameras):
                continue
            if change.ended is None:
                self._open.setdefault(change.camera, _Open(change.started))
                continue
            was = self._open.pop(change.camera, None)
            if was is not None and was.fired and self.recovered:
                hits.append(self._back(change.camera, was.started, change.ended, context))
        for camera, entry in self._open.items():
            if not entry.fired and now - entry.started >= self.duration:
                entry.fired = True
                hits.append(self._began(camera, entry.started, context))
        return hits

    def _began(self, camera: str, started: float, context: RuleContext) -> Hit:
        name, since = camera_words(camera), _clock(started, context.timezone)
        if self.problem is HealthProblem.MOVED:
            text = (
                f"{name} was moved at {since}: its view no longer matches its zones, so "
                f"Guardian cannot watch {self.place} properly."
            )
        else:
            what = {
                HealthProblem.OFFLINE: "has been offline",
                HealthProblem.STALLED: "has shown a frozen picture",
                HealthProblem.OBSTRUCTED: "has been covered or blinded",
                HealthProblem.TOO_DARK: "has seen only black",
            }[self.problem]
            text = f"{name} {what} since {since}: Guardian cannot watch {self.place}."
        return Hit(camera=camera, timestamp=started, frame_index=-1, detail=text)

    def _back(self, camera: str, started: float, ended: float, context: RuleContext) -> Hit:
        tz = context.timezone
        text = (
            f"{camera_words(camera)} is back after {format_duration(ended - started)} "
            f"({PROBLEM_WORDS[self.problem]} {_clock(started, tz)}–{_clock(ended, tz)}): "
            f"Guardian watches {self.place} again."
        )
        return Hit(
            camera=camera, timestamp=ended, frame_index=-1, detail=text, severity=Severity.INFO
        )


def _register(problem: HealthProblem, config: type[_CameraProblemConfig], summary: str) -> None:
    TRIGGERS.register(KIND_OF[problem], config, lambda c: CameraProblem(problem, c), summary)


_register(HealthProblem.OFFLINE, CameraOfflineConfig, "no picture from a camera")
_register(HealthProblem.STALLED, CameraStalledConfig, "a camera's picture is frozen")
_register(HealthProblem.OBSTRUCTED, CameraObstructedConfig, "a camera is covered or blinded")
_register(HealthProblem.TOO_DARK, TooDarkConfig, "a camera's picture is black")
_register(HealthProblem.MOVED, CameraMovedConfig, "a camera's view no longer matches its zones")


# -- the built-in rule per camera ---------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WatchedCamera:
    """A camera that gets the built-in health rule, and what it watches."""

    camera: str
    place: str = DEFAULT_PLACE


def health_documents(
    cameras: Iterable[WatchedCamera],
    contacts: Iterable[tuple[str, Sequence[str]]] = (),
) -> list[YamlDocument]:
    """One built-in rule per camera: ``camera_health_<camera>``, warning, each of
    ``contacts`` (id, channels) alerted on their own channels (the console when none)."""
    actions: list[dict[str, object]] = [
        {
            "kind": "alert",
            "contacts": [cid],
            "channels": [str(c) for c in channels],  # plain text: the YAML dump takes no enum
            "message": "{message}",
        }
        for cid, channels in contacts
        if channels
    ] or [{"kind": "alert", "channels": [Channel.CONSOLE.value], "message": "{message}"}]
    rules = []
    for cam in cameras:
        rules.append(
            {
                "id": f"camera_health_{cam.camera}",
                "alias": "Camera health",
                "description": "Built in. Says when the camera cannot watch (offline, frozen, "
                "covered, too dark, moved) and when it is back.",
                "severity": "warning",
                "cameras": [cam.camera],
                "triggers": [
                    {"kind": kind, "recovered": True, "place": cam.place}
                    for kind in KIND_OF.values()
                ],
                "actions": actions,
            }
        )
    if not rules:
        return []
    text = yaml.safe_dump({"rules": rules}, sort_keys=False, allow_unicode=True)
    return [load_yaml(HEALTH_PATH, text=text)]


def builtin_health(bundle: SiteBundle) -> list[YamlDocument]:
    """The built-in health rules of a site: every enabled camera whose health is checked."""
    site = bundle.site
    cameras = [
        WatchedCamera(cam.id, place_of(z.kind for z in bundle.zones if z.camera == cam.id))
        for cam in site.cameras
        if cam.enabled and site.health.for_camera(cam.id).enabled
    ]
    # people at the site: a remote contact (a neighbour) is there for emergencies only
    here = [c for c in site.contacts if not c.remote] or list(site.contacts)
    return health_documents(cameras, [(c.id, tuple(c.channels)) for c in here])


__all__ = [
    "HEALTH_PATH",
    "KIND_OF",
    "PROBLEM_WORDS",
    "CameraProblem",
    "HealthTrigger",
    "WatchedCamera",
    "builtin_health",
    "camera_words",
    "health_documents",
    "place_of",
]
