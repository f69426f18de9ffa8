"""A site and its rules, loaded as every command loads them, and the site-wide parts
built from them once: the rule context and the mode manager of a database connection."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from guardian.config import ConfigError, SiteBundle, load_site
from guardian.logs import use_site_timezone
from guardian.modes import ModeManager
from guardian.rules import RuleContext, RuleSet, load_rules
from guardian.rules.health import builtin_health
from guardian.store import Store
from guardian.vocab import Mode


def load_site_and_rules(config: Path) -> tuple[SiteBundle, RuleSet]:
    """The site and its rules; ConfigError lists every problem of both."""
    try:
        bundle = load_site(config)
    except ConfigError as err:
        if err.partial is None:
            raise
        rules = site_rules(err.partial)  # check the rules against what did load
        raise ConfigError(err.problems + rules.problems) from None
    use_site_timezone(bundle.site.site.timezone)  # log times in the site's time zone
    return bundle, site_rules(bundle)


def site_rules(bundle: SiteBundle) -> RuleSet:
    """The site's rule set as ``guardian run`` uses it: its rule files against its zones
    and contacts, and the built-in rules (``camera_health_<camera>``)."""
    zones: dict[str, set[str]] = {cam.id: set() for cam in bundle.site.cameras}
    for zone in bundle.zones:
        zones.setdefault(zone.camera, set()).add(zone.name)
    return load_rules(
        bundle.rule_documents,
        zones_by_camera=zones,
        contacts=[c.id for c in bundle.site.contacts],
        broken_zones=bundle.broken_zones,
        builtin_areas=[(z.camera, z.name) for z in bundle.zones if z.kind == "pool_area"],
        builtin=builtin_health(bundle),
        site_name=bundle.site.site.name,
    )


def rule_context(bundle: SiteBundle, mode: Mode | str) -> RuleContext:
    """The site-wide facts the rules read, starting in ``mode``."""
    site = bundle.site
    return RuleContext(
        mode=Mode(mode),
        timezone=site.site.timezone,
        site_name=site.site.name,
        review_url=site.review.url,
        contacts=tuple(c.id for c in site.contacts),
        prompt_expires=site.modes.prompt_expires,
        supervised_for=site.modes.supervised_for,
    )


def mode_manager(
    bundle: SiteBundle, store: Store, clock: Callable[[], float] = time.time
) -> ModeManager:
    """The site's mode, kept in ``store`` (one manager per database connection)."""
    return ModeManager(
        store,
        timezone=bundle.site.site.timezone,
        supervised_for=bundle.site.modes.supervised_for,
        clock=clock,
    )
