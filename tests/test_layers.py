"""The dependency rule: imports flow one way, from the shells down to plain data.

    core  ←  config, logs, metrics  ←  pipeline  ←  sync  ←  daemon, http, cli  ←  serve
    core  ←  db  ←  sync

`pipeline` is a pure library (no database driver, no db/); only `sync` and
`daemon` reach `db/`; `http` reaches the daemon through the protocol it
declares (http/status.py), never through daemon modules; the composition root
`serve.py` is the one module that wires the daemon and the HTTP server.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "packsync"

# part → the parts it may import (besides itself and the package root).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "config": {"core"},
    "logs": {"core", "config"},
    "metrics": {"core"},
    "pipeline": {"core", "config"},
    "schema": {"core", "pipeline"},
    "db": {"core", "config"},
    "sync": {"core", "config", "logs", "pipeline", "db"},
    "daemon": {"core", "config", "logs", "metrics", "pipeline", "db", "sync"},
    "http": {"core", "config", "logs", "metrics", "pipeline", "sync"},
    "cli": {"core", "config", "logs", "pipeline", "schema", "sync", "serve"},
    "serve": {"core", "config", "logs", "metrics", "pipeline", "db", "sync", "daemon", "http"},
    "configref": {"core", "config"},
    "__main__": {"cli"},
}
# Third-party packages that mark a layer: the pure pipeline never talks to a database.
FORBIDDEN_THIRD_PARTY = {"pipeline": {"asyncpg", "fastapi", "watchdog"}, "core": {"asyncpg"}}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports() -> list[tuple[str, str, int]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__")
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    name = ".".join([*base, node.module] if node.module else base)
                else:
                    name = node.module or ""
                names = [name]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found.extend((module, name, node.lineno) for name in names)
    return found


def test_every_part_has_a_rule() -> None:
    parts = {_part(m) for m, _, _ in _imports()} - {""}
    assert parts <= set(ALLOWED), sorted(parts - set(ALLOWED))


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_imports_flow_one_way(part: str) -> None:
    wrong = []
    for module, name, line in _imports():
        if _part(module) != part:
            continue
        top = name.split(".")[0]
        if top in FORBIDDEN_THIRD_PARTY.get(part, set()):
            wrong.append(f"{module}:{line} imports {name}")
        if top != "packsync" or name == "packsync":
            continue
        target = _part(name)
        if target != part and target not in ALLOWED[part]:
            wrong.append(f"{module}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def _module_level_graph() -> dict[str, set[str]]:
    """Module → packsync modules it imports at load time (not inside functions)."""
    graph: dict[str, set[str]] = {}
    known = {
        ".".join(p.relative_to(SRC.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in SRC.rglob("*.py")
    }
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        edges = graph.setdefault(module, set())
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            edges.update(n for n in names if n in known and n != module)
    return graph


def test_no_import_cycles() -> None:
    """Each module can be read after the modules it imports: no module imports,
    at load time, a module that imports it back (directly or through others)."""
    graph = _module_level_graph()
    cycles = []
    done: set[str] = set()

    def visit(module: str, stack: list[str]) -> None:
        if module in stack:
            cycles.append(" -> ".join([*stack[stack.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, [*stack, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    # a package's __init__ re-exporting its modules is not a cycle of meaning
    real = [c for c in cycles if not all(p.startswith(c.split(" -> ")[0]) for p in c.split(" -> "))]
    assert not real, "\n".join(real)
