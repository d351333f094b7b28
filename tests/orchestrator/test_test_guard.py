"""SRM's rule: a plan's test recovery must be cleaned up before the plan is tested again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRKIT = [sys.executable, "-c", "from orchestrator.cli import main; main()"]


def write_plan(tmp: Path, test_exit: int = 0) -> Path:
    site = """    name: {0}
    vcenter: {{url: "http://127.0.0.1:1/sdk", credentials: {{env: VC}}}}
    sra: {{command: "true", connection: {{addresses: {{a: x}}, credentials: {{env: T}}}}}}"""
    steps = [f"  - {{name: t, type: command, after: start, workflows: [test], command: "
             f"\"sh -c 'echo test >> effects.log; exit {test_exit}'\"}}",
             "  - {name: c, type: command, after: start, workflows: [cleanup], command: "
             "\"sh -c 'echo cleanup >> effects.log'\"}"]
    text = "\n".join(["name: guard-test", "sites:", "  protected:", site.format("a"),
                      "  recovery:", site.format("b"), "vms: []", "steps:", *steps]) + "\n"
    (tmp / "plan.yaml").write_text(text)
    return tmp / "plan.yaml"


def run(tmp: Path, mode: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DRKIT_RUNS_DIR": str(tmp / "runs"),
           "DRKIT_STATE_DIR": str(tmp / "state"), "HOME": str(tmp)}
    return subprocess.run([*DRKIT, "run", str(tmp / "plan.yaml"), "--mode", mode], cwd=tmp,
                          env=env, capture_output=True, text=True, timeout=120)


def effects(tmp: Path) -> list[str]:
    return (tmp / "effects.log").read_text().split()


def test_a_second_test_is_refused_until_cleanup(tmp_path: Path):
    write_plan(tmp_path)
    assert run(tmp_path, "test").returncode == 0
    refused = run(tmp_path, "test")
    assert refused.returncode == 2
    assert "has a test recovery that has not been cleaned up" in refused.stderr
    assert "run 'drkit run --mode cleanup' first" in refused.stderr
    assert effects(tmp_path) == ["test"]  # nothing ran the second time
    assert len(list((tmp_path / "runs").iterdir())) == 1  # and no journal was made
    assert run(tmp_path, "cleanup").returncode == 0
    assert run(tmp_path, "test").returncode == 0
    assert effects(tmp_path) == ["test", "cleanup", "test"]


def test_a_failed_test_still_needs_its_cleanup(tmp_path: Path):
    write_plan(tmp_path, test_exit=5)
    assert run(tmp_path, "test").returncode == 1
    assert "has a test recovery" in run(tmp_path, "test").stderr
