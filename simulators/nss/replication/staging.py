"""The replica's staging area on disk: one cycle being received per replication.

    staging/<rep>/<seq>/manifest.json        the cycle: recovery point, base, kind, rollback
    staging/<rep>/<seq>/<device>/<n>.seg     part n resolved into plain writes
    staging/<rep>/<seq>/<device>/ack.json    parts staged (0..n-1), covers_to, done

A segment is renamed into place after it is written (and fsync'd when the appliance runs with
``--fsync``, as its device writes are), and the acknowledgement is rewritten only after that,
so an acknowledged part survives a ``kill -9`` anywhere (a power loss too with ``--fsync``).
A segment record is
``offset u64 | length u32 | zero u8`` followed by ``length`` bytes unless ``zero``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_REC = struct.Struct("<QIB")
_ZEROS = bytes(1 << 20)
Write = tuple[int, int, bytes | None]  # offset, length, data (None: zeros)


def _atomic_json(path: Path, doc: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


class Staging:
    def __init__(self, root: Path, durable: bool) -> None:
        self.root, self.durable = root, durable

    def _cycle_dir(self, rep_id: str) -> Path | None:
        found = sorted((self.root / rep_id).glob("*/manifest.json"))
        return found[-1].parent if found else None

    def manifest(self, rep_id: str) -> dict[str, Any] | None:
        where = self._cycle_dir(rep_id)
        return None if where is None else json.loads((where / "manifest.json").read_text())

    def begin(self, rep_id: str, manifest: dict[str, Any]) -> None:
        self.drop(rep_id)
        where = self.root / rep_id / str(manifest["sequence"])
        where.mkdir(parents=True)
        _atomic_json(where / "manifest.json", manifest)

    def drop(self, rep_id: str) -> None:
        shutil.rmtree(self.root / rep_id, ignore_errors=True)

    def drop_all_but(self, rep_ids: set[str]) -> None:
        if self.root.is_dir():
            for where in self.root.iterdir():
                if where.name not in rep_ids:
                    shutil.rmtree(where, ignore_errors=True)

    def ack(self, rep_id: str, seq: int, device: str) -> dict[str, Any]:
        path = self.root / rep_id / str(seq) / device / "ack.json"
        if not path.exists():
            return {"parts": 0, "covers_to": 0, "done": False}
        return json.loads(path.read_text())

    def write_segment(self, rep_id: str, seq: int, device: str, part: int,
                      writes: Iterable[Write], covers_to: int, last: bool) -> dict[str, Any]:
        where = self.root / rep_id / str(seq) / device
        where.mkdir(parents=True, exist_ok=True)
        tmp = where / f"{part}.seg.tmp"
        with open(tmp, "wb") as fh:
            for offset, length, data in writes:
                fh.write(_REC.pack(offset, length, data is None))
                if data is not None:
                    fh.write(data)
            fh.flush()
            if self.durable:
                os.fsync(fh.fileno())
        os.replace(tmp, where / f"{part}.seg")
        return self.write_ack(rep_id, seq, device, part, covers_to, last)

    def write_ack(self, rep_id: str, seq: int, device: str, part: int, covers_to: int,
                  last: bool) -> dict[str, Any]:
        where = self.root / rep_id / str(seq) / device
        where.mkdir(parents=True, exist_ok=True)
        ack = {"parts": part + 1, "covers_to": covers_to, "done": last}
        _atomic_json(where / "ack.json", ack)
        return ack

    def segments(self, rep_id: str, seq: int, device: str, parts: int) -> Iterator[Write]:
        for part in range(parts):
            with open(self.root / rep_id / str(seq) / device / f"{part}.seg", "rb") as fh:
                while head := fh.read(_REC.size):
                    offset, length, zero = _REC.unpack(head)
                    yield offset, length, None if zero else fh.read(length)


def zero_pieces(offset: int, length: int) -> Iterator[tuple[int, bytes]]:
    """A zero write in pieces of at most 1 MiB."""
    for at in range(offset, offset + length, len(_ZEROS)):
        yield at, _ZEROS[: min(len(_ZEROS), offset + length - at)]
