"""SRA benchmark: process wall time per command, Python start-up included, as SRM runs it.

    python -m bench sra [--runs N] [--sizes 1,100,1000] [--live-sizes 1,20]

Each sample runs ``perl sra/command.pl`` with a request on stdin and measures until the process
exits. queryCapabilities needs no array. discoverDevices runs against an in-bench HTTP server
that answers the appliance's REST contract (NSS-API.md) for N replicated devices from memory:
it isolates the SRA's own cost (start-up, XML, HTTP client, mapping) from the appliance's.
Bytecode caching is on, as in an installed SRA (PYTHONDONTWRITEBYTECODE is dropped for the runs).
``--live-sizes`` also times discoverDevices against two real appliance processes holding that
many real replications (slow to set up: each replication runs an initial sync).
Goals: query commands < 300 ms; discoverDevices of 1,000 devices < 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMAND_PL = REPO / "sra" / "command.pl"
NS = "http://www.vmware.com/srm/sra/v2"
ARRAY_ID, PEER_ID, TOKEN = "NSS-BENCH00001", "NSS-BENCH00002", "bench-token"
GOALS = {"queryCapabilities": 0.300, "discoverDevices": 1.5}


def fake_appliance(devices: int) -> dict[str, bytes]:
    """GET path -> JSON body for an appliance holding ``devices`` replicated source LUNs."""
    luns = [{"id": f"lun-{i:05d}", "name": f"vm disk {i}", "wwn": f"6000{i:028x}",
             "size_bytes": 1 << 30, "sector_size": 512, "access": "read-write",
             "role": "primary", "replication_id": f"rep-{i:05d}"} for i in range(devices)]
    reps = [{"id": f"rep-{i:05d}", "direction": "outbound", "peer": PEER_ID,
             "state": "replicating", "source_kind": "lun", "source": f"lun-{i:05d}",
             "local_group": None, "devices": [{"local": f"lun-{i:05d}", "remote": f"lun-r{i:05d}"}],
             "mode": "async", "microscan": True} for i in range(devices)]
    pages = {"/appliance": {"appliance": {"id": ARRAY_ID, "name": "bench", "model": "NSS-SIM",
                                          "version": "0.1.0", "serial": "bench"}},
             "/peers": {"peers": [{"id": PEER_ID, "appliance_id": PEER_ID}]},
             "/luns": {"luns": luns}, "/replications": {"replications": reps},
             "/groups": {"groups": []}}
    return {"/api/v1" + k: json.dumps(v).encode() for k, v in pages.items()}


def serve(pages: dict[str, bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            body = body or b'{"error": {"code": "not-found", "message": "", "details": {}}}'
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def request(name: str, workdir: Path, url: str = "", params: str = "") -> bytes:
    conn = (f"<Connections><Connection id='nss'><Addresses><Address id='address'>{url}"
            f"</Address></Addresses><Username>bench</Username><Password>{TOKEN}</Password>"
            "</Connection></Connections>") if url else ""
    return (f'<?xml version="1.0"?><Command xmlns="{NS}"><Name>{name}</Name>'
            f"<OutputFile>{workdir / 'out.xml'}</OutputFile>"
            f"<StatusFile>{workdir / 'status.xml'}</StatusFile><LogLevel>info</LogLevel>"
            f"<LogDirectory>{workdir}</LogDirectory>{conn}{params}</Command>").encode()


def time_command(raw: bytes, runs: int, argv: list[str] | None = None) -> tuple[float, float]:
    """(median, max) seconds of ``runs`` executions of command.pl (or ``argv``)."""
    samples = []
    # As installed under SRM: bytecode is cached (this lab sets PYTHONDONTWRITEBYTECODE).
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           "DRKIT_PYTHON": sys.executable}
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(argv or ["perl", str(COMMAND_PL)], input=raw, capture_output=True,
                              env=env)
        samples.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"command.pl failed: {proc.stderr.decode().strip()}")
    return statistics.median(samples), max(samples)


def _check_devices(out: Path, devices: int) -> None:
    found = out.read_text().count("<SourceDevice ")
    if found != devices:
        raise SystemExit(f"discoverDevices answered {found} devices, expected {devices}")


def live_rows(sizes: list[int], runs: int, work: Path) -> list[tuple[str, float, float, float]]:
    """discoverDevices against real appliances (the bench may use the simulator; the SRA not)."""
    from simulators.nss.process import ApplianceProcess

    rows = []
    for size in sizes:
        a = ApplianceProcess("bench-a", work / f"a{size}").start()
        b = ApplianceProcess("bench-b", work / f"b{size}").start()
        try:
            peer = a.client.pair(b.url, b.token)
            jobs = [a.client.create_replication(a.client.create_lun(f"d{i}", 1 << 20)["id"],
                                                peer["id"])["job"]["id"] for i in range(size)]
            for job in jobs:
                a.client.wait_job(job, timeout=600)
            params = (f"<DiscoverDevicesParameters><ArrayId>{a.client.appliance()['id']}"
                      f"</ArrayId></DiscoverDevicesParameters>")
            raw = request("discoverDevices", work, a.url, params).replace(
                TOKEN.encode(), a.token.encode())
            rows.append((f"discoverDevices live ({size})", *time_command(raw, runs), 1.5))
            _check_devices(work / "out.xml", size)
        finally:
            a.kill9()
            b.kill9()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sra", description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--live-sizes", default="")
    args = parser.parse_args(argv)
    rows: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        baseline = time_command(b"", args.runs, [sys.executable, "-c", "pass"])
        rows.append(("(baseline: python -c pass)", *baseline, float("inf")))
        for name in ("queryInfo", "queryCapabilities"):
            rows.append((name, *time_command(request(name, work), args.runs), 0.300))
        for size in (int(s) for s in args.sizes.split(",")):
            server = serve(fake_appliance(size))
            url = f"http://127.0.0.1:{server.server_address[1]}"
            params = (f"<DiscoverDevicesParameters><ArrayId>{ARRAY_ID}</ArrayId><PeerArrayId>"
                      f"{PEER_ID}</PeerArrayId></DiscoverDevicesParameters>")
            raw = request("discoverDevices", work, url, params)
            rows.append((f"discoverDevices ({size} devices)", *time_command(raw, args.runs), 1.5))
            _check_devices(work / "out.xml", size)
            server.shutdown()
        if args.live_sizes:
            rows += live_rows([int(s) for s in args.live_sizes.split(",")], args.runs, work)
    print(f"{'command':36} {'median':>9} {'max':>9} {'goal':>7}  ok")
    for name, median, worst, goal in rows:
        goal_text = f"{goal * 1000:5.0f}ms" if goal != float("inf") else "      -"
        print(f"{name:36} {median * 1000:7.0f}ms {worst * 1000:7.0f}ms {goal_text}  "
              f"{'yes' if median < goal else 'NO'}")
    return 0 if all(median < goal for _, median, _, goal in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
