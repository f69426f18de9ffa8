"""`guardian train-detector`: checkpoints, weights and summary; same seed, same weights;
resume after a kill -9; config problems with their line.

Trains for real (ultralytics on the CPU) on a tenth of one corpus swimmer dataset at
96 px: a few seconds an epoch.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from corpus import require_corpus

from guardian.cli import main
from guardian.detection import checkpoint_epochs, trim_results

TINY = """\
corpus: {corpus}
train: [ietr_underwater_swimmer]
val: [ietr_underwater_swimmer]
fraction: 0.1
epochs: {epochs}
imgsz: 96
batch: 4
workers: 0
device: cpu
data_dir: {folder}/data
out_dir: {folder}/out
"""


def _config(folder: Path, epochs: int) -> Path:
    corpus = require_corpus("pool", "datasets").parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.yaml"
    path.write_text(TINY.format(corpus=corpus, epochs=epochs, folder=folder))
    return path


def _weights(path: Path) -> dict[str, object]:
    import torch

    model = torch.load(path, map_location="cpu", weights_only=False)
    net = model.get("ema") or model["model"]
    return {k: v.float() for k, v in net.state_dict().items()}


def _same(a: Path, b: Path) -> bool:
    import torch

    x, y = _weights(a), _weights(b)
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)  # type: ignore[arg-type]


def _epochs(run: Path) -> int:
    with (run / "results.csv").open() as handle:
        return len(list(csv.DictReader(handle)))


@pytest.mark.corpus
def test_trains_resumes_and_is_reproducible(tmp_path: Path) -> None:
    # an uninterrupted run: a checkpoint per epoch, the last epoch's weights, a summary
    whole = _config(tmp_path / "whole", epochs=2)
    assert main(["train-detector", "--config", str(whole)]) == 0
    out = tmp_path / "whole" / "out"
    weights = sorted(p.name for p in (out / "run" / "weights").iterdir())
    assert {"epoch0.pt", "epoch1.pt", "last.pt"} <= set(weights)
    assert _epochs(out / "run") == 2
    summary = json.loads((out / "train.json").read_text())
    assert summary["sha256"] and summary["bytes"] < 8_000_000
    assert [e["epoch"] for e in summary["epochs"]] == ["1", "2"]
    assert (out / "swimmer.pt").stat().st_size == summary["bytes"]

    # the same config killed after its first checkpoint, then resumed
    killed = _config(tmp_path / "killed", epochs=2)
    run = tmp_path / "killed" / "out" / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "guardian", "train-detector", "--config", str(killed)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "weights" / "epoch0.pt").is_file():
            assert child.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 240 s"
            time.sleep(0.2)
        time.sleep(0.5)  # the checkpoint file is complete (written, then renamed)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert not (tmp_path / "killed" / "out" / "swimmer.pt").exists()
    # same seed, same data: the first epoch's weights are the same as the whole run's
    assert _same(run / "weights" / "epoch0.pt", out / "run" / "weights" / "epoch0.pt")
    assert main(["train-detector", "--config", str(killed), "--resume"]) == 0
    assert _epochs(run) == 2
    assert (tmp_path / "killed" / "out" / "swimmer.pt").is_file()


def test_resume_without_a_run_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, epochs=1)
    assert main(["train-detector", "--config", str(config), "--resume"]) == 1
    assert "nothing to resume" in capsys.readouterr().err


def test_config_problems_name_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train: [ietr_underwater_swimmer, lake]\nepochs: 0\nspeed: fast\n")
    assert main(["train-detector", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:1:" in err and "unknown swimmer dataset(s) lake" in err
    assert f"{path}:2:" in err and f"{path}:3:" in err


def test_resume_drops_result_rows_written_after_the_checkpoint(tmp_path: Path) -> None:
    """A run killed between an epoch's results row and its checkpoint: the resumed run
    must not count that epoch twice."""
    import torch

    last = tmp_path / "last.pt"
    torch.save({"epoch": 0}, last)  # ultralytics: the index of the last finished epoch
    assert checkpoint_epochs(last) == 1
    results = tmp_path / "results.csv"
    results.write_text("epoch,loss\n1,0.9\n2,0.7\n")
    trim_results(results, checkpoint_epochs(last))
    assert results.read_text() == "epoch,loss\n1,0.9\n"
    trim_results(results, 1)  # nothing more to drop
    assert results.read_text() == "epoch,loss\n1,0.9\n"
