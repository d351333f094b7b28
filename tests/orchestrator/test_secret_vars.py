"""Secret template variables never reach a run's journal or its report; resume asks for them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DRKIT = [sys.executable, "-c", "from orchestrator.cli import main; main()"]
SECRET = "s3cr3t-Pa55word"


def write_plan(tmp: Path) -> Path:
    site = """    name: {0}
    vcenter: {{url: "http://127.0.0.1:1/sdk", credentials: {{env: VC}}}}
    sra: {{command: "true", connection: {{addresses: {{a: x}}, credentials: {{env: T}}}}}}"""
    step = ('  - {name: leak, type: command, after: start, workflows: [planned], command: '
            '"sh -c \'echo using {{ db_password }} for {{ owner }} >&2; exit 3\'"}')
    text = "\n".join(["name: secret-test", "sites:", "  protected:", site.format("a"),
                      "  recovery:", site.format("b"), "vms: []", "steps:", step]) + "\n"
    (tmp / "plan.yaml").write_text(text)
    return tmp / "plan.yaml"


def drkit(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "DRKIT_RUNS_DIR": str(tmp / "runs"),
           "DRKIT_STATE_DIR": str(tmp / "state"), "HOME": str(tmp)}
    return subprocess.run([*DRKIT, *args], cwd=tmp, env=env, capture_output=True, text=True,
                          timeout=120)


def test_secret_variable_values_stay_out_of_journal_and_report(tmp_path: Path):
    plan = write_plan(tmp_path)
    proc = drkit(tmp_path, "run", str(plan), "--mode", "planned", "--var",
                 f"db_password={SECRET}", "--var", "owner=alice")
    assert proc.returncode == 1, proc.stderr
    journal = next((tmp_path / "runs").glob("*/journal.jsonl"))
    text = journal.read_text()
    assert SECRET not in text
    assert '"secret_vars":["db_password"]' in text and '"owner":"alice"' in text
    assert "using ******** for alice" in text  # the echoed value is masked, the rest kept
    run_id = journal.parent.name
    for fmt in ("html", "md", "json"):
        report = drkit(tmp_path, "runs", "report", run_id, "--format", fmt)
        assert report.returncode == 0, report.stderr
        assert SECRET not in report.stdout and "alice" in report.stdout


def test_resume_asks_for_the_secret_variables_again(tmp_path: Path):
    plan = write_plan(tmp_path)
    drkit(tmp_path, "run", str(plan), "--mode", "planned", "--var", f"db_password={SECRET}",
          "--var", "owner=bob")
    run_id = next((tmp_path / "runs").glob("*/journal.jsonl")).parent.name
    refused = drkit(tmp_path, "runs", "resume", run_id)
    assert refused.returncode == 2
    assert "give them again with --var (db_password)" in refused.stderr
    again = drkit(tmp_path, "runs", "resume", run_id, "--var", f"db_password={SECRET}")
    assert again.returncode == 1  # the step fails again, with the right value...
    assert SECRET not in (tmp_path / "runs" / run_id / "journal.jsonl").read_text()
