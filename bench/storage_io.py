"""Block I/O through one appliance's REST API beside the same I/O straight to a file.

``python -m bench storage_io [--json] [--size-mib N] [--repeat R]``

For each pattern (sequential and random, 4 KiB / 64 KiB / 4 MiB requests, write then read) the
same offsets and bytes go once through ``PUT/GET /luns/{id}/data`` on a real appliance process on
loopback and once through ``os.pwrite/os.pread`` on a file in the same directory (the ceiling).
Each figure is the median of R runs; the ratio is REST / direct. Goal: large (16 MiB requests)
sequential writes reach at least 30% of the direct-file rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from simulators.nss.process import ApplianceProcess

KiB, MiB = 1024, 2**20
PATTERNS = [("seq", 4 * KiB, 16 * MiB), ("rand", 4 * KiB, 16 * MiB), ("seq", 64 * KiB, 64 * MiB),
            ("rand", 64 * KiB, 64 * MiB), ("seq", 4 * MiB, 256 * MiB),
            ("seq", 16 * MiB, 512 * MiB)]


def _offsets(kind: str, block: int, total: int, size: int, rng: random.Random) -> list[int]:
    count = total // block
    if kind == "seq":
        return [i * block for i in range(count)]
    return [rng.randrange(0, size // block) * block for _ in range(count)]


def _timed(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _direct(path: Path, offsets: list[int], payload: bytes) -> tuple[float, float]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        w = _timed(lambda: [os.pwrite(fd, payload, off) for off in offsets])
        r = _timed(lambda: [os.pread(fd, len(payload), off) for off in offsets])
    finally:
        os.close(fd)
    return w, r


def _rest(client, lun_id: str, offsets: list[int], payload: bytes) -> tuple[float, float]:
    w = _timed(lambda: [client.write(lun_id, off, payload) for off in offsets])
    r = _timed(lambda: [client.read(lun_id, off, len(payload)) for off in offsets])
    return w, r


def measure(size: int, repeat: int) -> list[dict]:
    rng = random.Random(1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="drkit-bench-") as tmp:
        proc = ApplianceProcess("bench", Path(tmp) / "nss").start()
        try:
            client = proc.client
            for kind, block, total in PATTERNS:
                payload = rng.randbytes(block)
                offsets = _offsets(kind, block, total, size, rng)
                runs = {"rest": [], "direct": []}
                for i in range(repeat):
                    lun = client.create_lun(f"b-{kind}-{block}-{i}", size)
                    runs["rest"].append(_rest(client, lun["id"], offsets, payload))
                    client.delete_lun(lun["id"])
                    path = Path(tmp) / f"direct-{i}.img"
                    runs["direct"].append(_direct(path, offsets, payload))
                    path.unlink()
                rows += _rows(kind, block, total, runs)
        finally:
            proc.stop()
    return rows


def _rows(kind: str, block: int, total: int, runs: dict) -> list[dict]:
    out = []
    for op, idx in (("write", 0), ("read", 1)):
        rest = total / statistics.median(r[idx] for r in runs["rest"]) / MiB
        direct = total / statistics.median(r[idx] for r in runs["direct"]) / MiB
        out.append({"pattern": f"{kind} {op} {_human(block)}", "rest_mib_s": round(rest, 1),
                    "direct_mib_s": round(direct, 1), "ratio": round(rest / direct, 3),
                    "bytes": total})
    return out


def _human(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n // KiB} KiB"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench storage_io")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = measure(args.size_mib * MiB, args.repeat)
    goal = next(r for r in rows if r["pattern"] == "seq write 16 MiB")
    verdict = {"goal": "seq write 16 MiB >= 0.30 of direct", "ratio": goal["ratio"],
               "met": goal["ratio"] >= 0.30}
    if args.json:
        print(json.dumps({"rows": rows, "goal": verdict}, indent=2))
        return 0
    print(f"{'pattern':<20} {'REST MiB/s':>11} {'direct MiB/s':>13} {'REST/direct':>12}")
    for r in rows:
        print(f"{r['pattern']:<20} {r['rest_mib_s']:>11} {r['direct_mib_s']:>13} "
              f"{r['ratio']:>12}")
    print(f"goal: {verdict['goal']}: {verdict['ratio']} -> {'met' if verdict['met'] else 'MISSED'}")
    return 0
