"""Reports rendered with Jinja2: the living runbook of a plan and the report of a run.

- :mod:`~orchestrator.report.runbook` turns a plan (and optionally a live inventory) plus its dry
  run into a plain context: workflows, phases, waves, steps, VMs, callouts, IP settings, RTO.
- :mod:`~orchestrator.report.runreport` turns a run journal (finished or still being written)
  into a context: steps, VMs, timeline, errors, warnings, measured and predicted RTO.
- :mod:`~orchestrator.report.timeline` owns time as the pages (and the CLI's tables) show it:
  offsets with the decimals that keep sub-second waves apart, and the gantt's time axis.
- :mod:`~orchestrator.report.render` owns the Jinja2 environments (package templates under
  ``templates/``; html autoescaped, markdown escaped by ``finalize``) and secret redaction.
- The click layer (``drkit runbook``, ``drkit runs report``) is ``orchestrator/cli/report.py``.
"""
