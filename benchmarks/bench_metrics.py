"""Speed and peak memory of detbench's metric core against the reference tools.

Not a test: timings depend on the machine. Each tool runs in its own process, from the JSON
files to the final metrics (parsing included), and the figures are reported as ratios to
detbench measured in the same run. Peak memory is the process's maximum resident set size.

    python benchmarks/bench_metrics.py                # COCO-scale bbox, LVIS-scale bbox, COCO-scale segm
    python benchmarks/bench_metrics.py --cases lvis-val --repeats 1   # LVIS v1 val's size: peak memory
    python benchmarks/bench_metrics.py --quick        # a small case, for a smoke run
    python benchmarks/bench_metrics.py --repeats 5    # median of 5 fresh processes per tool (default 3)
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


def _cocoeval(module: str, cls: str = "COCOeval", iou: str = "bbox", extra: str = "") -> str:
    """A pycocotools-style run (COCO, loadRes, evaluate/accumulate/summarize) with ``module``."""
    return (f"from {module} import COCO, {cls}\n"
            f"g=COCO(GT); d=g.loadRes(DT); E={cls}(g,d,'{iou}'{extra}); E.evaluate(); E.accumulate(); E.summarize(); print(E.stats[0])")  # fmt: skip


def _vernier(iou: str, lvis: bool = False) -> str:
    load = "from_lvis_json" if lvis else "from_json"
    kind = "Segm" if iou == "segm" else "Bbox"
    return (f"from vernier.instance import {kind}, CocoDataset, Evaluator\n"
            f"g=CocoDataset.{load}(open(GT,'rb').read()); s=Evaluator(iou={kind}(), parity_mode='strict')"
            ".evaluate(g, open(DT,'rb').read()); print(s.stats[0])")  # fmt: skip


def _detbench(protocol: str, iou: str = "bbox", numba: bool = False) -> str:
    """detbench from the files; ``numba``: its fallback path (DETBENCH_NATIVE=0: no C extension)."""
    env = "import os; os.environ['DETBENCH_NATIVE'] = '0'\n" if numba else ""
    return env + f"from bench.metrics.files import evaluate_files as e; m=e(GT, DT, '{protocol}', iou_type='{iou}').metrics; print(m['AP'])"


TOOLS = {
    "coco": {
        "detbench": _detbench("coco"),
        "detbench-numba": _detbench("coco", numba=True),
        "pycocotools": _cocoeval("pycocotools.coco", "COCOeval").replace("from pycocotools.coco import COCO, COCOeval",
                                                                        "from pycocotools.coco import COCO; from pycocotools.cocoeval import COCOeval"),
        "faster-coco-eval": _cocoeval("faster_coco_eval", "COCOeval_faster"),
        "hotcoco": _cocoeval("hotcoco"),
        "ultrafast-pycocotools": _cocoeval("ultrafast_pycocotools"),
        "vernier": _vernier("bbox"),
    },
    "lvis": {
        "detbench": _detbench("lvis"),
        "detbench-numba": _detbench("lvis", numba=True),
        "lvis-api": "import numpy as np; np.float=float\nfrom lvis import LVISEval\nE=LVISEval(GT, DT, 'bbox'); E.run(); print(E.results['AP'])",
        "hotcoco": "from hotcoco import COCO, LVISEval\ng=COCO(GT); d=g.loadRes(DT); E=LVISEval(g, d, 'bbox'); E.run(); print(E.stats[0])",
        "ultrafast-pycocotools": "from ultrafast_pycocotools import COCO, COCOeval\n"
        "g=COCO(GT); d=g.loadRes(DT); E=COCOeval(g,d,'bbox',lvis_style=True); E.evaluate(); E.accumulate(); E.summarize(); print(E.stats[0])",
        "vernier": _vernier("bbox", lvis=True),
    },
    "segm": {
        "detbench": _detbench("coco", "segm"),
        "detbench-numba": _detbench("coco", "segm", numba=True),
        "pycocotools": _cocoeval("pycocotools.coco", "COCOeval", "segm").replace("from pycocotools.coco import COCO, COCOeval",
                                                                                "from pycocotools.coco import COCO; from pycocotools.cocoeval import COCOeval"),
        "faster-coco-eval": _cocoeval("faster_coco_eval", "COCOeval_faster", "segm"),
        "hotcoco": _cocoeval("hotcoco", iou="segm"),
        "ultrafast-pycocotools": _cocoeval("ultrafast_pycocotools", iou="segm"),
        "vernier": _vernier("segm"),
    },
    "lvis-val": {  # memory at LVIS v1 val's size; the slow reference is left out
        "detbench": _detbench("lvis"),
        "ultrafast-pycocotools": "from ultrafast_pycocotools import COCO, COCOeval\n"
        "g=COCO(GT); d=g.loadRes(DT); E=COCOeval(g,d,'bbox',lvis_style=True); E.evaluate(); E.accumulate(); E.summarize(); print(E.stats[0])",
    },
}


def make_case(n_img: int, n_cat: int, gt_per_img: int, dt_per_img: int, lvis: bool, seed: int = 0):
    """A detector-like case: detections jittered around GT (some mislabelled) plus clutter."""
    rng = np.random.default_rng(seed)
    cats = [{"id": c + 1, "name": f"c{c}"} for c in range(n_cat)]
    if lvis:
        freq = rng.choice(["r", "c", "f"], n_cat, p=[0.3, 0.4, 0.3])
        for c, f in zip(cats, freq):
            c["frequency"] = str(f)
    popularity = 1.0 / np.arange(1, n_cat + 1) ** (1.0 if lvis else 0.5)
    popularity /= popularity.sum()
    images, anns, dets = [], [], []
    for i in range(1, n_img + 1):
        w, h = 640, 480
        n = max(1, int(rng.poisson(gt_per_img)))
        c = rng.choice(n_cat, n, p=popularity) + 1
        side = np.exp(rng.uniform(np.log(8), np.log(400), n))
        ar = np.exp(rng.uniform(-0.7, 0.7, n))
        bw, bh = np.minimum(side * ar, w - 1), np.minimum(side / ar, h - 1)
        x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        for j in range(n):
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": int(c[j]), "bbox": [x[j], y[j], bw[j], bh[j]],
                         "area": float(bw[j] * bh[j] * rng.uniform(0.5, 0.9)), "iscrowd": int(rng.random() < 0.01) if not lvis else 0})  # fmt: skip
        k = dt_per_img
        src = rng.integers(0, n, k)
        near = rng.random(k) < 0.5
        jit = rng.normal(0, 0.1, (k, 4)) * np.stack([bw[src], bh[src], bw[src], bh[src]], 1)
        dx = np.where(near, x[src] + jit[:, 0], rng.uniform(0, w - 50, k))
        dy = np.where(near, y[src] + jit[:, 1], rng.uniform(0, h - 50, k))
        dw = np.where(near, np.abs(bw[src] + jit[:, 2]), rng.uniform(4, 300, k))
        dh = np.where(near, np.abs(bh[src] + jit[:, 3]), rng.uniform(4, 300, k))
        dc = np.where(near & (rng.random(k) < 0.8), c[src], rng.choice(n_cat, k, p=popularity) + 1)
        sc = np.where(near, rng.beta(4, 2, k), rng.beta(1, 4, k))
        for j in range(k):
            dets.append({"image_id": i, "category_id": int(dc[j]), "bbox": [round(float(dx[j]), 2), round(float(dy[j]), 2),
                         round(float(dw[j]), 2), round(float(dh[j]), 2)], "score": round(float(sc[j]), 4)})  # fmt: skip
        rec = {"id": i, "width": w, "height": h, "file_name": f"{i:012d}.jpg"}
        if lvis:
            present = set(int(v) for v in c)
            absent = np.setdiff1d(np.arange(1, n_cat + 1), list(present))
            rec["neg_category_ids"] = [int(v) for v in rng.choice(absent, min(len(absent), 20), replace=False)]
            rec["not_exhaustive_category_ids"] = [v for v in sorted(present) if rng.random() < 0.1]
        images.append(rec)
    return {"images": images, "annotations": anns, "categories": cats}, dets


class _Popen4(subprocess.Popen):
    """Popen that records the child's own peak RSS from wait4."""

    def _try_wait(self, wait_flags):
        pid, sts, usage = os.wait4(self.pid, wait_flags)
        if pid == self.pid:
            self._maxrss_kb = usage.ru_maxrss
        return pid, sts


