"""Replication policies, when the next cycle is due, and RPO states. Pure: time comes in.

A policy (``Policy.parse`` checks a JSON object and names the offending field)::

    {"mode": "manual" | "continuous" | "interval",
     "interval_s": N,         continuous: at most one cycle start every N s (default 0);
                              interval: a cycle every N s (required, > 0)
     "rpo_s": N,              the recovery-point objective in seconds (default 300)
     "bandwidth_bps": N,      bytes/s on the peer link, 0 = unlimited (default 0)
     "windows": [{"start": "HH:MM", "end": "HH:MM"}]   UTC; cycles start only inside one
                              (an end before its start wraps past midnight); [] = always}

``manual`` runs cycles only on ``POST .../sync`` (the v1 behaviour and the default). A failed
cycle is retried after ``retry_delay`` (exponential, capped), whatever the mode.

RPO: ``lag`` = now - time of the newest recovery point (or of the replication's creation before
the first one). ``ok`` below ``WARNING_SHARE`` of the objective, ``warning`` up to the objective,
``violated`` beyond it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from .errors import PolicyError

MODES = ("manual", "continuous", "interval")
WARNING_SHARE = 0.75
DEFAULT_RPO_S = 300.0
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_FIELDS = ("mode", "interval_s", "rpo_s", "bandwidth_bps", "windows")


@dataclass(frozen=True)
class Window:
    start: str
    end: str

    def contains(self, minute_of_day: int) -> bool:
        a, b = _minutes(self.start), _minutes(self.end)
        return a <= minute_of_day < b if a <= b else minute_of_day >= a or minute_of_day < b


@dataclass(frozen=True)
class Policy:
    mode: str = "manual"
    interval_s: float = 0.0
    rpo_s: float = DEFAULT_RPO_S
    bandwidth_bps: int = 0
    windows: tuple[Window, ...] = ()

    @classmethod
    def parse(cls, doc: Any, base: Policy | None = None) -> Policy:
        """``doc`` over ``base`` (a PATCH changes only the fields it names)."""
        if not isinstance(doc, dict):
            raise PolicyError("policy must be a JSON object", field="policy")
        unknown = sorted(set(doc) - set(_FIELDS))
        if unknown:
            raise PolicyError(f"policy.{unknown[0]} is not a policy field (known: "
                              f"{', '.join(_FIELDS)})", field=f"policy.{unknown[0]}")
        fields = {k: _check(k, v) for k, v in doc.items()}
        policy = replace(base or cls(), **fields)
        if policy.mode == "interval" and policy.interval_s <= 0:
            raise PolicyError("policy.interval_s must be above 0 for mode 'interval'",
                              field="policy.interval_s")
        return policy

    @classmethod
    def from_dict(cls, doc: dict[str, Any] | None) -> Policy:
        doc = doc or {}
        return cls.parse({k: v for k, v in doc.items() if k in _FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "windows": [asdict(w) for w in self.windows]}

    def in_window(self, now: datetime) -> bool:
        minute = now.hour * 60 + now.minute
        return not self.windows or any(w.contains(minute) for w in self.windows)

    def due(self, now: datetime, last_start: float | None, monotonic: float,
            retry_at: float | None) -> bool:
        """Whether a cycle should start now (``monotonic`` clock for the spacing)."""
        if self.mode == "manual" or not self.in_window(now):
            return False
        if retry_at is not None:
            return monotonic >= retry_at
        return last_start is None or monotonic - last_start >= self.interval_s


def _minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def _number(name: str, value: Any, integer: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    if not ok or (integer and not float(value).is_integer()):
        kind = "a non-negative integer" if integer else "a non-negative number"
        raise PolicyError(f"policy.{name} must be {kind}, not {value!r}", field=f"policy.{name}")
    return int(value) if integer else float(value)


def _windows(value: Any) -> tuple[Window, ...]:
    if not isinstance(value, list):
        raise PolicyError("policy.windows must be a list", field="policy.windows")
    out = []
    for i, w in enumerate(value):
        if not isinstance(w, dict) or set(w) != {"start", "end"} or \
                not all(isinstance(w[k], str) and _HHMM.match(w[k]) for k in w):
            raise PolicyError(f"policy.windows[{i}] must be {{\"start\": \"HH:MM\", \"end\": "
                              f"\"HH:MM\"}} (UTC), not {w!r}", field=f"policy.windows[{i}]")
        if w["start"] == w["end"]:
            raise PolicyError(f"policy.windows[{i}] is empty (start == end)",
                              field=f"policy.windows[{i}]")
        out.append(Window(w["start"], w["end"]))
    return tuple(out)


def _check(name: str, value: Any) -> Any:
    if name == "mode":
        if value not in MODES:
            raise PolicyError(f"policy.mode {value!r} is not one of {', '.join(MODES)}",
                              field="policy.mode")
        return value
    if name == "windows":
        return _windows(value)
    if name == "rpo_s" and _number(name, value) <= 0:
        raise PolicyError("policy.rpo_s must be above 0", field="policy.rpo_s")
    return _number(name, value, integer=name == "bandwidth_bps")


def rpo_state(lag_s: float, objective_s: float) -> str:
    if lag_s > objective_s:
        return "violated"
    return "warning" if lag_s >= WARNING_SHARE * objective_s else "ok"


def retry_delay(failures: int, cap: float = 30.0) -> float:
    """Seconds to wait after the n-th consecutive failed cycle (1, 2, 4, ... capped)."""
    return min(cap, 2.0 ** max(0, failures - 1))
