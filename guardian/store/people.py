"""Enrolled people (table ``people``) and their appearance samples (``person_samples``):
embeddings and colour histograms as float32 blobs, the photo only when it is kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from guardian.store.database import Database
from guardian.vocab import Role

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class PersonSample:
    """One enrolment photo's appearance as stored; the photo (JPEG) when kept."""

    source: str
    embedding: FloatArray | None = None
    torso: FloatArray | None = None
    legs: FloatArray | None = None
    proportions: FloatArray | None = None
    photo: bytes | None = None


@dataclass(frozen=True, slots=True)
class PersonRow:
    """An enrolled person as stored, with their samples."""

    person_id: str
    name: str
    role: Role
    responsible: bool
    enrolled_at: float
    samples: tuple[PersonSample, ...] = ()


def _blob(array: FloatArray | None) -> bytes | None:
    return None if array is None else np.asarray(array, np.float32).tobytes()


def _array(blob: bytes | None) -> FloatArray | None:
    return None if blob is None else np.frombuffer(blob, np.float32).copy()


def sample_from_row(r: dict[str, Any]) -> PersonSample:
    return PersonSample(
        source=r["source"] or "",
        embedding=_array(r["embedding"]),
        torso=_array(r["torso"]),
        legs=_array(r["legs"]),
        proportions=_array(r["proportions"]),
        photo=r["photo"],
    )


class People:
    """Enrolled people by id; a person's samples are replaced and removed with them."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def replace(self, person: PersonRow) -> None:
        """Store ``person`` with exactly their samples (an earlier enrolment's go)."""
        with self._db.transaction():
            sql = self._db.sqlite
            sql.execute("delete from person_samples where person_id = ?", [person.person_id])
            sql.table("people").upsert(
                {
                    "id": person.person_id,
                    "name": person.name,
                    "role": str(person.role),
                    "responsible": int(person.responsible),
                    "enrolled_at": person.enrolled_at,
                },
                pk="id",
            )
            sql.table("person_samples").insert_all(
                {
                    "person_id": person.person_id,
                    "source": s.source,
                    "embedding": _blob(s.embedding),
                    "torso": _blob(s.torso),
                    "legs": _blob(s.legs),
                    "proportions": _blob(s.proportions),
                    "photo": s.photo,
                }
                for s in person.samples
            )

    def remove(self, person_id: str) -> bool:
        """Forget a person and their samples and photos; False if unknown."""
        with self._db.transaction():
            sql = self._db.sqlite
            sql.execute("delete from person_samples where person_id = ?", [person_id])
            return bool(sql.execute("delete from people where id = ?", [person_id]).rowcount)

    def get(self, person_id: str) -> PersonRow | None:
        return next(iter(self._load("where id = ?", [person_id])), None)

    def all(self) -> list[PersonRow]:
        """Everyone enrolled, by name, with their samples."""
        return self._load("", [])

    def _load(self, where: str, params: list[object]) -> list[PersonRow]:
        with self._db.lock:
            sql = self._db.sqlite
            rows = list(sql.query(f"select * from people {where} order by name", params))
            return [
                PersonRow(
                    person_id=r["id"],
                    name=r["name"],
                    role=Role(r["role"]),
                    responsible=bool(r["responsible"]),
                    enrolled_at=float(r["enrolled_at"]),
                    samples=tuple(
                        sample_from_row(s)
                        for s in sql.query(
                            "select * from person_samples where person_id = ? order by id",
                            [r["id"]],
                        )
                    ),
                )
                for r in rows
            ]
