"""``bench eval``: score a results file against ground truth, print the metrics (or pycocotools'
12 lines, or JSON), and run the linter and the requested analyses.
"""

from __future__ import annotations

from bench.cli.parsing import json_or_text, print_json, write_out
from bench.errors import ArgumentError
from bench.fmt import pts

METRIC_ORDER = {
    "coco": ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"],
    "lvis": ["AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf", "AR300", "ARs", "ARm", "ARl"],
}


def format_metrics(result) -> str:
    """A plain-text table: values in percentage points with one decimal (:func:`bench.fmt.pts`),
    undefined as '-'; then how many classes have ground truth, and the three lowest."""
    lines = [f"protocol: {result.protocol.name}"]
    for name, value in result.metrics.items():
        lines.append(f"  {name:<6} {pts(value, width=5)}")
    worst = sorted(
        ((v["AP"], k) for k, v in result.per_class.items() if v["AP"] is not None), key=lambda x: x[0]
    )
    with_gt = sum(1 for v in result.per_class.values() if v["num_gt"] > 0)
    lowest = " (lowest AP: " + ", ".join(f"{k} {pts(a)}" for a, k in worst[:3]) + ")" if worst else ""
    lines.append(f"  classes: {with_gt} with ground truth of {len(result.per_class)}{lowest}")
    for w in result.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines)


def cmd_eval(args) -> int:
    from bench.analysis.scope import scored_inputs
    from bench.cli.analysis import check_eval_arguments, eval_analysis
    from bench.cli.explain import eval_lint
    from bench.cli.pycoco import pycocotools_summary
    from bench.data.inputs import load_inputs
    from bench.metrics.files import score_inputs

    check_eval_arguments(args)
    if args.json and args.format == "pycocotools":
        raise ArgumentError("--json and --format pycocotools both claim stdout; give one")
    ds, det, protocol = load_inputs(args.gt, args.results, args.protocol, args.split, args.iou_type)
    if args.format == "pycocotools" and protocol.name != "coco":
        raise ArgumentError(f"--format pycocotools: COCOeval.summarize() lines exist for the coco protocol only, not {protocol.name}")
    result = score_inputs(ds, det, protocol, args.results, args.iou_type)
    if args.format == "pycocotools":
        print(pycocotools_summary(result))
    with json_or_text(args.json or args.format == "pycocotools"):  # stdout: the JSON, or the 12 lines alone
        if args.format == "text":
            print(format_metrics(result))
        scoped = scored_inputs(result, ds, det)  # the linter and the analyses see what the protocol scores (loaded once)
        lint = eval_lint(args, *scoped)
        analysis = eval_analysis(args, *scoped)
        out = result.to_dict(curves=args.curves)
        out["lint"] = lint
        out["per_class"] = {k: dict(v) for k, v in out["per_class"].items()}
        out.update(analysis)
        write_out(args.out, out)
    if args.json:
        print_json(out)
    return 0
