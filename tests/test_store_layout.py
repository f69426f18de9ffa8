"""Only ``guardian/store/`` talks to SQLite: no module outside it runs SQL, imports the
SQLite libraries (but to catch their errors) or reaches for the store's connection."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

GUARDIAN = Path(__file__).resolve().parents[1] / "guardian"
STORE = GUARDIAN / "store"

#: calls that run SQL
SQL_CALLS = frozenset({"execute", "executescript", "executemany", "query"})
#: modules that open or drive a database
DB_MODULES = frozenset({"sqlite3", "sqlite_utils"})
#: what of ``sqlite3`` a module outside the store may name: the errors a store call raises
#: (``guardian.store.DatabaseError`` / ``DatabaseBusy`` are the same classes)
SQLITE_ERRORS = frozenset({"Error", "OperationalError"})
#: the store's database handles, never to be reached from outside
HANDLES = frozenset({"database", "sqlite", "db", "conn", "_lock", "_db"})


def _outside_modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(GUARDIAN.rglob("*.py")):
        if STORE not in path.parents:
            yield path, ast.parse(path.read_text(), filename=str(path))


def _where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(GUARDIAN.parent)}:{getattr(node, 'lineno', 0)}"


def _problems(path: Path, tree: ast.Module) -> list[str]:
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in SQL_CALLS:
                problems.append(f"{_where(path, node)}: runs SQL (.{node.func.attr})")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in DB_MODULES:
                problems.append(f"{_where(path, node)}: imports from {node.module}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root == "sqlite_utils" or (root == "sqlite3" and alias.asname):
                    problems.append(f"{_where(path, node)}: imports {alias.name}")
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "sqlite3":
                if node.attr not in SQLITE_ERRORS:
                    problems.append(f"{_where(path, node)}: uses sqlite3.{node.attr}")
            elif node.attr in HANDLES and "store" in ast.unparse(node.value).lower():
                problems.append(f"{_where(path, node)}: reaches the store's {node.attr}")
    return problems


def test_no_module_outside_the_store_talks_to_sqlite() -> None:
    modules = list(_outside_modules())
    assert len(modules) > 50  # the walk found the package
    problems = [p for path, tree in modules for p in _problems(path, tree)]
    assert problems == []


def test_the_check_finds_what_it_forbids(tmp_path: Path) -> None:
    """The check itself: each forbidden form is reported, the allowed ones are not."""
    source = (
        "import sqlite3\n"
        "import sqlite_utils\n"
        "from sqlite_utils.db import Database\n"
        "try:\n"
        "    store.db.execute('delete from events')\n"
        "except sqlite3.OperationalError:\n"
        "    pass\n"
        "conn = sqlite3.connect('x.db')\n"
        "rows = gallery.store.database.sqlite.query('select 1')\n"
        "with self.store._lock:\n"
        "    pass\n"
        "ok = store.event_log.find()\n"
    )
    path = GUARDIAN / "example.py"
    found = _problems(path, ast.parse(source))
    assert sorted(p.split(": ", 1)[1] for p in found) == sorted(
        [
            "imports sqlite_utils",
            "imports from sqlite_utils.db",
            "runs SQL (.execute)",
            "uses sqlite3.connect",
            "runs SQL (.query)",
            "reaches the store's db",
            "reaches the store's _lock",
            "reaches the store's sqlite",
            "reaches the store's database",
        ]
    )
