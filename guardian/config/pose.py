"""The ``pose:`` section of the site file: which posture and fall estimator runs.

::

    pose:
      model: hybrid         # hybrid | learned | geometric
      # weights: my-fall.npz  # optional: weights from 'guardian train-fall' (default: shipped)
      # threshold: 0.5        # optional: P(fallen) per tick (default: stored with the weights)
      confirm: 2            # ticks in a row at or above the threshold confirm a fall
      clear_after: 1s       # standing this long after a fall clears it

:func:`build_posture_tracker` makes the estimator of one camera from it.
"""

from __future__ import annotations

from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardian.config.durations import Duration

if TYPE_CHECKING:
    from guardian.pose import PostureTracker

PoseModel = Literal["learned", "hybrid", "geometric"]


class PoseConfig(BaseModel):
    """The ``pose:`` section: posture and fall estimation."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="pose")

    model: PoseModel = Field(
        "hybrid",
        description=(
            "hybrid (a geometric fall the trained model agrees with; the default), learned "
            "(the trained fall model decides falls) or geometric (torso angle and drop "
            "speed only)"
        ),
    )
    weights: str | None = Field(
        None,
        description=(
            "fall model weights (.npz from 'guardian train-fall'), relative to the site "
            "file; empty: the weights shipped with Guardian"
        ),
    )
    threshold: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="P(fallen) per tick that counts, between 0 and 1; empty: the trained value",
    )
    confirm: int = Field(
        2, ge=1, le=20, description="ticks (0.1 s each) in a row at the threshold confirm a fall"
    )
    clear_after: Duration = Field(
        1.0, description="standing this long after a fall clears it, e.g. 1s"
    )

    @field_validator("weights")
    @classmethod
    def _npz(cls, value: str | None) -> str | None:
        if value is not None and PurePath(value).suffix.lower() != ".npz":
            raise ValueError(
                f"fall model weights '{value}' must be an .npz file written by "
                "'guardian train-fall' — leave it out to use the shipped weights"
            )
        return value


def build_posture_tracker(config: PoseConfig, base_dir: Path | None = None) -> PostureTracker:
    """The posture and fall estimator of one camera (``base_dir``: the site file's folder).

    Raises :class:`guardian.fall.model.ModelError` when the weights cannot be read.
    """
    from guardian.pose import PostureTracker

    clear = float(config.clear_after)
    if config.model == "geometric":
        return PostureTracker(clear_after=clear)
    from guardian.fall.classifier import FallClassifier

    weights = None
    if config.weights is not None:
        weights = Path(config.weights)
        if not weights.is_absolute() and base_dir is not None:
            weights = base_dir / weights
    return FallClassifier.load(
        weights,
        mode=config.model,
        threshold=config.threshold,
        confirm=config.confirm,
        clear_after=clear,
    )
