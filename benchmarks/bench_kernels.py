"""Native (C) vs numba matching/accumulation kernels on a case's real inputs.

    python benchmarks/bench_metrics.py --write-case coco 5000 80 7 100 /tmp/ck
    python benchmarks/bench_kernels.py /tmp/ck/coco_gt.json /tmp/ck/coco_dt.json coco

Scores the files once with the numba kernels wrapped to capture their arguments, then times
each kernel (after a warm-up; imports excluded) both ways, best and median of ``--repeats``
wall-clock runs, and checks the outputs are identical (dtype, shape, strides, values).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.metrics import kernels as numba_kernels
from bench.metrics.files import evaluate_files
from bench.native import kernels as native_kernels

KERNELS = ("match_groups", "accumulate_coco")


def capture(gt: str, dt: str, protocol: str) -> dict[str, tuple]:
    """The arguments each kernel got while scoring ``gt``/``dt`` under ``protocol``."""
    args: dict[str, tuple] = {}
    originals = {name: getattr(numba_kernels, name) for name in KERNELS}

    def recorder(name):
        def call(*a):
            args[name] = a
            return originals[name](*a)

        return call

    try:
        for name in KERNELS:
            setattr(numba_kernels, name, recorder(name))
        evaluate_files(gt, dt, protocol)
    finally:
        for name, f in originals.items():
            setattr(numba_kernels, name, f)
    return args


def timed(f, args: tuple, repeats: int) -> tuple[float, float, tuple]:
    """(best, median) seconds of ``f(*args)`` after one warm-up call, and its output as a tuple."""
    out = f(*args)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t)
    return min(times), float(np.median(times)), out if isinstance(out, tuple) else (out,)


def identical(a: tuple, b: tuple) -> bool:
    return all(
        x.dtype == y.dtype and x.shape == y.shape and (x.size == 0 or x.strides == y.strides) and np.array_equal(x, y, equal_nan=True)
        for x, y in zip(a, b)
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gt")
    ap.add_argument("results")
    ap.add_argument("protocol")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    if not native_kernels.available():
        print("bench.native._kernels is not built (or DETBENCH_NATIVE=0)")
        return 1
    for name, a in capture(args.gt, args.results, args.protocol).items():
        nb_best, nb_med, nb_out = timed(getattr(numba_kernels, name), a, args.repeats)
        c_best, c_med, c_out = timed(getattr(native_kernels, name), a, args.repeats)
        print(f"{name}: numba best {nb_best * 1e3:.1f} ms (median {nb_med * 1e3:.1f}), "
              f"native best {c_best * 1e3:.1f} ms (median {c_med * 1e3:.1f}), identical: {identical(nb_out, c_out)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
