"""The hand-off decision: which on-site person (if any) a new track is.

The cost of a (track, person) pair mixes, each scaled to 0..1,

* **colour**: clothes colours at the torso and legs (Hellinger distance of HSV histograms),
* **embedding**: the MobileNetV2 appearance vector (cosine distance), when there is one,
* **proportions**: vertical body ratios from the keypoints, when both sides have them,
* **time**: how expected the person is on this camera now (:mod:`guardian.identity.graph`),

as a weighted mean of the parts both sides have. Each track sample is compared with the
closest sample of the person, and the track's samples are summarised by their median.

Tracks and candidates are paired by the Hungarian method
(``scipy.optimize.linear_sum_assignment``); a pair is taken only when its cost is below
``accept`` **and** clear of the runner-up on both sides by ``margin`` — otherwise the track
stays *unsure* (unknown) rather than taking someone else's identity. A track whose best
cost is above ``new_person`` is nobody on site: a new person.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped, unused-ignore]

from guardian.config.identity import MatchConfig
from guardian.identity.appearance import (
    Appearance,
    colour_distance,
    embedding_distance,
    proportion_distance,
)

#: (weight, distance that counts as 0, distance that counts as 1) per part. Measured on
#: UP-Fall A06 (bench/handoff.py): the same person across two views vs. another person.
COLOUR = (0.5, 0.25, 0.75)
EMBEDDING = (0.3, 0.2, 0.45)
PROPORTIONS = (0.1, 0.0, 1.0)
TIME = 0.1
_INFEASIBLE = 1e3

Key = tuple[str, int]


class Verdict(StrEnum):
    MATCH = "match"
    NEW = "new"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A person who could be the track: their samples and the graph's time cost."""

    person_id: str
    samples: tuple[Appearance, ...]
    time_cost: float


@dataclass(frozen=True, slots=True)
class Decision:
    """What the hand-off says about one track."""

    key: Key
    verdict: Verdict
    person_id: str | None
    cost: float
    second: float
    confidence: float


def _scaled(d: float, low: float, high: float) -> float:
    return float(min(1.0, max(0.0, (d - low) / (high - low))))


def _part(
    track: Sequence[Appearance],
    person: Sequence[Appearance],
    distance: Callable[[Appearance, Appearance], float | None],
) -> float | None:
    """Median over the track's samples of the distance to the person's closest sample."""
    per_sample = []
    for t in track:
        ds = [d for p in person if (d := distance(t, p)) is not None]
        if ds:
            per_sample.append(min(ds))
    return float(np.median(per_sample)) if per_sample else None


def pair_cost(
    track: Sequence[Appearance], person: Sequence[Appearance], time_cost: float = 0.0
) -> float:
    """0..1: how unlike the person the track is (1 when nothing can be compared)."""
    total = weights = 0.0
    for (weight, low, high), distance in (
        (COLOUR, colour_distance),
        (EMBEDDING, embedding_distance),
        (PROPORTIONS, proportion_distance),
    ):
        d = _part(track, person, distance)
        if d is not None:
            total += weight * _scaled(d, low, high)
            weights += weight
    if weights == 0.0:
        return 1.0
    return (total + TIME * time_cost) / (weights + TIME)


def confidence(cost: float, second: float, match: MatchConfig) -> float:
    """0..1: low cost and a clear runner-up gap make a sure hand-off."""
    gap = 1.0 if second >= _INFEASIBLE else min(1.0, (second - cost) / (2 * match.margin or 1))
    return float(max(0.0, min(1.0, (1.0 - cost) * gap)))


def decide(
    tracks: Mapping[Key, Sequence[Appearance]],
    candidates: Mapping[Key, Sequence[Candidate]],
    match: MatchConfig,
) -> list[Decision]:
    """One decision per track in ``tracks`` (Hungarian over every track × candidate)."""
    keys = list(tracks)
    people: dict[str, int] = {}
    for key in keys:
        for cand in candidates.get(key, ()):
            people.setdefault(cand.person_id, len(people))
    cost = np.full((len(keys), len(people)), _INFEASIBLE)
    for r, key in enumerate(keys):
        for cand in candidates.get(key, ()):
            cost[r, people[cand.person_id]] = pair_cost(tracks[key], cand.samples, cand.time_cost)
    ids = list(people)
    assigned: dict[int, int] = {}
    if cost.size:
        rows, cols = linear_sum_assignment(cost)
        assigned = {int(r): int(c) for r, c in zip(rows, cols, strict=True)}
    out = []
    for r, key in enumerate(keys):
        row = cost[r]
        best = float(row.min()) if row.size else _INFEASIBLE
        c = assigned.get(r)
        if c is None or cost[r, c] >= _INFEASIBLE:
            verdict = Verdict.NEW if best > match.new_person else Verdict.UNSURE
            out.append(Decision(key, verdict, None, best, _INFEASIBLE, 0.0))
            continue
        value = float(cost[r, c])
        others_row = np.delete(row, c)
        others_col = np.delete(cost[:, c], r)
        second = min(
            float(others_row.min()) if others_row.size else _INFEASIBLE,
            float(others_col.min()) if others_col.size else _INFEASIBLE,
        )
        if value <= match.accept and second - value >= match.margin:
            sure = confidence(value, second, match)
            out.append(Decision(key, Verdict.MATCH, ids[c], value, second, sure))
        elif best > match.new_person:
            out.append(Decision(key, Verdict.NEW, None, best, second, 0.0))
        else:
            out.append(Decision(key, Verdict.UNSURE, None, value, second, 0.0))
    return out
