"""Markdown rendering of the WAN benchmark report (``bench.wan.run``)."""

from __future__ import annotations

from typing import Any

MiB = 1 << 20


def _n(v: float | None) -> str:
    return "n/a" if v is None else f"{int(v):,}"


def _x(v: float | None, ideal: int) -> str:
    return "n/a" if v is None or not ideal else f"{v / ideal:.2f}"


def _peer(r: dict[str, Any], tool: str, key: str) -> float | None:
    found = r.get(tool)
    return None if not found else found[key]


def _rows(r: dict[str, Any]) -> list[tuple[str, float | None]]:
    d, dp = r["drkit"], r["drkit_plain"]
    return [
        ("ideal (changed sectors x 512)", r["ideal"]),
        ("drkit literal payload (extent data)", dp["payload"]),
        ("drkit literal serialized, before zstd", dp["serialized"]),
        ("drkit literal, plain zstd 3 (wire)", dp["wire"]),
        ("drkit default settings (wire)", d["wire"]),
        ("4 KiB block replication", d["block4k"]),
        ("4 KiB blocks, zstd", r["block4k_zstd"]),
        ("64 KiB block replication", d["block64k"]),
        ("64 KiB blocks, zstd", r["block64k_zstd"]),
        ("rsync --no-whole-file --inplace (sent)", _peer(r, "rsync", "sent")),
        ("xdelta3 (VCDIFF)", _peer(r, "xdelta3", "bytes")),
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "NO"


def pattern_table(r: dict[str, Any]) -> str:
    d, dx = r["drkit"], r["drkit_plain"]
    scanned = d["chunks_scanned"] * 65536 / MiB
    lines = [
        f"### {r['pattern']}: {r['description']}",
        "",
        f"written {r['written'] / MiB:.2f} MiB, {r['dirty_chunks']:,} dirty chunks "
        f"({scanned:.1f} MiB scanned), {r['changed_sectors']:,} changed sectors; ground truth "
        f"exact: {_yes(r['ground_truth_exact'] and d['sectors_exact'] and dx['sectors_exact'])}"
        f"; replica == head after decode+apply: {_yes(r['replica_equals_head'])}",
        "",
        "| method | bytes | x ideal |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {_n(v)} | {_x(v, r['ideal'])} |" for name, v in _rows(r)]
    share = d["diff_s"] / r["full_compare_s"]
    timing = (f"time (fastest of 3, page cache warm): MicroScan diff {d['diff_s'] * 1e3:.1f} ms "
              f"(literal only: {dx['diff_s'] * 1e3:.1f} ms; encode {d['encode_s'] * 1e3:.1f} ms, "
              f"= read {d['read_s'] * 1e3:.1f} ms + MicroScan {d['scan_s'] * 1e3:.1f} ms, "
              f"{d['scan_gbps']:.2f} GB/s over dirty chunks) vs "
              f"full numpy compare {r['full_compare_s'] * 1e3:.0f} ms = {share:.1%}")
    lines += ["", timing + _peer_times(r),
              f"XOR sectors (default settings): {d['sectors']['XOR']:,} of "
              f"{r['changed_sectors']:,}", ""]
    return "\n".join(lines)


def _peer_times(r: dict[str, Any]) -> str:
    parts = [f"{tool} {r[tool]['seconds']:.1f} s" for tool in ("rsync", "xdelta3")
             if r.get(tool)]
    return f"; {', '.join(parts)}" if parts else ""


def summary(report: dict[str, Any]) -> str:
    head = ("| pattern | ideal | drkit default wire | literal+zstd wire | 4 KiB blocks | "
            "64 KiB blocks | rsync | xdelta3 | default / xdelta3 | MicroScan GB/s | "
            "read+diff / full |")
    lines = [head, "|---" + "|---:" * 10 + "|"]
    for r in report["patterns"]:
        d = r["drkit"]
        cells = [r["ideal"], d["wire"], r["drkit_plain"]["wire"], d["block4k"], d["block64k"],
                 _peer(r, "rsync", "sent"), _peer(r, "xdelta3", "bytes")]
        xd = _peer(r, "xdelta3", "bytes")
        ratio = f"{d['wire'] / xd:.2f}" if xd else "n/a"
        lines.append(f"| {r['pattern']} | " + " | ".join(_n(c) for c in cells)
                     + f" | {ratio} | {d['scan_gbps']:.2f} | "
                     f"{d['diff_s'] / r['full_compare_s']:.1%} |")
    return "\n".join(lines)


def goal_lines(report: dict[str, Any]) -> str:
    out = []
    for name, g in report["goals"].items():
        if "cost_goal_lt_2pct" in g:
            checks = [f"1 MiB written costs < 2% of a full scan: "
                      f"{_yes(g['cost_goal_lt_2pct'])} ({g['diff_share_of_full_scan']:.2%})"]
        else:
            vs = g["wire_vs_xdelta3"]
            checks = [f"serialized <= 1.03x ideal: {_yes(g['serialized_le_1.03x_ideal'])}",
                      f"wire < block peers: {_yes(g['wire_below_block_peers'])}",
                      f"wire <= 1.3x xdelta3: {_yes(g['wire_le_1.3x_xdelta3'])} "
                      f"({'n/a' if vs is None else f'{vs:.2f}x'})",
                      f"scan >= 3 GB/s: {_yes(g['scan_ge_3gbps'])} ({g['scan_gbps']:.2f})"]
        out.append(f"- {name}: " + "; ".join(checks))
    return "\n".join(out)


def render(report: dict[str, Any]) -> str:
    tools = ", ".join(report["tools"].values()) or "none"
    parts = [f"## drkit WAN benchmark: {report['device_size'] / MiB:.0f} MiB device, seed "
             f"{report['seed']} ({report['seconds']:.0f} s; peers: {tools})", "",
             summary(report), "", "Goals:", goal_lines(report), ""]
    parts += [pattern_table(r) for r in report["patterns"]]
    return "\n".join(parts)
