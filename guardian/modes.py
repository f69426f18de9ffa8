"""The site mode: ``unsupervised`` (the default) or ``supervised``.

Supervised means planned activity with a responsible adult present (swimming lessons, a
pool party): rules can be limited to one mode (``modes: [unsupervised]``). A supervised
mode always ends by itself: it has an end time (given, or ``supervised_for`` after it
started, at most 24 h), and the first look at the mode after that end writes the change
back to unsupervised (source ``expiry``) — exactly once, even with several processes on
the same SQLite file.

Every change is a row of ``mode_changes`` (who, why, how: cli, schedule, prompt, expiry),
so ``guardian mode`` can say why the site is in the mode it is in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from guardian.config.durations import MAX_SUPERVISED, SUPERVISED_LIMIT
from guardian.effects import ModeRequest
from guardian.store import ModeState, Store
from guardian.timefmt import day, format_duration, hour_minute, local_date, minute
from guardian.vocab import MODES, Mode


class ModeManager:
    """Reads and switches the site mode stored in ``store``, ending supervised modes.

    ``supervised_for`` is how long a supervised mode lasts when no end is given (and the
    end of a stored supervised mode that somehow has none); ``clock`` gives "now".
    """

    def __init__(
        self,
        store: Store,
        *,
        timezone: str = "UTC",
        supervised_for: float = 7200.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < supervised_for <= MAX_SUPERVISED:
            raise ValueError(f"supervised_for must be more than 0 s — {SUPERVISED_LIMIT}")
        ZoneInfo(timezone)  # unknown zone: fail here, not at the first expiry
        self.store = store
        self.timezone = timezone
        self.supervised_for = supervised_for
        self.clock = clock

    def ends_at(self, state: ModeState) -> float | None:
        """When ``state`` ends by itself: None unless supervised."""
        if state.mode != Mode.SUPERVISED:
            return None
        return state.until if state.until is not None else state.since + self.supervised_for

    def current(self, now: float | None = None) -> ModeState:
        """The mode now. A supervised mode past its end is ended first (written once)."""
        now = self.clock() if now is None else now
        state = self.store.mode_log.latest()
        end = self.ends_at(state)
        if end is None or now < end:
            return state
        with self.store.write_transaction():
            return self._expire(now)

    def switch(
        self,
        mode: Mode | str,
        *,
        until: float | None = None,
        duration: float | None = None,
        by: str,
        reason: str = "",
        source: str,
    ) -> ModeState:
        """Switch to ``mode`` and record who, why and how (``source``: cli, schedule, …).

        Supervised ends at ``until`` (epoch seconds) or after ``duration`` seconds, else
        after ``supervised_for``; at most 24 h from now. Unsupervised has no end: ``until``
        and ``duration`` are ignored. Raises ValueError for an unknown mode or a bad end.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode '{mode}' — use one of: {', '.join(MODES)}")
        mode = Mode(mode)
        if until is not None and duration is not None:
            raise ValueError("give an end time or a duration for the supervised mode, not both")
        now = self.clock()
        end: float | None = None
        if mode == Mode.SUPERVISED:
            if duration is not None:
                if not duration > 0:
                    raise ValueError("the duration of a supervised mode must be more than 0")
                if duration > MAX_SUPERVISED + 1e-6:  # before any date is made of it
                    raise ValueError(f"{SUPERVISED_LIMIT} — not {format_duration(duration)}")
                end = now + duration
            else:
                end = until if until is not None else now + self.supervised_for
            if not end - now <= MAX_SUPERVISED + 1e-6:  # also a NaN end
                try:
                    when = minute(end, self.timezone)
                except (OverflowError, OSError, ValueError):
                    when = "that end"
                raise ValueError(
                    f"{SUPERVISED_LIMIT} — {when} is {format_duration(end - now)} away"
                )
            when = minute(end, self.timezone)
            if end <= now:
                raise ValueError(f"the end of the supervised mode ({when}) has already passed")
        request = ModeRequest(mode, end, by=by, reason=reason, source=source)
        with self.store.write_transaction():
            self._expire(now)  # an ended supervised mode is recorded as ended first
            return self.store.mode_log.add(request, now)

    def _expire(self, now: float) -> ModeState:
        """Inside a write transaction: end the stored supervised mode if it is over."""
        state = self.store.mode_log.latest()
        end = self.ends_at(state)
        if end is None or now < end:
            return state  # not due, or another caller has just written the expiry
        when = hour_minute(end, self.timezone)
        if local_date(end, self.timezone) != local_date(now, self.timezone):
            when += f" on {day(end, self.timezone)}"
        request = ModeRequest(
            Mode.UNSUPERVISED,
            None,
            by="guardian",
            reason=f"supervised mode ended at {when}",
            source="expiry",
        )
        # dated when it really ended (never before the change it ends), not when noticed
        return self.store.mode_log.add(request, max(end, state.since))


__all__ = [
    "MODES",
    "Mode",
    "ModeManager",
]
