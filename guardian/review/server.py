"""``guardian serve``: the review site on Starlette, served by uvicorn in a thread.

:func:`build_site` assembles the ASGI application: the HTML pages (:mod:`.site`), the
JSON API under ``/api/v1`` (:mod:`.api`), the zone editor (:mod:`.zone_pages`), all
behind :class:`~guardian.review.guard.Guard` (method, size and header limits, security
headers). :class:`ReviewServer` listens on ``host:port`` (port 0: any free one).

Defences against slow or greedy clients: each request (line, headers, body) must arrive
within ``request_timeout`` of the connection waiting for it, or the connection is closed
(:class:`_DeadlineProtocol`); an idle keep-alive connection is closed after the same
time; at most ``max_connections`` connections are served at once (503 beyond) and at
most ``max_threads`` requests run their handler at once; a request's head is at most
32 KiB (400) and its body 64 KiB (413).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import h11
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from uvicorn.protocols.http.h11_impl import H11Protocol

from guardian.review import pages
from guardian.review.access import Access, lockout_key
from guardian.review.api import ApiRoutes
from guardian.review.guard import Guard
from guardian.review.http import Threads, html
from guardian.review.site import PAGE_SIZE, SitePages
from guardian.review.state import ReviewApp
from guardian.review.zone_pages import ZonePages

__all__ = ["PAGE_SIZE", "ReviewApp", "ReviewServer", "build_site", "lockout_key"]

log = logging.getLogger("guardian.review")

#: the largest request line plus headers (h11 answers 400 beyond)
MAX_HEAD = 32 * 1024


def build_site(app: ReviewApp, *, max_threads: int = 64) -> Starlette:
    """The review site as an ASGI application."""
    threads = Threads(max_threads)
    access = Access(app)
    routes = [
        *ApiRoutes(app, access).routes(threads),
        *ZonePages(app, access).routes(threads),
        *SitePages(app, access).routes(threads),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if request.url.path.startswith("/api/"):
            text = "no such endpoint" if exc.status_code == 404 else "method not allowed"
            return JSONResponse({"error": text}, exc.status_code, headers=headers)
        if exc.status_code == 405:
            text = "This changes something: use the buttons."
            return html(405, pages.message_page("Not allowed", text), headers)
        return html(exc.status_code, pages.message_page("Not found", "Not found"), headers)

    site = Starlette(
        routes=routes,
        middleware=[Middleware(Guard)],
        exception_handlers={HTTPException: http_error},
    )
    site.router.redirect_slashes = False
    return site


class _DeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline: a request must have fully arrived
    ``request_timeout`` seconds after the connection started waiting for it (slowloris,
    a body shorter than declared, a connection that sends nothing)."""

    request_timeout = 30.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        # still waiting for (part of) the request: too slow, close; otherwise the answer is
        # being made and the deadline starts again when it is sent
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self.transport.close()


class ReviewServer:
    """The review site on ``host:port`` in a background thread (port 0: any free port).

    The port is bound here (OSError when it cannot be); :meth:`start` serves it in a
    thread, :meth:`serve_forever` in this one; :meth:`shutdown` stops.
    """

    def __init__(
        self,
        app: ReviewApp,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        request_timeout: float = 30.0,
        max_threads: int = 64,
        max_connections: int = 1000,
    ) -> None:
        self.app = app
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(1024)
        except OSError:
            self._sock.close()
            raise
        address = self._sock.getsockname()
        self.host, self.port = str(address[0]), int(address[1])
        display = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{display}:{self.port}"
        if not app.fallback_url:
            app.fallback_url = self.url
        protocol = type("_Protocol", (_DeadlineProtocol,), {"request_timeout": request_timeout})
        config = uvicorn.Config(
            build_site(app, max_threads=max_threads),
            http=protocol,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            limit_concurrency=max_connections,
            backlog=1024,
            timeout_keep_alive=request_timeout,  # type: ignore[arg-type]
            timeout_graceful_shutdown=3,
            h11_max_incomplete_event_size=MAX_HEAD,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def start(self) -> ReviewServer:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self._run, name="review-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the review server did not start (see the log)")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        self._server.run(sockets=[self._sock])

    def serve_forever(self) -> None:
        self._run()

    def shutdown(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> ReviewServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
