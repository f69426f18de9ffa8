"""What watched when: camera health over a time window, and each camera's health now.

``guardian run`` writes one ``watch`` row per run and camera with a heartbeat every few
seconds, and the cameras' problems (offline, frozen, obstructed, too dark, moved) as
spans (see :class:`guardian.records.WatchSpan` and :class:`~guardian.records.HealthSpan`).
This module turns those rows into what people read:

* :func:`health_report` — for a window [since, until) (a night on the review page, the
  digest's range): per enabled camera, the intervals it was watched (runs merged), the
  gaps when nothing watched it (Guardian stopped, crashed, not started) and its problems,
  clipped to the window; :meth:`HealthReport.headline` renders one line such as
  ``watched 22:00–07:00: pool camera offline 02:14–02:31`` in the site's time zone (with
  dates when the window lasts a day or more).
* :func:`site_health` — each enabled camera now, for ``guardian status`` and ``/healthz``:
  ok, its open problems, starting (no frame yet), not running (its run stopped or its
  heartbeat is older than :data:`STALE_AFTER`), or never watched.

Everything here only reads the store; times are epoch seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from guardian.records import HealthProblem, HealthSpan, WatchSpan
from guardian.store import Store
from guardian.timefmt import day, day_month_minute, hour_minute

#: a run whose last heartbeat is older than this is not running (it beats every ~5 s);
#: watched intervals closer than this are one interval, and shorter gaps are not reported
STALE_AFTER = 15.0
#: windows this long or longer show dates with their times (a time of day alone could
#: then be on either day)
_ONE_DAY = 24 * 3600.0
#: problems listed per camera in a headline (the rest are counted)
MAX_LISTED = 4

#: how a person reads each problem
PROBLEM_WORDS: dict[HealthProblem, str] = {
    HealthProblem.OFFLINE: "offline",
    HealthProblem.STALLED: "frozen",
    HealthProblem.OBSTRUCTED: "obstructed",
    HealthProblem.TOO_DARK: "too dark",
    HealthProblem.MOVED: "moved",
}


class GapReason(StrEnum):
    """Why nothing watched a camera for a while."""

    NOT_STARTED = "not_started"  #: no run had started yet (in this window)
    STOPPED = "stopped"  #: the run before the gap stopped cleanly
    CRASHED = "crashed"  #: the run before the gap stopped without saying so


_GAP_WORDS = {
    GapReason.NOT_STARTED: "Guardian not running",
    GapReason.STOPPED: "Guardian stopped",
    GapReason.CRASHED: "Guardian stopped unexpectedly",
}


@dataclass(frozen=True, slots=True)
class Interval:
    """[start, end) in epoch seconds."""

    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Gap:
    """A time nothing watched the camera, and why."""

    start: float
    end: float
    reason: GapReason
    #: the gap lasts up to the end of the report (nothing watches it now)
    open: bool = False


@dataclass(frozen=True, slots=True)
class ProblemInterval:
    """A camera problem clipped to the window; ``open`` while it still lasts."""

    problem: HealthProblem
    start: float
    end: float
    open: bool


@dataclass(frozen=True, slots=True)
class CameraReport:
    """One camera over the window."""

    camera: str
    watched: tuple[Interval, ...]
    gaps: tuple[Gap, ...]
    problems: tuple[ProblemInterval, ...]
    #: watched at the end of the report (its run is running now)
    live: bool

    @property
    def ok(self) -> bool:
        """Watched the whole window, without a problem."""
        return bool(self.watched) and not self.gaps and not self.problems

    @property
    def watched_seconds(self) -> float:
        return sum(i.seconds for i in self.watched)


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The site's cameras over [start, end): ``end`` is the window's end or, for a
    window still going on, ``now``."""

    start: float
    end: float
    timezone: str
    cameras: tuple[CameraReport, ...]
    #: the window is still going on (``end`` is now, before the window's own end)
    ongoing: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.cameras) and all(c.ok for c in self.cameras)

    @property
    def started(self) -> bool:
        """False for a window that has not begun yet (nothing to say)."""
        return self.end > self.start

    @property
    def watched(self) -> Interval | None:
        """From the first watched moment of any camera to the last (None: none)."""
        spans = [i for c in self.cameras for i in c.watched]
        if not spans:
            return None
        return Interval(min(i.start for i in spans), max(i.end for i in spans))

    # -- words --------------------------------------------------------------------------
    def clock(self, ts: float) -> str:
        """A time as the report writes it: HH:MM, with the date for a long window."""
        return _fmt(ts, self.timezone, long=self.long)

    @property
    def long(self) -> bool:
        """A window of a day or more: times are written with their dates."""
        return self.end - self.start >= _ONE_DAY

    def span(self, start: float, end: float, *, open: bool = False, dash: str = "–") -> str:
        """``02:14–02:31``, ``since 02:14``, or ``02:14 (40 s)`` within one minute."""
        first = self.clock(start)
        if open:
            return f"since {first}"
        last = self.clock(end)
        if last == first:
            return f"{first} ({round(end - start)} s)"
        if self.long and _day(start, self.timezone) == _day(end, self.timezone):
            last = _fmt(end, self.timezone, long=False)  # 23 Nov 02:14–02:31
        return f"{first}{dash}{last}"

    def issues(self, camera: CameraReport, *, dash: str = "–") -> list[str]:
        """What went wrong with one camera, oldest first: its problems, and the times
        nothing watched it (inside the watched hours, or after a crash)."""
        hull = self.watched
        found: list[tuple[float, str]] = []
        name = camera_name(camera.camera)
        if not camera.watched:
            return [f"{name} not watched"]
        for p in camera.problems:
            words = PROBLEM_WORDS.get(p.problem, str(p.problem))
            found.append(
                (p.start, f"{name} {words} {self.span(p.start, p.end, open=p.open, dash=dash)}")
            )
        for g in camera.gaps:
            lo, hi, is_open = g.start, g.end, g.open
            if g.reason is not GapReason.CRASHED and hull is not None:
                # before the first or after the last watched moment the hours say it
                lo, hi = max(lo, hull.start), min(hi, hull.end)
                is_open = is_open and hi == g.end
            if hi - lo >= STALE_AFTER:
                when = self.span(lo, hi, open=is_open, dash=dash)
                found.append((lo, f"{name} not watched {when} ({_GAP_WORDS[g.reason]})"))
        found.sort(key=lambda item: item[0])
        lines = [text for _, text in found]
        if len(lines) > MAX_LISTED:
            lines = [*lines[:MAX_LISTED], f"{name}: {len(lines) - MAX_LISTED} more"]
        return lines

    def headline(self, *, dash: str = "–") -> str:
        """One line: ``watched 22:00–07:00: pool camera offline 02:14–02:31``."""
        if not self.started:
            return "not started yet"
        if not self.cameras:
            return "no camera is enabled"
        hull = self.watched
        if hull is None:
            when = self.span(self.start, self.end, open=self.ongoing, dash=dash)
            return f"not watched {when}: Guardian was not running"
        live = any(c.live and c.watched and c.watched[-1].end >= hull.end for c in self.cameras)
        watched = self.span(hull.start, hull.end, open=live, dash=dash)
        issues = self.all_issues(dash=dash)
        return f"watched {watched}: " + ("; ".join(issues) if issues else "no camera problems")

    def all_issues(self, *, dash: str = "–") -> list[str]:
        """Every camera's :meth:`issues` (empty: nothing to say but the watched hours)."""
        return [line for c in self.cameras for line in self.issues(c, dash=dash)]


