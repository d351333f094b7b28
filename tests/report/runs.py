"""Real runs for the report tests: the executor runs real steps and writes a real journal.

- :func:`command_plan` writes a plan of custom ``command`` steps with local side effects (files
  in the run's working directory), run through the real ``drkit run``;
- :func:`lab_run` runs the sample plan's VM and storage steps against the in-memory two-site lab
  of the executor tests (real StoragePort/VspherePort implementations) and journals it exactly as
  ``drkit run`` does (header, steps, outcome).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.executor.journal import Journal, utcnow
from orchestrator.executor.run import Executor
from orchestrator.graph import build_workflow
from orchestrator.plan.load import load_plan
from orchestrator.steps.base import RunContext
from tests.orchestrator.labsite import Lab, ports

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "plans" / "sample-app.yaml"
DRKIT = [sys.executable, "-c", "from orchestrator.cli import main; main()"]
SITE = """    name: {0}
    vcenter: {{url: "http://127.0.0.1:1/sdk", credentials: {{env: VC_PASSWORD}}}}
    sra: {{command: "true", connection: {{addresses: {{a: x}}, credentials: {{env: T}}}}}}"""


def command_plan(tmp: Path, steps: list[str], name: str = "plan.yaml") -> Path:
    """A plan with no VMs whose ``test`` workflow is ``steps`` (YAML flow mappings)."""
    lines = ["name: commands", "sites:", "  protected:", SITE.format("a"), "  recovery:",
             SITE.format("b"), "vms: []", "steps:", *(f"  - {s}" for s in steps)]
    path = tmp / name
    path.write_text("\n".join(lines) + "\n")
    return path


def drkit(*args: str, runs: Path, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env={"DRKIT_RUNS_DIR": str(runs), **(env or {})})


def run_ids(runs: Path) -> list[str]:
    return sorted(p.parent.name for p in runs.glob("*/journal.jsonl"))


def spawn_run(plan: Path, runs: Path, cwd: Path) -> subprocess.Popen:
    """``drkit run PLAN --mode test`` as a real process (in its own session)."""
    env = {**os.environ, "DRKIT_RUNS_DIR": str(runs), "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*DRKIT, "run", str(plan), "--mode", "test"], cwd=cwd, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def lab_run(tmp: Path, lab: Lab, workflow: str = "test", run_id: str = "lab-run") -> Path:
    """Run ``workflow`` of the sample plan against ``lab``; returns the runs directory."""
    plan = load_plan(SAMPLE, {}, environ={})
    storage, vsphere = ports(lab)
    ctx = RunContext(plan, workflow, run_id, storage, vsphere, prompt=lambda m, t: True,
                     workdir=tmp, poll_interval=0.01)
    runs = tmp / "runs"
    journal = Journal(runs / run_id / "journal.jsonl")
    journal.write({"event": "run", "run": run_id, "status": "started", "ts": utcnow(),
                   "plan": str(SAMPLE), "workflow": workflow, "vars": {},
                   "plan_sha256": hashlib.sha256(SAMPLE.read_bytes()).hexdigest(),
                   "workdir": str(tmp)})
    result = Executor(build_workflow(plan, workflow), ctx, journal).run()
    journal.write({"event": "run", "run": run_id, "status": result.status, "ts": utcnow()})
    journal.close()
    return runs


def steady_timings(runs: Path, seconds: float = 0.005) -> Path:
    """Rewrite every finished step of the journals under ``runs`` to have taken ``seconds``:
    tests about how learned timings read must not depend on how loaded the machine was."""
    import json
    from datetime import timedelta

    from orchestrator.executor.journal import parse_time

    for path in runs.glob("*/journal.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        for rec in records:
            if rec.get("event") == "step" and rec.get("start") and rec.get("end"):
                end = parse_time(rec["start"]) + timedelta(seconds=seconds)
                rec["end"] = end.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return runs
