"""``python -m bench all``: every selected detector on every selected dataset.

Datasets: the built-in synthetic one always, plus ``datasets.yaml`` entries whose files are
present. Detectors: every registered one that can be built here; pretrained weights that cannot
be had fall back to random initialisation (speed only, accuracy marked not meaningful). ONNX
entries need a model file and are listed as skipped. Before the detectors, each synthetic
layout is scored with its own ground truth as detections: a self-check of the metric core.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench.data.model import DetectionTable
from bench.datasets import cache_dir, load_dataset, prepare_synthetic, present, yaml_entries
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS, VOC07, VOC12, get_protocol



def perfect_detections(ds) -> DetectionTable:
    """The ground truth as detections (score 1): AP must come out as 1."""
    b = ds.boxes
    keep = ~(b.iscrowd | b.difficult)
    return DetectionTable(b.image_idx[keep], b.category_idx[keep], b.xyxy[keep], b.box_area[keep], np.ones(int(keep.sum())))


def self_check(cache: Path) -> bool:
    checks = {"coco": [COCO], "lvis": [LVIS], "voc": [VOC07, VOC12]}
    ok_all = True
    for layout, protocols in checks.items():
        t0 = time.perf_counter()
        ds = prepare_synthetic(layout, cache)
        for p in protocols:
            metrics = evaluate(ds, perfect_detections(ds), p).metrics
            ap = metrics.get("AP", metrics.get("mAP"))
            ok = ap is not None and abs(ap - 1.0) < 1e-12
            ok_all &= ok
            print(f"{ds.name:<34} {p.name:<6} images={len(ds.images):<4} boxes={len(ds.boxes):<5} "
                  f"self-check AP={100 * ap:.1f} {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.1f}s)")  # fmt: skip
    return ok_all


def default_datasets(cache: str | None = None) -> list[str]:
    """synthetic-coco, plus the datasets.yaml entries that are present (downloaded and ready)."""
    return ["synthetic-coco", *(name for name, e in yaml_entries().items() if present(name, e, cache))]


def run_all(args) -> int:
    from bench.distributed import world
    from bench.run import begin_run
    from detectors.registry import REGISTRY, resolve

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen in CI logs
    cache = cache_dir(args.cache)
    if not self_check(cache):
        return 1
    full = args.full or (not args.quick and args.device.startswith("cuda"))  # quick is the default on CPU only
    profile = "full" if full else "quick"
    detectors = args.detectors.split(",") if args.detectors else list(REGISTRY)
    for d in detectors:
        resolve(d)
    datasets = args.datasets.split(",") if args.datasets else default_datasets(args.cache)
    run, run_id, env = begin_run(args.out, args.device, args.resume, profile=profile, detectors=detectors, datasets=datasets)
    rank = world()[0]
    print(f"run {run_id}: {len(detectors)} detectors x {len(datasets)} datasets, profile {profile} -> {run}")
    try:
        failures = _loop(args, run, env, detectors, datasets, profile)
    except KeyboardInterrupt:
        print(f"\ninterrupted: completed units are stored; continue with: python -m bench all --resume {run_id} --out {args.out}")
        return 130
    print(f"done: {run} ({failures} failed units, recorded)")
    if rank == 0:
        try:
            from bench.report.render import render_run

            print(f"report: {render_run(run, Path(args.reports) / run_id)}")
        except ImportError as e:
            print(f"no HTML report ({e.name} is not installed: pip install 'detbench[all]'); render later with: python -m bench report {run}")
    return 0


def _loop(args, run: Path, env: dict, detectors: list[str], datasets: list[str], profile: str) -> int:
    from bench.run import PROFILES, UnitSettings, run_unit
    from detectors.availability import install_hint, missing_packages, needs_weights_file

    failures = 0
    for dname in datasets:
        ds, root, protocol_name = load_dataset(dname, args.cache)
        protocol = get_protocol(protocol_name)
        for det in detectors:
            if needs_weights_file(det) and not args.weights:
                print(f"  {det}: skipped (needs --weights model.onnx)")
                continue
            missing = missing_packages(det, pretrained=False)  # random weights build without timm
            if missing:
                print(f"  {det}: skipped (missing:{','.join(missing)}; {install_hint(missing)})")
                continue
            s = UnitSettings(dataset=dname, detector=det, weights=args.weights, device=args.device, dtype=args.dtype,
                             batch_size=args.batch_size, max_images=args.max_images or PROFILES[profile]["max_images"],
                             max_detections=300 if protocol_name == "lvis" else 100, speed_seconds=PROFILES[profile]["speed_seconds"],
                             profile=profile)  # fmt: skip
            rec = run_unit(s, ds, root, protocol, run, env, resume=True)
            if rec["status"] == "shard-written":
                continue
            failures += rec["status"] != "ok"
            summary = rec.get("speed_summary") or {}
            tag = "" if rec.get("accuracy_meaningful", True) else " [random weights: accuracy not meaningful]"
            print(f"  {det:<40} {rec['status']:<6} {summary.get('latency_p50_ms') or 0:8.1f} ms p50{tag}"
                  + (f"  error: {rec['error'][:120]}" if rec["error"] else ""))  # fmt: skip
    return failures
