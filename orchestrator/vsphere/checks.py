"""Pure validation shared by the real adapter and the dry-run adapter: bad input is refused, with
an error naming the object, before anything changes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from orchestrator.errors import (
    DatastoreNotFound,
    HostNotFound,
    NetworkNotFound,
    VSphereAlreadyExists,
    VSphereError,
)
from orchestrator.vsphere.adapter import Registration
from orchestrator.vsphere.protection import normalize_wwn


@dataclass(frozen=True)
class Names:
    """The names that exist at a site (or would, in a dry run)."""

    hosts: Collection[str]
    datastores: Collection[str]
    networks: Collection[str]
    vms: Collection[str]


def check_registration(reg: Registration, names: Names) -> str:
    """Validate a registration against ``names``; returns the VM's name at the recovery site."""
    record = reg.record
    name = reg.name or record.name
    if reg.host not in names.hosts:
        raise HostNotFound(reg.host)
    datastore = reg.datastore_map.get(record.datastore, record.datastore)
    if datastore not in names.datastores:
        raise DatastoreNotFound(datastore, f"recovery site (holds VM {name!r})")
    if name in names.vms:
        raise VSphereAlreadyExists(f"VM {name!r} is already registered", name)
    for nic in record.nics:
        mapped = reg.network_map.get(nic.network, nic.network)
        if mapped not in names.networks:
            raise NetworkNotFound(mapped, f"recovery site (NIC {nic.label!r} of VM {name!r})")
    mapped_wwns = {normalize_wwn(k) for k in reg.device_map}
    for disk in record.disks:
        if disk.rdm_wwn and normalize_wwn(disk.rdm_wwn) not in mapped_wwns:
            raise VSphereError(f"VM {name!r}: RDM {disk.label!r} maps device "
                               f"{disk.rdm_wwn}, which has no recovered device", disk.rdm_wwn)
    return name
