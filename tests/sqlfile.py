"""Raw SQL on a site's SQLite file, for tests that set up or inspect what the store's
public methods do not (a row back-dated, an update made "by another process")."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any


def run_sql(path: Path, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on ``path`` from a connection of its own, committed; its rows."""
    with closing(sqlite3.connect(path, timeout=10.0)) as conn, conn:
        return conn.execute(sql, params).fetchall()
