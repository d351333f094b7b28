"""Every workflow end to end: real appliances, real vcsim sites, the real SRA subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.vsphere.port import RecordStore
from simulators.demo import checks
from simulators.demo import run as demo
from simulators.vcsim.labstate import site_adapter

pytestmark = [pytest.mark.live, pytest.mark.slow]


def _vm_states(lab, site: str) -> dict[str, str]:
    adapter = site_adapter(lab, site)
    return {vm.name: vm.power_state for vm in adapter.inventory().vms}


def test_test_cleanup_planned_reprotect_failback(lab):
    plan, path, root = lab["plan"], lab["plan_path"], lab["root"]
    before = _vm_states(lab["lab"], "b")
    for mode in demo.WORKFLOWS:
        demo.run_workflow(path, plan, mode, root)
        checks.CHECKS[mode](lab["lab"])
        if mode == "test":
            states = _vm_states(lab["lab"], "b")
            assert all(states[vm] == "poweredOn" for vm in ("vm01", "vm02", "vm03"))
        if mode == "cleanup":
            assert _vm_states(lab["lab"], "b") == before
    states = _vm_states(lab["lab"], "a")
    assert all(states[vm] == "poweredOn" for vm in ("vm01", "vm02", "vm03"))
    assert not set(_vm_states(lab["lab"], "b")) & {"vm01", "vm02", "vm03"}


def test_disaster_recovery_with_the_protected_site_gone(lab):
    info = lab["lab"]
    for proc in info["processes"]:
        if proc["site"] == "a":
            os.killpg(proc["pid"], signal.SIGKILL)
    from orchestrator.cli.runs import start_run

    start_run(str(lab["plan_path"]), lab["plan"], "disaster", {}, lab["root"] / "runs", False)
    events = [json.loads(line) for line in _journal(lab["root"]).read_text().splitlines()]
    final = {e["step"]: e for e in events if e.get("event") == "step"}
    failed = {k: e["site"] for k, e in final.items() if e["status"] != "ok"}
    assert failed and set(failed.values()) == {"protected"}  # only the lost site's steps
    states = _vm_states(info, "b")
    assert all(states[vm] == "poweredOn" for vm in ("vm01", "vm02", "vm03"))
    b = checks.clients(info)["b"]
    assert all(lun["access"] == "read-write" for lun in b.list_luns() if lun["role"] == "primary")
    rdm = RecordStore(lab["root"] / "state" / "demo-app" / "vsphere.json").record("vm03")
    assert rdm.rdm_wwns  # the RDM was re-mapped to the recovered device


def _journal(root: Path) -> Path:
    return next((root / "runs").glob("*/journal.jsonl"))


def _done_steps(journal: Path) -> int:
    if not journal.exists():
        return 0
    events = [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]
    return sum(1 for e in events if e.get("event") == "step" and e.get("status") == "ok")


def _drkit(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill_after_next_step(proc: subprocess.Popen, journal_dir: Path, done: int) -> bool:
    """SIGKILL the orchestrator as soon as one more step is journalled ok; False if it ended."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        journals = list(journal_dir.glob("*/journal.jsonl"))
        if journals and _done_steps(journals[0]) > done:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None and _done_steps(journals[0] if journals else Path("-")) <= done:
            return False
        time.sleep(0.01)
    raise AssertionError("no progress in 120 s")


@pytest.mark.timeout(900)
def test_planned_migration_survives_kill9_at_every_step_boundary(lab):
    paths = [str(Path(demo.__file__).resolve().parents[2]), lab["env"].get("PYTHONPATH", "")]
    env = {**lab["env"], "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    root = lab["root"]
    proc = _drkit(["run", str(lab["plan_path"]), "--mode", "planned"], env)
    kills = 0
    while _kill_after_next_step(proc, root / "runs", _done_steps_any(root)):
        kills += 1
        run_id = _journal(root).parent.name
        proc = _drkit(["runs", "resume", run_id], env)
    assert proc.returncode == 0
    assert kills >= 10
    events = [json.loads(line) for line in _journal(root).read_text().splitlines()]
    ok_steps = [e["step"] for e in events if e.get("status") == "ok" and "step" in e]
    assert len(ok_steps) == len(set(ok_steps))  # no step's side effect applied twice
    checks.check_planned(lab["lab"])


def _done_steps_any(root: Path) -> int:
    journals = list((root / "runs").glob("*/journal.jsonl"))
    return _done_steps(journals[0]) if journals else 0
