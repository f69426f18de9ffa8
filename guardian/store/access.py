"""Who may get in: failed and running login checks per client (lockout), review-page
sessions (revocable), and the inbound message ids already handled (a replayed SMS reply
does nothing)."""

from __future__ import annotations

import math

from guardian.store.database import Database


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class AccessLog:
    """Login throttling, review sessions and inbound message ids."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def login_locked_until(self, key: str, now: float) -> float | None:
        """When the lockout of ``key`` (a client address) ends, or None if not locked.

        A stored end that is not a finite number (written by an older build from an
        unbounded ``review.lockout``) counts as a lockout ending a day from ``now``.
        """
        with self._db.lock:
            rows = list(self._db.sqlite.table("login_failures").rows_where("key = ?", [key]))
        locked = rows[0]["locked_until"] if rows else None
        if locked is None or math.isnan(locked):
            return None
        if math.isinf(locked):
            return now + 86400.0 if locked > 0 else None
        return float(locked) if locked > now else None

    def record_login_failure(
        self, key: str, *, now: float, max_failures: int, lockout: float
    ) -> float | None:
        """Count a failed login; after ``max_failures`` in a row, lock ``key`` out.

        Returns when the lockout ends if this failure started one, else None.
        """
        with self._db.transaction():
            table = self._db.sqlite.table("login_failures")
            rows = list(table.rows_where("key = ?", [key]))
            failures = int(rows[0]["failures"] or 0) if rows else 0
            locked_until: float | None = None
            failures += 1
            if failures >= max_failures:
                locked_until, failures = now + lockout, 0
            kept = _finite_or_none(rows[0]["locked_until"]) if rows else None
            table.upsert(
                {
                    "key": key,
                    "failures": failures,
                    "last_at": now,
                    # a late failure never shortens nor clears a lockout already there
                    "locked_until": max(x for x in (locked_until, kept, 0.0) if x is not None)
                    or None,
                },
                pk="key",
            )
        return locked_until

    def clear_login_failures(self, key: str) -> None:
        with self._db.transaction():
            self._db.sqlite.execute("delete from login_failures where key = ?", [key])

    def begin_login_attempt(
        self,
        key: str,
        *,
        now: float,
        max_failures: int,
        lockout: float,
        stale_after: float = 60.0,
    ) -> float | None:
        """Reserve one password check for ``key`` (a client address), atomically.

        Returns None when the attempt may go on (then :meth:`finish_login_attempt` must
        follow), or until when ``key`` is refused: locked out, or ``max_failures`` counted
        failures and checks still running already. So concurrent guesses cannot pass
        more than ``max_failures`` checks per lockout. A stored lockout longer than
        ``lockout`` (or not a number) is cut to ``lockout`` from now; reservations older
        than ``stale_after`` seconds (a process killed mid-check) are forgotten.
        """
        with self._db.transaction():
            row = self._db.sqlite.execute(
                "select failures, locked_until, pending, reserved_at from login_failures "
                "where key = ?",
                [key],
            ).fetchone()
            failures, locked, pending, reserved_at = row if row else (0, None, 0, None)
            failures, pending = int(failures or 0), int(pending or 0)
            if pending and (reserved_at is None or abs(now - reserved_at) > stale_after):
                pending = 0
            if locked is not None and (math.isnan(locked) or locked > now + lockout):
                locked = now + lockout
            if locked is not None and locked > now:
                self._db.sqlite.execute(
                    "update login_failures set locked_until = ? where key = ?", [locked, key]
                )
                return float(locked)
            if failures + pending >= max_failures:
                return now + 1.0  # the last checks allowed are running: refused for now
            self._db.sqlite.execute(
                "insert into login_failures (key, failures, last_at, locked_until, pending, "
                "reserved_at) values (?, ?, ?, null, ?, ?) on conflict(key) do update set "
                "failures = excluded.failures, locked_until = null, pending = excluded.pending, "
                "reserved_at = excluded.reserved_at",
                [key, failures, now, pending + 1, now],
            )
        return None

    def finish_login_attempt(
        self, key: str, *, ok: bool, now: float, max_failures: int, lockout: float
    ) -> float | None:
        """End an attempt reserved by :meth:`begin_login_attempt`.

        A right password clears the failures; a wrong one counts, and the failure that
        reaches ``max_failures`` locks ``key`` out for ``lockout`` seconds. Returns when
        that lockout ends, else None. A failure never shortens nor clears a lockout.
        """
        with self._db.transaction():
            row = self._db.sqlite.execute(
                "select failures, locked_until, pending from login_failures where key = ?", [key]
            ).fetchone()
            failures, locked, pending = row if row else (0, None, 0)
            pending = max(0, int(pending or 0) - 1)
            if ok:
                if pending:
                    self._db.sqlite.execute(
                        "update login_failures set failures = 0, locked_until = null, "
                        "pending = ? where key = ?",
                        [pending, key],
                    )
                else:
                    self._db.sqlite.execute("delete from login_failures where key = ?", [key])
                return None
            failures = int(failures or 0) + 1
            started: float | None = None
            if failures >= max_failures:
                started, failures = now + lockout, 0
                locked = max(started, _finite_or_none(locked) or 0.0)
            self._db.sqlite.execute(
                "insert into login_failures (key, failures, last_at, locked_until, pending, "
                "reserved_at) values (?, ?, ?, ?, ?, null) on conflict(key) do update set "
                "failures = excluded.failures, last_at = excluded.last_at, "
                "locked_until = excluded.locked_until, pending = excluded.pending",
                [key, failures, now, locked, pending],
            )
        return started

    def add_review_session(
        self, session_id: str, user: str, *, created_at: float, expires_at: float
    ) -> None:
        """Record a review-page login (sessions that ended are pruned)."""
        with self._db.transaction():
            self._db.sqlite.execute(
                "delete from review_sessions where expires_at < ? or revoked_at < ?",
                [created_at, created_at - 86400.0],
            )
            self._db.sqlite.execute(
                "insert into review_sessions (id, user, created_at, expires_at) "
                "values (?, ?, ?, ?)",
                [session_id, user, created_at, expires_at],
            )

    def review_session_active(self, session_id: str, now: float) -> bool:
        """True while the session exists, has not expired and was not logged out."""
        with self._db.lock:
            row = self._db.sqlite.execute(
                "select 1 from review_sessions where id = ? and expires_at > ? "
                "and revoked_at is null",
                [session_id, now],
            ).fetchone()
        return row is not None

    def revoke_review_session(self, session_id: str, now: float) -> bool:
        """End a session (logout); False when it was not active."""
        with self._db.transaction():
            cursor = self._db.sqlite.execute(
                "update review_sessions set revoked_at = ? where id = ? and revoked_at is null",
                [now, session_id],
            )
            return bool(cursor.rowcount)

    def claim_inbound_message(self, sid: str, *, sender: str, now: float) -> bool:
        """Record an inbound message id (Twilio's MessageSid); False when already seen."""
        with self._db.transaction():
            cursor = self._db.sqlite.execute(
                "insert or ignore into inbound_messages (sid, received_at, sender) "
                "values (?, ?, ?)",
                [sid, now, sender],
            )
            return bool(cursor.rowcount)

    def forget_inbound_message(self, sid: str) -> None:
        """Undo :meth:`claim_inbound_message` (handling it failed: a retry may come)."""
        with self._db.transaction():
            self._db.sqlite.execute("delete from inbound_messages where sid = ?", [sid])
