"""What the training commands share: their YAML config file, and where the corpus is.

``guardian train-fall`` and ``guardian train-detector`` each read one YAML mapping into
their own pydantic model (every key checked, problems as ``file:line:col``) and find the
evaluation corpus from the config, ``$GUARDIAN_CORPUS`` or ``../shared/corpus``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from guardian.config.problems import ConfigError, Problem, problems_from_validation
from guardian.config.yamlpos import load_yaml

__all__ = ["corpus_folder", "load_training_config", "training_setup"]

M = TypeVar("M", bound=BaseModel)


def load_training_config(path: Path, model: type[M]) -> M:
    """The ``model`` in ``path``; raises ConfigError with positioned problems."""
    doc = load_yaml(path)
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(
            [Problem(path, 1, 1, "a training config is a mapping of 'key: value' lines")]
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(problems_from_validation(doc, err, model)) from None


def corpus_folder(config_dir: Path, value: str | None) -> Path:
    """The corpus: ``value`` (relative to the config's folder), else ``$GUARDIAN_CORPUS``,
    else ``shared/corpus`` beside the project."""
    if value:
        path = Path(value).expanduser()
        return path if path.is_absolute() else config_dir / path
    env = os.environ.get("GUARDIAN_CORPUS")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def training_setup(path: Path, model: type[M]) -> tuple[M, Path] | None:
    """The config in ``path`` and the corpus it names, for a training command; None (with
    the problems printed to stderr, one ``file:line:col: message`` each) when either is
    wrong."""
    import sys

    try:
        config = load_training_config(path, model)
    except ConfigError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return None
    corpus = corpus_folder(path.resolve().parent, getattr(config, "corpus", None))
    if not (corpus / "MANIFEST.md").is_file():
        print(
            f"{path}: corpus not found at {corpus} — set 'corpus:' or $GUARDIAN_CORPUS",
            file=sys.stderr,
        )
        return None
    return config, corpus
