"""The stand-in's devices over iSCSI: vcsim's hosts read recovered devices as real hosts do.

:class:`IscsiDevices` implements ``DeviceReader`` and ``DeviceWriter`` (see
orchestrator/vsphere/standin.py) for one NSS appliance, through its iSCSI portal, with a real
initiator: qemu-img's libiscsi driver (Debian's qemu-utils + qemu-block-extra).

* **Visible.** A device is visible to a host when one of the host's iSCSI initiators (its
  software adapter's IQN) sees it: the appliance's ``/visible-devices?type=iSCSI&id=IQN``, the
  same masking the target's REPORT LUNS applies to that IQN, with the LUN number. The reader
  remembers which IQN found each device. FC initiators reach nothing here (no FC fabric).
* **Paths.** Every transfer logs in as that IQN (for a device no ``visible`` call found, e.g. a
  write-back in a later run: an IQN of the SAN client the device is presented to) and addresses
  the device by its LUN number, looked up again before each transfer, so a device presented
  anew under another number is never mistaken for another.
* **Reads** fetch windows: one ``qemu-img convert`` of a whole range into a temporary file, the
  window doubling (1 MiB up to 32 MiB) while reads go on where the last one ended, so a tar
  archive streams in a handful of logins instead of one per read. A read at offset 0 (a mount
  reads a device's head first) or a ``write``/``visible`` of the device starts a new window, so
  one pass never serves bytes fetched before it began.
* **Writes** (a datastore written back before failback) are one ``qemu-img convert -n`` of the
  range onto the device; a read-only device answers DATA PROTECT, reported as such.

Errors are the orchestrator's, as in storage.py: :func:`_initiator_errors` is the one place a
failed initiator becomes ``VSphereTransientError`` (portal unreachable, connection dropped,
timeout) or ``StandInError`` (login refused, no such LUN, write protected, no qemu-img);
appliance (REST) errors go through storage.py's translation.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from orchestrator.errors import VSphereTransientError
from orchestrator.vsphere.protection import normalize_wwn
from orchestrator.vsphere.standin import SECTOR, StandInError
from simulators.vcsim.storage import appliance_errors

MiB = 1 << 20
FIRST_WINDOW = 1 * MiB
MAX_WINDOW = 32 * MiB
QEMU_TIMEOUT = 300.0
#: qemu-img/libiscsi messages of failures worth retrying: the portal or the session went away.
TRANSIENT = ("iscsi_service", "reconnect", "Connection refused", "Connection reset",
             "timed out", "Broken pipe", "No route to host")


@dataclass(frozen=True)
class IscsiPath:
    """How one host reaches one device: portal, target, the host's IQN and the LUN number."""

    portal: str
    target: str
    initiator: str
    lun: int
    size: int

    def image_opts(self, offset: int, length: int) -> str:
        """qemu's ``--image-opts`` for ``length`` bytes at ``offset`` (raw over iscsi)."""
        fields = {"driver": "raw", "offset": offset, "size": length, "file.driver": "iscsi",
                  "file.transport": "tcp", "file.portal": self.portal,
                  "file.target": self.target, "file.lun": self.lun,
                  "file.initiator-name": self.initiator}
        return ",".join(f"{key}={str(value).replace(',', ',,')}" for key, value in fields.items())


@dataclass(frozen=True)
class Window:
    """Bytes of a device fetched in one login, from ``start``."""

    start: int
    data: bytes

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def holds(self, offset: int, length: int) -> bool:
        return self.start <= offset and offset + length <= self.end

    def slice(self, offset: int, length: int) -> bytes:
        return self.data[offset - self.start:offset - self.start + length]


