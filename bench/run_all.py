"""``python -m bench all``: every selected detector on every selected dataset.

Datasets: the built-in synthetic one always, plus ``datasets.yaml`` entries whose files are
present. Detectors: every registered one that can be built here; pretrained weights that cannot
be had fall back to random initialisation (speed only, accuracy marked not meaningful). ONNX
entries need a model file and are listed as skipped. Before the detectors, each synthetic
layout is scored with its own ground truth as detections: a self-check of the metric core.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bench.data.model import DetectionTable
from bench.datasets import cache_dir, load_dataset, prepare_synthetic, yaml_entries
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS, VOC07, VOC12, get_protocol

QUICK = {"max_images": 1, "speed_seconds": 0.5}
FULL = {"max_images": None, "speed_seconds": 5.0}


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
    from bench.download import is_ready

    present = []
    for name, e in yaml_entries().items():
        if e.get("download"):
            ok = is_ready(name, cache_dir(cache))
        else:
            ok = (Path(__file__).resolve().parents[1] / e["annotations"]).exists()
        present += [name] if ok else []
    return ["synthetic-coco", *present]


def run_all(args) -> int:
    from bench.check import reference_workload
    from bench.env import environment
    from bench.jsonio import dump_json
    from bench.store import new_run_id
    from detectors.registry import REGISTRY, resolve

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen in CI logs
    cache = cache_dir(args.cache)
    if not self_check(cache):
        return 1
    full = args.full or (not args.quick and args.device.startswith("cuda"))  # quick is the default on CPU only
    profile = FULL if full else QUICK
    detectors = args.detectors.split(",") if args.detectors else list(REGISTRY)
    for d in detectors:
        resolve(d)
    datasets = args.datasets.split(",") if args.datasets else default_datasets(args.cache)
    from bench.distributed import init, shared, world

    init(args.device)
    rank = world()[0]
    run_id = shared(args.resume or new_run_id())
    run = Path(args.out) / run_id
    run.mkdir(parents=True, exist_ok=True)
    env = environment(args.device)
    manifest = {"run_id": run_id, "command": " ".join(shlex.quote(a) for a in ["python", "-m", "bench", *sys.argv[1:]]),
                "profile": "full" if full else "quick", "detectors": detectors, "datasets": datasets,
                "reference_ms": reference_workload(args.device), "environment": env}  # fmt: skip
    if rank == 0:
        dump_json(run / "run.json", manifest)
    print(f"run {run_id}: {len(detectors)} detectors x {len(datasets)} datasets, profile {manifest['profile']} -> {run}")
    try:
        failures = _loop(args, run, env, detectors, datasets, profile, full)
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


def _loop(args, run: Path, env: dict, detectors: list[str], datasets: list[str], profile: dict, full: bool) -> int:
    from bench.run import UnitSettings, run_unit
    from detectors.availability import availability
    from detectors.registry import REGISTRY

    failures = 0
    for dname in datasets:
        ds, root, protocol_name = load_dataset(dname, args.cache)
        protocol = get_protocol(protocol_name)
        for det in detectors:
            if REGISTRY[det][0].startswith("detectors.onnx_runtime") and not args.weights:
                print(f"  {det}: skipped (needs --weights model.onnx)")
                continue
            status, detail = availability(det)
            # timm is needed only to load those hub checkpoints; random weights build without it
            if status.startswith("missing:") and set(status[len("missing:"):].split(",")) - {"timm"}:
                print(f"  {det}: skipped ({status}; {detail})")
                continue
            s = UnitSettings(dataset=dname, detector=det, weights=args.weights, device=args.device, dtype=args.dtype,
                             batch_size=args.batch_size, max_images=args.max_images or profile["max_images"],
                             max_detections=300 if protocol_name == "lvis" else 100, speed_seconds=profile["speed_seconds"],
                             profile="full" if full else "quick")  # fmt: skip
            rec = run_unit(s, ds, root, protocol, run, env, resume=True)
            if rec["status"] == "shard-written":
                continue
            failures += rec["status"] != "ok"
            summary = rec.get("speed_summary") or {}
            tag = "" if rec.get("accuracy_meaningful", True) else " [random weights: accuracy not meaningful]"
            print(f"  {det:<40} {rec['status']:<6} {summary.get('latency_p50_ms') or 0:8.1f} ms p50{tag}"
                  + (f"  error: {rec['error'][:120]}" if rec["error"] else ""))  # fmt: skip
    return failures
