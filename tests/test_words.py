"""Words for people: one time zone (the site's) in events, messages, console lines and
logs; people named, never numbered; durations a person reads; `guardian mode --for`;
`guardian review` and `guardian digest` on the same night, with dates; a broken pipe.

Observations come from the rule simulator (the real zone tracker on scripted people),
the store is a real SQLite file, and the commands run as real child processes where
the machine's own time zone or a real pipe matters.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from corpus import require_corpus
from reviewsite import add_event
from rulesim import T0, P, Sim, rules_from

from guardian.alerts import ConsoleNotifier, Outbox
from guardian.cli import main
from guardian.config import load_site
from guardian.dispatch import Dispatcher
from guardian.modes import ModeManager
from guardian.records import Observation, Posture, PostureReading, Severity
from guardian.rules import RuleContext, RuleEngine
from guardian.store import Store

REPO = Path(__file__).resolve().parent.parent
PARIS = "Europe/Paris"
#: T0 (08:00 UTC) is 09:00 in Paris and 03:00 in New York

RULES = """
rules:
  - id: entry
    alias: Pool entry
    severity: critical
    cameras: [pool]
    triggers: [{kind: zone_enter, zones: water}]
    actions: [{kind: alert, channels: [console]}]
  - id: submersion
    alias: Possible submersion
    severity: critical
    triggers: [{kind: absent, zones: water, timeout: 5s}]
    actions: [{kind: alert, channels: [console], message: "{alias}: {message} ({time})"}]
  - id: alone
    alias: Child alone
    severity: critical
    triggers: [{kind: occupancy, zones: deck, children: ">= 1", adults: 0, for: 5s}]
    actions: [{kind: alert, channels: [console]}]
  - id: fall
    alias: A fall
    severity: warning
    triggers: [{kind: posture, state: fallen}]
    actions: [{kind: alert, channels: [console]}]
  - id: down
    alias: Still down
    severity: critical
    triggers: [{kind: posture, state: fallen, for: 10s}]
    actions: [{kind: alert, channels: [console]}]
"""

DECK, WATER = P(100, 150), P(300, 300)


@pytest.fixture
def new_york() -> Iterator[None]:
    """The machine's own time zone is New York (the site is in Paris)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@dataclasses.dataclass
class World:
    dispatcher: Dispatcher
    store: Store
    out: io.StringIO
    sim: Sim

    def play(self, seconds: float, script: dict[int, P] | None = None, **named: str) -> None:
        """Step the simulation; ``named`` gives enrolled names to track ids ("t1": "Alex")."""
        end = self.sim.now + seconds
        while self.sim.now < end - 1e-9:
            obs = self.sim.step(script or {})
            self.dispatcher.handle(_named(obs, named))

    def lines(self, prefix: str) -> list[str]:
        return [line for line in self.out.getvalue().splitlines() if line.startswith(prefix)]


def _named(obs: Observation, named: dict[str, str]) -> Observation:
    if not named:
        return obs
    tracks = tuple(
        dataclasses.replace(
            t, enrolled_id=named[f"t{t.track_id}"], person_id=named[f"t{t.track_id}"]
        )
        if f"t{t.track_id}" in named
        else t
        for t in obs.tracks
    )
    return dataclasses.replace(obs, tracks=tracks)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    store = Store(tmp_path / "guardian.db")
    engine = RuleEngine(
        rules_from(tmp_path, RULES).rules, RuleContext(timezone=PARIS, contacts=("owner",))
    )
    out = io.StringIO()
    outbox = Outbox(store, [ConsoleNotifier(out)])
    dispatcher = Dispatcher(engine, store, outbox, ModeManager(store, clock=lambda: T0), out=out)
    with store:
        yield World(dispatcher, store, out, Sim())


# -- one time zone ---------------------------------------------------------------------------
def test_event_lines_and_messages_use_the_site_time_zone(world: World, new_york: None) -> None:
    """A child walks into the water at 1 s and goes under at 2 s: the submersion alert
    said "since 03:00:01" (the machine's zone) beside events at 09:00 (the site's)."""
    world.play(1, {1: P(30, 470, role="child")})
    world.play(1, {1: P(300, 300, role="child")})
    world.play(6, {1: P(300, 300, seen=False, role="child")})
    (entry,) = [line for line in world.lines("EVENT ") if "Pool entry" in line]
    (submersion,) = [line for line in world.lines("EVENT ") if "Possible submersion" in line]
    assert entry.startswith("EVENT 2027-01-15 09:00:01 [critical] ")
    assert submersion.startswith("EVENT 2027-01-15 09:00:06 [critical] ")
    (alert,) = [line for line in world.lines("ALERT ") if "submersion" in line]
    assert "since 09:00:01" in alert and "(2027-01-15 09:00:0" in alert
    assert "03:00" not in world.out.getvalue()


