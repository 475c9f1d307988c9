"""``bench explain`` (the same predictions under every convention, gaps attributed to rules) and the
linter's part of ``bench eval`` (the per-unit hook of ``bench run`` / ``bench all`` is :mod:`bench.analysis.unit`).

No model dependencies: numpy, numba and orjson only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.analysis.explain import COCO_CONVENTIONS, LVIS_CONVENTIONS, TOP_CLASSES, conventions_for, explain, format_explain

DESCRIPTION = """Score one results file under the conventions users meet (pycocotools exact, maxDets per image,
IoU > t, box area for S/M/L, torchmetrics' defaults, ultralytics, VOC07 / VOC2010+, LVIS Fixed AP)
and attribute each gap to the rule behind it: a waterfall from the baseline (pycocotools, or
lvis-api for LVIS), each rule alone, and the classes that move most. The linter runs too."""
CONVENTION_NAMES = list(dict.fromkeys(c.name for c in (*COCO_CONVENTIONS, *LVIS_CONVENTIONS)))


def load_pair(gt: str, results: str, split: str | None = None, iou_type: str = "bbox"):
    """(Dataset, DetectionTable) as ``bench eval`` reads them (``iou_type`` "segm": with the
    results' masks, whose boxes may come from the masks, as pycocotools derives them)."""
    from bench.data.inputs import load_inputs

    return load_inputs(gt, results, None, split, iou_type)[:2]


def add_explain_parser(sub) -> None:
    """Register ``bench explain`` on the CLI's subparsers."""
    from bench.cli.parsing import examples

    mini = "bench/data/embedded/coco_val2017_mini/instances_val2017_mini.json"
    ex = sub.add_parser("explain", help="score a results file under every tool's convention and attribute each gap to its rule",
                        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples(f"python -m bench explain --gt {mini} --results results.json",
                                        f"python -m bench explain --gt {mini} --results runs/RUN_ID/UNIT/predictions.json.gz --json"))  # fmt: skip
    ex.add_argument("--gt", required=True, help="COCO or LVIS JSON ground truth")
    ex.add_argument("--results", required=True, help="COCO results JSON (or .json.gz, e.g. a run's predictions.json.gz)")
    ex.add_argument("--protocol", action="append", choices=CONVENTION_NAMES, metavar="P",
                    help="a convention to include (repeatable; default: all that apply to the ground truth; the baseline is "
                         f"always scored). COCO: {', '.join(c.name for c in COCO_CONVENTIONS)}; LVIS: "
                         f"{', '.join(c.name for c in LVIS_CONVENTIONS)}")  # fmt: skip
    ex.add_argument("--top-classes", type=int, default=TOP_CLASSES, help=f"classes listed per convention (default {TOP_CLASSES})")
    ex.add_argument("--out", help='write JSON here: {"protocols": {name: metrics}, "attribution": ..., "lint": [...]}')
    ex.add_argument("--json", action="store_true", help="print the --out document on stdout (the text goes to stderr)")
    ex.set_defaults(func=cmd_explain)


def cmd_explain(args) -> int:
    from bench.analysis.lint import format_lint, lint
    from bench.cli.parsing import json_or_text, print_json, write_out
    from bench.errors import InputError
    from bench.metrics.core import evaluate

    if args.top_classes < 1:
        from bench.errors import ArgumentError

        raise ArgumentError(f"--top-classes must be >= 1, got {args.top_classes}")
    ds, det = load_pair(args.gt, args.results)
    if ds.format not in ("coco", "lvis"):
        raise InputError(args.gt, None, None, "bench explain needs COCO or LVIS JSON ground truth")
    try:
        report = explain(ds, det, args.protocol, args.top_classes)
    except ValueError as e:  # a convention of the other format
        raise InputError(args.gt, None, None, str(e)) from None
    base = conventions_for(ds)[0]
    findings = lint(ds, det, base, evaluate(ds, det, base))
    doc = {"gt": args.gt, "results": args.results, **report, "lint": findings}
    with json_or_text(args.json):
        print(format_explain(report))
        if findings:
            print(format_lint(findings))
        write_out(args.out, doc)
    if args.json:
        print_json(doc)
    return 0


def eval_lint(args, result, ds, det) -> list[dict]:
    """The linter's findings for ``bench eval`` (printed): ``result`` and its inputs, already
    restricted to what the protocol scores (:func:`bench.analysis.scope.scored_inputs`)."""
    from bench.analysis.lint import format_lint, lint

    findings = lint(ds, det, result.protocol, result, xywh_results=not Path(args.results).is_dir())  # a folder: VOC devkit corners
    if findings:
        print(format_lint(findings))
    return findings
