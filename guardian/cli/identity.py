"""``guardian enroll NAME --role adult|child [--responsible] [--keep-photos] PHOTOS...`` and
``guardian people [--remove NAME]`` (enrolment itself: :mod:`guardian.identity.enrol`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from guardian.cli.options import Commands, add_config, site_and_store
from guardian.detection import ModelError, PoseDetector
from guardian.identity.embedder import AppearanceEmbedder, EmbedderError
from guardian.identity.enrol import EnrolError, enroll_photos, read_photo
from guardian.identity.gallery import ROLES, Gallery, GalleryError, person_id_for


def cmd_enroll(args: argparse.Namespace) -> int:
    opened = site_and_store(args.config)
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
    opened = site_and_store(args.config)
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


def add_identity_commands(sub: Commands) -> None:
    """Register ``guardian enroll`` and ``guardian people``."""
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
    add_config(p)
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("people", help="list enrolled people, or remove one")
    p.add_argument("--remove", metavar="NAME", help="forget this person (name or id)")
    add_config(p)
    p.set_defaults(func=cmd_people)
