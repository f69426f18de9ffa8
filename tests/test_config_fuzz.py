"""Hostile configuration input (issue 14): every malformed file is a clear ``file:line`` problem.

The cases come from ``bench/hostile_configs.py`` (also run by ``bench/fuzz_config.py``):
hand-written ones for each item of the issue, and systematic mutations of the example
site. Each is written over a copy of the example site and run through ``guardian check``'s
own function; the resource cases (YAML bombs, huge and deep files) run in a subprocess
with a memory limit (RLIMIT_AS) and must finish in seconds. A handful go through the real
``guardian check`` command.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from guardian.app import site_rules
from guardian.check import check_site
from guardian.cli import main
from guardian.config import ConfigError, load_yaml
from guardian.config.durations import SUPERVISED_LIMIT
from guardian.records import Event, Severity
from guardian.rules.actions import MAX_MESSAGE, AlertAction, AlertConfig, render
from guardian.rules.base import RuleContext

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import hostile_configs  # noqa: E402

CASES = hostile_configs.cases()
LIGHT = [c for c in CASES if not c.heavy]
HEAVY = [c for c in CASES if c.heavy]
LOCATED = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): \S")
#: memory a resource case may use (the whole Python process), and the time it may take
MEMORY_LIMIT = 1536 * 1024 * 1024
TIME_LIMIT = 5.0


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 215
    assert sum(c.must_fail for c in CASES) >= 100


def _check(case: hostile_configs.Case, folder: Path) -> tuple[Path, list[str], list[str]]:
    """(target file, error lines, warning lines) of ``guardian check`` on the case."""
    site = hostile_configs.materialise(case, folder)
    report = check_site(site, rules_for=site_rules, environ={})
    target = (folder / hostile_configs.TARGET[case.which]).resolve()
    return target, [str(p) for p in report.errors], [str(p) for p in report.warnings]


@pytest.mark.parametrize("case", LIGHT, ids=[c.name for c in LIGHT])
def test_a_malformed_file_is_a_located_problem(case: hostile_configs.Case, tmp_path: Path) -> None:
    target, errors, warnings = _check(case, tmp_path)  # never a traceback
    for line in errors + warnings:
        found = LOCATED.match(line)
        assert found, line
        assert int(found["line"]) >= 1 and Path(found["file"]).exists(), line
    if case.must_fail:
        site = (tmp_path / "guardian.yaml").resolve()
        here = [e for e in errors if Path(LOCATED.match(e)["file"]).resolve() in (target, site)]  # type: ignore[index]
        assert here, f"{case.name}: no problem in {target.name}: {errors}"


_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
    from guardian.check import check_site
    from guardian.app import site_rules
    start = time.monotonic()
    report = check_site(sys.argv[1], rules_for=site_rules, environ={{}})
    print(json.dumps({{"seconds": time.monotonic() - start,
                      "errors": [str(p) for p in report.errors]}}))
    """
)


def run_limited(site: Path, timeout: float = 120) -> dict[str, object]:
    """``guardian check``'s function in a subprocess limited to MEMORY_LIMIT."""
    code = _CHILD.format(limit=MEMORY_LIMIT).replace(
        "check_site(sys.argv[1]", "check_site(__import__('pathlib').Path(sys.argv[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(site)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", HEAVY, ids=[c.name for c in HEAVY])
def test_a_hostile_file_is_refused_in_bounded_time_and_memory(
    case: hostile_configs.Case, tmp_path: Path
) -> None:
    site = hostile_configs.materialise(case, tmp_path)
    result = run_limited(site)
    errors = result["errors"]
    assert isinstance(errors, list) and errors, case.name
    assert all(LOCATED.match(e) for e in errors), errors
    assert float(result["seconds"]) < TIME_LIMIT, result  # type: ignore[arg-type]


def _one(tmp_path: Path, name: str) -> str:
    """The case's first problem (the site file's first; rules naming the zones of a zone
    file that did not load follow it)."""
    (case,) = [c for c in CASES if c.name == name]
    _target, errors, _ = _check(case, tmp_path)
    assert errors, name
    if case.which != "site" and name != "site-zones-5":
        in_target = [e for e in errors if f"/{hostile_configs.TARGET[case.which]}:" in e]
        assert len(in_target) == 1, errors
    return errors[0]


