"""Load YAML while remembering where every value came from.

Configuration errors are only useful when they point at a line. :func:`load_yaml`
composes the YAML node graph (so we keep PyYAML's marks), builds plain Python data
from it with the safe constructor, and records the 1-based (line, column) of every
node path: ``("zones", 0, "polygon")`` → the position of the ``polygon`` key.

Two deliberate differences from ``yaml.safe_load``:

* a key repeated inside one mapping is an error (PyYAML silently keeps the last);
* scalars that YAML 1.1 would turn into sexagesimal numbers or dates (``22:30``,
  ``2024-06-01``) stay strings, so times of day and dates reach the models as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import yaml

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
        return self.loader.construct_object(node, deep=True)

    def build(self, node: yaml.Node, loc: Loc, depth: int = 0) -> Any:
        if depth > 200:
            self.problem(node, "YAML nesting is too deep (recursive anchor?)")
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


def load_yaml(path: Path, text: str | None = None) -> YamlDocument:
    """Parse one YAML file into a :class:`YamlDocument` (``text``: parse this instead,
    naming it ``path`` in problems).

    Raises :class:`ConfigError` when the file cannot be read, is not valid YAML, or
    repeats a key inside one mapping. An empty file yields ``data=None``.
    """
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([Problem(path, 1, 1, f"file not found: {path.absolute()}")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([Problem(path, 1, 1, f"cannot read the file: {exc}")]) from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return YamlDocument(path=path, data=None, positions={(): (1, 1)})
        builder = _Builder(path, loader)
        builder.positions[()] = _pos(root)
        builder.value_positions[()] = _pos(root)
        data = builder.build(root, ())
    except yaml.YAMLError as exc:
        raise ConfigError([_syntax_problem(path, exc)]) from None
    finally:
        loader.dispose()
    if builder.problems:
        raise ConfigError(builder.problems)
    return YamlDocument(
        path=path,
        data=data,
        positions=builder.positions,
        value_positions=builder.value_positions,
    )
