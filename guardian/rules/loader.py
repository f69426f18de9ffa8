"""Validate rule documents into runnable rules, one rule at a time.

A broken rule is reported (file, line, rule id) and left out; the other rules of the
same file still load. Cross-checks: duplicate ids, unknown cameras, zones, contacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from guardian.config import Problem, YamlDocument, problems_from_validation
from guardian.config.yamlpos import position_of
from guardian.rules.base import RuleRuntime
from guardian.rules.builtin import BUILTIN_PATH, builtin_documents
from guardian.rules.config import RuleConfig, RuleFileConfig, rule_model
from guardian.rules.kinds import ACTIONS, CONDITIONS, TRIGGERS
from guardian.vocab import MODES, Mode

EMPTY_RULE_FILE = (
    "rule file is empty — it needs a 'rules:' list of '- id: ...' entries (a site with no "
    "rule watches nothing); if it is not needed, remove it from 'rules:' in the site file"
)
NOT_A_RULE_FILE = "a rule file must start with 'rules:' followed by a list of '- id: ...' entries"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules that loaded, and the problems of those that did not."""

    rules: tuple[RuleRuntime, ...]
    problems: tuple[Problem, ...] = field(default=())


def load_rules(
    documents: Sequence[YamlDocument],
    *,
    zones_by_camera: Mapping[str, Iterable[str]],
    contacts: Iterable[str] | None = (),
    broken_zones: Iterable[str] = (),
    builtin_areas: Iterable[tuple[str, str]] = (),
    builtin: Sequence[YamlDocument] = (),
    site_name: str = "home",
) -> RuleSet:
    """Validate every rule in ``documents`` against the site's cameras, zones, contacts.

    ``contacts=None`` skips the contact check (replaying rules without a site file).

    ``broken_zones`` are zones declared in a zone file that did not load: a rule naming
    one is still left out, but not reported again (the zone's own problem says why).
    ``builtin_areas`` are the (camera, zone) pool areas that get the built-in
    supervision prompts (guardian.rules.builtin) unless a rule of the same id exists.
    ``builtin`` are more built-in rule documents (the camera health rules of
    guardian.rules.health), replaced the same way.
    """
    zones = {cam: set(names) for cam, names in zones_by_camera.items()}
    all_zones = set().union(*zones.values()) if zones else set()
    contact_ids = None if contacts is None else set(contacts)
    broken = set(broken_zones)
    rules: list[RuleRuntime] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    model = rule_model()
    user_ids = {
        str(raw.get("id"))
        for doc in documents
        if isinstance(doc.data, dict) and isinstance(doc.data.get("rules"), list)
        for raw in doc.data["rules"]
        if isinstance(raw, dict)
    }
    builtins = [*builtin_documents(builtin_areas, site_name), *builtin]
    for doc in [*documents, *builtins]:
        is_builtin = doc.path == BUILTIN_PATH or any(doc is b for b in builtin)
        if doc.data is None:
            if not is_builtin:  # a site whose rule file is empty watches nothing
                problems.append(Problem(doc.path, 1, 1, EMPTY_RULE_FILE))
            continue
        if not isinstance(doc.data, dict):
            line, col = position_of(doc, ())
            problems.append(Problem(doc.path, line, col, NOT_A_RULE_FILE))
            continue
        try:
            RuleFileConfig.model_validate(doc.data)
        except ValidationError as err:
            problems.extend(problems_from_validation(doc, err, RuleFileConfig))
            continue
        for index, raw in enumerate(doc.data.get("rules") or []):
            loc = ("rules", index)
            if is_builtin and raw.get("id") in user_ids:
                continue  # replaced (or switched off) by the user's rule of that id
            rule_id = str(raw.get("id", f"#{index + 1}"))
            try:
                config = model.model_validate(raw)
            except ValidationError as err:
                for p in problems_from_validation(doc, err, model, prefix=loc):
                    problems.append(_named(p, rule_id))
                continue
            found, leans_on_broken = _cross_check(
                doc, loc, config, zones, all_zones, contact_ids, seen, broken
            )
            problems.extend(_named(p, rule_id) for p in found)
            if found or leans_on_broken:
                continue
            line, _ = position_of(doc, loc)
            seen[config.id] = f"{doc.path}:{line}"
            runtime = _runtime(config, f"{doc.path}:{line}")
            runtime.builtin = is_builtin
            rules.append(runtime)
    return RuleSet(tuple(rules), tuple(problems))


