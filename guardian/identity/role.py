"""Adult, child or unknown for a person who is not enrolled: face first, then body.

One sighting (:meth:`RoleEstimator.estimate`): when the pose keypoints show a face large
and frontal enough and dlib's face detector confirms it, the CC0 age network reads it
(:mod:`guardian.identity.face`); otherwise — or when the face is not decisive — body
proportions (:mod:`guardian.identity.proportions`); otherwise "unknown". Several
sightings of one person (:meth:`RoleEstimator.combine`) pool their evidence, faces
weighing more than bodies.

"How sure" (``confidence``) is the probability of the stated role after the evidence
was discounted for how far each sighting could be trusted (face size; keypoints seen,
upright whole body). A role is stated only from :data:`MIN_CONFIDENCE` on; below that
the answer is "unknown" with confidence 0, so a person is never called a child or an
adult on weak evidence.

Cost (``bench/roles.py``): the body estimate is arithmetic on 17 keypoints (well under a
millisecond); a face costs ~20 ms (HOG detector on a head crop, landmarks, a 64×64
network) plus ~0.5 s once to load the models. The identity layer calls this for new
people only, a few sightings each, never per frame.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from guardian.identity import proportions
from guardian.identity.face import ADULT_FROM, FaceAgeModel
from guardian.records import Box, Keypoint
from guardian.vocab import Role

#: a role is stated only from this confidence on
MIN_CONFIDENCE = proportions.MIN_CONFIDENCE
#: no single answer is surer than this
MAX_CONFIDENCE = 0.99
#: in combine(), bodies' pooled evidence counts this much beside faces' (when there are faces)
BODY_WEIGHT = 0.5
ROLES: tuple[Role, ...] = tuple(Role)
#: what an estimate rests on
RoleSource = Literal["face", "body", "none"]
SOURCES: tuple[RoleSource, ...] = ("face", "body", "none")


@dataclass(frozen=True)
class RoleEstimate:
    """The role of one person from one or several sightings."""

    role: Role
    confidence: float  # 0..1: how sure (0 when unknown)
    source: RoleSource
    age: float | None  # years, when a face model gave one
    detail: str  # short human text: "face: age 34 ± 6", "body: head/height 0.13 (adult)"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        object.__setattr__(self, "role", Role(self.role))  # "adult" as written → Role.ADULT
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r} is not one of {', '.join(SOURCES)}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is not within 0..1")

    @property
    def log_odds(self) -> float:
        """Evidence for "child" (positive) or "adult" (negative); 0 when unknown."""
        if self.role == Role.UNKNOWN or self.confidence <= 0.5:
            return 0.0
        c = min(self.confidence, MAX_CONFIDENCE)
        value = math.log(c / (1.0 - c))
        return value if self.role == Role.CHILD else -value


UNKNOWN = RoleEstimate(Role.UNKNOWN, 0.0, "none", None, "no face or body seen well enough")


def _decide(p_child: float, source: RoleSource, age: float | None, detail: str) -> RoleEstimate:
    p = min(MAX_CONFIDENCE, max(1.0 - MAX_CONFIDENCE, p_child))
    confidence = max(p, 1.0 - p)
    if confidence < MIN_CONFIDENCE:
        return RoleEstimate(Role.UNKNOWN, 0.0, source, age, f"{detail} → not sure")
    role = Role.CHILD if p > 0.5 else Role.ADULT
    return RoleEstimate(role, round(confidence, 4), source, age, f"{detail} → {role}")


class RoleEstimator:
    """Estimates adult / child for people who are not enrolled.

    ``faces=False`` uses body proportions only and never loads the face model; with
    ``faces=True`` the model loads on the first face seen, not here.
    """

    def __init__(self, *, faces: bool = True) -> None:
        self.faces = faces
        self._face = FaceAgeModel() if faces else None

    def estimate(self, image: np.ndarray, box: Box, keypoints: Sequence[Keypoint]) -> RoleEstimate:
        """One sighting: the face when one is visible enough, else the body, else unknown.

        ``image`` is the camera frame (BGR) the box and keypoints are in.
        """
        face = None
        if self._face is not None:
            face = self._from_face(image, keypoints)
            if face is not None and face.role != Role.UNKNOWN:
                return face
        height, width = image.shape[:2]
        body = proportions.estimate(box, keypoints, (int(width), int(height)))
        if body.role != Role.UNKNOWN:
            text = body.detail if face is None else f"{body.detail}; {face.detail}"
            sure = round(min(MAX_CONFIDENCE, body.confidence), 4)
            return RoleEstimate(body.role, sure, "body", None if face is None else face.age, text)
        if face is not None:  # a face was read but was not decisive; say what it gave
            return RoleEstimate(
                Role.UNKNOWN, 0.0, "face", face.age, f"{face.detail}; {body.detail}"
            )
        if body.ratios.head_share is not None:
            return RoleEstimate(Role.UNKNOWN, 0.0, "body", None, body.detail)
        return RoleEstimate(Role.UNKNOWN, 0.0, "none", None, body.detail)

    def _from_face(self, image: np.ndarray, keypoints: Sequence[Keypoint]) -> RoleEstimate | None:
        assert self._face is not None
        read = self._face.estimate(image, keypoints)
        if read is None:
            return None
        # face quality pulls the network's answer towards "don't know"
        p = 0.5 + (read.p_child - 0.5) * read.quality
        detail = (
            f"face: age {read.age:.0f} ± {read.spread:.0f}, P(<{ADULT_FROM:.0f}) "
            f"{read.p_child:.2f}, eyes {read.eye_distance:.0f} px"
        )
        return _decide(p, "face", round(read.age, 1), detail)

    @staticmethod
    def combine(estimates: Sequence[RoleEstimate]) -> RoleEstimate:
        """Several sightings of one person → one estimate.

        Evidence is pooled as log-odds: the mean over the sightings of each source,
        times the square root of their number (sightings of one person a moment apart
        are not independent, so n of them count as √n, not n). When faces were read, the
        bodies' evidence counts at :data:`BODY_WEIGHT` beside theirs. The age is the
        median of the face ages.
        """
        if not estimates:
            return UNKNOWN
        faces = [e for e in estimates if e.source == "face" and e.role != Role.UNKNOWN]
        bodies = [e for e in estimates if e.source == "body" and e.role != Role.UNKNOWN]
        ages = [e.age for e in estimates if e.age is not None]
        age = round(statistics.median(ages), 1) if ages else None

        def pooled(group: Sequence[RoleEstimate]) -> float:
            if not group:
                return 0.0
            return statistics.fmean(e.log_odds for e in group) * math.sqrt(len(group))

        total = pooled(faces) + (BODY_WEIGHT if faces else 1.0) * pooled(bodies)
        if not faces and not bodies:
            source: RoleSource = (
                "face"
                if ages
                else ("body" if any(e.source == "body" for e in estimates) else "none")
            )
            return RoleEstimate(
                Role.UNKNOWN, 0.0, source, age, f"{len(estimates)} sighting(s), none decisive"
            )
        source = "face" if faces else "body"
        counts = []
        for name, group in (("face", faces), ("body", bodies)):
            if group:
                adults = sum(e.role == Role.ADULT for e in group)
                counts.append(f"{name} {adults} adult / {len(group) - adults} child")
        detail = f"{len(estimates)} sightings: " + ", ".join(counts)
        if age is not None:
            detail += f", age {age:.0f}"
        p_child = 1.0 / (1.0 + math.exp(-total))
        return _decide(p_child, source, age, detail)
