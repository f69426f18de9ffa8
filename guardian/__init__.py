"""Guardian: a rules engine for supervised zones (pools, elevators, care rooms)."""

__version__ = "0.1.0"
