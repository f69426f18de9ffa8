"""Site modes: the ModeManager on a real SQLite file, parsing end times, the ``modes:``
section of the site file, and the `guardian mode | prompts | answer | ack` commands."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlfile import run_sql

from guardian.cli import main
from guardian.config import ConfigError, load_site
from guardian.config.site import ModesConfig, ScheduleEntry
from guardian.effects import Effects, EscalationRequest, ModeRequest, PromptRequest
from guardian.modes import MODES, ModeManager
from guardian.records import Event, Severity
from guardian.store import Store
from guardian.timefmt import format_duration, parse_until

REPO = Path(__file__).resolve().parent.parent
PARIS = "Europe/Paris"
TZ = ZoneInfo(PARIS)
#: Saturday 14 June 2025, 14:00 in Paris
NOW = datetime(2025, 6, 14, 14, 0, tzinfo=TZ).timestamp()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "guardian.db")


def _paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=TZ).timestamp()


# --------------------------------------------------------------------------- ModeManager


def test_a_new_site_is_unsupervised(store: Store) -> None:
    assert MODES == ("unsupervised", "supervised")
    state = ModeManager(store, clock=Clock()).current()
    assert (state.mode, state.until, state.source) == ("unsupervised", None, "default")
    assert store.mode_log.changes() == []  # looking writes nothing


def test_switch_records_the_mode_its_end_who_why_and_how(store: Store) -> None:
    modes = ModeManager(store, timezone=PARIS, clock=Clock())
    state = modes.switch(
        "supervised", duration=3600, by="alex", reason="swimming lessons", source="cli"
    )
    assert state == modes.current()
    assert (state.mode, state.since, state.until) == ("supervised", NOW, NOW + 3600)
    assert (state.by, state.reason, state.source) == ("alex", "swimming lessons", "cli")
    rows = run_sql(store.path, "select mode, previous, by, source from mode_changes")
    assert rows == [("supervised", "unsupervised", "alex", "cli")]


def test_supervised_without_an_end_lasts_supervised_for(store: Store) -> None:
    modes = ModeManager(store, supervised_for=5400, clock=Clock())
    assert modes.switch("supervised", by="alex", source="cli").until == NOW + 5400
    assert ModeManager(store, clock=Clock()).switch("supervised", by="a", source="cli").until == (
        NOW + 7200  # the default: 2 h
    )


def test_switch_to_supervised_until_a_time(store: Store) -> None:
    modes = ModeManager(store, timezone=PARIS, clock=Clock())
    until = _paris(2025, 6, 14, 18, 0)
    assert modes.switch("supervised", until=until, by="alex", source="cli").until == until


def test_unsupervised_has_no_end_and_ignores_until(store: Store) -> None:
    modes = ModeManager(store, clock=Clock())
    modes.switch("supervised", by="alex", source="cli")
    state = modes.switch("unsupervised", until=NOW + 60, by="alex", reason="done", source="cli")
    assert (state.mode, state.until) == ("unsupervised", None)
    assert modes.ends_at(state) is None


def test_an_unknown_mode_names_the_allowed_ones(store: Store) -> None:
    modes = ModeManager(store, clock=Clock())
    with pytest.raises(
        ValueError, match="unknown mode 'party' — use one of: unsupervised, supervised"
    ):
        modes.switch("party", by="alex", source="cli")
    assert store.mode_log.changes() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"until": NOW + 60, "duration": 60.0}, "not both"),
        ({"until": NOW - 60}, "has already passed"),
        ({"duration": 0.0}, "more than 0"),
        ({"duration": 25 * 3600.0}, "at most 24 h"),
        ({"until": NOW + 2 * 86400}, "at most 24 h"),
    ],
)
def test_bad_ends_of_a_supervised_mode_are_refused(
    store: Store, kwargs: dict[str, float], message: str
) -> None:
    modes = ModeManager(store, timezone=PARIS, clock=Clock())
    with pytest.raises(ValueError, match=message):
        modes.switch("supervised", by="alex", source="cli", **kwargs)  # type: ignore[arg-type]
    assert store.mode_log.changes() == []


def test_a_supervised_mode_ends_by_itself_and_the_expiry_is_written_once(tmp_path: Path) -> None:
    path = tmp_path / "guardian.db"
    clock = Clock()
    with Store(path) as store:
        modes = ModeManager(store, timezone=PARIS, clock=clock)
        modes.switch("supervised", until=_paris(2025, 6, 14, 18, 0), by="alex", source="cli")
        clock.now = _paris(2025, 6, 14, 17, 59)
        assert modes.current().mode == "supervised"
        clock.now = _paris(2025, 6, 14, 18, 5)
        ended = modes.current()
        assert (ended.mode, ended.by, ended.source) == ("unsupervised", "guardian", "expiry")
        assert ended.reason == "supervised mode ended at 18:00"
        assert ended.since == _paris(2025, 6, 14, 18, 0)  # when it ended, not when noticed
        for _ in range(3):
            assert modes.current() == ended
    with Store(path) as again:  # another process, later
        later = ModeManager(again, timezone=PARIS, clock=Clock(_paris(2025, 6, 15, 9, 0)))
        assert later.current() == ended
        assert [c.source for c in again.mode_log.changes()] == ["expiry", "cli"]


def test_an_expiry_noticed_the_next_day_says_which_day(store: Store) -> None:
    clock = Clock()
    modes = ModeManager(store, timezone=PARIS, clock=clock)
    modes.switch("supervised", until=_paris(2025, 6, 14, 23, 30), by="alex", source="cli")
    clock.now = _paris(2025, 6, 15, 8, 0)
    assert modes.current().reason == "supervised mode ended at 23:30 on 2025-06-14"


def test_processes_racing_on_one_expiry_write_it_once(tmp_path: Path) -> None:
    path = tmp_path / "guardian.db"
    with Store(path) as store:
        ModeManager(store, clock=Clock()).switch("supervised", duration=60, by="a", source="cli")
    stores = [Store(path) for _ in range(6)]  # one connection each, like separate processes
    barrier = threading.Barrier(len(stores))
    results: list[str] = []

    def look(store: Store) -> None:
        barrier.wait()
        results.append(ModeManager(store, clock=Clock(NOW + 120)).current().mode)

    threads = [threading.Thread(target=look, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["unsupervised"] * len(stores)
    assert [c.source for c in stores[0].mode_log.changes()] == ["expiry", "cli"]
    for store in stores:
        store.close()


def test_switching_after_an_unnoticed_end_records_the_end_first(store: Store) -> None:
    clock = Clock()
    modes = ModeManager(store, timezone=PARIS, clock=clock)
    modes.switch("supervised", duration=3600, by="alex", reason="lessons", source="cli")
    clock.now = NOW + 5 * 3600
    modes.switch("supervised", duration=600, by="sam", reason="party", source="cli")
    history = [(c.mode, c.source, c.since) for c in store.mode_log.changes()]
    assert history == [
        ("supervised", "cli", NOW + 5 * 3600),
        ("unsupervised", "expiry", NOW + 3600),
        ("supervised", "cli", NOW),
    ]


def test_a_stored_supervised_mode_without_an_end_still_ends(store: Store) -> None:
    """A prompt or a rule could store supervised with no end: supervised_for applies."""
    store.mode_log.add(ModeRequest("supervised", None, by="owner", source="prompt"), NOW)
    modes = ModeManager(store, supervised_for=3600, clock=Clock(NOW + 3599))
    assert modes.current().mode == "supervised"
    assert modes.ends_at(modes.current()) == NOW + 3600
    assert modes.current(NOW + 3600).source == "expiry"


# --------------------------------------------------------------------------- parse_until


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("18:00", (2025, 6, 14, 14, 0), (2025, 6, 14, 18, 0)),  # later today
        ("18:00", (2025, 6, 14, 19, 0), (2025, 6, 15, 18, 0)),  # passed: tomorrow
        ("14:00", (2025, 6, 14, 14, 0), (2025, 6, 15, 14, 0)),  # now is not "next"
        ("01:00", (2025, 6, 14, 23, 30), (2025, 6, 15, 1, 0)),  # across midnight
        ("8:30", (2025, 6, 14, 6, 0), (2025, 6, 14, 8, 30)),
        ("18h", (2025, 6, 14, 6, 0), (2025, 6, 14, 18, 0)),
        ("18h30", (2025, 6, 14, 6, 0), (2025, 6, 14, 18, 30)),
        ("2025-06-20 18:00", (2025, 6, 14, 6, 0), (2025, 6, 20, 18, 0)),  # in the site zone
        ("2025-06-20T18:00", (2025, 6, 14, 6, 0), (2025, 6, 20, 18, 0)),
        # the day the clocks go forward: 18:00 CEST the next day is 23 h later, not 24
        ("18:00", (2025, 3, 29, 19, 0), (2025, 3, 30, 18, 0)),
    ],
)
def test_parse_until(text: str, now: tuple[int, ...], expected: tuple[int, ...]) -> None:
    assert parse_until(text, PARIS, _paris(*now)) == _paris(*expected)


def test_parse_until_keeps_an_explicit_offset_and_uses_the_zone() -> None:
    at = parse_until("2025-06-20T18:00+00:00", PARIS, NOW)
    assert at == datetime(2025, 6, 20, 18, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    utc_now = datetime(2025, 6, 14, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # 14:00 Paris
    assert parse_until("13:00", "UTC", utc_now) - utc_now == 3600
    assert parse_until("13:00", PARIS, utc_now) - utc_now == 23 * 3600


@pytest.mark.parametrize("text", ["25:00", "6pm", "tomorrow", "", "18:60", "2025-13-01"])
def test_parse_until_says_what_to_write(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a time — write HH:MM \(e.g. 18:00"):
        parse_until(text, PARIS, NOW)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 45, 60, 90, 3599.6, 3600, 7500)] == [
        "0 s",
        "45 s",
        "1 min",
        "1 min 30 s",
        "1 h",
        "1 h",
        "2 h 5 min",
    ]


# --------------------------------------------------------------------------- site file


SITE = """\
site:
  timezone: Europe/Paris
