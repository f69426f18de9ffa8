"""Site identity: who is who across cameras, enrolled people, and adult / child roles.

Above the per-camera tracks, a global person id follows each person from camera to
camera (:mod:`guardian.identity.manager`): appearance is sampled in the camera thread
for new tracks only (:mod:`~guardian.identity.appearance`,
:mod:`~guardian.identity.embedder`), the people who could plausibly be a new track come
from the camera graph (:mod:`~guardian.identity.graph`), and the Hungarian method with a
confidence decides (:mod:`~guardian.identity.handoff`). Enrolled people live in SQLite
(:mod:`~guardian.identity.gallery`); roles come from :mod:`~guardian.identity.role`.

This module stays light (rules import it): the model-loading modules are imported only
where they are used.
"""

from __future__ import annotations

#: person ids of people followed but not enrolled start with this ("#3"); enrolled people
#: use their enrolled id, which never does
ANONYMOUS_PREFIX = "#"

__all__ = ["ANONYMOUS_PREFIX"]
