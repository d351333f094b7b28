"""iSCSI: the appliance's portal beside tgtd (Linux's userspace target), same machine, same run.

``python -m bench iscsi [--json] [--size-mib N] [--seconds S] [--rounds R]``

tgtd serves a sparse file LUN of N MiB; the appliance serves a thin LUN of the same size, both
up at once. On each: ``qemu-img convert -n`` of an N MiB random image (sequential writes), then
``iscsi-perf`` 128 KiB sequential reads and 4 KiB random reads at queue depth 32 for S seconds,
alternating between the two targets R times (the median counts: the machine is shared).
Then 64 KiB writes one at a time to the appliance (64 MiB per run, alternating R times), through
iSCSI (``qemu-img bench -w``) and through ``PUT /luns/{id}/data``. Goals: sequential read and
write >= 0.5x tgtd, 4 KiB random read IOPS >= 0.3x tgtd, iSCSI >= 5x REST for 64 KiB writes.
Needs Debian's libiscsi-bin, qemu-utils, qemu-block-extra and tgt.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from simulators.nss.iscsi import target_name
from simulators.nss.process import ApplianceProcess, free_port

MiB = 2**20
IQN = "iqn.2026-12.io.drkit.bench:host"
TGT_IQN = "iqn.2026-12.io.drkit.bench:tgtd"
TOOLS = {"tgtd": "tgt", "tgtadm": "tgt", "iscsi-perf": "libiscsi-bin", "qemu-img": "qemu-utils"}
GOALS = {"seq_write": 0.5, "seq_read": 0.5, "rand_read": 0.3}


def _run(cmd: list[str], timeout: float = 600) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _opts(portal: str, target: str, lun: int) -> str:
    return (f"driver=iscsi,transport=tcp,portal={portal},target={target},lun={lun},"
            f"initiator-name={IQN}")


@contextlib.contextmanager
def tgtd(work: Path, size: int) -> Iterator[tuple[str, str]]:
    """A tgtd on loopback serving one file LUN; yields (iscsi URL, qemu image options)."""
    port, control = free_port(), str(20000 + os.getpid() % 10000)
    backing = work / "tgtd.img"
    with open(backing, "wb") as fh:
        fh.truncate(size)
    proc = subprocess.Popen(["tgtd", "-f", "-C", control, "--iscsi",
                             f"portal=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        adm = ["tgtadm", "-C", control, "--lld", "iscsi", "--mode"]
        _retry([*adm, "target", "--op", "new", "--tid", "1", "-T", TGT_IQN])
        _run([*adm, "logicalunit", "--op", "new", "--tid", "1", "--lun", "1", "-b", str(backing)])
        _run([*adm, "target", "--op", "bind", "--tid", "1", "-I", "ALL"])
        portal = f"127.0.0.1:{port}"
        yield f"iscsi://{portal}/{TGT_IQN}/1", _opts(portal, TGT_IQN, 1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _retry(cmd: list[str], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _run(cmd)
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextlib.contextmanager
def appliance(work: Path, size: int) -> Iterator[tuple[str, str, ApplianceProcess, str]]:
    """The appliance with a portal and one LUN presented to the bench's initiator."""
    proc = ApplianceProcess("bench-iscsi", work / "nss", iscsi_port=0).start()
    try:
        api = proc.client
        lun = api.create_lun("bench", size)
        host = api.create_client("bench-host", [{"type": "iSCSI", "id": IQN}])
        api.present(lun["id"], client_id=host["id"], lun_number=0)
        target = target_name(api.appliance()["id"])
        portal = proc.iscsi_portal or ""
        yield f"iscsi://{portal}/{target}/0", _opts(portal, target, 0), proc, lun["id"]
    finally:
        proc.kill9()


def convert_mb_s(image: Path, opts: str, size: int) -> float:
    start = time.perf_counter()
    _run(["qemu-img", "convert", "-n", "-f", "raw", "--target-image-opts", str(image), opts])
    return size / MiB / (time.perf_counter() - start)


def perf(url: str, blocks: int, random_io: bool, seconds: int) -> tuple[float, float]:
    """iscsi-perf's final average: (IOPS, MB/s)."""
    cmd = ["iscsi-perf", "-i", IQN, "-b", str(blocks), "-m", "32", "-t", str(seconds), url]
    out = _run(cmd[:-1] + (["-r"] if random_io else []) + [url], timeout=seconds + 60)
    found = re.findall(r"iops average (\d+) \((\d+) MB/s\)", out)
    if not found:
        raise RuntimeError(f"iscsi-perf printed no average: {out[-300:]}")
    iops, mbs = found[-1]
    return float(iops), float(mbs)


