"""The review site's HTML routes (login, the night's page, events, files, share links,
mode, prompts, /healthz and the Twilio webhook). Everything needs a login except
``/login``, ``/static/…``, ``/share/…``, ``/healthz`` and the Twilio webhook (which is
authenticated by its signature)::

    GET  /                         events of a night (or ?from=&to=), newest first
    GET  /events/<id>              one event (the {link} target of alerts)
    GET  /events/<id>/clip|thumbnail|snapshot      the event's files, by id (Range: 206)
    POST /events/<id>/ack | /events/<id>/reviewed   acknowledge / mark reviewed
    POST /mode                     mode=supervised|unsupervised
    POST /prompts/<id>             answer=yes|no
    POST /login, /logout
    GET  /share/<token>[/clip|/thumbnail]           a contact's link to one emergency
    GET  /healthz                  cameras' health as JSON for monitors: 200 ok, 503 not
    POST /twilio/sms               SMS replies (ACK, YES) from Twilio
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from datetime import date
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from guardian.alerts.inbound import handle_sms_webhook
from guardian.health_report import health_report, site_health
from guardian.review import pages
from guardian.review.access import Access, local_path, lockout_key
from guardian.review.auth import Session, verify_password
from guardian.review.http import (
    Call,
    Refusal,
    Threads,
    endpoint,
    html,
    message,
    redirect,
    send_file,
)
from guardian.review.queries import (
    ClipFiles,
    ReviewItem,
    Window,
    clip_files,
    days_window,
    last_night,
    night_window,
    review_page_items,
)
from guardian.review.state import ReviewApp
from guardian.store import PromptError

log = logging.getLogger("guardian.review")

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
#: events on one page of the review page (?page=2 for the next ones)
PAGE_SIZE = 100
_MAX_PAGE_DIGITS = 6
_PAGE_KEEPS = ("night", "from", "to", "camera", "rule", "unreviewed")
STATIC = {
    "review.css": "text/css; charset=utf-8",
    "zones.js": "text/javascript; charset=utf-8",
}
FILE_KINDS = ("clip", "thumbnail", "snapshot")


class BadQuery(Refusal):
    """A query value the server cannot use (400)."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__(400, title, text)


def not_found(text: str = "Not found") -> Refusal:
    return message(404, "Not found", text)


def parse_page(text: str | None) -> int:
    """``?page=``: a whole number from 1 (400 with a clear message otherwise)."""
    if text is None:
        return 1
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_PAGE_DIGITS or int(text) < 1:
        raise BadQuery("Bad page", f"'{text[:40]}' is not a page number — use ?page=1, ?page=2, …")
    return int(text)


def parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is None or not 1970 <= day.year <= 9000:  # a night past 9999-12-31 overflows
        raise BadQuery("Bad date", f"'{text[:40]}' is not a date from 1970 on — use YYYY-MM-DD")
    return day


def window_of(app: ReviewApp, query: Mapping[str, str]) -> Window:
    """The window a query names: ?from=&to= days, ?night=, else last night."""
    tz = app.site.site.timezone
    day_from, day_to = parse_date(query.get("from")), parse_date(query.get("to"))
    night = parse_date(query.get("night"))
    if day_from or day_to:
        first = day_from or day_to
        assert first is not None
        return days_window(first, day_to or first, tz)
    if night is not None:
        return night_window(night, app.review, tz)
    return last_night(app.clock(), app.review, tz)


def page_context(app: ReviewApp, session: Session) -> pages.PageContext:
    """What every logged-in page shows: site, user, CSRF token, mode."""
    now = app.clock()
    mode = app.modes.current(now)
    return pages.PageContext(
        site_name=app.site.site.name,
        timezone=app.site.site.timezone,
        user=session.user,
        csrf=session.csrf,
        mode=mode,
        mode_ends=app.modes.ends_at(mode),
        supervised_for=app.site.modes.supervised_for,
        now=now,
    )


