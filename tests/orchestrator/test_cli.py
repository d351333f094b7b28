"""`drkit plan validate`, `drkit run --dry-run` and `drkit runs` through the real CLI root."""

from __future__ import annotations

import json
import re
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
    assert result.exit_code == 2  # one line on stderr, never JSON or text on stdout
    assert result.stdout == "" and "'subnet' is undefined" in result.stderr


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


# Tables at 80 columns: ids (steps, runs, plan paths) are what people copy; never cut them.
LONG_VM = "billing-db-primary-euw1"


def narrow(*args: str, runs: Path | None = None):
    """The real CLI in an 80-column terminal (rich reads COLUMNS)."""
    env = {"COLUMNS": "80", **({"DRKIT_RUNS_DIR": str(runs)} if runs else {})}
    return CliRunner().invoke(main, list(args), env=env)


def assert_whole(output: str, ids: list[str]) -> None:
    """Every id sits whole on one line, no line is wider than the terminal, nothing is
    shortened with an ellipsis."""
    lines = output.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    assert "…" not in output
    for ident in ids:
        pattern = re.compile(rf"(?<![\w:.\[\]-]){re.escape(ident)}(?![\w:.\[\]-])")
        assert any(pattern.search(line) for line in lines), f"{ident} is cut:\n{output}"


def flat(output: str) -> str:
    """A table's text with borders and line breaks gone (to read wrapped text)."""
    return " ".join(re.sub(r"[│┃]", " ", output).split())


def test_dry_run_tables_keep_long_step_ids_whole(tmp_path):
    plan = tmp_path / "long.yaml"
    plan.write_text(Path(SAMPLE).read_text().replace("db1", LONG_VM))
    result = narrow("run", str(plan), "--mode", "test", "--dry-run", runs=tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads(drkit("run", str(plan), "--mode", "test", "--dry-run", "--json",
                              runs=tmp_path).output)
    ids = [s["id"] for s in report["steps"]]
    assert f"post-callout:{LONG_VM}:0" in ids
    assert_whole(result.output, ids)
    assert "syncOnce for protection group app-pg" in result.output  # the text still shows


def test_run_result_and_runs_list_keep_ids_whole(tmp_path):
    long_step = "notify-the-change-advisory-board-pager"
    plan = tmp_path / "p.yaml"
    plan.write_text(Path(SAMPLE).read_text().split("\ninventory:")[0] +
                    f"\nvms: []\nsteps:\n  - {{name: {long_step}, type: command, "
                    f"command: 'sh -c \"echo [bold]the pager refused the page >&2; exit 4\"'}}"
                    f"\n  - {{name: after-the-pager, type: command, command: 'true', "
                    f"depends_on: [{long_step}]}}\n")
    runs = tmp_path / "runs"
    result = narrow("run", str(plan), "--mode", "test", runs=runs)
    assert result.exit_code == 1, result.output
    table = result.output[result.output.index("┏"):]
    assert_whole(table, [f"custom:{long_step}", "custom:after-the-pager"])
    assert f"custom:{long_step}: custom:{long_step}" not in result.output  # no repeated prefix
    assert "command 'sh' exited 4: [bold]the pager refused the page" in flat(table)
    listing = narrow("runs", "list", runs=runs)
    run_id = next(runs.iterdir()).name
    assert_whole(listing.output, [run_id])
    assert str(plan) in re.sub(r"[\s│]", "", listing.output)  # a path may fold, never cut


def test_validate_keeps_issue_paths_whole():
    result = narrow("plan", "validate", str(INVALID / "inline-password.yaml"))
    assert result.exit_code == 1
    assert_whole(result.output, ["sites.protected.vcenter.credentials.password:",
                                 "sites.recovery.vcenter.credentials:"])


def test_table_cells_are_text_not_markup(tmp_path):
    plan = tmp_path / "p.yaml"
    plan.write_text(Path(SAMPLE).read_text().split("\ninventory:")[0] +
                    "\nvms: []\nsteps:\n  - {name: say, type: command, "
                    "command: 'echo [red]hello[/red] [/]'}\n")
    result = CliRunner().invoke(main, ["run", str(plan), "--mode", "test", "--dry-run"],
                                env={"COLUMNS": "200", "DRKIT_RUNS_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    assert "echo [red]hello[/red] [/]" in result.output


def test_dry_run_waves_a_few_milliseconds_apart_read_apart(tmp_path):
    from tests.orchestrator.labsite import Lab
    from tests.report.runs import lab_run, steady_timings

    runs = steady_timings(lab_run(tmp_path, Lab()))  # learned timings of 5 ms, however loaded
    result = narrow("run", SAMPLE, "--mode", "test", "--dry-run", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    waves = result.output[result.output.index("Parallel waves"):]
    starts = re.findall(r"^│\s+\d+ │\s+([\d:.]+) │", waves, re.M)
    assert len(starts) >= 5 and len(set(starts)) == len(starts), starts
    assert sum(s.startswith("0:00:00.") for s in starts) >= 3, starts
