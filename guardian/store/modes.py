"""The site mode's history (table ``mode_changes``): who switched to what, when, why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from guardian.effects import ModeRequest
from guardian.store.database import Database
from guardian.vocab import Mode


@dataclass(frozen=True, slots=True)
class ModeState:
    """The site's mode as stored: what, since when, until when, who, why, how."""

    mode: Mode
    since: float
    until: float | None
    by: str
    reason: str
    source: str


#: the mode of a site that has never switched
DEFAULT_MODE = ModeState(Mode.UNSUPERVISED, 0.0, None, "", "default", "default")


def mode_from_row(r: dict[str, Any]) -> ModeState:
    return ModeState(
        mode=Mode(r["mode"]),
        since=float(r["changed_at"]),
        until=r["until"],
        by=r["by"] or "",
        reason=r["reason"] or "",
        source=r["source"] or "",
    )


class ModeLog:
    """Mode changes, newest last; the latest is the site's mode (expiry is
    :mod:`guardian.modes`' business)."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def latest(self) -> ModeState:
        """The latest stored mode, or :data:`DEFAULT_MODE` on a site that never switched."""
        changes = self.changes(limit=1)
        return changes[0] if changes else DEFAULT_MODE

    def add(self, request: ModeRequest, now: float) -> ModeState:
        """Record a switch at ``now``; a supervised one lasts until ``request.until`` (or
        ``now + request.duration``)."""
        with self._db.transaction():
            previous = self.latest().mode
            supervised = request.mode == Mode.SUPERVISED
            until = request.until
            if until is None and request.duration is not None and supervised:
                until = now + request.duration
            row = {
                "mode": str(request.mode),
                "previous": str(previous),
                "changed_at": now,
                "until": until if supervised else None,
                "by": request.by,
                "reason": request.reason,
                "source": request.source,
            }
            self._db.sqlite.table("mode_changes").insert(row)
        return mode_from_row(row)

    def changes(self, limit: int = 20) -> list[ModeState]:
        """The latest changes, newest first."""
        with self._db.lock:
            rows = list(
                self._db.sqlite.table("mode_changes").rows_where(
                    order_by="changed_at desc, id desc", limit=limit
                )
            )
        return [mode_from_row(r) for r in rows]
