"""The whole SRM cycle through the real command.pl against two real appliance processes:

discover -> sync -> test start/stop -> prepareFailover -> failover -> prepareReverse -> reverse
-> sync back -> failover back, with one single device and one two-device consistency group,
every state-changing verb run twice (SRM re-runs after partial failures).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from sra import errors
from tests.sra.sra_runner import NS, SraRun, command, connection, run_sra

pytestmark = pytest.mark.live

MiB = 1 << 20
CODE = {d.name: d.code for d in (*errors.ERRORS, *errors.WARNINGS)}
WWPN = "21:00:00:00:11:22:AB:CD"
IQN = "iqn.1998-01.com.vmware:esx-01-5a2b"
ACCESS = (f'<AccessGroups><AccessGroup id="domain-c36"><Initiator id="{WWPN}" type="FC"/>'
          f'<Initiator id="{IQN}" type="iSCSI"/></AccessGroup></AccessGroups>')


def q(path: str) -> str:
    """'A/B' -> '{ns}A/{ns}B'."""
    return "/".join(f"{{{NS}}}{p}" if p and p[0].isupper() else p for p in path.split("/"))


@dataclass
class Site:
    ap: object
    workdir: Path
    counter: itertools.count = field(default_factory=itertools.count)

    @property
    def id(self) -> str:
        return self.ap.client.appliance()["id"]

    def run(self, name: str, body: str = "", *, array: bool = True, **opaques: str) -> SraRun:
        tag = name[:1].upper() + name[1:] + "Parameters"
        array_id = f"<ArrayId>{self.id}</ArrayId>" if array else ""
        params = f"<{tag}>{array_id}{body}</{tag}>"
        work = self.workdir / f"{next(self.counter):03d}-{name}"
        work.mkdir(parents=True)
        conn = connection(self.ap.url, self.ap.token, **opaques)
        run = run_sra(command(name, params, connection=conn), work)
        assert run.returncode == 0 and run.stderr == "", run.stderr
        return run


def no_errors(run: SraRun) -> ET.Element:
    assert run.error_codes() == [], run.response.decode()
    return run.root


def warnings(run: SraRun | ET.Element) -> list[int]:
    root = run.root if isinstance(run, SraRun) else run
    return [int(w.get("code")) for w in root.iter(f"{{{NS}}}Warning")]


def make_sites(start: Callable[[str], object], workdir: Path) -> dict:
    """Two paired appliances; one replicated LUN and one replicated two-LUN group, synced."""
    a, b = start("site-a"), start("site-b")
    peer = a.client.pair(b.url, b.token)
    lun = a.client.create_lun("vm disk 1", MiB)
    a.client.write(lun["id"], 0, b"A" * 4096)
    members = [a.client.create_lun(f"db disk {i}", MiB) for i in range(2)]
    group = a.client.create_group("db group", [m["id"] for m in members])
    reps = [a.client.create_replication(x, peer["id"]) for x in (lun["id"], group["id"])]
    for rep in reps:
        a.client.wait_job(rep["job"]["id"])
    return {"a": Site(a, workdir / "a"), "b": Site(b, workdir / "b"), "lun": lun["id"],
            "group": group["id"], "members": [m["id"] for m in members],
            "reps": [r["replication"] for r in reps]}


@pytest.fixture
def sites(appliance_factory: Callable, tmp_path: Path) -> dict:
    """Fresh sites for tests that change roles."""
    return make_sites(appliance_factory, tmp_path)


@pytest.fixture(scope="module")
def shared_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """One pair of sites for the tests that leave roles as they found them."""
    from simulators.nss.process import ApplianceProcess

    root = tmp_path_factory.mktemp("shared")
    started: list = []

    def start(name: str) -> object:
        started.append(ApplianceProcess(name, root / name).start())
        return started[-1]

    try:
        yield make_sites(start, root)
    finally:
        for ap in started:
            ap.kill9()


def wait_sync(site: Site, params: str) -> None:
    """querySyncStatus until every DeviceSync is complete."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        root = no_errors(site.run("querySyncStatus", params))
        if all(d.get("status") == "complete" for d in root.iter(q("DeviceSync"))):
            return
        time.sleep(0.1)
    raise AssertionError("sync did not complete")


