"""Initial sync of LUNs full of random data beside ``cp`` + ``sync`` of the same image.

``python -m bench sync [--sizes 1G,4G] [--cuts N] [--json]``

Two real appliance processes on loopback (paired directly, or with ``--cuts N`` through the WAN
link of ``simulators/wanlink.py``, which resets every connection N times, evenly spread over the
sync). Per size: a LUN is filled with random bytes through the REST API, then a replication is
created and its initial sync timed from the create call to the job's success (snapshot, scan,
MicroScan, zstd, AES-GCM, transfer, staging, atomic commit). The baseline copies the source
LUN's image file with ``cp`` and runs ``sync``, in the same run on the same disk. Memory: each
appliance's RSS sampled every 20 ms during the sync, reported as peak minus its RSS just before
(idle), and once more when the sync has settled (``SETTLE_S`` after the job ended: what the
appliance keeps while idle again). Afterwards the replica's image is compared with the
source's (SHA-256).
Goals (issue 13): sync time <= 2x cp + sync; peak RSS above idle <= 256 MiB on both sides; the
replica identical; with cuts, at most one part sent again per cut.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from simulators.nss.process import ApplianceProcess
from simulators.wanlink import WanProxy
from sra.nss_client import NssClient

MiB = 2**20
GiB = 2**30
SETTLE_S = 2.0


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples a process's RSS in a thread; ``peak - idle`` is what the work added."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every = pid, every
        self.idle = self.peak = rss(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.peak = max(self.peak, rss(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak - self.idle


def fill(client: NssClient, lun_id: str, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for off in range(0, size, 16 * MiB):
        n = min(16 * MiB, size - off)
        client.write(lun_id, off, rng.integers(0, 256, n, dtype=np.uint8).tobytes())


def cp_sync(src: Path, workdir: Path) -> float:
    dst = workdir / "cp.img"
    subprocess.run(["sync"], check=True)
    t0 = time.perf_counter()
    subprocess.run(["cp", str(src), str(dst)], check=True)
    subprocess.run(["sync"], check=True)
    seconds = time.perf_counter() - t0
    dst.unlink()
    return seconds


def cut_link(proxy: WanProxy, size: int, cuts: int) -> None:
    """Reset the link ``cuts`` times, every ``size / (cuts + 1)`` bytes sent."""
    for n in range(1, cuts + 1):
        proxy.cut_after(size // (cuts + 1))
        deadline = time.monotonic() + 600
        while proxy.cuts < n and time.monotonic() < deadline:
            time.sleep(0.05)


def one_size(a: ApplianceProcess, b: ApplianceProcess, peer: str, size: int, workdir: Path,
             proxy: WanProxy | None, cuts: int) -> dict[str, Any]:
    ca = a.client
    lun = ca.create_lun(f"bench-{size // MiB}m", size)
    fill(ca, lun["id"], size, seed=size // MiB)
    baseline = cp_sync(a.data_dir / "luns" / f"{lun['id']}.img", workdir)
    subprocess.run(["sync"], check=True)
    mem_a, mem_b = PeakRss(a.proc.pid), PeakRss(b.proc.pid)
    t0 = time.perf_counter()
    created = ca.create_replication(lun["id"], peer)
    if proxy is not None and cuts:
        cut_link(proxy, size, cuts)
    job = ca.wait_job(created["job"]["id"], timeout=3600, interval=0.1)
    seconds = time.perf_counter() - t0
    extra_a, extra_b = mem_a.stop(), mem_b.stop()
    time.sleep(SETTLE_S)
    after_a, after_b = rss(a.proc.pid), rss(b.proc.pid)
    stats = job["result"]["stats"]
    replica = created["replication"]["devices"][0]["remote"]
    identical = a.image_sha256(lun["id"]) == b.image_sha256(replica)
    done_cuts = proxy.cuts if proxy is not None else 0
    return {"size": size, "sync_s": seconds, "cp_sync_s": baseline,
            "ratio": seconds / baseline, "source_rss_above_idle": extra_a,
            "replica_rss_above_idle": extra_b, "source_idle_rss": mem_a.idle,
            "replica_idle_rss": mem_b.idle, "source_rss_after": after_a,
            "replica_rss_after": after_b, "wire_bytes": stats["wire_bytes"],
            "parts": stats["parts_sent"], "cuts": done_cuts,
            "parts_resent": stats["parts_resent"], "retries": stats["retries"],
            "identical": identical,
            "goals": {"time_le_2x_cp": seconds <= 2 * baseline,
                      "rss_le_256MiB": max(extra_a, extra_b) <= 256 * MiB,
                      "identical": identical,
                      "resent_le_1_per_cut": stats["parts_resent"] <= done_cuts}}


def run(sizes: list[int], cuts: int = 0) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="drkit-bench-sync-"))
    a = ApplianceProcess("bench-a", workdir / "a").start()
    b = ApplianceProcess("bench-b", workdir / "b").start()
    proxy = WanProxy(b.port) if cuts else None
    try:
        peer = a.client.pair(proxy.url if proxy else b.url, b.token)["id"]
        results = []
        for size in sizes:
            if proxy is not None:
                proxy.cuts = 0
            results.append(one_size(a, b, peer, size, workdir, proxy, cuts))
            print(f"  measured {size // MiB} MiB", file=sys.stderr)
        return {"cuts": cuts, "results": results}
    finally:
        if proxy is not None:
            proxy.close()
        a.stop()
        b.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def render(report: dict[str, Any]) -> str:
    lines = ["| LUN | link cuts | initial sync s | cp + sync s | ratio (goal <= 2) | "
             "source RSS +MiB | replica RSS +MiB (goal <= 256) | "
             "RSS idle before -> after MiB (source; replica) | parts | parts resent | "
             "replica identical |",
             "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"]
    for r in report["results"]:
        lines.append(f"| {r['size'] / GiB:g} GiB | {r['cuts']} | {r['sync_s']:.1f} | "
                     f"{r['cp_sync_s']:.1f} | {r['ratio']:.2f} | "
                     f"{r['source_rss_above_idle'] / MiB:.0f} | "
                     f"{r['replica_rss_above_idle'] / MiB:.0f} | "
                     f"{r['source_idle_rss'] / MiB:.0f} -> {r['source_rss_after'] / MiB:.0f}; "
                     f"{r['replica_idle_rss'] / MiB:.0f} -> {r['replica_rss_after'] / MiB:.0f} | "
                     f"{r['parts']} | "
                     f"{r['parts_resent']} | {'yes' if r['identical'] else 'NO'} |")
    return "\n".join(lines)


def _size(text: str) -> int:
    units = {"M": MiB, "G": GiB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units \
        else int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench sync", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1G,4G", help="comma-separated LUN sizes (default 1G,4G)")
    ap.add_argument("--cuts", type=int, default=0,
                    help="reset the link this many times during each sync (default 0)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.cuts < 0:
        ap.error(f"--cuts must be 0 or more, not {args.cuts}")
    report = run([_size(s) for s in args.sizes.split(",") if s], args.cuts)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
