"""Bad input from an initiator: a clear answer, never a crash, and the portal keeps serving."""

from __future__ import annotations

import socket

from tests.iscsi.conftest import HOST_IQN, IscsiLab
from tests.iscsi.initiator import LoginFailed, MiniInitiator

MiB = 2**20
TUR = bytes(6)


def _host(lab: IscsiLab) -> MiniInitiator:
    esx = lab.host("esx1", HOST_IQN)
    lab.lun("d1", 4 * MiB, esx["id"], 0)
    host = MiniInitiator(lab.portal, lab.target, HOST_IQN)
    host.login()
    return host


def test_unsupported_and_malformed_commands_get_check_condition(lab: IscsiLab) -> None:
    host = _host(lab)
    unknown = host.command(0, bytes([0xC5]) + bytes(9))
    assert (unknown.status, unknown.sense_key, unknown.asc) == (2, 0x5, (0x20, 0))
    past_end = host.command(0, bytes([0x28, 0, 0xFF, 0xFF, 0, 0, 0, 0, 1, 0]), read=512)
    assert (past_end.sense_key, past_end.asc) == (0x5, (0x21, 0))
    bad_vpd = host.command(0, bytes([0x12, 1, 0x99, 0, 255, 0]), read=255)
    assert (bad_vpd.sense_key, bad_vpd.asc) == (0x5, (0x24, 0))
    assert host.command(0, TUR).status == 0  # the connection stays up
    host.logout()


def test_garbage_drops_only_that_connection(lab: IscsiLab) -> None:
    host = _host(lab)
    address, port = lab.portal.rsplit(":", 1)
    with socket.create_connection((address, int(port))) as raw:
        raw.sendall(b"\x01" + bytes(47))  # a SCSI command before any login
        raw.settimeout(10)
        assert raw.recv(100) == b""  # closed
    assert host.command(0, TUR).status == 0
    host.logout()


def test_wrong_target_name_and_missing_initiator_name_are_refused(lab: IscsiLab) -> None:
    _host(lab).logout()
    wrong = MiniInitiator(lab.portal, lab.target + "x", HOST_IQN)
    try:
        wrong.login()
        raise AssertionError("login to an unknown target went through")
    except LoginFailed as exc:
        assert (exc.status_class, exc.status_detail) == (2, 3)
    nameless = MiniInitiator(lab.portal, lab.target, "")
    try:
        nameless.login()
        raise AssertionError("login without InitiatorName went through")
    except LoginFailed as exc:
        assert (exc.status_class, exc.status_detail) == (2, 7)
