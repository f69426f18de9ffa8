"""Checks shared by the config sections: secrets are given as environment-variable NAMES."""

from __future__ import annotations

import re
from typing import Any

_ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{6,}$")


def check_env_name(value: Any, key: str, example: str) -> Any:
    """Reject anything that is not an environment-variable NAME (secrets stay out of files)."""
    if not isinstance(value, str) or _ENV_NAME_RE.match(value):
        return value
    stripped = value.strip()
    if _PHONE_RE.match(stripped) and sum(c.isdigit() for c in stripped) >= 6:
        raise ValueError(
            f"'{key}' looks like a phone number — it must be the NAME of an environment "
            f"variable, never the number itself: write '{key}: {example}' and put the number "
            f"in the environment (export {example}='+33...')"
        )
    looks_secret = (
        len(stripped) >= 16
        or URL_RE.match(stripped) is not None
        or any(c in stripped for c in ":/@=?")
    )
    if looks_secret:
        raise ValueError(
            f"'{key}' looks like a token or URL — it must be the NAME of an environment "
            f"variable holding it, never the secret itself: write '{key}: {example}' and put "
            f"the value in the environment (export {example}='...')"
        )
    raise ValueError(
        f"'{key}' must be the NAME of an environment variable: capital letters, digits and "
        f"'_', not starting with a digit — for example '{example}'"
    )
