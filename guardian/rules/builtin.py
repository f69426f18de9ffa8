"""Built-in supervision rules, added for every zone of kind ``pool_area``.

* a CONFIRMED adult (an adult by the identity stage, or enrolled as one) is in the pool
  area while the site is unsupervised → ask "switch to supervised?" (YES switches for
  ``modes.supervised_for``). A person not identified is never counted: a lone toddler
  must not be taken for the adult whose YES turns entry alerts off (and the engine
  holds every rule that would switch to supervised to the same: see
  ``guardian.rules.engine.lowers_protection``);
* nobody who may be an adult (an unknown person counts: this prompt RAISES protection)
  has been in the pool area for a while during supervised mode → ask "switch back to
  unsupervised?".

They are ordinary rules written in the rule language. To change one, write a rule with
the same id in a rules file (it replaces the built-in); to turn it off, write that id
with ``enabled: false``. ``guardian check --list`` lists them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guardian.config import YamlDocument, load_yaml

BUILTIN_PATH = Path("<built-in supervision rules>")

_TEMPLATE = """
rules:
  - id: adult_arrival_prompt{suffix}
    alias: An adult is at the pool
    description: Built in. A confirmed adult is in the pool area while nobody supervises swimming.
    severity: info
    cameras: [{camera}]
    modes: [unsupervised]
    cooldown: 15m
    cooldown_per: rule
    triggers:
      - kind: occupancy
        zones: [{zone}]
        adults: ">= 1"
        unknown_as: ignore
        for: 3s
    actions:
      - kind: prompt
        question: "An adult is at the pool ({site}, {{time}}). Switch to supervised swimming?"
        yes: {{mode: supervised}}

  - id: last_adult_left_prompt{suffix}
    alias: No adult at the pool any more
    description: Built in. Supervised mode, but no adult has been in the pool area for a while.
    severity: warning
    cameras: [{camera}]
    modes: [supervised]
    cooldown: 15m
    cooldown_per: rule
    triggers:
      - kind: occupancy
        zones: [{zone}]
        adults: 0
        unknown_as: adult
        for: 10s
    actions:
      - kind: prompt
        question: "The last adult left the pool area ({{time}}). Switch back to unsupervised?"
        yes: {{mode: unsupervised}}
"""


def builtin_documents(areas: Iterable[tuple[str, str]], site: str = "home") -> list[YamlDocument]:
    """One document of built-in rules per (camera, pool_area zone)."""
    areas = list(areas)
    docs = []
    for camera, zone in areas:
        suffix = "" if len(areas) == 1 else f"_{zone}"
        text = _TEMPLATE.format(suffix=suffix, camera=camera, zone=zone, site=site)
        docs.append(load_yaml(BUILTIN_PATH, text=text))
    return docs
