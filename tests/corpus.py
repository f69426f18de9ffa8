"""Where the shared evaluation footage lives (never copied into the project).

The corpus is found at ``$GUARDIAN_CORPUS`` or, by default, ``../shared/corpus`` next to the
project root. Tests that need it call :func:`require_corpus`, which skips them when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NoReturn

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def corpus_path() -> Path:
    """Where the corpus is expected, whether or not it is there."""
    configured = os.environ.get("GUARDIAN_CORPUS")
    if configured:
        return Path(configured).expanduser().resolve()
    return (PROJECT_ROOT.parent / "shared" / "corpus").resolve()


def corpus_dir() -> Path | None:
    """The corpus folder, or None when it is missing."""
    path = corpus_path()
    return path if path.is_dir() else None


def _missing(reason: str) -> NoReturn:
    """Skip, or fail when $GUARDIAN_REQUIRE_CORPUS is set (as .ci/run does)."""
    if os.environ.get("GUARDIAN_REQUIRE_CORPUS"):
        pytest.fail(reason + " (GUARDIAN_REQUIRE_CORPUS is set, so this fails instead of skipping)")
    pytest.skip(reason)


def require_corpus(*parts: str) -> Path:
    """The corpus folder (or a file/folder inside it); skips the calling test when missing."""
    root = corpus_dir()
    if root is None:
        _missing(
            f"corpus not found at {corpus_path()}; set GUARDIAN_CORPUS or place it at "
            "../shared/corpus"
        )
    target = root.joinpath(*parts)
    if parts and not target.exists():
        _missing(f"corpus file {target} not found (incomplete corpus at {root})")
    return target
