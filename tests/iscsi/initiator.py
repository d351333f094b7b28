"""A deliberately small blocking iSCSI initiator for tests that libiscsi's tools cannot express
(unit attentions seen by one held session, a session listed while it is logged in, digests).

It is written from RFC 7143 independently of ``simulators.nss.iscsi``: one connection, login
straight into the operational stage, immediate data only (writes up to FirstBurstLength).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

import crc32c

FINAL = 0x80


@dataclass
class Reply:
    status: int
    data: bytes
    sense: bytes

    @property
    def sense_key(self) -> int:
        return self.sense[2] & 0x0F if len(self.sense) > 2 else 0

    @property
    def asc(self) -> tuple[int, int]:
        return (self.sense[12], self.sense[13]) if len(self.sense) > 13 else (0, 0)


class LoginFailed(Exception):
    def __init__(self, status_class: int, status_detail: int) -> None:
        super().__init__(f"login refused: class {status_class} detail {status_detail}")
        self.status_class = status_class
        self.status_detail = status_detail


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def _digest(data: bytes) -> bytes:
    return struct.pack("<I", crc32c.crc32c(data))


class MiniInitiator:
    def __init__(self, portal: str, target: str, iqn: str, *, digests: bool = False,
                 isid: bytes = b"\x80\x12\x34\x56\x00\x00") -> None:
        host, port = portal.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.target, self.iqn, self.isid = target, iqn, isid
        self.want_digests = digests
        self.hd = self.dd = False
        self.cmdsn, self.itt, self.statsn = 1, 1, 0

    def login(self) -> dict[str, str]:
        digest = "CRC32C" if self.want_digests else "None"
        keys = {"InitiatorName": self.iqn, "TargetName": self.target, "SessionType": "Normal",
                "HeaderDigest": digest, "DataDigest": digest, "ImmediateData": "Yes",
                "InitialR2T": "Yes", "MaxRecvDataSegmentLength": "262144",
                "FirstBurstLength": "262144", "MaxBurstLength": "262144"}
        data = b"".join(f"{k}={v}".encode() + b"\0" for k, v in keys.items())
        bhs = bytearray(48)
        bhs[0], bhs[1] = 0x43, 0x80 | (1 << 2) | 3  # T, CSG operational, NSG full feature
        bhs[8:14] = self.isid
        struct.pack_into(">IHxxII", bhs, 16, self.itt, 0, self.cmdsn, 0)
        self._send(bhs, data)
        rsp, body = self._recv()
        if rsp[36]:
            raise LoginFailed(rsp[36], rsp[37])
        answer = dict(kv.split("=", 1) for kv in body.decode().split("\0") if kv)
        self.hd = answer.get("HeaderDigest") == "CRC32C"
        self.dd = answer.get("DataDigest") == "CRC32C"
        return answer

    def command(self, lun: int, cdb: bytes, data_out: bytes = b"", read: int = 0) -> Reply:
        self.itt += 1
        bhs = bytearray(48)
        bhs[0] = 0x01
        bhs[1] = FINAL | (0x40 if read else 0) | (0x20 if data_out else 0)
        bhs[9] = lun
        struct.pack_into(">IIII", bhs, 16, self.itt, read or len(data_out), self.cmdsn,
                         self.statsn + 1)
        bhs[32:32 + len(cdb)] = cdb
        self.cmdsn += 1
        self._send(bhs, data_out)
        data = b""
        while True:
            rsp, body = self._recv()
            if rsp[0] & 0x3F == 0x25:  # Data-In
                data += body
                if rsp[1] & 0x01:
                    return Reply(rsp[3], data, b"")
            elif rsp[0] & 0x3F == 0x21:  # SCSI Response
                sense = body[2:2 + int.from_bytes(body[:2], "big")] if body else b""
                return Reply(rsp[3], data, sense)

    def logout(self) -> None:
        bhs = bytearray(48)
        bhs[0], bhs[1] = 0x46, 0x80
        struct.pack_into(">I", bhs, 16, 0xABCD)
        struct.pack_into(">II", bhs, 24, self.cmdsn, self.statsn + 1)
        self._send(bhs)
        self._recv()
        self.sock.close()

    def close(self) -> None:
        self.sock.close()

    def _send(self, bhs: bytearray, data: bytes = b"") -> None:
        bhs[5:8] = len(data).to_bytes(3, "big")
        out = bytes(bhs) + (_digest(bytes(bhs)) if self.hd else b"")
        if data:
            out += _pad(data) + (_digest(_pad(data)) if self.dd else b"")
        self.sock.sendall(out)

    def _recv(self) -> tuple[bytes, bytes]:
        bhs = self._exact(48)
        if self.hd and self._exact(4) != _digest(bhs):
            raise AssertionError("header digest from the target is wrong")
        length = int.from_bytes(bhs[5:8], "big")
        body = self._exact(length + (-length % 4)) if length else b""
        if length and self.dd and self._exact(4) != _digest(body):
            raise AssertionError("data digest from the target is wrong")
        if bhs[0] & 0x3F in (0x21, 0x25) and (bhs[0] & 0x3F == 0x21 or bhs[1] & 0x01):
            self.statsn = struct.unpack_from(">I", bhs, 24)[0]
        return bhs, body[:length]

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            part = self.sock.recv(n - len(out))
            if not part:
                raise ConnectionError("the target closed the connection")
            out += part
        return out
