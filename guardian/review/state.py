"""What every request of the review site needs: the site, the store, keys, API tokens, clock."""

from __future__ import annotations

import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from guardian.config import SiteBundle
from guardian.modes import ModeManager
from guardian.review.auth import Sessions, ShareLinks
from guardian.snapshots import Snapshots
from guardian.store import Store

log = logging.getLogger("guardian.review")

#: the environment variable holding the JSON API's bearer tokens (see docs/api.md)
API_TOKENS_ENV = "GUARDIAN_API_TOKENS"
#: the shortest bearer token accepted
MIN_TOKEN_LENGTH = 32
_TOKEN_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


def api_tokens(environ: Mapping[str, str]) -> dict[str, str]:
    """Bearer tokens from ``GUARDIAN_API_TOKENS``: ``name:token`` or ``token`` entries,
    separated by commas or spaces; a token shorter than 32 characters is ignored."""
    tokens: dict[str, str] = {}
    for entry in re.split(r"[,\s]+", environ.get(API_TOKENS_ENV, "").strip()):
        if not entry:
            continue
        name, sep, token = entry.partition(":")
        if not sep:
            name, token = "api", entry
        if len(token) < MIN_TOKEN_LENGTH or not _TOKEN_NAME_RE.match(name):
            log.warning(
                "%s: an entry is ignored (a token needs at least %d characters, a name "
                "letters, digits, '_', '.', '-')",
                API_TOKENS_ENV,
                MIN_TOKEN_LENGTH,
            )
            continue
        tokens[token] = name
    return tokens


class ReviewApp:
    """The review site's state: site, store, signing keys, API tokens, modes and clock."""

    def __init__(
        self,
        bundle: SiteBundle,
        store: Store,
        *,
        secret: bytes,
        password_hash: str,
        clock: Callable[[], float] = time.time,
        environ: Mapping[str, str] = os.environ,
        snapshots: Snapshots | None = None,
    ) -> None:
        self.bundle = bundle
        self.site = bundle.site
        self.review = bundle.site.review
        self.store = store
        self.password_hash = password_hash
        self.sessions = Sessions(secret, self.review.session_lifetime)
        self.shares = ShareLinks(secret, self.review.share_lifetime)
        self.clock = clock
        self.environ = environ
        self.tokens = api_tokens(environ)
        self.snapshots = (
            snapshots if snapshots is not None else Snapshots.in_clips(bundle.clips_dir)
        )
        self.modes = ModeManager(
            store,
            timezone=self.site.site.timezone,
            supervised_for=self.site.modes.supervised_for,
            clock=clock,
        )
        #: the address the server is reached at, when review.url is not set (set by serve)
        self.fallback_url = ""

    @property
    def public_url(self) -> str:
        return self.review.url or self.fallback_url

    @property
    def secure_cookies(self) -> bool:
        return self.review.url.startswith("https://")

    @property
    def clips_dir(self) -> Path:
        return self.bundle.clips_dir

    def token_user(self, token: str) -> str | None:
        """The name of a valid bearer token (compared in constant time), else None."""
        found: str | None = None
        for known, name in self.tokens.items():
            if hmac.compare_digest(known.encode(), token.encode("utf-8", "replace")):
                found = name
        return found
