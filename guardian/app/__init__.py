"""One place that builds Guardian: load a site and its rules, build every part, run.

- :mod:`guardian.app.site`: the site and its rule set as every command loads them
  (built-in rules included), the rule context and the mode manager of a connection;
- :mod:`guardian.app.parts`: every ``build_*`` factory, one per part (outbox and its
  channels, clip recorder, health monitor, posture estimator, identity, digest and
  retention jobs, scheduler, each camera's detector and pipeline);
- :mod:`guardian.app.run`: :func:`build_runner` builds each part once, by constructor
  injection, and :func:`run_site` runs them until the videos end or a stop.

Nothing here imports the command line; the command line imports this.
"""

from guardian.app.parts import (
    MODEL_THREADS_ENV,
    DetectorFactory,
    SiteCameras,
    SiteDetectors,
    add_digest_job,
    add_retention_job,
    build_monitor,
    build_notifiers,
    build_outbox,
    build_posture_tracker,
    build_recorder,
    build_scheduler,
    build_site_bus,
    build_site_identity,
    threads_per_camera,
)
from guardian.app.run import build_runner, run_site
from guardian.app.site import load_site_and_rules, mode_manager, rule_context, site_rules

__all__ = [
    "MODEL_THREADS_ENV",
    "DetectorFactory",
    "SiteCameras",
    "SiteDetectors",
    "add_digest_job",
    "add_retention_job",
    "build_monitor",
    "build_notifiers",
    "build_outbox",
    "build_posture_tracker",
    "build_recorder",
    "build_runner",
    "build_scheduler",
    "build_site_bus",
    "build_site_identity",
    "load_site_and_rules",
    "mode_manager",
    "rule_context",
    "run_site",
    "site_rules",
    "threads_per_camera",
]
