"""Who is asking: the session cookie (checked against the server's record), the
same-site Origin check and the CSRF token of every state change, and login lockout keys."""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import quote, urlsplit

from guardian.review.auth import Session, Sessions
from guardian.review.http import Answer, Call, message, redirect
from guardian.review.state import ReviewApp


def lockout_key(address: str) -> str:
    """Whose failed logins count together: the client's IPv4 address, or its IPv6 /64
    (one household or host gets a whole /64 to pick addresses from)."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def local_path(value: str | None) -> str:
    """A redirect target that stays on this site ("/" otherwise)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(ord(c) < 32 for c in value):
        return "/"
    return value


class Access:
    """Sessions, Origin and CSRF checks over one :class:`ReviewApp`."""

    def __init__(self, app: ReviewApp) -> None:
        self.app = app

    def session(self, call: Call) -> Session | None:
        """The logged-in session of the request, or None (expired, forged, logged out)."""
        token = call.cookie(Sessions.COOKIE)
        if token is None:
            return None
        now = self.app.clock()
        session = self.app.sessions.read(token, now)
        if session is None or not session.sid:
            return None
        # the server's record decides: a logged-out (revoked) session is refused
        return (
            session if self.app.store.access_log.review_session_active(session.sid, now) else None
        )

    def require_login(self, call: Call) -> Session:
        """The session; else 403 for a POST, a redirect to the login page for a GET."""
        session = self.session(call)
        if session is None:
            if call.method == "POST":
                raise message(403, "Forbidden", "Your session has ended — log in again.")
            target = "/login?next=" + quote(local_path(call.target), safe="")
            raise Answer(redirect(target, "GET"))
        return session

    def _allowed_origins(self, call: Call) -> set[str]:
        host = call.header("host") or ""
        origins = {f"http://{host}", f"https://{host}"} if host else set()
        if self.app.review.url:
            url = urlsplit(self.app.review.url)
            origins.add(f"{url.scheme}://{url.netloc}")
        return origins

    def same_site(self, call: Call) -> bool:
        """Origin (or else Referer) is this site; True without either (the token decides)."""
        origin = call.header("origin")
        referer = call.header("referer")
        if origin is not None:
            return origin in self._allowed_origins(call)
        if referer is not None:
            ref = urlsplit(referer)
            return f"{ref.scheme}://{ref.netloc}" in self._allowed_origins(call)
        return True

    def check_origin(self, call: Call) -> None:
        """A cross-site POST is refused (403)."""
        if not self.same_site(call):
            raise message(403, "Forbidden", "This request came from another site.")

    def state_change(self, call: Call, token: str | None = None) -> Session:
        """Login + same-site origin + the session's CSRF token (``token``, else the form's
        ``csrf``), or 403: nothing changes."""
        session = self.require_login(call)
        self.check_origin(call)
        given = call.form.get("csrf", "") if token is None else token
        if not hmac.compare_digest(given.encode(), session.csrf.encode()):
            raise message(
                403, "Forbidden", "The form was out of date (missing or wrong token) — reload."
            )
        return session

    def cookie_header(self, value: str, max_age: int) -> dict[str, str]:
        secure = "; Secure" if self.app.secure_cookies else ""
        return {
            "Set-Cookie": f"{Sessions.COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; "
            f"SameSite=Strict{secure}"
        }