def sync(site: Site, source_lun: str, group_id: str) -> None:
    root = no_errors(site.run("syncOnce", f'<ConsistencyGroups><ConsistencyGroup id="{group_id}"/>'
                              f'</ConsistencyGroups><SourceDevices><SourceDevice id="{source_lun}"'
                              "/></SourceDevices>"))
    handles = {e.get("id"): e.find(q("DeviceSync")).get("id")
               for e in root.iter() if e.find(q("DeviceSync")) is not None}
    assert set(handles) == {group_id, source_lun}
    wait_sync(site, f'<ConsistencyGroups><ConsistencyGroup id="{group_id}" '
              f'syncId="{handles[group_id]}"/></ConsistencyGroups><SourceDevices><SourceDevice '
              f'id="{source_lun}" syncId="{handles[source_lun]}"/></SourceDevices>')


def discover(site: Site, peer: Site) -> ET.Element:
    return no_errors(site.run("discoverDevices", f"<PeerArrayId>{peer.id}</PeerArrayId>"))


def test_full_cycle(sites: dict) -> None:
    a, b = sites["a"], sites["b"]
    # discoverArrays: each appliance names the other as its peer
    for site, peer in ((a, b), (b, a)):
        root = no_errors(site.run("discoverArrays", array=False))
        assert root.find(q("Arrays/Array")).get("id") == site.id
        assert [p.get("id") for p in root.iter(q("PeerArray"))] == [peer.id]

    # discoverDevices: the source's TargetDevice@key is the recovery site's TargetDevice@key
    src, dst = discover(a, b), discover(b, a)
    source_dev = src.find(q("ReplicatedDevices/SourceDevices/SourceDevice"))
    assert source_dev.get("id") == sites["lun"] and source_dev.get("state") == "read-write"
    key = source_dev.find(q("TargetDevice")).get("key")
    target_dev = dst.find(q("ReplicatedDevices/TargetDevices/TargetDevice"))
    assert target_dev.get("key") == key and target_dev.get("state") == "read-only"
    cg = src.find(q("ReplicatedDevices/ConsistencyGroups/ConsistencyGroup"))
    assert cg.get("id") == sites["group"] and cg.findtext(q("Name")) == "db group"
    assert [d.get("id") for d in cg.iter(q("SourceDevice"))] == sites["members"]
    group_key = cg.find(q("TargetGroup")).get("key")
    tg = dst.find(q("ReplicatedDevices/TargetGroups/TargetGroup"))
    assert tg.get("key") == group_key
    member_keys = [d.get("key") for d in tg.iter(q("TargetDevice"))]
    assert member_keys == [d.find(q("TargetDevice")).get("key") for d in cg.iter(q("SourceDevice"))]
    assert src.find(q("ReplicatedDevices/TargetDevices")) is None or \
        len(src.find(q("ReplicatedDevices/TargetDevices"))) == 0

    # syncOnce + querySyncStatus at the source
    a.ap.client.write(sites["lun"], 4096, b"B" * 512)
    sync(a, sites["lun"], sites["group"])

    # test failover at the recovery site: writable TimeViews presented to domain-c36
    targets = (f'{ACCESS}<TargetGroups><TargetGroup key="{group_key}"><TargetDevices>'
               + "".join(f'<TargetDevice key="{k}"><AccessGroups><AccessGroup id="domain-c36"/>'
                         "</AccessGroups></TargetDevice>" for k in member_keys)
               + f'</TargetDevices></TargetGroup></TargetGroups><TargetDevices><TargetDevice '
               f'key="{key}"><AccessGroups><AccessGroup id="domain-c36"/></AccessGroups>'
               "</TargetDevice></TargetDevices>")
    no_errors(b.run("checkTestFailoverStart", targets))
    first = no_errors(b.run("testFailoverStart", targets))
    again = no_errors(b.run("testFailoverStart", targets))
    assert warnings(first) == [] and warnings(again) == []  # no "completed with warnings"
    snap = first.find(q("TestFailoverStartResults/TargetDevices/TargetDevice/Snapshot"))
    assert snap.get("id") == again.find(
        q("TestFailoverStartResults/TargetDevices/TargetDevice/Snapshot")).get("id")
    wwn = snap.findtext(q("Identity/Wwn"))
    view = next(x for x in b.ap.client.list_luns() if x["wwn"] == wwn)
    assert view["role"] == "timeview" and view["access"] == "read-write"
    assert b.ap.client.read(view["id"], 0, 4608) == b"A" * 4096 + b"B" * 512
    assert len(snap.findtext(q("RecoveryPoint/Time"))) == 19
    group_views = first.findall(q("TestFailoverStartResults/TargetGroups/TargetGroup/Snapshot/"
                                  "TargetDevices/TargetDevice/Snapshot"))
    assert len(group_views) == 2
    points = {v.find(q("RecoveryPoint")).get("id") for v in group_views}
    assert len(points) == 1, "a group is tested at one consistent point"
    client = next(c for c in b.ap.client.list_clients() if c["name"] == "domain-c36")
    assert {i["id"] for i in client["initiators"]} == {WWPN.lower(), IQN}
    assert [p["client_id"] for p in b.ap.client.list_presentations(view["id"])] == [client["id"]]

    no_errors(b.run("testFailoverStop", targets))
    no_errors(b.run("testFailoverStop", targets))
    assert not [x for x in b.ap.client.list_luns() if x["role"] == "timeview"]

    # planned migration: prepareFailover at A, final sync, failover at B
    sources = (f'<ConsistencyGroups><ConsistencyGroup id="{sites["group"]}"/></ConsistencyGroups>'
               f'<SourceDevices><SourceDevice id="{sites["lun"]}"/></SourceDevices>')
    no_errors(a.run("prepareFailover", sources))
    assert warnings(a.run("prepareFailover", sources)) == [CODE["AlreadyDone"]] * 2
    assert a.ap.client.get_lun(sites["lun"])["access"] == "read-only"
    sync(a, sites["lun"], sites["group"])
    no_errors(b.run("checkFailover", targets))
    done = no_errors(b.run("failover", targets))
    assert warnings(done) == []
    no_errors(b.run("failover", targets))
    device = done.find(q("FailoverResults/TargetDevices/TargetDevice"))
    assert device.get("state") == "read-write" and device.get("key") == key
    assert device.get("id") == key
    group = done.find(q("FailoverResults/TargetGroups/TargetGroup"))
    assert group.get("key") == group_key and group.get("state") == "read-write"
    assert group.get("id")
    group_point = group.find(q("RecoveryPoint"))
    assert group_point is not None and len(group_point.findtext(q("Time"))) == 19
    assert {p.get("id") for p in group.iter(q("RecoveryPoint"))} == {group_point.get("id")}
    promoted = discover(b, a)  # read-write targets carry their @id, as after a real failover
    rw = promoted.find(q("ReplicatedDevices/TargetDevices/TargetDevice"))
    assert (rw.get("key"), rw.get("id"), rw.get("state")) == (key, key, "read-write")
    rw_group = promoted.find(q("ReplicatedDevices/TargetGroups/TargetGroup"))
    assert rw_group.get("id") == group.get("id") and rw_group.get("state") == "read-write"
    assert b.ap.client.get_lun(key)["access"] == "read-write"
    assert b.ap.client.read(key, 0, 4608) == b"A" * 4096 + b"B" * 512
    assert b.ap.client.list_presentations(key)

    # reprotect: prepareReverse at the old primary A, reverse at B, sync back B -> A
    devices = (f'<ConsistencyGroups><ConsistencyGroup id="{sites["group"]}"/>'
               f'</ConsistencyGroups><Devices><Device id="{sites["lun"]}"/></Devices>')
    no_errors(a.run("prepareReverseReplication", f"<PeerArrayId>{b.id}</PeerArrayId>{devices}"))
    no_errors(a.run("prepareReverseReplication", f"<PeerArrayId>{b.id}</PeerArrayId>{devices}"))
    new_devices = (f'<ConsistencyGroups><ConsistencyGroup id="{group_key}"/>'
                   f'</ConsistencyGroups><Devices><Device id="{key}"/></Devices>')
    new_hosts = ('<AccessGroups><AccessGroup id="domain-c77"><Initiator id="iqn.1998-01.com.'
                 'vmware:esx-77" type="iSCSI"/></AccessGroup></AccessGroups>')
    no_errors(b.run("reverseReplication", f"<PeerArrayId>{a.id}</PeerArrayId>{new_hosts}"
                    f"{new_devices}"))
    c77 = next(c for c in b.ap.client.list_clients() if c["name"] == "domain-c77")
    for lun_id in [key, *member_keys]:  # DynamicAccessRestriction: presented to its hosts
        assert c77["id"] in [p["client_id"] for p in b.ap.client.list_presentations(lun_id)]
    assert warnings(b.run("reverseReplication", f"<PeerArrayId>{a.id}</PeerArrayId>"
                          f"{new_devices}")) == [CODE["AlreadyDone"]] * 2
    b_src = discover(b, a)
    back = b_src.find(q("ReplicatedDevices/SourceDevices/SourceDevice"))
    assert back.get("id") == key and back.find(q("TargetDevice")).get("key") == sites["lun"]
    b_group = b_src.find(q("ReplicatedDevices/ConsistencyGroups/ConsistencyGroup")).get("id")
    b.ap.client.write(key, 8192, b"C" * 512)
    wait_idle(b, key)
    sync(b, key, b_group)
    assert a.ap.client.read(sites["lun"], 8192, 512) == b"C" * 512

    # failover back: prepareFailover at B, failover at A, reprotect to the original direction
    no_errors(b.run("prepareFailover", f'<ConsistencyGroups><ConsistencyGroup id="{b_group}"/>'
                    f'</ConsistencyGroups><SourceDevices><SourceDevice id="{key}"/>'
                    "</SourceDevices>"))
    back_targets = targets.replace(f'key="{key}"', f'key="{sites["lun"]}"')
    for old, new in zip(member_keys, sites["members"], strict=True):
        back_targets = back_targets.replace(f'key="{old}"', f'key="{new}"')
    no_errors(a.run("failover", back_targets))
    assert a.ap.client.get_lun(sites["lun"])["access"] == "read-write"
    no_errors(b.run("prepareReverseReplication", f"<PeerArrayId>{a.id}</PeerArrayId>"
                    f'<ConsistencyGroups><ConsistencyGroup id="{b_group}"/></ConsistencyGroups>'
                    f'<Devices><Device id="{key}"/></Devices>'))
    no_errors(a.run("reverseReplication", f"<PeerArrayId>{b.id}</PeerArrayId>{devices}"))
    final = discover(a, b)
    assert final.find(q("ReplicatedDevices/SourceDevices/SourceDevice")).get("id") == sites["lun"]
    assert_no_tokens(a, b)


