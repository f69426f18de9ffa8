"""Load a site: the site file, its zone files, and (as YAML only) its rule files.

:func:`load_site` collects every problem it can find — in the site file, in each
zone file, across files — and raises one :class:`ConfigError` listing them all, so
a user fixes a broken setup in one pass. Rule files are only parsed here; the rules
package validates them from :attr:`SiteBundle.rule_documents`.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from guardian.config.checks import URL_RE
from guardian.config.problems import ConfigError, Problem, problems_from_validation
from guardian.config.site import CameraConfig, SiteConfig
from guardian.config.yamlpos import YamlDocument, load_yaml
from guardian.config.zones import ZoneConfig, ZoneFile


@dataclass(frozen=True)
class SiteBundle:
    """Everything loaded from a site file, with paths resolved to absolute ones.

    Camera sources that are files or folders are absolute paths in ``site.cameras``.
    """

    site: SiteConfig
    path: Path
    base_dir: Path
    zones: tuple[ZoneConfig, ...]
    rule_documents: tuple[YamlDocument, ...]
    database_path: Path
    clips_dir: Path
    models_dir: Path
    #: the detection model from the site file, resolved; None: use the bundled one
    model_path: Path | None = None
    #: zone names a zone file declares but that did not load (their problems say why)
    broken_zones: frozenset[str] = frozenset()
    #: the swimmer model from the site file, resolved; None: the shipped one
    swimmer_model_path: Path | None = None

    def swimmer_cameras(self) -> tuple[str, ...]:
        """Enabled cameras the swimmer detector runs on (named, or those with water zones)."""
        swim = self.site.detection.swimmers
        if not swim.enabled:
            return ()
        if swim.cameras is not None:
            chosen = set(swim.cameras)
        else:
            chosen = {z.camera for z in self.zones if z.kind == "water"}
        return tuple(c.id for c in self.site.cameras if c.enabled and c.id in chosen)

    def zones_for(self, camera_id: str) -> tuple[ZoneConfig, ...]:
        """The zones drawn on one camera, in file order."""
        return tuple(z for z in self.zones if z.camera == camera_id)

    def camera(self, camera_id: str) -> CameraConfig:
        return self.site.camera(camera_id)


@dataclass(frozen=True)
class _PlacedZone:
    zone: ZoneConfig
    file: Path
    line: int
    col: int


def is_file(path: Path) -> bool:
    """``path.is_file()``, False (not an exception) for a name the system refuses (too long)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, False for a name the system refuses."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def exists(path: Path) -> bool:
    """``path.exists()``, False for a name the system refuses."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _zone_file(
    path: Path, camera_ids: Collection[str] | None, site_name: str
) -> tuple[list[_PlacedZone], list[Problem], set[str]]:
    """The valid zones, the problems, and every zone name the file declares."""
    try:
        doc = load_yaml(path)
    except ConfigError as exc:
        return [], list(exc.problems), set()
    items = doc.data.get("zones") if isinstance(doc.data, dict) else None
    declared = {
        str(item["name"])
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and isinstance(item.get("name"), str)
    }
    if doc.data is None:
        msg = "zone file is empty — it needs a 'zones:' list of '- name: ...' entries"
        return [], [Problem(path, 1, 1, msg)], declared
    if not isinstance(doc.data, dict):
        line, col = doc.position(())
        msg = "a zone file must start with 'zones:' followed by a list of '- name: ...' entries"
        return [], [Problem(path, line, col, msg)], declared
    try:
        ZoneFile.model_validate(doc.data)
    except ValidationError as exc:
        return [], problems_from_validation(doc, exc, ZoneFile), declared

    placed: list[_PlacedZone] = []
    problems: list[Problem] = []
    seen: dict[tuple[str, str], _PlacedZone] = {}
    known = sorted(camera_ids) if camera_ids is not None else []

    def unknown_camera(loc: tuple[str | int, ...], name: object, camera: str) -> Problem:
        cline, ccol = doc.position((*loc, "camera"), value=True)
        guess = difflib.get_close_matches(camera, known, n=1)
        return Problem(
            path,
            cline,
            ccol,
            f"zone '{name}' names camera '{camera}', which is not in "
            f"{site_name} — known cameras: {', '.join(known) or '(none)'}"
            + (f" (did you mean '{guess[0]}'?)" if guess else ""),
        )

    for index, item in enumerate(doc.data["zones"]):
        loc = ("zones", index)
        try:
            zone = ZoneConfig.model_validate(item)
        except ValidationError as exc:
            problems.extend(problems_from_validation(doc, exc, ZoneConfig, loc))
            # in the same pass: a zone with another problem may also name a wrong camera
            camera = item.get("camera") if isinstance(item, dict) else None
            if camera_ids is not None and isinstance(camera, str) and camera not in camera_ids:
                problems.append(unknown_camera(loc, item.get("name", f"#{index + 1}"), camera))
            continue
        line, col = doc.position(loc)
        if camera_ids is not None and zone.camera not in camera_ids:
            problems.append(unknown_camera(loc, zone.name, zone.camera))
            continue
        key = (zone.camera, zone.name)
        if key in seen:
            first = seen[key]
            nline, ncol = doc.position((*loc, "name"), value=True)
            problems.append(
                Problem(
                    path,
                    nline,
                    ncol,
                    f"zone '{zone.name}' is defined twice for camera '{zone.camera}' "
                    f"(first at line {first.line}) — zone names must be unique per camera",
                )
            )
            continue
        here = _PlacedZone(zone, path, line, col)
        seen[key] = here
        placed.append(here)
    return placed, problems, declared


def load_zone_file(
    path: Path, camera_ids: Collection[str] | None = None
) -> tuple[list[ZoneConfig], list[Problem]]:
    """Load one zone file: the valid zones and the problems found.

    With ``camera_ids``, a zone naming another camera is a problem (and left out);
    with ``None`` cameras are not checked. Never raises for bad content.
    """
    placed, problems, _ = _zone_file(path, camera_ids, "the site file")
    return [p.zone for p in placed], problems


def _camera_ids_from_raw(data: Any) -> list[str] | None:
    """Camera ids from unvalidated site data, to keep checking zones when the site is bad."""
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        return None
    return [
        c["id"] for c in data["cameras"] if isinstance(c, dict) and isinstance(c.get("id"), str)
    ]


def _file_list(site: SiteConfig | None, data: Any, key: str) -> list[tuple[int, str]]:
    if site is not None:
        return list(enumerate(getattr(site, key)))
    raw = data.get(key) if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    return [(i, v) for i, v in enumerate(raw) if isinstance(v, str)]


def _ordered(site_path: Path, problems: list[Problem]) -> list[Problem]:
    """The site file's problems first, then each other file's, each by line."""
    order: dict[Path, int] = {site_path: 0}
    for p in problems:
        order.setdefault(p.file, len(order))
    return sorted(problems, key=lambda p: (order[p.file], p.line, p.col))


def load_site(path: Path) -> SiteBundle:
    """Load and check a site file and everything it lists.

    Raises :class:`ConfigError` with all problems found in the site file, the zone
    files, the rule files (missing or not YAML) and across them.
    """
    path = Path(path)
    base_dir = path.parent
    doc = load_yaml(path)  # unreadable or not YAML: nothing more to check
    problems: list[Problem] = []
    site: SiteConfig | None = None
    if doc.data is None:
        problems.append(
            Problem(path, 1, 1, "site file is empty — it needs at least a 'cameras:' list")
        )
    elif not isinstance(doc.data, dict):
        line, col = doc.position(())
        problems.append(
            Problem(path, line, col, "the site file must be a mapping of sections (cameras: ...)")
        )
    else:
        try:
            site = SiteConfig.model_validate(doc.data)
        except ValidationError as exc:
            problems.extend(problems_from_validation(doc, exc, SiteConfig))

    camera_ids = list(site.camera_ids) if site is not None else _camera_ids_from_raw(doc.data)
    site_name = path.name

    # zone files, and zone names unique per camera across files
    zones: list[ZoneConfig] = []
    declared: set[str] = set()
    seen: dict[tuple[str, str], _PlacedZone] = {}
    for index, rel in _file_list(site, doc.data, "zones"):
        zone_path = _resolve(base_dir, rel)
        if not is_file(zone_path):
            line, col = doc.position(("zones", index), value=True)
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"zone file '{rel}' does not exist — looked for {zone_path.absolute()}",
                )
            )
            continue
        placed, found, names = _zone_file(zone_path, camera_ids, site_name)
        declared |= names
        problems.extend(found)
        for p in placed:
            key = (p.zone.camera, p.zone.name)
            if key in seen:
                first = seen[key]
                problems.append(
                    Problem(
                        p.file,
                        p.line,
                        p.col,
                        f"zone '{p.zone.name}' is defined twice for camera '{p.zone.camera}' "
                        f"(first in {first.file}:{first.line}) — zone names must be unique "
                        "per camera",
                    )
                )
                continue
            seen[key] = p
            zones.append(p.zone)

    # rule files: parsed here, validated by the rules package
    rule_documents: list[YamlDocument] = []
    for index, rel in _file_list(site, doc.data, "rules"):
        rule_path = _resolve(base_dir, rel)
        if not is_file(rule_path):
            line, col = doc.position(("rules", index), value=True)
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"rule file '{rel}' does not exist — looked for {rule_path.absolute()}",
                )
            )
            continue
        try:
            rule_documents.append(load_yaml(rule_path))
        except ConfigError as exc:
            problems.extend(exc.problems)

    if site is None:
        raise ConfigError(_ordered(path, problems))

    # camera sources on disk (enabled cameras only)
    cameras: list[CameraConfig] = []
    for index, cam in enumerate(site.cameras):
        kind = cam.source_kind
        if kind in ("url", "usb") or not isinstance(cam.source, str):
            cameras.append(cam)
            continue
        source = _resolve(base_dir, cam.source).absolute()
        if is_dir(source):
            cameras.append(cam.with_source(str(source), "folder"))
        elif is_file(source):
            cameras.append(cam.with_source(str(source), "file"))
        else:
            # a worker's camera file is on the worker's machine: `guardian worker` checks it
            if cam.enabled and cam.worker is None:
                line, col = doc.position(("cameras", index, "source"), value=True)
                problems.append(
                    Problem(
                        path,
                        line,
                        col,
                        f"camera '{cam.id}' source '{cam.source}' does not exist — looked for "
                        f"{source}; give a video file, a folder of images, a URL or a USB index",
                    )
                )
            cameras.append(cam.with_source(str(source), kind))

    # record streams on disk: relative to the site file, and they must exist
    for index, cam in enumerate(cameras):
        record = cam.record
        if record is None or URL_RE.match(record) or record.strip().isdigit():
            continue
        record_path = _resolve(base_dir, record).absolute()
        if cam.enabled and cam.worker is None and not (is_file(record_path) or is_dir(record_path)):
            line, col = doc.position(("cameras", index, "record"), value=True)
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"camera '{cam.id}' record '{record}' does not exist — looked for "
                    f"{record_path}; give the stream clips are recorded from (a video file, a "
                    "URL or a USB index), or leave 'record' out to record from 'source'",
                )
            )
        cameras[index] = cam.model_copy(update={"record": str(record_path)})

    # reference views of the 'moved' check (camera health)
    for index, cam in enumerate(site.cameras):
        if cam.enabled and cam.reference is not None:
            reference = _resolve(base_dir, cam.reference).absolute()
            if not is_file(reference):
                line, col = doc.position(("cameras", index, "reference"), value=True)
                problems.append(
                    Problem(
                        path,
                        line,
                        col,
                        f"camera '{cam.id}' reference '{cam.reference}' does not exist — "
                        f"looked for {reference}; give an image of the camera's view (as "
                        "the zones were drawn on it), or leave 'reference' out to have the "
                        "first good frame saved",
                    )
                )

    model_path: Path | None = None
    if site.detection.model is not None:
        model_path = _resolve(base_dir, site.detection.model).absolute()
        if not is_file(model_path):
            line, col = doc.position(("detection", "model"), value=True)
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"detection model '{site.detection.model}' does not exist — looked for "
                    f"{model_path}; leave 'model' out to use the bundled yolo11n-pose.pt",
                )
            )

    if site.pose.weights is not None:
        weights = _resolve(base_dir, site.pose.weights).absolute()
        if not is_file(weights):
            line, col = doc.position(("pose", "weights"), value=True)
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"fall model weights '{site.pose.weights}' do not exist — looked for "
                    f"{weights}; give an .npz written by 'guardian train-fall', or leave "
                    "'weights' out to use the shipped ones",
                )
            )

    abs_dir = base_dir.absolute()
    for section, value, want in (
        ("database", site.storage.database, "file"),
        ("clips", site.storage.clips, "folder"),
        ("models", site.storage.models, "folder"),
    ):
        where = _resolve(abs_dir, value)
        wrong = is_dir(where) if want == "file" else exists(where) and not is_dir(where)
        if wrong:
            line, col = doc.position(("storage", section), value=True)
            example = "guardian.db" if want == "file" else section
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"storage {section} '{value}' is {'a folder' if want == 'file' else 'a file'} "
                    f"({where}) — it must be a {want}: give e.g. '{example}'",
                )
            )

    swimmer_path: Path | None = None
    if site.detection.swimmers.model is not None:
        swimmer_path = _resolve(base_dir, site.detection.swimmers.model).absolute()
        if not is_file(swimmer_path):
            line, col = doc.position(("detection", "swimmers", "model"), value=True)
            problems.append(
                Problem(
                    path,
                    line,
                    col,
                    f"swimmer model '{site.detection.swimmers.model}' does not exist — looked "
                    f"for {swimmer_path}; leave 'model' out to use the shipped swimmer.pt",
                )
            )

    abs_base = base_dir.absolute()
    bundle = SiteBundle(
        site=site.model_copy(update={"cameras": tuple(cameras)}),
        path=path.absolute(),
        base_dir=abs_base,
        zones=tuple(zones),
        rule_documents=tuple(rule_documents),
        database_path=_resolve(abs_base, site.storage.database),
        clips_dir=_resolve(abs_base, site.storage.clips),
        models_dir=_resolve(abs_base, site.storage.models),
        model_path=model_path,
        swimmer_model_path=swimmer_path,
        broken_zones=frozenset(declared - {z.name for z in zones}),
    )
    if problems:  # what did load still lets rule files be checked in the same pass
        raise ConfigError(_ordered(path, problems), partial=bundle)
    return bundle
