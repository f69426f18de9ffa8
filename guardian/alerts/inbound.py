"""SMS replies through Twilio's webhook: ACK / OK acknowledge, YES / NO answer a prompt.

``guardian serve`` mounts :func:`handle_sms_webhook` at ``POST /twilio/sms``; point the
Twilio number's "A message comes in" webhook at that public URL. Every request must be
signed by Twilio (``X-Twilio-Signature``, HMAC-SHA1 of the URL and the form with the
account's auth token): a forged or unsigned request, or one when no token is set up,
is refused with 403 and changes nothing. The sender must be one of the site's contacts
(matched on the number in its ``phone_env``); anyone else gets a polite reply and
nothing is done. Each message is carried out once: a request repeating a ``MessageSid``
already handled (a replayed or re-sent webhook) is answered with an empty reply and
does nothing.

Replies understood (case does not matter; ``<ref>`` is the ``G…`` code at the end of
the text being answered, or an event / prompt id):

* ``ACK`` or ``OK`` — acknowledge the latest unacknowledged event alerted to the sender;
  ``ACK <ref>`` a given one. Its escalation stops.
* ``YES`` / ``NO`` — answer the latest pending question sent to the sender;
  ``YES <ref>`` a given one. YES carries it out (the mode switch), as ``guardian answer``.
* anything else — a short help text.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from guardian.config.site import ContactConfig, SiteConfig
from guardian.store import PromptError, Store
from guardian.timefmt import hour_minute

log = logging.getLogger("guardian.alerts")

XML = "application/xml"
#: a TwiML reply that sends nothing back
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
TEXT = "text/plain; charset=utf-8"
HELP = (
    "Guardian: reply ACK to acknowledge the latest alert (ACK <code> for another), "
    "YES or NO to answer the latest question."
)


@dataclass(frozen=True, slots=True)
class InboundReply:
    """What to answer Twilio's webhook request with."""

    status: int  # 200, or 403 for a bad signature, 400 for a bad request
    body: str  # TwiML (<Response><Message>…</Message></Response>) or a short error text
    content_type: str  # "application/xml" or "text/plain; charset=utf-8"


def twilio_signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """The ``X-Twilio-Signature`` Twilio would send for this POST (for tests and tools)."""
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(auth_token).compute_signature(url, dict(form)))


def twiml(text: str) -> InboundReply:
    """A 200 reply that texts ``text`` back to the sender."""
    from twilio.twiml.messaging_response import MessagingResponse

    response = MessagingResponse()
    response.message(text)
    return InboundReply(200, str(response), XML)


def _normal_number(number: str) -> str:
    digits = re.sub(r"\D", "", number)
    return digits[2:] if number.strip().startswith("00") else digits


def contact_by_number(
    site: SiteConfig, number: str, environ: Mapping[str, str] = os.environ
) -> ContactConfig | None:
    """The contact whose ``phone_env`` holds this number, or None."""
    wanted = _normal_number(number)
    if len(wanted) < 6:
        return None
    for contact in site.contacts:
        if contact.phone_env and _normal_number(environ.get(contact.phone_env, "")) == wanted:
            return contact
    return None


def handle_sms_webhook(
    store: Store,
    site: SiteConfig,
    *,
    url: str,
    form: Mapping[str, str],
    signature: str | None,
    auth_token: str | None,
    now: float,
    environ: Mapping[str, str] = os.environ,
) -> InboundReply:
    """Check Twilio's signature, then carry out an SMS reply (see the module's doc)."""
    from twilio.request_validator import RequestValidator

    if not auth_token:
        log.warning("sms reply refused: no Twilio auth token is set up to check signatures")
        return InboundReply(403, "SMS replies are not set up (no Twilio auth token)", TEXT)
    if not signature or not RequestValidator(auth_token).validate(url, dict(form), signature):
        log.warning("sms reply refused: missing or wrong X-Twilio-Signature")
        return InboundReply(403, "invalid or missing X-Twilio-Signature", TEXT)
    sender, text, sid = form.get("From"), form.get("Body"), form.get("MessageSid")
    if not sender or text is None or not sid:
        return InboundReply(
            400, "a Twilio SMS webhook needs the From, Body and MessageSid fields", TEXT
        )
    if not store.access_log.claim_inbound_message(sid, sender=sender, now=now):
        log.warning("sms reply %s was already handled: ignored (a replayed request)", sid)
        return InboundReply(200, EMPTY_TWIML, XML)
    try:
        return _carry_out(store, site, sender, text, now, environ)
    except BaseException:
        store.access_log.forget_inbound_message(sid)  # nothing was done: Twilio's retry may do it
        raise


