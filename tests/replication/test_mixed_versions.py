"""A pair whose appliances run different releases keeps replicating: the two appliances of a
pair are upgraded one at a time. The older one is the real appliance of the last release
that sealed deltas in wire version 2, taken from this repository's history (``git archive``)
and run as its own process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import digest

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]
WIRE_V2_RELEASE = "54295c2218f950eee3bd0d886db2dd61f419e98b"  # stop 17: wire v2 only
MiB = 2**20


@pytest.fixture(scope="module")
def old_tree(tmp_path_factory) -> Path:
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e",
                            f"{WIRE_V2_RELEASE}^{{commit}}"], capture_output=True)
    if found.returncode:
        pytest.skip(f"release {WIRE_V2_RELEASE[:7]} is not in this clone's history")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", WIRE_V2_RELEASE,
                              "simulators", "sra"], capture_output=True, check=True).stdout
    tree = tmp_path_factory.mktemp("wire-v2-release")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def replicate(source, replica, writes: int = 3) -> dict:
    """Initial sync, then incremental cycles; the replica equals the source after each."""
    ca, cb = source.client, replica.client
    peer = ca.pair(replica.url, replica.token)["id"]
    size = 16 * MiB
    lun = ca.create_lun("mixed", size)
    ca.write(lun["id"], 0, bytes(range(256)) * (4 * MiB // 256))
    created = ca.create_replication(lun["id"], peer)
    result = ca.wait_job(created["job"]["id"], timeout=60)["result"]
    remote = created["replication"]["devices"][0]["remote"]
    assert digest(cb, remote, size) == digest(ca, lun["id"], size)
    for n in range(writes):
        ca.write(lun["id"], (5 + n) * MiB + 512 * n, bytes([n + 1]) * 4096)
        result = ca.sync_wait(created["replication"]["id"])["result"]
        assert result["kind"] == "incremental"
        assert digest(cb, remote, size) == digest(ca, lun["id"], size)
    return result


def test_a_new_source_seals_version_2_for_an_old_replica(appliance_factory, old_tree):
    new, old = appliance_factory("new-a"), appliance_factory("old-b", tree=old_tree)
    assert replicate(new, old)["stats"]["wire_version"] == 2


def test_an_old_source_replicates_to_a_new_replica(appliance_factory, old_tree):
    old, new = appliance_factory("old-a", tree=old_tree), appliance_factory("new-b")
    replicate(old, new)


def test_two_new_appliances_seal_version_3(appliance_factory):
    a, b = appliance_factory("new-a"), appliance_factory("new-b")
    assert replicate(a, b, writes=1)["stats"]["wire_version"] == 3
