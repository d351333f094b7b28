"""Pure pieces of the reports: markdown escaping, code spans, mermaid text, durations,
redaction."""

from __future__ import annotations

from orchestrator.report.redact import MASK, Redactor, env_names_in, mask_vars
from orchestrator.report.render import clock, code, md_escape, mermaid_text, render, secs
from orchestrator.report.runreport import iso_duration
from orchestrator.report.timeline import axis, decimals, place


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


def test_offsets_keep_sub_second_waves_apart():
    assert clock(0.0123, 3) == "0:00:00.012" and clock(3725.4, 1) == "1:02:05.4"
    assert clock(59.9996, 3) == "0:01:00.000"  # rounding carries into the minutes
    assert decimals([0, 60, 125]) == 0 and decimals([0, 0.4, 60]) == 1
    assert decimals([0, 0.012, 0.016, 10.016]) == 2 and decimals([0, 0.012, 0.014]) == 3
    assert decimals([0, 0.0001]) == 3  # at most milliseconds


def test_time_axis_has_round_ticks_up_to_a_scale_past_the_span():
    short = axis(0.085)
    assert short["step"] == 0.02 and short["scale"] == 0.1
    assert [t["label"] for t in short["ticks"]] == ["0 ms", "20 ms", "40 ms", "60 ms", "80 ms",
                                                    "100 ms"]
    long = axis(405)
    assert long["step"] == 60 and long["scale"] == 420 and long["ticks"][-1]["label"] == "0:07:00"
    assert axis(30)["ticks"][1]["label"] == "5 s" and axis(None)["scale"] == 1.0
    assert all(len(axis(s)["ticks"]) - 1 <= 8 for s in (0.001, 0.7, 9, 61, 3599, 86400))
    assert place(0.1, 0.0, 0.1) == {"left": 99.7, "width": 0.3}  # a sliver, never past the end