def camera_name(camera: str) -> str:
    """``pool`` → ``pool camera`` (an id that already says camera is kept)."""
    return camera if "cam" in camera.lower() else f"{camera} camera"


def _fmt(ts: float, timezone: str, *, long: bool) -> str:
    return day_month_minute(ts, timezone) if long else hour_minute(ts, timezone)


def _day(ts: float, timezone: str) -> str:
    return day(ts, timezone)


def _live(span: WatchSpan, now: float, stale_after: float) -> bool:
    return span.ended is None and now - span.last_beat <= stale_after


def _merge(intervals: Iterable[Interval], slack: float) -> list[Interval]:
    merged: list[Interval] = []
    for i in sorted(intervals, key=lambda i: i.start):
        if merged and i.start <= merged[-1].end + slack:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, i.end))
        else:
            merged.append(i)
    return merged


def _camera_report(
    camera: str,
    spans: Sequence[WatchSpan],
    problems: Sequence[HealthSpan],
    *,
    start: float,
    end: float,
    now: float,
    stale_after: float,
) -> CameraReport:
    # each run's watched time: to its clean stop, its last heartbeat, or now when live
    ends = {s.run_id: (end if _live(s, now, stale_after) else s.until) for s in spans}
    raw = [
        Interval(max(s.started, start), min(ends[s.run_id], end))
        for s in spans
        if min(ends[s.run_id], end) > max(s.started, start)
    ]
    watched = _merge(raw, stale_after)
    live = any(_live(s, now, stale_after) for s in spans) and end >= now - stale_after

    gaps: list[Gap] = []
    cursor = start
    for interval in [*watched, Interval(end, end)]:
        if interval.start - cursor >= stale_after:
            before = [s for s in spans if s.until <= cursor + stale_after and s.started < cursor]
            if not before:
                reason = GapReason.NOT_STARTED
            else:
                last = max(before, key=lambda s: s.until)
                reason = GapReason.STOPPED if last.ended is not None else GapReason.CRASHED
            is_open = interval.start == end and end >= now - stale_after
            gaps.append(Gap(cursor, interval.start, reason, is_open))
        cursor = max(cursor, interval.end)

    by_run = {s.run_id: s for s in spans}
    clipped: list[ProblemInterval] = []
    for p in problems:
        run = by_run.get(p.run_id)
        if p.ended is not None:
            p_end, is_open = p.ended, False
        elif run is not None and _live(run, now, stale_after):
            p_end, is_open = end, end >= now - stale_after  # still going on
        else:  # its run died (or is unknown): nobody knows after its last heartbeat
            p_end, is_open = (run.until if run is not None else p.started), False
        lo, hi = max(p.started, start), min(p_end, end)
        if hi > lo or (is_open and hi >= lo):
            clipped.append(ProblemInterval(p.problem, lo, hi, is_open))
    return CameraReport(
        camera=camera,
        watched=tuple(watched),
        gaps=tuple(gaps),
        problems=tuple(_merge_problems(clipped, stale_after)),
        live=live,
    )


