"""Recovery plans: YAML (rendered by Jinja2) → frozen records → validation.

Entry points: :func:`orchestrator.plan.load.load_plan` (a valid :class:`Plan` or
:class:`~orchestrator.plan.errors.PlanInvalid` with every issue) and
:func:`orchestrator.plan.load.check_file` (the records and all issues, never raising on them).
"""
