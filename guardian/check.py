"""``guardian check``: every problem of every file in one pass, and what loads but can never work.

Errors stop a site (or a rule) from loading; they come from the loaders (the site file,
every zone file, every rule file — the rules are checked even when the site file itself
has errors, against the cameras, zones and contacts it names). **Warnings** are settings
that load but can never work as written:

* a rule that counts adults or children (``occupancy``, ``role``) on a site without an
  ``identity:`` section, where nobody is ever known as an adult or a child;
* an alert, prompt or escalation on sms / push that no contact receives;
* an environment variable named in the site file (``*_env``, Twilio's default names when
  a contact gets sms) that is not set;
* a ``review.url`` that does not match where ``guardian serve`` listens
  (``review.host`` / ``review.port``);
* a ``units: px`` zone outside its camera's frame — the frame size comes from the
  camera's ``width`` / ``height``, else (with ``--probe``) from a frame of its source;
* with ``--probe``: a camera whose source cannot be opened, or gives no frame in time.

Each is a :class:`~guardian.config.problems.Problem` at the file, line and column to fix.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from guardian.config import (
    CameraConfig,
    ConfigError,
    ContactConfig,
    Problem,
    SiteBundle,
    YamlDocument,
    ZoneConfig,
    load_site,
    load_yaml,
)
from guardian.config.alerts import AlertsConfig
from guardian.config.checks import URL_RE
from guardian.config.identity import IdentityConfig
from guardian.config.loader import exists, is_dir, is_file
from guardian.config.review import ReviewConfig
from guardian.rules import RuleSet, load_rules
from guardian.rules.builtin import BUILTIN_PATH, builtin_documents
from guardian.rules.conditions import RoleConfig
from guardian.rules.config import RuleConfig, rule_model
from guardian.rules.fields import KindConfig
from guardian.rules.registry import ACTIONS
from guardian.rules.triggers import OccupancyTest
from guardian.vocab import REMOTE_CHANNELS

#: how long ``--probe`` waits for a camera's first frame
PROBE_TIMEOUT = 8.0
#: FFmpeg open / read timeout for a probed network stream, in ms
PROBE_STREAM_TIMEOUT_MS = 5000
#: channels that reach a person away from this machine
_CHANNEL_ENV = {"sms": "phone_env", "push": "push_env"}
_TWILIO_KEYS = ("account_sid_env", "auth_token_env", "from_env")
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")

RulesFor = Callable[[SiteBundle], RuleSet]
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class ProbeResult:
    """What opening one camera's source gave: its frame size, or why there was none."""

    camera: str
    size: tuple[int, int] | None
    error: str | None = None


@dataclass(frozen=True)
class CheckReport:
    """Everything ``guardian check`` found, in file order (the site file first)."""

    problems: tuple[Problem, ...]
    #: "2 camera(s), 3 zone(s), 4 rule(s)" when the site loaded, else None
    summary: str | None
    rules: RuleSet | None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")


@dataclass(frozen=True)
class _Zone:
    """A zone that validated, with the document and index it came from."""

    zone: ZoneConfig
    doc: YamlDocument
    index: int


@dataclass(frozen=True)
class _Site:
    """The parts of a site file that validated, each with its place in the file.

    Built from the loaded site, or — when the site file has errors — section by section
    from its data, so the checks still run on every part that is right.
    """

    doc: YamlDocument
    base_dir: Path
    name: str
    cameras: tuple[tuple[int, CameraConfig], ...]
    contacts: tuple[tuple[int, ContactConfig], ...]
    review: ReviewConfig | None
    alerts: AlertsConfig | None
    identity: bool
    zones: tuple[_Zone, ...]

    def camera(self, camera_id: str) -> tuple[int, CameraConfig] | None:
        for index, cam in self.cameras:
            if cam.id == camera_id:
                return index, cam
        return None

    def zone(self, camera: str, name: str) -> _Zone | None:
        for placed in self.zones:
            if placed.zone.camera == camera and placed.zone.name == name:
                return placed
        return None


