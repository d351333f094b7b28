"""PlanLoader gives exactly what PyYAML's safe loader gives: the same data (types, key order,
aliasing) or the same error, marks included (hypothesis for the random part)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator.plan.errors import PlanRenderError
from orchestrator.plan.generate import generate_yaml
from orchestrator.plan.load import is_template, render
from orchestrator.plan.yamlload import PlanLoader

SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_OR_VALUE = ("tag:yaml.org,2002:merge", "tag:yaml.org,2002:value")
PLANS = Path(__file__).resolve().parents[2] / "plans"


def same(a, b, partners=None) -> bool:
    """Equal, of the same types all the way down, aliased (and recursive) alike."""
    partners = {} if partners is None else partners
    if type(a) is not type(b):
        return False
    if isinstance(a, (dict, list)):
        if id(a) in partners:
            return partners[id(a)] is b
        partners[id(a)] = b
    if isinstance(a, dict):
        return (list(map(type, a)) == list(map(type, b)) and list(a) == list(b)
                and all(same(a[k], b[k], partners) for k in a))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y, partners) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def outcome(text: str, loader: type):
    try:
        return "ok", yaml.load(text, Loader=loader)
    except Exception as exc:  # the error itself is compared
        return "error", type(exc), str(exc)


def has_duplicate_key(text: str) -> bool:
    """Some mapping in the text gives one key twice (as Python compares the keys PyYAML
    builds), merge and value keys aside: found from PyYAML's node tree, not by PlanLoader."""
    pending, seen_nodes = [yaml.compose(text, Loader=SAFE)], set()
    constructor = yaml.SafeLoader("")  # PyYAML's own, to build each key
    while pending:
        node = pending.pop()
        if node is None or id(node) in seen_nodes or isinstance(node, yaml.ScalarNode):
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            pending.extend(node.value)
            continue
        keys = [constructor.construct_object(k) for k, _ in node.value
                if isinstance(k, yaml.ScalarNode) and k.tag not in MERGE_OR_VALUE]
        if len(keys) != len(set(keys)):
            return True
        pending.extend(value for _, value in node.value)
    return False


def assert_like_pyyaml(text: str) -> None:
    mine, theirs = outcome(text, PlanLoader), outcome(text, SAFE)
    if theirs[0] == "ok" and mine[0] == "error" and "duplicate key" in mine[2]:
        assert has_duplicate_key(text), (text, mine)  # the one intended difference
        return
    if theirs[0] == "ok":
        assert mine[0] == "ok" and same(mine[1], theirs[1]) and same(theirs[1], mine[1]), text
    else:
        assert mine == theirs, text


EDGE_CASES = [
    "", "~", "a", "- a\n- b\n", "a: 1\nb: [1, 2]\n", "'a': 1\n1: a\n",
    "[yes, no, on, off, Y, n, True, FALSE]", "[~, null, Null, , '']",
    "[0x1F, 017, 0b101, 1_000, 1:30, -1:30, +5, -0, 0o17]",
    "[.inf, -.inf, .nan, 1e3, 1.0e+3, 3.14, 1_0.5, 190:20:30.15]",
    "[2001-12-14, 2001-12-14t21:59:43.10-05:00, !!timestamp 2002-01-01]",
    "base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3\n", "a: {<<: [{b: 1}, {c: 2}], d: 3}",
    "<<: 1\n", "a: &a [1, 2]\nb: *a\n", "a: &a x\nb: *a\n", "&r [*r]", "&m {a: *m}",
    "=: 1\n", "a: =\n", "!!str 1", "!!int '3'", "!!float 1", "!!binary aGVsbG8=",
    "!!set {a, b}", "!!omap [a: 1, b: 2]", "!!pairs [a: 1]", "!custom x", "!!map [1]",
    "!!str [1]", "!!bool maybe", "!!int 1.5", "? [a, b]\n: c\n", "{[1]: 2}", "? !!binary aGk=\n: 1",
    "a: b: c", "a:\n\t- b", "--- a\n--- b\n", "%YAML 1.1\n--- 1",
    "? |\n  block\n: >\n  folded\n  text\n", "é: ü\n", "!!python/name:os.system x",
    "[" * 1500 + "]" * 1500, "{a: " * 1200 + "1" + "}" * 1200,
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_load_as_pyyaml_loads_them(text):
    assert_like_pyyaml(text)


@pytest.mark.parametrize(("text", "key"), [
    ("{a: 1, a: 2}", "'a'"), ("name: x\nvms: []\nname: y\n", "'name'"),
    ("{1: a, 1.0: b, true: c}", "1.0"), ("base: &b {x: 1}\nd: {<<: *b, y: 1, y: 2}\n", "'y'"),
    ("-: -1000000\n-: -1000000\n", "'-'"),  # found by the random test below
])
def test_a_key_given_twice_is_an_error_where_pyyaml_keeps_the_last(text, key):
    """The one place drkit's loader differs from PyYAML's: a duplicate key loses data."""
    with pytest.raises(yaml.YAMLError, match=f"duplicate key {key}"):
        yaml.load(text, Loader=PlanLoader)
    assert outcome(text, SAFE)[0] == "ok"
    assert has_duplicate_key(text)


@pytest.mark.parametrize("text", EDGE_CASES)
def test_the_duplicate_key_oracle_finds_none_in_documents_pyyaml_loads(text):
    if outcome(text, SAFE)[0] == "ok":
        assert not has_duplicate_key(text)


@pytest.mark.parametrize("path", sorted(PLANS.rglob("*.yaml")), ids=lambda p: p.name)
def test_plans_load_as_pyyaml_loads_them(path):
    try:
        text = render(path.read_text(), {}, environ={})
    except PlanRenderError:
        text = path.read_text()
    assert_like_pyyaml(text)


def test_generated_plan_loads_as_pyyaml_loads_it():
    assert_like_pyyaml(generate_yaml(300, seed=3))


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                    st.sampled_from(["yes", "No", "~", "=", "<<", "1:30", "0x1f", "017",
                                     "2001-01-01", ".nan", "1_000", ""]),
                    st.text(alphabet="ab01:-.+_ eyn~<=&*!#%'\"\\,[]{}\t\n", max_size=8))
data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(scalars, inner, max_size=4)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(data, st.sampled_from([None, True, False]), st.lists(
    st.tuples(st.integers(0, 10_000), st.sampled_from(list(":-&*!<=?[]{},'\"\n \t#|>%ab1"))),
    max_size=3))
def test_random_documents_load_as_pyyaml_loads_them(value, flow, edits):
    text = yaml.dump(value, Dumper=yaml.SafeDumper, default_flow_style=flow, width=40)
    for at, char in edits:  # some become invalid: then the errors must match
        at %= len(text) + 1
        text = text[:at] + char + text[at:]
    assert_like_pyyaml(text)


@pytest.mark.parametrize("text", ["a: 1\n", "a}}b %} #}\n", "{ a: {b: 1} }\n", "x", ""])
def test_text_without_jinja_marks_renders_unchanged_without_jinja(text):
    import jinja2

    assert not is_template(text)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    assert render(text, {}, environ={}) == env.from_string(text).render() == text


@pytest.mark.parametrize("text", ["a: {{ x }}\n", "{% if 1 %}a{% endif %}", "{# c #}", "a\r\n"])
def test_templates_and_carriage_returns_go_through_jinja(text):
    assert is_template(text)
