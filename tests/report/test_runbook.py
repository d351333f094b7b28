"""``drkit runbook``: the sample plan in md and html, escaping, secrets, live inventory."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from orchestrator.cli import main
from orchestrator.plan.load import load_plan
from orchestrator.ports.inventory import AdapterInventory
from orchestrator.report.build import build_runbook
from orchestrator.report.runbook import runbook_context
from orchestrator.vsphere.adapter import DatastoreInfo, HostInfo, Inventory, VmInfo
from tests.report.wellformed import check_html

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "plans" / "sample-app.yaml"
VMS = ("db1", "app1", "app2")
CALLOUTS = ("sh -c 'echo db up'", "sh -c 'echo app1 starting'",
            "Log in to app2 and confirm the order page loads")


def drkit(*args: str, env: dict | None = None):
    """The real CLI root; no past runs, so step timings are the defaults."""
    return CliRunner().invoke(main, list(args),
                              env={"DRKIT_RUNS_DIR": "/nonexistent/drkit-runs", **(env or {})})


def section(text: str, start: str, end: str) -> str:
    return text[text.index(start):text.index(end, text.index(start))]


def test_md_runbook_names_every_vm_callout_ip_and_workflow():
    text = build_runbook(SAMPLE, {}, "md")
    for vm in VMS:
        assert f"| {vm} | app-pg |" in text
    for call in CALLOUTS:
        assert f"`{call}`" in text
    assert "VM Network: 10.20.30.10/24, gateway 10.20.30.1, DNS 10.20.30.2" in text
    for title in ("Test recovery", "Clean up after a test", "Planned migration",
                  "Disaster recovery", "Reprotect", "Failback"):
        assert f"## {title} (`" in text
    assert "`administrator@vsphere.local@env:DRKIT_VC_A_PASSWORD`" in text
    before = section(text, "## Before you start", "## Sites")
    assert "- [ ] test networks are isolated from production: Test Bubble" in before
    assert "room for at least 4 vCPUs and 8192 MB" in before


def test_md_vm_table_and_power_on_follow_priorities():
    text = build_runbook(SAMPLE, {}, "md", ["test"])
    table = section(text, "## Virtual machines", "## Custom steps")
    rows = re.findall(r"^\| (\d) \| (\w+) \|", table, re.M)
    assert rows == [("1", "db1"), ("2", "app1"), ("2", "app2")]
    wf = text[text.index("## Test recovery"):]
    assert wf.index("### 5. Power on VMs: priority 1") < wf.index("Power on VMs: priority 2")
    assert wf.index("(`power-on:db1`") < wf.index("(`power-on:app1`")
    assert wf.index("(`register:db1`") < wf.index("(`power-on:db1`")
    assert "network VM Network → Test Bubble" in wf  # test networks in a test recovery


def test_md_waves_rto_and_step_details():
    plan = load_plan(SAMPLE, environ={})
    context = runbook_context(plan, ["planned"])
    wf = context["workflows"][0]
    text = build_runbook(SAMPLE, {}, "md", ["planned"])
    assert f"Predicted RTO **{_clock(wf['predicted_rto'])}**" in text
    for wave in wf["waves"]:
        assert f"| {wave['index']} | T+{_clock(wave['start'])} | {wave['count']} |" in text
    assert "| 1 | T+0:01:00 | 2 | shutdown-vm x2 |" in text  # app1 and app2 in parallel
    steps = [s for ph in wf["phases"] for s in ph["steps"]]
    assert [s["n"] for s in steps] == sorted(s["n"] for s in steps)
    assert len(steps) == wf["step_count"] == text.count("- [ ] **")
    titles = [ph["title"] for ph in wf["phases"]]
    assert titles.index("Pre-synchronize storage") < titles.index("Synchronize storage") < \
        titles.index("Power on VMs: priority 2")
    assert "after: wait-tools:db1" in text.replace("\\", "")  # callout after its VM's Tools


def test_html_runbook_is_well_formed_and_complete():
    html = build_runbook(SAMPLE, {}, "html", ["test", "planned"])
    text = check_html(html)
    for vm in VMS:
        assert f'id="vm-{vm}"' in html
    for call in CALLOUTS:
        assert call in text
    assert html.count('<li value="') == 16 + 25  # one checklist item per step
    assert 'href="#test-power-on-db1"' in html and 'id="test-power-on-db1"' in html


def test_everything_is_escaped_and_env_values_never_appear(tmp_path):
    plan = SAMPLE.read_text().replace(
        "description: Database plus", "description: <script>alert(1)</script> *bold* | pipe")
    plan = plan.replace("sh -c 'echo db up'", "sh -c 'echo {{ env.DB_SECRET_KEY }}'")
    path = tmp_path / "p.yaml"
    path.write_text(plan)
    env = {"DB_SECRET_KEY": "s3cr3t-value-42"}
    result = drkit("runbook", str(path), "--format", "html", env=env)
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value-42" not in result.output and "${DB_SECRET_KEY}" in result.output
    assert "<script>" not in result.output and "&lt;script&gt;alert(1)" in result.output
    md = drkit("runbook", str(path), "--format", "md", "--mode", "test", env=env).output
    assert "s3cr3t-value-42" not in md
    assert r"\<script\>alert(1)\</script\> \*bold\* \| pipe" in md


def test_cli_vars_output_file_and_modes(tmp_path):
    out = tmp_path / "rb.md"
    result = drkit("runbook", str(SAMPLE), "--var", "subnet=10.9.8", "--mode", "planned",
                   "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "10.9.8.21/24" in text and "10.20.30" not in text
    assert "## Planned migration" in text and "## Test recovery" not in text
    assert "`subnet` = `10.9.8`" in text


def test_live_inventory_shows_facts_and_drift(tmp_path):
    inv = {"protected": {"vms": {"db1": {"networks": ["VM Network"], "datastores": ["ds-app"],
                                         "cluster": "cluster-a"}},
                         "networks": ["VM Network"], "datastores": ["ds-app"],
                         "clusters": ["cluster-a"]},
           "recovery": {"networks": ["DR Network", "Test Bubble"], "datastores": ["ph-app"],
                        "clusters": ["cluster-b"]}}
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(inv))
    result = drkit("runbook", str(SAMPLE), "--inventory", str(path), "--format", "html",
                   "--mode", "test")
    assert result.exit_code == 0, result.output
    text = check_html(result.output)
    assert "VM 'app1' not found at the protected site" in text
    assert "cluster cluster-a; networks VM Network; datastores ds-app" in text


def test_invalid_plan_exits_1_with_its_issues():
    result = drkit("runbook", str(ROOT / "plans" / "invalid" / "unknown-dependency.yaml"))
    assert result.exit_code == 1 and "unknown VM" in result.output


def _clock(seconds: float) -> str:
    total = round(seconds)
    return f"{total // 3600}:{total % 3600 // 60:02d}:{total % 60:02d}"


class Snapshot:
    """A vSphere adapter's answer to ``inventory()`` (orchestrator.vsphere.adapter records)."""

    def __init__(self, cluster: str, networks: tuple[str, ...], datastores: tuple[str, ...],
                 vms: tuple[str, ...] = ()) -> None:
        host = HostInfo("esx-01", "dc", cluster, True, (), datastores)
        self.snapshot = Inventory(
            ("dc",), (cluster,), (host,),
            tuple(VmInfo(vm, "esx-01", "poweredOn", True, "green", None, None, None,
                         datastores, networks[:1]) for vm in vms),
            tuple(DatastoreInfo(d, f"ds:///{d}/", "VMFS", ("esx-01",)) for d in datastores),
            networks)

    def inventory(self) -> Inventory:
        return self.snapshot


