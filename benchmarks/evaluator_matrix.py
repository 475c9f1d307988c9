"""The evaluator matrix: every workload x every installed tool x thread budgets, whole process
from the files, with peak memory and array-level parity against the reference tool.

    python benchmarks/evaluator_matrix.py --out matrix.json --markdown matrix.md

Workloads are the seeded cases of ``benchmarks/workloads.py`` (COCO sparse and dense, LVIS,
Objects365-shaped boxes; COCO and LVIS masks). Each measurement is one fresh Python process
running the tool from the two JSON files to its final metrics (interpreter start, imports,
parsing, matching, accumulation, summary), pinned to the budget's CPUs with
``os.sched_setaffinity`` and told the same thread count where the tool takes one
(``RAYON_NUM_THREADS``, ``OMP_NUM_THREADS``, ``NUMBA_NUM_THREADS``, vernier's ``num_threads``;
detbench's C kernels size their thread pool from the affinity mask). pycocotools and lvis-api
are single-threaded Python: they run at 1 CPU only. Reported per cell: the median of the runs,
their range, the median CPU time (user + system, from ``wait4``: less sensitive than wall time
to other processes on a shared machine), the largest peak RSS (the child's own VmHWM), and the 1-minute load average
around the runs (a cell measured under load says so).

The first run of every (tool, budget) comes first (it decides the cell's repeat count); the other
runs go round-robin over the tools and budgets, so that a change of the machine's speed during a
workload falls on every tool alike. Each workload records the machine's speed probe
(``bench.speed.machine.speed_probe``) before and after it.

Parity: the first run of each tool on a workload also writes its 12 (LVIS: 13) stats and its
full precision and recall arrays; each is compared with the reference (pycocotools for COCO
cases, lvis-api for LVIS cases): the largest absolute difference and the number of cells that
differ. The time that writing takes (printed by the child) is subtracted from that run.

Options: ``--workloads``, ``--tools``, ``--budgets`` (``1,all``), ``--repeats`` (fast tools),
``--slow-repeats`` (tools slower than ``--slow-seconds`` on their first run), ``--scale`` (a
fraction of each case's images, for a smoke run), ``--cases-dir`` (keep the generated files),
``--skip`` (``tool@workload`` pairs). Objects365 scale skips pycocotools and faster-coco-eval by
default: their published peaks there are ~21 GiB and > 30 GiB (``--skip none`` to try).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
COCO_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
LVIS_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR300", "ARs", "ARm", "ARl"]
DEFAULT_SKIP = {"pycocotools@o365": "published peak ~21 GiB (the machine has 23 GB, shared)",
                "faster-coco-eval@o365": "published: out of memory above 30 GiB"}  # fmt: skip
SINGLE_THREADED = {"pycocotools", "lvis-api"}

_DUMP = """
if OUT:
    import numpy as _np, time as _t
    _t0 = _t.perf_counter()
    _c0 = _t.process_time()
    _np.savez(OUT, stats=_np.array([-1.0 if v is None else float(v) for v in stats]),
              precision=_np.asarray(prec, _np.float64), recall=_np.asarray(rec, _np.float64))
    print("DUMP", _t.perf_counter() - _t0, _t.process_time() - _c0)
