"""Load YAML while remembering where every value came from.

Configuration errors are only useful when they point at a line. :func:`load_yaml`
composes the YAML node graph (so we keep PyYAML's marks), builds plain Python data
from it with the safe constructor, and records the 1-based (line, column) of every
node path: ``("zones", 0, "polygon")`` → the position of the ``polygon`` key.

Deliberate differences from ``yaml.safe_load``:

* a key repeated inside one mapping is an error (PyYAML silently keeps the last);
* scalars that YAML 1.1 would turn into sexagesimal numbers or dates (``22:30``,
  ``2024-06-01``) stay strings, so times of day and dates reach the models as text;
* hostile input is one problem at a line, never a hang, a memory blow-up or a traceback:
  a file over :data:`MAX_FILE_BYTES` is refused before it is parsed; nesting deeper than
  :data:`MAX_DEPTH`, more than :data:`MAX_VALUES` values, or aliases that would expand
  past :data:`MAX_VALUES` values (a "billion laughs" file) are refused before anything is
  built; a tag other than YAML's plain ones (``!foo``, ``!!binary``, ``!!set``), a value
  its tag cannot hold (``!!int abc``), a number that is not finite (``.inf``, ``.nan``)
  and a NUL character are problems at their line.

The fast C parser (libyaml) composes the node graph when it is available, after a first
pass over its events has checked depth and size; a small file with a syntax error is
parsed again by PyYAML's own parser, whose messages are the ones users see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml
from yaml.reader import Reader, ReaderError

from guardian.config.problems import ConfigError, Problem, has_child

#: one step in a node path: a mapping key or a sequence index
PathKey: TypeAlias = str | int
#: a node path from the document root; the root itself is ``()``
Loc: TypeAlias = tuple[PathKey, ...]
#: 1-based (line, column)
Position: TypeAlias = tuple[int, int]

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "timestamp")
)

#: the largest configuration file read (a site, zone or rule file is a few KB)
MAX_FILE_BYTES = 2_000_000
#: the deepest nesting of lists and mappings (a site file nests 5 levels)
MAX_DEPTH = 50
#: the most values (scalars, lists, mappings) a file may hold, aliases expanded
MAX_VALUES = 100_000
#: the longest text value (a name, a message template, a path)
MAX_TEXT = 10_000
#: a file with a YAML error up to this size is parsed again by PyYAML's own parser, for
#: its wording; a larger one gets libyaml's
_REWORD_BELOW = 64_000


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: plain data plus the position of every node.

    ``positions`` maps a node path to the position of its *key* for mapping entries
    (so "unknown key" errors point at the key) and of the item for sequence entries.
    ``value_positions`` maps the same paths to the position of the value node (for
    "wrong value" errors). The root ``()`` is in both.
    """

    path: Path
    data: Any
    positions: Mapping[Loc, Position]
    value_positions: Mapping[Loc, Position] = field(default_factory=dict)

    def position(self, loc: Sequence[PathKey], *, value: bool = False) -> Position:
        """Position of the longest prefix of ``loc`` present in the document.

        With ``value=True`` and ``loc`` fully present, the value node's position is
        returned instead of the key's. Falls back to (1, 1).
        """
        full = tuple(loc)
        for n in range(len(full), -1, -1):
            prefix = full[:n]
            if prefix in self.positions:
                if value and n == len(full):
                    return self.value_positions.get(prefix, self.positions[prefix])
                return self.positions[prefix]
        return (1, 1)

    def has(self, loc: Sequence[PathKey]) -> bool:
        """True when the node path exists in the document."""
        return tuple(loc) in self.positions

    def get(self, loc: Sequence[PathKey], default: Any = None) -> Any:
        """The data at ``loc``, or ``default`` when the path does not exist."""
        node = self.data
        for key in loc:
            if not has_child(node, key):
                return default
            node = node[key]
        return node


def position_of(doc: YamlDocument, loc: Sequence[PathKey], *, value: bool = False) -> Position:
    """1-based (line, col) of the longest prefix of ``loc`` present in ``doc``."""
    return doc.position(loc, value=value)


