"""Push notifications through Apprise.

Why Apprise: one well-kept library (BSD-licensed, released often, packaged by Debian
and Home Assistant) that speaks to some hundred push services through one URL syntax —
ntfy (self-hostable, no account needed), Pushover, Telegram, Gotify, Signal, Matrix,
Discord … — so the owner picks the service and Guardian needs no code per provider.
A contact's ``push_env`` names the environment variable holding its Apprise URL, e.g.
``ntfys://ntfy.sh/my-secret-topic`` or ``pover://user@token``. That URL is a secret (it
carries the topic or the token): it is never logged or stored.

Apprise does not tell a provider's message id, and most push services cannot be asked
afterwards whether a message arrived, so a push left "sending" by a crash is sent again
(a second push is better than none); SMS, which Twilio can be asked about, is not.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from guardian.alerts.base import DeliveryError
from guardian.effects import Notification

if TYPE_CHECKING:
    from guardian.config.site import SiteConfig

log = logging.getLogger("guardian.alerts")

_TITLES = {"critical": "EMERGENCY", "warning": "Warning", "info": "Info"}


class PushNotifier:
    """The ``push`` channel: one Apprise notification per message."""

    channel = "push"

    def __init__(self, urls: Mapping[str, str], *, site_name: str = "Guardian") -> None:
        self.urls = dict(urls)  # contact id → Apprise URL (secret)
        self.site_name = site_name

    @classmethod
    def from_site(cls, site: SiteConfig, environ: Mapping[str, str] = os.environ) -> PushNotifier:
        urls = {
            c.id: environ[c.push_env].strip()
            for c in site.contacts
            if c.push_env and environ.get(c.push_env, "").strip()
        }
        for contact in site.contacts:
            if "push" in contact.channels and contact.id not in urls:
                log.warning(
                    "push to contact '%s' not set up: environment variable %s is not set",
                    contact.id,
                    contact.push_env,
                )
        return cls(urls, site_name=site.site.name)

    def ready(self, contact: str) -> bool:
        """Whether a push to ``contact`` can be tried (an Apprise URL is set)."""
        return contact in self.urls

    def title(self, notification: Notification) -> str:
        what = _TITLES.get(notification.severity, notification.severity)
        if notification.kind == "prompt":
            what = "Question"
        elif notification.kind == "digest":
            what = "Morning digest"
        return f"{self.site_name}: {what}"

    def send(self, notification: Notification) -> str | None:
        import apprise

        url = self.urls.get(notification.contact)
        if url is None:
            raise DeliveryError(
                f"no push URL for contact '{notification.contact}' — set the environment "
                "variable named by its push_env to an Apprise URL"
            )
        client = apprise.Apprise()
        if not client.add(url):
            raise DeliveryError(
                f"the push URL of contact '{notification.contact}' is not an Apprise URL "
                "(see https://github.com/caronc/apprise/wiki)"
            )
        notify_type = {
            "critical": apprise.NotifyType.FAILURE,
            "warning": apprise.NotifyType.WARNING,
        }.get(notification.severity, apprise.NotifyType.INFO)
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            ok = client.notify(
                body=notification.message, title=self.title(notification), notify_type=notify_type
            )
        if not ok:
            codes = re.findall(r"error=(\d{3})", captured.getvalue())
            detail = f" (HTTP {codes[-1]})" if codes else ""
            raise DeliveryError(f"push service refused the message or is unreachable{detail}")
        return None
