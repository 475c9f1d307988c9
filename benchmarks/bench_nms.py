"""NanoDet-m (embedded, real weights) on the embedded COCO val2017 subset: the postprocess as it
was (numpy greedy NMS over the top 30 000 candidates) against as it is (the C kernel
``bench.native._nms`` and NanoDet v0.x's upstream cap, 1000 rows per level).

    python benchmarks/bench_nms.py [--rounds 5] [--images 120]

1. Kept sets: on every image, numpy and C NMS keep the same detections (bit for bit) under
   both candidate policies; a difference fails the script.
2. AP (pycocotools-equal core) of the old and new policy on all images; the cap is upstream's,
   so a change is upstream's, and is printed.
3. End-to-end latency (preprocess + forward + postprocess), batch 1, CPU: the two pipelines
   interleaved image by image inside each round (same images, same machine state), p50 per
   pipeline with a 95 % bootstrap interval, and the ratio with its interval; the load average
   before and after is printed (a loaded machine widens the intervals, it does not bias the ratio).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench.data.catalog import load_dataset
from bench.data.images import load_image
from bench.protocols import get_protocol
from bench.run.inference import score
from detectors.registry import build
from detectors.yolo_decode import PreNmsCaps

OLD = {"pre_nms_caps": PreNmsCaps(total=30000, source="detbench before: top 30000 for every layout"), "nms_impl": "numpy"}
NEW = {"pre_nms_caps": None, "nms_impl": "auto"}


def detector(ds, policy: dict, impl: str | None = None):
    det = build("nanodet_m", list(ds.categories.names))
    det.pre_nms_caps = policy["pre_nms_caps"]
    det.nms_impl = impl or policy["nms_impl"]
    return det


def same(a, b) -> bool:
    return all(np.array_equal(x.boxes, y.boxes) and np.array_equal(x.scores, y.scores) and np.array_equal(x.labels, y.labels)
               for x, y in zip(a, b))  # fmt: skip


def p50_interval(x: np.ndarray, rng, n: int = 2000) -> tuple[float, float, float]:
    boots = np.median(rng.choice(x, (n, len(x))), 1)
    return float(np.median(x)), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def ratio_interval(a: np.ndarray, b: np.ndarray, rng, n: int = 2000) -> tuple[float, float, float]:
    """Paired (same image, same round) bootstrap of median(b) / median(a)."""
    k = rng.integers(0, len(a), (n, len(a)))
    boots = np.median(b[k], 1) / np.median(a[k], 1)
    return float(np.median(b) / np.median(a)), float(np.quantile(boots, 0.025)), float(np.quantile(boots, 0.975))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=120)
    args = ap.parse_args(argv)
    ds, root, protocol = load_dataset("coco-val2017-mini")
    idx = list(range(min(args.images, len(ds.images))))
    images = [load_image(root / ds.images.files[i]) for i in idx]
    proto = get_protocol(protocol)
    out = {}
    for name, policy in (("old", OLD), ("new", NEW)):
        dets = {impl: [detector(ds, policy, impl).predict([im])[0] for im in images] for impl in ("numpy", "auto")}
        if not same(dets["numpy"], dets["auto"]):
            raise SystemExit(f"{name} policy: numpy and C NMS kept different detections")
        out[name] = score(ds, idx, dets["auto"], proto)[2].metrics
        print(f"{name:>3}: numpy == C NMS on {len(images)} images; AP {out[name]['AP'] * 100:.2f} AP50 {out[name]['AP50'] * 100:.2f}")
    print(f"AP change new - old: {(out['new']['AP'] - out['old']['AP']) * 100:+.2f} points (AP50 {(out['new']['AP50'] - out['old']['AP50']) * 100:+.2f})")
    old, new = detector(ds, OLD), detector(ds, NEW)
    for im in images[:3]:
        old.predict([im]), new.predict([im])  # warm-up
    load0, times = os.getloadavg(), {"old": [], "new": []}
    for r in range(args.rounds):
        for k, im in enumerate(images):
            pair = (("old", old), ("new", new)) if (r + k) % 2 == 0 else (("new", new), ("old", old))
            for name, det in pair:
                t0 = time.perf_counter()
                det.predict([im])
                times[name].append((time.perf_counter() - t0) * 1e3)
    load1, rng = os.getloadavg(), np.random.default_rng(0)
    a, b = np.asarray(times["old"]), np.asarray(times["new"])
    for name, x in (("old", a), ("new", b)):
        m, lo, hi = p50_interval(x, rng)
        print(f"{name:>3}: end-to-end p50 {m:.1f} ms [95 % CI {lo:.1f}, {hi:.1f}], n={len(x)}")
    m, lo, hi = ratio_interval(a, b, rng)
    print(f"new / old p50: {m:.3f} [95 % CI {lo:.3f}, {hi:.3f}]; load average before {load0[0]:.2f} {load0[1]:.2f}, after {load1[0]:.2f} {load1[1]:.2f} "
          f"(2 cores shared: contended, the ratio is paired)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
