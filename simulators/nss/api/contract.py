"""docs/NSS-API.md's operation table, generated from the OpenAPI document.

The document's prose is written by hand; the section between the two markers is this module's
output and a test keeps it equal to what the running appliance publishes. Regenerate with::

    python -m simulators.nss.api.contract docs/NSS-API.md
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

BEGIN = "<!-- BEGIN GENERATED from /openapi.json: python -m simulators.nss.api.contract -->"
END = "<!-- END GENERATED -->"
METHODS = ("get", "post", "put", "patch", "delete")


def render(spec: dict[str, Any]) -> str:
    """The generated section: one row per operation, then the error statuses."""
    rows = ["| Method & path | Answer | Errors | What it does |", "|---|---|---|---|"]
    for path, operations in spec["paths"].items():
        for method in METHODS:
            if method in operations:
                rows.append(_row(method, path, operations[method]))
    return "\n".join([BEGIN, "", *rows, "", END])


def _row(method: str, path: str, op: dict[str, Any]) -> str:
    success = [s for s in op["responses"] if s.startswith("2")]
    errors = [s for s in op["responses"] if s[0] in "45"]
    answer = ", ".join(f"{s} {_schema_name(op['responses'][s])}".strip() for s in success)
    what = (op.get("description") or op.get("summary") or "").strip().splitlines()[0]
    return f"| `{method.upper()} {path}` | {answer} | {' '.join(errors)} | {what} |"


def _schema_name(answer: dict[str, Any]) -> str:
    content = answer.get("content") or {}
    if "application/octet-stream" in content:
        return "bytes"
    if "text/plain" in content:
        return "text"
    schema = content.get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    return f"`{ref.rsplit('/', 1)[-1]}`" if ref else ""


def splice(document: str, section: str) -> str:
    """``document`` with its generated section replaced by ``section``."""
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + section + tail


def current_spec() -> dict[str, Any]:
    """The OpenAPI document of a throw-away appliance (same code, same document)."""
    from ..appliance import Appliance
    from . import create_app

    with tempfile.TemporaryDirectory() as tmp:
        appliance = Appliance(Path(tmp) / "spec", "spec", seal_key=Path(tmp) / "spec.key")
        try:
            return create_app(appliance, "unused").openapi()
        finally:
            appliance.close()


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path("docs/NSS-API.md")
    target.write_text(splice(target.read_text(), render(current_spec())))
    print(f"rewrote the generated section of {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
