"""The learned fall model at run time: a small temporal convolution, in numpy.

The network (trained with torch by :mod:`guardian.fall.train`, which holds the torch
twin of this code) looks at the last ``window`` ticks of one person's features (ticks
are ``1 / rate`` s apart, :mod:`guardian.fall.features` says what a feature vector
holds) and gives the probability that the window shows a person who has just fallen:

    x (window × F) → standardise → conv(k=3, d=1) → ReLU → conv(k=3, d=2) → ReLU
      → conv(k=3, d=4) → ReLU → [max over time, last step] → linear → sigmoid

The three dilated convolutions see 15 ticks (1.5 s at 10 ticks/s) each; the max keeps
"a fall happened somewhere in the window", the last step "and the person is down now".
Every tick recomputes the whole window with a handful of matrix products (tens of
microseconds); nothing carries over between ticks but the window itself, so the model
never drifts on a track that lives for hours, and what runs here is exactly what was
trained. Weights are a small ``.npz`` (tens of kB), loaded without torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["DILATIONS", "KERNEL", "FallNet", "ModelError", "shipped_weights"]

#: kernel size and dilations of the three convolutions (the torch twin uses the same)
KERNEL = 3
DILATIONS = (1, 2, 4)
#: format of the weights file
FORMAT_VERSION = 1

Array = npt.NDArray[np.float32]


class ModelError(ValueError):
    """A weights file is missing or not a fall model of this version."""


def shipped_weights() -> Path:
    """The weights that ship inside the package."""
    return Path(__file__).resolve().parent / "weights" / "fall.npz"


def receptive_field() -> int:
    """How many ticks one output of the last convolution sees."""
    return 1 + sum((KERNEL - 1) * d for d in DILATIONS)


@dataclass(frozen=True)
class FallNet:
    """The trained network: weights as numpy arrays plus what it was trained for."""

    mean: Array
    std: Array
    convs: tuple[tuple[Array, Array], ...]  # (weight as (k·C_in, C_out), bias) per conv
    head_w: Array
    head_b: float
    window: int
    rate: float
    threshold: float
    features: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> FallNet:
        """Read a weights file written by :meth:`arrays` (no torch needed)."""
        if not path.is_file():
            raise ModelError(
                f"fall model weights {path} not found — train them with "
                "'guardian train-fall --config FILE' or leave the path out"
            )
        try:
            with np.load(path, allow_pickle=False) as z:
                if int(z["format"]) != FORMAT_VERSION:
                    raise ModelError(
                        f"{path}: weights format {int(z['format'])}, this Guardian reads "
                        f"{FORMAT_VERSION} — train them again with 'guardian train-fall'"
                    )
                convs = tuple(
                    (_flat(z[f"conv{i}_w"]), z[f"conv{i}_b"].astype(np.float32))
                    for i in range(len(DILATIONS))
                )
                return cls(
                    mean=z["mean"].astype(np.float32),
                    std=z["std"].astype(np.float32),
                    convs=convs,
                    head_w=z["head_w"].astype(np.float32).reshape(-1),
                    head_b=float(z["head_b"].reshape(-1)[0]),
                    window=int(z["window"]),
                    rate=float(z["rate"]),
                    threshold=float(z["threshold"]),
                    features=tuple(str(s) for s in z["features"]),
                )
        except (KeyError, ValueError, OSError) as exc:
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"{path}: not a fall model weights file ({exc})") from None

    def probability(self, window: Array) -> float:
        """P(fallen) for one window of features, shape (window, F), oldest first."""
        x = (window - self.mean) / self.std
        for (w, b), d in zip(self.convs, DILATIONS, strict=True):
            n = x.shape[0] - (KERNEL - 1) * d
            cols = np.concatenate([x[j * d : j * d + n] for j in range(KERNEL)], axis=1)
            x = cols @ w
            x += b
            np.maximum(x, 0.0, out=x)
        pooled = np.concatenate([x.max(axis=0), x[-1]])
        z = float(pooled @ self.head_w) + self.head_b
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


def _flat(weight: npt.NDArray[np.float32]) -> Array:
    """torch Conv1d weight (C_out, C_in, k) → (k·C_in, C_out) matching the column order."""
    w = weight.astype(np.float32)
    return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(-1, w.shape[0]))
