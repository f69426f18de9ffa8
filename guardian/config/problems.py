"""Configuration problems: where (file, line, column) and what to do about it.

:func:`problems_from_validation` turns a pydantic ``ValidationError`` into one
:class:`Problem` per error, positioned with the :class:`~guardian.config.yamlpos.YamlDocument`
the data came from, and phrased for the person editing the file: what is wrong and
what would be right. It is generic over the model (plain models, lists, dicts,
``Optional``, discriminated unions on ``kind``), so rule files reuse it.

Validators that know *where* inside their object a problem is (a duplicate id in a
list, the third point of a polygon) raise :func:`located_error` so the problem points
at that node rather than at the whole object.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from guardian.config.yamlpos import PathKey, YamlDocument

#: error type used by :func:`located_error`
LOCATED_ERROR = "guardian_located"


#: how bad a problem is: an error stops the site (or the rule) from loading; a warning
#: loads but can never work as written (``guardian check`` lists it; ``--strict`` fails on
#: it); a note says what could not be checked
Severity = Literal["error", "warning", "note"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a configuration file, at a 1-based line and column."""

    file: Path
    line: int
    col: int
    message: str
    rule_id: str | None = None
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message}"

    @property
    def labelled(self) -> str:
        """``warning: file:line:col: message`` (and ``note: …``); errors as they are."""
        return str(self) if self.severity == "error" else f"{self.severity}: {self}"


