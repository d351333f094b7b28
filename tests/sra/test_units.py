"""Pure pieces: address parsing, HTTP->SRA error mapping, replication records, sync estimates,
the capability list derived from the registry."""

from __future__ import annotations

import pytest

from sra import errors
from sra.array import base_url, http_error
from sra.registry import advertised, load
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


@pytest.mark.parametrize("address, url", [
    ("10.0.0.5", "https://10.0.0.5/api/v1"),
    ("nss.example:8443", "https://nss.example:8443/api/v1"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/v1"),
    (" HTTPS://h/api/v1 ", "HTTPS://h/api/v1"),
])
def test_base_url(address: str, url: str) -> None:
    assert base_url(address) == url


def test_base_url_refuses_other_schemes() -> None:
    with pytest.raises(errors.SraError) as info:
        base_url("ftp://x")
    assert info.value.name == "InvalidParameter"


@pytest.mark.parametrize("status, name", [
    (401, "ArrayAuthFailed"), (403, "ArrayAuthFailed"), (404, "ArrayNotFound"),
    (409, "ArrayConflict"), (400, "ArrayRejected"), (422, "ArrayRejected"),
    (500, "ArrayInternal"), (502, "ArrayUnreachable"), (503, "ArrayUnreachable"),
])
def test_http_error_mapping(status: int, name: str) -> None:
    body = {"error": {"code": "c", "message": "lun 'x' busy", "details": {"job_id": "j"}}}
    exc = http_error("POST", "/luns/x", status, body)
    assert exc.name == name and "lun 'x' busy" in exc.message
    assert exc.details["details"] == {"job_id": "j"}
    assert exc.transient == (name in ("ArrayUnreachable", "ArrayConflict", "ArrayInternal"))


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
    assert "discoverLuns" not in names and "testFailover" not in names
    assert {"discoverLuns", "testFailover"} <= set(load())
    assert {"queryInfo", "syncOnce", "failover", "reverseReplication", "restoreReplication",
            "queryReplicationSettings", "checkTestFailoverStart"} <= names


def test_status_file_only_increases(tmp_path) -> None:
    import logging

    from sra.dispatch import Progress

    path = tmp_path / "status"
    progress = Progress(str(path), logging.getLogger("test"))
    seen = []
    for value in (0, 10, 5, 50, 50, 120):
        progress(value)
        seen.append(path.read_text())
    values = [int(t.split(">")[-2].split("<")[0]) for t in seen]
    assert values == [0, 10, 10, 50, 50, 100]
    assert all(t.startswith("<?xml") and "ProgressUpdate" in t for t in seen)


def test_peer_unreachable_is_its_own_error() -> None:
    body = {"error": {"code": "peer-unreachable", "message": "NSS-B down", "details": {}}}
    exc = http_error("POST", "/replications/r/reverse", 503, body)
    assert exc.name == "PeerUnreachable" and exc.transient


def test_recovery_points_newest_first_by_sequence_even_with_equal_times() -> None:
    same = "2026-11-25T03:00:00Z"
    points = [{"id": "rp-2", "sequence": 2, "time": same},
              {"id": "rp-10", "sequence": 10, "time": same},
              {"id": "rp-1", "sequence": 1, "time": "2026-11-25T02:59:59Z"}]
    assert [p["id"] for p in newest_first(points)] == ["rp-10", "rp-2", "rp-1"]