def _digest_site(root: Path) -> Path:
    config = root / "guardian.yaml"
    config.write_text(
        f"site: {{name: Test pool, timezone: {PARIS}}}\n"
        "cameras: [{id: pool, source: 0}]\n"
        "contacts: [{id: owner, channels: [console]}]\n"
        "alerts: {digest: {channels: [console]}}\n"
    )
    return config


def test_log_lines_are_in_the_site_time_zone(tmp_path: Path) -> None:
    """Log times were the machine's local time while everything else was the site's."""
    config = _digest_site(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "guardian", "-v", "digest", "--send", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "America/New_York"},
    )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if "guardian.digest: digest of" in x]
    logged = datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    here = datetime.now(ZoneInfo(PARIS)).replace(tzinfo=None)
    assert abs((here - logged).total_seconds()) < 120, line


def test_a_run_on_real_footage_speaks_in_the_site_time_zone_and_names_nobody(
    tmp_path: Path,
) -> None:
    """The real model on a corpus clip (a person walks onto the floor), the machine in New
    York and the site in Paris: EVENT lines were in the machine's time, the alert said
    "track 1 entered floor", and the log lines were in the machine's time."""
    clip = require_corpus("fall", "upfall", "UPFall_S1_A06_T1_Cam1.mp4")
    (tmp_path / "zones.yaml").write_text(
        "zones:\n  - {name: floor, camera: lab, kind: room,"
        " polygon: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]}\n"
    )
    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - {id: floor_entry, alias: Someone on the floor area,"
        " triggers: [{kind: zone_enter, zones: floor}], actions: [{kind: alert}]}\n"
    )
    site = tmp_path / "site.yaml"
    site.write_text(
        f"site: {{name: Lab, timezone: {PARIS}}}\n"
        f"cameras: [{{id: lab, source: '{clip}', fps: 9, imgsz: 320}}]\n"
        "zones: [zones.yaml]\nrules: [rules.yaml]\n"
        f"storage: {{database: events.db, models: '{REPO / 'models'}'}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "guardian", "-v", "run", "--quiet", "--config", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "TZ": "America/New_York"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    here = datetime.now(ZoneInfo(PARIS)).replace(tzinfo=None)

    def near_now(text: str) -> bool:
        return abs((here - datetime.strptime(text, "%Y-%m-%d %H:%M:%S")).total_seconds()) < 900

    events = [line for line in done.stdout.splitlines() if line.startswith("EVENT ")]
    alerts = [line for line in done.stdout.splitlines() if line.startswith("ALERT ")]
    assert events and len(alerts) == len(events), done.stdout
    assert all(near_now(line[6:25]) for line in events), events
    assert all(near_now(line[-19:]) for line in alerts), alerts
    for line in events + alerts:
        assert line.count("Someone on the floor area") == 1, line
        assert "entered floor (lab/floor)" in line and not re.search(r"track \d", line), line
    logged = [line for line in done.stderr.splitlines() if " INFO guardian." in line]
    assert logged and all(near_now(line[:19]) for line in logged), logged[:3]


# -- people, not track numbers --------------------------------------------------------------
def test_people_are_named_by_role_or_name_never_by_track(world: World) -> None:
    world.play(0.5, {1: DECK, 2: P(500, 150), 3: P(520, 150), 4: P(540, 150)})
    world.play(
        1,
        {
            1: P(250, 250, role="child"),
            2: P(300, 250, role="adult"),
            3: P(350, 250),
            4: P(400, 250),
        },
        t4="Alex",
    )
    text = world.out.getvalue()
    assert "track" not in text.lower() and "#" not in text
    alerts = world.lines("ALERT [critical] Pool entry: ")
    assert sorted(a.split(": ", 1)[1].split(" (")[0] for a in alerts) == [
        "A child entered water",
        "Alex entered water",
        "An adult entered water",
        "Someone entered water",
    ]
    for line in world.lines("ALERT ") + world.lines("EVENT "):
        assert line.count("Pool entry") == 1, line  # the alias once


def test_the_submersion_message_says_the_alias_once(world: World) -> None:
    """A template "{alias}: {message}" said "Possible submersion: Possible submersion: …"."""
    world.play(1, {1: P(300, 300, role="adult")})
    world.play(6, {1: P(300, 300, seen=False, role="adult")})
    (alert,) = world.lines("ALERT [critical] Possible submersion")
    assert alert.count("Possible submersion") == 1
    assert "An adult not seen for 5 s since 09:00:00 in water (pool/water)" in alert


def test_occupancy_says_who_is_there_in_words(world: World) -> None:
    world.play(6, {1: P(100, 150, role="child")})
    (alert,) = world.lines("ALERT [critical] Child alone")
    assert "Child alone: 1 child and no adult in deck for 5 s (pool/deck)" in alert
    assert "child(ren)" not in alert and "adults ==" not in alert


def test_a_fall_is_told_without_a_zero_duration(world: World) -> None:
    """A posture rule without 'for' said "track 1 fell for 0.0s"."""
    fell = world.sim.now

    def down(now: float) -> tuple[PostureReading, ...]:
        return (PostureReading(1, Posture.LYING, fell, 0.9, fall_at=fell),)

    for _ in range(120):  # 12 s
        world.dispatcher.handle(world.sim.step({1: DECK}, down(world.sim.now)))
    (fall,) = world.lines("ALERT [warning] A fall")
    assert "A fall: Someone fell (pool) at 2027-01-15 09:00:00" in fall, fall
    (still,) = world.lines("ALERT [critical] Still down")
    assert "Someone fell and has been down for 10 s (pool)" in still, still


# -- guardian mode --for --------------------------------------------------------------------
def _mode_site(root: Path) -> Path:
    (root / "zones.yaml").write_text(
        "zones:\n  - {name: water, camera: pool, kind: water,"
        " polygon: [[0.3, 0.4], [0.7, 0.4], [0.7, 0.8], [0.3, 0.8]]}\n"
    )
    (root / "rules.yaml").write_text(
        "rules:\n"
        "  - {id: entry, alias: Someone entered the pool, severity: critical,\n"
        "     triggers: [{kind: zone_enter, zones: water}], actions: [{kind: alert}]}\n"
        "  - {id: submersion, alias: Possible submersion, severity: critical,\n"
        "     triggers: [{kind: absent, zones: water, timeout: 15s}], actions: [{kind: alert}]}\n"
    )
    config = root / "guardian.yaml"
    config.write_text(
        f"site: {{name: Test pool, timezone: {PARIS}}}\n"
        "cameras: [{id: pool, source: 0}]\nzones: [zones.yaml]\nrules: [rules.yaml]\n"
    )
    return config


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("90", 5400), ("90m", 5400), ("1h30m", 5400), ("1h30", 5400), ("2h", 7200)],
)
def test_parse_for_reads_bare_numbers_as_minutes(written: str, seconds: float) -> None:
    from guardian.timefmt import parse_for

    assert parse_for(written) == seconds


