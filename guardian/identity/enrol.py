"""Enrolment: people's appearance from photos, for ``guardian enroll``.

Enrolment finds the person in each photo with the site's pose model (the largest person
when there are several), takes their appearance (colours, proportions, embedding) and
stores it in the site's SQLite file. Photos are not stored unless ``--keep-photos``
(then the person's crop, as JPEG).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from guardian.detection import PoseDetector
from guardian.identity.appearance import describe
from guardian.identity.embedder import AppearanceEmbedder, crop
from guardian.identity.gallery import ROLES, Enrolment, Gallery, GalleryError
from guardian.records import Detection


class EnrolError(ValueError):
    """A photo cannot be used for enrolment (unreadable, nobody in it)."""


def read_photo(path: Path) -> npt.NDArray[np.uint8]:
    if not path.is_file():
        raise EnrolError(f"{path}: no such file — give the paths of photos of the person")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise EnrolError(f"{path}: not an image OpenCV can read (use JPEG or PNG)")
    return np.asarray(image, np.uint8)


def main_person(detections: Sequence[Detection]) -> Detection | None:
    """The person a photo is of: the largest box."""
    return max(detections, key=lambda d: d.box.area, default=None)


def photo_sample(
    image: npt.NDArray[np.uint8],
    detections: Sequence[Detection],
    *,
    source: str,
    embedder: AppearanceEmbedder | None,
    keep_photo: bool = False,
) -> Enrolment:
    """The enrolment sample of one photo's main person (EnrolError when there is none)."""
    person = main_person(detections)
    if person is None:
        raise EnrolError(
            f"{source}: no person found in this photo — use a photo where the person is "
            "seen whole (or most of them), standing, not too small"
        )
    vector = embedder.embed(image, [person.box])[0] if embedder is not None else None
    photo = None
    if keep_photo:
        part = crop(image, person.box)
        if part is not None:
            ok, jpeg = cv2.imencode(".jpg", part, [cv2.IMWRITE_JPEG_QUALITY, 90])
            photo = jpeg.tobytes() if ok else None
    return Enrolment(source, describe(image, person.box, person.keypoints, vector), photo)


def enroll_photos(
    gallery: Gallery,
    name: str,
    role: str,
    photos: Sequence[Path],
    detector: PoseDetector,
    embedder: AppearanceEmbedder | None,
    *,
    responsible: bool = False,
    keep_photos: bool = False,
) -> int:
    """Enrol ``name`` from photo files; returns how many samples were stored."""
    if role not in ROLES:
        raise GalleryError(f"unknown role '{role}' — use one of: {', '.join(ROLES)}")
    if responsible and role != "adult":  # before the photos are read: fail fast
        raise GalleryError(
            f"'{name}' is enrolled as a {role}: only an adult can be the responsible "
            "supervisor — drop --responsible or use --role adult"
        )
    samples = []
    for path in photos:
        image = read_photo(path)
        samples.append(
            photo_sample(
                image,
                detector.detect(image),
                source=path.name,
                embedder=embedder,
                keep_photo=keep_photos,
            )
        )
    gallery.enroll(name, role, samples, responsible=responsible)
    return len(samples)


__all__ = ["EnrolError", "enroll_photos", "main_person", "photo_sample", "read_photo"]
