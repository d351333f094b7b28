"""Errors of the vcsim launcher and of the tar datastore stand-in's storage port.

::

    VcsimError
    ├── VcsimBinaryError     permanent: no vcsim binary and it cannot be built (names the packages)
    └── VcsimStartError      a vcsim process did not come up (stderr tail attached)

Errors of the stand-in's devices (storage.py over REST, iscsidevices.py over iSCSI) are the
orchestrator's: ``StandInError`` (permanent: no such device, not presented, login refused, write
protected) and ``VSphereTransientError`` (appliance or portal unreachable, session dropped,
timeout), so recovery code sees one tree.
"""

from __future__ import annotations


class VcsimError(Exception):
    """Root of the vcsim launcher's errors."""


class VcsimBinaryError(VcsimError):
    """No usable vcsim binary, and none can be built here."""


class VcsimStartError(VcsimError):
    """A vcsim process exited or did not answer in time."""
