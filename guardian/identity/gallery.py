"""Enrolled people, kept in the site's SQLite file (tables ``people`` and ``person_samples``).

A person is stored with a name, a role (adult / child), the ``responsible`` flag and one
appearance sample per enrolment photo: the embedding and colour histograms as float32
blobs. The photo itself is stored only when asked (``--keep-photos``), as the JPEG bytes
of the person's crop.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from guardian.identity.appearance import Appearance, FloatArray
from guardian.store import Store

ROLES = ("adult", "child")


class GalleryError(ValueError):
    """A gallery request that cannot be done (unknown person, bad name or role)."""


@dataclass(frozen=True, slots=True)
class EnrolledPerson:
    """Someone enrolled: their id (used by rules), name, role and appearance samples."""

    person_id: str
    name: str
    role: str
    responsible: bool
    enrolled_at: float
    samples: tuple[Appearance, ...] = ()
    photos: int = 0


@dataclass(frozen=True, slots=True)
class Enrolment:
    """One enrolment photo's sample, with the person's crop (JPEG) when it is to be kept."""

    source: str
    appearance: Appearance
    photo: bytes | None = None


def person_id_for(name: str) -> str:
    """The id rules use for a name: lowercase ASCII letters, digits and '_' (``Ana Lopez``
    → ``ana_lopez``)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ident = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_")
    if not ident:
        raise GalleryError(
            f"the name '{name}' has no letters or digits to make an id from — use e.g. 'Ana'"
        )
    return ident


def _blob(array: FloatArray | None) -> bytes | None:
    return None if array is None else np.asarray(array, np.float32).tobytes()


def _array(blob: bytes | None) -> FloatArray | None:
    return None if blob is None else np.frombuffer(blob, np.float32).copy()


class Gallery:
    """Enrolled people in a :class:`~guardian.store.Store`'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def enroll(
        self,
        name: str,
        role: str,
        samples: Sequence[Enrolment],
        *,
        responsible: bool = False,
        now: float | None = None,
    ) -> EnrolledPerson:
        """Store (or replace) a person with these samples; returns them as stored."""
        if role not in ROLES:
            raise GalleryError(f"unknown role '{role}' — use one of: {', '.join(ROLES)}")
        if responsible and role != "adult":
            raise GalleryError(
                f"'{name}' is enrolled as a {role}: only an adult can be the responsible "
                "supervisor — drop --responsible or use --role adult"
            )
        if not samples:
            raise GalleryError(f"no appearance samples for '{name}' — give at least one photo")
        person_id = person_id_for(name)
        now = time.time() if now is None else now
        with self.store.transaction():
            db = self.store.db
            db.execute("delete from person_samples where person_id = ?", [person_id])
            db.table("people").upsert(
                {
                    "id": person_id,
                    "name": name,
                    "role": role,
                    "responsible": int(responsible),
                    "enrolled_at": now,
                },
                pk="id",
            )
            db.table("person_samples").insert_all(
                {
                    "person_id": person_id,
                    "source": s.source,
                    "embedding": _blob(s.appearance.embedding),
                    "torso": _blob(s.appearance.torso),
                    "legs": _blob(s.appearance.legs),
                    "proportions": _blob(s.appearance.proportions),
                    "photo": s.photo,
                }
                for s in samples
            )
        person = self.get(person_id)
        assert person is not None
        return person

    def remove(self, name: str) -> EnrolledPerson:
        """Forget a person (by name or id) and their samples and photos."""
        person = self.get(name) or self.get(person_id_for(name))
        if person is None:
            known = ", ".join(p.name for p in self.people()) or "nobody is enrolled"
            raise GalleryError(f"no enrolled person '{name}' — enrolled: {known}")
        with self.store.transaction():
            self.store.db.execute(
                "delete from person_samples where person_id = ?", [person.person_id]
            )
            self.store.db.execute("delete from people where id = ?", [person.person_id])
        return person

    def get(self, person_id: str) -> EnrolledPerson | None:
        return next(iter(self._load("where id = ?", [person_id])), None)

    def people(self) -> list[EnrolledPerson]:
        """Everyone enrolled, by name, with their samples."""
        return self._load("", [])

    def _load(self, where: str, params: list[object]) -> list[EnrolledPerson]:
        with self.store._lock:
            db = self.store.db
            rows = list(db.query(f"select * from people {where} order by name", params))
            out = []
            for r in rows:
                samples = list(
                    db.query("select * from person_samples where person_id = ?", [r["id"]])
                )
                out.append(
                    EnrolledPerson(
                        person_id=r["id"],
                        name=r["name"],
                        role=r["role"],
                        responsible=bool(r["responsible"]),
                        enrolled_at=float(r["enrolled_at"]),
                        samples=tuple(
                            Appearance(
                                torso=_array(s["torso"]),
                                legs=_array(s["legs"]),
                                proportions=_array(s["proportions"]),
                                embedding=_array(s["embedding"]),
                            )
                            for s in samples
                        ),
                        photos=sum(1 for s in samples if s["photo"] is not None),
                    )
                )
        return out