def assert_no_tokens(*sites: Site) -> None:
    """Every log, Response and StatusFile the cycle produced is free of both tokens."""
    files = [f for s in sites for f in s.workdir.rglob("*") if f.is_file()]
    assert len(files) > 50
    for f in files:
        data = f.read_bytes()
        for s in sites:
            assert s.ap.token.encode() not in data, f


def wait_idle(site: Site, lun: str) -> None:
    """Reverse starts a cycle on its own; wait for it so syncOnce starts a fresh one."""
    rep = next(r for r in site.ap.client.list_replications()
               if lun in [d["local"] for d in r["devices"]])
    for other in site.ap.client.list_replications():
        if other.get("job"):
            site.ap.client.wait_job(other["job"]["id"])
    assert rep["direction"] == "outbound"


def test_one_bad_device_does_not_fail_the_others(shared_sites: dict) -> None:
    sites = shared_sites
    a = sites["a"]
    body = (f'<SourceDevices><SourceDevice id="{sites["lun"]}"/><SourceDevice id="no such lun"/>'
            "</SourceDevices>")
    root = a.run("syncOnce", body).root
    good, bad = root.findall(q("SyncOnceResults/SourceDevices/SourceDevice"))
    assert good.find(q("DeviceSync")) is not None
    assert bad.get("id") == "no such lun"
    assert bad.find(q("Error")).get("code") == str(CODE["UnknownDevice"])