print("AP", stats[0])
print("HWM", next((l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")), "")) if os.path.exists("/proc/self/status") else None
"""


def _cocoeval(imports: str, cls: str, iou: str, extra: str = "") -> str:
    return (f"{imports}\ng=COCO(GT); d=g.loadRes(DT); E={cls}(g,d,'{iou}'{extra}); E.evaluate(); E.accumulate(); E.summarize()\n"
            "stats=list(E.stats); prec=E.eval['precision']; rec=E.eval['recall']")  # fmt: skip


def _detbench(protocol: str, iou: str, numba: bool) -> str:
    env = "import os; os.environ['DETBENCH_NATIVE'] = '0'\n" if numba else ""
    names = LVIS_STATS if protocol == "lvis" else COCO_STATS
    return env + (f"import numpy as np\nfrom bench.metrics.files import evaluate_files as e\nr=e(GT, DT, '{protocol}', iou_type='{iou}')\n"
                  f"stats=[r.metrics[k] for k in {names!r}]; prec=r.precision; rec=np.where(np.isnan(r.recall), -1.0, r.recall)")  # fmt: skip


def _vernier(iou: str, lvis: bool) -> str:
    """vernier's grid API (evaluate, accumulate, summarize): the one that exposes the arrays and,
    for LVIS, the federated 13-stat summary (``Evaluator.evaluate`` applies COCO rules to an LVIS file)."""
    load = "from_lvis_json" if lvis else "from_json"
    md = [300] if lvis else [1, 10, 100]
    summary = "a.summarize_lvis(g, [300])" if lvis else "a.summarize([1, 10, 100])"
    return (f"import vernier.instance as vi\ng=vi.CocoDataset.{load}(open(GT,'rb').read())\n"
            f"grid=vi.evaluate_{iou}_grid(g, open(DT,'rb').read(), parity_mode='strict', max_dets_per_image={md[-1]}, use_cats=True, "
            f"num_threads=THREADS)\na=grid.accumulate({md}); s={summary}\nstats=list(s.stats); prec=a.precision; rec=a.recall")  # fmt: skip


def tools(workload: str) -> dict[str, str]:
    """Tool name -> the program that leaves ``stats``, ``prec`` and ``rec`` (GT, DT, THREADS given)."""
    iou = "segm" if workload.endswith("segm") else "bbox"
    if workload in ("lvis", "lvis-segm", "lvis-val-segm"):
        return {
            "detbench": _detbench("lvis", iou, False),
            "detbench-numba": _detbench("lvis", iou, True),
            "lvis-api": (f"import numpy as np; np.float=float\nfrom lvis import LVISEval\nE=LVISEval(GT, DT, '{iou}'); E.run()\n"
                         "stats=list(E.results.values()); prec=E.eval['precision']; rec=E.eval['recall']"),  # fmt: skip
            "hotcoco": (f"from hotcoco import COCO, LVISEval\ng=COCO(GT); d=g.loadRes(DT); E=LVISEval(g, d, '{iou}'); E.run()\n"
                        "stats=list(E.stats); prec=E.eval['precision']; rec=E.eval['recall']"),  # fmt: skip
            "ultrafast-pycocotools": _cocoeval("from ultrafast_pycocotools import COCO, COCOeval", "COCOeval", iou, ", lvis_style=True"),
            "vernier": _vernier(iou, True),
        }
    return {
        "detbench": _detbench("coco", iou, False),
        "detbench-numba": _detbench("coco", iou, True),
        "pycocotools": _cocoeval("from pycocotools.coco import COCO; from pycocotools.cocoeval import COCOeval", "COCOeval", iou),
        "faster-coco-eval": _cocoeval("from faster_coco_eval import COCO, COCOeval_faster", "COCOeval_faster", iou),
        "hotcoco": _cocoeval("from hotcoco import COCO, COCOeval", "COCOeval", iou),
        "ultrafast-pycocotools": _cocoeval("from ultrafast_pycocotools import COCO, COCOeval", "COCOeval", iou),
        "vernier": _vernier(iou, False),
    }


def reference(workload: str) -> str:
    return "lvis-api" if workload.startswith("lvis") else "pycocotools"


class _Popen4(subprocess.Popen):
    """Popen that records the child's CPU time (and, where /proc is missing, its ru_maxrss) from wait4."""

    def _try_wait(self, wait_flags):
        pid, sts, usage = os.wait4(self.pid, wait_flags)
        if pid == self.pid:
            self._maxrss_kb = usage.ru_maxrss
            self._cpu_s = usage.ru_utime + usage.ru_stime
        return pid, sts


def run_once(code: str, gt: Path, dt: Path, cpus: list[int], out: str, timeout: float) -> dict:
    """One fresh process pinned to ``cpus``: seconds (less the parity dump), peak RSS, load."""
    n = len(cpus)
    # pinned by the child itself, first thing. Peak memory is the child's own VmHWM (/proc/self/status,
    # read at its end): wait4's ru_maxrss also counts the parent's resident pages at spawn time (Linux
    # keeps the old mm's high-water mark across exec, fork or vfork alike), so every tool would report
    # at least this process's size, which grows with the parity arrays
    prog = f"import os; os.sched_setaffinity(0, {sorted(cpus)!r})\nGT={str(gt)!r}; DT={str(dt)!r}; OUT={out!r}; THREADS={n}\n{code}\n{_DUMP}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=str(n), RAYON_NUM_THREADS=str(n),
               NUMBA_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n), MKL_NUM_THREADS=str(n))  # fmt: skip
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = _Popen4([sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, close_fds=False)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"error": f"timed out after {timeout:.0f} s"}
    seconds = time.perf_counter() - t0
    load = max(load0, os.getloadavg()[0])
    if proc.returncode != 0:
        lines = stderr.strip().splitlines()
        return {"error": lines[-1][:200] if lines else f"exit {proc.returncode} (killed: out of memory?)"}
    dumps = [x.split()[1:] for x in stdout.splitlines() if x.startswith("DUMP ")]
    hwm = [x.split()[1] for x in stdout.splitlines() if x.startswith("HWM ") and len(x.split()) == 2]
    dump, dump_cpu = (float(dumps[0][0]), float(dumps[0][1])) if dumps else (0.0, 0.0)
    return {"seconds": seconds - dump, "cpu_s": getattr(proc, "_cpu_s", 0.0) - dump_cpu, "rss_mb": (int(hwm[0]) if hwm else getattr(proc, "_maxrss_kb", 0)) / 1024, "load": load}


def compare(ref: dict, got: dict) -> dict:
    """Largest |difference| and differing-cell count of stats, precision and recall."""
    out = {}
    for key in ("stats", "precision", "recall"):
        a, b = ref[key], got[key]
        if b.size == 0 or a.size == 0:
            out[key] = None  # the tool exposes no such array
            continue
        if a.size != b.size:
            out[key] = {"error": f"shape {b.shape} vs {a.shape}"}
            continue
        a, b = a.reshape(-1), b.reshape(-1)
        differ = a != b
        out[key] = {"max_abs": float(np.max(np.abs(a - b))) if differ.any() else 0.0, "cells": int(differ.sum()), "of": int(a.size)}
    return out


def write_case(name: str, folder: Path, scale: float) -> dict:
    """Generate (in a child process, so this one stays small) or reuse."""
    counts = folder / f"{name}_counts.json"
    stamp = folder / f"{name}_scale.txt"
    if not (counts.exists() and stamp.exists() and stamp.read_text() == repr(scale)):
        code = f"import sys; sys.path.insert(0, {str(HERE)!r}); from workloads import write_case; write_case({name!r}, {str(folder)!r}, {scale!r})"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT))
        stamp.write_text(repr(scale))
    return json.loads(counts.read_text())


