"""The ``health:`` section: when a camera counts as offline, frozen, covered, too dark
or moved (see :mod:`guardian.health`), and how often a run proves it is watching.

Every camera gets these settings; ``cameras:`` changes them for one camera::

    health:
      offline_after: 20s
      cameras:
        garden: {too_dark_after: 0}     # an unlit garden is black at night: not a problem

A problem is reported after the picture has had it for the given time (0 turns that
check off), and is over once the picture has been fine for ``recover``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from guardian.config.durations import Duration

#: pool-alarm standards ask a system to signal within this long that it cannot watch
SIGNAL_WITHIN = 60.0


def _in_time(value: float | None) -> float | None:
    if value is not None and value > SIGNAL_WITHIN:
        raise ValueError(
            f"'offline_after' is {value:g}s — a camera that cannot watch must be "
            f"signalled within {SIGNAL_WITHIN:g}s; write e.g. '20s'"
        )
    return value


class CameraHealthConfig(BaseModel):
    """``health: cameras: <id>:``: one camera's settings; what is left out is the site's."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, title="camera health"
    )

    enabled: bool | None = Field(
        None, description="false: no health checks and no health alerts for this camera"
    )
    offline_after: Duration | None = Field(
        None, gt=0, description="no picture this long (seconds, or '20s') means offline"
    )
    stalled_after: Duration | None = Field(
        None, description="a picture frozen this long is a problem; 0: never checked"
    )
    obstructed_after: Duration | None = Field(
        None, description="a covered or blinded picture this long is a problem; 0: off"
    )
    too_dark_after: Duration | None = Field(
        None, description="a black picture this long is a problem; 0: off"
    )
    moved_after: Duration | None = Field(
        None,
        description="a view that no longer matches the camera's reference this long is a "
        "problem; 0: off",
    )

    @field_validator("offline_after")
    @classmethod
    def _in_time(cls, value: float | None) -> float | None:
        return _in_time(value)


class HealthConfig(BaseModel):
    """The ``health:`` section: camera problems and the run's heartbeat."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="health")

    enabled: bool = Field(
        True,
        description="watch every camera's picture and alert when one cannot watch; false: "
        "no health checks and no built-in health rules",
    )
    offline_after: Duration = Field(
        20.0,
        gt=0,
        description="no picture for this long (refused connections, unplugged, stream "
        "gone) means the camera is offline; at most 60s, so the alert goes out in time",
    )
    stalled_after: Duration = Field(
        20.0,
        description="frames that keep arriving with the same frozen picture for this long "
        "mean the camera is stuck; 0: never checked",
    )
    obstructed_after: Duration = Field(
        30.0,
        description="a picture with almost no detail (a covered lens, fog, a blurred view) "
        "or mostly white (blinded) for this long; 0: never checked",
    )
    too_dark_after: Duration = Field(
        30.0,
        description="a black picture (no light, no infrared) for this long; 0: never checked",
    )
    moved_after: Duration = Field(
        30.0,
        description="a view that no longer matches the camera's reference image (the one "
        "the zones were drawn on) for this long; 0: never checked",
    )
    recover: Duration = Field(
        5.0,
        gt=0,
        le=300,
        description="a problem is over once the picture has been fine for this long",
    )
    heartbeat: Duration = Field(
        5.0,
        ge=1,
        le=60,
        description="how often a run writes that it is watching each camera (guardian "
        "status and /healthz read it)",
    )
    cameras: dict[str, CameraHealthConfig] = Field(
        default_factory=dict,
        description="settings for one camera, by camera id: e.g. garden: {too_dark_after: 0}",
    )

    @field_validator("offline_after")
    @classmethod
    def _in_time(cls, value: float) -> float:
        _in_time(value)
        return value

    def for_camera(self, camera: str) -> CameraHealthConfig:
        """The camera's settings, every field filled (its own, else the site's)."""
        own = self.cameras.get(camera, CameraHealthConfig())
        return CameraHealthConfig(
            enabled=self.enabled if own.enabled is None else own.enabled and self.enabled,
            offline_after=own.offline_after or self.offline_after,
            stalled_after=self.stalled_after if own.stalled_after is None else own.stalled_after,
            obstructed_after=(
                self.obstructed_after if own.obstructed_after is None else own.obstructed_after
            ),
            too_dark_after=(
                self.too_dark_after if own.too_dark_after is None else own.too_dark_after
            ),
            moved_after=self.moved_after if own.moved_after is None else own.moved_after,
        )