def test_sync_already_running_returns_its_handle_with_a_warning(shared_sites: dict) -> None:
    sites = shared_sites
    a = sites["a"]
    a.ap.client.write(sites["lun"], 0, b"Z" * (256 * 1024))
    body = f'<SourceDevices><SourceDevice id="{sites["lun"]}"/></SourceDevices>'
    first, second = a.run("syncOnce", body), a.run("syncOnce", body)
    ids = [r.root.find(f".//{q('DeviceSync')}").get("id") for r in (first, second)]
    if warnings(second):  # the first cycle was still running: same handle
        assert warnings(second) == [CODE["SyncAlreadyRunning"]] and ids[0] == ids[1]


def test_test_failover_with_no_initiators_is_a_per_item_error(shared_sites: dict) -> None:
    sites = shared_sites
    b = sites["b"]
    key = b.ap.client.list_replications()[0]["devices"][0]["local"]
    body = (f'<AccessGroups><AccessGroup id="empty-cluster"/></AccessGroups><TargetDevices>'
            f'<TargetDevice key="{key}"><AccessGroups><AccessGroup id="empty-cluster"/>'
            "</AccessGroups></TargetDevice></TargetDevices>")
    assert b.run("testFailoverStart", body).error_codes() == [CODE["NoInitiators"]]
    assert f"srm-test {key}" not in [x["name"] for x in b.ap.client.list_luns()]


