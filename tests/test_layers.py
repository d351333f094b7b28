"""The import rules of docs/ARCHITECTURE.md, held against the code.

The contracts themselves live in pyproject.toml (``[tool.importlinter]``): the product never
imports the simulators, the SRA imports nothing else of drkit, the orchestrator's packages and
the lab's are layered. Below them, no two sibling modules or packages may import each other
(a package loop), anywhere.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("orchestrator", "sra", "simulators")


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def _sibling_loops(graph: grimp.ImportGraph, package: str) -> list[tuple[str, str]]:
    children = sorted(graph.find_children(package))
    return [(a, b) for a, b in itertools.combinations(children, 2)
            if graph.chain_exists(a, b, as_packages=True)
            and graph.chain_exists(b, a, as_packages=True)]


def test_no_package_loops():
    graph = grimp.build_graph(*PACKAGES)
    packages = sorted(m for m in graph.modules if graph.find_children(m))
    loops = {p: found for p in packages if (found := _sibling_loops(graph, p))}
    assert not loops, f"modules that import each other (directly or through others): {loops}"


def test_a_climbing_import_breaks_the_contracts(tmp_path: Path):
    """The rules can fail: the same tree plus one orchestrator module importing the lab."""
    for name in (*PACKAGES, "pyproject.toml"):
        subprocess.run(["cp", "-r", str(ROOT / name), str(tmp_path / name)], check=True)
    (tmp_path / "orchestrator" / "climb.py").write_text("import simulators.nss.appliance\n")
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(tmp_path),
                                                       "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "orchestrator.climb -> simulators.nss.appliance" in proc.stdout
