"""SMS through Twilio, with the real ``twilio`` client.

Credentials come from environment variables named in the site file (``alerts.twilio``);
a contact's number from the variable its ``phone_env`` names. None of them is ever
logged: numbers appear masked (``+33…78``), and provider errors are scrubbed of the
account SID, the token and the numbers before they are stored or logged.

Every text ends with the delivery's reference (``[G4KQ7M]``): after a crash in the
middle of a send, :meth:`SmsNotifier.reconcile` lists the messages Twilio has from our
number to the contact since that day and looks for the reference, so a message that
went out is marked sent instead of being sent twice. Texts of critical alerts say how
to acknowledge (``Reply ACK``), prompts how to answer (``Reply YES or NO``).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from guardian.alerts.base import DeliveryError, DeliveryUncertain
from guardian.effects import Notification
from guardian.store import Delivery, delivery_ref

if TYPE_CHECKING:
    from twilio.rest import Client

    from guardian.config.site import SiteConfig

log = logging.getLogger("guardian.alerts")

#: Twilio's limit for one message body
MAX_BODY = 1600
#: the Twilio client logs every request's URL and parameters (account SID, numbers) at
#: INFO: it gets a logger of its own that only lets warnings through
_QUIET_HTTP_LOG = logging.getLogger("guardian.alerts.twilio_http")
_QUIET_HTTP_LOG.setLevel(logging.WARNING)
#: message statuses that mean the text did not go out
_NOT_SENT = frozenset({"failed", "undelivered", "canceled"})


def mask_number(number: str) -> str:
    """``+33612345678`` → ``+33…78``: enough to tell numbers apart in a log, no more."""
    text = number.strip()
    if len(text) <= 5:
        return "…"
    return f"{text[:3]}…{text[-2:]}"


def reply_hint(kind: str, severity: str) -> str:
    """What the receiver of an SMS can reply, or "" when no reply does anything."""
    if kind == "prompt":
        return "Reply YES or NO."
    if kind in ("alert", "escalation") and severity == "critical":
        return "Reply ACK to acknowledge."
    return ""


def compose_sms(notification: Notification) -> str:
    """The text of an SMS: the message, what to reply, and the reference ``[G…]``."""
    tag = f"[{delivery_ref(notification.key)}]"
    hint = reply_hint(notification.kind, notification.severity)
    tail = " ".join(part for part in (hint, tag) if part)
    room = MAX_BODY - len(tail) - 1
    message = notification.message.strip()
    if len(message) > room:
        message = message[: room - 1].rstrip() + "…"
    return f"{message} {tail}"


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    """What the Twilio client needs; read from the environment, never from files."""

    account_sid: str
    auth_token: str
    from_number: str


def twilio_credentials(
    site: SiteConfig, environ: Mapping[str, str] = os.environ
) -> tuple[TwilioCredentials | None, str]:
    """The credentials, or None and what is missing (names of variables, no values)."""
    cfg = site.alerts.twilio
    names = (cfg.account_sid_env, cfg.auth_token_env, cfg.from_env)
    values = [environ.get(name, "").strip() for name in names]
    missing = [name for name, value in zip(names, values, strict=True) if not value]
    if missing:
        return None, "environment variable(s) not set: " + ", ".join(missing)
    return TwilioCredentials(*values), ""


class SmsNotifier:
    """The ``sms`` channel: one Twilio message per notification."""

    channel = "sms"

    def __init__(
        self,
        credentials: TwilioCredentials | None,
        numbers: Mapping[str, str],
        *,
        api_base: str | None = None,
        timeout: float = 20.0,
        problem: str = "",
    ) -> None:
        self.credentials = credentials
        self.numbers = dict(numbers)  # contact id → phone number
        self.api_base = api_base
        self.timeout = timeout
        self.problem = problem
        self._client: Client | None = None

    @classmethod
    def from_site(cls, site: SiteConfig, environ: Mapping[str, str] = os.environ) -> SmsNotifier:
        credentials, problem = twilio_credentials(site, environ)
        numbers = {
            c.id: environ[c.phone_env].strip()
            for c in site.contacts
            if c.phone_env and environ.get(c.phone_env, "").strip()
        }
        cfg = site.alerts.twilio
        if credentials is None and any("sms" in c.channels for c in site.contacts):
            log.warning("sms channel not set up: %s", problem)
        return cls(
            credentials, numbers, api_base=cfg.api_base, timeout=cfg.timeout, problem=problem
        )

    def ready(self, contact: str) -> bool:
        """Whether a text to ``contact`` can be tried (credentials and a number)."""
        return self.credentials is not None and contact in self.numbers

    @property
    def client(self) -> Client:
        """The Twilio REST client (pointed at ``api_base`` when one is set)."""
        if self.credentials is None:
            raise DeliveryError(f"sms channel not set up: {self.problem}")
        if self._client is None:
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            client = Client(
                self.credentials.account_sid,
                self.credentials.auth_token,
                http_client=TwilioHttpClient(timeout=self.timeout, logger=_QUIET_HTTP_LOG),
                environment={},  # no region/edge taken from the process environment
            )
            if self.api_base:
                # every Messages call goes through the "api" domain; its base URL is the host
                client.api.base_url = self.api_base.rstrip("/")
            self._client = client
        return self._client

    def _number(self, contact: str) -> str:
        number = self.numbers.get(contact)
        if number is None:
            raise DeliveryError(
                f"no phone number for contact '{contact}' — set the environment variable "
                "named by its phone_env"
            )
        return number

    def send(self, notification: Notification) -> str | None:
        to = self._number(notification.contact)
        client = self.client
        assert self.credentials is not None
        try:
            message = client.messages.create(
                to=to, from_=self.credentials.from_number, body=compose_sms(notification)
            )
        except Exception as exc:
            from twilio.base.exceptions import TwilioRestException

            # Twilio answered with an error: it did not take the message. No answer
            # (a timeout, a broken connection): it may have it, so it is reconciled
            # with Twilio before it is sent again (never sent twice by a slow Twilio)
            error = DeliveryError if isinstance(exc, TwilioRestException) else DeliveryUncertain
            raise error(f"Twilio: {self._scrub(exc)}") from None
        log.info("sms %s to %s: %s", message.sid, mask_number(to), message.status)
        return str(message.sid) if message.sid else None

    def reconcile(self, delivery: Delivery) -> str | None:
        """After a crash mid-send: the SID of the message Twilio has for this delivery,
        or None when it never reached Twilio (then it is safe to send it again).

        Raises DeliveryError when Twilio cannot be asked (the delivery stays in doubt).
        """
        to = self._number(delivery.contact)
        client = self.client
        assert self.credentials is not None
        tag = f"[{delivery.ref}]"
        started = delivery.sending_at or delivery.created_at
        # UTC on purpose: Twilio's date_sent filter is in whole UTC days, not the site's
        day = dt.datetime.fromtimestamp(started, dt.UTC).date() - dt.timedelta(days=1)
        try:
            # messages sent since the day before the claim (Twilio filters by whole days)
            found = self._match(
                client.messages.list(
                    to=to,
                    from_=self.credentials.from_number,
                    date_sent_after=day.isoformat(),
                    limit=500,
                ),
                tag,
            )
            if found is None:
                # a message still queued at Twilio has no date_sent yet: look at the newest
                found = self._match(
                    client.messages.list(to=to, from_=self.credentials.from_number, limit=50),
                    tag,
                )
        except Exception as exc:
            raise DeliveryError(f"Twilio (reconcile): {self._scrub(exc)}") from None
        return found

    @staticmethod
    def _match(messages: list[Any], tag: str) -> str | None:
        for message in messages:
            if tag in (message.body or "") and message.status not in _NOT_SENT:
                return str(message.sid)
        return None

    def _scrub(self, exc: BaseException) -> str:
        """The error text without the SID, the token or any number."""
        text = f"{type(exc).__name__}: {exc}"
        if self.credentials is not None:
            text = text.replace(self.credentials.auth_token, "***")
            text = text.replace(self.credentials.account_sid, "AC***")
        from urllib.parse import quote

        numbers = list(self.numbers.values())
        if self.credentials is not None:
            numbers.append(self.credentials.from_number)
        for number in numbers:
            for form in (number, quote(number, safe=""), quote(number)):
                text = text.replace(form, mask_number(number))
        return " ".join(text.split())[:300]
