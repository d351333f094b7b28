"""kill -9 of a real orchestrator process at every step boundary, then `drkit runs resume`:
the run finishes and no step's side effect is applied twice.

Each custom step waits for ``pre.N``, appends N to effects.log and creates ``done.N`` (its
``creates:`` marker), then waits for ``post.N``. The test holds the gates shut to stop the
orchestrator exactly where it wants, kills its process group, opens every gate and resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.executor.journal import is_running

PHASES = ["start", "presync", "shutdown", "sync", "storage-writable", "priority-1"]
DRKIT = [sys.executable, "-c", "from orchestrator.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]


def write_plan(tmp: Path) -> Path:
    steps = []
    for n, phase in enumerate(PHASES):
        command = (f"sh -c 'while [ ! -e pre.{n} ]; do sleep 0.01; done; echo {n} >> "
                   f"effects.log; touch done.{n}; while [ ! -e post.{n} ]; do sleep 0.01; "
                   f"done'")
        dep = f", depends_on: [s{n - 1}]" if n else ""
        steps.append(f"  - {{name: s{n}, type: command, command: \"{command}\", after: {phase}, "
                     f"creates: done.{n}, workflows: [planned]{dep}}}")
    site = """    name: {0}
    vcenter: {{url: "http://127.0.0.1:1/sdk", credentials: {{env: VC}}}}
    sra: {{command: "true", connection: {{addresses: {{a: x}}, credentials: {{env: T}}}}}}"""
    text = "\n".join(["name: kill-test", "sites:", "  protected:", site.format("a"),
                      "  recovery:", site.format("b"), "vms: []", "steps:", *steps]) + "\n"
    path = tmp / "plan.yaml"
    path.write_text(text)
    return path


def journal(tmp: Path) -> tuple[str, list[dict]]:
    runs = list((tmp / "runs").glob("*/journal.jsonl"))
    if not runs:
        return "", []
    lines = runs[0].read_text().splitlines()
    return runs[0].parent.name, [json.loads(x) for x in lines if x.endswith("}")]


def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "orchestrator never reached the kill point"
        time.sleep(0.01)


def open_gates(tmp: Path, upto: int, *names: str) -> None:
    for n in range(upto):
        for name in names:
            (tmp / f"{name}.{n}").touch()


def drkit(tmp: Path, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "DRKIT_RUNS_DIR": str(tmp / "runs"),
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*DRKIT, *args], cwd=tmp, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before-effect", "after-effect"])
@pytest.mark.parametrize("boundary", range(len(PHASES)))
def test_kill_9_then_resume_applies_each_effect_once(tmp_path, boundary, when):
    plan = write_plan(tmp_path)
    open_gates(tmp_path, boundary, "pre", "post")
    if when == "after-effect":
        (tmp_path / f"pre.{boundary}").touch()
    proc = drkit(tmp_path, "run", str(plan), "--mode", "planned")
    step = f"custom:s{boundary}"
    if when == "before-effect":  # intent journalled, effect not yet applied
        wait_for(lambda: any(e.get("step") == step for e in journal(tmp_path)[1]))
    else:  # effect applied, completion not yet journalled
        wait_for(lambda: (tmp_path / f"done.{boundary}").exists())
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    run_id, events = journal(tmp_path)
    assert not any(e.get("step") == step and e["status"] == "ok" for e in events)

    open_gates(tmp_path, len(PHASES), "pre", "post")
    resumed = drkit(tmp_path, "runs", "resume", run_id)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, (out + err).decode()
    effects = (tmp_path / "effects.log").read_text().split()
    assert effects == [str(n) for n in range(len(PHASES))]
    final = journal(tmp_path)[1]
    assert final[-1]["event"] == "run" and final[-1]["status"] == "ok"


def test_resume_refuses_a_run_that_is_still_running(tmp_path):
    plan = write_plan(tmp_path)
    proc = drkit(tmp_path, "run", str(plan), "--mode", "planned")
    wait_for(lambda: any(e.get("step") == "custom:s0" for e in journal(tmp_path)[1]))
    run_id, before = journal(tmp_path)

    listed = drkit(tmp_path, "runs", "list", "--json")
    assert json.loads(listed.communicate(timeout=60)[0])[0]["status"] == "running"
    second = drkit(tmp_path, "runs", "resume", run_id)
    out, err = second.communicate(timeout=60)
    assert second.returncode == 2, (out + err).decode()
    assert f"run '{run_id}' is still running (pid {proc.pid})" in err.decode()
    assert journal(tmp_path)[1] == before  # the refused resume wrote nothing

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    path = tmp_path / "runs" / run_id / "journal.jsonl"
    wait_for(lambda: not is_running(path))  # a child being forked lets go a moment later
    listed = drkit(tmp_path, "runs", "list", "--json")
    assert json.loads(listed.communicate(timeout=60)[0])[0]["status"] == "interrupted"
    open_gates(tmp_path, len(PHASES), "pre", "post")
    resumed = drkit(tmp_path, "runs", "resume", run_id)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, (out + err).decode()
    assert (tmp_path / "effects.log").read_text().split() == [str(n) for n in range(len(PHASES))]
