"""One connection to the MQTT broker (paho-mqtt 2.x), shared by everything in a process.

:class:`MqttLink` owns paho's network thread: it connects (MQTT 5 or 3.1.1, TLS, a login
read from the environment variables the config names), reconnects by itself with a
backoff when the broker goes away, subscribes again to every topic after each reconnect,
and calls the ``on_connect`` callbacks so retained states can be published again.

Handlers run on the network thread: they must be short (validate, hand over, return).
An exception in a handler is logged and swallowed — a bad message never stops the link.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from guardian.config.mqtt import MqttConfig

log = logging.getLogger("guardian.mqtt")

#: how long a persistent session (a camera worker's) outlives its connection (MQTT 5)
SESSION_EXPIRY_S = 7 * 86400
#: QoS 1 messages in flight at once (unacknowledged by the broker)
MAX_INFLIGHT = 200
#: reconnect backoff: first wait, longest wait (seconds)
BACKOFF = (0.5, 8.0)


_paho_log = logging.getLogger("guardian.mqtt.paho")


def _paho_debug(_client: paho.Client, _userdata: Any, _level: int, text: str) -> None:
    _paho_log.debug("%s", text)


class MqttError(RuntimeError):
    """The broker cannot be used: unreachable, login refused, a missing variable."""


@dataclass(frozen=True)
class Message:
    """One message received on a subscribed topic."""

    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True)
class Will:
    """The last-will the broker publishes when the connection dies without a goodbye."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


def credentials(config: MqttConfig, environ: Mapping[str, str]) -> tuple[str, str | None] | None:
    """(user, password) from the environment variables the config names; None without a login.

    Raises :class:`MqttError` naming the missing variable (never its value).
    """
    if config.username_env is None:
        return None
    names = [config.username_env] + ([config.password_env] if config.password_env else [])
    missing = [name for name in names if not environ.get(name)]
    if missing:
        names_text = " and ".join(missing)
        raise MqttError(
            f"mqtt: environment variable{'s' if len(missing) > 1 else ''} {names_text} "
            f"{'are' if len(missing) > 1 else 'is'} not set (the site file's mqtt: section "
            "names them for the broker login)"
        )
    password = environ[config.password_env] if config.password_env else None
    return environ[config.username_env], password


