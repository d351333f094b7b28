"""The storage port of the vcsim stand-in, over an NSS appliance: devices by WWN.

:class:`NssDevices` implements ``DeviceReader`` and ``DeviceWriter`` (see
orchestrator/vsphere/standin.py) with the appliance's REST API: a device is *visible* to a host
when the appliance lists it under ``/visible-devices`` for one of the host's initiators (what the
host would find on a rescan), and its bytes are read and written through ``/luns/{id}/data``.
:func:`seed_datastore` is the protected-site half: pack a datastore directory onto a LUN.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.vsphere.protection import normalize_wwn
from orchestrator.vsphere.standin import write_archive
from simulators.vcsim.errors import DeviceError


class NssDevices:
    """Devices of one NSS appliance, addressed by WWN."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def _lun(self, wwn: str) -> dict[str, Any]:
        wanted = normalize_wwn(wwn)
        for lun in self.client.list_luns():
            if normalize_wwn(lun["wwn"]) == wanted:
                return lun
        raise DeviceError(wwn, f"no such device on appliance {self.client.url}")

    def visible(self, wwn: str, initiators: Sequence[tuple[str, str]]) -> bool:
        wanted = normalize_wwn(wwn)
        for kind, ident in initiators:
            devices = self.client.visible_devices(kind, ident)
            if any(normalize_wwn(d["wwn"]) == wanted for d in devices):
                return True
        return False

    def size(self, wwn: str) -> int:
        return int(self._lun(wwn)["size_bytes"])

    def read(self, wwn: str, offset: int, length: int) -> bytes:
        return self.client.read(self._lun(wwn)["id"], offset, length)

    def write(self, wwn: str, offset: int, data: bytes) -> None:
        self.client.write(self._lun(wwn)["id"], offset, data)


def seed_datastore(client: Any, lun: dict[str, Any], directory: Path) -> int:
    """Write the tar stand-in of ``directory`` onto ``lun``; returns the archive size."""
    return write_archive(NssDevices(client), lun["wwn"], directory)
