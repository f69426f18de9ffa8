"""The JSON API under ``/api/v1`` (documented in ``docs/api.md``).

Auth: ``Authorization: Bearer <token>`` with a token from ``GUARDIAN_API_TOKENS``
(:func:`guardian.review.state.api_tokens`), or the review page's session cookie — then a
write also needs the session's CSRF token in ``X-CSRF-Token`` and a same-site Origin.
Write bodies are JSON validated by pydantic models (``extra="forbid"``); every refusal
is ``{"error": "..."}`` with its status: 400 bad JSON or query, 401 no or bad credentials,
403 CSRF, 404 unknown, 409 conflict, 415 not JSON, 422 a body that does not fit.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from guardian.health_report import site_health
from guardian.records import Severity
from guardian.review.access import Access
from guardian.review.http import Call, Refusal, Threads, endpoint, message, send_file
from guardian.review.queries import ClipFiles, ReviewItem, review_page_items
from guardian.review.site import (
    FILE_KINDS,
    clip_path,
    health_json,
    item_of,
    parse_page,
    window_of,
)
from guardian.review.state import ReviewApp
from guardian.store import ModeState, Prompt, PromptError
from guardian.timefmt import stamp

PREFIX = "/api/v1"
MAX_PER_PAGE = 500

M = TypeVar("M", bound=BaseModel)


class AckBody(BaseModel):
    """``POST /events/<id>/ack`` and ``/reviewed``: nothing needed (an empty object)."""

    model_config = ConfigDict(extra="forbid")


class ModeBody(BaseModel):
    """``POST /mode``: the mode to switch to, and why."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["supervised", "unsupervised"] = Field(description="the mode to switch to")
    reason: str = Field(min_length=1, max_length=200, description="why (recorded with the switch)")
    minutes: float | None = Field(
        None,
        gt=0,
        le=24 * 60,
        description="supervised only: how long, in minutes (default: modes.supervised_for)",
    )


