"""What the bench scripts share: where the evaluation corpus is.

Scripts run as ``.venv/bin/python bench/NAME.py``, so this folder is on ``sys.path`` and
they import it as ``from benchkit import corpus``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def corpus() -> Path:
    """``$GUARDIAN_CORPUS`` or ``../shared/corpus``; exits with a clear message when missing."""
    path = Path(os.environ.get("GUARDIAN_CORPUS", REPO.parent / "shared" / "corpus"))
    if not (path / "MANIFEST.md").is_file():
        sys.exit(f"corpus not found at {path}: set GUARDIAN_CORPUS")
    return path
