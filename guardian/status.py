"""``guardian status``: is the site watched right now?

The mode (and until when), each enabled camera (fps, last frame, health), the prompts
waiting for an answer and the alerts not yet sent. Exit 0 when every enabled camera is
watched and healthy, 1 otherwise (or when the site file or the store cannot be read), so
that a cron job or a monitoring script can act on it; ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from guardian.health_report import (
    PROBLEM_WORDS,
    STALE_AFTER,
    CameraState,
    CameraStatus,
    SiteHealth,
    site_health,
)
from guardian.store import Delivery, Prompt
from guardian.timefmt import format_duration, local_time

#: outbox statuses of alerts that are still to be sent
WAITING = ("pending", "sending")


def _clock(ts: float, timezone: str, now: float) -> str:
    """``08:01:02``, with the date when it is not today."""
    local, today = local_time(ts, timezone), local_time(now, timezone)
    return local.strftime("%H:%M:%S" if local.date() == today.date() else "%Y-%m-%d %H:%M:%S")


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


def _json(
    health: SiteHealth,
    *,
    mode: str,
    mode_until: float | None,
    timezone: str,
    prompts: list[Prompt],
    waiting: list[Delivery],
) -> dict[str, Any]:
    now = health.now
    return {
        "status": str(health.overall),
        "healthy": health.healthy,
        "now": now,
        "timezone": timezone,
        "mode": {"mode": mode, "until": mode_until},
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
            {"id": p.prompt_id, "question": p.question, "expires_at": p.expires_at} for p in prompts
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
            for d in waiting
        ],
    }


def cmd_status(args: argparse.Namespace) -> int:
    from guardian.cli import _mode_manager, _site_and_store

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    site = bundle.site
    tz = site.site.timezone
    cameras = [c.id for c in site.cameras if c.enabled]
    with store:
        now = time.time()
        modes = _mode_manager(bundle, store)
        state = modes.current(now)
        mode_until = modes.ends_at(state)
        health = site_health(store, cameras, now)
        store.expire_prompts(now)
        prompts = store.prompts("pending")
        waiting = sorted(
            (d for status in WAITING for d in store.deliveries(status)),
            key=lambda d: d.delivery_id,
        )
    code = 0 if health.healthy else 1
    if args.json:
        payload = _json(
            health,
            mode=state.mode,
            mode_until=mode_until,
            timezone=tz,
            prompts=prompts,
            waiting=waiting,
        )
        print(json.dumps(payload, indent=2))
        return code
    mode = f"mode: {state.mode}"
    if mode_until is not None:
        mode += f" until {_clock(mode_until, tz, now)} (in {format_duration(mode_until - now)})"
    print(mode)
    print(f"cameras: {health.overall} (times in {tz})")
    if not health.cameras:
        print("  none enabled — set 'enabled: true' on a camera in the site file")
    for camera in health.cameras:
        print(f"  {camera_line(camera, tz, now)}")
    if prompts:
        print(f"prompts waiting for an answer: {len(prompts)} ('guardian answer ID yes|no')")
        for prompt in prompts:
            print(f"  {_prompt_line(prompt, now)}")
    else:
        print("prompts waiting for an answer: none")
    if waiting:
        print(f"alerts not sent yet: {len(waiting)} ('guardian alerts' for more)")
        for delivery in waiting:
            print(f"  {_alert_line(delivery, tz, now)}")
    else:
        print("alerts not sent yet: none")
    return code


_EPILOG = f"""\
exit status: 0 when every enabled camera is watched and healthy (its run's heartbeat
is less than {STALE_AFTER:.0f} s old, frames are coming and it has no open problem),
1 otherwise or when the site file or its event store cannot be read.
"""


def add_status_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``guardian status``."""
    p = sub.add_parser(
        "status",
        help="is the site watched now? mode, cameras (fps, last frame, health), prompts, alerts",
        description=(
            "Print the site mode (and until when), each enabled camera with its fps, last "
            "frame and health (ok, its open problems since when, not running, never "
            "watched), the prompts waiting for an answer and the alerts not sent yet."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", type=Path, default=Path("guardian.yaml"), help="site file")
    p.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    p.set_defaults(func=cmd_status)


__all__ = ["add_status_commands", "camera_line", "cmd_status"]
