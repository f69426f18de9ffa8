"""The review site's outer layer (pure ASGI): refuse what no route should see, and add
the security headers to every answer.

* HTTP versions other than 1.0 / 1.1: 505; a path and query over ``MAX_TARGET``: 414;
  more than ``MAX_HEADERS`` headers or ``MAX_HEADER_BYTES`` of them: 431;
  a declared body over ``MAX_BODY``: 413 (the connection is closed); methods other than
  GET, HEAD and POST: 405 (a known method) or 501.
* Every answer gets a Content-Security-Policy (no scripts unless the page sets its own),
  no framing, no sniffing, ``Referrer-Policy: same-origin`` and ``Cache-Control:
  no-store`` unless the answer says otherwise.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guardian.review import pages
from guardian.review.http import MAX_BODY

#: headers in one request (Python's http.server allowed 100 too)
MAX_HEADERS = 100
#: the longest path plus query (414 beyond) and all headers together (431 beyond)
MAX_TARGET = 8 * 1024
MAX_HEADER_BYTES = 32 * 1024
#: the page's CSP when a route sets none: no script at all
DEFAULT_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_ALLOWED = frozenset({"GET", "HEAD", "POST"})
_KNOWN = frozenset({"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})
_SECURITY = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)


class Guard:
    """ASGI middleware: the refusals and security headers above."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = _refusal(scope)
        if refusal is not None:
            status, title, text, close = refusal
            api = str(scope.get("path", "")).startswith("/api/")
            await _answer(send, status, title, text, close, api)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", DEFAULT_CSP.encode()))
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                headers.extend(_SECURITY)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _refusal(scope: Scope) -> tuple[int, str, str, bool] | None:
    if scope.get("http_version") not in ("1.0", "1.1"):
        return 505, "Not supported", "HTTP/1.1 only.", True
    method = scope["method"]
    if method not in _ALLOWED:
        if method in _KNOWN:
            return 405, "Not allowed", "Not allowed", False
        return 501, "Not implemented", "Unknown method.", True
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    if target > MAX_TARGET:
        return 414, "Too long", "The address is too long.", True
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS or sum(len(n) + len(v) for n, v in headers) > MAX_HEADER_BYTES:
        return 431, "Too many headers", "Too many headers, or too long.", True
    for name, value in headers:
        if name == b"content-length" and (not value.isdigit() or int(value) > MAX_BODY):
            return 413, "Too large", "The request is too large.", True
    return None


async def _answer(send: Send, status: int, title: str, text: str, close: bool, api: bool) -> None:
    """The refusal as an HTML page, or ``{"error": text}`` for the API."""
    if api:
        body, kind = json.dumps({"error": text}).encode(), b"application/json"
    else:
        body, kind = pages.message_page(title, text).encode("utf-8"), b"text/html; charset=utf-8"
    headers = [
        (b"content-type", kind),
        (b"content-length", str(len(body)).encode()),
        (b"content-security-policy", DEFAULT_CSP.encode()),
        (b"cache-control", b"no-store"),
        *_SECURITY,
    ]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD, POST"))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