class ConfigError(Exception):
    """Configuration could not be loaded; ``problems`` lists everything found."""

    def __init__(self, problems: Iterable[Problem], partial: Any = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        #: the part of the site that did load (a SiteBundle), when the site file itself did
        self.partial = partial
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


def located_error(message: str, *loc: str | int) -> PydanticCustomError:
    """A validator error whose position is ``loc`` *below* the validated value.

    Raise it from a model validator (``loc`` relative to the model, e.g.
    ``("cameras", 2, "id")``) or a field validator (relative to the field, e.g. ``(2,)``
    for the third item). :func:`problems_from_validation` uses ``message`` verbatim.
    """
    return PydanticCustomError(LOCATED_ERROR, "{message}", {"message": message, "loc": loc})


# --------------------------------------------------------------------------- type walking


def _unwrap(tp: Any, disc: str | None) -> tuple[Any, str | None]:
    """Strip ``Annotated`` (keeping a discriminator) and ``Optional``."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            tp = args[0]
            for meta in args[1:]:
                found = getattr(meta, "discriminator", None)
                if isinstance(found, str):
                    disc = found
            continue
        if _is_union(tp):
            members = _union_members(tp)
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, disc


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _union_members(tp: Any) -> list[Any]:
    return [a for a in get_args(tp) if a is not type(None)]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _fields_by_key(model: type[BaseModel]) -> dict[str, FieldInfo]:
    return {(f.alias or name): f for name, f in model.model_fields.items()}


def _literal_values(tp: Any) -> list[Any]:
    tp, _ = _unwrap(tp, None)
    if get_origin(tp) is Literal:
        return [v.value if isinstance(v, Enum) else v for v in get_args(tp)]
    if isinstance(tp, type) and issubclass(tp, Enum):  # the words of guardian.vocab
        return [m.value for m in tp]
    if _is_union(tp):
        return [v for m in _union_members(tp) for v in _literal_values(m)]
    return []


def _tags(members: Sequence[Any], disc: str) -> list[Any]:
    """Discriminator values of a discriminated union's members, in order."""
    tags: list[Any] = []
    for member in members:
        member, _ = _unwrap(member, None)
        if _is_model(member):
            field = _fields_by_key(member).get(disc)
            if field is not None:
                tags.extend(_literal_values(field.annotation))
    return tags


def _member_for_tag(members: Sequence[Any], disc: str | None, tag: PathKey) -> Any:
    for member in members:
        inner, _ = _unwrap(member, None)
        if disc is not None:
            if tag in _tags([inner], disc):
                return inner
        elif getattr(inner, "__name__", None) == tag or str(inner) == tag:
            return inner
    return None


def _noun(model: type[BaseModel]) -> str:
    title = model.model_config.get("title")
    if title:
        return str(title)
    name = re.sub(r"(Config|Model|Settings)$", "", model.__name__) or model.__name__
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


@dataclass
class _Walk:
    path: list[PathKey]  # real data path (tags dropped), relative to the prefix
    present: bool  # the whole path exists in the data
    value: Any  # data at path (None when absent)
    tp: Any  # type annotation expected at path (None when unknown)
    disc: str | None  # discriminator of tp when it is a discriminated union
    owner: type[BaseModel] | None  # model owning the last key of path
    owner_data: Any  # data of that model
    owner_path: list[PathKey]  # path of that model
    field: FieldInfo | None  # field of the last key, when it is a model field
    union_branch: bool  # a smart-union member tag was dropped from the loc


def _walk(model: Any, data: Any, loc: Sequence[PathKey]) -> _Walk:
    w = _Walk([], True, data, model, None, None, None, [], None, False)
    for item in loc:
        tp, disc = _unwrap(w.tp, w.disc)
        w.tp, w.disc = tp, disc
        if _is_union(tp):
            members = _union_members(tp)
            if disc is not None:
                w.tp, w.disc = _member_for_tag(members, disc, item), None
                continue
            is_key = isinstance(w.value, dict) and item in w.value
            if not is_key:
                w.tp, w.disc = _member_for_tag(members, None, item), None
                w.union_branch = True
                continue
        if item == "[key]":
            continue
        if disc is not None and _is_model(tp) and not has_child(w.value, item):
            # a one-member discriminated union: pydantic still puts the tag in the loc
            w.disc = None
            continue
        if _is_model(tp):
            w.owner, w.owner_data, w.owner_path = tp, w.value, list(w.path)
            w.field = _fields_by_key(tp).get(str(item))
            w.tp = w.field.annotation if w.field is not None else None
            found = w.field.discriminator if w.field is not None else None
            w.disc = found if isinstance(found, str) else None
        else:
            origin, args = get_origin(tp), get_args(tp)
            if origin in (list, set, frozenset) or (origin is not None and _is_seq(origin)):
                w.tp = args[0] if args else None
            elif origin is tuple:
                if len(args) == 2 and args[1] is Ellipsis:
                    w.tp = args[0]
                elif isinstance(item, int) and 0 <= item < len(args):
                    w.tp = args[item]
                else:
                    w.tp = None
            elif origin is dict or (origin is not None and _is_map(origin)):
                w.tp = args[1] if len(args) == 2 else None
            else:
                w.tp = None
            w.disc = None
        w.path.append(item)
        if has_child(w.value, item):
            w.value = w.value[item]
        else:
            w.present, w.value = False, None
    w.tp, w.disc = _unwrap(w.tp, w.disc)
    return w


def has_child(node: Any, key: Any) -> bool:
    """True when ``node`` (a parsed YAML mapping or list) has ``key`` / index ``key``."""
    if isinstance(node, dict):
        return key in node
    if isinstance(node, list):
        return isinstance(key, int) and not isinstance(key, bool) and 0 <= key < len(node)
    return False


def _is_seq(origin: Any) -> bool:
    from collections import abc

    return isinstance(origin, type) and issubclass(origin, abc.Sequence) and origin is not str


def _is_map(origin: Any) -> bool:
    from collections import abc

    return isinstance(origin, type) and issubclass(origin, abc.Mapping)


# --------------------------------------------------------------------------- wording


def _dotted(path: Sequence[PathKey]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def _where(w: _Walk, prefix: Sequence[PathKey], *, parent: bool = True) -> str:
    """ "in zone 'water'", "in camera #2 of 'cameras'", "in 'storage'", "at the top level"."""
    data = w.owner_data if parent else w.value
    owner = w.owner
    if not parent:
        members = [m for m in map(_first_model, _union_members(w.tp)) if m is not None]
        owner = members[0] if members and _is_union(w.tp) else _first_model(w.tp)
    path = list(prefix) + (w.owner_path if parent else w.path)
    if isinstance(data, dict) and owner is not None:
        for ident_key in ("name", "id"):
            ident = data.get(ident_key)
            if isinstance(ident, str) and ident:
                return f"in {_noun(owner)} '{ident}'"
    if not path:
        return "at the top level of the file"
    if isinstance(path[-1], int) and owner is not None:
        return f"in {_noun(owner)} #{path[-1] + 1} of '{_dotted(path[:-1])}'"
    return f"in '{_dotted(path)}'"


def _first_model(tp: Any) -> type[BaseModel] | None:
    tp, _ = _unwrap(tp, None)
    return tp if _is_model(tp) else None


def _show(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = f"'{value}'" if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _plain(msg: str) -> str:
    msg = re.sub(r"^(Value|Assertion) error, ", "", msg)
    if msg.startswith("Input should"):
        return "it should" + msg[len("Input should") :]
    return msg[:1].lower() + msg[1:]


def _one_of(values: Sequence[Any]) -> str:
    quoted = [f"'{v}'" for v in values]
    if len(quoted) <= 2:
        return " or ".join(quoted)
    return "one of " + ", ".join(quoted)


def _suggest(word: Any, choices: Iterable[Any]) -> str | None:
    options = [str(c) for c in choices]
    found = difflib.get_close_matches(str(word), options, n=1, cutoff=0.6)
    return found[0] if found else None


#: pydantic type-error kinds → (what was expected, how to write it)
_TYPE_WORDS: dict[str, tuple[str, str]] = {
    "int_type": ("whole number", "a whole number such as 3"),
    "int_parsing": ("whole number", "a whole number such as 3"),
    "int_from_float": ("whole number", "a whole number such as 3 (no decimals)"),
    "float_type": ("number", "a number such as 10 or 2.5"),
    "float_parsing": ("number", "a number such as 10 or 2.5"),
    "bool_type": ("true/false value", "true or false"),
    "bool_parsing": ("true/false value", "true or false"),
    "string_type": ("text", "text, in quotes if it looks like a number or true/false"),
    "list_type": ("list", "a list: [a, b] or one '- item' per line"),
    "tuple_type": ("list", "a list: [a, b] or one '- item' per line"),
    "set_type": ("list", "a list: [a, b] or one '- item' per line"),
    "dict_type": ("mapping", "a mapping of 'key: value' lines"),
    "model_type": ("mapping", "a mapping of 'key: value' lines"),
    "model_attributes_type": ("mapping", "a mapping of 'key: value' lines"),
}


_SHORT = {
    "whole number": "a whole number",
    "number": "a number",
    "true/false value": "true or false",
    "text": "text",
    "list": "a list",
    "mapping": "a mapping",
}


def _field_name(w: _Walk) -> str:
    """ "'fps'", or "item #2 of 'cameras'" for a list item."""
    for index, key in enumerate(reversed(w.path)):
        if isinstance(key, str):
            if index == 1 and isinstance(w.path[-1], int):
                return f"item #{w.path[-1] + 1} of '{key}'"
            return f"'{key}'"
    return "the value"


def _describe(w: _Walk) -> str:
    desc = w.field.description if w.field is not None else None
    return f" ({desc})" if desc else ""


def _message(err: Any, w: _Walk, prefix: Sequence[PathKey]) -> tuple[str, list[PathKey], bool]:
    """(message, path for the position, use the value's position)."""
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    path = list(w.path)
    where = _where(w, prefix)
    field = _field_name(w)
    shown = _show(err.get("input"))

    if kind == LOCATED_ERROR:
        return str(ctx.get("message", err["msg"])), path + list(ctx.get("loc", ())), True
    if kind == "extra_forbidden":
        key = path[-1] if path else "?"
        allowed = list(_fields_by_key(w.owner)) if w.owner is not None else []
        guess = _suggest(key, allowed)
        msg = f"unknown key '{key}' {where}"
        if guess:
            msg += f" — did you mean '{guess}'?"
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})"
        return msg, path, False
    if kind == "missing":
        key = path[-1] if path else "?"
        return f"missing required key '{key}' {where} — add it{_describe(w)}", path, False
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        disc = str(ctx.get("discriminator", w.disc or "kind")).strip("'\"")
        tags = _tags(_union_members(w.tp), disc) if _is_union(w.tp) else []
        expected = ", ".join(f"'{t}'" for t in tags) or str(ctx.get("expected_tags", ""))
        where_here = _where(w, prefix, parent=False)
        if kind == "union_tag_not_found":
            msg = (
                f"missing required key '{disc}' {where_here} — it says what this entry is; "
                f"expected one of: {expected}"
            )
            return msg, path, False
        tag = ctx.get("tag", "?")
        msg = f"unknown {disc} '{tag}' {where_here} — expected one of: {expected}"
        guess = _suggest(tag, tags)
        if guess:
            msg += f" (did you mean '{guess}'?)"
        return msg, [*path, disc], True
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        return (str(error) if error is not None else _plain(err["msg"])), path, True
    if kind in ("literal_error", "enum"):
        values = _literal_values(w.tp)
        expected = _one_of(values) if values else str(ctx.get("expected"))
        msg = f"{shown} is not a valid value for {field} {where} — expected {expected}"
        guess = _suggest(err.get("input"), values) if values else None
        if guess:
            msg += f" (did you mean '{guess}'?)"
        return msg, path, True
    if kind in _TYPE_WORDS:
        word, how = _TYPE_WORDS[kind]
        msg = f"{shown} is not a valid {word} for {field} {where} — expected {how}"
        return msg + _describe(w), path, True
    return (
        f"{shown} is not allowed for {field} {where} — {_plain(err['msg'])}" + _describe(w),
        path,
        True,
    )


def problems_from_validation(
    doc: YamlDocument,
    err: ValidationError,
    model: Any,
    prefix: Sequence[PathKey] = (),
) -> list[Problem]:
    """One :class:`Problem` per pydantic error, positioned in ``doc``.

    ``model`` is what was validated (a ``BaseModel`` subclass or any type annotation,
    e.g. an ``Annotated`` discriminated union); ``prefix`` is where that data sits in
    the document (``("zones", 3)`` when one zone of a file was validated alone).
    Union member tags pydantic puts in error locations are dropped; errors from the
    members of a plain (non-discriminated) union at the same place are merged.
    """
    prefix = tuple(prefix)
    data = doc.get(prefix)
    problems: list[Problem] = []
    merged: dict[tuple[PathKey, ...], tuple[int, list[str]]] = {}
    for error in err.errors():
        w = _walk(model, data, error["loc"])
        if w.union_branch and error["type"] in _TYPE_WORDS:
            key = tuple(w.path)
            how = _SHORT[_TYPE_WORDS[error["type"]][0]]
            if key in merged:
                merged[key][1].append(how)
                continue
            line, col = doc.position(prefix + key, value=True)
            merged[key] = (len(problems), [how])
            head = f"{_show(error.get('input'))} is not valid for {_field_name(w)} "
            head += f"{_where(w, prefix)} — expected "
            problems.append(Problem(doc.path, line, col, head + "\0" + _describe(w)))
            continue
        message, path, value = _message(error, w, prefix)
        line, col = doc.position(prefix + tuple(path), value=value)
        problems.append(Problem(doc.path, line, col, message))
    for index, hows in merged.values():
        p = problems[index]
        alternatives = " or ".join(dict.fromkeys(hows))
        problems[index] = Problem(p.file, p.line, p.col, p.message.replace("\0", alternatives))
    return sorted(problems, key=lambda p: (p.line, p.col))
