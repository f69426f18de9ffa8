"""`guardian replay`: rules over recorded observations, printed with their times."""

from __future__ import annotations

from pathlib import Path

import pytest
from rulesim import P, Sim

from guardian.cli import main
from guardian.observations import ObservationWriter

RULES = """
rules:
  - id: entry
    triggers: [{kind: zone_enter, zones: water}]
    actions: [{kind: alert, channels: [console], message: "{alias}: {person}"}]
  - id: submersion
    severity: critical
    triggers: [{kind: absent, zones: water, timeout: 5s}]
    actions: [{kind: alert, channels: [console]}, {kind: record_clip}]
  - id: supervise
    triggers: [{kind: occupancy, zones: deck, adults: ">= 1", for: 1s}]
    modes: [unsupervised]
    actions:
      - kind: prompt
        question: "Switch to supervised?"
        yes: {mode: supervised, for: 1h}
"""


def _record(path: Path) -> Path:
    """12 s: an adult on the deck, a child walks into the water at 2 s, under at 4 s."""
    sim, writer = Sim(), ObservationWriter(path)
    while sim.now < sim.t0 + 12:
        t = sim.now - sim.t0
        child = P(30, 470) if t < 2 else P(300, 300, seen=t < 4, role="child")
        writer.write(sim.step({1: P(500, 300, role="adult"), 2: child}))
    writer.close()
    return path


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "rules.yaml").write_text(RULES)
    return _record(tmp_path / "obs.jsonl"), tmp_path / "rules.yaml"


def _replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_replay_prints_events_with_video_times(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    obs, rules = files
    code, out, _ = _replay(capsys, "--observations", str(obs), "--rules", str(rules))
    assert code == 0
    lines = [line for line in out.splitlines() if "] " in line]
    assert [line.split()[0] for line in lines] == ["1.0s", "2.0s", "8.9s"]
    assert "[warning] supervise" in lines[0] and "[warning] entry" in lines[1]
    assert "[critical] submersion" in lines[2] and "not seen for 5 s" in lines[2]
    assert "prompt → * by console: Switch to supervised?" in out
    assert "clip: pool 15s" in out
    assert out.rstrip().endswith(f"3 event(s) from 120 observation(s) of {obs}")


def test_replay_yes_switches_the_mode_and_suppresses_entry_alerts(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    obs, rules = files
    code, out, _ = _replay(capsys, "--observations", str(obs), "--rules", str(rules), "--yes")
    assert code == 0
    assert "MODE supervised until" in out
    events = [line.split("] ")[1].split(":")[0] for line in out.splitlines() if "] " in line]
    assert events == ["supervise", "submersion"]  # no entry alert once supervised


def test_replay_starting_supervised(
    files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    obs, rules = files
    code, out, _ = _replay(
        capsys, "--observations", str(obs), "--rules", str(rules), "--mode", "supervised"
    )
    assert code == 0 and "1 event(s)" in out and "submersion" in out


def test_replay_names_a_broken_rule_and_a_bad_line(
    tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    obs, rules = files
    rules.write_text(RULES.replace("timeout: 5s", "timeout: soon"))
    code, _, err = _replay(capsys, "--observations", str(obs), "--rules", str(rules))
    assert code == 1 and f"{rules}:8:54:" in err and "not a duration" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(obs.read_text().splitlines()[0] + "\n{oops\n")
    rules.write_text(RULES)
    code, _, err = _replay(capsys, "--observations", str(bad), "--rules", str(rules))
    assert code == 1 and f"{bad}:2: not an observation line" in err
