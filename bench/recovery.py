"""Wall time of a test recovery of N VMs on vcsim: the DAG in parallel beside the same plan run
one step at a time.

``python -m bench recovery [--vms 200] [--boot-delay 1.0] [--concurrency 16] [--json]``

A two-site lab (appliances, vcsim, the real SRA) is seeded with N protected VMs; the plan puts
them in five priority groups. The same test recovery runs twice — with the plan's concurrency
limits (per site and per host), and with both limits at 1 — each followed by a cleanup. The
speed-up is sequential / parallel. Goal: at least 5x for 200 VMs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def _plan_text(root: Path, lab: dict[str, Any], vms: int, per_site: int, per_host: int) -> str:
    from simulators.demo.run import write_plan

    head, _, rest = write_plan(root, lab).read_text().partition("\nvms:\n")
    options = rest[rest.index("\noptions:\n"):]
    lines = [f"  - {{name: vm{i:02d}, priority: {1 + (i - 1) * 5 // vms}}}"
             for i in range(1, vms + 1)]
    options = options.replace("concurrency: {per_site: 8, per_host: 4}",
                              f"concurrency: {{per_site: {per_site}, per_host: {per_host}}}")
    return f"{head}\nvms:\n" + "\n".join(lines) + "\n" + options


def _timed_run(path: Path, mode: str, runs: Path) -> float:
    from orchestrator.cli.runs import start_run
    from orchestrator.plan.load import load_plan

    plan = load_plan(path)
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        code = start_run(str(path), plan, mode, {}, runs, as_json=True)
    if code != 0:
        raise SystemExit(f"bench recovery: {mode} of {path.name} failed; journals in {runs}")
    return time.monotonic() - started


def measure(vms: int, boot_delay: float, concurrency: int) -> dict[str, Any]:
    from orchestrator.plan.load import load_plan
    from orchestrator.protect import protect_vms
    from simulators.vcsim.labstate import LabOptions, start_lab, stop_lab

    with tempfile.TemporaryDirectory(prefix="drkit-bench-recovery-") as tmp:
        root = Path(tmp)
        os.environ.update(DRKIT_RUNS_DIR=str(root / "runs"), DRKIT_STATE_DIR=str(root / "state"),
                          DRKIT_POLL_INTERVAL="0.3")
        lab = start_lab(root / "lab", LabOptions(vms=vms, hosts=2, boot_delay_s=boot_delay))
        try:
            plans = {}
            for name, site, host in (("parallel", concurrency, max(1, concurrency // 2)),
                                     ("sequential", 1, 1)):
                plans[name] = root / f"{name}.yaml"
                plans[name].write_text(_plan_text(root, lab, vms, site, host))
            protect_vms(load_plan(plans["parallel"]))
            times = {}
            for name, path in plans.items():
                times[name] = _timed_run(path, "test", root / "runs")
                _timed_run(path, "cleanup", root / "runs")
        finally:
            stop_lab(root / "lab")
    return {"vms": vms, "boot_delay_s": boot_delay, "concurrency": concurrency,
            "parallel_s": round(times["parallel"], 1),
            "sequential_s": round(times["sequential"], 1),
            "speedup": round(times["sequential"] / times["parallel"], 2)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench recovery")
    parser.add_argument("--vms", type=int, default=200)
    parser.add_argument("--boot-delay", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure(args.vms, args.boot_delay, args.concurrency)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"test recovery of {result['vms']} VMs on vcsim (boot delay {args.boot_delay} s)")
    print(f"  DAG, concurrency {args.concurrency}/site: {result['parallel_s']:>8} s")
    print(f"  sequential (1 step at a time):  {result['sequential_s']:>8} s")
    print(f"  speed-up: {result['speedup']}x (goal >= 5x)")
    return 0
