"""Where a trial's recovered image comes from: pluggable image sources.

A source turns "take a recovery point now, crash-consistent or quiesced" into a readable image
set, and cleans up after the check::

    prepare(setup)                 once, after the protected application started
    recovered(setup, mode)         context manager -> (consistency, data device, WAL device)
    close(setup)                   once, before the protected LUNs are deleted

Built in:

- ``TimeViewSource`` - a group snapshot on the protected appliance, read through read-only
  TimeViews (the default; the fastest).
- ``ExportSource`` - the same snapshot copied into local files (a backup taken off the snapshot).
- ``ReplicaSource`` - a replication cycle to a paired appliance (``sync`` with ``quiesce``), then
  a TimeView of the new recovery point on the replica: what a test failover presents.

- ``SraTestFailoverSource`` (sra_source.py) - the replication cycle, then the real SRA's
  ``testFailoverStart``/``testFailoverStop`` at the recovery site, as SRM runs them.

Appliance errors (``NssApiError``, e.g. ``quiesce-failed``) and ``AgentError``
(``TrialFailoverFailed``) propagate: the trial records them as failures of that trial.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from simulators.agent.blockdev import ApplianceDevice, BlockDevice, FileDevice

Recovered = tuple[str, BlockDevice, BlockDevice]  # (consistency, data device, WAL device)


@dataclass(frozen=True)
class Setup:
    """The protected application as the sources see it."""

    url: str
    token: str
    client: Any
    group_id: str
    data_lun: str
    wal_lun: str

    @property
    def luns(self) -> tuple[str, str]:
        return self.data_lun, self.wal_lun


class ImageSource(Protocol):
    def prepare(self, setup: Setup) -> None: ...

    def recovered(self, setup: Setup, mode: str) -> AbstractContextManager[Recovered]: ...

    def close(self, setup: Setup) -> None: ...


@contextmanager
def group_snapshot(setup: Setup, mode: str) -> Iterator[dict[str, Any]]:
    """A group snapshot (quiesced with policy ``fail`` in app mode), deleted afterwards."""
    gsnap = setup.client.group_snapshot(setup.group_id, quiesce=mode == "app",
                                        on_quiesce_failure="fail")
    try:
        yield gsnap
    finally:
        for snap in gsnap["snapshots"]:
            setup.client.delete_snapshot(snap["id"])


@contextmanager
def timeviews(client: Any, url: str, token: str,
              snapshot_ids: list[str]) -> Iterator[list[ApplianceDevice]]:
    """Read-only TimeViews of the snapshots, as devices; deleted afterwards."""
    views: list[str] = []
    try:
        for snap_id in snapshot_ids:
            views.append(client.create_timeview(snap_id, writable=False)["id"])
        yield [ApplianceDevice(url, token, view, client.fingerprint) for view in views]
    finally:
        for view in views:
            client.delete_lun(view)


class TimeViewSource:
    def prepare(self, setup: Setup) -> None:
        return None

    @contextmanager
    def recovered(self, setup: Setup, mode: str) -> Iterator[Recovered]:
        with group_snapshot(setup, mode) as gsnap:
            by_lun = {s["lun_id"]: s["id"] for s in gsnap["snapshots"]}
            ids = [by_lun[lun] for lun in setup.luns]
            with timeviews(setup.client, setup.url, setup.token, ids) as (data, wal):
                yield gsnap["consistency"], data, wal

    def close(self, setup: Setup) -> None:
        return None


class ExportSource:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def prepare(self, setup: Setup) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def recovered(self, setup: Setup, mode: str) -> Iterator[Recovered]:
        with group_snapshot(setup, mode) as gsnap:
            by_lun = {s["lun_id"]: s["id"] for s in gsnap["snapshots"]}
            files = [self._export(setup, by_lun[lun], lun) for lun in setup.luns]
            try:
                yield gsnap["consistency"], files[0], files[1]
            finally:
                for dev in files:
                    dev.close()
                    dev.path.unlink()

    def _export(self, setup: Setup, snap_id: str, lun_id: str) -> FileDevice:
        size = setup.client.get_lun(lun_id)["size_bytes"]
        dev = FileDevice(self.directory / f"{snap_id}.img", size)
        dev.write(0, setup.client.read_snapshot(snap_id, 0, size))
        return dev

    def close(self, setup: Setup) -> None:
        return None


class ReplicaSource:
    """Replicate the group to a paired appliance; recover from the replica's recovery point."""

    def __init__(self, peer_client: Any, peer_url: str, peer_token: str, peer_id: str) -> None:
        self.peer, self.peer_url, self.peer_token = peer_client, peer_url, peer_token
        self.peer_id = peer_id  # the peer's id as the protected appliance knows it
        self.rep_id = ""
        self.remote: dict[str, str] = {}

    def prepare(self, setup: Setup) -> None:
        created = setup.client.create_replication(setup.group_id, self.peer_id)
        setup.client.wait_job(created["job"]["id"], timeout=120)
        self.rep_id = created["replication"]["id"]
        self.remote = {d["local"]: d["remote"] for d in created["replication"]["devices"]}

    @contextmanager
    def recovered(self, setup: Setup, mode: str) -> Iterator[Recovered]:
        result = setup.client.sync_wait(self.rep_id, quiesce=mode == "app")["result"]
        snaps = [self._point(self.remote[lun], result["recovery_point"]) for lun in setup.luns]
        with timeviews(self.peer, self.peer_url, self.peer_token, snaps) as (data, wal):
            yield result["consistency"], data, wal

    def _point(self, replica_lun: str, rp_id: str) -> str:
        points = self.peer.recovery_points(replica_lun)
        return next(p["snapshot_id"] for p in points if p["id"] == rp_id)

    def close(self, setup: Setup) -> None:
        if self.rep_id:
            setup.client.delete_replication(self.rep_id)
            purge(self.peer, list(self.remote.values()))


def purge(client: Any, lun_ids: list[str]) -> None:
    """Delete the LUNs with their groups and snapshots (trial clean-up)."""
    wanted = set(lun_ids)
    for group in client.list_groups():
        if wanted & set(group["luns"]):
            client.delete_group(group["id"])
    for lun in lun_ids:
        for snap in client.list_snapshots(lun):
            client.delete_snapshot(snap["id"])
        client.delete_lun(lun)
