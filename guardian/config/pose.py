"""The ``pose:`` section of the site file: which posture and fall estimator runs.

::

    pose:
      model: hybrid         # hybrid | learned | geometric
      # weights: my-fall.npz  # optional: weights from 'guardian train-fall' (default: shipped)
      # threshold: 0.5        # optional: P(fallen) per tick (default: stored with the weights)
      confirm: 2            # ticks in a row at or above the threshold confirm a fall
      clear_after: 1s       # standing this long after a fall clears it
      # people on the floor (issue 12): keep them through the fall and while down
      low_score: 0.1        # detections down to this score may continue a confirmed track
      relink: 1s            # ... also one lost this recently
      relook: true          # second look: an upscaled crop around a track just lost
      relook_window: 2s     # ... for this long after it was last seen
      relook_crops: 1       # ... at most this many crops per frame
      lost_fall: 1s         # a fall seen starting, then the person unseen this long: a fall
      keep_down: 30s        # a person down whom the model loses is kept this long (not in water)

:func:`guardian.app.build_posture_tracker` makes the estimator of one camera from it.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardian.config.durations import Duration

if TYPE_CHECKING:
    pass

PoseModel = Literal["learned", "hybrid", "geometric"]


class PoseConfig(BaseModel):
    """The ``pose:`` section: posture and fall estimation."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="pose")

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

    low_score: float = Field(
        0.1,
        gt=0,
        lt=1,
        description=(
            "detections scored this low (down to detection.confidence) may continue a "
            "person's confirmed track, never start one: a person on the floor scores low; "
            "the model runs at this floor"
        ),
    )
    relink: Duration = Field(
        1.0,
        description="a low-score detection may also continue a track lost this recently, e.g. 1s",
    )
    relook: bool = Field(
        True,
        description=(
            "second look: run the model again on an upscaled crop around a track lost in the "
            "last relook_window (a lying or small person is found again)"
        ),
    )
    relook_window: Duration = Field(
        2.0, description="how long after a track was last seen the second look tries, e.g. 2s"
    )
    relook_crops: int = Field(
        1, ge=1, le=8, description="second-look crops per frame at most (each costs one inference)"
    )
    lost_fall: Duration = Field(
        1.0,
        description=(
            "a fall seen starting (upright to down, fast) whose person is then unseen this "
            "long is a fall; 0 turns it off"
        ),
    )
    keep_down: Duration = Field(
        30.0,
        description=(
            "a person down (lying, or after a fall) whom the model loses is kept as a lost "
            "track this long, so 'person down' keeps timing; never inside water zones; 0: off"
        ),
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
