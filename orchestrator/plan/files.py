"""Reading the files a plan is made of (the plan, a vars file, an inventory snapshot).

A file that is not UTF-8 text is a :class:`~orchestrator.plan.errors.PlanError` naming the file
and the first bad byte; any other failure to read is the ``OSError`` itself (it names the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from orchestrator.plan.errors import PlanError


def read_text(path: str | Path) -> str:
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                        f"{exc.start})") from None


def read_yaml(path: str | Path, loader: Any = yaml.SafeLoader) -> Any:
    """A YAML (or JSON) document; a syntax error names the file, line and column."""
    try:
        return yaml.load(read_text(path), Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PlanError(f"{path}{where}: not valid YAML/JSON: {problem}") from None