def check_site(
    config: Path,
    *,
    rules_for: RulesFor,
    probe: bool = False,
    environ: Mapping[str, str] = os.environ,
    probe_timeout: float | None = None,
) -> CheckReport:
    """Check ``config`` and everything it lists; ``rules_for`` loads a site's rules."""
    config = Path(config)
    problems: list[Problem] = []
    bundle: SiteBundle | None = None
    try:
        bundle = load_site(config)
    except ConfigError as err:
        problems.extend(err.problems)
        if isinstance(err.partial, SiteBundle):
            bundle = err.partial
    site: _Site | None
    rules: RuleSet | None
    if bundle is not None:
        rules = rules_for(bundle)
        site = _site_from_bundle(config, bundle)
    else:  # the site file has errors: check what it names all the same
        site = _site_from_data(config)
        rules = _rules_from_data(site) if site is not None else None
    if rules is not None:
        problems.extend(rules.problems)
    if site is not None:
        probes = _probe_all(site, probe_timeout) if probe else {}
        problems.extend(site_warnings(site, rules, environ=environ, probes=probes))
    summary = None
    if bundle is not None and rules is not None:
        summary = (
            f"{len(bundle.site.cameras)} camera(s), {len(bundle.zones)} zone(s), "
            f"{len(rules.rules)} rule(s)"
        )
    return CheckReport(tuple(_ordered(config, problems)), summary, rules)


def _ordered(site_path: Path, problems: Sequence[Problem]) -> list[Problem]:
    """Without repeats; the site file first, then each file as met, each by position."""
    unique = list(dict.fromkeys(problems))
    order: dict[Path, int] = {site_path.absolute(): 0}
    for p in unique:
        order.setdefault(p.file.absolute(), len(order))
    return sorted(unique, key=lambda p: (order[p.file.absolute()], p.line, p.col))


# --------------------------------------------------------------------------- the site's parts


def _resolve(base_dir: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _zones(base_dir: Path, files: Sequence[str]) -> tuple[_Zone, ...]:
    """Every zone that validates in the zone files (their problems are the loader's)."""
    found: list[_Zone] = []
    for rel in files:
        path = _resolve(base_dir, rel)
        if not is_file(path):
            continue
        try:
            doc = load_yaml(path)
        except ConfigError:
            continue
        items = doc.data.get("zones") if isinstance(doc.data, dict) else None
        for index, item in enumerate(items if isinstance(items, list) else []):
            try:
                found.append(_Zone(ZoneConfig.model_validate(item), doc, index))
            except ValidationError:
                continue
    return tuple(found)


def _site_from_bundle(config: Path, bundle: SiteBundle) -> _Site:
    """The loaded site; its files named as the loader names them (relative to ``config``)."""
    site = bundle.site
    return _Site(
        doc=load_yaml(config),
        base_dir=config.parent,
        name=site.site.name,
        cameras=tuple(enumerate(site.cameras)),
        contacts=tuple(enumerate(site.contacts)),
        review=site.review,
        alerts=site.alerts,
        identity=site.identity.enabled,
        zones=_zones(config.parent, site.zones),
    )


def _valid(model: type[_M], data: Any) -> _M | None:
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


def _items(model: type[_M], data: Any) -> tuple[tuple[int, _M], ...]:
    """(index, item) of the list items that validate on their own."""
    if not isinstance(data, list):
        return ()
    valid = ((i, _valid(model, item)) for i, item in enumerate(data))
    return tuple((i, item) for i, item in valid if item is not None)


def _site_from_data(config: Path) -> _Site | None:
    """The parts of a site file that failed to validate as a whole (None: not YAML)."""
    try:
        doc = load_yaml(config)
    except ConfigError:
        return None
    data = doc.data
    if not isinstance(data, dict):
        return None
    base_dir = config.parent
    cameras = []
    for index, cam in _items(CameraConfig, data.get("cameras")):
        if cam.source_kind not in ("url", "usb") and isinstance(cam.source, str):
            path = _resolve(base_dir, cam.source).absolute()
            cam = cam.with_source(str(path), "folder" if is_dir(path) else "file")
        cameras.append((index, cam))
    info = data.get("site")
    name = info.get("name") if isinstance(info, dict) else None
    identity = None
    if "identity" in data:
        identity = _valid(IdentityConfig, data["identity"] or {})
    files = data.get("zones")
    return _Site(
        doc=doc,
        base_dir=base_dir,
        name=name if isinstance(name, str) else "Guardian",
        cameras=tuple(cameras),
        contacts=_items(ContactConfig, data.get("contacts")),
        review=_valid(ReviewConfig, data.get("review") or {}),
        alerts=_valid(AlertsConfig, data.get("alerts") or {}),
        identity=identity is not None and identity.enabled,
        zones=_zones(base_dir, [f for f in files if isinstance(f, str)])
        if isinstance(files, list)
        else (),
    )


def _raw_ids(data: Any, key: str) -> list[str]:
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]


