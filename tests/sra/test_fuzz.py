"""Fuzz the in-process XML entry point: whatever the bytes, no exception escapes, the answer is
well-formed XML in the SRA namespace, and a Response is always produced.

(StatusFile/LogDirectory are left out of the generated elements: the SRA would honour them and
write files wherever the fuzzer pointed.)"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sra.dispatch import respond
from sra.registry import VERBS
from sra.xmlio import NS

NAMES = [*sorted(VERBS), "", "bogus", "queryStrings "]
TAGS = ["Name", "OutputFile", "LogLevel", "Connections", "Connection",
        "Password", "Addresses", "ArrayId", "PeerArrayId", "Locale", "QueryStringsParameters",
        "AccessGroups",
        "AccessGroup", "Initiator", "TargetDevices", "TargetDevice", "SourceDevices", "X"]


def _check(raw: bytes) -> None:
    outcome = respond(raw)
    root = ET.fromstring(outcome.body)
    assert root.tag == f"{{{NS}}}Response"
    assert b"Traceback" not in outcome.body
    assert outcome.exit_code in (0, 2)
    assert (outcome.exit_code == 0) == bool(outcome.output_file)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes(raw: bytes) -> None:
    _check(raw)


element = st.recursive(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20).map(
        lambda t: t.replace("&", "&amp;").replace("<", "&lt;")),
    lambda inner: st.tuples(st.sampled_from(TAGS), st.lists(inner, max_size=3)).map(
        lambda t: f"<{t[0]} id=\"a b\">{''.join(t[1])}</{t[0]}>"),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(NAMES), st.lists(element, max_size=4), st.booleans())
def test_structured_commands(name: str, body: list[str], with_output: bool) -> None:
    output = "<OutputFile>C:\\out file</OutputFile>" if with_output else ""
    raw = f'<Command xmlns="{NS}"><Name>{name}</Name>{output}{"".join(body)}</Command>'
    _check(raw.encode())