def run_tool(code: str, gt: Path, dt: Path, timeout: float) -> dict:
    """Run one tool in a fresh process; wall time and peak RSS (MB) of that process."""
    prog = f"GT={str(gt)!r}; DT={str(dt)!r}\n{code}"
    t0 = time.perf_counter()
    proc = _Popen4([sys.executable, "-c", prog], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return {"error": f"timed out after {timeout:.0f}s"}
    seconds = time.perf_counter() - t0
    rss = getattr(proc, "_maxrss_kb", None)  # this child's own peak, from wait4
    if proc.returncode != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {proc.returncode}"}
    return {"seconds": seconds, "ap": out.strip().splitlines()[-1] if out.strip() else "", "rss_kb": rss}



def median_run(code: str, gt: Path, dt: Path, timeout: float, repeats: int) -> dict:
    """``repeats`` fresh-process runs; the median time (and the largest peak RSS)."""
    runs = [run_tool(code, gt, dt, timeout) for _ in range(max(1, repeats))]
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]
    best = dict(ok[0])
    best["seconds"] = float(np.median([r["seconds"] for r in ok]))
    best["rss_kb"] = max(r["rss_kb"] or 0 for r in ok) or None
    best["runs"] = [round(r["seconds"], 3) for r in ok]
    return best


