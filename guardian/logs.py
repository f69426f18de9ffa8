"""Log lines with their times in the site's time zone, like everything else people read.

``setup_logging`` installs one stderr handler on the root logger; until a site file is
read, times are the machine's; ``use_site_timezone`` (called when a command has loaded
the site file) makes them the site's, so a log line at 21:15 in Paris says 21:15 even on
a machine set to UTC.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TextIO

from guardian.timefmt import local_time, stamp

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SiteFormatter(logging.Formatter):
    """``%(asctime)s`` in ``zone`` (an IANA name; None: the machine's local time)."""

    zone: str | None = None

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return self._local(record.created).strftime(datefmt)
        if self.zone is None:  # no site file read yet: the machine's clock
            return f"{self._local(record.created):%Y-%m-%d %H:%M:%S},{int(record.msecs):03d}"
        return f"{stamp(record.created, self.zone)},{int(record.msecs):03d}"

    def _local(self, created: float) -> dt.datetime:
        if self.zone is None:
            return dt.datetime.fromtimestamp(created).astimezone()
        return local_time(created, self.zone)


def setup_logging(verbose: int = 0, stream: TextIO | None = None) -> None:
    """WARNING and up (INFO with ``-v``, DEBUG with ``-vv``) to stderr, site-zone times.

    Does nothing when the root logger already has handlers (embedded, or under tests).
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SiteFormatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def use_site_timezone(timezone: str) -> None:
    """From now on, log times are in ``timezone`` (the site's ``site.timezone``)."""
    local_time(0.0, timezone)  # an unknown zone fails here, not in every log line
    SiteFormatter.zone = timezone


__all__ = ["SiteFormatter", "setup_logging", "use_site_timezone"]
