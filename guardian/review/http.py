"""The review site's request plumbing on Starlette: a request read into a :class:`Call`
(query, form or JSON body, cookies: all bounded), sync handlers run in worker threads,
answers raised as :class:`Answer`, and files sent by HTTP Range.

Handlers are plain functions ``(Call) -> Response`` run in a thread (the store is SQLite
and the password check is scrypt: both block), at most ``max_threads`` at a time.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from guardian.review import pages

log = logging.getLogger("guardian.review")

#: the largest form or JSON body read (a larger one is answered 413)
MAX_BODY = 64 * 1024
MAX_FORM_FIELDS = 50
MAX_QUERY_FIELDS = 20
_CHUNK = 256 * 1024
_MEDIA = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


class Answer(Exception):
    """Raised to answer at once (errors, redirects) with ``response``."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def html(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(text, status, headers=dict(headers or {}), media_type="text/html")


class Refusal(Exception):
    """Raised to refuse a request: an HTML page on the site, ``{"error": text}`` in the API."""

    def __init__(
        self, status: int, title: str, text: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(text)
        self.status, self.title, self.text = status, title, text
        self.headers = dict(headers or {})

    def response(self, api: bool) -> Response:
        if api:
            return JSONResponse({"error": self.text}, self.status, headers=self.headers)
        return html(self.status, pages.message_page(self.title, self.text), self.headers)


def message(
    status: int, title: str, text: str, headers: Mapping[str, str] | None = None
) -> Refusal:
    """A refusal to raise: an HTML page titled ``title`` (or JSON in the API)."""
    return Refusal(status, title, text, headers)


def redirect(target: str, method: str, headers: Mapping[str, str] | None = None) -> Response:
    """302 after a GET, 303 after a POST (the browser then GETs ``target``)."""
    status = HTTPStatus.SEE_OTHER if method == "POST" else HTTPStatus.FOUND
    return Response(b"", status, headers={"Location": target, **(headers or {})})


@dataclass(frozen=True)
class Call:
    """One request as the handlers see it: everything already read and bounded."""

    method: str
    path: str
    #: the path and query as sent (for "come back here" links)
    target: str
    params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    client: str
    form: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookie(self, name: str) -> str | None:
        for part in (self.header("cookie") or "").split(";"):
            key, _, value = part.strip().partition("=")
            if key == name:
                return value
        return None


def parse_query(text: str) -> dict[str, str]:
    """``?a=1&b=2`` (the last value of a repeated name wins); too many values: 400."""
    try:
        fields = parse_qs(text, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise message(400, "Bad request", "Too many query values.") from None
    return {k: v[-1] for k, v in fields.items()}


async def read_body(request: Request) -> bytes:
    """The request body, at most ``MAX_BODY`` bytes (413 beyond)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        raise message(413, "Too large", "The request is too large.", {"Connection": "close"})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise message(413, "Too large", "The request is too large.", {"Connection": "close"})
    return bytes(body)


def parse_form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(
            body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
        )
    except ValueError:
        raise message(400, "Bad request", "Too many form fields.") from None
    return {k: v[-1] for k, v in fields.items()}


Handler = Callable[[Call], Response]
Endpoint = Callable[[Request], Awaitable[Response]]


class Threads:
    """Runs the handlers in worker threads, at most ``limit`` at a time."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self, handler: Handler, call: Call) -> Response:
        if self._limiter is None:  # made inside the server's event loop
            self._limiter = anyio.CapacityLimiter(self.limit)
        return await anyio.to_thread.run_sync(handler, call, limiter=self._limiter)


def endpoint(
    threads: Threads,
    handler: Handler,
    *,
    body: str = "",
    api: bool = False,
) -> Endpoint:
    """A Starlette endpoint running ``handler``; ``body``: "form" or "raw" to read one;
    ``api``: refusals and errors as JSON."""

    async def run(request: Request) -> Response:
        try:
            query = parse_query(request.scope["query_string"].decode("latin-1"))
            raw = b""
            form: dict[str, str] = {}
            if request.method == "POST" and body:
                raw = await read_body(request)
                if body == "form":
                    form = parse_form(raw)
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            target = raw_path.decode("latin-1")
            if request.scope["query_string"]:
                target += "?" + request.scope["query_string"].decode("latin-1")
            call = Call(
                method=request.method,
                path=request.url.path,
                target=target,
                params={k: str(v) for k, v in request.path_params.items()},
                query=query,
                headers={k.lower(): v for k, v in request.headers.items()},
                client=request.client.host if request.client else "",
                form=form,
                body=raw,
            )
            return await threads.run(handler, call)
        except Answer as answer:
            return answer.response
        except Refusal as refusal:
            return refusal.response(api)
        except ClientDisconnect:
            return Response(b"", 400)  # the client is gone: nobody reads this
        except Exception:
            log.exception("review page: error answering %s %s", request.method, request.url.path)
            text = "Something went wrong; see the server's log."
            return Refusal(500, "Error", text).response(api)

    return run


def send_file(path: Path, call: Call, not_found: Callable[[], Exception]) -> Response:
    """A file with HTTP Range support (one range: 206; unsatisfiable: 416). The file is
    opened without following a symbolic link; the caller found ``path`` by id."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise not_found() from None
    try:
        size = os.fstat(fd).st_size
        start, end = 0, size - 1
        status = HTTPStatus.OK
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=300"}
        wanted = call.header("range")
        # one range of numbers Python can read (a longer one is ignored: the whole file)
        match = re.fullmatch(r"bytes=(\d{0,18})-(\d{0,18})", wanted.strip()) if wanted else None
        if match and (match.group(1) or match.group(2)):
            first, last = match.group(1), match.group(2)
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            else:  # the last N bytes
                start, end = max(0, size - int(last)), size - 1
            if start >= size or start > end:
                os.close(fd)
                return Response(b"", 416, headers={"Content-Range": f"bytes */{size}"})
            status = HTTPStatus.PARTIAL_CONTENT
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1 if size else 0
        headers["Content-Length"] = str(length)
    except BaseException:
        os.close(fd)
        raise
    media = _MEDIA.get(path.suffix.lower(), "application/octet-stream")
    if call.method == "HEAD":
        os.close(fd)
        return Response(None, status, headers=headers, media_type=media)
    return StreamingResponse(_chunks(fd, start, length), status, headers, media_type=media)


def _chunks(fd: int, start: int, length: int) -> Iterator[bytes]:
    try:
        os.lseek(fd, start, os.SEEK_SET)
        left = length
        while left > 0:
            chunk = os.read(fd, min(_CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
