"""Is the site watched right now? What ``guardian status`` says, as text or JSON.

The mode (and until when), each enabled camera (fps, last frame, health), the prompts
waiting for an answer and the alerts not yet sent. The site is healthy when every
enabled camera is watched and healthy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardian.config import SiteBundle
from guardian.health_report import (
    PROBLEM_WORDS,
    CameraState,
    CameraStatus,
    SiteHealth,
    site_health,
)
from guardian.modes import ModeManager
from guardian.store import Delivery, Prompt, Store
from guardian.timefmt import format_duration, nearby

#: outbox statuses of alerts that are still to be sent
WAITING = ("pending", "sending")


def _clock(ts: float, timezone: str, now: float) -> str:
    """``08:01:02``, with the date when it is not today."""
    return nearby(ts, timezone, now)


def _ago(ts: float, now: float) -> str:
    return f"{format_duration(now - ts)} ago"


def camera_line(camera: CameraStatus, timezone: str, now: float) -> str:
    """One camera as ``guardian status`` prints it."""
    if camera.state is CameraState.NEVER_WATCHED:
        return f"{camera.camera}: never watched (no 'guardian run' has opened it)"
    frame = (
        "no frame yet"
        if camera.last_frame is None
        else f"last frame {_ago(camera.last_frame, now)} ({_clock(camera.last_frame, timezone, now)})"
    )
    if camera.state is CameraState.NOT_RUNNING:
        if camera.stopped is not None:
            why = f"stopped at {_clock(camera.stopped, timezone, now)}"
        else:
            beat = camera.last_beat if camera.last_beat is not None else now
            why = f"no heartbeat since {_clock(beat, timezone, now)} ({_ago(beat, now)})"
        return f"{camera.camera}: NOT RUNNING — {why}; {frame}"
    fps = f"{camera.fps:.1f} fps" if camera.fps is not None else "? fps"
    if camera.state is CameraState.OK:
        return f"{camera.camera}: ok, {fps}, {frame}"
    if camera.state is CameraState.STARTING:
        return f"{camera.camera}: starting, {frame}"
    problems = []
    for p in camera.problems:
        text = PROBLEM_WORDS.get(p.problem, str(p.problem)).upper()
        if p.since is not None:
            text += f" since {_clock(p.since, timezone, now)} ({format_duration(now - p.since)})"
        if p.detail:
            text += f": {p.detail}"
        problems.append(text)
    return f"{camera.camera}: {'; '.join(problems)}; {fps}, {frame}"


def _prompt_line(prompt: Prompt, now: float) -> str:
    return (
        f"{prompt.prompt_id}  expires in {format_duration(prompt.expires_at - now)}  "
        f"{prompt.question}"
    )


def _alert_line(d: Delivery, timezone: str, now: float) -> str:
    line = (
        f"#{d.delivery_id} {d.status} {d.kind} [{d.severity}] {d.channel} → {d.contact} "
        f"since {_clock(d.created_at, timezone, now)}, tries {d.attempts}"
    )
    return line + (f"; last error: {d.last_error}" if d.last_error else "")


@dataclass(frozen=True)
class SiteStatus:
    """The site now: its mode, its cameras' health, prompts and alerts waiting."""

    health: SiteHealth
    mode: str
    #: when a supervised mode ends by itself (None: it does not)
    mode_until: float | None
    timezone: str
    prompts: list[Prompt]
    #: alerts not sent yet, oldest first
    waiting: list[Delivery]

    @property
    def now(self) -> float:
        return self.health.now


def read_status(bundle: SiteBundle, store: Store, modes: ModeManager, now: float) -> SiteStatus:
    """The site's status at ``now`` (a supervised mode whose time is up ends, prompts
    whose time is up expire)."""
    cameras = [c.id for c in bundle.site.cameras if c.enabled]
    state = modes.current(now)
    mode_until = modes.ends_at(state)
    health = site_health(store, cameras, now)
    store.prompt_log.expire(now)
    prompts = store.prompt_log.find("pending")
    waiting = sorted(
        (d for status in WAITING for d in store.outbox.find(status)),
        key=lambda d: d.delivery_id,
    )
    return SiteStatus(
        health=health,
        mode=str(state.mode),
        mode_until=mode_until,
        timezone=bundle.site.site.timezone,
        prompts=prompts,
        waiting=waiting,
    )


def status_json(status: SiteStatus) -> dict[str, Any]:
    """The status for scripts (``guardian status --json``)."""
    health, now = status.health, status.now
    return {
        "status": str(health.overall),
        "healthy": health.healthy,
        "now": now,
        "timezone": status.timezone,
        "mode": {"mode": status.mode, "until": status.mode_until},
        "cameras": [
            {
                "camera": c.camera,
                "state": str(c.state),
                "fps": c.fps,
                "last_frame": c.last_frame,
                "last_frame_age": None if c.last_frame is None else round(now - c.last_frame, 1),
                "last_heartbeat": c.last_beat,
                "stopped": c.stopped,
                "problems": [
                    {"problem": str(p.problem), "since": p.since, "detail": p.detail}
                    for p in c.problems
                ],
            }
            for c in health.cameras
        ],
        "prompts": [
            {"id": p.prompt_id, "question": p.question, "expires_at": p.expires_at}
            for p in status.prompts
        ],
        "pending_alerts": [
            {
                "id": d.delivery_id,
                "status": d.status,
                "kind": d.kind,
                "severity": d.severity,
                "channel": d.channel,
                "contact": d.contact,
                "created_at": d.created_at,
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in status.waiting
        ],
    }


def status_lines(status: SiteStatus) -> list[str]:
    """The status as ``guardian status`` prints it."""
    tz, now, health = status.timezone, status.now, status.health
    mode = f"mode: {status.mode}"
    if status.mode_until is not None:
        until = status.mode_until
        mode += f" until {_clock(until, tz, now)} (in {format_duration(until - now)})"
    lines = [mode, f"cameras: {health.overall} (times in {tz})"]
    if not health.cameras:
        lines.append("  none enabled — set 'enabled: true' on a camera in the site file")
    lines += [f"  {camera_line(camera, tz, now)}" for camera in health.cameras]
    if status.prompts:
        lines.append(
            f"prompts waiting for an answer: {len(status.prompts)} ('guardian answer ID yes|no')"
        )
        lines += [f"  {_prompt_line(prompt, now)}" for prompt in status.prompts]
    else:
        lines.append("prompts waiting for an answer: none")
    if status.waiting:
        lines.append(f"alerts not sent yet: {len(status.waiting)} ('guardian alerts' for more)")
        lines += [f"  {_alert_line(delivery, tz, now)}" for delivery in status.waiting]
    else:
        lines.append("alerts not sent yet: none")
    return lines


__all__ = ["SiteStatus", "camera_line", "read_status", "status_json", "status_lines"]
