"""`drkit plan validate`, `drkit run --dry-run` and `drkit runs` through the real CLI root."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "plans" / "sample-app.yaml")
INVALID = ROOT / "plans" / "invalid"


def drkit(*args: str, runs: Path | None = None):
    env = {"DRKIT_RUNS_DIR": str(runs)} if runs else {}
    return CliRunner().invoke(main, list(args), env=env)


def test_validate_valid_plan():
    result = drkit("plan", "validate", SAMPLE)
    assert result.exit_code == 0, result.output
    assert "plan 'sample-app', 3 VMs" in result.output


def test_validate_invalid_plan_exits_1_and_names_the_path():
    result = drkit("plan", "validate", str(INVALID / "unknown-dependency.yaml"))
    assert result.exit_code == 1
    assert "vms[3].depends_on: unknown VM 'db2'" in result.output


def test_validate_json_with_vars_and_inventory(tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("protected: {vms: {db1: {}}}\nrecovery: {}\n")
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("subnet: 10.1.1\n")
    result = drkit("plan", "validate", SAMPLE, "--vars", str(vars_file), "--var", "x=1",
                   "--inventory", str(inventory), "--json")
    report = json.loads(result.output)
    assert result.exit_code == 1 and report["valid"] is False
    paths = {e["path"] for e in report["errors"]}
    assert {"vms[1].name", "vms[2].name", "inventory.networks.VM Network"} <= paths


def test_render_error_is_reported_not_raised():
    result = drkit("plan", "validate", str(INVALID / "undefined-variable.yaml"), "--json")
    assert result.exit_code == 2
    assert "'subnet' is undefined" in json.loads(result.output)["error"]


def test_dry_run_table_and_json(tmp_path):
    table = drkit("run", SAMPLE, "--mode", "test", "--dry-run", runs=tmp_path)
    assert table.exit_code == 0, table.output
    assert "predicted RTO" in table.output and "Parallel waves" in table.output
    result = drkit("run", SAMPLE, "--mode", "planned", "--dry-run", "--json", runs=tmp_path)
    report = json.loads(result.output)
    assert report["workflow"] == "planned" and report["predicted_rto_seconds"] > 0
    assert report["critical_path"][0] == "presync:app-pg"
    assert report["timing"]["failover"] == {"seconds": 30.0, "source": "default"}


def test_invalid_plan_run_exits_1(tmp_path):
    result = drkit("run", str(INVALID / "dependency-cycle.yaml"), "--mode", "test",
                   "--dry-run", runs=tmp_path)
    assert result.exit_code == 1 and "dependency cycle: a → b → c → a" in result.output


def test_runs_list_and_unknown_resume(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(Path(SAMPLE).read_text().split("\ninventory:")[0] +
                    "\nvms: []\nsteps:\n  - {name: hi, type: command, command: 'true'}\n")
    assert drkit("run", str(plan), "--mode", "test", runs=tmp_path / "runs").exit_code == 0
    listing = json.loads(drkit("runs", "list", "--json", runs=tmp_path / "runs").output)
    assert [r["status"] for r in listing] == ["ok"] and listing[0]["workflow"] == "test"
    missing = drkit("runs", "resume", "nope", runs=tmp_path / "runs")
    assert missing.exit_code == 2 and "no run 'nope'" in missing.output


def test_validate_builds_every_workflow(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(Path(SAMPLE).read_text().replace("""    idempotent: true
""", """    idempotent: true
    depends_on: [late]
  - {name: late, type: command, command: "true", after: end, workflows: [test]}
"""))
    result = drkit("plan", "validate", str(plan), "--json")
    errors = json.loads(result.output)["errors"]
    assert result.exit_code == 1
    assert errors[0]["path"] == "workflow test"
    assert errors[0]["message"].startswith("dependency cycle: ")


def test_resume_refuses_a_changed_plan_unless_forced(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(Path(SAMPLE).read_text().split("\ninventory:")[0] +
                    "\nvms: []\nsteps:\n  - {name: hi, type: command, command: 'false'}\n")
    runs = tmp_path / "runs"
    assert drkit("run", str(plan), "--mode", "test", runs=runs).exit_code == 1
    run_id = next(runs.iterdir()).name
    plan.write_text(plan.read_text().replace("'false'", "'true'"))
    changed = drkit("runs", "resume", run_id, runs=runs)
    assert changed.exit_code == 2 and "changed since the run started" in changed.output
    forced = drkit("runs", "resume", run_id, "--force", runs=runs)
    assert forced.exit_code == 0, forced.output
    listing = json.loads(drkit("runs", "list", "--json", runs=runs).output)
    assert listing[0]["status"] == "ok"


def test_dry_run_checks_drift_when_given_an_inventory(tmp_path):
    inventory = tmp_path / "inv.yaml"
    inventory.write_text("protected: {vms: {db1: {}, app1: {}}}\nrecovery: {}\n")
    result = drkit("run", SAMPLE, "--mode", "test", "--dry-run", "--inventory", str(inventory),
                   runs=tmp_path)
    assert result.exit_code == 1
    assert "vms[2].name: VM 'app2' not found at the protected site" in result.output
