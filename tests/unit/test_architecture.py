"""Guards that keep the layers as docs/architecture.md draws them.

Every import in ``sync/`` counts - module-level, function-level and under ``TYPE_CHECKING`` - since
a circle hidden in a function is still a circle in the design:

- no import circle anywhere in ``sync/`` (a module importing its own package's ``__init__`` is
  not one: Python runs that first anyway);
- nothing in the domain, the service layer or the adapters imports the emulators (``sync.sandbox``);
- the domain does no I/O: no database, HTTP, socket or subprocess library, no ``open()`` and no
  file methods of ``pathlib``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sync"
IO_LIBRARIES = frozenset(
    {
        "sqlalchemy",
        "alembic",
        "httplib2",
        "googleapiclient",
        "square",
        "requests",
        "httpx",
        "werkzeug",
        "socket",
        "subprocess",
        "urllib.request",
        "http.client",
        "sqlite3",
        "psycopg",
        "shutil",
        "glob",
    }
)
FILE_METHODS = frozenset(
    {
        "open",
        "read_text",
        "write_text",
        "read_bytes",
        "write_bytes",
        "unlink",
        "mkdir",
        "rmdir",
        "touch",
        "iterdir",
        "glob",
        "rglob",
        "rename",
        "replace",
        "exists",
        "is_file",
        "is_dir",
        "stat",
    }
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts
}


def imported_names(module: str, path: Path) -> Iterator[str]:
    """Every name an import statement in the file reaches for, relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rpartition(".")[0]
            source = (f"{base}.{node.module}" if node.module else base) if node.level else (node.module or "")
            yield source
            yield from (f"{source}.{alias.name}" for alias in node.names)


def owning_module(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = {owning_module(name) for name in imported_names(module, path)}
        graph[module] = {
            t
            for t in targets
            if t and t != module and not (MODULES[t].name == "__init__.py" and module.startswith(t + "."))
        }
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_guard_sees_a_circle_it_is_shown() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_sync() -> None:
    assert circles(import_graph()) == []


@pytest.mark.parametrize("layer", ["sync.domain", "sync.service", "sync.adapters"])
def test_no_emulator_imports_outside_the_sandbox_and_entrypoints(layer: str) -> None:
    offenders = sorted(
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if module == layer or module.startswith(layer + ".")
        for name in set(imported_names(module, path))
        if name == "sync.sandbox" or name.startswith("sync.sandbox.")
    )
    assert offenders == []


def test_the_domain_does_no_io() -> None:
    offenders = []
    for module, path in MODULES.items():
        if not module.startswith("sync.domain"):
            continue
        for name in imported_names(module, path):
            if any(name == lib or name.startswith(lib + ".") for lib in IO_LIBRARIES):
                offenders.append(f"{module} imports {name}")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "open":
                    offenders.append(f"{module}:{node.lineno} calls open()")
                elif isinstance(func, ast.Attribute) and func.attr in FILE_METHODS and _on_a_path(func):
                    offenders.append(f"{module}:{node.lineno} calls .{func.attr}() on a path")
    assert offenders == []


def _on_a_path(func: ast.Attribute) -> bool:
    """A method called on something path-like: ``Path(...)``, or a name with path/file/dir in it."""
    target = func.value
    if isinstance(target, ast.Call) and isinstance(target.func, ast.Name):
        return target.func.id in ("Path", "PurePath")
    name = (
        target.id
        if isinstance(target, ast.Name)
        else target.attr
        if isinstance(target, ast.Attribute)
        else ""
    )
    return any(word in name.lower() for word in ("path", "file", "dir", "folder"))


def test_the_guard_sees_what_it_looks_for(tmp_path: Path) -> None:
    code = (
        "import sqlite3\n\ndef f(path):\n    from sync.sandbox import server\n    return path.read_text()\n"
    )
    names = list(imported_names("sync.domain.x", _write(tmp_path / "x.py", code)))
    assert "sqlite3" in names and "sync.sandbox.server" in names  # function-level imports count
    call = next(
        n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Attribute) and n.attr == "read_text"
    )
    assert _on_a_path(call)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
