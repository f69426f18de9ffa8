"""The ``alerts:`` section of the site file: Twilio, quiet hours, retries, the digest.

Like contacts, nothing secret is written here: Twilio's account SID, auth token and
sender number come from environment variables whose NAMES are given (the defaults are
the names Twilio's own tools use). ``api_base`` is not a secret: it points the Twilio
client at another host (a test server, a regional edge).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guardian.config.checks import check_env_name
from guardian.config.cron import crontab_trigger
from guardian.config.durations import Duration
from guardian.config.problems import located_error
from guardian.vocab import Channel, ContactChannel

_HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class TwilioConfig(BaseModel):
    """Where the SMS channel finds its Twilio credentials (environment variable NAMES)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="twilio")

    account_sid_env: str = Field(
        "TWILIO_ACCOUNT_SID",
        description="NAME of the environment variable holding the Twilio account SID (AC...)",
    )
    auth_token_env: str = Field(
        "TWILIO_AUTH_TOKEN",
        description="NAME of the environment variable holding the Twilio auth token",
    )
    from_env: str = Field(
        "TWILIO_FROM_NUMBER",
        description="NAME of the environment variable holding the sender number (+1555...)",
    )
    api_base: str | None = Field(
        None,
        description=(
            "base URL of the Twilio REST API; leave it out for https://api.twilio.com "
            "(tests point it at a local server)"
        ),
    )
    timeout: Duration = Field(
        20.0, description="seconds to wait for Twilio before a send counts as failed, e.g. 20s"
    )

    @field_validator("account_sid_env", mode="before")
    @classmethod
    def _sid(cls, value: Any) -> Any:
        return check_env_name(value, "account_sid_env", "TWILIO_ACCOUNT_SID")

    @field_validator("auth_token_env", mode="before")
    @classmethod
    def _token(cls, value: Any) -> Any:
        return check_env_name(value, "auth_token_env", "TWILIO_AUTH_TOKEN")

    @field_validator("from_env", mode="before")
    @classmethod
    def _from(cls, value: Any) -> Any:
        return check_env_name(value, "from_env", "TWILIO_FROM_NUMBER")

    @field_validator("api_base")
    @classmethod
    def _check_api_base(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"'api_base' is '{value}' — give a base URL such as 'https://api.twilio.com' "
                "(or leave it out)"
            )
        if value is not None and "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "'api_base' must not carry credentials — the SID and token come from the "
                "environment variables named by account_sid_env and auth_token_env"
            )
        return value

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if not 0 < value <= 120:
            raise ValueError("'timeout' must be more than 0 and at most 2m — e.g. '20s'")
        return value


class QuietHours(BaseModel):
    """A nightly window in which non-critical sms/push alerts are held back."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="quiet hours")

    start: str = Field(description="when quiet hours begin, HH:MM in the site's time zone")
    end: str = Field(
        description="when they end, HH:MM in the site's time zone (may be the next morning)"
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _check_time(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            # YAML 1.1 reads an unquoted 22:00 as the number 1320 (minutes)
            value = f"{value // 60:02d}:{value % 60:02d}"
        if not isinstance(value, str) or not _HHMM_RE.match(value.strip()):
            raise ValueError(f"'{value}' is not a time of day — write HH:MM, e.g. \"22:00\"")
        return value.strip()

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.minutes(self.start) == self.minutes(self.end):
            raise located_error(
                f"quiet hours start and end at the same time ({self.start}) — give a window, "
                'e.g. start: "22:00", end: "07:00"',
                "end",
            )
        return self

    @staticmethod
    def minutes(text: str) -> int:
        hours, minutes = text.split(":")
        return int(hours) * 60 + int(minutes)

    def contains(self, minute_of_day: int) -> bool:
        """True when this minute of the day (0..1439) is inside the window (end excluded)."""
        start, end = self.minutes(self.start), self.minutes(self.end)
        if start < end:
            return start <= minute_of_day < end
        return minute_of_day >= start or minute_of_day < end


class DigestConfig(BaseModel):
    """The morning digest: a summary of the night sent on a crontab schedule."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="digest")

    enabled: bool = Field(True, description="set to false to send no digest")
    cron: str = Field(
        "0 7 * * *",
        description="when, as a 5-field crontab in the site's time zone (default 07:00 daily)",
    )
    channels: tuple[ContactChannel, ...] = Field(
        (Channel.SMS, Channel.PUSH),
        description=(
            "channels the digest goes on: console, sms, push (each contact gets it on the "
            "ones it also lists in its own channels)"
        ),
    )
    contacts: tuple[str, ...] = Field(
        (), description="contact ids to send it to; empty: every contact"
    )
    hours: Duration | None = Field(
        None,
        description=(
            "how far back the digest looks from when it runs, e.g. 24h; default: from the "
            "start of the last night (review.night, 18:00), the night 'guardian review' shows"
        ),
    )

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        crontab_trigger(value, "UTC")
        return value

    @field_validator("hours")
    @classmethod
    def _check_hours(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value <= 7 * 86400:
            raise ValueError("'hours' must be more than 0 and at most 7d — e.g. '24h'")
        return value


class AlertsConfig(BaseModel):
    """The ``alerts:`` section: SMS provider, quiet hours, retries and the digest."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="alerts")

    twilio: TwilioConfig = Field(
        default_factory=TwilioConfig, description="Twilio credentials (environment variable names)"
    )
    quiet_hours: QuietHours | None = Field(
        None,
        description=(
            "hold back non-critical sms/push alerts in this window, e.g. "
            '{start: "22:00", end: "07:00"}; critical alerts always go'
        ),
    )
    max_attempts: int = Field(
        8, ge=1, le=50, description="tries before a delivery is given up as failed (1 to 50)"
    )
    retry_max: Duration = Field(
        300.0, description="longest wait between two tries (the wait doubles up to it), e.g. 5m"
    )
    digest: DigestConfig = Field(
        default_factory=DigestConfig, description="the morning digest: when, to whom, how"
    )

    @field_validator("retry_max")
    @classmethod
    def _check_retry_max(cls, value: float) -> float:
        if not 1 <= value <= 86400:
            raise ValueError("'retry_max' must be between 1s and 24h — e.g. '5m'")
        return value
