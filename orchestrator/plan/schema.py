"""Typed, path-aware reading of parsed YAML: every problem becomes an :class:`Issue` naming the
exact path, and reading goes on so that all problems are reported at once."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from orchestrator.plan.errors import Issue

IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_MISSING = object()


def kind_of(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "nothing"
    return names.get(type(value), f"a {type(value).__name__}")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class Reader:
    """Collects issues while reading values out of mappings."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def error(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message, "warning"))

    def mapping(self, value: Any, path: str, allowed: Iterable[str],
                required: Iterable[str] = (), nullable: bool = False) -> dict | None:
        """Check ``value`` is a mapping with only ``allowed`` keys and every ``required`` key
        (a key set to nothing counts as missing). ``nullable``: ``None`` was already reported
        (as a missing required key) and is passed over silently."""
        if value is None and nullable:
            return None
        if not isinstance(value, dict):
            self.error(path, f"expected a mapping, got {kind_of(value)}")
            return None
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                hint = did_you_mean(str(key), allowed)
                self.error(join(path, str(key)), f"unknown key{hint}")
        for key in required:
            if value.get(key) is None:
                self.error(join(path, key), "required")
        return value

    def items(self, value: Any, path: str) -> list:
        """A list (``None`` counts as empty)."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {kind_of(value)}")
            return []
        return value

    def string(self, data: dict, key: str, path: str, default: Any = _MISSING) -> Any:
        value = data.get(key, default)
        if value is _MISSING:
            return None  # already reported as required by mapping()
        if value is default:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str) or not value.strip():
            got = "an empty string" if isinstance(value, str) else kind_of(value)
            self.error(join(path, key), f"expected a non-empty string, got {got}")
            return default if default is not _MISSING else None
        return value

    def identifier(self, data: dict, key: str, path: str) -> str | None:
        """A name that becomes part of file paths (a plan's state directory): letters, digits,
        ``.``, ``_`` and ``-``, starting with a letter or digit, at most 64 characters."""
        value = self.string(data, key, path)
        if value is not None and not IDENTIFIER.fullmatch(value):
            self.error(join(path, key), f"{value!r} is not a valid name: use 1-64 letters, "
                                        "digits, '.', '_' or '-', starting with a letter or "
                                        "digit")
            return None
        return value

    def number(self, data: dict, key: str, path: str, default: Any,
               lo: float | None = None, hi: float | None = None, integer: bool = False) -> Any:
        value = data.get(key, default)
        if value is default:
            return value
        ok_type = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, ok_type):
            want = "an integer" if integer else "a number"
            self.error(join(path, key), f"expected {want}, got {kind_of(value)}")
            return default
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            span = f"{lo} to {hi}" if hi is not None else f">= {lo}"
            self.error(join(path, key), f"must be {span}, got {value}")
            return default
        return value

    def boolean(self, data: dict, key: str, path: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.error(join(path, key), f"expected true or false, got {kind_of(value)}")
            return default
        return value

    def choice(self, data: dict, key: str, path: str, choices: tuple[str, ...],
               default: str) -> str:
        value = data.get(key, default)
        if value not in choices:
            hint = did_you_mean(str(value), choices)
            self.error(join(path, key), f"must be one of {', '.join(choices)}, got "
                                        f"'{value}'{hint}")
            return default
        return value

    def strings(self, data: dict, key: str, path: str) -> tuple[str, ...]:
        """A list of strings; a single string is accepted as a one-item list."""
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.error(join(path, key), f"expected a list of strings, got {kind_of(value)}")
            return ()
        return tuple(value)

    def string_map(self, data: dict, key: str, path: str) -> dict[str, str]:
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(join(path, key), f"expected a mapping, got {kind_of(value)}")
            return {}
        out = {}
        for k, v in value.items():
            if not isinstance(v, (str, int)) or isinstance(v, bool):
                self.error(join(join(path, key), str(k)), f"expected a string, got {kind_of(v)}")
                continue
            out[str(k)] = str(v)
        return out
