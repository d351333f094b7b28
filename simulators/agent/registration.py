"""Register the agent with its appliance (``POST /api/v1/agents``) and remove it again.

The appliance stores the agent token to call ``/quiesce`` and ``/thaw`` and never returns it.
Appliance errors become :class:`RegistrationError` (permanent: bad LUN id, duplicate name) or
:class:`DeviceIOError` (transient: the appliance is unreachable), here and nowhere else.
"""

from __future__ import annotations

from typing import Any

from simulators.agent.errors import DeviceIOError, RegistrationError


def register(client: Any, name: str, agent_url: str, agent_token: str, luns: list[str],
             timeout_ms: int) -> dict[str, Any]:
    """Register and return the appliance's agent record (``id``, ``name``, ``luns``, ...)."""
    from sra.nss_client import NssApiError

    try:
        return client.register_agent(name, agent_url, agent_token, luns, timeout_ms)
    except NssApiError as exc:
        if exc.status == 0 or exc.status >= 500:
            raise DeviceIOError(f"appliance unreachable while registering agent {name!r}",
                                code=exc.code) from None
        raise RegistrationError(f"appliance refused agent {name!r}: {exc.code}: {exc.message}",
                                code=exc.code, **exc.details) from None


def deregister(client: Any, agent_id: str) -> bool:
    """Remove the registration; False when the appliance no longer knows it (already gone)."""
    from sra.nss_client import NssApiError

    try:
        client.delete_agent(agent_id)
    except NssApiError as exc:
        if exc.status == 404:
            return False
        raise DeviceIOError(f"could not deregister agent {agent_id}: {exc.code}",
                            code=exc.code) from None
    return True
