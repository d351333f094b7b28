"""Whatever YAML a plan holds, loading reports issues and never crashes (hypothesis)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.plan.load import render
from orchestrator.plan.parse import parse_plan
from orchestrator.plan.schema import Reader
from orchestrator.plan.validate import check

SAMPLE = (Path(__file__).resolve().parents[2] / "plans" / "sample-app.yaml").read_text()
BASE = yaml.safe_load(render(SAMPLE, {}, environ={}))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 10), st.floats(allow_nan=False),
                    st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def paths(data, prefix=()):
    """Every (path, value) inside ``data``."""
    yield prefix, data
    items = data.items() if isinstance(data, dict) else (
        enumerate(data) if isinstance(data, list) else ())
    for key, value in items:
        yield from paths(value, (*prefix, key))


ALL_PATHS = [p for p, _ in paths(BASE) if p]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL_PATHS), values)
def test_replacing_any_value_yields_issues_not_exceptions(path, value):
    data = copy.deepcopy(BASE)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    reader = Reader()
    plan = parse_plan(data, reader)
    if plan is not None:
        check(plan, reader)
    assert all(i.message for i in reader.issues)


@settings(max_examples=100, deadline=None)
@given(values)
def test_any_document_yields_issues_not_exceptions(document):
    reader = Reader()
    plan = parse_plan(document, reader)
    if plan is not None:
        check(plan, reader)
    assert reader.issues  # a random document is never a valid plan
