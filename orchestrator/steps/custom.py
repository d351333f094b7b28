"""Commands and prompts: the plan's custom steps and the VMs' pre/post power-on callouts.

A command runs without a shell (``shlex.split``), in the run's working directory, with
``DRKIT_RUN_ID``, ``DRKIT_STEP_ID``, ``DRKIT_WORKFLOW`` and ``DRKIT_VM`` in its environment, and
without the variables that hold the plan's credentials.
A custom command step with ``creates: PATH`` is checked before acting (skipped when PATH exists);
one marked ``idempotent: true`` is simply re-run after an interruption; any other is reported as
outcome-unknown rather than run twice.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path
from typing import Any

from orchestrator.plan.model import Plan
from orchestrator.ports.errors import StepError, StepTimeout
from orchestrator.steps.base import RunContext, Step, step_type


def secret_variables(plan: Plan) -> set[str]:
    """Environment variables that hold the plan's credentials (kept from commands)."""
    refs = [ref for site in plan.sites.values()
            for ref in (site.vcenter.credentials, site.sra.connection.credentials)]
    return {ref.env for ref in refs if ref.env}


def run_command(step: Step, ctx: RunContext, text: str, timeout: float | None) -> dict:
    argv = shlex.split(text)
    hidden = secret_variables(ctx.plan)
    env = {k: v for k, v in ctx.environ.items() if k not in hidden}
    env.update(DRKIT_RUN_ID=ctx.run_id, DRKIT_STEP_ID=step.id, DRKIT_WORKFLOW=ctx.workflow,
               DRKIT_VM=step.vm or "")
    try:
        proc = subprocess.run(argv, cwd=ctx.workdir, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise StepTimeout(step.id, f"command '{argv[0]}' ran longer than {timeout}s") from None
    except OSError as exc:
        raise StepError(step.id, f"cannot run '{argv[0]}': {exc.strerror}") from None
    if proc.returncode:
        tail = (proc.stderr.strip().splitlines() or [""])[-1][:200]
        detail = f": {tail}" if tail else ""
        raise StepError(step.id, f"command '{argv[0]}' exited {proc.returncode}{detail}")
    return {"stdout": proc.stdout[-2000:]}


def ask(step: Step, ctx: RunContext, message: str, timeout: float | None) -> dict:
    if ctx.prompt is None:
        raise StepError(step.id, "needs an operator to answer a prompt; run interactively")
    if not ctx.prompt(message, timeout or 3600.0):
        raise StepError(step.id, "prompt was not acknowledged")
    return {"acknowledged": True}


@step_type
class Callout(Step):
    """A VM's pre/post power-on callout (spec: model.Callout). Callouts, like SRM's, must be
    safe to re-run."""

    type = "callout"
    category = "callout"
    __slots__ = ()

    def run(self, ctx: RunContext) -> Any:
        return run_command(self, ctx, self.spec.text, self.timeout)

    def describe(self) -> str:
        return f"{self.args.get('when', '')} callout for {self.vm}: run {self.spec.text!r}"


@step_type
class CalloutPrompt(Callout):
    """A VM's callout that asks the operator (``prompt:`` instead of ``command:``)."""

    type = "callout-prompt"
    __slots__ = ()

    def run(self, ctx: RunContext) -> Any:
        return ask(self, ctx, self.spec.text, self.timeout)

    def describe(self) -> str:
        return f"{self.args.get('when', '')} callout for {self.vm}: ask {self.spec.text!r}"


@step_type
class CommandStep(Step):
    """A custom ``type: command`` step (spec: model.CustomStep)."""

    type = "command"
    category = "custom"
    __slots__ = ()

    @property
    def idempotent(self) -> bool:
        return self.spec.idempotent or self.spec.creates is not None

    def already_done(self, ctx: RunContext) -> bool:
        return self.spec.creates is not None and (ctx.workdir / Path(self.spec.creates)).exists()

    def run(self, ctx: RunContext) -> Any:
        if self.already_done(ctx):
            return {"skipped": f"{self.spec.creates} exists"}
        return run_command(self, ctx, self.spec.text, self.timeout)

    def describe(self) -> str:
        return f"run {self.spec.text!r}"


@step_type
class PromptStep(Step):
    """A custom ``type: prompt`` step: a person acknowledges a message."""

    type = "prompt"
    category = "custom"
    __slots__ = ()

    def run(self, ctx: RunContext) -> Any:
        return ask(self, ctx, self.spec.text, self.timeout)

    def describe(self) -> str:
        return f"ask the operator: {self.spec.text!r}"