def _merge_problems(problems: list[ProblemInterval], slack: float) -> list[ProblemInterval]:
    """The same problem flapping (02:14–02:15, 02:15:05–02:31) reads as one span."""
    merged: list[ProblemInterval] = []
    for p in sorted(problems, key=lambda p: (p.start, p.problem)):
        same = [i for i, m in enumerate(merged) if m.problem == p.problem]
        if same and p.start <= merged[same[-1]].end + slack:
            last = merged[same[-1]]
            merged[same[-1]] = ProblemInterval(
                p.problem, last.start, max(last.end, p.end), last.open or p.open
            )
        else:
            merged.append(p)
    return merged


def health_report(
    store: Store,
    *,
    since: float,
    until: float,
    now: float,
    timezone: str,
    cameras: Sequence[str],
    stale_after: float = STALE_AFTER,
) -> HealthReport:
    """The enabled ``cameras`` over [since, until) (cut at ``now`` while it goes on)."""
    end = max(since, min(until, now))
    spans = store.camera_health.watch_spans(since=since, until=end) if end > since else []
    problems = store.camera_health.spans(since=since, until=end) if end > since else []
    reports = tuple(
        _camera_report(
            camera,
            [s for s in spans if s.camera == camera],
            [p for p in problems if p.camera == camera],
            start=since,
            end=end,
            now=now,
            stale_after=stale_after,
        )
        for camera in cameras
    )
    return HealthReport(
        start=since, end=end, timezone=timezone, cameras=reports, ongoing=end < until
    )