def iscsi_64k_mb_s(opts: str, count: int) -> float:
    out = _run(["qemu-img", "bench", "-w", "-s", "64k", "-c", str(count), "-d", "1",
                "--image-opts", opts])
    seconds = float(re.search(r"Run completed in ([\d.]+) seconds", out).group(1))
    return count * 64 * 1024 / MiB / seconds


def rest_64k_mb_s(proc: ApplianceProcess, lun_id: str, count: int) -> float:
    api, payload = proc.client, os.urandom(64 * 1024)
    start = time.perf_counter()
    for i in range(count):
        api.write(lun_id, i * len(payload), payload)
    return count * len(payload) / MiB / (time.perf_counter() - start)


def _image(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        for _ in range(0, size, 16 * MiB):
            fh.write(os.urandom(16 * MiB))
        fh.truncate(size)


def _median_pair(fn, sides: list[str], rounds: int) -> list[float]:
    """Run ``fn(side)`` alternately on each side, ``rounds`` times; the median per side."""
    runs: dict[str, list[float]] = {side: [] for side in sides}
    for _ in range(rounds):
        for side in sides:
            runs[side].append(fn(side))
    return [statistics.median(runs[side]) for side in sides]


def measure(size: int, seconds: int, rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-iscsi-") as tmp:
        work = Path(tmp)
        image = work / "random.img"
        _image(image, size)
        with tgtd(work, size) as tgt, appliance(work, size) as (url, opts, proc, lun_id):
            sides = {"tgtd": tgt, "appliance": (url, opts)}
            names = list(sides)
            figures = {
                "seq_write": [round(v, 1) for v in _median_pair(
                    lambda n: convert_mb_s(image, sides[n][1], size), names, 1)],
                "seq_read": _median_pair(
                    lambda n: perf(sides[n][0], 256, False, seconds)[1], names, rounds),
                "rand_read": _median_pair(
                    lambda n: perf(sides[n][0], 8, True, seconds)[0], names, rounds),
            }
            count = min(size // (64 * 1024), 1024)
            writers = {"iscsi": lambda: iscsi_64k_mb_s(opts, count),
                       "rest": lambda: rest_64k_mb_s(proc, lun_id, count)}
            via_iscsi, via_rest = _median_pair(lambda n: writers[n](), list(writers), rounds)
    tgt_row = {k: v[0] for k, v in figures.items()}
    ours = {k: v[1] for k, v in figures.items()}
    ratios = {k: round(ours[k] / tgt_row[k], 2) for k in GOALS}
    return {"tgtd": tgt_row, "appliance": ours, "ratios": ratios, "rounds": rounds,
            "write_64k": {"iscsi_mb_s": round(via_iscsi, 1), "rest_mb_s": round(via_rest, 1),
                          "ratio": round(via_iscsi / via_rest, 2)}}


def _report(result: dict) -> None:
    tgt, ours, ratios = result["tgtd"], result["appliance"], result["ratios"]
    units = {"seq_write": "MB/s (qemu-img convert -n)", "seq_read": "MB/s (128 KiB, qd 32)",
             "rand_read": "IOPS (4 KiB random, qd 32)"}
    print(f"{'':<10} {'tgtd':>9} {'appliance':>10} {'ratio':>6} {'goal':>6}")
    for key, unit in units.items():
        met = "met" if ratios[key] >= GOALS[key] else "MISSED"
        print(f"{key:<10} {tgt[key]:>9} {ours[key]:>10} {ratios[key]:>6} "
              f"{'>=' + str(GOALS[key]):>6} {met}  {unit}")
    w = result["write_64k"]
    met = "met" if w["ratio"] >= 5 else "MISSED"
    print(f"64 KiB writes one at a time: iSCSI {w['iscsi_mb_s']} MB/s, REST {w['rest_mb_s']} "
          f"MB/s, ratio {w['ratio']} (goal >= 5) {met}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench iscsi")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3,
                        help="iscsi-perf runs per side, alternating; the median counts")
    args = parser.parse_args(argv)
    missing = [f"{t} ({p})" for t, p in TOOLS.items() if shutil.which(t) is None]
    if missing:
        print(f"bench iscsi: missing tools, install the Debian packages: {', '.join(missing)}")
        return 2
    result = measure(args.size_mib * MiB, args.seconds, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _report(result)
    return 0
