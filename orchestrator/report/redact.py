"""Keep environment values out of reports.

Plans hold credential references only, but a plan may still interpolate ``{{ env.NAME }}`` into
a command, and a failed command's stderr may echo anything. A :class:`Redactor` replaces the
values of the environment variables that matter with ``${NAME}``: those a plan refers to
(``env.NAME`` / ``env['NAME']``), those its credential references name, and any whose name looks
secret (password, token, secret, key...). Values shorter than :data:`MIN_LENGTH` are left alone
(replacing "1" everywhere would garble the report, and such values guard nothing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.plan.model import Plan

MIN_LENGTH = 4
SECRETISH = re.compile(r"pass|secret|token|key|cred|auth|cookie|session", re.IGNORECASE)
_ENV_REF = re.compile(r"""env\s*(?:\.\s*(\w+)|\[\s*["'](\w+)["']\s*\])""")
MASK = "********"


def env_names_in(text: str) -> set[str]:
    """Names a plan's template text reads from ``env``."""
    return {a or b for a, b in _ENV_REF.findall(text)}


def credential_env_names(plan: Plan | None) -> set[str]:
    if plan is None:
        return set()
    refs = [site.vcenter.credentials for site in plan.sites.values()]
    refs += [site.sra.connection.credentials for site in plan.sites.values()]
    return {ref.env for ref in refs if ref.env}


class Redactor:
    """Callable: ``text`` with every guarded value replaced by ``${NAME}``."""

    def __init__(self, names: Iterable[str] = (),
                 environ: Mapping[str, str] | None = None) -> None:
        env = dict(os.environ if environ is None else environ)
        wanted = set(names) | {n for n in env if SECRETISH.search(n)}
        pairs = [(env[n], n) for n in wanted if len(env.get(n) or "") >= MIN_LENGTH]
        self.pairs = sorted(pairs, key=lambda p: -len(p[0]))  # longest value first

    def __call__(self, text: str) -> str:
        for value, name in self.pairs:
            if value in text:
                text = text.replace(value, f"${{{name}}}")
        return text

    def deep(self, value: Any) -> Any:
        """Redact every string inside nested dicts/lists (for JSON output)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.deep(v) for v in value]
        return value


def for_plan(plan: Plan | None, plan_text: str = "",
             environ: Mapping[str, str] | None = None) -> Redactor:
    return Redactor(env_names_in(plan_text) | credential_env_names(plan), environ)


def secret_vars(variables: Mapping[str, Any]) -> set[str]:
    """The template variables that are secrets: their names look secret (password, token...)."""
    return {k for k in variables if SECRETISH.search(k)}


def redact_vars(variables: Mapping[str, Any]) -> dict[str, Any]:
    """Template variables as a journal keeps them: secret values replaced, the rest as given."""
    secret = secret_vars(variables)
    return {k: MASK if k in secret else v for k, v in variables.items()}


def mask_vars(variables: Mapping[str, Any]) -> dict[str, str]:
    """Template variables for display and journals: the values of secret ones masked."""
    secret = secret_vars(variables)
    return {k: MASK if k in secret else str(v) for k, v in sorted(variables.items())}
