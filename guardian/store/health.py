"""What watched when (table ``watch``: one row per run and camera, with a heartbeat) and
the cameras' problems as spans (table ``camera_health``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from guardian.records import HealthChange, HealthProblem, HealthSpan, WatchSpan
from guardian.store.database import Database


def watch_from_row(r: dict[str, Any]) -> WatchSpan:
    return WatchSpan(
        run_id=r["run_id"],
        camera=r["camera"],
        started=float(r["started"]),
        last_beat=float(r["last_beat"]),
        ended=None if r["ended"] is None else float(r["ended"]),
        last_frame=None if r["last_frame"] is None else float(r["last_frame"]),
        frames=int(r["frames"] or 0),
        fps=float(r["fps"] or 0.0),
        problems=tuple(HealthProblem(p) for p in (r["problems"] or "").split(",") if p),
    )


def health_from_row(r: dict[str, Any]) -> HealthSpan:
    return HealthSpan(
        span_id=int(r["id"]),
        camera=r["camera"],
        problem=HealthProblem(r["problem"]),
        started=float(r["started"]),
        ended=None if r["ended"] is None else float(r["ended"]),
        detail=r["detail"] or "",
        run_id=r["run_id"] or "",
    )


class CameraHealthLog:
    """Watch heartbeats and problem spans, per run and camera."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def begin_watch(self, run_id: str, camera: str, now: float) -> None:
        """A run starts watching ``camera``. Problems left open by runs that died are
        closed at their run's last heartbeat (nobody knows what happened after)."""
        with self._db.transaction():
            sql = self._db.sqlite
            sql.execute(
                "update camera_health set ended = (select w.last_beat from watch w "
                "where w.run_id = camera_health.run_id and w.camera = camera_health.camera) "
                "where ended is null and camera = ? and run_id != ?",
                [camera, run_id],
            )
            sql.execute(
                "update camera_health set ended = started where ended is null "
                "and camera = ? and run_id != ?",
                [camera, run_id],
            )
            sql.table("watch").upsert(
                {
                    "run_id": run_id,
                    "camera": camera,
                    "started": now,
                    "last_beat": now,
                    "ended": None,
                    "last_frame": None,
                    "frames": 0,
                    "fps": 0.0,
                    "problems": "",
                },
                pk=("run_id", "camera"),
            )

    def beat(
        self,
        run_id: str,
        camera: str,
        now: float,
        *,
        last_frame: float | None,
        frames: int,
        fps: float,
        problems: Iterable[HealthProblem] = (),
    ) -> None:
        """The run's heartbeat for one camera (a few seconds apart): proof it watched."""
        with self._db.transaction():
            self._db.sqlite.execute(
                "update watch set last_beat = ?, last_frame = ?, frames = ?, fps = ?, "
                "problems = ? where run_id = ? and camera = ?",
                [now, last_frame, frames, fps, ",".join(problems), run_id, camera],
            )

    def end_watch(self, run_id: str, camera: str, now: float) -> None:
        """A clean stop: the camera's open problems end with it."""
        with self._db.transaction():
            self._db.sqlite.execute(
                "update watch set ended = ?, last_beat = max(last_beat, ?) "
                "where run_id = ? and camera = ?",
                [now, now, run_id, camera],
            )
            self._db.sqlite.execute(
                "update camera_health set ended = ? where ended is null "
                "and run_id = ? and camera = ?",
                [now, run_id, camera],
            )

    def record(self, change: HealthChange, run_id: str) -> None:
        """A problem began (a new open span) or ended (its open span is closed)."""
        with self._db.transaction():
            if change.ended is None:
                self._db.sqlite.table("camera_health").insert(
                    {
                        "camera": change.camera,
                        "problem": str(change.problem),
                        "started": change.started,
                        "ended": None,
                        "detail": change.detail,
                        "run_id": run_id,
                    }
                )
            else:
                self._db.sqlite.execute(
                    "update camera_health set ended = ? where ended is null "
                    "and camera = ? and problem = ? and run_id = ?",
                    [change.ended, change.camera, str(change.problem), run_id],
                )

    def watch_spans(
        self, *, since: float | None = None, until: float | None = None
    ) -> list[WatchSpan]:
        """Runs × cameras that watched at some time in [since, until), oldest first."""
        rows = self._db.select(
            "watch",
            [("last_beat >= ?", since), ("started < ?", until)],
            "started, camera",
        )
        return [watch_from_row(r) for r in rows]

    def latest_watch(self) -> list[WatchSpan]:
        """Each camera's latest run (for ``guardian status`` and ``/healthz``)."""
        with self._db.lock:
            rows = list(
                self._db.sqlite.table("watch").rows_where(
                    "started = (select max(x.started) from watch x where x.camera = watch.camera)",
                    order_by="camera",
                )
            )
        return [watch_from_row(r) for r in rows]

    def spans(
        self,
        *,
        since: float | None = None,
        until: float | None = None,
        camera: str | None = None,
        open_only: bool = False,
    ) -> list[HealthSpan]:
        """Camera problems that overlap [since, until), oldest first."""
        rows = self._db.select(
            "camera_health",
            [
                ("(ended is null or ended >= ?)", since),
                ("started < ?", until),
                ("camera = ?", camera),
                ("ended is null and ? = 1", 1 if open_only else None),
            ],
            "started, id",
        )
        return [health_from_row(r) for r in rows]
