"""The ``review:`` section of the site file: the morning review page (``guardian serve``).

Example::

    review:
      url: https://guardian.example.org   # public address, for links in alerts
      host: 127.0.0.1                     # where 'guardian serve' listens (the proxy's
      port: 8080                          # upstream); --host / --port override them
      user: alex                          # the name recorded with acks and mode switches
      password_hash_env: GUARDIAN_REVIEW_PASSWORD_HASH   # or password_hash: scrypt$...
      secret_env: GUARDIAN_REVIEW_SECRET  # optional: else a 0600 file next to the database
      night: ["18:00", "09:00"]

The password is never stored: ``guardian passwd`` prints a scrypt hash to paste here (or
into the environment variable named by ``password_hash_env``).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guardian.config.checks import check_env_name
from guardian.config.durations import Duration, LongDuration
from guardian.config.problems import located_error

_HHMM_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
#: ``scrypt$n=16384,r=8,p=1$<salt>$<hash>`` (salt and hash in unpadded base64url)
HASH_RE = re.compile(r"^scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9_-]+)\$([A-Za-z0-9_-]+)$")


class ReviewConfig(BaseModel):
    """The ``review:`` section: the review page's address, login and night window."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="review")

    url: str = Field(
        "",
        description=(
            "public base address of the review page, e.g. https://guardian.example.org; "
            "used for links in alerts and to check the Twilio webhook signature "
            "(empty: links are left out)"
        ),
    )
    host: str = Field(
        "127.0.0.1",
        description=(
            "address 'guardian serve' listens on (--host overrides); keep 127.0.0.1 behind "
            "a TLS reverse proxy that 'url' names"
        ),
    )
    port: int = Field(
        8080,
        ge=0,
        le=65535,
        description="port 'guardian serve' listens on (--port overrides; 0: any free port)",
    )
    user: str = Field(
        "owner", description="the name recorded with acknowledgements and mode switches"
    )
    password_hash: str | None = Field(
        None,
        description="scrypt hash of the page's password, from 'guardian passwd' (not the password)",
    )
    password_hash_env: str | None = Field(
        None,
        description="NAME of an environment variable holding the password hash instead",
    )
    secret_env: str | None = Field(
        None,
        description=(
            "NAME of an environment variable holding the key that signs sessions and share "
            "links (at least 32 characters); empty: a key generated once into a 0600 file "
            "next to the database"
        ),
    )
    session_lifetime: LongDuration = Field(
        43200.0, description="how long a login lasts, e.g. 12h (at most 30 days)"
    )
    share_lifetime: Duration = Field(
        3600.0,
        description=(
            "how long a clip link sent to a contact in an escalation works, e.g. 1h "
            "(it stops working as soon as the event is acknowledged)"
        ),
    )
    max_failures: int = Field(
        5, ge=1, le=100, description="failed logins from one address before it is locked out"
    )
    lockout: Duration = Field(
        300.0,
        description=(
            "how long an address is locked out after too many failures, e.g. 5m (1s to 1d)"
        ),
    )
    night: tuple[str, str] = Field(
        ("18:00", "09:00"),
        description="the night the page shows by default: start and end, HH:MM local time",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"review url '{value}' must start with https:// (or http://) and name a host "
                "— e.g. https://guardian.example.org"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                f"review url '{value}' must be a plain address without ?query, #fragment or "
                "user:password — e.g. https://guardian.example.org"
            )
        return value

    @field_validator("password_hash")
    @classmethod
    def _check_hash(cls, value: str | None) -> str | None:
        if value is not None and not HASH_RE.match(value.strip()):
            raise ValueError(
                "'password_hash' is not a hash made by 'guardian passwd' (scrypt$n=...$...$...) "
                "— run 'guardian passwd' and paste what it prints; never put the password itself"
            )
        return None if value is None else value.strip()

    @field_validator("password_hash_env", mode="before")
    @classmethod
    def _check_hash_env(cls, value: Any) -> Any:
        return check_env_name(value, "password_hash_env", "GUARDIAN_REVIEW_PASSWORD_HASH")

    @field_validator("secret_env", mode="before")
    @classmethod
    def _check_secret_env(cls, value: Any) -> Any:
        return check_env_name(value, "secret_env", "GUARDIAN_REVIEW_SECRET")

    @field_validator("session_lifetime")
    @classmethod
    def _check_session(cls, value: float) -> float:
        if not 60 <= value <= 30 * 86400:
            raise ValueError("'session_lifetime' must be between 1m and 30d — e.g. '12h'")
        return value

    @field_validator("share_lifetime")
    @classmethod
    def _check_share(cls, value: float) -> float:
        if not 60 <= value <= 7 * 86400:
            raise ValueError("'share_lifetime' must be between 1m and 7d — e.g. '1h'")
        return value

    @field_validator("lockout")
    @classmethod
    def _check_lockout(cls, value: float) -> float:
        if not 1 <= value <= 86400:  # also refuses .inf and .nan
            raise ValueError("'lockout' must be between 1s and 1d — e.g. '5m'")
        return value

    @field_validator("night")
    @classmethod
    def _check_night(cls, value: tuple[str, str]) -> tuple[str, str]:
        for text in value:
            if not _HHMM_RE.match(text.strip()):
                raise ValueError(
                    f"'{text}' is not a time of day — write the night as two HH:MM times, "
                    "e.g. ['18:00', '09:00']"
                )
        return (value[0].strip(), value[1].strip())

    @model_validator(mode="after")
    def _one_password_source(self) -> ReviewConfig:
        if self.password_hash is not None and self.password_hash_env is not None:
            raise located_error(
                "review has both 'password_hash' and 'password_hash_env' — keep one of them",
                "password_hash_env",
            )
        return self

    @property
    def night_times(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The night's start and end as (hour, minute) pairs."""
        start, end = (tuple(int(p) for p in t.split(":")) for t in self.night)
        return (start[0], start[1]), (end[0], end[1])