def _rules_from_data(site: _Site) -> RuleSet:
    """The rules checked against the cameras, zones and contacts a broken site file names."""
    data = site.doc.data
    cameras = _raw_ids(data, "cameras")
    zones: dict[str, set[str]] = {cam: set() for cam in cameras}
    for placed in site.zones:
        if placed.zone.camera in zones:
            zones[placed.zone.camera].add(placed.zone.name)
    declared: set[str] = set()
    files = data.get("zones")
    for rel in files if isinstance(files, list) else []:
        if not isinstance(rel, str):
            continue
        try:
            zdoc = load_yaml(_resolve(site.base_dir, rel))
        except (ConfigError, OSError):
            continue
        items = zdoc.data.get("zones") if isinstance(zdoc.data, dict) else None
        declared |= {
            str(i["name"])
            for i in (items if isinstance(items, list) else [])
            if isinstance(i, dict) and isinstance(i.get("name"), str)
        }
    documents = _rule_documents(site)
    loaded = set().union(*zones.values()) if zones else set()
    return load_rules(
        documents,
        zones_by_camera=zones,
        contacts=_raw_ids(data, "contacts"),
        broken_zones=declared - loaded,
        builtin_areas=[
            (p.zone.camera, p.zone.name)
            for p in site.zones
            if p.zone.kind == "pool_area" and p.zone.camera in zones
        ],
        site_name=site.name,
    )


# --------------------------------------------------------------------------- warnings


def site_warnings(
    site: _Site,
    rules: RuleSet | None,
    *,
    environ: Mapping[str, str] = os.environ,
    probes: Mapping[str, ProbeResult] | None = None,
) -> list[Problem]:
    """What loads but can never work (see the module's docstring)."""
    probes = probes or {}
    found: list[Problem] = []
    if rules is not None:
        for rule in _rule_configs(site, rules):
            if not site.identity:
                found.extend(_role_blind(site, rule))
            found.extend(_unreached(site, rule))
    found.extend(_unset_environment(site, environ))
    found.extend(_review_url(site))
    found.extend(_probe_problems(site, probes))
    found.extend(_pixel_zones(site, probes))
    return found


def _warning(doc: YamlDocument, loc: Sequence[str | int], message: str, **kw: Any) -> Problem:
    line, col = doc.position(tuple(loc), value=True)
    return Problem(doc.path, line, col, message, severity="warning", **kw)


@dataclass(frozen=True)
class _Rule:
    """A rule that loaded and is enabled: its config, and where to point at its parts."""

    config: RuleConfig
    doc: YamlDocument
    loc: tuple[str | int, ...]
    #: for a built-in rule: the pool_area zone it was made for (what the user can see)
    area: _Zone | None = None

    def at(self, *loc: str | int, message: str) -> Problem:
        if self.area is not None:
            return _warning(self.area.doc, ("zones", self.area.index, "name"), message)
        return _warning(self.doc, (*self.loc, *loc), message, rule_id=self.config.id)

    @property
    def name(self) -> str:
        if self.area is not None:
            return (
                f"the built-in supervision prompt '{self.config.id}' of pool area "
                f"'{self.area.zone.name}'"
            )
        return f"rule '{self.config.id}'"


