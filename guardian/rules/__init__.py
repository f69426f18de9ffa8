"""The declarative rule engine: kinds, config models, loading and evaluation."""

from guardian.effects import Notification
from guardian.rules.base import Hit, RuleContext, RuleRuntime
from guardian.rules.engine import Firing, RuleEngine
from guardian.rules.kinds import ACTIONS, CONDITIONS, TRIGGERS
from guardian.rules.loader import RuleSet, load_rules

__all__ = [
    "ACTIONS",
    "CONDITIONS",
    "TRIGGERS",
    "Firing",
    "Hit",
    "Notification",
    "RuleContext",
    "RuleEngine",
    "RuleRuntime",
    "RuleSet",
    "load_rules",
]
