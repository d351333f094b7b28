"""``drkit sim up|status|down`` as a user runs it: a real CLI process, real background processes."""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.vsphere.connection import connect, disconnect
from orchestrator.vsphere.datastores import VmfsMounter
from orchestrator.vsphere.pyvmomi_adapter import PyVmomiAdapter
from sra.nss_client import NssApiError, NssClient, RetryPolicy

pytestmark = pytest.mark.live


def _drkit(lab_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DRKIT_LAB_DIR": str(lab_dir), "COLUMNS": "200"}
    cmd = [sys.executable, "-c", "from orchestrator.cli import main; main()", "sim", *args]
    return subprocess.run(cmd, env=env,
                          capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])


@pytest.fixture
def lab_dir(tmp_path: Path, vcsim_bin: Path):
    root = tmp_path / "lab"
    yield root
    if (root / "lab.json").exists():
        _drkit(root, "down")


def _secrets(lab: dict) -> list[str]:
    found = []
    for site in lab["sites"].values():
        found.append(json.loads(Path(site["vcenter"]["credential_file"]).read_text())["password"])
        found.append(Path(site["appliance"]["token_file"]).read_text().strip())
    return found


def test_sim_up_status_down(lab_dir: Path):
    done = _drkit(lab_dir, "up", "--vms", "2", "--boot-delay", "0.5")
    assert done.returncode == 0, done.stderr
    lab = json.loads((lab_dir / "lab.json").read_text())
    status = _drkit(lab_dir, "status", "--json")
    table = _drkit(lab_dir, "status")
    for secret in _secrets(lab):
        assert secret not in status.stdout + table.stdout + (lab_dir / "lab.json").read_text()
    for site in lab["sites"].values():
        creds = Path(site["vcenter"]["credential_file"])
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(site["appliance"]["token_file"]).stat().st_mode) == 0o600
    rows = json.loads(status.stdout)["processes"]
    assert len(rows) == 6 and all(r["alive"] for r in rows)
    assert all(r["answers"] for r in rows if r["role"] != "guest")
    assert "vcsim-b" in table.stdout and "replicating" in table.stdout
    _replicates_by_itself(lab_dir)
    assert all(r["portal_answers"] for r in rows if r["role"] == "appliance")
    _check_tls(lab, table.stdout)
    _check_sites(lab)
    _check_iscsi(lab, table.stdout, lab_dir)
    _recover_through_ports(lab, lab_dir)

    again = _drkit(lab_dir, "up")  # one lab per directory
    assert again.returncode != 0 and "is already up" in again.stderr
    down = _drkit(lab_dir, "down")
    assert down.returncode == 0, down.stderr
    for row in rows:
        assert not Path(f"/proc/{row['pid']}").exists() or _zombie(row["pid"])
    stopped = _drkit(lab_dir, "status")
    assert stopped.returncode == 3 and "is down" in stopped.stderr