def _rule_configs(site: _Site, rules: RuleSet) -> Iterator[_Rule]:
    """The enabled rules that loaded, validated again for their configs and positions."""
    wanted = {r.rule_id: r for r in rules.rules if r.enabled}
    areas = [(p.zone.camera, p.zone.name) for p in site.zones if p.zone.kind == "pool_area"]
    user_docs = _rule_documents(site)
    model = rule_model()
    for doc in [*user_docs, *builtin_documents(areas, site.name)]:
        raw_rules = doc.data.get("rules") if isinstance(doc.data, dict) else None
        for index, raw in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            if not isinstance(raw, dict):
                continue
            runtime = wanted.get(str(raw.get("id")))
            if runtime is None or runtime.builtin != (doc.path == BUILTIN_PATH):
                continue
            if not runtime.builtin and not runtime.source.startswith(f"{doc.path}:"):
                continue
            config = _valid(model, raw)
            if config is None:
                continue
            area = None
            if runtime.builtin:
                zones = [z for t in config.triggers for z in getattr(t, "zones", ())]
                cameras = list(config.cameras)
                area = site.zone(cameras[0], zones[0]) if cameras and zones else None
                if area is None:
                    continue
            yield _Rule(config, doc, ("rules", index), area)


def _rule_documents(site: _Site) -> list[YamlDocument]:
    files = site.doc.data.get("rules") if isinstance(site.doc.data, dict) else None
    documents = []
    for rel in files if isinstance(files, list) else []:
        path = _resolve(site.base_dir, rel) if isinstance(rel, str) else None
        if path is not None and is_file(path):
            try:
                documents.append(load_yaml(path))
            except ConfigError:
                continue  # the loader reported it
    return documents


def _never(test: OccupancyTest) -> bool:
    """True when a head-count test can never match while every person's role is unknown."""
    for people in range(0, 101):
        as_role = test.unknown_as
        adults = people if as_role == "adult" else 0
        children = people if as_role == "child" else 0
        if (
            (test.children is None or test.children(children))
            and (test.adults is None or test.adults(adults))
            and (test.people is None or test.people(people))
        ):
            return False
    return True


_IDENTITY_HINT = "add an 'identity:' section to the site file (README, 'Identity')"


def _role_blind(site: _Site, rule: _Rule) -> Iterator[Problem]:
    """Counts of adults and children, and role conditions, on a site without identity."""
    parts: list[tuple[str, int, KindConfig]] = [
        ("triggers", i, t) for i, t in enumerate(rule.config.triggers)
    ]
    parts += [("conditions", i, c) for i, c in enumerate(rule.config.conditions)]
    for section, index, part in parts:
        if isinstance(part, OccupancyTest) and (
            part.adults is not None or part.children is not None
        ):
            what = f"occupancy '{part.describe()}'"
            head = (
                f"{rule.name}: {what} counts adults or children, but the site has no "
                "'identity:' section, so nobody is ever known as an adult or a child"
            )
            if _never(part):
                message = (
                    f"{head} (everybody counts as '{part.unknown_as}') — it can never fire; "
                    f"{_IDENTITY_HINT}, or count 'people:' instead"
                )
            elif part.unknown_as == "ignore":
                message = f"{head} (nobody is counted) — {_IDENTITY_HINT}"
            else:
                message = (
                    f"{head}: everybody counts as {_article(part.unknown_as)} "
                    f"{part.unknown_as}, a lone child too — {_IDENTITY_HINT}, or count "
                    "'people:' if anybody will do"
                )
            yield rule.at(section, index, message=message)
        elif isinstance(part, RoleConfig) and not set(part.roles) - {"adult", "child"}:
            roles = ", ".join(part.roles)
            yield rule.at(
                section,
                index,
                message=(
                    f"{rule.name}: condition 'role: [{roles}]' never holds without an "
                    "'identity:' section (every person's role stays unknown) — the rule can "
                    f"never fire; {_IDENTITY_HINT}"
                ),
            )


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _unreached(site: _Site, rule: _Rule) -> Iterator[Problem]:
    """Alerts, prompts and escalations on sms / push that no contact receives."""
    contacts = [c for _, c in site.contacts]
    for index, action in enumerate(rule.config.actions):
        channels = getattr(action, "channels", None)
        listed = getattr(action, "contacts", None)
        if channels is None or listed is None:
            continue
        targets = [c for c in contacts if not listed or c.id in listed]
        for k, channel in enumerate(channels):
            if channel not in REMOTE_CHANNELS:
                continue
            if any(channel in c.channels for c in targets):
                continue
            env = _CHANNEL_ENV[channel]
            if not contacts:
                why = "the site file has no contacts"
                fix = f"add one with 'channels: [{channel}]' and its '{env}'"
            else:
                names = ", ".join(c.id for c in targets) or ", ".join(listed)
                why = f"none of its contacts ({names}) has {channel} in its channels"
                fix = f"add {channel} to a contact's channels (with its '{env}'), or remove it here"
            yield rule.at(
                "actions",
                index,
                "channels",
                k,
                message=f"{rule.name}: {ACTIONS.of(action).name} on {channel}, but {why} — nobody gets it; "
                f"{fix}",
            )


