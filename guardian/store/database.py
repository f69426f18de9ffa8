"""The site's SQLite file: one connection (WAL, through sqlite-utils), its lock, and
transactions.

Every repository of :mod:`guardian.store` is given the same :class:`Database`. Writes go
through :meth:`Database.transaction`, which nests: only the outermost block commits (or
rolls back), so one repository's write can be part of another's, and
:meth:`~guardian.store.Store.commit` can put a whole batch in ONE transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import sqlite_utils

#: seconds a write waits for another process holding the database (SQLite's busy timeout)
BUSY_TIMEOUT = 30.0

#: what a database call raises when it fails (busy, closed, disk full …)
DatabaseError = sqlite3.Error
#: what a write raises when another process held the database longer than the patience
DatabaseBusy = sqlite3.OperationalError


class PatientLock:
    """The database's lock (re-entrant). Taking it sets SQLite's busy timeout to the taking
    thread's patience, so the rule thread waits less for another process than a command."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._rlock = threading.RLock()

    def __enter__(self) -> PatientLock:
        self._rlock.acquire()
        try:
            self._database.apply_patience()
        except sqlite3.ProgrammingError:  # closed: the caller's own call says so
            pass
        except BaseException:
            self._rlock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._rlock.release()


class Database:
    """One SQLite connection shared by threads, guarded by :attr:`lock`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # another process (a backup, an sqlite3 shell, the review server) may hold the
        # database for a while: wait for it rather than fail (the run's rule thread
        # asks for a shorter wait per commit and keeps its events in memory meanwhile)
        self.sqlite = sqlite_utils.Database(
            sqlite3.connect(path, check_same_thread=False, timeout=BUSY_TIMEOUT)
        )
        self.sqlite.enable_wal()
        self.sqlite.execute("PRAGMA synchronous=NORMAL")
        self.sqlite.execute("PRAGMA foreign_keys=ON")
        #: how long each thread's writes wait for another process (see :meth:`patience`)
        self._patience = threading.local()
        self._busy_now = BUSY_TIMEOUT
        #: nesting depth of :meth:`transaction` (only read and written under the lock)
        self._depth = 0
        self.lock = PatientLock(self)

    def close(self) -> None:
        with self.lock:
            self.sqlite.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and one SQLite transaction that takes the write lock first
        (BEGIN IMMEDIATE, waiting at most this thread's patience for another process).

        Nested blocks join the outer one: only the outermost commits (or rolls back on an
        exception). What is read inside cannot be changed by another process before the
        writes, so two processes never act twice on the same state.
        """
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            try:
                with self.sqlite.conn:  # commits, or rolls back on an exception
                    # begun here, not by sqlite-utils: its writes then join this
                    # transaction (as savepoints) instead of committing on their own
                    if not self.sqlite.conn.in_transaction:
                        self.sqlite.conn.execute("BEGIN IMMEDIATE")
                    yield
            finally:
                self._depth = 0

    def write_transaction(self) -> AbstractContextManager[None]:
        """:meth:`transaction`, named for read-then-write blocks that another process may
        run at the same time (two expiries, two escalation ticks): the second waits for
        the first to commit and then reads what it wrote."""
        return self.transaction()

    @contextmanager
    def patience(self, seconds: float | None) -> Iterator[None]:
        """Inside the block, this thread's writes wait at most ``seconds`` for another
        process holding the database, then raise :data:`DatabaseBusy`."""
        if seconds is None:
            yield
            return
        before = getattr(self._patience, "seconds", None)
        self._patience.seconds = seconds
        try:
            yield
        finally:
            self._patience.seconds = before

    def set_patience(self, seconds: float | None) -> None:
        """From now on, this thread's writes wait at most ``seconds`` (None: the default
        :data:`BUSY_TIMEOUT`) for another process holding the database."""
        self._patience.seconds = seconds

    def apply_patience(self) -> None:
        """Under the lock: SQLite's busy timeout set to the calling thread's patience."""
        wanted = getattr(self._patience, "seconds", None)
        wanted = BUSY_TIMEOUT if wanted is None else max(0.0, wanted)
        if wanted != self._busy_now:
            self.sqlite.execute(f"PRAGMA busy_timeout = {int(wanted * 1000)}")
            self._busy_now = wanted

    def select(
        self, table: str, conditions: Iterable[tuple[str, Any]], order_by: str
    ) -> list[dict[str, Any]]:
        """Rows of ``table`` matching every condition whose value is not None."""
        given = [(sql, value) for sql, value in conditions if value is not None]
        where = " and ".join(sql for sql, _ in given) or None
        with self.lock:
            return list(
                self.sqlite.table(table).rows_where(
                    where, [value for _, value in given], order_by=order_by
                )
            )

    def row(self, table: str, key: object) -> dict[str, Any] | None:
        """The row of ``table`` whose ``id`` is ``key``, or None."""
        with self.lock:
            rows = list(self.sqlite.table(table).rows_where("id = ?", [key]))
        return rows[0] if rows else None