cameras:
  - id: pool
    source: missing.mp4
"""

MODES_SECTION = """\
modes:
  supervised_for: 90m
  prompt_expires: 5m
  schedule:
    - cron: "0 14 * * sat,sun"
      mode: supervised
      for: 3h
      reason: weekend swimming lessons
    - cron: "0 20 * * *"
      mode: unsupervised
"""


def _site(tmp_path: Path, extra: str = "") -> Path:
    """A one-camera site (its video does not exist: these commands do not need it)."""
    path = tmp_path / "guardian.yaml"
    path.write_text(SITE + extra)
    return path


def _problems(tmp_path: Path, modes: str) -> list[str]:
    (tmp_path / "pool.mp4").write_bytes(b"")
    path = tmp_path / "guardian.yaml"
    path.write_text(SITE.replace("missing.mp4", "pool.mp4") + modes)
    with pytest.raises(ConfigError) as info:
        load_site(path)
    return [str(p) for p in info.value.problems]


def test_the_modes_section_has_defaults() -> None:
    modes = ModesConfig()
    assert (modes.supervised_for, modes.prompt_expires, modes.schedule) == (7200, 600, ())
    for name, field in {**ModesConfig.model_fields, **ScheduleEntry.model_fields}.items():
        assert field.description, name


def test_the_modes_section_loads(tmp_path: Path) -> None:
    (tmp_path / "pool.mp4").write_bytes(b"")
    path = tmp_path / "guardian.yaml"
    path.write_text(SITE.replace("missing.mp4", "pool.mp4") + MODES_SECTION)
    modes = load_site(path).site.modes
    assert (modes.supervised_for, modes.prompt_expires) == (5400, 300)
    lessons, evening = modes.schedule
    assert (lessons.cron, lessons.mode, lessons.duration, lessons.until) == (
        "0 14 * * sat,sun",
        "supervised",
        10800,
        None,
    )
    assert lessons.reason == "weekend swimming lessons"
    assert (evening.mode, evening.duration, evening.reason) == ("unsupervised", None, "")


def test_a_bad_cron_in_the_site_file_names_its_line(tmp_path: Path) -> None:
    bad = MODES_SECTION.replace('"0 20 * * *"', '"0 25 * * *"')
    (problem,) = _problems(tmp_path, bad)
    site = tmp_path / "guardian.yaml"
    line = (SITE + bad).splitlines().index('    - cron: "0 25 * * *"') + 1
    assert problem.startswith(f"{site}:{line}:")
    assert "'0 25 * * *' is not a crontab: hour 25 is out of range (0-23)" in problem
    assert "write 5 fields: minute hour day month weekday" in problem


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("0 14 * *", "it has 4 field(s)"),
        ("0 0 14 * * *", "(seconds and years are not supported)"),
        ("0 14 * * sunday", "'sunday' is not a weekday — use mon, tue"),
        ("0 14 * * fri-mon", "goes backwards — write the days as a list, e.g. 'fri,sat,sun,mon'"),
        ("61 * * * *", "minute 61 is out of range (0-59)"),
        ("0 14 1 * mon", "sets both a day of the month (1) and a weekday (mon)"),
    ],
)
def test_bad_crons_say_what_is_wrong(tmp_path: Path, cron: str, says: str) -> None:
    entry = f'modes:\n  schedule:\n    - cron: "{cron}"\n      mode: unsupervised\n'
    (problem,) = _problems(tmp_path, entry)
    assert "guardian.yaml:8:" in problem and says in problem, problem


@pytest.mark.parametrize(
    ("entry", "line", "says"),
    [
        ("mode: supervised", 9, "switches to supervised without an end — add 'for: 3h'"),
        ("mode: supervised\n      for: 2d", 10, "a supervised mode lasts at most 24 h"),
        ("mode: supervised\n      for: 1h\n      until: '18:00'", 11, "both 'for' and 'until'"),
        ("mode: supervised\n      until: 6pm", 10, "write a time of day as HH:MM"),
        ("mode: unsupervised\n      for: 1h", 10, "remove 'for'"),
        ("mode: supervise", 9, "expected 'unsupervised' or 'supervised'"),
        ("mode: unsupervised\n      fro: 1h", 10, "unknown key 'fro' in schedule entry"),
    ],
)
def test_bad_schedule_entries_name_the_line(
    tmp_path: Path, entry: str, line: int, says: str
) -> None:
    text = f'modes:\n  schedule:\n    - cron: "0 14 * * *"\n      {entry}\n'
    (problem,) = _problems(tmp_path, text)
    assert f"guardian.yaml:{line}:" in problem and says in problem, problem


def test_supervised_for_is_at_most_a_day(tmp_path: Path) -> None:
    (problem,) = _problems(tmp_path, "modes:\n  supervised_for: 36h\n")
    assert "guardian.yaml:7:" in problem
    assert "'supervised_for' is 36h — a supervised mode lasts at most 24 h" in problem


# --------------------------------------------------------------------------- the commands


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("getpass.getuser", lambda: "alex")
    return _site(tmp_path, MODES_SECTION)


def _db(site: Path) -> Store:
    return Store(site.parent / "guardian.db")


def test_mode_shows_the_default_of_a_new_site(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "mode", "--config", str(site))
    assert (code, err) == (0, "")
    assert out.startswith("mode: unsupervised — the default: the mode has never been switched")
    assert "no changes yet" in out


def test_mode_switches_and_shows_who_why_and_the_last_five_changes(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "mode", "supervised", "--for", "1h", "--reason", "lessons", "--config", str(site)
    )
    assert code == 0
    assert out.startswith("mode: supervised until ") and "(in 1 h)" in out
    assert "by alex (cli): lessons" in out  # --by defaults to the login name
    for n in range(6):
        args = ("mode", "unsupervised", "--by", "sam", "--reason", f"change {n}")
        assert _run(capsys, *args, "--config", str(site))[0] == 0
    code, out, _ = _run(capsys, "mode", "--config", str(site))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "mode: unsupervised"
    assert lines[1].endswith("by sam (cli): change 5")
    assert "last changes (times in Europe/Paris):" in out
    history = lines[lines.index("last changes (times in Europe/Paris):") + 1 :]
    assert len(history) == 5
    assert [h.rsplit(": ", 1)[1] for h in history] == [f"change {n}" for n in (5, 4, 3, 2, 1)]


def test_mode_supervised_until_a_time_of_day(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        capsys, "mode", "supervised", "--until", "23:59", "--by", "sam", "--config", str(site)
    )
    assert code == 0
    with _db(site) as store:
        state = store.mode_log.latest()
    assert (state.mode, state.by, state.source) == ("supervised", "sam", "cli")
    assert state.until is not None
    end = datetime.fromtimestamp(state.until, TZ)
    assert end.strftime("%H:%M") == "23:59"
    assert f"until {end:%Y-%m-%d %H:%M}" in out


def test_mode_supervised_without_an_end_uses_the_site_file(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = time.time()
    assert _run(capsys, "mode", "supervised", "--config", str(site))[0] == 0
    with _db(site) as store:
        state = store.mode_log.latest()
    assert state.until is not None
    assert before + 5400 <= state.until <= time.time() + 5400  # supervised_for: 90m


def test_mode_shows_a_supervised_mode_that_ended(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    with _db(site) as store:
        store.mode_log.add(ModeRequest("supervised", now - 60, by="sam", source="cli"), now - 3600)
    code, out, _ = _run(capsys, "mode", "--config", str(site))
    assert code == 0 and out.startswith("mode: unsupervised\n")
    assert "by guardian (expiry): supervised mode ended at" in out
    _run(capsys, "mode", "--config", str(site))
    with _db(site) as store:
        assert [c.source for c in store.mode_log.changes()] == ["expiry", "cli"]


def test_until_and_for_together_is_refused(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["mode", "supervised", "--until", "18:00", "--for", "2h", "--config", str(site)])
    assert info.value.code == 2
    assert "argument --for: not allowed with argument --until" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("supervised", "--until", "25:00"), "guardian mode: --until: '25:00' is not a time"),
        (("supervised", "--for", "2x"), "guardian mode: --for: '2x' is not a duration"),
        (("supervised", "--for", "0"), "guardian mode: --for: the duration must be more than 0"),
        (("supervised", "--for", "30h"), "guardian mode: a supervised mode lasts at most 24 h"),
        (("unsupervised", "--for", "1h"), "guardian mode: unsupervised mode has no end"),
        (("--reason", "why"), "guardian mode: --until, --for, --by and --reason need a mode"),
    ],
)
def test_bad_mode_arguments_give_one_line_and_exit_2(
    site: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], says: str
) -> None:
    code, out, err = _run(capsys, "mode", *args, "--config", str(site))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(says), err
    with _db(site) as store:
        assert store.mode_log.changes() == []


def test_mode_schedule_lists_the_next_switches(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "mode", "--schedule", "--config", str(site))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "next scheduled mode changes (times in Europe/Paris):"
    assert len(lines) == 11
    assert any(
        line.endswith("0 14 * * sat,sun: supervised for 3 h: weekend swimming lessons")
        for line in lines
    )
    assert any(
        line.endswith("14:00  0 14 * * sat,sun: supervised for 3 h: weekend swimming lessons")
        for line in lines
    )
    assert sum("20:00  0 20 * * *: unsupervised" in line for line in lines) >= 5


def test_a_broken_site_file_prints_its_problems_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(
        tmp_path, 'modes:\n  schedule:\n    - cron: "0 25 * * *"\n      mode: unsupervised\n'
    )
    for command in (["mode"], ["prompts"], ["answer", "p1", "yes"], ["ack", "e1"]):
        code, out, err = _run(capsys, *command, "--config", str(site))
        assert code == 1 and out == ""
        assert f"{site}:8:" in err and "is not a crontab" in err
        assert "problem(s) in the site file" in err
    assert not (tmp_path / "guardian.db").exists()


def _prompt(store: Store, prompt_id: str, *, expires_at: float, until: float | None) -> None:
    request = PromptRequest(
        prompt_id=prompt_id,
        event_id=None,
        rule_id="pool_entry",
        question="Someone is in the pool — switch to supervised?",
        contacts=("owner",),
        channels=("sms",),
        expires_at=expires_at,
        on_yes=ModeRequest("supervised", until, by="", source="prompt"),
    )
    store.commit(effects=Effects(prompts=[request]), now=time.time())


def test_prompts_lists_pending_questions(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "prompts", "--config", str(site))[1] == "no pending prompts\n"
    now = time.time()
    with _db(site) as store:
        _prompt(store, "p1", expires_at=now + 600, until=now + 3600)
        _prompt(store, "p0", expires_at=now - 1, until=now + 3600)
    code, out, _ = _run(capsys, "prompts", "--config", str(site))
    assert code == 0
    header, row, *rest = out.splitlines()
    assert header.split() == ["PROMPT", "STATUS", "QUESTION"]
    assert row.startswith("p1  ") and re.search(r"expires in (10 min|9 min \d+ s)  ", row)
    assert row.endswith("Someone is in the pool — switch to supervised?")
    assert "p0" not in out
    assert rest[-1] == "answer with: guardian answer PROMPT_ID yes|no"
    code, out, _ = _run(capsys, "prompts", "--all", "--config", str(site))
    assert "p0" in out and "expired at" in out


def test_answer_yes_switches_the_mode_and_prints_it(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = time.time()
    with _db(site) as store:
        _prompt(store, "p1", expires_at=now + 600, until=now + 3600)
    code, out, _ = _run(capsys, "answer", "p1", "yes", "--by", "owner", "--config", str(site))
    assert code == 0
    assert out.startswith("prompt p1: answered yes — Someone is in the pool")
    assert "mode: supervised until" in out and "by owner (cli)" in out
    with _db(site) as store:
        prompt = store.prompt_log.get("p1")
        assert prompt is not None and (prompt.status, prompt.answered_by) == ("accepted", "owner")
    code, out, _ = _run(capsys, "prompts", "--all", "--config", str(site))
    assert "accepted by owner" in out
    code, out, err = _run(capsys, "answer", "p1", "no", "--config", str(site))
    assert code == 1 and err == "guardian answer: prompt 'p1' was already accepted\n"


def test_answer_no_leaves_the_mode(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = time.time()
    with _db(site) as store:
        _prompt(store, "p1", expires_at=now + 600, until=now + 3600)
    code, out, _ = _run(capsys, "answer", "p1", "no", "--config", str(site))
    assert code == 0
    assert "answered no" in out and "mode: unsupervised" in out
    with _db(site) as store:
        assert store.mode_log.changes() == []
        prompt = store.prompt_log.get("p1")
        assert prompt is not None and (prompt.status, prompt.answered_by) == ("declined", "alex")


@pytest.mark.parametrize(
    ("prompt_id", "says"),
    [("nope", "no prompt 'nope' — 'guardian prompts' lists them"), ("old", "has expired")],
)
def test_answer_an_unknown_or_expired_prompt_exits_1(
    site: Path, capsys: pytest.CaptureFixture[str], prompt_id: str, says: str
) -> None:
    with _db(site) as store:
        _prompt(store, "old", expires_at=time.time() - 1, until=None)
    code, out, err = _run(capsys, "answer", prompt_id, "yes", "--config", str(site))
    assert (code, out) == (1, "")
    assert err.startswith("guardian answer: ") and says in err


def _event(event_id: str) -> Event:
    return Event(
        event_id=event_id,
        rule_id="pool_entry",
        rule_alias="Someone entered the pool",
        camera="pool",
        zone="water",
        track_id=1,
        person_id=None,
        severity=Severity.CRITICAL,
        started_at=time.time(),
        ended_at=None,
        message="person in the water",
        frame_index=0,
    )


def test_ack_acknowledges_and_stops_the_escalation(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    escalation = EscalationRequest(
        "e1", "pool_entry", "critical", ("owner",), ("sms",), 60.0, time.time(), "m"
    )
    with _db(site) as store:
        store.commit(events=[_event("e1")], effects=Effects(escalations=[escalation]))
    code, out, _ = _run(capsys, "ack", "e1", "--config", str(site))
    assert code == 0
    assert out == (
        "acknowledged event e1 (Someone entered the pool: person in the water) by alex; "
        "its escalations are stopped\n"
    )
    with _db(site) as store:
        assert store.event_log.is_acknowledged("e1")
        assert [e.status for e in store.prompt_log.escalations()] == ["acknowledged"]
        reviewed = store.event_log.reviewed_event("e1")
    assert reviewed is not None and reviewed.acknowledged_by == "alex"
    code, out, _ = _run(capsys, "ack", "e1", "--by", "sam", "--config", str(site))
    assert code == 0 and "was already acknowledged" in out


def test_ack_an_unknown_event_exits_1(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "ack", "nope", "--config", str(site))
    assert (code, out) == (1, "")
    assert err.startswith("guardian ack: no event 'nope' in ")


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (
            "mode",
            [
                "--until TIME",
                "--for DURATION",
                "--by NAME",
                "--reason TEXT",
                "--schedule",
                "ends by itself",
            ],
        ),
        ("prompts", ["--all", "pending prompts"]),
        ("answer", ["PROMPT_ID", "{yes,no}", "--by NAME", "Exit 1"]),
        ("ack", ["EVENT_ID", "--by NAME", "escalation"]),
    ],
)
def test_every_command_is_documented_in_its_help(
    capsys: pytest.CaptureFixture[str], command: str, words: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for word in [*words, "--config CONFIG"]:
        assert word in out, word
    with pytest.raises(SystemExit):
        main(["--help"])
    assert command in capsys.readouterr().out


def test_the_real_entry_point_switches_the_mode(tmp_path: Path) -> None:
    site = _site(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "guardian",
            "mode",
            "supervised",
            "--for",
            "1h",
            "--by",
            "sam",
            "--config",
            str(site),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("mode: supervised until ") and "by sam (cli)" in done.stdout
    row = (
        sqlite3.connect(tmp_path / "guardian.db")
        .execute("select mode, by, source, until - changed_at from mode_changes")
        .fetchone()
    )
    assert row == ("supervised", "sam", "cli", 3600.0)