def write_case(case: str, n_img: int, n_cat: int, g: int, d: int, folder: str) -> None:
    if case == "segm":
        from segm_case import make_segm_case

        gt, dets = make_segm_case(n_img, n_cat, g, d)
    else:
        gt, dets = make_case(n_img, n_cat, g, d, lvis=case.startswith("lvis"))
    (Path(folder) / f"{case}_gt.json").write_text(json.dumps(gt))
    (Path(folder) / f"{case}_dt.json").write_text(json.dumps(dets))
    (Path(folder) / f"{case}_counts.json").write_text(json.dumps({"gt": len(gt["annotations"]), "dt": len(dets)}))


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--write-case":
        case, n_img, n_cat, g, d, folder = sys.argv[2:8]
        write_case(case, int(n_img), int(n_cat), int(g), int(d), folder)
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--cases", default="coco,lvis,segm", help="any of coco, lvis, segm, lvis-val (20,000 images: memory)")
    ap.add_argument("--tools", default=None, help="comma-separated tool names to run (default: all of the case's)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool; the median time is reported")
    args = ap.parse_args()
    scale = {"coco": (5000, 80, 7, 100), "lvis": (2000, 1203, 12, 300), "segm": (5000, 80, 7, 100), "lvis-val": (20000, 1203, 12, 300)}
    if args.quick:
        scale = {"coco": (200, 80, 7, 100), "lvis": (100, 1203, 12, 300), "segm": (100, 80, 7, 100), "lvis-val": (200, 1203, 12, 300)}
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases.split(","):
            n_img, n_cat, g, d = scale[case]
            gt_path, dt_path = Path(tmp) / f"{case}_gt.json", Path(tmp) / f"{case}_dt.json"
            # written by a child process: a child's peak RSS (wait4) starts at its parent's size at
            # fork, so this process must stay small for the memory figures to mean anything
            subprocess.run([sys.executable, __file__, "--write-case", case, str(n_img), str(n_cat), str(g), str(d), tmp], check=True)
            counts = json.loads((Path(tmp) / f"{case}_counts.json").read_text())
            print(f"\n{case}: {n_img} images, {n_cat} classes, {counts['gt']} GT, {counts['dt']} detections")
            for warm in ("detbench", "detbench-numba"):  # fill numba's on-disk cache before timing
                if warm in TOOLS[case]:
                    run_tool(TOOLS[case][warm], gt_path, dt_path, args.timeout)
            wanted = args.tools.split(",") if args.tools else list(TOOLS[case])
            results = {name: median_run(code, gt_path, dt_path, args.timeout, args.repeats)
                       for name, code in TOOLS[case].items() if name in wanted or name == "detbench"}  # fmt: skip
            ref = results["detbench"]
            print(f"  {'tool':<18}{'seconds':>9}{'peak MB':>9}{'x detbench time':>17}  AP")
            for name, r in results.items():
                if "error" in r:
                    print(f"  {name:<18}  failed: {r['error']}")
                    continue
                mb = r["rss_kb"] / 1024 if r["rss_kb"] else float("nan")
                print(f"  {name:<18}{r['seconds']:9.2f}{mb:9.0f}{r['seconds'] / ref['seconds']:17.1f}  {r['ap']}  runs {r['runs']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
