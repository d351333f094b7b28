"""Block devices the reference store writes through: a protocol and its implementations.

``BlockDevice`` is the port (``read``, ``write``, ``flush``); offsets and lengths are multiples of
512. Implementations:

- ``ApplianceDevice`` — a LUN (or TimeView, replica, recovered device) of an NSS appliance, through
  the REST block API (``NssClient.read``/``write``). One HTTP session per thread, because the store
  flushes with several writer threads at once. Errors become ``DeviceIOError`` here, in one place.
- ``FileDevice`` — a local file (unit tests, saved images); ``flush`` is ``fsync``.
- ``MemoryDevice`` — a bytearray (pure unit tests, planted corruption).
- ``LatencyDevice`` — wraps another device and adds a fixed delay per write: a slow disk, used to
  make a freeze genuinely miss its deadline.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from simulators.agent.errors import DeviceIOError, InvalidField
from simulators.agent.layout import SECTOR
from sra.nss_client import NssApiError


@runtime_checkable
class BlockDevice(Protocol):
    def read(self, offset: int, length: int) -> bytes: ...

    def write(self, offset: int, data: bytes) -> None: ...

    def flush(self) -> None: ...


def check_aligned(offset: int, length: int) -> None:
    if offset < 0 or offset % SECTOR:
        raise InvalidField("offset", f"{offset} is not a non-negative multiple of {SECTOR}")
    if length % SECTOR:
        raise InvalidField("length", f"{length} is not a multiple of {SECTOR}")


class MemoryDevice:
    """A device held in memory; reads past the end return zeros."""

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self._lock = threading.Lock()

    def read(self, offset: int, length: int) -> bytes:
        check_aligned(offset, length)
        with self._lock:
            return bytes(self.buf[offset:offset + length]).ljust(length, b"\0")

    def write(self, offset: int, data: bytes) -> None:
        check_aligned(offset, len(data))
        if offset + len(data) > len(self.buf):
            raise DeviceIOError("write past the end of the device", offset=offset)
        with self._lock:
            self.buf[offset:offset + len(data)] = data

    def flush(self) -> None:
        return None


class FileDevice:
    """A device backed by a local file, created (sparse, zero-filled) with ``size`` if missing."""

    def __init__(self, path: str | Path, size: int | None = None) -> None:
        self.path = Path(path)
        flags = os.O_RDWR | (os.O_CREAT if size is not None else 0)
        self._fd = os.open(self.path, flags, 0o644)
        if size is not None and os.fstat(self._fd).st_size < size:
            os.ftruncate(self._fd, size)

    def read(self, offset: int, length: int) -> bytes:
        check_aligned(offset, length)
        return os.pread(self._fd, length, offset).ljust(length, b"\0")

    def write(self, offset: int, data: bytes) -> None:
        check_aligned(offset, len(data))
        os.pwrite(self._fd, data, offset)

    def flush(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class LatencyDevice:
    """Wraps a device; every write takes at least ``write_delay_s`` (a slow disk)."""

    def __init__(self, inner: BlockDevice, write_delay_s: float) -> None:
        self.inner = inner
        self.write_delay_s = write_delay_s

    def read(self, offset: int, length: int) -> bytes:
        return self.inner.read(offset, length)

    def write(self, offset: int, data: bytes) -> None:
        time.sleep(self.write_delay_s)
        self.inner.write(offset, data)

    def flush(self) -> None:
        self.inner.flush()


class ApplianceDevice:
    """A LUN of an NSS appliance, read and written over its REST block API (an https
    appliance's certificate pinned by ``fingerprint``)."""

    def __init__(self, url: str, token: str, lun_id: str, fingerprint: str = "") -> None:
        self.url, self.fingerprint = url, fingerprint
        self.lun_id = lun_id
        self._token = token
        self._local = threading.local()

    def __repr__(self) -> str:  # never shows the token
        return f"ApplianceDevice({self.url!r}, lun={self.lun_id!r})"

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            from sra.nss_client import NssClient

            client = self._local.client = NssClient(url=self.url, token=self._token,
                                                    fingerprint=self.fingerprint)
        return client

    def read(self, offset: int, length: int) -> bytes:
        check_aligned(offset, length)
        return self._io("read", lambda c: c.read(self.lun_id, offset, length), offset)

    def write(self, offset: int, data: bytes) -> None:
        check_aligned(offset, len(data))
        self._io("write", lambda c: c.write(self.lun_id, offset, data), offset)

    def flush(self) -> None:
        return None  # the appliance acknowledges a write once it is stored

    def _io(self, op: str, call: Any, offset: int) -> Any:
        try:
            return call(self._client())
        except NssApiError as exc:  # the single place that maps client errors for this boundary
            code = exc.code
            raise DeviceIOError(f"{op} failed on LUN {self.lun_id} at offset {offset}: {code}",
                                lun=self.lun_id, offset=offset, op=op, cause=str(code)) from exc
