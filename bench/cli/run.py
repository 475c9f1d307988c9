"""``bench speed`` and ``bench run``: the command bodies (the parser lives in :mod:`bench.cli.main`)."""

from __future__ import annotations

import sys

from bench.cli.args import check_run_args, checked_detector_args, max_detections
from bench.cli.console import subset_note
from bench.fmt import pts


def speed(args) -> int:
    """``bench speed``: latency / throughput of one detector (see ``bench speed --help``)."""
    import time
    from pathlib import Path

    from bench.data.catalog import load_dataset
    from bench.data.images import load_image
    from bench.jsonio import dump_json
    from bench.protocols import get_protocol
    from bench.run.inference import accuracy
    from bench.speed.measure import SpeedSettings, format_table, measure_speed
    from bench.speed.scenarios import ServerRule, SingleStreamRule, scenario_names
    from detectors.registry import build, resolve

    resolve(args.detector)  # unknown names fail here, with suggestions
    try:
        scenarios = scenario_names(args.scenarios)
    except ValueError as e:
        raise SystemExit(f"error: --scenarios: {e}") from None
    check_run_args(args, out_is_file=True)  # before anything is built or written
    ds, root, protocol = load_dataset(args.dataset)
    idx = list(range(min(args.max_images, len(ds.images))))
    images = [load_image(root / ds.images.files[i]) for i in idx]
    classes = list(ds.categories.names)
    kwargs = {**checked_detector_args(args.detector, args.detector_arg), "device": args.device, "max_detections": max_detections(args, protocol),
              "score_threshold": args.score_threshold, "nms_iou": args.nms_iou}  # fmt: skip
    if args.weights:
        kwargs["weights"] = args.weights
    if args.against:  # A/B: the candidate timed interleaved with the baseline, judged (bench.cli.speed_ab)
        from bench.cli.speed_ab import speed_against

        if args.rounds < 1 or args.per_round < 1:
            raise SystemExit(f"error: --rounds and --per-round must be at least 1, got {args.rounds} and {args.per_round}")
        ignored = [f"--{k.replace('_', '-')}" for k in ("batch_sizes", "iters", "seconds", "fixed_size", "channels_last", "compile", "cuda_graphs")
                   if getattr(args, k)]  # fmt: skip
        if ignored:  # never dropped silently: --against times single images in the default mode
            raise SystemExit(f"error: --against times single images, eager, at their own sizes; {', '.join(ignored)} would be ignored")
        base = {k: v for k, v in kwargs.items() if k != "weights"}
        make = lambda weights: build(args.detector, classes, **base, dtype=args.dtype, **({"weights": weights} if weights else {}))  # noqa: E731
        return speed_against(args, make, images, {"dataset": ds.name, "images": len(idx), "settings": {**base, "dtype": args.dtype}})
    fixed = tuple(int(v) for v in args.fixed_size.lower().split("x")) if args.fixed_size else None
    settings = SpeedSettings(
        batch_sizes=tuple(int(b) for b in (args.batch_sizes or ("1,8,32" if args.device.startswith("cuda") else "1")).split(",")),
        device=args.device, dtype=args.dtype,
        channels_last=args.channels_last, compile=args.compile, cuda_graphs=args.cuda_graphs, iters=args.iters, seconds=args.seconds, fixed_size=fixed,
        scenarios=scenarios, single_stream=SingleStreamRule(rel_width=args.interval_width),
        server=ServerRule(bound_ms=args.latency_bound_ms),
    )  # fmt: skip
    factory = lambda dtype: build(args.detector, classes, **{**kwargs, "dtype": dtype})  # noqa: E731
    score = lambda det: accuracy(det, ds, images, idx, get_protocol(protocol))["metrics"]  # noqa: E731
    info = {"dataset": ds.name, "source": ds.source, "protocol": protocol, "subset": f"first {len(idx)} of {len(ds.images)} images"}
    record = measure_speed(args.detector, factory, images, settings, info, score)
    print(format_table(record))
    out = Path(args.out or Path("runs") / "speed" / f"{args.detector}-{args.dtype}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    dump_json(out, record)
    print(f"wrote {out}")
    return 1 if record["error"] else 0


def run(args) -> int:
    """``bench run``: one detector on one dataset (or suite), scored, timed and stored."""
    from pathlib import Path

    from bench.data.catalog import load_dataset
    from bench.data.inputs import default_protocol, load_ground_truth
    from bench.protocols import get_protocol
    from bench.run.iou_types import check_iou_type
    from bench.run.unit import UnitSettings, begin_run, run_unit
    from detectors.registry import resolve

    resolve(args.detector)
    check_run_args(args)
    from bench.run.suites import is_suite, run_suite

    if args.dataset and is_suite(args.dataset):
        return run_suite(args, checked_detector_args(args.detector, args.detector_arg), lambda p: max_detections(args, p))
    if args.dataset:
        ds, root, protocol = load_dataset(args.dataset)
        protocol, name = args.protocol or protocol, args.dataset
    elif args.gt and args.images:
        ds, root = load_ground_truth(args.gt), Path(args.images)
        protocol, name = args.protocol or default_protocol(ds), Path(args.gt).stem
    else:
        raise SystemExit("error: give --dataset NAME, or --gt FILE and --images DIR")
    detector_args = checked_detector_args(args.detector, args.detector_arg)
    from bench.run.open_vocab import check_prompt_options

    check_prompt_options(args.detector, args.prompts, args.prompt_template, detector_args)
    check_iou_type(args.iou_type, [args.detector], [(name, ds)])
    run, _, env = begin_run(args.out, args.device)
    s = UnitSettings(dataset=name, detector=args.detector, weights=args.weights, detector_args=tuple(detector_args.items()),
                     device=args.device, dtype=args.dtype, batch_size=args.batch_size, max_images=args.max_images,
                     score_threshold=args.score_threshold, max_detections=max_detections(args, protocol), nms_iou=args.nms_iou,
                     allow_random_fallback=False, prompts=args.prompts, prompt_template=args.prompt_template,
                     training_regime=args.training_regime, iou_type=args.iou_type, decode=None if args.decode == "cpu" else args.decode)  # fmt: skip
    rec = run_unit(s, ds, root, get_protocol(protocol), run, env)
    if rec["status"] == "shard-written":
        return 0
    if rec["status"] != "ok":
        print(f"failed: {rec['error']}", file=sys.stderr)
        return 1
    from bench.jsonio import load_json

    unit = next(p for p in run.iterdir() if p.is_dir())
    for kind, file in (("box ", "metrics.json"), ("mask", "metrics_segm.json"))[: len(rec.get("iou_types") or ["bbox"])]:
        metrics = load_json(unit / file)["metrics"]
        label = kind.strip() + subset_note(rec)  # "box (30 of 120 images)" where --max-images scored a subset
        print(f"{label:<4}  " + "  ".join(f"{k} {pts(v)}" for k, v in metrics.items()))
    summary = rec.get("speed_summary") or {}
    if summary.get("latency_p50_ms"):
        print(f"latency p50 {summary['latency_p50_ms']:.1f} ms, {summary['fps_batch1']:.1f} FPS at batch 1")
    print(f"stored in {unit}")
    return 0
