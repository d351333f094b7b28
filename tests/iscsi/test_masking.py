"""Masking over iSCSI is the appliance's own: who may log in, which LUNs under which numbers,
and the unit attention a logged-in host gets when its presentations change."""

from __future__ import annotations

import struct

import pytest

from tests.iscsi.conftest import FOREIGN_IQN, HOST_IQN, OTHER_IQN, IscsiLab, require, run
from tests.iscsi.initiator import LoginFailed, MiniInitiator

MiB = 2**20
TUR = bytes(6)
REPORT_LUNS = struct.pack(">BxxxxxIxx", 0xA0, 4096)


def _report_luns(host: MiniInitiator) -> list[int]:
    reply = host.command(0, REPORT_LUNS, read=4096)
    assert reply.status == 0
    length = struct.unpack_from(">I", reply.data)[0]
    return sorted(reply.data[8 + i + 1] for i in range(0, length, 8))


def test_foreign_initiator_cannot_log_in_nor_discover(lab: IscsiLab) -> None:
    host = lab.host("esx1", HOST_IQN)
    lab.lun("d1", 4 * MiB, host["id"], 0)
    stranger = MiniInitiator(lab.portal, lab.target, FOREIGN_IQN)
    with pytest.raises(LoginFailed) as refused:
        stranger.login()
    assert (refused.value.status_class, refused.value.status_detail) == (2, 2)
    require("iscsi-ls")
    seen = run(["iscsi-ls", "-i", FOREIGN_IQN, "-s", f"iscsi://{lab.portal}"], check=False)
    assert lab.target not in seen.stdout
    known = run(["iscsi-ls", "-i", HOST_IQN, "-s", f"iscsi://{lab.portal}"])
    assert lab.target in known.stdout and "Lun:0" in known.stdout


def test_initiator_sees_exactly_its_luns_with_their_numbers(lab: IscsiLab) -> None:
    esx1, esx2 = lab.host("esx1", HOST_IQN), lab.host("esx2", OTHER_IQN)
    lab.lun("a", 4 * MiB, esx1["id"], 3)
    lab.lun("b", 4 * MiB, esx1["id"], 0)
    lab.lun("c", 4 * MiB, esx2["id"], 7)
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN)
    host.login()
    visible = lab.api.visible_devices("iSCSI", HOST_IQN)
    assert _report_luns(host) == sorted(d["lun_number"] for d in visible) == [0, 3]
    assert host.command(7, TUR).sense_key == 0x5  # LUN 7 belongs to esx2: not supported
    host.logout()


def test_present_and_unpresent_raise_reported_luns_changed(lab: IscsiLab) -> None:
    esx = lab.host("esx1", HOST_IQN)
    lab.lun("boot", 4 * MiB, esx["id"], 0)
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN)
    host.login()
    assert host.command(0, TUR).status == 0
    data = lab.lun("data", 4 * MiB, esx["id"], 1)
    changed = host.command(0, TUR)
    assert (changed.status, changed.sense_key, changed.asc) == (2, 0x6, (0x3F, 0x0E))
    assert host.command(0, TUR).status == 0  # reported once
    assert _report_luns(host) == [0, 1]
    pres = lab.api.list_presentations(data["id"])[0]
    lab.api.unpresent(data["id"], pres["id"])
    assert _report_luns(host) == [0]  # REPORT LUNS clears the attention it answers
    assert host.command(0, TUR).status == 0
    host.logout()


def test_vpd_pages_carry_the_wwn_and_id_the_rest_api_reports(lab: IscsiLab) -> None:
    esx = lab.host("esx1", HOST_IQN)
    lun = lab.lun("named", 4 * MiB, esx["id"], 5)
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN)
    host.login()
    ident = host.command(5, bytes([0x12, 1, 0x83, 0, 255, 0]), read=255).data
    first = ident[4:]  # the first designator: code set binary, LU association, NAA
    assert (first[0] & 0x0F, first[1] & 0x3F) == (1, 0x03)
    assert first[4:4 + first[3]].hex() == lun["wwn"] == lab.api.get_lun(lun["id"])["wwn"]
    serial = host.command(5, bytes([0x12, 1, 0x80, 0, 255, 0]), read=255).data
    assert serial[4:].decode() == lun["id"]
    host.logout()
