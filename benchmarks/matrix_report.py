"""Markdown tables from ``evaluator_matrix.py``'s JSON report: speed and memory per workload and
thread budget, array-level parity, and the cells where detbench is not the fastest."""

from __future__ import annotations

import json
import sys


def _time(cell: dict | None) -> str:
    if cell is None:
        return "-"
    if "error" in cell:
        return f"failed ({cell['error'][:60]})"
    return f"{cell['median_s']:.2f} ({cell['min_s']:.2f}-{cell['max_s']:.2f}, n={cell['n']}; cpu {cell['cpu_s']:.2f}; load {cell['load']:.1f})"


def _parity(p: dict | None) -> str:
    if p is None:
        return "not exposed"
    if "error" in p:
        return p["error"]
    return "identical" if p["cells"] == 0 else f"{p['max_abs']:.3g} in {p['cells']:,} of {p['of']:,}"


def _fastest_peer(cells: dict, budget: str, key: str = "median_s") -> tuple[str, float] | None:
    peers = [(n, c[budget][key]) for n, c in cells.items()
             if not n.startswith("detbench") and budget in c and key in c[budget]]  # fmt: skip
    return min(peers, key=lambda x: x[1]) if peers else None


def render(report: dict) -> str:
    m = report["machine"]
    out = [f"Measured {report['started']} on {m['cpu']} ({m['cpus_usable']} CPUs usable, {m['memory_gb']} GB), Python {m['python']}, "
           f"detbench {m['detbench_commit']}; " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + ".", ""]  # fmt: skip
    behind = []
    for wl, e in report["workloads"].items():
        c = e["counts"]
        out += [f"### {wl}", "", f"{c['images']:,} images, {c['categories']} categories, {c['gt']:,} ground truth ({c['crowd']:,} crowd), "
                f"{c['dt']:,} detections. Wall seconds: median (range, runs; median CPU seconds, user + system; "
                "1-min load average). x fastest peer: wall time / the fastest other tool's (CPU time in brackets).", ""]  # fmt: skip
        out += ["| tool | 1 CPU s | all CPUs s | peak RSS MB | x fastest peer (1 / all) |", "|---|---|---|---|---|"]
        best = {b: _fastest_peer(e["cells"], b) for b in ("1", "all")}
        best_cpu = {b: _fastest_peer(e["cells"], b, "cpu_s") for b in ("1", "all")}
        for name, cell in e["cells"].items():
            if "skipped" in cell:
                out.append(f"| {name} | skipped: {cell['skipped']} | | | |")
                continue
            rss = max((v.get("rss_mb", 0) for v in cell.values() if isinstance(v, dict)), default=0)
            ratios = []
            for b in ("1", "all"):
                v = cell.get(b)
                if v and "median_s" in v and best[b]:
                    ratios.append(f"{v['median_s'] / best[b][1]:.2f} ({v['cpu_s'] / best_cpu[b][1]:.2f})")
                    if name == "detbench" and v["median_s"] > best[b][1]:
                        behind.append(f"{wl}, {b} CPU: detbench {v['median_s']:.2f} s, {best[b][0]} {best[b][1]:.2f} s "
                                      f"({v['median_s'] / best[b][1]:.2f}x wall; CPU time {v['cpu_s']:.2f} s vs the least, "
                                      f"{best_cpu[b][0]}'s {best_cpu[b][1]:.2f} s)")  # fmt: skip
                else:
                    ratios.append("-")
            all_cell = "single-threaded tool" if "1" in cell and "all" not in cell and name in ("pycocotools", "lvis-api") else _time(cell.get("all"))
            out.append(f"| {name} | {_time(cell.get('1'))} | {all_cell} | {rss:.0f} | {' / '.join(ratios)} |")
        out += ["", f"Parity against {e['reference']} (largest |difference| in how many cells; stats, precision, recall):", ""]
        out += ["| tool | stats | precision | recall |", "|---|---|---|---|"]
        for name, p in e["parity"].items():
            out.append(f"| {name} | {_parity(p['stats'])} | {_parity(p['precision'])} | {_parity(p['recall'])} |")
        if not e["parity"]:
            out.append(f"| (no parity: {e['reference']} was not run on this workload) | | | |")
        out.append("")
    out += ["### Where detbench is not first", ""]
    out += [f"- {b}" for b in behind] or ["- nowhere in this run"]
    return "\n".join(out) + "\n"


SUMMARY_TOOLS = ("detbench", "hotcoco", "ultrafast-pycocotools", "vernier", "faster-coco-eval", "reference")


def summary(report: dict) -> str:
    """One compact table (the README's): per workload, each tool's median wall seconds at 1 CPU /
    all CPUs, detbench's peak RSS, and detbench's time over the fastest peer's in each budget."""
    head = [t if t != "reference" else "pycocotools / lvis-api" for t in SUMMARY_TOOLS]
    out = ["| workload | " + " | ".join(head) + " | detbench RSS | detbench / fastest peer |", "|---" * (len(head) + 3) + "|"]

    def cell(c: dict | None) -> str:
        if c is None:
            return "-"
        if "skipped" in c:
            return "not run (memory)"
        times = [f"{c[b]['median_s']:.2f}" if b in c and "median_s" in c[b] else "-" for b in ("1", "all")]
        return times[0] if times[1] == "-" else " / ".join(times)

    for wl, e in report["workloads"].items():
        cells = e["cells"]
        row = [cell(cells.get(e["reference"] if t == "reference" else t)) for t in SUMMARY_TOOLS]
        d = cells.get("detbench", {})
        rss = max((v.get("rss_mb", 0) for v in d.values() if isinstance(v, dict)), default=0)
        ratios = []
        for b in ("1", "all"):
            best = _fastest_peer(cells, b)
            ratios.append(f"{d[b]['median_s'] / best[1]:.2f}" if best and b in d and "median_s" in d[b] else "-")
        out.append(f"| {wl} ({e['counts']['dt'] / 1000:,.0f}k det.) | " + " | ".join(row) + f" | {rss:.0f} MB | {' / '.join(ratios)} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    report = json.loads(open(sys.argv[1]).read())
    print(summary(report) if "--summary" in sys.argv[2:] else render(report))
