"""Guardian configuration: the site file, zone files, and YAML with positions.

Typical use::

    from guardian.config import ConfigError, load_site

    try:
        bundle = load_site(Path("guardian.yaml"))
    except ConfigError as err:
        print(err)  # one "file:line:col: message" per problem
"""

from guardian.config.loader import SiteBundle, load_site, load_zone_file
from guardian.config.problems import (
    ConfigError,
    Problem,
    located_error,
    problems_from_validation,
)
from guardian.config.site import (
    CameraConfig,
    ContactConfig,
    DetectionConfig,
    SiteConfig,
    SiteInfo,
    StorageConfig,
    TrackingConfig,
)
from guardian.config.yamlpos import YamlDocument, load_yaml, position_of
from guardian.config.zones import ZoneConfig

__all__ = [
    "CameraConfig",
    "ConfigError",
    "ContactConfig",
    "DetectionConfig",
    "Problem",
    "SiteBundle",
    "SiteConfig",
    "SiteInfo",
    "StorageConfig",
    "TrackingConfig",
    "YamlDocument",
    "ZoneConfig",
    "load_site",
    "load_yaml",
    "load_zone_file",
    "located_error",
    "position_of",
    "problems_from_validation",
]
