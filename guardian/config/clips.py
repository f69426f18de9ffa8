"""The ``clips:`` section of the site file: event clips, their buffer, and retention.

Example::

    clips:
      enabled: true        # every event gets a clip
      pre: 5s              # default seconds before an event (a rule's record_clip overrides)
      post: 10s            # default seconds after it
      max_length: 2m       # a clip extended by later events never grows past this
      buffer: 30s          # frames kept in memory per camera (pre + how far the rules lag)
      min_free: 500MB      # below this free space, clips are skipped (events go on)
      retention:
        max_age: 30d
        max_size: 5GB
        schedule: "0 * * * *"   # crontab, site time zone: hourly
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from guardian.config.cron import crontab_trigger
from guardian.config.durations import Duration, LongDuration
from guardian.config.problems import located_error

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|mb|m|gb|g|tb|t|kib|mib|gib|tib)?\s*$", re.I)
_SIZE_UNITS = {
    None: 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


def parse_size(value: Any) -> Any:
    """``"500MB"``, ``"5GB"``, ``"1.5GiB"``, ``1000000`` → bytes; the rest is left to pydantic."""
    if isinstance(value, str):
        match = _SIZE.match(value)
        if not match:
            raise ValueError(
                f"'{value}' is not a size — write a number with a unit, e.g. '500MB' or '5GB'"
            )
        unit = match.group(2).lower() if match.group(2) else None
        return int(float(match.group(1)) * _SIZE_UNITS[unit])
    return value


#: bytes, written as a number or with a unit (KB, MB, GB, TB; KiB … TiB)
Size = Annotated[int, BeforeValidator(parse_size), Field(ge=0)]


def format_size(size: float) -> str:
    """``1234567`` → ``"1.2 MB"``."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


class RetentionConfig(BaseModel):
    """``clips: retention:``: how long and how much video is kept."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, title="clips retention"
    )

    max_age: LongDuration = Field(
        30 * 86400.0, description="clips older than this are deleted, e.g. 30d (0: no age limit)"
    )
    max_size: Size = Field(
        5 * 1000**3,
        description=(
            "total size of the clips folder, e.g. 5GB (0: no size limit); reviewed, "
            "non-critical clips are deleted first, unreviewed critical ones last"
        ),
    )
    schedule: str = Field(
        "0 * * * *",
        description="when retention runs: a crontab line in the site's time zone (hourly)",
    )

    @model_validator(mode="after")
    def _check_schedule(self) -> RetentionConfig:
        try:
            crontab_trigger(self.schedule, "UTC")
        except ValueError as exc:
            raise located_error(
                f"retention schedule '{self.schedule}': {exc}", "schedule"
            ) from None
        return self


class ClipsConfig(BaseModel):
    """The ``clips:`` section: a clip of every event, written without slowing cameras."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="clips")

    enabled: bool = Field(True, description="keep a clip of every event (false: no clips at all)")
    pre: Duration = Field(
        5.0, le=60, description="seconds of video before an event (a rule's record_clip overrides)"
    )
    post: Duration = Field(
        10.0, le=300, description="seconds after an event (a rule's record_clip overrides)"
    )
    max_length: Duration = Field(
        120.0,
        gt=0,
        le=3600,
        description="longest a clip may grow while later events on the camera extend it",
    )
    buffer: Duration = Field(
        30.0,
        gt=0,
        le=300,
        description=(
            "seconds of frames kept in memory per camera: 'pre' plus how far the rules may lag "
            "behind the camera (a few seconds)"
        ),
    )
    buffer_memory: Size = Field(
        128 * 1000**2,
        gt=0,
        description="most memory the frame buffer of one camera may use, e.g. 128MB",
    )
    quality: int = Field(
        80, ge=30, le=95, description="JPEG quality of buffered frames and pictures, 30..95"
    )
    crf: int = Field(
        26, ge=15, le=40, description="H.264 quality (lower is better and bigger), 15..40"
    )
    min_free: Size = Field(
        500 * 1000**2,
        description="free disk space below which clips are skipped (events go on), e.g. 500MB",
    )
    queue: int = Field(
        300,
        ge=10,
        le=10000,
        description="frames waiting for a camera's clip writer before new ones are dropped",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="how long and how much video is kept"
    )

    @model_validator(mode="after")
    def _buffer_covers_pre(self) -> ClipsConfig:
        if self.buffer < self.pre + 2:
            raise located_error(
                f"clips buffer {self.buffer:g}s is too short for pre {self.pre:g}s — the buffer "
                f"must hold 'pre' plus the rules' lag: set 'buffer: {self.pre + 10:g}s' or more",
                "buffer",
            )
        if self.max_length < self.pre + self.post:
            raise located_error(
                f"clips max_length {self.max_length:g}s is shorter than pre + post "
                f"({self.pre + self.post:g}s) — raise it to at least that",
                "max_length",
            )
        return self
