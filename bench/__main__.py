"""Benchmark runner.

``python -m bench``               run every module in bench/ that exposes ``main(argv)``
``python -m bench NAME [args]``   run ``bench/NAME.py``'s ``main(args)``

Modules whose name starts with ``_`` and helpers without ``main`` are skipped. The exit status is
the first non-zero status of the benchmarks run (a module that fails to import counts as 1).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

PACKAGE = "bench"


def _entry(name: str) -> Callable[[list[str]], int | None] | None:
    module = importlib.import_module(f"{PACKAGE}.{name}")
    entry = getattr(module, "main", None)
    return entry if callable(entry) else None


def names() -> list[str]:
    here = [str(Path(__file__).parent)]
    return sorted(m.name for m in pkgutil.iter_modules(here) if not m.name.startswith("_"))


def run_one(name: str, argv: list[str]) -> int:
    entry = _entry(name)
    if entry is None:
        print(f"bench: {name} has no main(argv)", file=sys.stderr)
        return 2
    return int(entry(argv) or 0)


def run_all(argv: list[str]) -> int:
    status = 0
    for name in names():
        try:
            entry = _entry(name)
            if entry is None:
                continue
            print(f"== bench {name}", file=sys.stderr)
            code = int(entry(list(argv)) or 0)
        except SystemExit as exc:  # argparse in a benchmark: keep running the others
            code = exc.code if isinstance(exc.code, int) else 1
        except Exception:
            traceback.print_exc()
            code = 1
        status = status or code
    return status


def main(argv: list[str]) -> int:
    if argv and not argv[0].startswith("-"):
        if argv[0] not in names():
            print(f"bench: no benchmark {argv[0]!r}; have {', '.join(names())}", file=sys.stderr)
            return 2
        return run_one(argv[0], argv[1:])
    return run_all(argv)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
