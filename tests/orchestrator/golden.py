"""Golden messages for plans/invalid/*.yaml: ``<name>.expected`` holds one issue per line."""

from __future__ import annotations

from pathlib import Path

from orchestrator.plan.errors import PlanRenderError
from orchestrator.plan.load import check_text

INVALID = Path(__file__).resolve().parents[2] / "plans" / "invalid"


def messages(path: Path) -> list[str]:
    """What validation says about ``path``, one line per issue (errors first)."""
    source = f"plans/invalid/{path.name}"
    try:
        checked = check_text(path.read_text(), {}, source, environ={})
    except PlanRenderError as exc:
        return [f"error: {exc}"]
    return [f"{i.severity}: {i}" for i in checked.errors + checked.warnings]


if __name__ == "__main__":  # regenerate: python -m tests.orchestrator.golden (then review!)
    for plan in sorted(INVALID.glob("*.yaml")):
        plan.with_suffix(".expected").write_text("\n".join(messages(plan)) + "\n")