def main() -> int:
    sys.path.insert(0, str(HERE))
    from workloads import CASES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workloads", default=",".join(CASES))
    ap.add_argument("--tools", default=None, help="comma-separated; default: every tool of each workload")
    ap.add_argument("--budgets", default="1,all", help="thread budgets: 1 and/or all (the CPUs this process may use)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slow-repeats", type=int, default=1)
    ap.add_argument("--slow-seconds", type=float, default=20.0)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--segm-scale", type=float, default=None, help="the mask cases' scale (default: --scale)")
    ap.add_argument("--cases-dir", default=None)
    ap.add_argument("--skip", default=None, help="tool@workload pairs; 'none' clears the defaults")
    ap.add_argument("--out", default="matrix.json")
    ap.add_argument("--markdown", default=None)
    args = ap.parse_args()
    skip = dict(DEFAULT_SKIP)
    if args.skip == "none":
        skip = {}
    elif args.skip:
        skip.update({s: "skipped on request" for s in args.skip.split(",")})
    cpus = sorted(os.sched_getaffinity(0))
    budgets = {"1": cpus[:1], "all": cpus}
    wanted = args.tools.split(",") if args.tools else None
    report = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "argv": sys.argv[1:],
              "workloads": {}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.cases_dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for wl in args.workloads.split(","):
            scale = args.segm_scale if wl.endswith("segm") and args.segm_scale is not None else args.scale
            counts = write_case(wl, folder, scale)
            gt, dt = folder / f"{wl}_gt.json", folder / f"{wl}_dt.json"
            print(f"\n{wl}: {counts}", flush=True)
            from bench.speed.machine import speed_probe

            entry = report["workloads"].setdefault(wl, {"counts": counts, "reference": reference(wl), "cells": {}, "parity": {},
                                                        "probe_ms": [speed_probe()["slowest_ms"]]})  # fmt: skip
            arrays, more, runs = {}, {}, {}  # more: (tool, budget) -> (program, runs still to take)
            for name, code in tools(wl).items():
                if wanted and name not in wanted:
                    continue
                if f"{name}@{wl}" in skip:
                    entry["cells"][name] = {"skipped": skip[f"{name}@{wl}"]}
                    continue
                if name.startswith("detbench"):  # fill numba's on-disk cache (and the page cache) first
                    run_once(code, gt, dt, cpus, "", args.timeout)
                for budget in [b for b in ("all", "1") if b in args.budgets.split(",")]:
                    if name in SINGLE_THREADED and budget == "all":
                        continue
                    npz = str(Path(tmp) / f"{wl}-{name}.npz") if name not in arrays else ""
                    first = run_once(code, gt, dt, budgets[budget], npz, args.timeout)
                    runs[name, budget] = [first]
                    if npz and "error" not in first:
                        with np.load(npz) as z:
                            arrays[name] = {k: z[k] for k in z.files}
                    n_runs = args.slow_repeats if first.get("seconds", 1e9) > args.slow_seconds else args.repeats
                    more[name, budget] = (code, (n_runs - 1) if "error" not in first else 0)
            # the other runs round-robin over the tools and budgets, so that a change of the machine's
            # speed during the workload (this VM flips between a fast and a slow state every few
            # seconds) falls on every tool alike rather than on whichever ran then
            for k in range(max((n for _, n in more.values()), default=0)):
                for (name, budget), (code, n) in more.items():
                    if n > k:
                        runs[name, budget].append(run_once(code, gt, dt, budgets[budget], "", args.timeout))
            for (name, budget), rs in runs.items():
                cell = summarize_runs(rs)
                entry["cells"].setdefault(name, {})[budget] = cell
                print(f"  {name:<22} {budget:>3} CPU: {fmt_cell(cell)}", flush=True)
            entry["probe_ms"].append(speed_probe()["slowest_ms"])
            print(f"  speed probe before / after: {entry['probe_ms'][0]:.2f} / {entry['probe_ms'][1]:.2f} ms", flush=True)
            ref = arrays.get(reference(wl))
            for name, got in arrays.items():
                if ref is not None and name != reference(wl):
                    entry["parity"][name] = compare(ref, got)
            Path(args.out).write_text(json.dumps(report, indent=1))
    if args.markdown:
        from matrix_report import render

        Path(args.markdown).write_text(render(report))
    return 0