def test_mode_for_90_is_ninety_minutes_and_says_what_stays_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--for 90` was 90 seconds."""
    config = _mode_site(tmp_path)
    before = time.time()
    assert main(["mode", "supervised", "--for", "90", "--by", "sam", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    with Store(load_site(config).database_path) as store:
        state = store.mode_log.latest()
    assert state.until is not None and before + 5400 <= state.until <= time.time() + 5400
    end = datetime.fromtimestamp(state.until, ZoneInfo(PARIS))
    assert f"paused until {end:%H:%M}: Someone entered the pool" in out
    assert "still on: Possible submersion" in out
    assert "alerts are off" not in out


def test_the_24_hour_limit_does_not_say_alerts_are_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _mode_site(tmp_path)
    assert main(["mode", "supervised", "--for", "25h", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "at most 24 h" in err and "submersion alerts stay on" in err
    assert "alerts are off" not in err


def test_mode_help_says_bare_numbers_are_minutes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["mode", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "a bare number is minutes" in out and "1h30m" in out


# -- guardian review and guardian digest: the same night, with dates -----------------------
def test_review_and_digest_cover_the_same_night_with_dates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`guardian digest` looked from yesterday 00:00, `guardian review` from 18:00."""
    from guardian.review.queries import last_night

    config = _digest_site(tmp_path)
    bundle = load_site(config)
    now = time.time()
    start = last_night(now, bundle.site.review, PARIS).start
    zone = ZoneInfo(PARIS)
    night_start = datetime.fromtimestamp(start, zone)
    assert night_start.strftime("%H:%M") == "18:00"  # review.night
    inside = start + min(60.0, (now - start) / 2)
    with Store(bundle.database_path) as store:
        add_event(store, "e-night", started_at=inside, severity=Severity.CRITICAL)
        add_event(store, "e-day", started_at=start - 3600, severity=Severity.CRITICAL)

    assert main(["review", "--config", str(config)]) == 0
    review = capsys.readouterr().out
    assert main(["digest", "--config", str(config)]) == 0
    digest = capsys.readouterr().out
    assert "id=e-night" in review and "id=e-day" not in review
    assert digest.count("CRITICAL ") == 1 and "1 event(s)" in digest
    day = f"{night_start:%a %d %b}"
    assert f"{night_start:%Y-%m-%d} 18:00" in review.splitlines()[0]  # the header's date
    assert f"digest {day} 18:00 to " in digest
    when = datetime.fromtimestamp(inside, zone)
    assert f"CRITICAL {when:%a %d %b %H:%M} " in digest  # each line dated


# -- a broken pipe ----------------------------------------------------------------------------
def test_a_broken_pipe_ends_quietly(tmp_path: Path) -> None:
    """`guardian review | head -1` ended with a BrokenPipeError traceback."""
    config = _digest_site(tmp_path)
    bundle = load_site(config)
    day = datetime(2026, 11, 22, 20, 0, tzinfo=ZoneInfo(PARIS)).timestamp()
    with Store(bundle.database_path) as store:
        for i in range(1500):  # far more than a pipe holds
            add_event(store, f"e{i:04d}", started_at=day + i)
    command = ["review", "--since", "2026-11-22", "--until", "2026-11-24"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "guardian", *command, "--config", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()  # what `head -1` does
    err = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert first.startswith("1500 event(s)")
    assert code in (0, 141) and "Traceback" not in err and "BrokenPipe" not in err, err


def test_the_digest_lines_have_dates_and_the_night_default(tmp_path: Path) -> None:
    from guardian.digest import build_digest

    config = _digest_site(tmp_path)
    site = load_site(config).site
    night = datetime(2026, 11, 22, 18, 0, tzinfo=ZoneInfo(PARIS))
    with Store(tmp_path / "g.db") as store:
        add_event(store, "a", started_at=(night + timedelta(hours=8)).timestamp())
        text = build_digest(
            store, site, start=night.timestamp(), end=(night + timedelta(hours=13)).timestamp()
        ).text()
    assert text.splitlines()[0] == "Test pool digest Sun 22 Nov 18:00 to Mon 23 Nov 07:00"
    assert "WARNING Mon 23 Nov 02:00 Water entry (pool/water)" in text


def test_the_digest_looks_back_alerts_digest_hours_when_set(tmp_path: Path) -> None:
    from guardian.digest import default_window

    site = load_site(_digest_site(tmp_path)).site
    night = datetime(2026, 11, 22, 18, 0, tzinfo=ZoneInfo(PARIS)).timestamp()
    seven = night + 13 * 3600
    assert default_window(seven, site) == (night, seven)  # the night, as guardian review
    config = _digest_site(tmp_path)
    config.write_text(config.read_text().replace("[console]}}", "[console], hours: 24h}}"))
    daily = load_site(config).site
    assert default_window(seven, daily) == (seven - 86400, seven)


@pytest.mark.parametrize(
    ("alias", "message", "text"),
    [
        ("Pool entry", "A child entered water (pool/water)", "Pool entry: A child entered water"),
        ("Pool entry", "Pool entry: track 1 entered water", "Pool entry: track 1 entered water"),
        ("Gate open", "Gate open", "Gate open"),
        ("A child", "A child entered water (pool/water)", "A child: A child entered water"),
    ],
)
def test_event_text_says_the_alias_once(alias: str, message: str, text: str) -> None:
    """Events stored before the alias left the message keep reading right."""
    from guardian.records import Event
    from guardian.rules.actions import event_text

    event = Event("e", "r", alias, "pool", "water", 1, None, Severity.INFO, T0, None, message, 0)
    assert event_text(event).startswith(text)
