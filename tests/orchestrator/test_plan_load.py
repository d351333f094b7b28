"""Plan loading: Jinja2 rendering, YAML parsing into frozen records, golden invalid plans."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator.plan.errors import PlanInvalid, PlanRenderError
from orchestrator.plan.load import check_text, load_plan, parse_vars, read_vars_file
from tests.orchestrator.golden import INVALID, messages

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "plans" / "sample-app.yaml"


def test_sample_plan_loads_into_frozen_records():
    plan = load_plan(SAMPLE, environ={})
    assert [vm.name for vm in plan.vms] == ["db1", "app1", "app2"]
    db1 = plan.vm_by_name["db1"]
    assert db1.priority == 1 and db1.ip[0].ip == "10.20.30.10" and db1.ip[0].prefix == 24
    assert plan.vm_by_name["app1"].depends_on == ("db1",)
    assert plan.vm_by_name["app2"].post_power_on[0].kind == "prompt"
    assert plan.sites["recovery"].sra.command == ("perl", "sra/command.pl")
    assert plan.sites["protected"].vcenter.credentials.env == "DRKIT_VC_A_PASSWORD"
    assert plan.protection_groups[0].kind == "datastores"
    with pytest.raises(dataclasses.FrozenInstanceError):
        db1.priority = 5  # type: ignore[misc]


def test_var_overrides_default_and_vars_file(tmp_path):
    assert load_plan(SAMPLE, {"subnet": "192.168.7"}, environ={}).vms[0].ip[0].ip == \
        "192.168.7.10"
    vars_file = tmp_path / "vars.yaml"
    vars_file.write_text("subnet: 172.16.0\n")
    assert read_vars_file(vars_file) == {"subnet": "172.16.0"}
    assert parse_vars(["a=1", "b=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(PlanRenderError, match="--var 'oops': expected KEY=VALUE"):
        parse_vars(["oops"])


def test_environment_is_under_env_and_undefined_is_strict():
    text = SAMPLE.read_text().replace("name: sample-app", "name: '{{ env.PLAN_NAME }}'")
    assert check_text(text, environ={"PLAN_NAME": "from-env"}).plan.name == "from-env"
    with pytest.raises(PlanRenderError, match="no attribute 'PLAN_NAME'"):
        check_text(text, environ={})


def test_every_error_is_collected_not_just_the_first():
    with pytest.raises(PlanInvalid) as info:
        load_plan(INVALID / "bad-values.yaml", environ={})
    assert len([i for i in info.value.issues if i.severity == "error"]) == 7
    assert "vms[0].priority: must be 1 to 5, got 7" in str(info.value)


def test_secrets_never_appear_in_messages():
    issues = messages(INVALID / "inline-password.yaml")
    assert issues and not any("hunter2" in line for line in issues)


@pytest.mark.parametrize("plan", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_plan_fails_with_golden_message(plan: Path):
    expected = plan.with_suffix(".expected").read_text().splitlines()
    assert messages(plan) == expected


def test_every_invalid_plan_has_an_expected_file():
    plans = {p.stem for p in INVALID.glob("*.yaml")}
    assert plans == {p.stem for p in INVALID.glob("*.expected")} and len(plans) >= 8
