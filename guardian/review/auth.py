"""Passwords, the signing key, session cookies, CSRF tokens and share links.

* Passwords: scrypt (``hashlib.scrypt``) in a self-describing string
  ``scrypt$n=16384,r=8,p=1$<salt>$<hash>`` (unpadded base64url), checked in constant time.
* One secret key signs sessions and share links (itsdangerous, HMAC-SHA256, with a
  different derived key for each use). It comes from the environment variable named by
  ``review.secret_env``, or else is generated once into ``<database>.secret`` (mode 0600)
  next to the database, so links keep working across restarts and processes.
* A session is a signed cookie: a random session id, user, expiry and a random CSRF
  token. The server keeps the id (``review_sessions``): a session ends when it expires
  (``review.session_lifetime``), when the key changes, or at logout — a cookie copied
  before the logout is refused after it.
* A share link (``/share/<token>``) lets one contact see one event's clip until the link
  expires; the server also refuses it once the event is acknowledged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import itsdangerous

from guardian.config.review import HASH_RE, ReviewConfig

SCRYPT_N, SCRYPT_R, SCRYPT_P = 16384, 8, 1
_MAXMEM = 64 * 1024 * 1024


class AuthSetupError(RuntimeError):
    """The review page cannot start: no password hash, a bad key, … (the message says why)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash of ``password`` (a fresh random salt by default)."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM
    )
    return f"scrypt$n={SCRYPT_N},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (a :func:`hash_password` string)."""
    match = HASH_RE.match(stored.strip())
    if match is None:
        return False
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n > 2**20 or r > 32 or p > 16:  # refuse hashes that would take minutes or gigabytes
        return False
    salt, expected = _unb64(match.group(4)), _unb64(match.group(5))
    try:
        digest = hashlib.scrypt(
            password.encode("utf-8"),
            salt=salt,
            n=n,
            r=r,
            p=p,
            maxmem=max(_MAXMEM, 256 * n * r),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


def password_hash(review: ReviewConfig, environ: Mapping[str, str] = os.environ) -> str:
    """The configured password hash; AuthSetupError saying how to set one."""
    if review.password_hash is not None:
        return review.password_hash
    if review.password_hash_env is not None:
        value = environ.get(review.password_hash_env, "").strip()
        if not value:
            raise AuthSetupError(
                f"the environment variable {review.password_hash_env} (review.password_hash_env) "
                "is not set — put the hash printed by 'guardian passwd' in it"
            )
        if not HASH_RE.match(value):
            raise AuthSetupError(
                f"the environment variable {review.password_hash_env} does not hold a hash "
                "made by 'guardian passwd' — run it and use what it prints"
            )
        return value
    raise AuthSetupError(
        "no password for the review page — run 'guardian passwd' and put the hash in the "
        "site file ('review: password_hash: ...') or in an environment variable named by "
        "'review: password_hash_env: ...'"
    )


def secret_file(database_path: Path) -> Path:
    """Where the generated signing key lives: next to the database."""
    return database_path.with_name(database_path.name + ".secret")


def load_secret(
    review: ReviewConfig, database_path: Path, environ: Mapping[str, str] = os.environ
) -> bytes:
    """The key that signs sessions and share links (see the module docstring)."""
    if review.secret_env is not None:
        value = environ.get(review.secret_env, "")
        if len(value) < 32:
            raise AuthSetupError(
                f"the environment variable {review.secret_env} (review.secret_env) must hold "
                "at least 32 random characters — e.g. the output of "
                "'python -c \"import secrets; print(secrets.token_urlsafe(32))\"'"
            )
        return value.encode("utf-8")
    path = secret_file(database_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
    if path.stat().st_mode & 0o077:
        raise AuthSetupError(
            f"{path} can be read by other users — run 'chmod 600 {path}' (it signs logins)"
        )
    key = path.read_text().strip()
    if len(key) < 32:
        raise AuthSetupError(f"{path} is damaged (too short) — delete it; a new key is made")
    return key.encode("utf-8")


class Signer:
    """Signed JSON payloads (itsdangerous, HMAC-SHA256), one derived key per purpose.

    A token is ``<base64url JSON>.<signature>``; a token made for another purpose (a
    share link offered as a session cookie) or with another key does not verify.
    """

    def __init__(self, secret: bytes, purpose: str) -> None:
        self._signer = itsdangerous.Signer(
            secret,
            salt=f"guardian.review.{purpose}",
            key_derivation="hmac",
            digest_method=hashlib.sha256,
        )

    def sign(self, payload: Mapping[str, Any]) -> str:
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return self._signer.sign(body).decode("ascii")

    def unsign(self, token: str) -> dict[str, Any] | None:
        """The payload, or None when the token was not made with this key and purpose."""
        if len(token) > 4096 or not token.isascii():
            return None
        try:
            body = self._signer.unsign(token.encode("ascii"))
            payload = json.loads(_unb64(body.decode("ascii")))
        except (itsdangerous.BadSignature, ValueError, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser."""

    user: str
    expires: float
    csrf: str
    sid: str = ""  # the id the server keeps (logout revokes it)


class Sessions:
    """Signed, expiring session cookies."""

    COOKIE = "guardian_session"

    def __init__(self, secret: bytes, lifetime: float) -> None:
        self._signer = Signer(secret, "session")
        self.lifetime = lifetime

    def new(self, user: str, now: float) -> tuple[Session, str]:
        session = Session(
            user, now + self.lifetime, secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        )
        token = self._signer.sign(
            {"u": user, "exp": session.expires, "csrf": session.csrf, "sid": session.sid}
        )
        return session, token

    def read(self, token: str, now: float) -> Session | None:
        payload = self._signer.unsign(token)
        if payload is None:
            return None
        try:
            session = Session(
                str(payload["u"]),
                float(payload["exp"]),
                str(payload["csrf"]),
                str(payload.get("sid", "")),
            )
        except (KeyError, TypeError, ValueError):
            return None
        return session if now < session.expires else None


@dataclass(frozen=True, slots=True)
class ShareGrant:
    """What a share link grants: one contact may see one event until ``expires``."""

    event_id: str
    contact: str
    expires: float


class ShareLinks:
    """Per-contact, per-event signed links (``<base>/share/<token>``)."""

    def __init__(self, secret: bytes, lifetime: float) -> None:
        self._signer = Signer(secret, "share")
        self.lifetime = lifetime

    def token(self, event_id: str, contact: str, now: float) -> str:
        return self._signer.sign({"e": event_id, "c": contact, "exp": round(now + self.lifetime)})

    def read(self, token: str) -> ShareGrant | None:
        """The grant (expired or not: the caller says which), or None if forged."""
        payload = self._signer.unsign(token)
        if payload is None:
            return None
        try:
            return ShareGrant(str(payload["e"]), str(payload["c"]), float(payload["exp"]))
        except (KeyError, TypeError, ValueError):
            return None


#: (event id, contact id, severity, now) → a link for an escalation message, or None
LinkMaker = Callable[[str, str, str, float], str | None]


def escalation_link_maker(
    review: ReviewConfig,
    remote_contacts: frozenset[str],
    database_path: Path,
    environ: Mapping[str, str] = os.environ,
) -> LinkMaker | None:
    """Links for escalation messages; None when ``review.url`` is not set.

    A remote contact gets a share link for a critical event (sees the clip without logging
    in, only while the event is not acknowledged) and nothing otherwise; everyone else gets
    the event's review page (login required).
    """
    if not review.url:
        return None
    links = ShareLinks(load_secret(review, database_path, environ), review.share_lifetime)
    base = review.url

    def make(event_id: str, contact: str, severity: str, now: float) -> str | None:
        if contact in remote_contacts:
            if severity != "critical":
                return None
            return f"{base}/share/{links.token(event_id, contact, now)}"
        return f"{base}/events/{event_id}"

    return make
