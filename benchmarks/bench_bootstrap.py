"""Time of the bootstrap (``bench.analysis.bootstrap``) on a COCO-val-sized result.

Not a test: timings depend on the machine. The case is ``bench_metrics.make_case``'s detector-like
COCO case at val2017 scale (5,000 images, ~36,000 ground truth, 100 detections per image,
80 classes), scored once by the metric core; the figure is the wall time of ``bootstrap()``
(resample counts, the numba kernel, the metric means and the percentiles), after a warm-up
call that compiles the kernel (or loads it from numba's cache).

    python benchmarks/bench_bootstrap.py                  # 1,000 resamples (the default)
    python benchmarks/bench_bootstrap.py --resamples 200 --images 1000

Measured on this project's 2-core CPU machine (2026-11-30), shared with a test run (load
average 2.4): 5,000 images, 36,828 ground truth, 500,000 detections, 80 classes, 10 IoU
thresholds; 1,000 resamples in 3.9 s wall (best of 3, median 4.2 s), 4.6 s of CPU over both
threads. The kernel reads the detections once per block of 8
resamples; 86 % of them are false positives at every threshold and only add their weight.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_metrics import make_case  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--gt-per-image", type=float, default=7.3)
    ap.add_argument("--dets-per-image", type=int, default=100)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import numba

    from bench.analysis.bootstrap import bootstrap
    from bench.data.coco import parse_gt
    from bench.data.results import parse_results
    from bench.metrics.core import evaluate
    from bench.protocols import COCO

    gt, dets = make_case(args.images, 80, args.gt_per_image, args.dets_per_image, lvis=False)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    t0 = time.perf_counter()
    result = evaluate(ds, det, COCO)
    core_s = time.perf_counter() - t0
    print(f"case: {len(ds.images)} images, {len(ds.boxes)} ground truth, {len(det)} detections, 80 classes; "
          f"core {core_s:.2f} s, AP {100 * result.metrics['AP']:.2f}; numba threads {numba.get_num_threads()}")  # fmt: skip
    bootstrap(result, n=4)  # compile / load the kernel
    times, cpu = [], []
    for _ in range(args.repeats):
        c0 = time.process_time()
        ci = bootstrap(result, n=args.resamples, seed=0)
        cpu.append(time.process_time() - c0)
        times.append(ci.seconds)
    lo, hi = ci.ci["AP"]
    print(f"bootstrap {args.resamples} resamples: wall {min(times):.2f} s best, {sorted(times)[len(times) // 2]:.2f} s median of {len(times)}; "
          f"CPU {min(cpu):.2f} s (all threads); AP 95% CI [{100 * lo:.2f}, {100 * hi:.2f}]; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
