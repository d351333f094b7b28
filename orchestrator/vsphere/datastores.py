"""How a recovered device becomes a datastore: the part that differs between vCenter and vcsim.

* :class:`VmfsMounter` - a real vCenter: the device shows up as a SCSI LUN ``naa.<wwn>`` after a
  rescan; its VMFS copy is unresolved (a snapshot) and is resignatured, then renamed.
* :class:`TarMounter` - vcsim: the device is visible when the storage port says it is presented to
  the host's initiators; mounting extracts the tar stand-in (standin.py) into a directory under
  ``root`` and calls ``CreateLocalDatastore``; unmounting destroys the datastore and the directory.
  ``sync`` writes the directory back onto its device (what VMFS writes do by themselves), so
  changes made at the recovery site can travel back on failback.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from pyVmomi import vim

from orchestrator.vsphere.faults import vsphere_call
from orchestrator.vsphere.standin import (
    DeviceReader,
    DeviceWriter,
    NoDatastoreOnDevice,
    StandInError,
    extract_device,
    take_label,
    write_archive,
)
from orchestrator.vsphere.tasks import wait_for_task

Initiators = Sequence[tuple[str, str]]


class DatastoreMounter(Protocol):
    def device_visible(self, host: Any, initiators: Initiators, wwn: str) -> bool: ...

    def mount(self, host: Any, initiators: Initiators, wwn: str, name: str | None) -> str:
        """Mount; ``name=None`` keeps the name the device carries. Returns the name used."""

    def unmount(self, datastore: Any, name: str) -> None: ...

    def sync(self, datastore: Any, name: str) -> None: ...


class TarMounter:
    """vcsim: the tar stand-in read through a DeviceReader (and written back through a writer)."""

    def __init__(self, reader: DeviceReader, root: Path,
                 writer: DeviceWriter | None = None) -> None:
        self.reader = reader
        self.writer = writer
        self.root = Path(root).resolve()

    def _marker(self, directory: Path) -> Path:
        return directory.with_name(directory.name + ".device")

    def device_visible(self, host: Any, initiators: Initiators, wwn: str) -> bool:
        return self.reader.visible(wwn, initiators)

    def mount(self, host: Any, initiators: Initiators, wwn: str, name: str | None) -> str:
        directory = self.root / f"{name or 'ds'}-{wwn[-12:]}-{uuid.uuid4().hex[:6]}"
        try:
            extract_device(self.reader, wwn, directory)
            label = take_label(directory)
            name = name or label
            if not name:
                raise StandInError(f"device {wwn} carries no datastore name; give one", wwn)
            self._marker(directory).write_text(wwn)
            with vsphere_call(f"datastore {name!r} on host {host.name!r}"):
                host.configManager.datastoreSystem.CreateLocalDatastore(
                    name=name, path=str(directory))
            return name
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            self._marker(directory).unlink(missing_ok=True)
            raise

    def unmount(self, datastore: Any, name: str) -> None:
        with vsphere_call(f"datastore {name!r}"):
            url = datastore.info.url
        wait_for_task(datastore.Destroy_Task(), f"datastore {name!r}")
        directory = Path(url).resolve()
        if directory.parent == self.root:
            shutil.rmtree(directory, ignore_errors=True)
            self._marker(directory).unlink(missing_ok=True)

    def sync(self, datastore: Any, name: str) -> None:
        with vsphere_call(f"datastore {name!r}"):
            directory = Path(datastore.info.url).resolve()
        marker = self._marker(directory)
        if directory.parent != self.root or not marker.exists():
            raise StandInError(f"datastore {name!r} was not mounted from a device", name)
        if self.writer is None:
            raise StandInError(f"datastore {name!r}: no device writer configured", name)
        write_archive(self.writer, marker.read_text().strip(), directory, label=name)


class VmfsMounter:
    """A real vCenter: resignature the unresolved VMFS copy on ``naa.<wwn>``, then rename it.

    Not exercised by the test suite (vcsim has no VMFS); written against the vSphere API docs.
    """

    def device_visible(self, host: Any, initiators: Initiators, wwn: str) -> bool:
        with vsphere_call(f"host {host.name!r}"):
            luns = host.config.storageDevice.scsiLun or []
        return any(getattr(lun, "canonicalName", "") == f"naa.{wwn}" for lun in luns)

    def mount(self, host: Any, initiators: Initiators, wwn: str, name: str | None) -> str:
        system = host.configManager.datastoreSystem
        with vsphere_call(f"host {host.name!r}"):
            volumes = system.QueryUnresolvedVmfsVolumes()
        found = [(v.vmfsLabel, e.devicePath) for v in volumes for e in v.extent
                 if e.device.diskName == f"naa.{wwn}"]
        paths = [path for _label, path in found]
        if not paths:
            raise NoDatastoreOnDevice(f"no unresolved VMFS volume on device naa.{wwn} "
                                      f"seen by host {host.name!r}", wwn)
        spec = vim.host.UnresolvedVmfsResignatureSpec(extentDevicePath=paths)
        result = wait_for_task(system.ResignatureUnresolvedVmfsVolume_Task(spec),
                               f"device naa.{wwn}")
        name = name or found[0][0]
        wait_for_task(result.result.Rename_Task(name), f"datastore {name!r}")
        return name

    def sync(self, datastore: Any, name: str) -> None:
        """Nothing to do: VMFS writes reach the device by themselves."""

    def unmount(self, datastore: Any, name: str) -> None:
        with vsphere_call(f"datastore {name!r}"):
            for mount in datastore.host:
                mount.key.configManager.storageSystem.UnmountVmfsVolume(
                    datastore.info.vmfs.uuid)
