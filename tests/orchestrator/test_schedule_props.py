"""Property tests of the dry-run scheduler on random plans (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.plan.generate import generate_dict
from orchestrator.plan.parse import parse_plan
from orchestrator.plan.schema import Reader
from orchestrator.plan.validate import check
from orchestrator.schedule import dry_run
from tests.orchestrator.test_dryrun import max_concurrency


@st.composite
def plans(draw):
    n = draw(st.integers(1, 30))
    data = generate_dict(n, seed=draw(st.integers(0, 1000)))
    hosts = draw(st.integers(1, 4))
    for i, vm in enumerate(data["vms"]):
        vm["priority"] = draw(st.integers(1, 5))
        vm["host"] = f"h{i % hosts}"
        vm.pop("depends_on", None)
        if i and draw(st.booleans()):
            vm["depends_on"] = [data["vms"][draw(st.integers(0, i - 1))]["name"]]
    data["options"]["concurrency"] = {"per_site": draw(st.integers(1, 6)),
                                      "per_host": draw(st.integers(1, 3))}
    reader = Reader()
    plan = parse_plan(data, reader)
    check(plan, reader)
    assert not [i for i in reader.issues if i.severity == "error"], reader.issues
    return plan


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans(), st.sampled_from(["test", "planned", "cleanup", "failback"]))
def test_schedule_respects_dependencies_and_limits(plan, workflow):
    result = dry_run(plan, workflow)
    graph, slot = result.graph, {s.step.id: s for s in result.slots}
    ready: dict[str, float] = {}
    for node in graph.graph["order"]:
        allowed = max((ready[p] for p in graph.predecessors(node)), default=0.0)
        if node in slot:
            assert slot[node].start >= allowed - 1e-9, node
            ready[node] = slot[node].end
        else:  # a phase barrier: passes as soon as its prerequisites are done
            ready[node] = allowed
    opts = plan.options
    assert max(max_concurrency(result.slots, lambda s: s.site).values()) <= opts.per_site
    assert max(max_concurrency(result.slots, lambda s: s.host).values() or [0]) \
        <= opts.per_host
    total = sum(s.end - s.start for s in result.slots)
    assert result.critical_seconds - 1e-9 <= result.predicted_rto <= total + 1e-9
