"""What the commands share: the ``--config`` option, opening the site and its store with
one clear error, usage errors, and the ``--since``/``--until`` times."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from pathlib import Path
from typing import TypeAlias

from guardian.config import ConfigError, SiteBundle, load_site
from guardian.logs import use_site_timezone
from guardian.store import Store
from guardian.timefmt import parse_when

#: the site file a command reads when ``--config`` is not given
DEFAULT_CONFIG = Path("guardian.yaml")
CONFIG_HELP = "site file (guardian.yaml)"

#: ``sub`` in ``add_*_commands(sub)``: the parser's sub-commands
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_config(parser: argparse.ArgumentParser, help: str = CONFIG_HELP) -> None:
    """The ``--config SITE`` option (default ``guardian.yaml``)."""
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help=help)


def usage_error(command: str, message: str) -> int:
    """Say what is wrong with the command line; exit status 2."""
    print(f"guardian {command}: {message}", file=sys.stderr)
    return 2


def when(text: str | None, timezone: str, now: float) -> float | None:
    """A ``--since``/``--until`` value as epoch seconds (None when not given); ValueError
    says what to write."""
    return None if text is None else parse_when(text, timezone, now)


def open_site(config: Path) -> SiteBundle | None:
    """The site, for commands that only need its storage, time zone and settings.

    Problems outside the site file itself (a camera's video missing, a broken zone or
    rule file) do not stop them; a broken site file prints its problems and gives None.
    """
    try:
        bundle = load_site(config)
    except ConfigError as err:
        if isinstance(err.partial, SiteBundle):
            use_site_timezone(err.partial.site.site.timezone)
            return err.partial
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(
            f"{len(err.problems)} problem(s) in the site file — fix them first "
            "('guardian check' lists them)",
            file=sys.stderr,
        )
        return None
    use_site_timezone(bundle.site.site.timezone)  # log times in the site's time zone
    return bundle


def open_store(bundle: SiteBundle) -> Store | None:
    """The site's event store (None, said, when it cannot be opened)."""
    try:
        return Store(bundle.database_path)
    except sqlite3.Error as exc:
        print(f"{bundle.database_path}: cannot open the event store: {exc}", file=sys.stderr)
        return None


def site_and_store(config: Path) -> tuple[SiteBundle, Store] | None:
    """The site file and its event store (None when either cannot be read: said)."""
    bundle = open_site(config)
    if bundle is None:
        return None
    store = open_store(bundle)
    return None if store is None else (bundle, store)