def test_restore_replication_after_split(shared_sites: dict) -> None:
    sites = shared_sites
    a, rep = sites["a"], sites["reps"][0]
    body = f'<Devices><Device id="{sites["lun"]}"/></Devices>'
    assert warnings(a.run("restoreReplication", body)) == [CODE["NothingToRestore"]]
    a.ap.client.role(rep["id"], "split")
    no_errors(a.run("restoreReplication", body))
    assert a.ap.client.get_replication(rep["id"])["state"] == "replicating"


def test_disaster_failover_and_reprotect(sites: dict) -> None:
    a, b = sites["a"], sites["b"]
    key = b.ap.client.list_replications()[0]["devices"][0]["local"]
    a.ap.kill9()  # the protected site is gone
    targets = f'{ACCESS}<TargetDevices><TargetDevice key="{key}"/></TargetDevices>'
    done = no_errors(b.run("failover", targets))
    assert done.find(q("FailoverResults/TargetDevices/TargetDevice")).get("state") == "read-write"
    assert b.ap.client.get_lun(key)["access"] == "read-write"
    a.ap.start()  # back: A still believes it replicates to B
    body = (f'<PeerArrayId>{b.id}</PeerArrayId><Devices><Device id="{sites["lun"]}"/>'
            "</Devices>")
    no_errors(a.run("prepareReverseReplication", body))
    assert a.ap.client.get_lun(sites["lun"])["access"] == "read-only"
    no_errors(b.run("reverseReplication", f'<PeerArrayId>{a.id}</PeerArrayId><Devices><Device '
                    f'id="{key}"/></Devices>'))
    back = discover(b, a).find(q("ReplicatedDevices/SourceDevices/SourceDevice"))
    assert back.get("id") == key


def test_bad_ids_get_specific_codes(shared_sites: dict) -> None:
    a, b = shared_sites["a"], shared_sites["b"]
    assert a.run("discoverDevices", "<PeerArrayId>NSS-NOT-PAIRED</PeerArrayId>").error_codes() \
        == [CODE["PeerArrayMismatch"]]
    status = a.run("querySyncStatus", f'<SourceDevices><SourceDevice id="{shared_sites["lun"]}" '
                   'syncId="job-nope"/></SourceDevices>')
    assert status.error_codes() == [CODE["UnknownSync"]]
    groups = b.run("testFailoverStart", '<TargetGroups><TargetGroup key="rep-nope"/>'
                   "</TargetGroups>")
    assert groups.error_codes() == [CODE["UnknownGroup"]]
    # the source's device id is not a replica key at the recovery site
    wrong_side = b.run("failover", f'<TargetDevices><TargetDevice key="{shared_sites["lun"]}"/>'
                       "</TargetDevices>")
    assert wrong_side.error_codes() == [CODE["UnknownDevice"]]
    at_source = a.run("failover", f'<TargetDevices><TargetDevice key="{shared_sites["lun"]}"/>'
                      "</TargetDevices>")
    assert at_source.error_codes() == [CODE["NotReplica"]]
    member = a.run("syncOnce", f'<SourceDevices><SourceDevice id="{shared_sites["members"][0]}"/>'
                   "</SourceDevices>")
    assert member.error_codes() == [CODE["GroupSplit"]]