def _env_values(
    data: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(loc, name) of every ``*_env`` setting in the site file's data."""
    if isinstance(data, dict):
        for key, value in data.items():
            here = (*loc, key)
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str):
                yield here, value
            else:
                yield from _env_values(value, here)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _env_values(value, (*loc, index))


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for key in loc:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _unset_environment(site: _Site, environ: Mapping[str, str]) -> Iterator[Problem]:
    """Environment variables the site file names (or Twilio's, for sms) that are not set."""

    def unset(name: str) -> bool:
        return not environ.get(name, "").strip()

    export = "export it where guardian runs (e.g. 'Environment=' in its systemd unit)"
    contacts = {index: c for index, c in site.contacts}
    for loc, name in _env_values(site.doc.data):
        if not unset(name):
            continue
        key = loc[-1]
        at = loc[1] if loc[0] == "contacts" and len(loc) == 3 else None
        contact = contacts.get(at) if isinstance(at, int) else None
        if contact is not None and key in ("phone_env", "push_env"):
            channel = "sms" if key == "phone_env" else "push"
            what = "phone number" if channel == "sms" else "push URL"
            if channel in contact.channels:
                message = (
                    f"contact '{contact.id}' gets {channel}, but {name} (its {key}) is not set "
                    f"in this environment — it has no {what}, so nothing reaches it on "
                    f"{channel}; {export}"
                )
            else:
                message = f"{name} (contact '{contact.id}' {key}) is not set in this environment — {export}"
        elif loc[:2] == ("alerts", "twilio"):
            message = (
                f"{name} (alerts.twilio.{key}) is not set in this environment — no SMS can be "
                f"sent; {export}"
            )
        else:
            message = (
                f"'{_dotted(loc)}' names the environment variable {name}, which is not set in "
                f"this environment — {export}"
            )
        yield _warning(site.doc, loc, message)
    # Twilio's default names, when the file does not name them and a contact gets sms
    sms = [(i, c) for i, c in site.contacts if "sms" in c.channels]
    if not sms or site.alerts is None:
        return
    written = site.doc.get(("alerts", "twilio"))
    index, contact = sms[0]
    for key in _TWILIO_KEYS:
        if isinstance(written, dict) and key in written:
            continue
        name = getattr(site.alerts.twilio, key)
        if unset(name):
            yield _warning(
                site.doc,
                ("contacts", index, "channels"),
                f"contact '{contact.id}' gets sms, but Twilio's {name} (alerts.twilio.{key}, "
                f"its default name) is not set in this environment — no SMS can be sent; "
                f"{export}",
            )


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _review_url(site: _Site) -> Iterator[Problem]:
    """``review.url`` against where ``guardian serve`` listens (review.host / review.port)."""
    review = site.review
    if review is None or not review.url:
        return
    parts = urlsplit(review.url)
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return
    listen = review.host.strip().lower()
    serve = f"{review.host}:{review.port}"
    loop_url = _is_loopback(host)
    wildcard = listen in _WILDCARD_HOSTS
    # the url names this machine as serve listens on it: no proxy between them
    direct = (loop_url and (wildcard or _is_loopback(listen))) or (not wildcard and host == listen)
    url = review.url
    if loop_url and not direct:
        message = (
            f"review url {url} is on this machine's loopback, but guardian serve listens only "
            f"on {serve} (review.host) — make them agree"
        )
    elif direct and review.port and port != review.port:
        message = (
            f"review url {url} reaches port {port}, but guardian serve listens on {serve} "
            "(review.host, review.port) — make them agree, or point the url at your TLS "
            "reverse proxy"
        )
    elif direct and parts.scheme == "https" and review.port:
        message = (
            f"review url {url} asks for https straight from guardian serve on {serve}, which "
            "speaks plain http — give the address of the TLS reverse proxy in front of it, "
            f"or http://{host}:{review.port}"
        )
    elif (
        not loop_url
        and _is_loopback(listen)
        and review.port
        and parts.port is not None
        and parts.port == review.port
    ):
        message = (
            f"review url {url} names guardian serve's port {review.port} on {host}, but serve "
            f"listens only on {review.host} — set review.host to the address the url names, "
            "or point the url at your TLS reverse proxy"
        )
    elif loop_url and any(ch in REMOTE_CHANNELS for _, c in site.contacts for ch in c.channels):
        message = (
            f"review url {url} is this machine's own address: links in sms and push alerts "
            "open on the phone that gets them, where it leads nowhere — give the address "
            "people reach the page at (e.g. https://guardian.example.org, a TLS reverse proxy "
            "in front of guardian serve)"
        )
    else:
        return
    yield _warning(site.doc, ("review", "url"), message)