# -- now: `guardian status` and /healthz -------------------------------------------------


class CameraState(StrEnum):
    OK = "ok"  #: watched, frames coming, no problem
    PROBLEM = "problem"  #: watched, but with open problems (offline, frozen, …)
    STARTING = "starting"  #: its run has started but no frame has been processed yet
    NOT_RUNNING = "not_running"  #: its run stopped, or its heartbeat is stale
    NEVER_WATCHED = "never_watched"  #: no run ever watched it


class Overall(StrEnum):
    OK = "ok"  #: every enabled camera is watched and healthy
    DEGRADED = "degraded"  #: some are, some are not
    DOWN = "down"  #: none is


@dataclass(frozen=True, slots=True)
class OpenProblem:
    """A problem a camera has now, since when (None: known only from the heartbeat)."""

    problem: HealthProblem
    since: float | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class CameraStatus:
    """One enabled camera now."""

    camera: str
    state: CameraState
    #: its latest run (None: never watched)
    run_started: float | None = None
    last_beat: float | None = None
    #: when its latest run stopped cleanly (None: running, crashed or never watched)
    stopped: float | None = None
    last_frame: float | None = None
    #: frames per second processed (None unless running)
    fps: float | None = None
    problems: tuple[OpenProblem, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.state is CameraState.OK


@dataclass(frozen=True, slots=True)
class SiteHealth:
    """Every enabled camera now."""

    now: float
    cameras: tuple[CameraStatus, ...]

    @property
    def overall(self) -> Overall:
        healthy = sum(1 for c in self.cameras if c.healthy)
        if self.cameras and healthy == len(self.cameras):
            return Overall.OK
        return Overall.DEGRADED if healthy else Overall.DOWN

    @property
    def healthy(self) -> bool:
        return self.overall is Overall.OK


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """A problem's detail with any ``user:password@`` of a URL blanked."""
    return _CREDENTIALS.sub("***@", text)


def site_health(
    store: Store, cameras: Sequence[str], now: float, *, stale_after: float = STALE_AFTER
) -> SiteHealth:
    """Each of ``cameras`` (the site's enabled cameras) now, from its latest run."""
    latest = {w.camera: w for w in store.camera_health.latest_watch()}
    out: list[CameraStatus] = []
    for camera in cameras:
        span = latest.get(camera)
        if span is None:
            out.append(CameraStatus(camera, CameraState.NEVER_WATCHED))
            continue
        if not _live(span, now, stale_after):
            out.append(
                CameraStatus(
                    camera,
                    CameraState.NOT_RUNNING,
                    run_started=span.started,
                    last_beat=span.last_beat,
                    stopped=span.ended,
                    last_frame=span.last_frame,
                )
            )
            continue
        open_spans = [
            p
            for p in store.camera_health.spans(camera=camera, open_only=True)
            if p.run_id == span.run_id
        ]
        problems = [OpenProblem(p.problem, p.started, redact(p.detail)) for p in open_spans]
        known = {p.problem for p in problems}
        problems += [OpenProblem(p, None) for p in span.problems if p not in known]
        if problems:
            state = CameraState.PROBLEM
        elif span.last_frame is None:
            state = CameraState.STARTING
        else:
            state = CameraState.OK
        out.append(
            CameraStatus(
                camera,
                state,
                span.started,
                span.last_beat,
                span.ended,
                span.last_frame,
                span.fps,
                tuple(problems),
            )
        )
    return SiteHealth(now=now, cameras=tuple(out))


__all__ = [
    "MAX_LISTED",
    "PROBLEM_WORDS",
    "STALE_AFTER",
    "CameraReport",
    "CameraState",
    "CameraStatus",
    "Gap",
    "GapReason",
    "HealthReport",
    "Interval",
    "OpenProblem",
    "Overall",
    "ProblemInterval",
    "SiteHealth",
    "camera_name",
    "health_report",
    "redact",
    "site_health",
]
