"""The package's layers, read from its imports: the pure domain imports no port, adapter or
I/O library; ports import only the domain; and no modules import each other in a circle
(imports inside functions count: a lazy import hides a circle from Python, not from a reader).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "acadio_webhooks"
ROOT = "acadio_webhooks"
IO_LIBRARIES = {
    "aiohttp",
    "aiosmtpd",
    "asyncio",
    "celery",
    "django",
    "httptools",
    "httpx",
    "psycopg",
    "pymysql",
    "smtplib",
    "sqlalchemy",
    "sqlite3",
    "urllib.request",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _imports(module: str) -> set[str]:
    """Every module ``module`` imports, anywhere in it, ``TYPE_CHECKING`` blocks included."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import module` imports that module (its package's __init__ runs
            # first, as for every import of a submodule: not an arrow of its own); any other
            # name is taken from ``base`` itself.
            named = {f"{base}.{alias.name}" for alias in node.names}
            found.update(named & MODULES.keys())
            if named - MODULES.keys():
                found.add(base)
    return found


def _own(imported: set[str]) -> set[str]:
    """The package's own modules among ``imported``: the deepest known module of each."""
    own = set()
    for name in imported:
        known = name
        while known and known not in MODULES:
            known = known.rpartition(".")[0]
        if known.startswith(ROOT):
            own.add(known)
    return own


def _in(module: str, layer: str) -> bool:
    return module == f"{ROOT}.{layer}" or module.startswith(f"{ROOT}.{layer}.")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "domain")))
def test_the_domain_imports_no_port_adapter_or_io_library(module: str) -> None:
    imported = _imports(module)
    allowed = {f"{ROOT}.errors", f"{ROOT}._version"}
    outside = {m for m in _own(imported) if not _in(m, "domain") and m not in allowed}
    assert not outside, f"{module} imports {sorted(outside)}"
    io = {m for m in imported if m in IO_LIBRARIES or m.split(".")[0] in IO_LIBRARIES}
    assert not io, f"{module} imports {sorted(io)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _in(m, "ports")))
def test_a_port_imports_only_the_domain(module: str) -> None:
    outside = {
        m
        for m in _own(_imports(module))
        if not (_in(m, "domain") or _in(m, "ports") or m == f"{ROOT}.errors")
    }
    assert not outside, f"{module} imports {sorted(outside)}"


def test_no_modules_import_each_other_in_a_circle() -> None:
    graph = {module: _own(_imports(module)) - {module} for module in MODULES}
    circles: list[list[str]] = []
    state: dict[str, str] = {}  # "open" while on the path, "done" after

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                circles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not circles, "\n".join(" -> ".join(circle) for circle in circles)


def test_the_reading_of_imports_sees_what_it_checks() -> None:
    # Guards the test above against reading nothing: known edges are found.
    assert f"{ROOT}.domain.messages" in _own(_imports(f"{ROOT}.domain.core"))
    assert f"{ROOT}.adapters.storage.sql.store" in _own(_imports(f"{ROOT}.adapters.storage._open"))
