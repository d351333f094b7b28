"""The storage port of the vcsim stand-in, over an NSS appliance: devices by WWN.

:class:`NssDevices` implements ``DeviceReader`` and ``DeviceWriter`` (see
orchestrator/vsphere/standin.py) with the appliance's REST API: a device is *visible* to a host
when the appliance lists it under ``/visible-devices`` for one of the host's initiators (what the
host would find on a rescan), and its bytes are read and written through ``/luns/{id}/data``.
:func:`seed_datastore` is the protected-site half: pack a datastore directory onto a LUN.
Appliance errors are translated in one place (:func:`appliance_errors`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.errors import VSphereTransientError
from orchestrator.vsphere.protection import normalize_wwn
from orchestrator.vsphere.standin import StandInError, write_archive
from sra.nss_client import NssApiError


@contextmanager
def appliance_errors(wwn: str, url: str) -> Iterator[None]:
    """The one place appliance errors become stand-in errors: unreachable or 5xx is transient,
    anything else (unknown device, read-only device) is permanent and names the device."""
    try:
        yield
    except NssApiError as exc:
        message = f"device {wwn} on appliance {url}: {exc.code}: {exc.message}"
        if exc.status == 0 or exc.status >= 500:
            raise VSphereTransientError(message, wwn) from exc
        raise StandInError(message, wwn) from exc


class NssDevices:
    """Devices of one NSS appliance, addressed by WWN."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _lun(self, wwn: str) -> dict[str, Any]:
        wanted = normalize_wwn(wwn)
        with appliance_errors(wwn, self.client.url):
            luns = self.client.list_luns()
        for lun in luns:
            if normalize_wwn(lun["wwn"]) == wanted:
                return lun
        raise StandInError(f"device {wwn}: no such device on appliance {self.client.url}", wwn)

    def visible(self, wwn: str, initiators: Sequence[tuple[str, str]]) -> bool:
        wanted = normalize_wwn(wwn)
        for kind, ident in initiators:
            with appliance_errors(wwn, self.client.url):
                devices = self.client.visible_devices(kind, ident)
            if any(normalize_wwn(d["wwn"]) == wanted for d in devices):
                return True
        return False

    def size(self, wwn: str) -> int:
        return int(self._lun(wwn)["size_bytes"])

    def read(self, wwn: str, offset: int, length: int) -> bytes:
        lun_id = self._lun(wwn)["id"]
        with appliance_errors(wwn, self.client.url):
            return self.client.read(lun_id, offset, length)

    def write(self, wwn: str, offset: int, data: bytes) -> None:
        lun_id = self._lun(wwn)["id"]
        with appliance_errors(wwn, self.client.url):
            self.client.write(lun_id, offset, data)


def seed_datastore(client: Any, lun: dict[str, Any], directory: Path,
                   name: str | None = None) -> int:
    """Write the tar stand-in of datastore ``name`` (default: the directory's name), held in
    ``directory``, onto ``lun``; returns the archive size."""
    return write_archive(NssDevices(client), lun["wwn"], directory, label=name or directory.name)
