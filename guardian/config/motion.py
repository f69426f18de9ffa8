"""A camera's ``motion:`` section: run the models only when something moves.

Most hours of a pool or a room camera show nobody. Like Frigate, Guardian compares each
frame with a slowly updated background on a small grey copy of the picture, and runs
the person models only when

* something moves in the watched part of the picture (``area``),
* a person is being tracked on the camera, or was lost moments ago (a track still kept),
* a rule waits on the camera (a submersion timer runs), or
* ``heartbeat`` has passed since the models last ran (a person who came in unseen by
  the motion check is found within that time).

Frames between inferences still go through everything else: the clip ring, the camera
health checks, zones and the rules (their timers run on every frame).

Per zone, ``motion:`` in the zone file says what its movement means: ``watch`` (the
default), ``shimmer`` (water, leaves: only movement well above the usual there counts)
or ``ignore`` (a road, a TV, trees: never wakes the models; people there are still
found by the heartbeat).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardian.config.durations import Duration

#: what a zone's movement means to the motion check
ZoneMotion = Literal["watch", "shimmer", "ignore"]


class MotionConfig(BaseModel):
    """``motion:`` of a camera: when the person models run."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="motion")

    enabled: bool = Field(
        True,
        description="true: run the models only on movement, tracked people, waiting rules "
        "and the heartbeat; false: on every processed frame",
    )
    area: Literal["frame", "zones"] = Field(
        "frame",
        description="where movement counts: frame (anywhere but zones marked 'motion: "
        "ignore'; people are tracked before they reach a zone) or zones (only inside this "
        "camera's zones)",
    )
    heartbeat: Duration = Field(
        1.0,
        description="run the models at least this often even when nothing moves "
        "(0.2s to 10s; default 1s)",
    )
    threshold: int = Field(
        15,
        ge=5,
        le=200,
        description="change of a pixel's grey level (0-255) against the background that "
        "counts as movement (default 15)",
    )
    min_area: float = Field(
        0.001,
        gt=0,
        le=0.5,
        description="smallest moving share of the picture that wakes the models "
        "(default 0.001: a tenth of a percent)",
    )

    @field_validator("heartbeat")
    @classmethod
    def _check_heartbeat(cls, value: float) -> float:
        if not 0.2 <= value <= 10:
            raise ValueError(
                f"motion heartbeat {value:g}s is out of range — give 0.2s to 10s (1s is the "
                "default: a person the motion check missed is found within it)"
            )
        return value
