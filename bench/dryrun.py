"""Dry-run benchmark: time to schedule a generated N-VM plan, beside a baseline measured in the
same run on the same plan.

    python -m bench dryrun [--sizes 1000,10000] [--workflow planned] [--runs 3]

For each size the plan is generated once (not timed), then per run: ``yaml`` = parsing its
YAML with PyYAML's safe loader alone (the baseline: the least any tool reading the plan with
PyYAML must do), ``load`` = render + parse + build records + validate, ``dry run`` = build the
workflow DAG + schedule it (waves, critical path, predicted RTO), ``CLI total`` = the whole
``drkit run PLAN --mode WORKFLOW --dry-run`` process (start, imports, load, dry run, printing,
exit; no run journals to learn from). In-process runs start from a collected heap (the previous
run's result freed); CLI total includes everything. Medians are shown, wall and CPU time. Goal:
dry run of 10,000 VMs < 2 s (wall). Exit status 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from orchestrator.plan.generate import generate_yaml
from orchestrator.plan.load import check_text
from orchestrator.schedule import dry_run

GOAL_VMS, GOAL_SECONDS = 10_000, 2.0
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def timed(func: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of ``runs`` calls, and the last result. Each call starts
    with the previous result freed and collected, so that it is not charged for them."""
    walls, cpus, result = [], [], None
    for _ in range(runs):
        result = None
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        result = func()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def cli_run(plan: Path, workflow: str, runs_dir: str) -> None:
    """``drkit run PLAN --mode WORKFLOW --dry-run`` in a process of its own."""
    subprocess.run([sys.executable, "-m", "orchestrator", "run", str(plan), "--mode", workflow,
                    "--dry-run"], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DRKIT_RUNS_DIR": runs_dir})


def timed_process(func: Callable[[], Any], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds (of the child processes) of ``runs`` calls."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        func()
        walls.append(time.perf_counter() - wall)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def measure(n_vms: int, workflow: str, runs: int) -> dict[str, Any]:
    text = generate_yaml(n_vms)
    base_wall, base_cpu, _ = timed(lambda: yaml.load(text, Loader=_LOADER), runs)
    load_wall, load_cpu, checked = timed(lambda: check_text(text, environ={}), runs)
    dry_wall, dry_cpu, result = timed(lambda: dry_run(checked.plan, workflow), runs)
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.yaml"
        plan.write_text(text)
        cli_wall, cli_cpu = timed_process(lambda: cli_run(plan, workflow, tmp), runs)
    return {"vms": n_vms, "steps": len(result.slots), "waves": len(result.waves),
            "rto": result.predicted_rto, "yaml": base_wall, "yaml_cpu": base_cpu,
            "load": load_wall, "load_cpu": load_cpu, "dry": dry_wall, "dry_cpu": dry_cpu,
            "cli": cli_wall, "cli_cpu": cli_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench dryrun", description=__doc__)
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--workflow", default="planned")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    rows = [measure(int(n), args.workflow, args.runs) for n in args.sizes.split(",")]
    print(f"dry run of the '{args.workflow}' workflow, median of {args.runs} runs "
          f"(wall s; cpu s in brackets)")
    print(f"{'VMs':>7} {'steps':>7} {'waves':>6} {'yaml parse':>15} {'load+validate':>15} "
          f"{'dry run':>15} {'dry/yaml':>9} {'CLI total':>15}")
    for r in rows:
        print(f"{r['vms']:>7} {r['steps']:>7} {r['waves']:>6} "
              f"{r['yaml']:>7.3f} ({r['yaml_cpu']:.3f}) {r['load']:>7.3f} ({r['load_cpu']:.3f}) "
              f"{r['dry']:>7.3f} ({r['dry_cpu']:.3f}) {r['dry'] / r['yaml']:>8.2f}x "
              f"{r['cli']:>7.3f} ({r['cli_cpu']:.3f})")
    goal = [r for r in rows if r["vms"] == GOAL_VMS]
    if not goal:
        return 0
    met = goal[0]["dry"] < GOAL_SECONDS
    print(f"goal: dry run of {GOAL_VMS:,} VMs < {GOAL_SECONDS:g} s: "
          f"{'met' if met else 'MISSED'} ({goal[0]['dry']:.3f} s)")
    return 0 if met else 1