def summarize_runs(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"]}
    s = [r["seconds"] for r in ok]
    return {"median_s": float(np.median(s)), "min_s": min(s), "max_s": max(s), "n": len(s), "rss_mb": max(r["rss_mb"] for r in ok),
            "cpu_s": float(np.median([r["cpu_s"] for r in ok])),
            "load": float(np.median([r["load"] for r in ok])), "runs_s": [round(x, 3) for x in s]}  # fmt: skip


def fmt_cell(c: dict) -> str:
    if "error" in c:
        return f"failed: {c['error']}"
    return f"{c['median_s']:.2f} s [{c['min_s']:.2f}-{c['max_s']:.2f}] n={c['n']} cpu {c['cpu_s']:.2f} s {c['rss_mb']:.0f} MB load {c['load']:.1f}"


def machine() -> dict:
    import importlib.metadata as md
    import platform

    versions = {}
    for pkg in ("pycocotools", "faster-coco-eval", "hotcoco", "ultrafast-pycocotools", "vernier", "lvis", "numpy", "numba", "orjson"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), platform.processor())
    mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), "0")
    return {"cpu": cpu, "cpus_usable": len(os.sched_getaffinity(0)), "memory_gb": round(int(mem) / 2**20, 1), "python": platform.python_version(),
            "platform": platform.platform(), "detbench_commit": commit, "versions": versions}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
