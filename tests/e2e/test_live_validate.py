"""`drkit plan validate --live`: drift against the running lab (both vcsim vCenters and both
SRAs through the real SRA subprocess), not a snapshot file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from orchestrator.cli import main

SAMPLE = Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml"


def drkit(*args: str, env: dict[str, str]):
    return CliRunner().invoke(main, list(args), env=env)


def test_live_validation_passes_on_the_lab_and_names_drift(lab, tmp_path):
    ok = drkit("plan", "validate", str(lab["plan_path"]), "--live", "--json", env=lab["env"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["valid"] is True

    text = lab["plan_path"].read_text()  # a Jinja2 template: edit it as text
    text = text.replace("\nvms:\n", "\nvms:\n  - {name: ghost01, priority: 3}\n", 1)
    text = text.replace("  networks: {VM Network: VM Network}",
                        "  networks: {VM Network: no-such-network}", 1)
    text = text.replace("consistency_groups: [cg-protected]",
                        "consistency_groups: [cg-protected, cg-gone]", 1)
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(text)

    bad = drkit("plan", "validate", str(drifted), "--live", "--json", env=lab["env"])
    assert bad.exit_code == 1, bad.output
    errors = {e["path"]: e["message"] for e in json.loads(bad.output)["errors"]}
    ghost = next(p for p, m in errors.items() if "ghost01" in m)
    assert "not found at the protected site" in errors[ghost]
    assert errors["inventory.networks.VM Network"] == \
        "'no-such-network' not found at the recovery site"
    assert errors["protection_groups[0].consistency_groups"] == \
        "'cg-gone' not found at the protected site"


def test_protect_replaces_remembered_ids_that_went_stale(lab):
    """After the arrays are rebuilt, the ids remembered for a protection group name nothing:
    `drkit protect` resolves them again instead of keeping them."""
    remembered = lab["root"] / "state" / lab["plan"].name / "selections.json"
    good = json.loads(remembered.read_text())
    stale = json.loads(json.dumps(good).replace(good["app-pg"]["groups"][0], "rep-stale"))
    remembered.write_text(json.dumps(stale))
    result = drkit("protect", str(lab["plan_path"]), env=lab["env"])
    assert result.exit_code == 0, result.output
    assert json.loads(remembered.read_text()) == good


def test_live_and_inventory_are_alternatives(tmp_path):
    snap = tmp_path / "inv.yaml"
    snap.write_text("protected: {}\nrecovery: {}\n")
    for command in (["plan", "validate"], ["run", "--mode", "test", "--dry-run"]):
        result = drkit(*command, str(SAMPLE), "--live", "--inventory", str(snap), env={})
        assert result.exit_code == 2
        assert "--inventory and --live are alternatives" in result.output
