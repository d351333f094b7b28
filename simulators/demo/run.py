"""``drkit demo``: bring up the embedded two-site lab and walk a sample application through
test → cleanup → planned migration → reprotect → failback, checking the recovered bytes.

Everything is real: two NSS appliance processes replicating with MicroScan, two vcsim vCenters,
the SRA run as SRM runs it (``perl sra/command.pl``, XML on stdin) and the orchestrator's DAG
executor with its journal. The lab, the plan, the runs and their reports stay under ``--dir``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
import jinja2
from rich.console import Console

from simulators.demo.checks import CHECKS, DemoFailed

WORKFLOWS = ("test", "cleanup", "planned", "reprotect", "failback")
console = Console()


@click.command()
@click.option("--dir", "root", type=click.Path(file_okay=False, path_type=Path),
              default=Path(".drkit/demo"), show_default=True, help="Where everything goes.")
@click.option("--keep", is_flag=True, help="Leave the lab running afterwards.")
@click.option("--boot-delay", default=1.0, show_default=True, type=click.FloatRange(0, 600),
              help="Simulated guest boot (s).")
def demo(root: Path, keep: bool, boot_delay: float) -> None:
    """Run the whole DR cycle on the embedded simulators."""
    from simulators.vcsim.labstate import LabOptions, start_lab, stop_lab

    root = root.resolve()
    _fresh(root)
    console.rule("drkit demo")
    console.print(f"[bold]1.[/] starting the lab in {root / 'lab'} (first run builds vcsim)")
    lab = start_lab(root / "lab", LabOptions(vms=3, hosts=2, boot_delay_s=boot_delay,
                                             app_luns=True))
    try:
        _cycle(root, lab)
    finally:
        if not keep:
            stop_lab(root / "lab")
            console.print("lab stopped (use --keep to leave it running)")
        else:
            console.print(f"lab left running: drkit sim status --dir {root / 'lab'}")


def _fresh(root: Path) -> None:
    lab_file = root / "lab" / "lab.json"
    if lab_file.exists():
        from simulators.vcsim.labstate import stop_lab

        stop_lab(root / "lab")
    for sub in ("lab", "runs", "state"):
        _rmtree(root / sub)
    root.mkdir(parents=True, exist_ok=True)
    os.environ["DRKIT_RUNS_DIR"] = str(root / "runs")
    os.environ["DRKIT_STATE_DIR"] = str(root / "state")
    os.environ.setdefault("DRKIT_POLL_INTERVAL", "0.5")


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _cycle(root: Path, lab: dict[str, Any]) -> None:
    from orchestrator.plan.load import load_plan
    from orchestrator.protect import protect_vms

    plan_path = write_plan(root, lab)
    plan = load_plan(plan_path)
    console.print(f"[bold]2.[/] plan {plan_path}: {', '.join(v.name for v in plan.vms)}; "
                  f"protection records captured for {', '.join(protect_vms(plan))}")
    guest = start_guest(root, lab)
    console.print("   reference application running at site a on app-data/app-wal, its "
                  "Snapshot Agent registered with appliance a")
    runs = []
    try:
        for step, mode in enumerate(WORKFLOWS, start=3):
            variables = {"app_consistent": "true"} if mode == "test" else {}
            if mode == "planned":
                guest.stop()  # the application stops with its VM, cleanly
                console.print("   application stopped cleanly (its VM shuts down)")
            console.print(f"[bold]{step}.[/] drkit run --mode {mode}"
                          + (" --var app_consistent=true" if variables else ""))
            runs.append((mode, run_workflow(plan_path, load_plan(plan_path, variables), mode,
                                            root, variables)))
            console.print(f"   [green]verified[/]: {CHECKS[mode](lab)}")
    finally:
        guest.stop()
    _summary(root, runs)


def start_guest(root: Path, lab: dict[str, Any]) -> Any:
    """The reference transactional application with its Snapshot Agent, at site a."""
    from simulators.agent.guest import GuestConfig, GuestProcess

    site, app = lab["sites"]["a"], lab["sites"]["a"]["protected"]["app"]
    return GuestProcess(root / "guest", site["appliance"]["url"],
                        Path(site["appliance"]["token_file"]), app["data"], app["wal"],
                        GuestConfig(name="app", seed=7, rate_tps=50),
                        fingerprint=site["appliance"].get("fingerprint") or "").start()


def write_plan(root: Path, lab: dict[str, Any]) -> Path:
    template = jinja2.Template((Path(__file__).parent / "lab-plan.yaml.j2").read_text(),
                               undefined=jinja2.StrictUndefined)
    sra = Path(__file__).resolve().parents[2] / "sra" / "command.pl"
    text = template.render(name="demo-app", a=lab["sites"]["a"], b=lab["sites"]["b"],
                           sra_command=str(sra))
    path = root / "plan.yaml"
    path.write_text(text)
    return path


def run_workflow(plan_path: Path, plan: Any, mode: str, root: Path,
                 variables: dict[str, str] | None = None) -> str:
    from orchestrator.cli.runs import start_run

    before = set((root / "runs").glob("*")) if (root / "runs").exists() else set()
    started = time.monotonic()
    code = start_run(str(plan_path), plan, mode, variables or {}, root / "runs", as_json=False)
    run_dir = next(iter(set((root / "runs").glob("*")) - before), None)
    if code != 0:
        raise DemoFailed(f"workflow {mode} failed (exit {code}); journal: {run_dir}")
    console.print(f"   {mode} finished in {time.monotonic() - started:.1f} s")
    return run_dir.name if run_dir else "?"


def _summary(root: Path, runs: list[tuple[str, str]]) -> None:
    console.rule("done")
    for mode, run_id in runs:
        console.print(f"  {mode:<10} run {run_id}: journal {root / 'runs' / run_id}")
    reports = _reports(root, runs)
    if reports:
        console.print("reports:")
        for path in reports:
            console.print(f"  {path}")
    console.print(f"plan: {root / 'plan.yaml'}   state: {root / 'state'}")
    console.print(f"list these runs: drkit runs list --runs-dir {root / 'runs'}")


def _reports(root: Path, runs: list[tuple[str, str]]) -> list[Path]:
    from orchestrator.report.build import build_report

    out = []
    for _, run_id in runs:
        path = root / "reports" / f"{run_id}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(build_report(run_id, root / "runs", "html"))
        out.append(path)
    from orchestrator.report.build import build_runbook

    for fmt in ("md", "html"):
        runbook = root / "reports" / f"runbook.{fmt}"
        runbook.write_text(build_runbook(root / "plan.yaml", {}, fmt, runs_dir=root / "runs"))
        out.append(runbook)
    return out
