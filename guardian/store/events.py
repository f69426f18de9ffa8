"""Events (table ``events``), with who acknowledged and reviewed each, and when."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from guardian.records import Event
from guardian.store.database import Database
from guardian.store.prompts import PromptLog
from guardian.vocab import EventStatus, Severity


@dataclass(frozen=True, slots=True)
class ReviewedEvent:
    """An event as the review page shows it: acknowledged and reviewed by whom, when."""

    event: Event
    acknowledged_at: float | None
    acknowledged_by: str | None
    reviewed_at: float | None
    reviewed_by: str | None


def event_from_row(r: dict[str, Any]) -> Event:
    return Event(
        event_id=r["id"],
        rule_id=r["rule_id"],
        rule_alias=r["rule_alias"] or r["rule_id"],
        camera=r["camera"],
        zone=r["zone"],
        track_id=r["track_id"],
        person_id=r["person_id"],
        severity=Severity(r["severity"]),
        started_at=r["started_at"],
        ended_at=r["ended_at"],
        message=r["message"] or "",
        frame_index=r["frame_index"] if r["frame_index"] is not None else -1,
        status=EventStatus(r["status"]),
    )


def reviewed_from_row(r: dict[str, Any]) -> ReviewedEvent:
    return ReviewedEvent(
        event=event_from_row(r),
        acknowledged_at=r["acknowledged_at"],
        acknowledged_by=r["acknowledged_by"],
        reviewed_at=r["reviewed_at"],
        reviewed_by=r.get("reviewed_by"),
    )


class EventLog:
    """Events as rules recorded them; acknowledging one stops its escalations (through
    ``prompts``)."""

    def __init__(self, database: Database, prompts: PromptLog) -> None:
        self._db = database
        self._prompts = prompts

    def add(self, event: Event, now: float) -> None:
        """Record an event (written at ``now``; the same id again replaces it)."""
        row = {
            "id": event.event_id,
            "rule_id": event.rule_id,
            "rule_alias": event.rule_alias,
            "camera": event.camera,
            "zone": event.zone,
            "track_id": event.track_id,
            "person_id": event.person_id,
            "severity": event.severity.value,
            "status": event.status.value,
            "started_at": event.started_at,
            "ended_at": event.ended_at,
            "message": event.message,
            "frame_index": event.frame_index,
            "created_at": now,
        }
        with self._db.transaction():
            self._db.sqlite.table("events").insert(row, replace=True)

    def get(self, event_id: str) -> Event | None:
        row = self._db.row("events", event_id)
        return event_from_row(row) if row else None

    def find(self, *, since: float | None = None, rule_id: str | None = None) -> list[Event]:
        """Events that started at or after ``since`` (of ``rule_id``), oldest first."""
        rows = self._db.select(
            "events", [("started_at >= ?", since), ("rule_id = ?", rule_id)], "started_at"
        )
        return [event_from_row(r) for r in rows]

    def acknowledge(self, event_id: str, *, by: str, now: float | None = None) -> bool:
        """Mark an event acknowledged (and stop its escalations); False if unknown."""
        now = time.time() if now is None else now
        with self._db.transaction():
            table = self._db.sqlite.table("events")
            rows = list(table.rows_where("id = ?", [event_id]))
            if not rows:
                return False
            if rows[0]["acknowledged_at"] is None:
                table.update(
                    event_id,
                    {
                        "status": EventStatus.ACKNOWLEDGED.value,
                        "acknowledged_at": now,
                        "acknowledged_by": by,
                    },
                )
            self._prompts.stop_escalations(event_id)
        return True

    def is_acknowledged(self, event_id: str) -> bool:
        row = self._db.row("events", event_id)
        return row is not None and row["acknowledged_at"] is not None

    def mark_reviewed(self, event_id: str, *, by: str, now: float | None = None) -> bool:
        """Mark an event reviewed (kept if it already was); False if unknown."""
        now = time.time() if now is None else now
        with self._db.transaction():
            cursor = self._db.sqlite.execute(
                "update events set reviewed_at = coalesce(reviewed_at, ?), "
                "reviewed_by = coalesce(reviewed_by, ?), "
                "status = case when status = 'open' then 'reviewed' else status end "
                "where id = ?",
                [now, by, event_id],
            )
            return bool(cursor.rowcount)

    def reviewed(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        camera: str | None = None,
        rule_id: str | None = None,
        unreviewed: bool = False,
    ) -> list[ReviewedEvent]:
        """Events that started in [start, end), oldest first, with ack and review state."""
        rows = self._db.select(
            "events",
            [
                ("started_at >= ?", start),
                ("started_at < ?", end),
                ("camera = ?", camera),
                ("rule_id = ?", rule_id),
                ("reviewed_at is null and 1 = ?", 1 if unreviewed else None),
            ],
            "started_at, id",
        )
        return [reviewed_from_row(r) for r in rows]

    def reviewed_event(self, event_id: str) -> ReviewedEvent | None:
        """One event with its ack and review state, or None."""
        row = self._db.row("events", event_id)
        return reviewed_from_row(row) if row else None