class MqttLink:
    """A reconnecting MQTT client: publish, subscribe with handlers, on-connect callbacks."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        client_id: str,
        will: Will | None = None,
        persistent: bool = False,
        environ: Mapping[str, str] = os.environ,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.persistent = persistent
        self._v5 = config.protocol == 5
        self._login = credentials(config, environ)
        self._lock = threading.Lock()
        self._subscriptions: dict[str, int] = {}
        self._connect_callbacks: list[Callable[[], None]] = []
        self._connected = threading.Event()
        self._refused: str | None = None
        self._closed = False
        self._started = False
        #: the connection was lost (the next connect says it is back)
        self._lost = False
        #: the message id of the subscriptions renewed after a connect, until acknowledged
        self._resubscribe: int | None = None
        self._client = self._make_client(will)

    # ------------------------------------------------------------------ setup

    def _make_client(self, will: Will | None) -> paho.Client:
        config = self.config
        if self._v5:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=MQTTProtocolVersion.MQTTv5,
            )
        else:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=MQTTProtocolVersion.MQTTv311,
                clean_session=not self.persistent,
            )
        # paho's own words (a refused reconnect every second while the broker is away)
        # at DEBUG: this module says once what matters (lost, back, refused)
        client.on_log = _paho_debug
        if self._login is not None:
            client.username_pw_set(*self._login)
        if config.secure:
            tls = config.tls
            client.tls_set(
                ca_certs=tls.ca_file if tls else None,
                certfile=tls.cert_file if tls else None,
                keyfile=tls.key_file if tls else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
            if tls is not None and tls.insecure:
                client.tls_insecure_set(True)
        if will is not None:
            client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.reconnect_delay_set(min_delay=int(BACKOFF[0]) or 1, max_delay=int(BACKOFF[1]))
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)  # callers bound their own backlogs
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_unmatched
        return client

    def _connect_properties(self) -> Properties | None:
        if not self._v5:
            return None
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = SESSION_EXPIRY_S if self.persistent else 0
        return props

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        """Start the network thread; it connects (and reconnects) in the background."""
        if self._started:
            raise MqttError("mqtt: the link is already started")
        self._started = True
        kwargs: dict[str, Any] = {"keepalive": int(self.config.keepalive)}
        if self._v5:
            kwargs["clean_start"] = not self.persistent
            kwargs["properties"] = self._connect_properties()
        self._client.connect_async(self.config.host, self.config.port, **kwargs)
        self._client.loop_start()

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the broker to accept the connection."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
                return self._refused is None
        return self.connected

    def connect(self, timeout: float = 10.0) -> None:
        """Start the network thread and wait for the first connection (subscriptions
        made before it are in place when it returns).

        Raises :class:`MqttError` when the broker refuses the login or does not answer
        within ``timeout`` seconds; the link then is closed.
        """
        self.start()
        if self.wait_connected(timeout):
            return
        reason = self._refused or f"no answer within {timeout:g}s"
        self.close()
        raise MqttError(
            f"mqtt: cannot connect to {self.config.host}:{self.config.port} as "
            f"'{self.client_id}': {reason}"
        )

    @property
    def refused(self) -> str | None:
        """Why the broker refused the last connection (a bad login), else None."""
        return self._refused

    def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Queue one message; QoS 1 and 2 messages wait for a reconnect when the link is down."""
        data = payload.encode() if isinstance(payload, str) else payload
        info = self._client.publish(topic, data, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            log.warning("mqtt: publish to %s failed: %s", topic, paho.error_string(info.rc))

    def subscribe(self, topic: str, handler: Callable[[Message], None], *, qos: int = 1) -> None:
        """Call ``handler`` for every message on ``topic`` (a filter: + and # allowed).

        Kept across reconnects. The handler runs on the network thread.
        """

        def on_message(_client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
            try:
                handler(Message(topic=msg.topic, payload=bytes(msg.payload), retain=msg.retain))
            except Exception:  # a handler's bug must not stop the network thread
                log.exception("mqtt: handler for %s failed on a message", msg.topic)

        with self._lock:
            self._subscriptions[topic] = qos
        self._client.message_callback_add(topic, on_message)
        if self._connected.is_set():
            self._client.subscribe(topic, qos=qos)

    def on_connect(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` after every (re)connect (on the network thread)."""
        with self._lock:
            self._connect_callbacks.append(callback)
        if self._connected.is_set():
            self._run_callback(callback)

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection and every subscription."""
        return self._connected.is_set() and self._refused is None

    def pending(self) -> int:
        """Outgoing QoS 1/2 messages not yet acknowledged by the broker."""
        return len(self._client._out_messages)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.pending() == 0

    def close(self) -> None:
        """Disconnect cleanly (the broker does NOT send the will) and stop the thread."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._connected.is_set():
                self._client.disconnect()
        finally:
            self._client.loop_stop()
            self._connected.clear()

    # ------------------------------------------------------------------ paho callbacks

    def _on_connect(
        self,
        client: paho.Client,
        _userdata: Any,
        _flags: Any,
        reason: ReasonCode,
        _props: Any,
    ) -> None:
        if reason.is_failure:
            self._refused = f"refused by the broker ({reason})"
            log.error("mqtt: %s refused the connection: %s", self.config.host, reason)
            self._connected.set()  # wake connect(), which reports the refusal
            return
        self._refused = None
        with self._lock:
            subscriptions = list(self._subscriptions.items())
        if subscriptions:  # ready once the broker has them all (_on_subscribe)
            _rc, self._resubscribe = client.subscribe(subscriptions)
        else:
            self._ready()

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, mid: int, codes: Any, _props: Any
    ) -> None:
        refused = [c for c in codes if getattr(c, "is_failure", False)]
        if refused:
            log.error("mqtt: the broker refused a subscription: %s", refused[0])
        if mid == self._resubscribe:
            self._resubscribe = None
            self._ready()

    def _ready(self) -> None:
        """Connected and subscribed (network thread): say so, then the callbacks."""
        back = self._lost
        self._lost = False
        with self._lock:
            callbacks = list(self._connect_callbacks)
        self._connected.set()
        level = logging.WARNING if back else logging.INFO
        log.log(
            level,
            "mqtt: %s %s:%s as %s",
            "back on" if back else "connected to",
            self.config.host,
            self.config.port,
            self.client_id,
        )
        for callback in callbacks:
            self._run_callback(callback)

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        was = self._connected.is_set() and self._refused is None
        self._connected.clear()
        if was and not self._closed:
            self._lost = True
            log.warning("mqtt: lost the broker (%s); reconnecting", reason)

    def _on_unmatched(self, _client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        log.debug("mqtt: message on %s matches no handler", msg.topic)

    @staticmethod
    def _run_callback(callback: Callable[[], None]) -> None:
        try:
            callback()
        except Exception:
            log.exception("mqtt: on-connect callback failed")


__all__ = ["Message", "MqttError", "MqttLink", "Will", "credentials"]
