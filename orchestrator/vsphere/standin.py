"""The VMFS stand-in for vcsim: a datastore LUN holds a tar archive of the datastore's files.

vcsim has no VMFS, no resignature and no SCSI devices. drkit keeps the *data path* real anyway:
``seed`` packs a datastore directory into a tar and writes it onto a LUN; ``mount`` reads the
presented device back (sequentially, only as far as the archive goes), extracts it into a local
directory and vcsim serves that directory as a datastore. The VM files at the recovery site thus
really come from replicated bytes.

Devices are reached through two small ports, implemented by the lab over the NSS appliance API
(``simulators/vcsim/storage.py``):

* :class:`DeviceReader` - is a WWN presented to these initiators, how big is it, read a range;
* :class:`DeviceWriter` - write a range.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from orchestrator.errors import VSphereError

SECTOR = 512
READ_CHUNK = 1 << 20
TAR_MAGIC_OFFSET = 257
MANIFEST = ".drkit-datastore.json"


class StandInError(VSphereError):
    """The device cannot be used as a stand-in datastore (names the device)."""


class NoDatastoreOnDevice(StandInError):
    """The device holds no datastore at all: a raw device (an RDM) or a blank one."""


@runtime_checkable
class DeviceReader(Protocol):
    def visible(self, wwn: str, initiators: Sequence[tuple[str, str]]) -> bool:
        """True when device ``wwn`` is presented to any of (type, id) ``initiators``."""

    def size(self, wwn: str) -> int: ...

    def read(self, wwn: str, offset: int, length: int) -> bytes: ...


@runtime_checkable
class DeviceWriter(Protocol):
    def size(self, wwn: str) -> int: ...

    def write(self, wwn: str, offset: int, data: bytes) -> None: ...


class DeviceStream(io.RawIOBase):
    """A read-only, forward-only file over a device, fetched in READ_CHUNK pieces."""

    def __init__(self, reader: DeviceReader, wwn: str) -> None:
        self._reader, self._wwn = reader, wwn
        self._size = reader.size(wwn)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        want = max(SECTOR, min(READ_CHUNK, (want + SECTOR - 1) // SECTOR * SECTOR))
        want = min(want, self._size - self._pos)
        data = self._reader.read(self._wwn, self._pos, want)[: len(buffer)]
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def pack_directory(directory: Path, label: str | None = None) -> bytes:
    """A tar of ``directory``'s contents (relative names), padded to whole sectors. With a
    ``label`` (the datastore's name) a small manifest comes first, so the device says which
    datastore it holds, as a VMFS volume label does."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if label is not None:
            manifest = json.dumps({"datastore": label}).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(manifest)
            tar.addfile(info, io.BytesIO(manifest))
        for path in sorted(Path(directory).iterdir()):
            tar.add(path, arcname=path.name)
    data = out.getvalue()
    return data + b"\0" * (-len(data) % SECTOR)


def write_archive(writer: DeviceWriter, wwn: str, directory: Path,
                  label: str | None = None) -> int:
    """Pack ``directory`` (labelled ``label``) onto device ``wwn``; returns the archive size."""
    data = pack_directory(directory, label)
    capacity = writer.size(wwn)
    if len(data) > capacity:
        raise StandInError(f"device {wwn}: archive of {directory} is {len(data)} bytes, "
                           f"device holds {capacity}", wwn)
    for offset in range(0, len(data), READ_CHUNK):
        writer.write(wwn, offset, data[offset:offset + READ_CHUNK])
    return len(data)


def extract_device(reader: DeviceReader, wwn: str, target: Path) -> list[str]:
    """Extract the archive on device ``wwn`` into ``target``; returns the member names."""
    head = reader.read(wwn, 0, SECTOR)
    if head[TAR_MAGIC_OFFSET:TAR_MAGIC_OFFSET + 5] != b"ustar":
        raise NoDatastoreOnDevice(f"device {wwn} holds no drkit datastore archive", wwn)
    target.mkdir(parents=True, exist_ok=True)
    names = []
    stream = io.BufferedReader(DeviceStream(reader, wwn), buffer_size=READ_CHUNK)
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            tar.extract(member, target, filter="data")
            names.append(member.name)
    return names


def take_label(target: Path) -> str | None:
    """Read and remove the manifest an extracted archive carried; its datastore name or None."""
    manifest = Path(target) / MANIFEST
    if not manifest.exists():
        return None
    try:
        label = json.loads(manifest.read_text()).get("datastore")
    except (ValueError, AttributeError):
        label = None
    manifest.unlink()
    return label if isinstance(label, str) and label else None
