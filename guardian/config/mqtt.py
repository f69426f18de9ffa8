"""The ``mqtt:`` section of the site file: the broker that links Guardian to Home Assistant
and to camera workers on other machines.

Example::

    mqtt:
      url: mqtts://broker.example.org:8883   # mqtt://host:1883 without TLS
      username_env: GUARDIAN_MQTT_USER       # NAMES of environment variables, never values
      password_env: GUARDIAN_MQTT_PASSWORD
      tls:
        ca_file: /etc/guardian/ca.pem
      topic_prefix: guardian
      discovery: true                        # Home Assistant MQTT discovery

MQTT is a notification and transport path, not the record: events are in the database
before they are published, and a publish that fails loses nothing there.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from guardian.config.checks import check_env_name
from guardian.config.durations import Duration
from guardian.config.problems import located_error

#: an MQTT topic level that is safe to build topics from: no wildcards, no '/', no '$'
_TOPIC_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(?:/[A-Za-z0-9_-]+)*$")
#: MQTT client identifiers: keep to what every broker accepts
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: default ports per scheme
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class MqttTls(BaseModel):
    """``mqtt: tls:``: certificates for an ``mqtts://`` broker."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="mqtt tls")

    ca_file: str | None = Field(
        None,
        description="PEM file of the certificate authority that signed the broker's "
        "certificate; empty: the system's trusted authorities",
    )
    cert_file: str | None = Field(
        None, description="PEM client certificate, when the broker asks for one (with key_file)"
    )
    key_file: str | None = Field(
        None, description="PEM private key of the client certificate (with cert_file)"
    )
    insecure: bool = Field(
        False,
        description="skip checking the broker's host name against its certificate (tests "
        "and self-signed labs only; the connection is still encrypted)",
    )

    @model_validator(mode="after")
    def _cert_with_key(self) -> MqttTls:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise located_error(
                f"mqtt tls gives only one of cert_file and key_file — add '{missing}' too "
                "(a client certificate needs its key), or leave both out",
                "cert_file" if self.cert_file is not None else "key_file",
            )
        return self


class MqttConfig(BaseModel):
    """The ``mqtt:`` section: the broker, the login, TLS, topics and Home Assistant discovery."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, title="mqtt")

    url: str = Field(
        description="the broker: mqtt://host:1883, or mqtts://host:8883 for TLS "
        "(no user:password in it — use username_env / password_env)"
    )
    client_id: str | None = Field(
        None,
        description="MQTT client id (letters, digits, '_' and '-', at most 64); empty: "
        "derived from the site name ('-worker-<name>' added for workers)",
    )
    username_env: str | None = Field(
        None, description="NAME of the environment variable holding the broker user name"
    )
    password_env: str | None = Field(
        None, description="NAME of the environment variable holding the broker password"
    )
    tls: MqttTls | None = Field(
        None, description="certificates for an mqtts:// broker (only with mqtts://)"
    )
    protocol: int = Field(
        5, description="MQTT protocol version: 5 (default) or 4 for MQTT 3.1.1 brokers"
    )
    topic_prefix: str = Field(
        "guardian",
        description="first level(s) of every Guardian topic, e.g. 'guardian' or 'home/guardian' "
        "(letters, digits, '_', '-' and '/', no wildcards)",
    )
    discovery: bool = Field(
        True, description="publish Home Assistant MQTT discovery messages for the site"
    )
    discovery_prefix: str = Field(
        "homeassistant", description="Home Assistant's discovery prefix (its default is kept)"
    )
    keepalive: Duration = Field(
        30.0, description="how often the client pings the broker, e.g. 30s (5s to 10m)"
    )
    backlog: int = Field(
        10000,
        ge=100,
        le=1_000_000,
        description="observations a camera worker keeps while the broker is away (100 to "
        "1000000); the oldest are dropped beyond it",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(
                f"mqtt url '{value}' must be mqtt://host:1883 or mqtts://host:8883 "
                "(mqtts for TLS) — e.g. mqtt://127.0.0.1:1883"
            )
        if parts.username or parts.password:
            raise ValueError(
                "mqtt url must not carry a user name or password — put them in environment "
                "variables and name those with 'username_env' and 'password_env'"
            )
        if parts.path or parts.query or parts.fragment:
            raise ValueError(
                f"mqtt url '{value}' must be a plain broker address without path, ?query or "
                "#fragment — e.g. mqtt://broker.local:1883"
            )
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"mqtt url '{value}' has a bad port — use 1 to 65535, e.g. 1883")
        return value

    @field_validator("client_id")
    @classmethod
    def _check_client_id(cls, value: str | None) -> str | None:
        if value is not None and not _CLIENT_ID_RE.match(value):
            raise ValueError(
                f"mqtt client_id '{value}' may only contain letters, digits, '_' and '-' "
                "(at most 64) — or leave it out to derive it from the site name"
            )
        return value

    @field_validator("username_env", mode="before")
    @classmethod
    def _check_username_env(cls, value: Any) -> Any:
        return check_env_name(value, "username_env", "GUARDIAN_MQTT_USER")

    @field_validator("password_env", mode="before")
    @classmethod
    def _check_password_env(cls, value: Any) -> Any:
        return check_env_name(value, "password_env", "GUARDIAN_MQTT_PASSWORD")

    @field_validator("protocol")
    @classmethod
    def _check_protocol(cls, value: int) -> int:
        if value not in (4, 5):
            raise ValueError(
                f"mqtt protocol {value} is not supported — use 5 (MQTT 5) or 4 (MQTT 3.1.1)"
            )
        return value

    @field_validator("topic_prefix", "discovery_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not _TOPIC_PREFIX_RE.match(value) or len(value) > 100:
            raise ValueError(
                f"topic prefix '{value}' may only contain letters, digits, '_', '-' and '/' "
                "between levels (no '+', '#', '$', spaces or empty levels) — e.g. 'guardian'"
            )
        return value

    @field_validator("keepalive")
    @classmethod
    def _check_keepalive(cls, value: float) -> float:
        if not 5 <= value <= 600:
            raise ValueError("mqtt 'keepalive' must be between 5s and 10m — e.g. '30s'")
        return value

    @model_validator(mode="after")
    def _tls_with_mqtts(self) -> MqttConfig:
        if self.tls is not None and not self.secure:
            raise located_error(
                "mqtt has a 'tls:' section but the url is mqtt:// — use mqtts://host:8883 "
                "for TLS, or remove 'tls:'",
                "tls",
            )
        if self.password_env is not None and self.username_env is None:
            raise located_error(
                "mqtt has 'password_env' without 'username_env' — a broker login needs both",
                "password_env",
            )
        if self.discovery_prefix == self.topic_prefix:
            raise located_error(
                f"mqtt 'topic_prefix' and 'discovery_prefix' are both '{self.topic_prefix}' "
                "— give Guardian its own prefix, e.g. 'guardian'",
                "topic_prefix",
            )
        return self

    @property
    def secure(self) -> bool:
        """True for an ``mqtts://`` broker."""
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        """The broker's host name or address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The broker's port (1883 / 8883 when the url gives none)."""
        parts = urlsplit(self.url)
        return parts.port or DEFAULT_PORTS[parts.scheme]

    def client_id_for(self, site_name: str, worker: str | None = None) -> str:
        """``client_id``, or one derived from the site name (``-worker-<name>`` for workers)."""
        base = self.client_id or (
            "guardian-" + (re.sub(r"[^a-z0-9_-]+", "-", site_name.lower()).strip("-") or "site")
        )
        ident = base if worker is None else f"{base}-worker-{worker}"
        return ident[:64]
