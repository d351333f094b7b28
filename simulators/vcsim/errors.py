"""Errors of the vcsim launcher and of the tar datastore stand-in's storage port.

::

    VcsimError
    ├── VcsimBinaryError     permanent: no vcsim binary and it cannot be built (names the packages)
    ├── VcsimStartError      a vcsim process did not come up (stderr tail attached)
    └── DeviceError          permanent: no device with that WWN on the appliance
"""

from __future__ import annotations


class VcsimError(Exception):
    """Root of the vcsim launcher's errors."""


class VcsimBinaryError(VcsimError):
    """No usable vcsim binary, and none can be built here."""


class VcsimStartError(VcsimError):
    """A vcsim process exited or did not answer in time."""


class DeviceError(VcsimError):
    """A device (LUN by WWN) does not exist on the appliance."""

    def __init__(self, wwn: str, message: str) -> None:
        super().__init__(f"device {wwn}: {message}")
        self.wwn = wwn
