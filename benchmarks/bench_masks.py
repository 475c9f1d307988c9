"""Interleaved whole-process timings of the COCO-scale segm case: detbench (C and numba) against
the fastest peers, for docs/masks-speed.md.

    python benchmarks/bench_masks.py [--repeats 3] [--tools detbench,hotcoco,...] [--keep DIR]

Writes the case with ``bench_metrics.py --write-case segm 5000 80 7 100`` (benchmarks/segm_case.py),
then runs every tool once per round, in turn, ``--repeats`` rounds (a slow phase of a shared
machine hits every tool, not one): per run the wall time, the child's CPU time (user+sys from
``wait4``), its peak RSS, and the 1-minute load average when it started. Prints each run and, per
round, each peer's wall and CPU time over detbench's (below 1: the peer is faster), then a JSON
line with everything. A warm-up run fills numba's cache first. Code of each tool: ``bench_metrics.TOOLS["segm"]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_metrics import TOOLS  # noqa: E402


def run(code: str, gt: Path, dt: Path) -> dict:
    """One fresh process: wall s, CPU s (user+sys), peak RSS MB, load average at its start, its last line."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", f"GT={str(gt)!r}; DT={str(dt)!r}\n{code}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    lines = out.decode().strip().splitlines()
    return {"wall": round(wall, 3), "cpu": round(usage.ru_utime + usage.ru_stime, 3), "rss_mb": usage.ru_maxrss // 1024,
            "load1": round(load, 2), "ap": lines[-1] if lines else None, "exit": proc.returncode}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tools", default="detbench,hotcoco,ultrafast-pycocotools,detbench-numba")
    ap.add_argument("--keep", default=None, help="a folder to write (or reuse) the case in")
    args = ap.parse_args()
    names = args.tools.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        gt, dt = folder / "segm_gt.json", folder / "segm_dt.json"
        if not (gt.exists() and dt.exists()):
            subprocess.run([sys.executable, str(Path(__file__).parent / "bench_metrics.py"), "--write-case", "segm",
                            "5000", "80", "7", "100", str(folder)], check=True)  # fmt: skip
        run(TOOLS["segm"]["detbench-numba"], gt, dt)  # numba's cache
        results: dict = {n: [] for n in names}
        for r in range(args.repeats):
            for n in names:
                results[n].append(run(TOOLS["segm"][n], gt, dt))
                print(r, n, results[n][-1], flush=True)
            base = results["detbench"][-1] if "detbench" in results else None
            for n in names:
                if base and n != "detbench" and results[n][-1]["exit"] == 0 and base["exit"] == 0:
                    print(f"  round {r}: {n} / detbench  wall {results[n][-1]['wall'] / base['wall']:.2f}"
                          f"  cpu {results[n][-1]['cpu'] / base['cpu']:.2f}")  # fmt: skip
        for n, runs in results.items():
            ok = [x for x in runs if x["exit"] == 0]
            if ok:
                print(f"{n:24s} median wall {statistics.median(x['wall'] for x in ok):.2f} s, "
                      f"cpu {statistics.median(x['cpu'] for x in ok):.2f} s, peak {max(x['rss_mb'] for x in ok)} MB")  # fmt: skip
        print("JSON", json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
