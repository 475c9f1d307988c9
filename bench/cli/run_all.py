"""``python -m bench all``: every selected detector on every selected dataset.

Datasets: the ``datasets.yaml`` entries whose files are present, which always includes the
embedded real ``coco-val2017-mini`` (shipped in the package). Detectors: every registered one
that can be built here. Those with real weights (the embedded exports, and every pretrained
detector whose weights are cached or downloadable) are scored on every image of the dataset,
even in the quick profile. Pretrained weights that cannot be had fall back to random
initialisation: such units are speed only in every profile (no prediction pass; the quick profile
times the fixed list ``bench.run.unit.QUICK_RANDOM_UNITS`` of them, full all). ONNX entries
without a shipped file need ``--weights`` and are listed as skipped. Before the detectors, each
synthetic layout is scored with its own ground truth as detections: a self-check of the metric
core (synthetic data serves that and the smoke tests only).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from bench.cli.console import group_line, recap, unit_line
from bench.data.catalog import cache_dir, load_dataset, prepare_synthetic, present, yaml_entries
from bench.data.model import DetectionTable
from bench.fmt import pts
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
                  f"self-check AP={pts(ap)} {'ok' if ok else 'FAILED'} ({time.perf_counter() - t0:.1f}s)")  # fmt: skip
    return ok_all


def default_datasets(cache: str | None = None) -> list[str]:
    """The datasets.yaml entries that are present: the embedded coco-val2017-mini, plus any
    downloaded and ready."""
    return [name for name, e in yaml_entries().items() if present(name, e, cache)]


def run_all(args) -> int:
    from bench.run.distributed import world
    from bench.run.unit import begin_run
    from detectors.registry import REGISTRY, resolve

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen in CI logs
    full = args.full or (not args.quick and args.device.startswith("cuda"))  # quick is the default on CPU only
    profile = "full" if full else "quick"
    from bench.cli.args import check_datasets, check_run_args
    from bench.run.iou_types import check_iou_type, mask_detectors

    iou_type = getattr(args, "iou_type", None)
    detectors = args.detectors.split(",") if args.detectors else list(REGISTRY)
    for d in detectors:
        resolve(d)
    if iou_type == "segm" and not args.detectors:  # mask AP asked for: the detectors that predict masks
        detectors = mask_detectors(detectors)
    datasets = args.datasets.split(",") if args.datasets else default_datasets(args.cache)
    check_datasets(datasets)
    check_run_args(args)
    if iou_type == "segm":  # before the self-check and the run folder: every dataset must have segmentations
        check_iou_type(iou_type, detectors, [(name, load_dataset(name, args.cache)[0]) for name in datasets])
    cache = cache_dir(args.cache)
    if not self_check(cache):
        return 1
    run, run_id, env = begin_run(args.out, args.device, args.resume, profile=profile, detectors=detectors, datasets=datasets)
    rank = world()[0]
    print(f"run {run_id}: {len(detectors)} detectors x {len(datasets)} datasets, profile {profile} -> {run}")
    try:
        records, left_out, unavailable = _loop(args, run, env, detectors, datasets, profile)
    except KeyboardInterrupt:
        print(f"\ninterrupted: completed units are stored; continue with: python -m bench all --resume {run_id} --out {args.out}")
        return 130
    print(f"done: {run} ({sum(r['status'] != 'ok' for _, _, r in records)} failed units, recorded)")
    report = None
    if rank == 0:
        try:
            from bench.report.render import render_run

            report = render_run(run, Path(args.reports) / run_id)
        except ImportError as e:
            print(f"no HTML report ({e.name} is not installed: pip install 'detbench[all]'); render later with: python -m bench report {run}")
        print(recap(records, left_out, unavailable, report))
    return 0


def _loop(args, run: Path, env: dict, detectors: list[str], datasets: list[str], profile: str) -> tuple[list, list, list]:
    """Every unit; detectors with real weights first (their AP is what the run is for), then the
    random-weight ones, speed only. The quick profile times a fixed list of random-weight units
    (unless ``--detectors`` names them); the ones left out are listed (one line per group, and in
    ``skipped_units.json`` with the detectors that cannot run here), never hidden. Returns
    (dataset, protocol, record) per unit run, the units left out by the profile, the detectors
    unavailable here."""
    from bench.cli.args import max_detections
    from bench.jsonio import dump_json
    from bench.run.unit import PROFILES, UnitSettings, run_unit
    from detectors.availability import availability, install_hint, missing_packages, needs_weights_file

    records, left_out, unavailable, listed = [], [], [], PROFILES[profile]["random_units"]
    for dname in datasets:
        ds, root, protocol_name = load_dataset(dname, args.cache)
        protocol = get_protocol(protocol_name)
        runnable, cannot = [], {}
        for det in detectors:
            missing = missing_packages(det, pretrained=False)  # random weights build without timm
            if needs_weights_file(det) and not args.weights:
                cannot.setdefault(("needs --weights model.onnx", "no official weights: bring your export"), []).append(det)
            elif missing:
                cannot.setdefault((f"needs {', '.join(missing)}", install_hint(missing)), []).append(det)
            else:
                real = args.weights != "random" and bool(args.weights or availability(det)[0] in ("ready", "downloadable"))
                runnable.append((not real, det))
        for (why, hint), names in cannot.items():
            print(group_line("not run", why, names, hint))
            unavailable += [{"dataset": dname, "detector": d, "why": f"{why} ({hint})"} for d in names]
        over = []
        for random_weights, det in sorted(runnable, key=lambda x: x[0]):  # stable: registry order within each group
            if random_weights and listed is not None and det not in listed and not args.detectors:
                over.append(det)
                left_out.append({"dataset": dname, "detector": det, "why": f"{profile} profile: random weights, not in its fixed list of units"})
                continue
            s = UnitSettings(dataset=dname, detector=det, weights=args.weights, device=args.device, dtype=args.dtype,
                             batch_size=args.batch_size, max_images=args.max_images or (PROFILES[profile]["max_images"] if random_weights else None),
                             max_detections=max_detections(args, protocol_name), score_threshold=args.score_threshold,
                             nms_iou=args.nms_iou, speed_seconds=PROFILES[profile]["speed_seconds"], profile=profile,
                             accuracy=not random_weights, iou_type=getattr(args, "iou_type", None),
                             decode=None if getattr(args, "decode", "cpu") == "cpu" else args.decode)  # fmt: skip
            rec = run_unit(s, ds, root, protocol, run, env, resume=True)
            if rec["status"] == "shard-written":
                continue
            records.append((dname, protocol_name, rec))
            print("  " + unit_line(det, rec, protocol_name))
        if over:
            print(group_line("left out", f"random weights, not in the {profile} profile's fixed list of units", over,
                             "--full runs them all, --detectors NAME runs one"))  # fmt: skip
    if left_out or unavailable:
        dump_json(run / "skipped_units.json", left_out + unavailable)
    return records, left_out, unavailable
