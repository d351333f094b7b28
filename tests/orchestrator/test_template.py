"""Plan templates render in the immutable sandbox, within limits (orchestrator/plan/template.py)."""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import pytest

from orchestrator.plan.errors import PlanRenderError
from orchestrator.plan.template import render


@pytest.mark.parametrize(("text", "message"), [
    ("{{ ''.__class__.__mro__ }}", "refused by the sandbox"),
    ("{{ cycler.__init__.__globals__ }}", "refused by the sandbox"),
    ("{% set x = [] %}{{ x.append(1) }}", "refused by the sandbox"),
    ("{{ range(10**9)|list|length }}", "range() of 1,000,000,000 items"),
    ("{{ 'a' * 10**9 }}", "a value of 1,000,000,000 items"),
    ("{{ [0] * 10**8 }}", "a value of 100,000,000 items"),
    ("{{ 7 ** 100000000 }}", "a number of about"),
    ("{{ 1/0 }}", "ZeroDivisionError: division by zero"),
    ("line\n{{ nope }}", "plan.yaml:2: template variable: 'nope' is undefined"),
    ("{% for %}", "plan.yaml:1: template syntax"),
])
def test_unsafe_or_failing_templates_are_one_clear_error(text: str, message: str):
    with pytest.raises(PlanRenderError, match=r"^plan\.yaml") as info:
        render(text, {}, "plan.yaml", environ={})
    assert message in str(info.value)


def test_output_size_is_bounded():
    text = "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}"
    with pytest.raises(PlanRenderError, match="exceeds 67,108,864 characters"):
        render(text, {}, "plan.yaml", environ={})


def test_render_time_is_bounded_even_without_output():
    text = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(PlanRenderError, match=r"longer than 0\.5 s"):
        render(text, {}, "plan.yaml", environ={}, seconds=0.5)
    assert time.monotonic() - started < 5


def test_ordinary_templates_still_render():
    text = "{% for i in range(3) %}vm{{ i }} {% endfor %}{{ env.HOME }} {{ subnet }}.10"
    assert render(text, {"subnet": "10.0.0"}, environ={"HOME": "/h"}) == "vm0 vm1 vm2 /h 10.0.0.10"


def test_validate_of_a_hostile_plan_stays_small(tmp_path):
    """The plan that grew `drkit plan validate` to 23 GB is refused in bounded memory."""
    plan = tmp_path / "plan.yaml"
    plan.write_text('name: "{{ range(10**9)|list|length }}"\n')
    code = ("import resource, sys; from orchestrator.cli import main; "
            "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
            "sys.argv = ['drkit', 'plan', 'validate', sys.argv[1]]; main()")
    proc = subprocess.run([sys.executable, "-c", code, str(plan)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "template limit: range() of 1,000,000,000 items" in proc.stderr
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 1 << 21  # KiB: < 2 GiB