def _frame_size(
    cam: CameraConfig, probes: Mapping[str, ProbeResult]
) -> tuple[tuple[int, int], str] | None:
    if cam.width is not None and cam.height is not None:
        return (cam.width, cam.height), "its width and height"
    probed = probes.get(cam.id)
    if probed is not None and probed.size is not None:
        return probed.size, "a frame probed from its source"
    return None


def _pixel_zones(site: _Site, probes: Mapping[str, ProbeResult]) -> Iterator[Problem]:
    """``units: px`` zones against their camera's frame size."""
    unchecked: dict[str, list[str]] = {}
    for placed in site.zones:
        zone = placed.zone
        if zone.units != "px":
            continue
        found = site.camera(zone.camera)
        if found is None:
            continue
        _, cam = found
        size = _frame_size(cam, probes)
        if size is None:
            unchecked.setdefault(cam.id, []).append(zone.name)
            continue
        (width, height), origin = size
        outside = [(k, (x, y)) for k, (x, y) in enumerate(zone.polygon) if x > width or y > height]
        if not outside:
            continue
        k, (x, y) = outside[0]
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        yield _warning(
            placed.doc,
            ("zones", placed.index, "polygon", k),
            f"point #{k + 1} [{x:g}, {y:g}] of zone '{zone.name}'{more} is outside camera "
            f"'{cam.id}''s {width}x{height} frame ({origin}) — redraw the zone on a frame of "
            "this camera, or write it in 'units: fraction'",
        )
    for camera, names in unchecked.items():
        found = site.camera(camera)
        assert found is not None
        line, col = site.doc.position(("cameras", found[0]))
        zones = ", ".join(f"'{n}'" for n in names)
        yield Problem(
            site.doc.path,
            line,
            col,
            f"zone(s) {zones} of camera '{camera}' are in pixels, and its frame size is not "
            "known: they are not checked against it — give the camera's width and height, "
            "or run 'guardian check --probe'",
            severity="note",
        )


# --------------------------------------------------------------------------- --probe


#: the key of a camera's record stream among the probes (after its id)
RECORD_KEY = "#record"


def _probe_problems(site: _Site, probes: Mapping[str, ProbeResult]) -> Iterator[Problem]:
    for index, cam in site.cameras:
        recorded = probes.get(f"{cam.id}{RECORD_KEY}")
        if recorded is not None and recorded.error is not None:
            yield _warning(
                site.doc,
                ("cameras", index, "record"),
                f"{recorded.error} (its record stream: clips would come from 'source')",
            )
        probed = probes.get(cam.id)
        if probed is None:
            continue
        if probed.error is not None:
            yield _warning(site.doc, ("cameras", index, "source"), probed.error)
        elif (
            probed.size is not None
            and cam.width is not None
            and (cam.width, cam.height) != probed.size
        ):
            yield _warning(
                site.doc,
                ("cameras", index, "width"),
                f"camera '{cam.id}' says its frames are {cam.width}x{cam.height}, but its "
                f"source gives {probed.size[0]}x{probed.size[1]} — fix width and height",
            )


