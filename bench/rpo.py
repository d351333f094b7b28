"""Replications keeping themselves within their RPO under a steady write load.

``python -m bench rpo [--seconds 120] [--luns 4] [--rate 100] [--json]``

Two real appliance processes on loopback. ``--luns`` LUNs, each replicated with the policy
``continuous``, RPO objective 30 s, link limit 20 Mbit/s (2.5 MB/s, one token bucket shared by
the four replications of the link). A writer sends ``--rate`` 4 KiB writes per second to
random LUNs and offsets (mixed content: random, text, structured records) for ``--seconds``;
nobody calls sync. Every second the RPO lag of each replication is sampled. Reported: the worst
lag, the share of samples within the objective, WAN bytes (sealed parts) against the ideal
(changed sectors x 512) and against 4 KiB-block replication, and the appliances' CPU seconds
per MiB written (both processes, from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from simulators.nss.process import ApplianceProcess
from sra.nss_client import NssClient

from .wan_images import Content

MiB = 2**20
LUN_SIZE = 256 * MiB
POLICY = {"mode": "continuous", "interval_s": 1.0, "rpo_s": 30.0, "bandwidth_bps": 2_500_000}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Writer(threading.Thread):
    def __init__(self, client: NssClient, luns: list[str], rate: int, seed: int) -> None:
        super().__init__(daemon=True)
        self.client, self.luns, self.rate = client, luns, rate
        self.content = Content(seed)
        self.stop = threading.Event()
        self.written = 0

    def block(self) -> bytes:
        kind = self.content.rng.choice(["random", "text", "records"], p=[0.3, 0.4, 0.3])
        return self.content.region(str(kind), 4096).tobytes()

    def run(self) -> None:
        start, n = time.monotonic(), 0
        while not self.stop.is_set():
            lun = self.luns[int(self.content.rng.integers(0, len(self.luns)))]
            offset = int(self.content.rng.integers(0, LUN_SIZE // 4096)) * 4096
            self.client.write(lun, offset, self.block())
            self.written += 4096
            n += 1
            delay = start + n / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def sample(client: NssClient, reps: list[str], seconds: float) -> list[dict[str, float]]:
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        lags = {r["id"]: r["rpo"]["lag_s"] for r in client.list_replications()
                if r["id"] in reps}
        samples.append(lags)
        time.sleep(1.0)
    return samples


def run(seconds: float, nluns: int, rate: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="drkit-bench-rpo-"))
    a = ApplianceProcess("rpo-a", workdir / "a").start()
    b = ApplianceProcess("rpo-b", workdir / "b").start()
    try:
        ca = a.client
        peer = ca.pair(b.url, b.token)["id"]
        luns = [ca.create_lun(f"rpo-{i}", LUN_SIZE)["id"] for i in range(nluns)]
        reps = [ca.create_replication(lun, peer, policy=POLICY)["replication"]["id"]
                for lun in luns]
        cpu0 = cpu_seconds(a.proc.pid) + cpu_seconds(b.proc.pid)
        writer = Writer(ca, luns, rate, seed=7)
        writer.start()
        samples = sample(ca, reps, seconds)
        writer.stop.set()
        writer.join()
        cpu = cpu_seconds(a.proc.pid) + cpu_seconds(b.proc.pid) - cpu0
        stats = [ca.replication_stats(r)["cumulative"] for r in reps]
        return summarize(samples, stats, writer.written, cpu, seconds, nluns, rate)
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def summarize(samples: list[dict[str, float]], stats: list[dict[str, Any]], written: int,
              cpu: float, seconds: float, nluns: int, rate: int) -> dict[str, Any]:
    lags = np.array([lag for s in samples for lag in s.values()])
    wire = sum(s["wire_bytes"] for s in stats)
    ideal = sum(s.get("ideal_bytes", 0) for s in stats)
    block4k = sum(s["block4k_bytes"] for s in stats)
    return {"seconds": seconds, "luns": nluns, "writes_per_s": rate, "written": written,
            "policy": POLICY, "worst_lag_s": float(lags.max()) if lags.size else None,
            "median_lag_s": float(np.median(lags)) if lags.size else None,
            "within_objective": float((lags <= POLICY["rpo_s"]).mean()) if lags.size else None,
            "cycles": sum(s["cycles"] for s in stats), "wire_bytes": wire,
            "ideal_bytes": ideal, "block4k_bytes": block4k,
            "wire_vs_ideal": wire / ideal if ideal else None,
            "cpu_s_per_mib_written": cpu / (written / MiB) if written else None,
            "link_utilisation": wire / seconds / POLICY["bandwidth_bps"]}


def render(r: dict[str, Any]) -> str:
    return "\n".join([
        f"## RPO under load: {r['luns']} LUNs, {r['writes_per_s']} x 4 KiB writes/s for "
        f"{r['seconds']:.0f} s, objective {POLICY['rpo_s']:.0f} s, link 20 Mbit/s",
        "",
        "| figure | value |", "|---|---:|",
        f"| worst lag | {r['worst_lag_s']:.1f} s |",
        f"| median lag | {r['median_lag_s']:.1f} s |",
        f"| samples within objective | {r['within_objective']:.1%} |",
        f"| cycles | {r['cycles']} |",
        f"| written | {r['written'] / MiB:.1f} MiB |",
        f"| WAN bytes (sealed parts) | {r['wire_bytes']:,} |",
        f"| ideal (changed sectors x 512) | {r['ideal_bytes']:,} |",
        f"| 4 KiB-block replication | {r['block4k_bytes']:,} |",
        f"| WAN / ideal | {r['wire_vs_ideal']:.2f} |",
        f"| link utilisation | {r['link_utilisation']:.1%} |",
        f"| appliance CPU per MiB written (both) | {r['cpu_s_per_mib_written']:.2f} s |",
    ])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench rpo", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--luns", type=int, default=4)
    ap.add_argument("--rate", type=int, default=100, help="4 KiB writes per second")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    report = run(args.seconds, args.luns, args.rate)
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