def test_rerun_after_partial_group_start_keeps_one_point(shared_sites: dict) -> None:
    a, b = shared_sites["a"], shared_sites["b"]
    rep = next(r for r in b.ap.client.list_replications() if r["source_kind"] == "group")
    replicas = [d["local"] for d in rep["devices"]]
    older = b.ap.client.recovery_points(replicas[0])[-1]
    a.ap.client.write(shared_sites["members"][0], 0, b"N" * 512)
    a.ap.client.sync_wait(rep["id"])
    assert b.ap.client.recovery_points(replicas[0])[-1]["id"] != older["id"]
    # an earlier run died after making the first member's TimeView at the older point
    b.ap.client.create_timeview(older["snapshot_id"], name=f"srm-test {replicas[0]}")
    body = (f'{ACCESS}<TargetGroups><TargetGroup key="{rep["id"]}"><AccessGroups><AccessGroup '
            'id="domain-c36"/></AccessGroups></TargetGroup></TargetGroups>')
    root = no_errors(b.run("testFailoverStart", body))
    ids = {p.get("id") for p in root.iter(q("RecoveryPoint"))}
    assert ids == {older["id"]}
    no_errors(b.run("testFailoverStop", body))
    names = {f"srm-test {r}" for r in replicas}
    assert not [x for x in b.ap.client.list_luns() if x["name"] in names]


@pytest.mark.parametrize("verb", ["discoverLuns", "testFailover", "queryReplicationSettings"])
def test_verbs_without_public_answer_shapes_are_not_served(shared_sites: dict,
                                                            verb: str) -> None:
    """SRA 1.x verbs (un-namespaced, ReturnCode errors) and queryReplicationSettings are not
    served: UnknownCommand, and queryCapabilities does not list them."""
    b = shared_sites["b"]
    assert b.run(verb, "").error_codes() == [CODE["UnknownCommand"]]


def test_initiators_missing_from_an_existing_client_are_presented_too(shared_sites: dict) -> None:
    b = shared_sites["b"]
    key = next(r for r in b.ap.client.list_replications()
               if r["source_kind"] == "lun")["devices"][0]["local"]
    b.ap.client.create_client("domain-c99", [{"type": "FC", "id": "21:00:00:00:99:99:00:01"}])
    new_host = "iqn.1998-01.com.vmware:esx-99"
    body = ('<AccessGroups><AccessGroup id="domain-c99">'
            '<Initiator id="21:00:00:00:99:99:00:01" type="FC"/>'
            f'<Initiator id="{new_host}" type="iscsi"/></AccessGroup></AccessGroups>'
            f'<TargetDevices><TargetDevice key="{key}"/></TargetDevices>')
    root = no_errors(b.run("testFailoverStart", body))
    no_errors(b.run("testFailoverStart", body))
    wwn = root.findtext(f".//{q('Wwn')}")
    view = next(x for x in b.ap.client.list_luns() if x["wwn"] == wwn)
    seen = b.ap.client.visible_devices("iSCSI", new_host)
    assert view["id"] in [d.get("lun_id", d.get("id")) for d in seen]
    assert len(b.ap.client.list_presentations(view["id"])) == 2
    no_errors(b.run("testFailoverStop", body))