def item_of(app: ReviewApp, event_id: str) -> ReviewItem | None:
    """An event with its clip, by id (None for an unknown or malformed id)."""
    entry = app.store.event_log.reviewed_event(event_id) if ID_RE.match(event_id) else None
    if entry is None:
        return None
    return ReviewItem(entry, clip_files(app.store, app.clips_dir, event_id))


def clip_path(clip: ClipFiles | None, kind: str) -> Path | None:
    if clip is None or kind not in FILE_KINDS:
        return None
    return {"clip": clip.video, "thumbnail": clip.thumbnail, "snapshot": clip.snapshot}[kind]


class SitePages:
    """The HTML routes over one :class:`ReviewApp`."""

    def __init__(self, app: ReviewApp, access: Access) -> None:
        self.app = app
        self.access = access

    def routes(self, threads: Threads) -> list[BaseRoute]:
        def get(path: str, handler: object) -> Route:
            return Route(path, endpoint(threads, handler), methods=["GET"])  # type: ignore[arg-type]

        def post(path: str, handler: object, body: str = "form") -> Route:
            return Route(path, endpoint(threads, handler, body=body), methods=["POST"])  # type: ignore[arg-type]

        return [
            get("/", self.review),
            get("/login", self.login_page),
            post("/login", self.login),
            post("/logout", self.logout),
            get("/static/{name}", self.static),
            get("/healthz", self.healthz),
            get("/share/{token}", self.share),
            get("/share/{token}/{kind}", self.share),
            get("/events/{event_id}", self.event),
            get("/events/{event_id}/{kind}", self.file),
            post("/events/{event_id}/ack", self.acknowledge),
            post("/events/{event_id}/reviewed", self.reviewed),
            post("/mode", self.mode),
            post("/prompts/{prompt_id}", self.answer),
            post("/twilio/sms", self.twilio),
        ]

    # -- GET -----------------------------------------------------------------------------
    def static(self, call: Call) -> Response:
        name = call.params["name"]
        if name not in STATIC:
            raise not_found()
        data = resources.files("guardian.review").joinpath("static", name).read_bytes()
        return Response(
            data, 200, headers={"Cache-Control": "max-age=3600"}, media_type=STATIC[name]
        )

    def login_page(self, call: Call) -> Response:
        if self.access.session(call) is not None:
            return redirect(local_path(call.query.get("next")), "GET")
        return html(
            200, pages.login_page(self.app.site.site.name, next_path=call.query.get("next", "/"))
        )

    def context(self, session: Session) -> pages.PageContext:
        return page_context(self.app, session)

    def review(self, call: Call) -> Response:
        session = self.access.require_login(call)
        app, tz, query = self.app, self.app.site.site.timezone, dict(call.query)
        window = window_of(app, query)
        filters = pages.Filters(
            camera=query.get("camera") or None,
            rule=query.get("rule") or None,
            unreviewed=query.get("unreviewed") == "1",
            day_from=query.get("from") or None,
            day_to=query.get("to") or None,
        )
        number = parse_page(query.get("page"))
        paging = review_page_items(
            app.store,
            app.clips_dir,
            window,
            page=number,
            per_page=PAGE_SIZE,
            camera=filters.camera,
            rule_id=filters.rule,
            unreviewed=filters.unreviewed,
        )
        if number > paging.pages:
            raise message(
                400,
                "Bad page",
                f"there is no page {number}: this window has {paging.pages} page(s)",
            )
        every = app.store.event_log.reviewed(start=window.start, end=window.end)
        rules = {e.event.rule_id for e in every}
        if filters.rule:
            rules.add(filters.rule)
        now = app.clock()
        app.store.prompt_log.expire(now)
        enabled = [c.id for c in app.site.cameras if c.enabled]
        watched = [filters.camera] if filters.camera in enabled else enabled
        health = health_report(
            app.store, since=window.start, until=window.end, now=now, timezone=tz, cameras=watched
        )
        text = pages.review_page(
            self.context(session),
            window=window,
            paging=paging,
            prompts=app.store.prompt_log.find("pending"),
            filters=filters,
            cameras=app.site.camera_ids,
            rules=sorted(rules),
            back=local_path(call.target),
            health=health,
            live=site_health(app.store, enabled, now),
            query=[(k, v) for k, v in query.items() if k in _PAGE_KEEPS],
        )
        return html(200, text)

    def healthz(self, call: Call) -> Response:
        """For monitors, without a login: whether every enabled camera is watched and
        healthy (200) or not (503). No picture, no names, no event: states and counts."""
        body, healthy = health_json(self.app)
        return Response(json.dumps(body), 200 if healthy else 503, media_type="application/json")

    def event(self, call: Call) -> Response:
        session = self.access.require_login(call)
        item = item_of(self.app, call.params["event_id"])
        if item is None:
            raise not_found("No such event")
        back = "/events/" + quote(item.entry.event.event_id, safe="")
        return html(200, pages.event_page(self.context(session), item, back))

    def file(self, call: Call) -> Response:
        kind = call.params["kind"]
        if kind in ("ack", "reviewed"):  # a POST route: say so, with or without a login
            text = "This changes something: use the buttons."
            raise message(405, "Not allowed", text, {"Allow": "POST"})
        self.access.require_login(call)
        if kind not in FILE_KINDS:
            raise not_found()
        item = item_of(self.app, call.params["event_id"])
        if item is None:
            raise not_found("No such event")
        return self._send(clip_path(item.clip, kind), call)

    def _send(self, path: Path | None, call: Call) -> Response:
        if path is None:
            raise not_found("No such file")
        return send_file(path, call, lambda: not_found("No such file"))

    def share(self, call: Call) -> Response:
        token, kind = call.params["token"], call.params.get("kind", "")
        grant = self.app.shares.read(token)
        if grant is None or kind not in ("", "clip", "thumbnail"):
            raise not_found()
        if self.app.clock() >= grant.expires:
            raise message(410, "Link expired", "This link has expired.")
        entry = self.app.store.event_log.reviewed_event(grant.event_id)
        if entry is None:
            raise not_found()
        if entry.acknowledged_at is not None:
            raise message(
                410,
                "Already handled",
                "Someone has acknowledged this alert: it was handled, and its video is "
                "no longer shared.",
            )
        item = ReviewItem(entry, clip_files(self.app.store, self.app.clips_dir, grant.event_id))
        if kind:
            return self._send(clip_path(item.clip, kind), call)
        log.info("share link of event %s opened (contact %s)", grant.event_id, grant.contact)
        site = self.app.site.site
        return html(200, pages.share_page(site.name, item, token, site.timezone, grant.expires))

    # -- POST ----------------------------------------------------------------------------
    def logout(self, call: Call) -> Response:
        session = self.access.state_change(call)
        self.app.store.access_log.revoke_review_session(session.sid, self.app.clock())
        log.info("review page: %s logged out", session.user)
        return redirect("/login", "POST", self.access.cookie_header("", 0))

    def _event_change(self, call: Call, ack: bool) -> Response:
        session = self.access.state_change(call)
        item = item_of(self.app, call.params["event_id"])
        if item is None:
            raise not_found("No such event")
        event_id = item.entry.event.event_id
        if ack:
            self.app.store.event_log.acknowledge(event_id, by=session.user, now=self.app.clock())
            log.info("event %s acknowledged on the review page by %s", event_id, session.user)
        else:
            self.app.store.event_log.mark_reviewed(event_id, by=session.user, now=self.app.clock())
        return redirect(local_path(call.form.get("next")), "POST")

    def acknowledge(self, call: Call) -> Response:
        return self._event_change(call, True)

    def reviewed(self, call: Call) -> Response:
        return self._event_change(call, False)

    def mode(self, call: Call) -> Response:
        session = self.access.state_change(call)
        mode = call.form.get("mode", "")
        if mode not in ("supervised", "unsupervised"):
            raise message(400, "Bad request", "Unknown mode")
        self.app.modes.switch(
            mode, by=session.user, reason="switched on the review page", source="web"
        )
        return redirect(local_path(call.form.get("next")), "POST")

    def answer(self, call: Call) -> Response:
        session = self.access.state_change(call)
        answer = call.form.get("answer", "")
        if answer not in ("yes", "no"):
            raise message(400, "Bad request", "Answer yes or no")
        try:
            self.app.store.prompt_log.answer(
                call.params["prompt_id"],
                yes=answer == "yes",
                by=session.user,
                source="web",
                now=self.app.clock(),
            )
        except PromptError as exc:
            raise message(409, "Cannot answer", str(exc)) from None
        return redirect(local_path(call.form.get("next")), "POST")

    def login(self, call: Call) -> Response:
        app = self.app
        self.access.check_origin(call)
        next_path = local_path(call.form.get("next"))
        key = lockout_key(call.client)
        now = app.clock()
        limit, lockout = app.review.max_failures, app.review.lockout
        # reserve the check first (atomically): a locked-out address is refused before its
        # password is looked at, and concurrent guesses cannot pass more than max_failures
        locked = app.store.access_log.begin_login_attempt(
            key, now=now, max_failures=limit, lockout=lockout
        )
        if locked is None:
            ok = False
            try:
                ok = verify_password(call.form.get("password", ""), app.password_hash)
            finally:
                locked = app.store.access_log.finish_login_attempt(
                    key, ok=ok, now=app.clock(), max_failures=limit, lockout=lockout
                )
            if ok:
                session, token = app.sessions.new(app.review.user, now)
                app.store.access_log.add_review_session(
                    session.sid, session.user, created_at=now, expires_at=session.expires
                )
                log.info("review page: %s logged in from %s", app.review.user, key)
                cookie = self.access.cookie_header(token, int(app.review.session_lifetime))
                return redirect(next_path, "POST", cookie)
            log.warning("review page: wrong password from %s", key)
            if locked is None:
                page = pages.login_page(
                    app.site.site.name, next_path=next_path, message="Wrong password."
                )
                return html(401, page)
            log.warning("review page: %s locked out for %.0f s", key, locked - now)
        left = locked - now
        wait = max(1, min(round(left), 86400)) if math.isfinite(left) else 86400
        page = pages.login_page(
            app.site.site.name,
            next_path=next_path,
            message=f"Too many wrong passwords: try again in {wait // 60 + 1} min.",
        )
        return html(429, page, {"Retry-After": str(wait)})

    def twilio(self, call: Call) -> Response:
        """SMS replies: authenticated by Twilio's signature over the public URL (no login)."""
        app = self.app
        token = app.environ.get(app.site.alerts.twilio.auth_token_env, "")
        reply = handle_sms_webhook(
            app.store,
            app.site,
            url=app.public_url + "/twilio/sms",
            form=dict(call.form),
            signature=call.header("x-twilio-signature"),
            auth_token=token or None,
            now=app.clock(),
            environ=app.environ,
        )
        return Response(reply.body, reply.status, media_type=reply.content_type)


def health_json(app: ReviewApp) -> tuple[dict[str, object], bool]:
    """The cameras' health for monitors (states and counts, no names or pictures), and
    whether every enabled camera is watched and healthy."""
    now = app.clock()
    health = site_health(app.store, [c.id for c in app.site.cameras if c.enabled], now)
    body = {
        "status": str(health.overall),
        "mode": app.modes.current(now).mode,
        "pending_alerts": sum(len(app.store.outbox.find(s)) for s in ("pending", "sending")),
        "cameras": [
            {
                "camera": c.camera,
                "state": str(c.state),
                "last_frame_age": None
                if c.last_frame is None
                else round(max(0.0, now - c.last_frame), 1),
                "fps": None if c.fps is None else round(c.fps, 1),
                "problems": [
                    {
                        "problem": str(p.problem),
                        "for": None if p.since is None else round(max(0.0, now - p.since)),
                    }
                    for p in c.problems
                ],
            }
            for c in health.cameras
        ],
    }
    return body, health.healthy
