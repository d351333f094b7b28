"""The one wait-for-task helper: poll a vCenter task until it ends, translate its fault."""

from __future__ import annotations

import time
from typing import Any

from pyVmomi import vim

from orchestrator.errors import VSphereTransientError
from orchestrator.vsphere.faults import translate, vsphere_call

POLL_START_S = 0.02
POLL_MAX_S = 1.0


def wait_for_task(task: vim.Task, obj: str, timeout_s: float = 600.0) -> Any:
    """Wait for ``task`` (about ``obj``); return its result or raise the translated fault."""
    deadline = time.monotonic() + timeout_s
    delay = POLL_START_S
    while True:
        with vsphere_call(obj):
            info = task.info
        if info.state == vim.TaskInfo.State.success:
            return info.result
        if info.state == vim.TaskInfo.State.error:
            raise translate(info.error, obj)
        if time.monotonic() >= deadline:
            raise VSphereTransientError(
                f"{obj}: task {info.descriptionId or info.key} still {info.state} "
                f"after {timeout_s:.0f}s", obj)
        time.sleep(delay)
        delay = min(delay * 2, POLL_MAX_S)