def _probe_capture(source: str | int) -> Any:
    """OpenCV capture with short FFmpeg timeouts for network streams."""
    import cv2

    from guardian.sources import STREAM_SCHEMES, default_capture_factory

    if isinstance(source, str) and source.split("://", 1)[0].lower() in STREAM_SCHEMES:
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            PROBE_STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            PROBE_STREAM_TIMEOUT_MS,
        ]
        return cv2.VideoCapture(source, cv2.CAP_FFMPEG, timeouts)
    return default_capture_factory(source)


def probe_camera(
    cam: CameraConfig, timeout: float | None = None, *, record: bool = False
) -> ProbeResult:
    """Open ``cam``'s source (``record``: its record stream) with the real source code
    and read one frame.

    A stream that refuses the connection is reported at once; one that does not answer
    after ``timeout`` seconds (default :data:`PROBE_TIMEOUT`).
    """
    from guardian.sources import SourceError, open_source

    timeout = PROBE_TIMEOUT if timeout is None else timeout
    target: str | int = cam.record if record and cam.record is not None else cam.source
    stop = threading.Event()
    refused = threading.Event()
    result: list[ProbeResult] = []

    def capture(source: str | int) -> Any:
        cap = _probe_capture(source)
        if not cap.isOpened():  # the live source would retry forever: one try is enough
            refused.set()
            stop.set()
        return cap

    def read() -> None:
        try:
            source = open_source(cam.id, target, fps=cam.fps, capture_factory=capture)
        except SourceError as exc:
            result.append(ProbeResult(cam.id, None, str(exc)))
            return
        with source:
            for frame in source.frames(stop):
                result.append(ProbeResult(cam.id, (frame.width, frame.height)))
                return

    thread = threading.Thread(target=read, name=f"probe-{cam.id}", daemon=True)
    thread.start()
    thread.join(timeout)
    stop.set()
    if result:
        return result[0]
    shown = _shown_source(target)
    live = isinstance(target, int) or target.strip().isdigit() or URL_RE.match(target)
    if not live:
        why = "check that it is a complete video or a folder of images"
        return ProbeResult(cam.id, None, f"camera '{cam.id}': no frame in {shown} — {why}")
    check = (
        "is the camera on and reachable from here, and are its address, user and password right?"
    )
    if refused.is_set():
        what = f"its source {shown} cannot be opened"
    else:
        what = f"no frame from {shown} within {timeout:g} s"
    return ProbeResult(cam.id, None, f"camera '{cam.id}': {what} — {check}")


def _shown_source(source: str | int) -> str:
    """A source as a person may see it: URL passwords masked."""
    if isinstance(source, int) or source.strip().isdigit():
        return f"USB camera {source}"
    if URL_RE.match(source):
        parts = urlsplit(source)
        if parts.password is not None:
            netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
            if parts.port is not None:
                netloc += f":{parts.port}"
            return parts._replace(netloc=netloc).geturl()
    return str(source)


def _probe_all(site: _Site, timeout: float | None) -> dict[str, ProbeResult]:
    """Every enabled camera this machine opens, probed at once (their sources' own log
    lines kept quiet); cameras run by a worker are probed by ``guardian worker``'s host."""
    quiet = logging.getLogger("guardian.sources")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        results: dict[str, ProbeResult] = {}
        threads = []
        for _, cam in site.cameras:
            if not cam.enabled or cam.worker is not None:
                continue  # a worker's camera is opened on the worker's machine, not here
            if cam.source_kind in ("file", "folder") and not exists(Path(str(cam.source))):
                continue  # an error already: the source does not exist

            def run(cam: CameraConfig = cam, record: bool = False) -> None:
                key = f"{cam.id}{RECORD_KEY}" if record else cam.id
                results[key] = probe_camera(cam, timeout, record=record)

            for record in (False, True) if cam.record is not None else (False,):
                thread = threading.Thread(
                    target=run, args=(cam, record), name=f"probe-all-{cam.id}", daemon=True
                )
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join()
        return results
    finally:
        quiet.setLevel(level)
