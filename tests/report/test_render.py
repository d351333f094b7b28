"""Pure pieces of the reports: markdown escaping, code spans, mermaid text, durations,
redaction."""

from __future__ import annotations

from orchestrator.report.redact import MASK, Redactor, env_names_in, mask_vars
from orchestrator.report.render import clock, code, md_escape, mermaid_text, render, secs
from orchestrator.report.runreport import iso_duration


def test_md_escape_neutralises_markup_tables_and_lists():
    assert md_escape("a|b *c* _d_ [e](f) <g> `h`") == \
        r"a\|b \*c\* \_d\_ \[e\](f) \<g\> \`h\`"
    assert md_escape("line\nbreak & more") == "line break &amp; more"
    assert md_escape("- not a list") == r"\- not a list"
    assert md_escape("12. not a list") == r"12\. not a list"
    assert md_escape("version 1.2") == "version 1.2"


def test_code_span_survives_backticks():
    assert code("ls -l") == "`ls -l`"
    assert code("echo `date`") == "`` echo `date` ``"  # CommonMark strips one space a side
    assert code("a ``b`` c") == "```a ``b`` c```"


def test_mermaid_titles_and_durations():
    assert mermaid_text("post-callout:db1:0; #x") == "post-callout db1 0 x"
    assert clock(3725.4) == "1:02:05" and clock(None) == "-"
    assert secs(0.024) == "24 ms" and secs(4.5) == "4.50 s" and secs(75) == "0:01:15"
    assert iso_duration(3725.5) == "PT1H2M5.5S" and iso_duration(0) == "PT0S"


def test_redactor_hides_referenced_and_secret_looking_values_only():
    env = {"DB_URL": "postgres://u:pw@db", "API_TOKEN": "tok-123456", "HOME": "/root",
           "SHORT_KEY": "ab"}
    redact = Redactor(env_names_in("x: {{ env.DB_URL }} y: {{ env['NONE'] }}"), env)
    assert redact("a postgres://u:pw@db b tok-123456 /root ab") == \
        "a ${DB_URL} b ${API_TOKEN} /root ab"
    assert redact.deep({"k": ["tok-123456", 3]}) == {"k": ["${API_TOKEN}", 3]}
    assert mask_vars({"subnet": "10.0.0", "db_password": "x"}) == \
        {"db_password": MASK, "subnet": "10.0.0"}


def test_html_templates_autoescape_and_markdown_templates_escape():
    context = {"run": "<r>", "workflow": "test", "plan_name": None, "status": "ok",
               "plan": "p", "started": "s", "ended": None, "finished": True,
               "measured_rto_seconds": 1.0, "elapsed_seconds": 1.0, "rto_not_measured": None,
               "predicted": {"available": False, "reason": "<x>"},
               "rto_delta_seconds": None, "counts": {}, "vars": {}, "history": [],
               "generated_at": "now", "errors": [], "warnings": ["<b>w</b>"], "vms": [],
               "timeline": {"bars": [], "ticks": [], "step": 1.0}, "steps": []}
    html = render("report", "html", context)
    assert "&lt;b&gt;w&lt;/b&gt;" in html and "<b>w</b>" not in html
    md = render("report", "md", context)
    assert r"- \<b\>w\</b\>" in md and "# Run \\<r\\>: test" in md