def _named(problem: Problem, rule_id: str) -> Problem:
    return Problem(
        problem.file,
        problem.line,
        problem.col,
        f"rule '{rule_id}': {problem.message} (this rule is disabled; the others still run)",
        rule_id=rule_id,
    )


def _cross_check(
    doc: YamlDocument,
    loc: tuple[str | int, ...],
    config: RuleConfig,
    zones: Mapping[str, set[str]],
    all_zones: set[str],
    contacts: set[str] | None,
    seen: dict[str, str],
    broken: set[str],
) -> tuple[list[Problem], bool]:
    """The rule's cross-file problems, and whether it names a zone that did not load."""
    out: list[Problem] = []
    leans_on_broken = False

    def problem(sub: tuple[str | int, ...], message: str) -> None:
        at = loc + sub
        if not doc.has(at) and isinstance(at[-1], int):
            at = at[:-1]  # "zones: water": one name written without a list
        line, col = position_of(doc, at, value=True)  # at the offending value
        out.append(Problem(doc.path, line, col, message))

    if config.id in seen:
        problem(
            ("id",), f"duplicate rule id '{config.id}' (first at {seen[config.id]}) — rename one"
        )
    for i, cam in enumerate(config.cameras):
        if cam not in zones:
            known = ", ".join(sorted(zones)) or "none"
            problem(("cameras", i), f"unknown camera '{cam}' — known cameras: {known}")
    cams = [c for c in config.cameras if c in zones] or list(zones)
    in_scope = set().union(*(zones[c] for c in cams)) if cams else set()

    def check_zone(sub: tuple[str | int, ...], name: str) -> None:
        nonlocal leans_on_broken
        if name in broken:
            leans_on_broken = True
        elif name not in in_scope:
            where = "on cameras " + ", ".join(cams) if config.cameras else "in any zone file"
            known = ", ".join(sorted((in_scope or all_zones) | broken)) or "none"
            problem(sub, f"unknown zone '{name}' {where} — known zones: {known}")

    for i, name in enumerate(config.zones):
        check_zone(("zones", i), name)
    for part in ("triggers", "conditions"):
        for t, item in enumerate(getattr(config, part)):
            for field_name in ("zones", "exits", "edge"):
                for i, name in enumerate(getattr(item, field_name, []) or []):
                    check_zone((part, t, field_name, i), name)
    for a, action in enumerate(config.actions):
        for i, contact in enumerate(getattr(action, "contacts", []) or []):
            if contacts is not None and contact not in contacts:
                known = ", ".join(sorted(contacts)) or "none defined in the site file"
                problem(
                    ("actions", a, "contacts", i), f"unknown contact '{contact}' — known: {known}"
                )
    return out, leans_on_broken


#: rules made only of these triggers are entry/exit alerts: unsupervised-only by default
EDGE_KINDS = frozenset({"zone_enter", "zone_leave"})


def default_modes(config: RuleConfig) -> frozenset[Mode]:
    """The rule's modes: as written, or the built-in default (see RuleConfig.modes)."""
    if config.modes is not None:
        return frozenset(config.modes)
    if all(TRIGGERS.of(t).name in EDGE_KINDS for t in config.triggers):
        return frozenset({Mode.UNSUPERVISED})
    return frozenset(MODES)


def _runtime(config: RuleConfig, source: str) -> RuleRuntime:
    return RuleRuntime(
        rule_id=config.id,
        alias=config.alias or config.id,
        severity=config.severity,
        cameras=frozenset(config.cameras),
        zones_scope=frozenset(config.zones),
        modes=default_modes(config),
        cooldown=float(config.cooldown),
        cooldown_per=config.cooldown_per,
        kinds=tuple(TRIGGERS.of(t).name for t in config.triggers),
        triggers=[TRIGGERS.build(t) for t in config.triggers],
        conditions=[CONDITIONS.build(c) for c in config.conditions],
        actions=[ACTIONS.build(a) for a in config.actions],
        source=source,
        enabled=config.enabled,
        disabled_reason=None if config.enabled else "enabled: false",
    )


__all__ = ["RuleSet", "load_rules"]
