"""Rules' durable state (table ``rule_state``): JSON values by rule and key, written with
the events that changed them so a restart resumes timers where they were."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from guardian.effects import StateChange
from guardian.store.database import Database


class RuleStates:
    """Rule id → key → JSON value; a change with no value deletes its key."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def apply(self, changes: Iterable[StateChange], now: float) -> None:
        """Write (or, when ``value`` is None, delete) each entry, stamped ``now``."""
        with self._db.transaction():
            table = self._db.sqlite.table("rule_state")
            for change in changes:
                if change.value is None:
                    self._db.sqlite.execute(
                        "delete from rule_state where rule_id = ? and key = ?",
                        [change.rule_id, change.key],
                    )
                else:
                    table.upsert(
                        {
                            "rule_id": change.rule_id,
                            "key": change.key,
                            "value": json.dumps(change.value),
                            "updated_at": now,
                        },
                        pk=("rule_id", "key"),
                    )

    def load(self) -> dict[str, dict[str, object]]:
        """Every rule's durable state: rule id → key → value."""
        out: dict[str, dict[str, object]] = {}
        with self._db.lock:
            rows = list(self._db.sqlite.table("rule_state").rows_where())
        for r in rows:
            out.setdefault(r["rule_id"], {})[r["key"]] = json.loads(r["value"])
        return out

    def get(self, rule_id: str) -> Iterator[tuple[str, object]]:
        """One rule's (key, value) entries."""
        with self._db.lock:
            rows = list(self._db.sqlite.table("rule_state").rows_where("rule_id = ?", [rule_id]))
        for r in rows:
            yield r["key"], json.loads(r["value"])
