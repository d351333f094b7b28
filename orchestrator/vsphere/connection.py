"""Log in to vCenter (or vcsim) and hand back a ServiceInstance.

``http://`` URLs (vcsim) connect without TLS; ``https://`` URLs (a real vCenter) use TLS and, only
when ``verify_tls=False``, skip certificate validation. Errors name the URL and the user, never the
password.
"""

from __future__ import annotations

import contextlib
from urllib.parse import urlsplit

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

from orchestrator.errors import VSphereAuthError
from orchestrator.vsphere.faults import NETWORK_ERRORS, connection_error, translate

DEFAULT_TIMEOUT_S = 15


def connect(url: str, user: str, password: str, *, verify_tls: bool = True,
            timeout_s: float = DEFAULT_TIMEOUT_S) -> vim.ServiceInstance:
    """Connect and log in; raises VSphereConnectionError or VSphereAuthError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise connection_error(url, ValueError("URL must be http(s)://host[:port][/sdk]"))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        return SmartConnect(
            protocol=parts.scheme, host=parts.hostname, port=port, user=user, pwd=password,
            path=parts.path or "/sdk", httpConnectionTimeout=timeout_s,
            disableSslCertValidation=not verify_tls,
        )
    except vim.fault.InvalidLogin as exc:
        raise VSphereAuthError(f"vCenter {url} refused the login of user {user!r}", url) from exc
    except (*NETWORK_ERRORS, OSError, vim.fault.HostConnectFault) as exc:
        raise connection_error(url, exc) from exc
    except vmodl.MethodFault as exc:
        raise translate(exc, f"vCenter {url}") from exc


def disconnect(si: vim.ServiceInstance) -> None:
    with contextlib.suppress(Exception):
        Disconnect(si)