class IscsiDevices:
    """Devices of one NSS appliance, addressed by WWN, read and written over its iSCSI portal."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self._target: tuple[str, str] | None = None  # (portal, target name), asked once
        self._seen: dict[str, str] = {}  # WWN -> the IQN that found it
        self._windows: dict[str, Window] = {}

    def visible(self, wwn: str, initiators: Sequence[tuple[str, str]]) -> bool:
        key = normalize_wwn(wwn)
        self._windows.pop(key, None)
        for kind, iqn in initiators:
            if kind == "iSCSI" and self._device(wwn, iqn) is not None:
                self._seen[key] = iqn
                return True
        return False

    def size(self, wwn: str) -> int:
        return self.path(wwn).size

    def read(self, wwn: str, offset: int, length: int) -> bytes:
        key = normalize_wwn(wwn)
        window = self._windows.get(key)
        if offset == 0 or window is None or not window.holds(offset, length):
            window = self._fetch(wwn, offset, length, window)
            self._windows[key] = window
        return window.slice(offset, length)

    def write(self, wwn: str, offset: int, data: bytes) -> None:
        if offset % SECTOR or len(data) % SECTOR:
            raise StandInError(f"device {wwn}: write of {len(data)} bytes at {offset} is not "
                               f"in whole {SECTOR}-byte sectors", wwn)
        path = self._checked(wwn, offset, len(data))
        self._windows.pop(normalize_wwn(wwn), None)
        with tempfile.TemporaryDirectory(prefix="drkit-iscsi-") as tmp:
            source = Path(tmp) / "range.raw"
            source.write_bytes(data)
            _qemu_img(["convert", "-q", "-n", "-f", "raw", "--target-image-opts", str(source),
                       path.image_opts(offset, len(data))], wwn, f"write via {path.initiator}")

    def copy_to(self, wwn: str, destination: Path) -> Path:
        """The whole device into a local raw file, in one login; returns ``destination``."""
        path = self.path(wwn)
        _qemu_img(["convert", "-q", "-O", "raw", "--image-opts", path.image_opts(0, path.size),
                   str(destination)], wwn, f"read via {path.initiator}")
        return destination

    def path(self, wwn: str) -> IscsiPath:
        """How device ``wwn`` is reached now: the IQN that found it (else one it is presented
        to) and its current LUN number for that IQN."""
        iqn = self._seen.get(normalize_wwn(wwn)) or self._presented_to(wwn)
        device = self._device(wwn, iqn)
        if device is None:
            raise StandInError(f"device {wwn} is not presented to initiator {iqn} on appliance "
                               f"{self.client.url} (any more)", wwn)
        portal, target = self._portal(wwn)
        return IscsiPath(portal, target, iqn, int(device["lun_number"]),
                         int(device["size_bytes"]))

    def _device(self, wwn: str, iqn: str) -> dict[str, Any] | None:
        """What the appliance shows initiator ``iqn`` of device ``wwn`` (None: nothing)."""
        wanted = normalize_wwn(wwn)
        with appliance_errors(wwn, self.client.url):
            devices = self.client.visible_devices("iSCSI", iqn)
        return next((d for d in devices if normalize_wwn(d["wwn"]) == wanted), None)

    def _presented_to(self, wwn: str) -> str:
        """An iSCSI initiator the device is presented to (directly or through its client)."""
        wanted = normalize_wwn(wwn)
        with appliance_errors(wwn, self.client.url):
            lun = next((x for x in self.client.list_luns() if normalize_wwn(x["wwn"]) == wanted),
                       None)
            if lun is None:
                raise StandInError(f"device {wwn}: no such device on appliance "
                                   f"{self.client.url}", wwn)
            for pres in self.client.list_presentations(lun["id"]):
                initiators = pres["initiators"] or (
                    self.client.get_client(pres["client_id"])["initiators"]
                    if pres["client_id"] else [])
                iqn = next((i["id"] for i in initiators if i["type"] == "iSCSI"), None)
                if iqn:
                    return iqn
        raise StandInError(f"device {wwn} is presented to no iSCSI initiator on appliance "
                           f"{self.client.url}", wwn)

    def _portal(self, wwn: str) -> tuple[str, str]:
        if self._target is None:
            with appliance_errors(wwn, self.client.url):
                targets = self.client.iscsi_targets()
            if not targets:
                raise StandInError(f"appliance {self.client.url} serves no iSCSI portal "
                                   "(`drkit nss serve --iscsi-port`)", wwn)
            self._target = (targets[0]["portal"], targets[0]["name"])
        return self._target

    def _checked(self, wwn: str, offset: int, length: int) -> IscsiPath:
        path = self.path(wwn)
        if offset < 0 or length < 0 or offset + length > path.size:
            raise StandInError(f"device {wwn}: {length} bytes at {offset} lie outside its "
                               f"{path.size} bytes", wwn)
        return path

    def _fetch(self, wwn: str, offset: int, length: int, last: Window | None) -> Window:
        path = self._checked(wwn, offset, length)
        going_on = last is not None and last.start < offset <= last.end
        span = min(MAX_WINDOW, 2 * len(last.data)) if going_on and last else FIRST_WINDOW
        start = offset // SECTOR * SECTOR
        end = min(path.size, -(-max(offset + length, start + span) // SECTOR) * SECTOR)
        return Window(start, _read_range(path, start, end - start, wwn))


def _read_range(path: IscsiPath, offset: int, length: int, wwn: str) -> bytes:
    """``length`` bytes at ``offset`` of the device, in one ``qemu-img convert``."""
    if length == 0:
        return b""
    with tempfile.TemporaryDirectory(prefix="drkit-iscsi-") as tmp:
        out = Path(tmp) / "range.raw"
        _qemu_img(["convert", "-q", "-O", "raw", "--image-opts",
                   path.image_opts(offset, length), str(out)], wwn, f"read via {path.initiator}")
        data = out.read_bytes()
    if len(data) != length:
        raise StandInError(f"device {wwn}: read {len(data)} bytes at {offset} over iSCSI, "
                           f"asked for {length}", wwn)
    return data


def _qemu_img(args: list[str], wwn: str, what: str) -> None:
    try:
        done = subprocess.run(["qemu-img", *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=QEMU_TIMEOUT, check=False)
    except FileNotFoundError:
        raise StandInError("qemu-img is not installed (Debian: qemu-utils qemu-block-extra); "
                           f"device {wwn} cannot be reached over iSCSI", wwn) from None
    except subprocess.TimeoutExpired:
        raise VSphereTransientError(f"device {wwn}: {what} over iSCSI took longer than "
                                    f"{QEMU_TIMEOUT:.0f} s", wwn) from None
    if done.returncode:
        raise _initiator_errors(wwn, what, done.stderr)


def _initiator_errors(wwn: str, what: str, stderr: str) -> Exception:
    """The one place a failed initiator becomes a stand-in error: a portal or session that
    went away is transient; a refused login, a missing LUN or a protected device is not."""
    reason = re.sub(r"Could not open '[^']*': ", "", stderr.strip().splitlines()[-1]
                    if stderr.strip() else "no message")
    if "Unknown driver 'iscsi'" in stderr:
        reason += " (install Debian's qemu-block-extra)"
    message = f"device {wwn}: {what} over iSCSI failed: {reason}"
    if any(marker in stderr for marker in TRANSIENT):
        return VSphereTransientError(message, wwn)
    return StandInError(message, wwn)


def devices_for(address: str, token: str) -> IscsiDevices:
    """The stand-in's devices for the appliance at ``address`` (``host:port`` or a URL): the
    ``drkit.standin_devices`` entry point the orchestrator's wiring loads. An SRA Address's
    query string is dropped from the URL, and its ``fingerprint`` option is pinned."""
    from sra.nss_client import NssClient

    url, fingerprint = _address_pin(address if "://" in address else f"http://{address}")
    return IscsiDevices(NssClient(url, token, fingerprint=fingerprint))


def _address_pin(url: str) -> tuple[str, str]:
    """An SRA Address's URL without its query string (the SRA's connection options), and the
    certificate ``fingerprint`` that query pins ('' if none)."""
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    return urlunsplit(parts._replace(query="", fragment="")), options.get("fingerprint", "")
