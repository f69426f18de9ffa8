"""`guardian train-fall`: log, checkpoints, weights; resume; same seed, same weights; errors.

Trains on three UP-Fall MediaPipe skeleton sequences of the corpus (no pose model run),
a few epochs each (a few seconds per run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus import require_corpus

from guardian.cli import main

TINY = """\
corpus: {corpus}
sources: []
mediapipe: true
mediapipe_limit: 3
fps: [9]
degraded_copies: 0
channels: 8
epochs: {epochs}
seed: {seed}
out_dir: run
"""


def _config(folder: Path, *, epochs: int = 4, seed: int = 0, name: str = "train.yaml") -> Path:
    corpus = require_corpus("fall", "upfall_skeletons_mediapipe").parent.parent
    path = folder / name
    path.write_text(TINY.format(corpus=corpus, epochs=epochs, seed=seed))
    return path


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _same(a: Path, b: Path) -> bool:
    x, y = _arrays(a), _arrays(b)
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


def test_writes_log_checkpoints_and_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from guardian.fall.model import FallNet

    config = _config(tmp_path)
    assert main(["train-fall", "--config", str(config)]) == 0
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"epoch-{i:04d}.pt" for i in range(1, 5)
    ]
    assert len((run / "train.jsonl").read_text().splitlines()) == 4
    assert "epoch 4/4" in (run / "train.log").read_text()
    assert (run / "train.yaml").read_text() == config.read_text()
    weights = run / "fall.npz"
    assert 0 < weights.stat().st_size < 1_000_000
    net = FallNet.load(weights)
    assert net.window == 20 and net.rate == 10.0
    assert "weights written to" in capsys.readouterr().out


def test_numpy_model_matches_torch(tmp_path: Path) -> None:
    """What runs at run time (numpy) is what was trained (torch)."""
    import torch

    from guardian.fall.data import mediapipe_sequences
    from guardian.fall.features import FEATURES
    from guardian.fall.model import FallNet
    from guardian.fall.train import TrainConfig, _net, build_windows

    config = _config(tmp_path, epochs=2)
    assert main(["train-fall", "--config", str(config)]) == 0
    run = tmp_path / "run"
    net = FallNet.load(run / "fall.npz")
    twin = _net(len(FEATURES), 8)
    twin.load_state_dict(torch.load(run / "checkpoints" / "epoch-0002.pt")["model"])
    twin.eval()
    corpus = require_corpus()
    seqs = mediapipe_sequences(corpus)[:1]
    windows = build_windows((), TrainConfig(sources=(), fps=(9.0,), degraded_copies=0), seqs)
    x = windows.x[::5]
    with torch.no_grad():
        expected = torch.sigmoid(twin(torch.from_numpy((x - net.mean) / net.std))).numpy()
    got = np.array([net.probability(w) for w in x])
    assert np.abs(got - expected).max() < 1e-4
    assert got.std() > 0  # not a constant output


def test_resume_continues_to_the_same_weights(tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    whole.mkdir()
    assert main(["train-fall", "--config", str(_config(whole, epochs=4))]) == 0

    cut = tmp_path / "cut"
    cut.mkdir()
    assert main(["train-fall", "--config", str(_config(cut, epochs=2))]) == 0
    first = _arrays(cut / "run" / "fall.npz")
    assert main(["train-fall", "--config", str(_config(cut, epochs=4)), "--resume"]) == 0
    log = (cut / "run" / "train.log").read_text()
    assert "resumed from epoch-0002.pt" in log
    assert "epoch 1/4" not in log  # epochs 1-2 were not trained again
    assert len((cut / "run" / "train.jsonl").read_text().splitlines()) == 4
    assert _same(whole / "run" / "fall.npz", cut / "run" / "fall.npz")
    assert not np.array_equal(first["head_w"], _arrays(cut / "run" / "fall.npz")["head_w"])


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path) -> None:
    runs = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        folder = tmp_path / name
        folder.mkdir()
        assert main(["train-fall", "--config", str(_config(folder, epochs=2, seed=seed))]) == 0
        runs.append(folder / "run" / "fall.npz")
    assert _same(runs[0], runs[1])
    assert not _same(runs[0], runs[2])


def test_broken_config_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("epochs: 4", "epoch: 4"))
    assert main(["train-fall", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"{config}:8:1: unknown key 'epoch'")
    assert "did you mean 'epochs'" in err[0]
    assert not (tmp_path / "run").exists()


def test_bad_value_and_resume_of_another_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, epochs=1)
    config.write_text(config.read_text().replace("channels: 8", "channels: lots"))
    assert main(["train-fall", "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{config}:7:"), err
    assert "'lots' is not a valid whole number for 'channels'" in err[0]

    assert main(["train-fall", "--config", str(_config(tmp_path, epochs=1))]) == 0
    other = _config(tmp_path, epochs=2, seed=5)
    capsys.readouterr()
    assert main(["train-fall", "--config", str(other), "--resume"]) == 1
    assert "made with another training config" in capsys.readouterr().err