def _carry_out(
    store: Store,
    site: SiteConfig,
    sender: str,
    text: str,
    now: float,
    environ: Mapping[str, str],
) -> InboundReply:
    contact = contact_by_number(site, sender, environ)
    if contact is None:
        log.info("sms reply from a number that is not a contact: ignored")
        return twiml(f"Sorry, this number is not a contact of {site.site.name}: nothing was done.")
    words = text.strip().split()
    command = words[0].upper().strip(".,!?;:") if words else ""
    ref = words[1].strip("[]().,!?;:") if len(words) > 1 else None
    log.info("sms reply from contact '%s': %s", contact.id, command or "(empty)")
    if command in ("ACK", "OK", "OKAY"):
        return _acknowledge(store, site, contact, ref, now)
    if command in ("YES", "Y", "NO", "N"):
        return _answer(store, site, contact, ref, command.startswith("Y"), now)
    return twiml(HELP)


def _event_for_ref(store: Store, ref: str) -> str | None:
    if store.event_log.get(ref) is not None:
        return ref
    for delivery in store.outbox.by_ref(ref):
        if delivery.event_id:
            return delivery.event_id
    return None


def _acknowledge(
    store: Store, site: SiteConfig, contact: ContactConfig, ref: str | None, now: float
) -> InboundReply:
    if ref is not None:
        event_id = _event_for_ref(store, ref)
        if event_id is None:
            return twiml(f"No alert with the code {ref}: nothing was acknowledged.")
    else:
        event_id = store.outbox.latest_unacknowledged_alert(contact.id)
        if event_id is None:
            return twiml("No alert is waiting for an acknowledgement.")
    event = store.event_log.get(event_id)
    if event is None:  # the delivery names an event that is not stored
        return twiml(f"No alert with the code {ref}: nothing was acknowledged.")
    what = f"{event.rule_alias} at {hour_minute(event.started_at, site.site.timezone)}"
    if store.event_log.is_acknowledged(event_id):
        return twiml(f"Already acknowledged: {what}.")
    store.event_log.acknowledge(event_id, by=contact.id, now=now)
    log.info("event %s acknowledged by sms from contact '%s'", event_id, contact.id)
    return twiml(f"Acknowledged: {what}. Escalation stopped.")


def _prompt_for_ref(store: Store, ref: str) -> str | None:
    if store.prompt_log.get(ref.lower()) is not None:
        return ref.lower()
    for delivery in store.outbox.by_ref(ref):
        if delivery.kind == "prompt" and delivery.dedup_key.startswith("prompt:"):
            return delivery.dedup_key.split(":")[1]
    return None


def _answer(
    store: Store, site: SiteConfig, contact: ContactConfig, ref: str | None, yes: bool, now: float
) -> InboundReply:
    if ref is not None:
        prompt_id = _prompt_for_ref(store, ref)
        if prompt_id is None:
            return twiml(f"No question with the code {ref}: nothing was done.")
    else:
        waiting = [
            p
            for p in store.prompt_log.find("pending")
            if (contact.id in p.contacts or "*" in p.contacts) and p.expires_at > now
        ]
        if not waiting:
            return twiml("No question is waiting for an answer.")
        prompt_id = max(waiting, key=lambda p: p.created_at).prompt_id
    try:
        prompt, mode = store.prompt_log.answer(
            prompt_id, yes=yes, by=contact.id, source="sms", now=now
        )
    except PromptError as exc:
        return twiml(f"Not done: {exc}.".replace(" — 'guardian prompts' lists them", ""))
    log.info("prompt %s answered %s by sms from '%s'", prompt_id, yes, contact.id)
    if mode is None:
        return twiml(f"Answered {'YES' if yes else 'NO'}: {prompt.question}")
    until = ""
    if mode.until is not None:
        until = f" until {hour_minute(mode.until, site.site.timezone)}"
    return twiml(f"Answered YES: mode is now {mode.mode}{until}.")
