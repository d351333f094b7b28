"""The SRA's import rules, read from the source (no import needed):

* nothing under sra/ imports orchestrator or simulators: the SRA ships on its own;
* the modules of sra/ import each other without a circle (every import counts, also the ones
  inside functions and under TYPE_CHECKING).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRA = Path(__file__).resolve().parents[2] / "sra"
FORBIDDEN = ("orchestrator", "simulators")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRA.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(SRA.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (``from a import b`` gives ``a.b`` when
    that is a module, else ``a``)."""
    names: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(
        ".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names |= {f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                      for a in node.names}
    return names


@pytest.mark.parametrize("name", sorted(MODULES))
def test_sra_imports_no_orchestrator_and_no_simulator(name: str) -> None:
    bad = sorted(n for n in imported(MODULES[name]) if n.split(".")[0] in FORBIDDEN)
    assert bad == [], f"{name} imports {bad}: the SRA must ship on its own"


def graph() -> dict[str, set[str]]:
    return {name: {n for n in imported(path) if n in MODULES and n not in ("sra", name)
                   and not name.startswith(n + ".")}  # a module needs its package: no circle
            for name, path in MODULES.items()}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle, found by depth-first search (one path per circle)."""
    found, state = [], dict.fromkeys(edges, 0)  # 0 new, 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state[nxt] == 1:
                found.append([*path[path.index(nxt):], nxt])
            elif state[nxt] == 0:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges):
        if state[node] == 0:
            visit(node, [node])
    return found


def test_no_import_circle_in_sra() -> None:
    assert circles(graph()) == []


def test_the_circle_finder_finds_circles() -> None:
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
    assert "sra.verbs.common" in graph()["sra.verbs.discovery"]
