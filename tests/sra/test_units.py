"""Pure pieces: appliance-error -> SRA-error mapping, replication records, sync estimates, the
capability list derived from the registry, the StatusFile."""

from __future__ import annotations

import pytest

from sra import errors
from sra.array import sra_error
from sra.nss_client import NssApiError
from sra.registry import VERBS, advertised
from sra.topology import Topology, pair_from
from sra.verbs.sync import device_sync, remaining_seconds
from sra.verbs.testfailover import newest_first

OUT = {"id": "rep-1", "direction": "outbound", "peer": "NSS-B", "state": "replicating",
       "source_kind": "lun", "source": "lun-a", "local_group": None,
       "devices": [{"local": "lun-a", "remote": "lun-b"}]}
IN_GROUP = {"id": "rep-2", "direction": "inbound", "peer": "NSS-A", "state": "replicating",
            "source_kind": "group", "source": None, "local_group": "grp-r",
            "devices": [{"local": "lun-r1", "remote": "lun-s1"},
                        {"local": "lun-r2", "remote": "lun-s2"}]}


@pytest.mark.parametrize("status, code, name", [
    (401, "unauthorized", "ArrayAuthFailed"), (403, "http-error", "ArrayAuthFailed"),
    (404, "not-found", "ArrayNotFound"), (409, "conflict", "ArrayConflict"),
    (409, "read-only-device", "ArrayConflict"), (400, "invalid-request", "ArrayRejected"),
    (422, "delta-rejected", "ArrayRejected"), (500, "appliance-fault", "ArrayInternal"),
    (502, "http-error", "ArrayUnreachable"), (503, "http-error", "ArrayUnreachable"),
    (503, "quiesce-failed", "QuiesceFailed"), (503, "peer-unreachable", "PeerUnreachable"),
    (502, "peer-refused", "ArrayRejected"), (409, "no-common-recovery-point", "NoRecoveryPoint"),
    (200, "job-failed", "JobFailed"), (0, "unreachable", "ArrayUnreachable"),
    (0, "deadline", "ArrayUnreachable"), (0, "tls-untrusted", "TlsUntrusted"),
    (0, "tls-failed", "ArrayUnreachable"),
    (0, "invalid-id", "InvalidParameter"),
])
def test_appliance_errors_map_by_code_first(status: int, code: str, name: str) -> None:
    exc = sra_error("update_lun", NssApiError(status, code, "lun 'x' busy", {"job_id": "j"}))
    assert exc.name == name and "lun 'x' busy" in exc.message and code in exc.message
    assert exc.details["details"] == {"job_id": "j"}


def test_a_failed_quiesce_is_not_an_unreachable_array() -> None:
    """The appliance answers 503 for a failed quiesce: its code decides, not the status."""
    exc = sra_error("sync", NssApiError(503, "quiesce-failed", "agent db-1 did not freeze"))
    assert exc.code == 3009 and exc.name != "ArrayUnreachable"


def test_pairs_and_keys() -> None:
    source, target = pair_from(OUT), pair_from(IN_GROUP)
    assert source.local_is_source and source.key == "lun-b" and source.source == "lun-a"
    assert not target.local_is_source and target.is_group and target.key == "rep-2"
    assert [m.replica for m in target.members] == ["lun-r1", "lun-r2"]
    topo = Topology("NSS-A", [source, target])
    assert topo.source_device("lun-a") is source
    assert topo.target_group("rep-2") is target
    assert topo.device("lun-r2") is target
    with pytest.raises(errors.SraError) as info:
        topo.target_device("lun-a")
    assert info.value.name == "NotReplica"
    with pytest.raises(errors.SraError) as info:
        topo.source_device("lun-r1")
    assert info.value.name == "GroupSplit"
    with pytest.raises(errors.SraError) as info:
        topo.source_device("nope")
    assert info.value.name == "UnknownDevice"


def test_sync_progress_and_estimate() -> None:
    running = {"id": "job-1", "state": "running", "progress": 40,
               "result": {"remaining_seconds": 12.4}}
    element = device_sync(running)
    assert element.get("status") == "inProgress"
    assert element.findtext("Progress") == "40"
    assert element.findtext("RemainingTimeEstimate") == "12"
    assert device_sync({"id": "job-1", "state": "succeeded"}).get("status") == "complete"
    assert remaining_seconds({"progress": 0, "created": "2026-01-01T00:00:00Z"}) == 0
    with pytest.raises(errors.SraError):
        device_sync({"id": "job-1", "state": "failed", "error": {"code": "x"}})


def test_capabilities_come_from_the_registry() -> None:
    names = {v.name for v in advertised()}
    assert names == {n for n, v in VERBS.items() if v.advertise}
    assert not {"discoverLuns", "testFailover", "queryReplicationSettings"} & set(VERBS)
    assert {"checkTestFailoverStart", "checkFailover"} <= set(VERBS) - names  # answers unknown
    assert {"queryInfo", "syncOnce", "failover", "reverseReplication", "restoreReplication",
            "prepareFailover", "prepareReverseReplication"} <= names


def test_status_file_only_increases(tmp_path) -> None:
    import logging

    from sra.context import Progress

    path = tmp_path / "status"
    progress = Progress(str(path), logging.getLogger("test"))
    seen = []
    for value in (0, 10, 5, 50, 50, 120):
        progress(value)
        seen.append(path.read_text())
    values = [int(t.split(">")[-2].split("<")[0]) for t in seen]
    assert values == [0, 10, 10, 50, 50, 100]
    assert all(t.startswith("<?xml") and "ProgressUpdate" in t for t in seen)


def test_recovery_points_newest_first_by_sequence_even_with_equal_times() -> None:
    same = "2026-11-25T03:00:00Z"
    points = [{"id": "rp-2", "sequence": 2, "time": same},
              {"id": "rp-10", "sequence": 10, "time": same},
              {"id": "rp-1", "sequence": 1, "time": "2026-11-25T02:59:59Z"}]
    assert [p["id"] for p in newest_first(points)] == ["rp-10", "rp-2", "rp-1"]
