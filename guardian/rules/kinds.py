"""Every built-in trigger, condition and action kind, registered in one registry each.

Importing this module registers them (each kind module registers its own kinds);
``guardian kinds`` and the README list them.
"""

from __future__ import annotations

from guardian.rules import actions, conditions, health, triggers
from guardian.rules.fields import NameList
from guardian.rules.registry import ACTIONS, CONDITIONS, TRIGGERS

__all__ = [
    "ACTIONS",
    "CONDITIONS",
    "TRIGGERS",
    "NameList",
    "actions",
    "conditions",
    "health",
    "triggers",
]