@pytest.mark.parametrize(
    ("name", "where", "says"),
    [
        ("billion-laughs-site", "guardian.yaml:", "YAML aliases expand to more than 100000"),
        ("deep-lists-10000", "guardian.yaml:1:", "nesting is deeper than 50 levels"),
        ("nul-byte-raw", "guardian.yaml:10:", "NUL byte"),
        ("nul-escaped-source", "guardian.yaml:22:", "NUL character"),
        ("unknown-tag-mapping", "guardian.yaml:49:", "unknown YAML tag '!foo'"),
        ("site-zones-5", "guardian.yaml:38:", "not a valid list for 'zones'"),
        ("zones-5", "pool.yaml:1:", "not a valid list for 'zones'"),
        ("rules-true", "pool.yaml:1:", "not a valid list for 'rules'"),
        ("rules-empty", "pool.yaml:1:", "rule file is empty"),
        ("rules-blank", "pool.yaml:1:", "rule file is empty"),
        ("px-boundary-inf", "pool.yaml:2:", "not a finite number"),
        ("px-text-inf", "pool.yaml:2:", "'inf' where a number belongs"),
        ("pose-weights-missing", "guardian.yaml:74:", "fall model weights 'my-fall.npz' do not"),
        ("database-is-folder", "guardian.yaml:50:", "storage database 'rules' is a folder"),
        ("timeout-inf", "pool.yaml:31:", "not a finite number"),
        ("timeout-huge-days", "pool.yaml:31:", "'99999999999999999999d' is too long"),
        ("timeout-1e300", "pool.yaml:31:", "'1e300' is not a duration"),
        ("supervised-for-huge", "guardian.yaml:151:", SUPERVISED_LIMIT),
        ("template-time-d", "pool.yaml:24:", "{time:d} cannot be filled in"),
        ("template-huge-width", "pool.yaml:24:", "asks for 99999999 characters"),
        ("template-track-d", "pool.yaml:24:", "a track number, or '-' when there is none"),
        ("template-too-long", "pool.yaml:24:", "at most 1600 characters"),
        ("set-mode-48h", "pool.yaml:22:", SUPERVISED_LIMIT),
        ("prompt-yes-48h", "pool.yaml:22:", SUPERVISED_LIMIT),
        ("schedule-for-48h", "guardian.yaml:156:", SUPERVISED_LIMIT),
    ],
)
def test_each_item_of_the_issue_names_its_line(
    tmp_path: Path, name: str, where: str, says: str
) -> None:
    problem = _one(tmp_path, name)
    assert where in problem and says in problem, problem


def test_the_real_check_command_reports_hostile_files(tmp_path: Path) -> None:
    """Through ``python -m guardian check``: exit 1, ``file:line:col`` lines, no traceback."""
    for name in ("billion-laughs-rules", "deep-lists-10000", "template-time-d", "zones-5"):
        (case,) = [c for c in CASES if c.name == name]
        site = hostile_configs.materialise(case, tmp_path / name)
        done = subprocess.run(
            [sys.executable, "-m", "guardian", "check", "--config", str(site)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            check=False,
        )
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        errors = [x for x in done.stderr.splitlines() if not x.startswith("warning:")]
        assert LOCATED.match(errors[0]) and "problem(s)" in errors[-1], done.stderr


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * 3_000_000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_yaml(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.col) == (1, 1) and "at most 2 MB" in problem.message


# --------------------------------------------------------------------------- at firing time


def _event() -> Event:
    return Event(
        event_id="e1",
        rule_id="r1",
        rule_alias="Pool entry",
        severity=Severity.WARNING,
        camera="pool",
        zone="water",
        track_id=None,
        person_id=None,
        started_at=1_752_508_800.0,
        ended_at=None,
        message="Someone entered water (pool/water)",
        frame_index=0,
    )


def test_a_template_that_fails_when_the_rule_fires_sends_the_default_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rule built around the load-time check (an old rule object, model_construct) still
    alerts: the default text goes out and a warning is logged."""
    with caplog.at_level(logging.WARNING, logger="guardian.rules.actions"):
        text = render("{time:d}", _event(), RuleContext())
    assert text.startswith("Pool entry: Someone entered water (pool/water) at ")
    assert "cannot be filled in" in caplog.text and "r1" in caplog.text
    assert len(render("{alias:>99999999}", _event(), RuleContext())) <= MAX_MESSAGE

    from guardian.effects import Effects

    config = AlertConfig.model_construct(
        kind="alert", channels=["sms"], contacts=["owner"], message="{track:d}"
    )
    effects = Effects()
    AlertAction(config).run(_event(), effects, RuleContext())
    (note,) = effects.notifications
    assert note.message.startswith("Pool entry: Someone entered water")


def test_the_supervised_limit_is_one_message_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = hostile_configs.materialise(next(c for c in CASES if c.name == "site-empty"), tmp_path)
    site.write_text("cameras: [{id: pool, source: 0}]\n")
    for flag in ("48h", "99999999999999999999h"):
        code = main(["mode", "supervised", "--for", flag, "--config", str(site)])
        err = capsys.readouterr().err
        assert code == 2 and SUPERVISED_LIMIT in err and "Traceback" not in err, err