def test_sim_up_after_down_brings_the_same_lab_back(lab_dir: Path):
    """The data stays across down/up: same URLs, clients, LUNs and replication; vcsim's
    inventory (in memory only) is registered again, its protected VMs running."""
    assert _drkit(lab_dir, "up", "--vms", "2", "--boot-delay", "0.2").returncode == 0
    first = json.loads((lab_dir / "lab.json").read_text())
    assert _drkit(lab_dir, "down").returncode == 0
    back = _drkit(lab_dir, "up")
    assert back.returncode == 0, back.stderr
    assert "the same lab" in back.stdout and "pairing the appliances" in back.stderr
    lab = json.loads((lab_dir / "lab.json").read_text())
    for key in ("sites", "replication"):
        assert _urls_and_ids(lab[key]) == _urls_and_ids(first[key])
    _check_sites(lab)
    assert _power_states(lab["sites"]["a"]) == {"vm01": "poweredOn", "vm02": "poweredOn"}
    table = _drkit(lab_dir, "status")
    assert table.returncode == 0
    _check_iscsi(lab, table.stdout, lab_dir)  # the same portals, serving the same LUNs
    reset = _drkit(lab_dir, "reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    assert [p.name for p in lab_dir.iterdir()] == ["lab.lock"]


def test_two_sim_up_at_once_one_waits_its_turn(lab_dir: Path):
    env = {**os.environ, "DRKIT_LAB_DIR": str(lab_dir)}
    cmd = [sys.executable, "-c", "from orchestrator.cli import main; main()", "sim", "up",
           "--vms", "1", "--boot-delay", "0.2"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not (lab_dir / "lab.lock").exists() or not (lab_dir / "lab.lock").read_text():
            assert first.poll() is None, first.stderr.read().decode()
        second = _drkit(lab_dir, "up")
        assert second.returncode == 1
        assert f"another `drkit sim` (pid {first.pid})" in second.stderr
    finally:
        assert first.wait(timeout=120) == 0


def _urls_and_ids(value: object) -> object:
    """What must not change when the lab comes back (pids and times may)."""
    if isinstance(value, dict):
        return {k: _urls_and_ids(v) for k, v in value.items() if k not in ("pid",)}
    if isinstance(value, list):
        return [_urls_and_ids(v) for v in value]
    return value


def _power_states(site: dict) -> dict[str, str]:
    vc = site["vcenter"]
    password = json.loads(Path(vc["credential_file"]).read_text())["password"]
    si = connect(vc["url"], vc["user"], password)
    try:
        adapter = PyVmomiAdapter(si, VmfsMounter())
        return {name: adapter.vm_info(name).power_state for name in site["protected"]["vms"]}
    finally:
        disconnect(si)


def _check_sites(lab: dict) -> None:
    """Protected VMs exist at site a; every host of both sites is a client of its appliance."""
    for name, site in lab["sites"].items():
        vc = site["vcenter"]
        password = json.loads(Path(vc["credential_file"]).read_text())["password"]
        si = connect(vc["url"], vc["user"], password)
        try:
            inventory = PyVmomiAdapter(si, VmfsMounter()).inventory()
        finally:
            disconnect(si)
        client = _client(site)
        clients = {c["name"]: c for c in client.list_clients()}
        assert set(clients) == {f"{name}-{h.name}" for h in inventory.hosts}
        for host in inventory.hosts:  # each host's client holds its iSCSI adapter's IQN
            (iqn,) = [i.id for i in host.initiators if i.type == "iSCSI"]
            assert {"type": "iSCSI", "id": iqn} in clients[f"{name}-{host.name}"]["initiators"]
            assert iqn in {h["iqn"] for h in site["hosts"]}
        if name == "a":
            assert {"vm01", "vm02"} <= {v.name for v in inventory.vms}
            luns = {lun["name"] for lun in client.list_luns()}
            assert {"ds-a-1", "rdm-a-1"} <= luns
        else:  # the recovery appliance holds replicas of both protected LUNs
            replicas = {d["replica_lun"] for d in lab["replication"]["devices"]}
            roles = {lun["id"]: lun["role"] for lun in client.list_luns()}
            assert len(replicas) == 2 and all(roles[r] == "replica" for r in replicas)


def _client(site: dict) -> NssClient:
    """The site's appliance client, pinning the fingerprint lab.json records."""
    app = site["appliance"]
    return NssClient(app["url"], Path(app["token_file"]).read_text().strip(),
                     fingerprint=app["fingerprint"])


def _check_tls(lab: dict, table: str) -> None:
    """Each appliance serves HTTPS: a client without the pin is refused (its self-signed
    certificate is not trusted), the pinned one works; `sim status` shows the fingerprint."""
    for site in lab["sites"].values():
        app = site["appliance"]
        assert app["url"].startswith("https://127.0.0.1:")
        assert re.fullmatch(r"[0-9a-f]{64}", app["fingerprint"])
        assert app["fingerprint"] in table
        unpinned = NssClient(app["url"], Path(app["token_file"]).read_text().strip(),
                             retry=RetryPolicy(attempts=1))
        with pytest.raises(NssApiError) as refused:
            unpinned.appliance()
        assert refused.value.code == "tls-untrusted"
        assert _client(site).appliance()["id"] == app["id"]


def _run(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(shlex.split(command), capture_output=True, text=True, timeout=60)


def _check_iscsi(lab: dict, table: str, lab_dir: Path) -> None:
    """Each appliance serves the portal and target lab.json and `sim status` name. With the
    command `sim status` prints, each protected-site host's IQN lists exactly the protected
    LUNs, logs in to each (VPD 0x80 names the device) and reads the datastore LUN byte for
    byte; a foreign IQN sees nothing and cannot log in."""
    for site in lab["sites"].values():
        iscsi = site["appliance"]["iscsi"]
        (target,) = _client(site).iscsi_targets()
        assert (target["portal"], target["name"]) == (iscsi["portal"], iscsi["target"])
        assert iscsi["portal"] in table and iscsi["target"] in table
    site, portal, target = lab["sites"]["a"], iscsi_of(lab, "portal"), iscsi_of(lab, "target")
    assert f"iscsi-ls -i {site['hosts'][0]['iqn']} -s iscsi://{portal}" in table
    protected = {lun["wwn"] for lun in site["protected"]["luns"]}
    for host in site["hosts"]:
        listed = _run(f"iscsi-ls -i {host['iqn']} -s iscsi://{portal}")
        assert listed.returncode == 0 and f"Target:{target} " in listed.stdout, listed
        seen = _client(site).visible_devices("iSCSI", host["iqn"])
        assert {d["wwn"] for d in seen} == protected
        numbers = sorted(int(n) for n in re.findall(r"^Lun:(\d+)", listed.stdout, re.M))
        assert numbers == sorted(d["lun_number"] for d in seen)
        for device in seen:
            url = f"iscsi://{portal}/{target}/{device['lun_number']}"
            inq = _run(f"iscsi-inq -i {host['iqn']} -e 1 -c 128 {url}")
            assert f"Unit Serial Number:[{device['id']}]" in inq.stdout, inq
    _read_datastore_lun(lab, lab_dir)
    foreign = "iqn.2000-01.com.example:not-a-host"
    nothing = _run(f"iscsi-ls -i {foreign} -s iscsi://{portal}")
    assert "Lun:" not in nothing.stdout and target not in nothing.stdout
    refused = _run(f"iscsi-inq -i {foreign} iscsi://{portal}/{target}/0")
    assert refused.returncode != 0 and "Authorization failure" in refused.stdout + refused.stderr


def iscsi_of(lab: dict, key: str) -> str:
    return lab["sites"]["a"]["appliance"]["iscsi"][key]


def _read_datastore_lun(lab: dict, lab_dir: Path) -> None:
    """The README's qemu-img read of a protected LUN: the same bytes as the REST API's."""
    site = lab["sites"]["a"]
    lun = next(x for x in site["protected"]["luns"] if x["name"] == "ds-a-1")
    iqn = site["hosts"][1]["iqn"]
    (device,) = [d for d in _client(site).visible_devices("iSCSI", iqn) if d["id"] == lun["id"]]
    out = lab_dir / "ds-a-1.img"
    opts = (f"driver=iscsi,transport=tcp,portal={iscsi_of(lab, 'portal')},"
            f"target={iscsi_of(lab, 'target')},lun={device['lun_number']},initiator-name={iqn}")
    done = _run(f"qemu-img convert --image-opts {opts} -O raw {out}")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == _client(site).read(lun["id"], 0, device["size_bytes"])
    assert out.read_bytes()[257:262] == b"ustar"  # the datastore's tar stand-in
    out.unlink()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


def _recover_through_ports(lab: dict, lab_dir: Path) -> None:
    """The lab is usable for a recovery: capture records, present the replicas' latest
    recovery point at site b, and run the plan steps' VspherePort calls."""
    from orchestrator.plan.model import Inventory, ProtectionGroup
    from orchestrator.ports.storage import DeviceIdentity
    from orchestrator.vsphere.port import RecordStore
    from simulators.vcsim.labstate import vsphere_ports

    ports = vsphere_ports(lab, RecordStore(lab_dir / "plan-state" / "vsphere.json"))
    vms = lab["sites"]["a"]["protected"]["vms"]
    for vm in vms:
        ports["b"].protect_vm(vm, Inventory())
    site_b = lab["sites"]["b"]
    cb = _client(site_b)
    wwns = {lun["id"]: lun["wwn"] for lun in lab["sites"]["a"]["protected"]["luns"]}
    devices = []
    for dev in lab["replication"]["devices"]:
        point = cb.recovery_points(dev["replica_lun"])[-1]
        tv = cb.create_timeview(point["snapshot_id"])
        cb.present(tv["id"], client_id=site_b["hosts"][0]["client_id"])
        devices.append(DeviceIdentity(wwns[dev["protected_lun"]], tv["wwn"]))
    group = ProtectionGroup("pg", "datastores", ("prot-ds1",))
    port = ports["b"]
    assert port.rescan_and_mount(group, devices) == ["prot-ds1"]
    for vm in vms:
        port.register_vm(vm, Inventory(), {})
        port.reconfigure_vm(vm, {}, ())
        port.power_on_vm(vm)
    for vm in vms:
        port.wait_for_tools(vm, 20)
        port.shutdown_vm(vm, 10)
        port.unregister_vm(vm)
    port.unmount(group)


@pytest.mark.parametrize(("args", "message"), [
    (["--vms", "-1"], "--vms"), (["--hosts", "0"], "--hosts"),
    (["--method-delay", "PowerOnVM_Task"], "METHOD=MS"),
])
def test_sim_up_bad_input_changes_nothing(tmp_path: Path, args, message):
    done = _drkit(tmp_path / "lab", "up", *args)
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "lab").exists()


def _replicates_by_itself(lab_dir: Path) -> None:
    """The lab's replication runs continuously (nobody calls sync) and status shows its lag."""
    import time

    deadline = time.monotonic() + 60
    while True:
        reps = json.loads(_drkit(lab_dir, "status", "--json").stdout)["replications"]
        source = [r for r in reps if r["site"] == "a" and r["direction"] == "outbound"]
        assert len(source) == 1 and source[0]["policy"]["mode"] == "continuous", reps
        if source[0]["sequence"] >= 3 and source[0]["rpo"]["state"] == "ok":
            break  # cycles 2 and 3 ran by themselves after the initial sync
        assert time.monotonic() < deadline, source[0]
        time.sleep(1)
    assert source[0]["rpo"]["lag_s"] < source[0]["rpo"]["objective_s"]
    table = _drkit(lab_dir, "status").stdout
    assert "replications (RPO lag now)" in table and "continuous" in table
