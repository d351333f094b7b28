"""iSCSI enters the appliance's data path: snapshots, TimeViews, access modes, replication,
and acknowledged writes that survive ``kill -9``."""

from __future__ import annotations

import random
import struct
import threading

from tests.iscsi.conftest import HOST_IQN, IscsiLab, require, run
from tests.iscsi.initiator import MiniInitiator

MiB = 2**20
BLOCK = 512


def _write10(lba: int, blocks: int) -> bytes:
    return struct.pack(">BBIBHB", 0x2A, 0, lba, 0, blocks, 0)


def _qemu_io(lab: IscsiLab, number: int, command: str, *flags: str) -> str:
    return run(["qemu-io", *flags, "-c", command, "--image-opts", lab.image_opts(number)]).stdout


def test_ext4_image_snapshot_and_timeview_over_iscsi(lab: IscsiLab, tmp_path) -> None:
    require("qemu-img", "qemu-io", "mkfs.ext4")
    image = tmp_path / "fs.img"
    run(["truncate", "-s", "16M", str(image)])
    run(["mkfs.ext4", "-q", "-F", "-L", "drkit", str(image)])
    esx = lab.host("esx1", HOST_IQN)
    lun = lab.lun("fs", 16 * MiB, esx["id"], 0)
    run(["qemu-img", "convert", "-n", "-f", "raw", "--target-image-opts", str(image),
         lab.image_opts(0)])
    snap = lab.api.create_snapshot(lun["id"])
    _qemu_io(lab, 0, "write -P 0x5a 0 1M")  # after the snapshot: copy-on-write keeps the old
    view = lab.api.create_timeview(snap["id"], writable=False)
    lab.api.present(view["id"], client_id=esx["id"], lun_number=1)
    source = f"driver=raw,file.filename={image}"
    same = run(["qemu-img", "compare", "--image-opts", source, lab.image_opts(1)], check=False)
    assert same.returncode == 0, same.stdout + same.stderr
    live = run(["qemu-img", "compare", "--image-opts", source, lab.image_opts(0)], check=False)
    assert live.returncode == 1  # the live LUN has the new first MiB
    assert lab.api.read(lun["id"], 0, 4096) == b"\x5a" * 4096  # REST sees iSCSI's write


def test_read_only_lun_and_timeview_refuse_writes(lab: IscsiLab) -> None:
    esx = lab.host("esx1", HOST_IQN)
    lun = lab.lun("ro", 4 * MiB, esx["id"], 0)
    view = lab.api.create_timeview(lab.api.create_snapshot(lun["id"])["id"], writable=False)
    lab.api.present(view["id"], client_id=esx["id"], lun_number=1)
    rw_view = lab.api.create_timeview(lab.api.create_snapshot(lun["id"])["id"], writable=True)
    lab.api.present(rw_view["id"], client_id=esx["id"], lun_number=2)
    lab.api.update_lun(lun["id"], access="read-only")
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN)
    host.login()
    for number in (0, 1):
        refused = host.command(number, _write10(0, 1), b"x" * BLOCK)
        assert (refused.status, refused.sense_key, refused.asc) == (2, 0x7, (0x27, 0))
        sense = host.command(number, bytes([0x1A, 0, 0x3F, 0, 255, 0]), read=255)
        assert sense.data[2] & 0x80  # MODE SENSE: write protected
    assert host.command(2, _write10(0, 1), b"w" * BLOCK).status == 0  # its own space
    assert lab.api.read(rw_view["id"], 0, BLOCK) == b"w" * BLOCK
    assert lab.api.read(lun["id"], 0, BLOCK) == bytes(BLOCK)
    host.logout()


def test_iscsi_writes_replicate_and_the_replica_refuses_writes(appliance_factory) -> None:
    require("qemu-io")
    a = IscsiLab(appliance_factory("site-a", iscsi_port=0))
    b = IscsiLab(appliance_factory("site-b", iscsi_port=0))
    peer = a.api.pair(b.proc.url, b.proc.token)
    lun = a.lun("app", 4 * MiB, a.host("esx-a", HOST_IQN)["id"], 0)
    _qemu_io(a, 0, "write -P 0x11 0 1M")
    created = a.api.create_replication(lun["id"], peer["id"])
    a.api.wait_job(created["job"]["id"])
    rep_id = created["replication"]["id"]
    _qemu_io(a, 0, "write -P 0x22 2M 64k")  # after the first cycle: dirty tracking
    a.api.sync_wait(rep_id)
    replica = created["replication"]["devices"][0]["remote"]
    b.api.present(replica, client_id=b.host("esx-b", HOST_IQN)["id"], lun_number=0)
    assert "verification failed" not in _qemu_io(b, 0, "read -P 0x11 0 1M", "-r")
    assert "verification failed" not in _qemu_io(b, 0, "read -P 0x22 2M 64k", "-r")
    host = MiniInitiator(b.portal, b.target, HOST_IQN)
    host.login()
    refused = host.command(0, _write10(0, 1), b"x" * BLOCK)
    assert (refused.status, refused.sense_key, refused.asc) == (2, 0x7, (0x27, 0))
    host.logout()


def test_kill9_during_an_iscsi_write_stream_loses_no_acknowledged_write(lab: IscsiLab) -> None:
    esx = lab.host("esx1", HOST_IQN)
    lun = lab.lun("journal", 16 * MiB, esx["id"], 0)
    rng = random.Random(7)
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN)
    host.login()
    acknowledged: dict[int, bytes] = {}
    killer = threading.Timer(0.0, lab.proc.kill9)
    try:
        slots = rng.sample(range(0, 16 * MiB // BLOCK, 16), 16 * MiB // 8192)
        for i, lba in enumerate(slots):  # each slot once: an unacknowledged write hides none
            data = rng.randbytes(8 * 1024)
            if host.command(0, _write10(lba, 16), data).status == 0:
                acknowledged[lba] = data
            if i == 200:
                killer.start()
    except (ConnectionError, OSError):
        pass
    finally:
        killer.join()
        host.close()
    assert 200 < len(acknowledged) < len(slots)  # killed mid-stream
    lab.proc.start()
    for lba, data in acknowledged.items():
        assert lab.api.read(lun["id"], lba * BLOCK, len(data)) == data, f"LBA {lba} lost"
