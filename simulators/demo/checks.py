"""What ``drkit demo`` verifies after each workflow, byte for byte.

Recovered devices (a test's TimeViews at site b, the devices a planned migration promotes at
site b, the devices a failback brings back at site a) are read as their site's hosts read them:
over the appliance's iSCSI portal, logged in as a host's IQN, found by WWN among what that IQN
sees (simulators/vcsim/iscsidevices.py). A recovered device no host of its site can see fails
the check. Each is copied whole (one ``qemu-img convert``) into a temporary directory and
compared with the device it recovers, read through the other appliance's REST API (that one
need not be presented to any host); the reference application's pair is checked by its
integrity checker on the same copies.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from orchestrator.errors import OrchestratorError

CHUNK = 8 << 20


class DemoFailed(click.ClickException):
    """A workflow or a check failed; the message says which and where to look."""


def clients(lab: dict[str, Any]) -> dict[str, Any]:
    """Each site's appliance client, by site name (pinning its certificate's fingerprint)."""
    from sra.nss_client import NssClient

    out = {}
    for site in ("a", "b"):
        app = lab["sites"][site]["appliance"]
        out[site] = NssClient(app["url"], Path(app["token_file"]).read_text().strip(),
                              fingerprint=app.get("fingerprint") or "")
    return out


def rest_digest(client: Any, lun_id: str) -> str:
    """SHA-256 of a device read through the REST API."""
    size = client.get_lun(lun_id)["size_bytes"]
    h = hashlib.sha256()
    for off in range(0, size, CHUNK):
        h.update(client.read(lun_id, off, min(CHUNK, size - off)))
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as image:
        while chunk := image.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@contextlib.contextmanager
def recovered_images(lab: dict[str, Any], site: str,
                     lun_ids: list[str]) -> Iterator[dict[str, Path]]:
    """Each device copied over iSCSI as a host of ``site`` sees it (by LUN id), in a
    temporary directory that lives as long as the context."""
    from simulators.vcsim.iscsidevices import IscsiDevices

    client = clients(lab)[site]
    reader = IscsiDevices(client)
    initiators = [(i["type"], i["id"]) for host in lab["sites"][site]["hosts"]
                  for i in host["initiators"]]
    with tempfile.TemporaryDirectory(prefix="drkit-demo-") as tmp:
        images = {}
        for lun_id in lun_ids:
            wwn = client.get_lun(lun_id)["wwn"]
            try:
                if not reader.visible(wwn, initiators):
                    raise DemoFailed(f"recovered device {lun_id} (naa.{wwn}) at site {site} is "
                                     "visible to none of the site's hosts over iSCSI")
                images[lun_id] = reader.copy_to(wwn, Path(tmp) / f"{lun_id}.raw")
            except OrchestratorError as exc:
                raise DemoFailed(f"recovered device {lun_id} at site {site}: {exc}") from exc
        yield images


def check_app(data: Path, wal: Path, what: str) -> str:
    """Run the application's integrity checker on a recovered data/WAL pair's images."""
    from simulators.agent.blockdev import FileDevice
    from simulators.agent.checker import check

    devices = FileDevice(data), FileDevice(wal)
    try:
        report = check(*devices)
    finally:
        for device in devices:
            device.close()
    if not report.ok:
        raise DemoFailed(f"application image {what}: {report.counts}")
    return "application image clean (0 torn records, 0 log/data disagreements)"


def _pairs(client: Any) -> list[tuple[str, str]]:
    (rep,) = client.list_replications()
    return [(d["local"], d["remote"]) for d in rep["devices"]]


def _app(lab: dict[str, Any]) -> dict[str, str]:
    return lab["sites"]["a"]["protected"].get("app") or {}


def check_test(lab: dict[str, Any]) -> str:
    a, b = clients(lab).values()
    peer_of = dict(_pairs(b))
    app = {v: k for k, v in _app(lab).items()}
    views = b.list_luns(role="timeview")
    if len(views) != len(peer_of):
        raise DemoFailed(f"{len(views)} TimeViews for {len(peer_of)} replicated devices")
    found: dict[str, Path] = {}
    with recovered_images(lab, "b", [tv["id"] for tv in views]) as images:
        for tv in views:
            protected = peer_of[tv["source_lun"]]
            if protected in app:  # the application kept writing at site a since the sync
                found[app[protected]] = images[tv["id"]]
            elif file_digest(images[tv["id"]]) != rest_digest(a, protected):
                raise DemoFailed(f"TimeView {tv['id']} differs from the protected device")
        extra = f"; {check_app(found['data'], found['wal'], 'test')}" if found else ""
    return (f"{len(views)} TimeViews at site b of an application-consistent recovery point, "
            f"read over iSCSI as site b's hosts see them{extra}")


def check_cleanup(lab: dict[str, Any]) -> str:
    if clients(lab)["b"].list_luns(role="timeview"):
        raise DemoFailed("TimeViews remain at site b after cleanup")
    return "no TimeView, VM or datastore of the test is left at site b"


def _same(lab: dict[str, Any], site: str) -> str:
    """Every device at ``site`` is writable and, read over iSCSI by the site's hosts,
    byte-identical to its peer at the other site; the application's pair is clean."""
    here, there = (clients(lab)[s] for s in (site, "b" if site == "a" else "a"))
    pairs = _pairs(here)
    with recovered_images(lab, site, [local for local, _ in pairs]) as images:
        for local, remote in pairs:
            if file_digest(images[local]) != rest_digest(there, remote):
                raise DemoFailed(f"device {local} at site {site} differs from its replica "
                                 f"{remote}")
            if here.get_lun(local)["access"] != "read-write":
                raise DemoFailed(f"device {local} at site {site} is not writable")
        app = _app_at(lab, site, pairs, images)
    return f"{len(pairs)} devices read-write at site {site}, read over iSCSI{app}"


def _app_at(lab: dict[str, Any], site: str, pairs: list[tuple[str, str]],
            images: dict[str, Path]) -> str:
    app = _app(lab)
    if not app:
        return ""
    local = {local: local for local, _ in pairs} if site == "a" else \
        {remote: local for local, remote in pairs}
    return "; " + check_app(images[local[app["data"]]], images[local[app["wal"]]], site)


def check_planned(lab: dict[str, Any]) -> str:
    return f"promoted at site b, byte-identical to site a: {_same(lab, 'b')}"


def check_reprotect(lab: dict[str, Any]) -> str:
    (rep,) = clients(lab)["b"].list_replications()
    if rep["direction"] != "outbound" or rep["state"] != "replicating":
        raise DemoFailed(f"site b replication is {rep['direction']}/{rep['state']}")
    return "site b replicates back to site a (only changed sectors travel)"


def check_failback(lab: dict[str, Any]) -> str:
    return f"back in production at site a, byte-identical to site b: {_same(lab, 'a')}"


CHECKS = {"test": check_test, "cleanup": check_cleanup, "planned": check_planned,
          "reprotect": check_reprotect, "failback": check_failback}
