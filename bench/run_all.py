"""``python -m bench all``: prepare the built-in datasets, then run every registered detector.

The built-in synthetic dataset is generated (deterministically) into the cache, in COCO,
LVIS and VOC layouts, and read back through the same loaders users' files go through. Each
layout is then scored with its ground truth as detections, a self-check of the metric core
on this machine (every protocol must give AP = 1 for a perfect detector).
"""

from __future__ import annotations

import time

import numpy as np

from bench.data.model import DetectionTable
from bench.datasets import cache_dir, prepare_synthetic
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS, VOC07, VOC12


def perfect_detections(ds) -> DetectionTable:
    """The ground truth as detections (score 1): AP must come out as 1."""
    b = ds.boxes
    keep = ~(b.iscrowd | b.difficult)
    return DetectionTable(b.image_idx[keep], b.category_idx[keep], b.xyxy[keep], b.box_area[keep], np.ones(int(keep.sum())))


def run_all(args) -> int:
    from detectors.registry import REGISTRY

    cache = cache_dir(args.cache)
    checks = {"coco": [COCO], "lvis": [LVIS], "voc": [VOC07, VOC12]}
    failed = False
    for layout, protocols in checks.items():
        t0 = time.perf_counter()
        ds = prepare_synthetic(layout, cache)
        det = perfect_detections(ds)
        for p in protocols:
            metrics = evaluate(ds, det, p).metrics
            ap = metrics.get("AP", metrics.get("mAP"))
            ok = ap is not None and abs(ap - 1.0) < 1e-12
            failed |= not ok
            print(f"{ds.name:<34} {p.name:<6} images={len(ds.images):<4} boxes={len(ds.boxes):<5} "
                  f"self-check AP={100 * ap:.1f} {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.1f}s)")  # fmt: skip
    if not REGISTRY:
        print("no detectors are registered yet: the detector zoo adds them (see detectors/registry.py)")
    return 1 if failed else 0
