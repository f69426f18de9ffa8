"""Enrolled people: who they are (name, role, the ``responsible`` flag) and how they look
(one appearance sample per enrolment photo), kept in the site's SQLite file through
:class:`~guardian.store.people.People`. The photo itself is kept only when asked
(``--keep-photos``), as the JPEG bytes of the person's crop.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from guardian.identity.appearance import Appearance
from guardian.store import PersonRow, PersonSample, Store
from guardian.vocab import ENROLLED_ROLES, Role

#: the roles a person can be enrolled with, as words (``guardian enroll --role``)
ROLES: tuple[str, ...] = tuple(str(r) for r in ENROLLED_ROLES)


class GalleryError(ValueError):
    """A gallery request that cannot be done (unknown person, bad name or role)."""


@dataclass(frozen=True, slots=True)
class EnrolledPerson:
    """Someone enrolled: their id (used by rules), name, role and appearance samples."""

    person_id: str
    name: str
    role: Role
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
        self.store.people.replace(
            PersonRow(
                person_id=person_id,
                name=name,
                role=Role(role),
                responsible=responsible,
                enrolled_at=now,
                samples=tuple(_sample(s) for s in samples),
            )
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
        self.store.people.remove(person.person_id)
        return person

    def get(self, person_id: str) -> EnrolledPerson | None:
        row = self.store.people.get(person_id)
        return None if row is None else _person(row)

    def people(self) -> list[EnrolledPerson]:
        """Everyone enrolled, by name, with their samples."""
        return [_person(row) for row in self.store.people.all()]


def _sample(enrolment: Enrolment) -> PersonSample:
    a = enrolment.appearance
    return PersonSample(
        source=enrolment.source,
        embedding=a.embedding,
        torso=a.torso,
        legs=a.legs,
        proportions=a.proportions,
        photo=enrolment.photo,
    )


def _person(row: PersonRow) -> EnrolledPerson:
    return EnrolledPerson(
        person_id=row.person_id,
        name=row.name,
        role=row.role,
        responsible=row.responsible,
        enrolled_at=row.enrolled_at,
        samples=tuple(
            Appearance(torso=s.torso, legs=s.legs, proportions=s.proportions, embedding=s.embedding)
            for s in row.samples
        ),
        photos=sum(1 for s in row.samples if s.photo is not None),
    )