def test_parallel_commands_share_one_new_client(shared_sites: dict) -> None:
    """SRM runs commands for different protection groups at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    b = shared_sites["b"]
    reps = b.ap.client.list_replications()
    single = next(r for r in reps if r["source_kind"] == "lun")["devices"][0]["local"]
    group = next(r for r in reps if r["source_kind"] == "group")["id"]
    access = ('<AccessGroups><AccessGroup id="domain-par">'
              '<Initiator id="21:00:00:00:aa:bb:cc:01" type="FC"/></AccessGroup></AccessGroups>')
    bodies = [f'{access}<TargetDevices><TargetDevice key="{single}"/></TargetDevices>',
              f'{access}<TargetGroups><TargetGroup key="{group}"/></TargetGroups>']
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda body: b.run("testFailoverStart", body), bodies))
    for run in runs:
        no_errors(run)
    assert [c["name"] for c in b.ap.client.list_clients()].count("domain-par") == 1
    for body in bodies:
        no_errors(b.run("testFailoverStop", body))


class _Agent(BaseHTTPRequestHandler):
    """A Snapshot Agent that always freezes (the appliance's quiesce protocol)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"state": "frozen"}' if self.path == "/quiesce" else b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def point_names(run: SraRun) -> set[str]:
    return {p.findtext(q("Name")) for p in run.root.iter(q("RecoveryPoint"))}


def test_consistency_of_points_is_reported_per_device(shared_sites: dict) -> None:
    """In the RecoveryPoint's Name and the log, never as a warning."""
    a, b = shared_sites["a"], shared_sites["b"]
    lun = shared_sites["lun"]
    key = next(r for r in b.ap.client.list_replications()
               if r["source_kind"] == "lun")["devices"][0]["local"]
    body = f'{ACCESS}<TargetDevices><TargetDevice key="{key}"/></TargetDevices>'
    crash = b.run("testFailoverStart", body)
    no_errors(crash)
    assert warnings(crash) == [] and point_names(crash) == {"crash-consistent"}
    assert "is crash-consistent" in crash.logs[0].read_text()
    no_errors(b.run("testFailoverStop", body))

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Agent)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    agent = a.ap.client.register_agent("sra-test", f"http://127.0.0.1:{server.server_port}",
                                       "agent-token", [lun])
    try:
        wait_idle(a, lun)
        synced = a.run("syncOnce", f'<SourceDevices><SourceDevice id="{lun}"/></SourceDevices>',
                       quiesce="true")
        root = no_errors(synced)
        assert "(quiesce=True)" in synced.logs[0].read_text()
        job = root.find(f".//{q('DeviceSync')}").get("id")
        a.ap.client.wait_job(job)
        app = b.run("testFailoverStart", body)
        no_errors(app)
        assert warnings(app) == [] and point_names(app) == {"application-consistent"}
        no_errors(b.run("testFailoverStop", body))
    finally:
        a.ap.client.delete_agent(agent["id"])
        server.shutdown()


def test_planned_migration_carries_the_last_writes_while_cycles_run(sites: dict) -> None:
    """Replication runs continuously (cycles back to back) while the VMs write; they stop,
    their last writes land, prepareFailover, syncOnce: the replicas hold those last writes
    even though the sync joined a cycle whose snapshot was older."""
    a, b, client = sites["a"], sites["b"], sites["a"].ap.client
    for rep in sites["reps"]:
        client.update_replication(rep["id"], policy={  # slow cycles: 1 MiB/s
            "mode": "continuous", "interval_s": 0, "bandwidth_bps": MiB})
    luns = [sites["lun"], *sites["members"]]
    rng, stop = np.random.default_rng(11), threading.Event()

    def vms_running() -> None:
        writer = a.ap.client
        while not stop.is_set():
            writer.write(luns[int(rng.integers(0, 3))], int(rng.integers(1, 4)) * 256 * 1024,
                         rng.integers(0, 256, 256 * 1024, dtype=np.uint8).tobytes())
            time.sleep(0.05)

    thread = threading.Thread(target=vms_running)
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join()
    for n, lun in enumerate(luns):  # the last writes, as the guests shut down
        client.write(lun, 0, bytes([0xF0 + n]) * 4096)
    sources = (f'<ConsistencyGroups><ConsistencyGroup id="{sites["group"]}"/></ConsistencyGroups>'
               f'<SourceDevices><SourceDevice id="{sites["lun"]}"/></SourceDevices>')
    no_errors(a.run("prepareFailover", sources))
    sync(a, sites["lun"], sites["group"])
    remote = {d["local"]: d["remote"] for rep in sites["reps"] for d in rep["devices"]}
    for lun in luns:
        assert b.ap.client.read(remote[lun], 0, MiB) == client.read(lun, 0, MiB), lun
