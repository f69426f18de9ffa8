"""Event clips (table ``clips``): requested with their event, then recorded, written,
skipped or deleted; with what retention needs to know of their events."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from guardian.effects import ClipRequest
from guardian.records import Clip
from guardian.store.database import Database
from guardian.vocab import ClipStatus, Severity


def clip_row_id(event_id: str, camera: str) -> str:
    """The id of an event's clip row."""
    return f"{event_id}:{camera}"


@dataclass(frozen=True, slots=True)
class ClipRetention:
    """A written clip, with whether its event is critical and was reviewed (or acknowledged)."""

    clip: Clip
    critical: bool
    reviewed: bool


def clip_from_row(r: dict[str, Any]) -> Clip:
    return Clip(
        clip_id=r["id"],
        event_id=r["event_id"],
        camera=r["camera"],
        path=r["path"] or "",
        start=float(r["start"]),
        end=float(r["end"]),
        thumbnail_path=r["thumbnail_path"],
        snapshot_path=r["snapshot_path"],
        size_bytes=int(r["size_bytes"] or 0),
        status=ClipStatus(r["status"] or ClipStatus.PENDING),
        reason=r["reason"] or "",
        frames=int(r.get("frames") or 0),
        duration=float(r.get("duration") or 0.0),
        created_at=float(r["created_at"] or 0.0),
    )


class ClipLog:
    """Clip rows, one per event and camera (paths relative to the clips folder)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def add_request(self, request: ClipRequest, now: float) -> None:
        """Record a clip to make, pending (asked twice, it is one row)."""
        with self._db.transaction():
            self._db.sqlite.table("clips").insert(
                {
                    "id": clip_row_id(request.event_id, request.camera),
                    "event_id": request.event_id,
                    "camera": request.camera,
                    "start": request.start,
                    "end": request.end,
                    "status": ClipStatus.PENDING.value,
                    "created_at": now,
                    "updated_at": now,
                },
                ignore=True,
            )

    def requests(self, status: str = ClipStatus.PENDING) -> list[ClipRequest]:
        """The requests of the clips with ``status``, oldest first."""
        rows = self._db.select("clips", [("status = ?", str(status))], "created_at")
        return [ClipRequest(r["event_id"], r["camera"], r["start"], r["end"]) for r in rows]

    def for_event(self, event_id: str) -> Clip | None:
        """The event's clip (paths relative to the clips folder), or None."""
        with self._db.lock:
            rows = list(
                self._db.sqlite.table("clips").rows_where(
                    "event_id = ?", [event_id], order_by="created_at", limit=1
                )
            )
        return clip_from_row(rows[0]) if rows else None

    def get(self, clip_id: str) -> Clip | None:
        row = self._db.row("clips", clip_id)
        return clip_from_row(row) if row else None

    def find(
        self,
        *,
        since: float | None = None,
        status: str | None = None,
        path: str | None = None,
    ) -> list[Clip]:
        """Clips whose window starts at or after ``since``, oldest first."""
        rows = self._db.select(
            "clips",
            [('"start" >= ?', since), ("status = ?", status), ("path = ?", path)],
            '"start", created_at',
        )
        return [clip_from_row(r) for r in rows]

    def update(self, clip_ids: Iterable[str], **fields: Any) -> None:
        """Set ``fields`` (status, reason, path, size_bytes, frames, duration, end …) on rows."""
        ids = list(clip_ids)
        if not ids:
            return
        values = {k: (v.value if isinstance(v, Enum) else v) for k, v in fields.items()}
        values["updated_at"] = time.time()
        with self._db.transaction():
            for clip_id in ids:
                self._db.sqlite.table("clips").update(clip_id, values)

    def retention_rows(self) -> list[ClipRetention]:
        """Written clips with what retention needs from their events."""
        sql = (
            "select clips.*, events.severity as ev_severity, events.reviewed_at as ev_reviewed, "
            "events.acknowledged_at as ev_acked from clips left join events "
            "on events.id = clips.event_id where clips.status = 'written' "
            'order by clips."start"'
        )
        with self._db.lock:
            rows = list(self._db.sqlite.query(sql))
        return [
            ClipRetention(
                clip=clip_from_row(r),
                critical=(r["ev_severity"] or "") == Severity.CRITICAL.value,
                reviewed=r["ev_reviewed"] is not None or r["ev_acked"] is not None,
            )
            for r in rows
        ]