def test_runbook_from_a_vsphere_adapter_inventory():
    live = AdapterInventory({
        "protected": Snapshot("cluster-a", ("VM Network",), ("ds-app",), VMS),
        "recovery": Snapshot("cluster-b", ("DR Network", "Test Bubble"), ("ph-app",))})
    text = build_runbook(SAMPLE, {}, "md", ["planned"], live=live)
    assert "live inventory" in text and "not found" not in text
    for vm in VMS:
        block = section(text, f"### {vm}\n", "\n###")
        assert "live: cluster cluster-a; networks VM Network; datastores ds-app" in block


def test_steps_point_only_to_phases_that_have_steps():
    context = runbook_context(load_plan(SAMPLE, environ={}))
    for wf in context["workflows"]:
        sections = {ph["name"] for ph in wf["phases"]}
        steps = [s for ph in wf["phases"] for s in ph["steps"]]
        pointed = [s["after_phase"] for s in steps if s["after_phase"]]
        assert pointed and all(p["name"] in sections for p in pointed), wf["name"]
    cleanup = next(wf for wf in context["workflows"] if wf["name"] == "cleanup")
    first = cleanup["phases"][0]["steps"][0]
    assert first["id"] == "power-off:app1" and first["after_phase"] is None  # nothing before
    md = build_runbook(SAMPLE, {}, "md")
    assert "after: Start" not in md and "Power off test VMs: priority 3" not in md


def test_sub_second_waves_read_apart_and_each_workflow_has_a_timeline(tmp_path):
    from tests.orchestrator.labsite import Lab
    from tests.report.runs import lab_run, steady_timings

    runs = steady_timings(lab_run(tmp_path, Lab()))  # 5 ms a step, however loaded
    text = build_runbook(SAMPLE, {}, "md", ["test"], runs_dir=runs)
    starts = re.findall(r"^\| \d+ \| (T\+[\d:.]+) \|", text, re.M)
    assert len(set(starts)) == len(starts), starts
    assert len([s for s in starts if s.startswith("T+0:00:00.")]) >= 3, starts
    assert "```mermaid\ngantt\n    title test predicted" in text
    assert ":crit, 2000-01-01 00:00:00.000, " in text
    html = build_runbook(SAMPLE, {}, "html", ["test"])
    assert html.count('class="bar critical"') == len(
        runbook_context(load_plan(SAMPLE, environ={}), ["test"])["workflows"][0]["critical_path"])
    assert html.count('class="tick') >= 3


def test_sites_table_has_one_column_per_site():
    text = build_runbook(SAMPLE, {}, "md", ["test"])
    sites = section(text, "## Sites", "Credentials are references")
    assert "| | protected site site-a | recovery site site-b |" in sites
    assert "| vCenter credentials | `administrator@vsphere.local@env:DRKIT_VC_A_PASSWORD` |" in \
        sites
