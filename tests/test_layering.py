"""The package's layering, read from its source: nothing imports the command line, no
import cycle between Guardian's modules, and no function-local Guardian import (the
way a cycle used to be dodged) outside a short, explained list."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "guardian"

#: modules allowed to import ``guardian.cli``: the ``python -m guardian`` entry point
CLI_IMPORTERS = {"guardian.__main__"}

#: function-local ``guardian.*`` imports that stay, (module, imported module) → why.
#: A heavy optional dependency (torch, ultralytics, cv2 …) imported inside a function is
#: not a Guardian import and needs no entry.
LOCAL_IMPORTS: dict[tuple[str, str], str] = {
    # `guardian check --probe` only: guardian.sources loads OpenCV
    ("guardian.check", "guardian.sources"): "the probe opens cameras (OpenCV)",
    # training only: guardian.fall.data loads OpenCV and SciPy
    ("guardian.fall.train", "guardian.fall.data"): "the corpus readers (OpenCV, SciPy)",
    # the appearance embedder loads only with `identity: embedder: true`
    ("guardian.app.parts", "guardian.identity.embedder"): "the embedder's model",
    # -- no cycle is left behind these: they can move to the top in their owners' files
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The Guardian modules an import statement names (a ``from X import name`` names
    ``X.name`` too when that is a module)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if module not in MODULES or MODULES[module].name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [base] + [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return [n for n in names if n == "guardian" or n.startswith("guardian.")]


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, source: str | None = None) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every runtime Guardian import of
    ``module`` (its file, or ``source``); ``if TYPE_CHECKING:`` blocks are not run."""

    def visit(node: ast.AST, local: bool) -> Iterator[tuple[str, int, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child.test):
                for stmt in child.orelse:
                    yield from visit_one(stmt, local)
                continue
            yield from visit_one(child, local)

    def visit_one(node: ast.AST, local: bool) -> Iterator[tuple[str, int, bool]]:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _targets(module, node):
                yield target, node.lineno, local
            return
        inner = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        yield from visit(node, local or inner)

    text = MODULES[module].read_text() if source is None else source
    yield from visit(ast.parse(text), False)


def _loaded(module: str, target: str) -> list[str]:
    """The modules importing ``target`` from ``module`` runs: it and the packages above
    it, except the packages ``module`` is itself inside (already being imported)."""
    parts = target.split(".")
    chain = (".".join(parts[:i]) for i in range(2, len(parts) + 1))
    return [m for m in chain if m in MODULES and not (module == m or module.startswith(m + "."))]


def import_graph() -> dict[str, set[str]]:
    """module → the Guardian modules its top-level imports load."""
    return {
        module: {
            m for target, _, local in _imports(module) if not local for m in _loaded(module, target)
        }
        for module in MODULES
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)) is not None:
            return cycle
    return None


def test_nothing_outside_the_cli_imports_it() -> None:
    wrong = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: imports {target}"
        for module in MODULES
        if not (module == "guardian.cli" or module.startswith("guardian.cli."))
        and module not in CLI_IMPORTERS
        for target, line, _ in _imports(module)
        if target == "guardian.cli" or target.startswith("guardian.cli.")
    ]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_no_function_local_guardian_imports() -> None:
    wrong = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line}: imports {target} inside a "
        "function — import it at the top (or explain it in LOCAL_IMPORTS)"
        for module in MODULES
        for target, line, local in _imports(module)
        if local and (module, target) not in LOCAL_IMPORTS
    ]
    assert not wrong, "\n".join(wrong)


def test_every_allowed_local_import_is_still_there() -> None:
    """An entry of LOCAL_IMPORTS whose import went away is removed from the list."""
    found = {(m, t) for m in MODULES for t, _, local in _imports(m) if local}
    assert set(LOCAL_IMPORTS) <= found, set(LOCAL_IMPORTS) - found


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"a"}}, ["a", "a"]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


def test_the_walk_sees_local_imports_and_skips_type_checking() -> None:
    """The checks above cannot pass by seeing nothing."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from guardian.config import load_site\n"
        "from . import records\n"
        "if TYPE_CHECKING:\n    from guardian.store import Store\n"
        "def f():\n    from guardian.app import run_site\n"
        "class C:\n    def g(self):\n        import guardian.cli\n"
    )
    assert sorted(_imports("guardian.example", source)) == [
        ("guardian", 3, False),
        ("guardian.app", 7, True),
        ("guardian.cli", 10, True),
        ("guardian.config", 2, False),
        ("guardian.records", 3, False),
    ]
    assert "guardian.pipeline" in import_graph()["guardian.app.run"]
