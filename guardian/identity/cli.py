"""``guardian enroll NAME --role adult|child [--responsible] [--keep-photos] PHOTOS...`` and
``guardian people [--remove NAME]``.

Enrolment finds the person in each photo with the site's pose model (the largest person
when there are several), takes their appearance (colours, proportions, embedding) and
stores it in the site's SQLite file. Photos are not stored unless ``--keep-photos``
(then the person's crop, as JPEG).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from guardian.identity.appearance import describe
from guardian.identity.embedder import crop
from guardian.identity.gallery import ROLES, Enrolment, Gallery, GalleryError, person_id_for
from guardian.records import Detection

if TYPE_CHECKING:
    from guardian.detection import PoseDetector
    from guardian.identity.embedder import AppearanceEmbedder


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


def cmd_enroll(args: argparse.Namespace) -> int:
    from guardian.cli import _site_and_store
    from guardian.detection import ModelError, PoseDetector
    from guardian.identity.embedder import AppearanceEmbedder, EmbedderError

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    site = bundle.site
    with store:
        try:
            for path in args.photos:  # a missing file fails before any model loads
                read_photo(path)
            detector = PoseDetector(
                models_dir=bundle.models_dir,
                model_path=bundle.model_path,
                backend=site.detection.backend,
                confidence=site.detection.confidence,
                device=site.detection.device,
            )
            embedder = AppearanceEmbedder() if site.identity.embedder else None
            count = enroll_photos(
                Gallery(store),
                args.name,
                args.role,
                args.photos,
                detector,
                embedder,
                responsible=args.responsible,
                keep_photos=args.keep_photos,
            )
        except (EnrolError, GalleryError, ModelError, EmbedderError) as exc:
            print(f"guardian enroll: {exc}", file=sys.stderr)
            return 1
        person = Gallery(store).get(person_id_for(args.name))
    assert person is not None
    flag = ", responsible" if person.responsible else ""
    kept = f", {person.photos} photo(s) kept" if person.photos else ""
    print(
        f"enrolled {person.name} (id {person.person_id}, {person.role}{flag}) from "
        f"{count} photo(s){kept} in {bundle.database_path}"
    )
    return 0


def cmd_people(args: argparse.Namespace) -> int:
    from guardian.cli import _site_and_store

    opened = _site_and_store(args.config)
    if opened is None:
        return 1
    bundle, store = opened
    with store:
        gallery = Gallery(store)
        if args.remove:
            try:
                gone = gallery.remove(args.remove)
            except GalleryError as exc:
                print(f"guardian people: {exc}", file=sys.stderr)
                return 1
            print(f"removed {gone.name} (id {gone.person_id}) and {len(gone.samples)} sample(s)")
            return 0
        people = gallery.people()
    if not people:
        print(f"nobody enrolled in {bundle.database_path} — add people with 'guardian enroll'")
        return 0
    for p in people:
        flag = " responsible" if p.responsible else ""
        kept = f", {p.photos} photo(s)" if p.photos else ""
        print(f"{p.person_id}: {p.name} [{p.role}{flag}] {len(p.samples)} sample(s){kept}")
    print(f"{len(people)} enrolled")
    return 0


def add_identity_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``guardian enroll`` and ``guardian people``."""
    default_config = Path("guardian.yaml")
    p = sub.add_parser(
        "enroll",
        help="enrol a person from photos (name, adult/child, responsible) for identification",
        description=(
            "Find the person in each photo with the pose model (the largest one when there "
            "are several), and store their appearance — not the photos, unless "
            "--keep-photos — in the site's database. Enrolling a name again replaces it."
        ),
    )
    p.add_argument("name", metavar="NAME", help="the person's name (rules use its id: Ana → ana)")
    p.add_argument("photos", metavar="PHOTOS", nargs="+", type=Path, help="photos of the person")
    p.add_argument("--role", required=True, choices=ROLES, help="adult or child")
    p.add_argument(
        "--responsible",
        action="store_true",
        help="this adult supervises swimming (rules' 'responsible' condition)",
    )
    p.add_argument(
        "--keep-photos", action="store_true", help="also store the person's crop of each photo"
    )
    p.add_argument("--config", type=Path, default=default_config, help="site file (guardian.yaml)")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("people", help="list enrolled people, or remove one")
    p.add_argument("--remove", metavar="NAME", help="forget this person (name or id)")
    p.add_argument("--config", type=Path, default=default_config, help="site file (guardian.yaml)")
    p.set_defaults(func=cmd_people)