class AnswerBody(BaseModel):
    """``POST /prompts/<id>``: the answer to a pending yes/no question."""

    model_config = ConfigDict(extra="forbid")

    answer: Literal["yes", "no"] = Field(description="yes or no")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls the API: a token's name or the session's user."""

    user: str
    session_csrf: str | None  # set for a session cookie: writes need this CSRF token


def _error(status: int, text: str, headers: dict[str, str] | None = None) -> Refusal:
    return message(status, "API", text, headers)


class ApiRoutes:
    """The ``/api/v1`` routes over one :class:`ReviewApp`."""

    def __init__(self, app: ReviewApp, access: Access) -> None:
        self.app = app
        self.access = access

    def routes(self, threads: Threads) -> list[BaseRoute]:
        def get(path: str, handler: Callable[[Call], Response]) -> Route:
            return Route(PREFIX + path, endpoint(threads, handler, api=True), methods=["GET"])

        def post(path: str, handler: Callable[[Call], Response]) -> Route:
            run = endpoint(threads, handler, body="raw", api=True)
            return Route(PREFIX + path, run, methods=["POST"])

        return [
            get("/events", self.events),
            get("/events/{event_id}", self.event),
            post("/events/{event_id}/ack", self.acknowledge),
            post("/events/{event_id}/reviewed", self.reviewed),
            get("/clips", self.clips),
            get("/clips/{event_id}", self.clip),
            get("/clips/{event_id}/{kind}", self.clip_file),
            get("/mode", self.mode),
            post("/mode", self.set_mode),
            get("/prompts", self.prompts),
            post("/prompts/{prompt_id}", self.answer),
            get("/cameras", self.cameras),
            get("/cameras/{camera}/snapshot", self.snapshot),
            get("/health", self.health),
        ]

    # -- auth ----------------------------------------------------------------------------
    def caller(self, call: Call) -> Caller:
        """The bearer token's name, else the session's user; 401 otherwise."""
        header = call.header("authorization")
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            name = self.app.token_user(token.strip()) if scheme.lower() == "bearer" else None
            if name is None:
                raise _error(
                    401, "invalid token", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
            return Caller(name, None)
        session = self.access.session(call)
        if session is None:
            raise _error(
                401,
                "log in, or send 'Authorization: Bearer <token>'",
                {"WWW-Authenticate": "Bearer"},
            )
        return Caller(session.user, session.csrf)

    def writer(self, call: Call) -> Caller:
        """The caller of a write: with a session, also this site's Origin and the CSRF token."""
        caller = self.caller(call)
        if caller.session_csrf is not None:
            if not self.access.same_site(call):
                raise _error(403, "this request came from another site")
            given = call.header("x-csrf-token") or ""
            if not hmac.compare_digest(given.encode(), caller.session_csrf.encode()):
                raise _error(403, "missing or wrong X-CSRF-Token (the page's csrf value)")
        return caller

    def body(self, call: Call, model: type[M]) -> M:
        """The JSON body as ``model`` (an empty body is ``{}``)."""
        kind = (call.header("content-type") or "").split(";")[0].strip().lower()
        if call.body.strip() and kind != "application/json":
            raise _error(415, "send the body as JSON (Content-Type: application/json)")
        try:
            data = json.loads(call.body) if call.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise _error(400, "the body is not valid JSON") from None
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
            )
            raise _error(422, problems) from None

    # -- events and clips -------------------------------------------------------------------
    def _item(self, event_id: str) -> ReviewItem:
        item = item_of(self.app, event_id)
        if item is None:
            raise _error(404, f"no event '{event_id[:80]}'")
        return item

    def _page(self, call: Call) -> tuple[list[ReviewItem], dict[str, object]]:
        query = dict(call.query)
        window = window_of(self.app, query)  # BadQuery: 400 {"error": ...}
        page = parse_page(query.get("page"))
        per_page = parse_page(query.get("per_page") or "100")
        wanted = query.get("severity") or None
        if wanted is not None and wanted not in {s.value for s in Severity}:
            raise _error(400, "severity is one of: critical, warning, info")
        severity = None if wanted is None else Severity(wanted)
        paging = review_page_items(
            self.app.store,
            self.app.clips_dir,
            window,
            page=page,
            per_page=min(per_page, MAX_PER_PAGE),
            camera=query.get("camera") or None,
            rule_id=query.get("rule") or None,
            unreviewed=query.get("unreviewed") in ("1", "true"),
            severity=severity,
        )
        items = list(paging.items)
        meta: dict[str, object] = {
            "window": {"start": window.start, "end": window.end, "label": window.label},
            "total": paging.total,
            "page": paging.page,
            "pages": paging.pages,
            "unacknowledged_critical": paging.unacknowledged,
        }
        return items, meta

    def events(self, call: Call) -> Response:
        self.caller(call)
        items, meta = self._page(call)
        return JSONResponse({**meta, "events": [self.event_json(i) for i in items]})

    def event(self, call: Call) -> Response:
        self.caller(call)
        return JSONResponse(self.event_json(self._item(call.params["event_id"])))

    def _change(self, call: Call, ack: bool) -> Response:
        caller = self.writer(call)
        self.body(call, AckBody)
        event_id = self._item(call.params["event_id"]).entry.event.event_id
        now = self.app.clock()
        if ack:
            self.app.store.event_log.acknowledge(event_id, by=caller.user, now=now)
        else:
            self.app.store.event_log.mark_reviewed(event_id, by=caller.user, now=now)
        return JSONResponse(self.event_json(self._item(event_id)))

    def acknowledge(self, call: Call) -> Response:
        return self._change(call, True)

    def reviewed(self, call: Call) -> Response:
        return self._change(call, False)

    def clips(self, call: Call) -> Response:
        self.caller(call)
        items, meta = self._page(call)
        clips = [
            self.clip_json(i.entry.event.event_id, i.clip) for i in items if i.clip is not None
        ]
        return JSONResponse({**meta, "clips": clips})

    def clip(self, call: Call) -> Response:
        self.caller(call)
        item = self._item(call.params["event_id"])
        if item.clip is None:
            raise _error(404, "this event has no clip")
        return JSONResponse(self.clip_json(item.entry.event.event_id, item.clip))

    def clip_file(self, call: Call) -> Response:
        self.caller(call)
        kind = {"video": "clip", "thumbnail": "thumbnail", "snapshot": "snapshot"}.get(
            call.params["kind"], ""
        )
        item = self._item(call.params["event_id"])
        path = clip_path(item.clip, kind) if kind in FILE_KINDS else None
        if path is None:
            raise _error(404, "no such file")
        return send_file(path, call, lambda: _error(404, "no such file"))

    # -- mode and prompts ------------------------------------------------------------------------
    def mode(self, call: Call) -> Response:
        self.caller(call)
        return JSONResponse(self.mode_json(self.app.modes.current(self.app.clock())))

    def set_mode(self, call: Call) -> Response:
        caller = self.writer(call)
        body = self.body(call, ModeBody)
        try:
            state = self.app.modes.switch(
                body.mode,
                duration=None if body.minutes is None else body.minutes * 60,
                by=caller.user,
                reason=body.reason,
                source="api",
            )
        except ValueError as exc:
            raise _error(422, str(exc)) from None
        return JSONResponse(self.mode_json(state))

    def prompts(self, call: Call) -> Response:
        self.caller(call)
        self.app.store.prompt_log.expire(self.app.clock())
        return JSONResponse(
            {"prompts": [self.prompt_json(p) for p in self.app.store.prompt_log.find("pending")]}
        )

    def answer(self, call: Call) -> Response:
        caller = self.writer(call)
        body = self.body(call, AnswerBody)
        prompt_id = call.params["prompt_id"]
        try:
            self.app.store.prompt_log.answer(
                prompt_id,
                yes=body.answer == "yes",
                by=caller.user,
                source="api",
                now=self.app.clock(),
            )
        except PromptError as exc:
            status = 404 if self.app.store.prompt_log.get(prompt_id) is None else 409
            raise _error(status, str(exc)) from None
        prompt = self.app.store.prompt_log.get(prompt_id)
        assert prompt is not None
        return JSONResponse(self.prompt_json(prompt))

    # -- cameras and health -------------------------------------------------------------------------
    def cameras(self, call: Call) -> Response:
        self.caller(call)
        now = self.app.clock()
        enabled = [c.id for c in self.app.site.cameras if c.enabled]
        states = {c.camera: c for c in site_health(self.app.store, enabled, now).cameras}
        cameras = []
        for cam in self.app.site.cameras:
            status = states.get(cam.id)
            cameras.append(
                {
                    "id": cam.id,
                    "enabled": cam.enabled,
                    "fps": cam.fps,
                    "zones": [z.name for z in self.app.bundle.zones_for(cam.id)],
                    "state": None if status is None else str(status.state),
                    "problems": [] if status is None else [str(p.problem) for p in status.problems],
                    "snapshot": f"{PREFIX}/cameras/{cam.id}/snapshot",
                }
            )
        return JSONResponse({"cameras": cameras})

    def snapshot(self, call: Call) -> Response:
        """The camera's latest snapshot (JPEG), 404 when there is none yet."""
        self.caller(call)
        camera = call.params["camera"]
        data = None
        if camera in self.app.site.camera_ids:
            data = self.app.snapshots.latest_jpeg(camera)
        if data is None:
            raise _error(404, f"no snapshot of '{camera[:40]}' yet")
        return Response(data, 200, media_type="image/jpeg")

    def health(self, call: Call) -> Response:
        self.caller(call)
        body, healthy = health_json(self.app)
        return JSONResponse({**body, "healthy": healthy})

    # -- JSON of records ----------------------------------------------------------------------------
    def event_json(self, item: ReviewItem) -> dict[str, object]:
        entry, event = item.entry, item.entry.event
        tz = self.app.site.site.timezone
        return {
            "id": event.event_id,
            "rule_id": event.rule_id,
            "rule": event.rule_alias,
            "camera": event.camera,
            "zone": event.zone,
            "severity": event.severity.value,
            "message": event.message,
            "started_at": event.started_at,
            "started": stamp(event.started_at, tz),
            "ended_at": event.ended_at,
            "acknowledged_at": entry.acknowledged_at,
            "acknowledged_by": entry.acknowledged_by,
            "reviewed_at": entry.reviewed_at,
            "reviewed_by": entry.reviewed_by,
            "clip": None if item.clip is None else self.clip_json(event.event_id, item.clip),
        }

    @staticmethod
    def clip_json(event_id: str, clip: ClipFiles) -> dict[str, object]:
        base = f"{PREFIX}/clips/{quote(event_id, safe='')}"
        return {
            "event_id": event_id,
            "status": clip.status,
            "reason": clip.reason,
            "video": f"{base}/video" if clip.video is not None else None,
            "thumbnail": f"{base}/thumbnail" if clip.thumbnail is not None else None,
            "snapshot": f"{base}/snapshot" if clip.snapshot is not None else None,
        }

    def mode_json(self, state: ModeState) -> dict[str, object]:
        return {
            "mode": state.mode,
            "since": state.since,
            "until": self.app.modes.ends_at(state),
            "by": state.by,
            "reason": state.reason,
            "source": state.source,
        }

    @staticmethod
    def prompt_json(prompt: Prompt) -> dict[str, object]:
        return {
            "id": prompt.prompt_id,
            "question": prompt.question,
            "status": prompt.status,
            "event_id": prompt.event_id,
            "created_at": prompt.created_at,
            "expires_at": prompt.expires_at,
            "answered_at": prompt.answered_at,
            "answered_by": prompt.answered_by,
        }