def _pos(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, path: Path, loader: yaml.SafeLoader) -> None:
        self.path = path
        self.loader = loader
        self.positions: dict[Loc, Position] = {}
        self.value_positions: dict[Loc, Position] = {}
        self.problems: list[Problem] = []

    def problem(self, node: yaml.Node, message: str) -> None:
        line, col = _pos(node)
        self.problems.append(Problem(self.path, line, col, message))

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in (_INT_TAG, _FLOAT_TAG) and ":" in node.value:
            return node.value  # YAML 1.1 sexagesimal (22:30 → 1350): keep the text
        if node.tag == _TIMESTAMP_TAG:
            return node.value
        if node.tag not in _SCALAR_TAGS:
            self.problem(node, _unknown_tag(node.tag))
            return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, KeyError, TypeError, OverflowError):  # e.g. '!!int abc'
            self.problem(
                node,
                f"'{_clip(node.value)}' is not a valid {_short_tag(node.tag)} value — "
                "remove the tag, or write a value of that type",
            )
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(
                node,
                f"'{_clip(node.value)}' is not a finite number — write a number such as 10 "
                "or 2.5 (no setting is infinite)",
            )
            return None
        if isinstance(value, str) and len(value) > MAX_TEXT:
            self.problem(
                node,
                f"this text is {len(value)} characters long — a value may be at most "
                f"{MAX_TEXT} characters: is this the right file?",
            )
            return None
        if isinstance(value, str) and "\0" in value:
            self.problem(node, "the text holds a NUL character (\\0) — remove it")
            return None
        return value

    def build(self, node: yaml.Node, loc: Loc, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            self.problem(node, _too_deep())
            return None
        if isinstance(node, yaml.CollectionNode) and node.tag not in (_MAP_TAG, _SEQ_TAG):
            self.problem(node, _unknown_tag(node.tag))
            return None
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolve '<<' merge keys
            result: dict[PathKey, Any] = {}
            first_seen: dict[PathKey, Position] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(key_node, "mapping keys must be plain words, not lists or maps")
                    continue
                key = self.scalar(key_node)
                if isinstance(key, bool) or not isinstance(key, str | int):
                    key = str(key_node.value)  # e.g. 'on:' or 'null:' as a key: keep the text
                if key in result:
                    line, col = first_seen[key]
                    self.problem(
                        key_node,
                        f"duplicate key '{key}' (first given at line {line}, column {col}) "
                        "— keep only one of them",
                    )
                    continue
                key_loc = (*loc, key)
                first_seen[key] = _pos(key_node)
                self.positions[key_loc] = _pos(key_node)
                self.value_positions[key_loc] = _pos(value_node)
                result[key] = self.build(value_node, key_loc, depth + 1)
            return result
        if isinstance(node, yaml.SequenceNode):
            items: list[Any] = []
            for index, item in enumerate(node.value):
                item_loc = (*loc, index)
                self.positions[item_loc] = _pos(item)
                self.value_positions[item_loc] = _pos(item)
                items.append(self.build(item, item_loc, depth + 1))
            return items
        assert isinstance(node, yaml.ScalarNode)
        return self.scalar(node)


def _short_tag(tag: str | None) -> str:
    """``tag:yaml.org,2002:int`` → ``!!int``; a local tag as written."""
    tag = tag or "?"
    prefix = "tag:yaml.org,2002:"
    return "!!" + tag[len(prefix) :] if tag.startswith(prefix) else tag


def _unknown_tag(tag: str | None) -> str:
    return (
        f"unknown YAML tag '{_short_tag(tag)}' — Guardian's files hold plain values, lists "
        "and mappings: remove the tag"
    )


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _too_deep() -> str:
    return (
        f"YAML nesting is deeper than {MAX_DEPTH} levels (lists or mappings inside each "
        "other, aliases included) — a configuration never needs this: flatten it"
    )


def _too_many() -> str:
    return (
        f"the file holds more than {MAX_VALUES} values — a configuration never needs this "
        "many: is this the right file?"
    )


def _too_large(size: int) -> str:
    return (
        f"the file is {size / 1e6:.1f} MB — a configuration file may be at most "
        f"{MAX_FILE_BYTES / 1e6:g} MB (a site, zone or rule file is a few KB): is this the "
        "right file?"
    )


class _Limit(Exception):
    """A bound of the file passed while parsing it, at a 1-based line and column."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 1
        self.col = mark.column + 1 if mark is not None else 1
        self.message = message


class _GuardedLoader(yaml.SafeLoader):
    """PyYAML's own (pure-Python) loader, its composer bounded in depth and in values."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._values = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        self._values += 1
        if self._values > MAX_VALUES:
            raise _Limit(event.start_mark, _too_many())
        if not isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(event.start_mark, _too_deep())
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _prescan(loader: Any) -> None:
    """Walk the events (iteratively: libyaml's composer recurses in C) for depth and size."""
    depth = values = 0
    while loader.check_event():
        event = loader.get_event()
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise _Limit(event.start_mark, _too_deep())
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1
            continue
        elif not isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
            continue
        values += 1
        if values > MAX_VALUES:
            raise _Limit(event.start_mark, _too_many())


def _compose(text: str) -> tuple[yaml.Node | None, Any]:
    """The root node and the loader that composed it (whose constructor builds scalars).

    Raises :class:`_Limit` or ``yaml.YAMLError``.
    """
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            scan = fast(text)
            try:
                _prescan(scan)
            finally:
                scan.dispose()
            loader = fast(text)
            return loader.get_single_node(), loader
        except yaml.YAMLError:
            if len(text) > _REWORD_BELOW:
                raise
            # a small file: PyYAML's parser words the error (as users have always seen it)
    loader = _GuardedLoader(text)
    return loader.get_single_node(), loader


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        found: list[yaml.Node] = []
        for key, value in node.value:
            found.append(key)
            if key.tag == _MERGE_TAG and isinstance(value, yaml.SequenceNode):
                found.extend(value.value)  # merged mappings: their pairs count, not the list
            else:
                found.append(value)
        return found
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded(node: yaml.Node, sizes: Mapping[int, int]) -> int:
    """How many values ``node`` builds into, its children's sizes known."""
    if isinstance(node, yaml.SequenceNode):
        return 1 + sum(sizes[id(item)] for item in node.value)
    if not isinstance(node, yaml.MappingNode):
        return 1
    total = 1
    for key, value in node.value:
        if key.tag != _MERGE_TAG:
            total += sizes[id(key)] + sizes[id(value)]
        elif isinstance(value, yaml.SequenceNode):
            total += sum(sizes[id(item)] - 1 for item in value.value)
        else:
            total += sizes[id(value)] - 1
    return total


def _check_expansion(path: Path, root: yaml.Node) -> None:
    """Refuse aliases (and merge keys) that would build more than MAX_VALUES values, and an
    alias inside the value it names; the file itself holds at most MAX_VALUES nodes, so this
    walks each node once (no recursion: alias chains may go deep)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = _expanded(node, sizes)
            if sizes[key] > MAX_VALUES:
                line, col = _pos(node)
                raise ConfigError(
                    [
                        Problem(
                            path,
                            line,
                            col,
                            f"YAML aliases expand to more than {MAX_VALUES} values here "
                            "(an anchor repeated inside anchors repeated ...) — write the "
                            "values out instead of repeating '*' aliases",
                        )
                    ]
                )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            line, col = _pos(node)
            raise ConfigError(
                [
                    Problem(
                        path,
                        line,
                        col,
                        "this value contains itself through an alias ('&name' ... '*name' "
                        "inside it) — write the values out",
                    )
                ]
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _reader_problem(path: Path, text: str) -> Problem:
    """Where the first character YAML refuses is (a NUL byte, a control character)."""
    found = Reader.NON_PRINTABLE.search(text)
    at = found.start() if found else 0
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    char = text[at] if found else "?"
    name = "a NUL byte" if char == "\0" else f"the control character #x{ord(char):04x}"
    return Problem(
        path,
        line,
        col,
        f"the file holds {name}, which YAML does not allow — remove it (is this a text file?)",
    )


def _syntax_problem(path: Path, err: yaml.YAMLError) -> Problem:
    line, col = 1, 1
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        if mark is not None:
            line, col = mark.line + 1, mark.column + 1
        what = err.problem or "invalid YAML"
        if err.context:
            where = ""
            if err.context_mark is not None and err.context_mark is not mark:
                where = f" started at line {err.context_mark.line + 1}"
            what = f"{what} ({err.context}{where})"
    else:
        what = str(err)
    hint = "check indentation and quoting"
    if "'\\t'" in what:
        hint = "YAML does not allow tabs for indentation: use spaces"
    return Problem(path, line, col, f"YAML syntax error: {what} — {hint}")


def _read(path: Path) -> str:
    """The file's text, read no further than MAX_FILE_BYTES (a FIFO or /dev/zero ends)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError([Problem(path, 1, 1, f"file not found: {path.absolute()}")]) from None
    except OSError as exc:
        raise ConfigError([Problem(path, 1, 1, f"cannot read the file: {exc}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        try:
            size = path.stat().st_size
        except OSError:
            size = len(raw)
        raise ConfigError([Problem(path, 1, 1, _too_large(max(size, len(raw))))])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(path, 1, 1, f"cannot read the file: {exc}")]) from None


def load_yaml(path: Path, text: str | None = None) -> YamlDocument:
    """Parse one YAML file into a :class:`YamlDocument` (``text``: parse this instead,
    naming it ``path`` in problems).

    Raises :class:`ConfigError` when the file cannot be read, is larger than
    :data:`MAX_FILE_BYTES`, is not valid YAML, passes one of the bounds above, or repeats
    a key inside one mapping. An empty file yields ``data=None``.
    """
    if text is None:
        text = _read(path)
    elif len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "replace")) > MAX_FILE_BYTES:
        raise ConfigError([Problem(path, 1, 1, _too_large(len(text.encode("utf-8", "replace"))))])
    loader: Any = None
    try:
        root, loader = _compose(text)
        if root is None:
            return YamlDocument(path=path, data=None, positions={(): (1, 1)})
        _check_expansion(path, root)
        builder = _Builder(path, loader)
        builder.positions[()] = _pos(root)
        builder.value_positions[()] = _pos(root)
        data = builder.build(root, ())
    except _Limit as limit:
        raise ConfigError([Problem(path, limit.line, limit.col, limit.message)]) from None
    except ReaderError:
        raise ConfigError([_reader_problem(path, text)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(path, exc)]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if builder.problems:
        raise ConfigError(builder.problems)
    return YamlDocument(
        path=path,
        data=data,
        positions=builder.positions,
        value_positions=builder.value_positions,
    )
