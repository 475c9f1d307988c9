"""The analysis options of ``bench eval`` and ``bench check`` (bootstrap, TIDE, confusion matrix,
operating points, statistical gate): arguments in, :mod:`bench.analysis.unit` does the work."""

from __future__ import annotations

import argparse

from bench.analysis.defaults import CONFIDENCE as DEFAULT_CONFIDENCE
from bench.analysis.defaults import MAX_RESAMPLES
from bench.analysis.defaults import RESAMPLES as DEFAULT_RESAMPLES
from bench.analysis.defaults import SEED as DEFAULT_SEED
from bench.analysis.unit import analyse
from bench.fmt import pts


def add_eval_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("analysis (written under --out)")
    g.add_argument("--bootstrap", type=int, metavar="N", help=f"bootstrap intervals over images with N resamples (e.g. 1000; at most {MAX_RESAMPLES}): out['ci']")
    g.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE, help="interval level (default 0.95)")
    g.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed, >= 0 (default 0)")
    g.add_argument("--tide", action="store_true", help="TIDE's error types as dAP points: out['tide']['main']")
    g.add_argument("--confusion", action="store_true", help="confusion matrix with a background row/column: out['confusion']")
    g.add_argument("--confusion-iou", type=float, default=0.5, metavar="T")
    g.add_argument("--confusion-score", type=float, default=0.25, metavar="S", help="detections below S are not counted (default 0.25)")
    g.add_argument("--operating-point", type=float, metavar="CONF", help="precision/recall/F1 at score >= CONF, and best-F1: out['operating_points']")


def _check_resamples(option: str, n: int | None) -> None:
    from bench.errors import ArgumentError

    if n is not None and not 1 <= n <= MAX_RESAMPLES:
        raise ArgumentError(f"{option} needs a number of resamples in [1, {MAX_RESAMPLES}], got {n}")


def _check_seed(seed: int) -> None:
    from bench.errors import ArgumentError

    if seed < 0:
        raise ArgumentError(f"--seed must be >= 0 (numpy's seeds are non-negative), got {seed}")


def check_eval_arguments(args) -> None:
    """Refuse analysis options that cannot work (:class:`ArgumentError`, exit 2), before any work."""
    from bench.errors import ArgumentError

    _check_resamples("--bootstrap", args.bootstrap)
    _check_seed(args.seed)
    if not 0.0 < args.confidence < 1.0:
        raise ArgumentError(f"--confidence must be in (0, 1), got {args.confidence}")
    if not 0.0 < args.confusion_iou <= 1.0 or not 0.0 <= args.confusion_score <= 1.0:
        raise ArgumentError(f"--confusion-iou must be in (0, 1] and --confusion-score in [0, 1], got {args.confusion_iou}, {args.confusion_score}")
    if args.operating_point is not None and not 0.0 <= args.operating_point <= 1.0:
        raise ArgumentError(f"--operating-point must be a score in [0, 1], got {args.operating_point}")
    if getattr(args, "iou_type", "bbox") != "bbox" and (args.tide or args.confusion):
        raise ArgumentError("--tide and --confusion compare boxes (as tidecv does); use them with --iou-type bbox")


def check_check_arguments(args) -> None:
    """``bench check``'s statistical options: finite, and enough resamples to ever reach the level
    (the smallest two-sided p-value of ``n`` resamples is 2 / (n + 1): ``n >= ceil(2 / A)``)."""
    import math

    from bench.analysis.paired import min_resamples
    from bench.errors import ArgumentError

    if args.significance is not None and not 0.0 < args.significance < 1.0:  # NaN fails too
        raise ArgumentError(f"--significance must be in (0, 1), got {args.significance}")
    if not (math.isfinite(args.min_effect) and args.min_effect >= 0):
        raise ArgumentError(f"--min-effect must be a finite number of AP points >= 0, got {args.min_effect}")
    _check_resamples("--resamples", args.resamples)
    _check_seed(args.seed)
    if args.significance is not None and args.resamples < min_resamples(args.significance):
        raise ArgumentError(f"--resamples {args.resamples} can never reach --significance {args.significance} (the smallest "
                            f"two-sided p-value of n resamples is 2/(n+1)): use at least {min_resamples(args.significance)}")  # fmt: skip


def eval_analysis(args, result, ds, det) -> dict:
    """``bench eval``'s analyses of ``result`` and its inputs (already the scored subset)."""
    if not (args.bootstrap or args.tide or args.confusion or args.operating_point is not None):
        return {}
    out = analyse(result, ds, det, bootstrap_n=args.bootstrap, confidence=args.confidence, seed=args.seed, tide=args.tide,
                  confusion=args.confusion, confusion_iou=args.confusion_iou, confusion_score=args.confusion_score,
                  operating_point=args.operating_point)  # fmt: skip
    print(format_analysis(out))
    return out


def format_analysis(out: dict) -> str:
    lines = []
    if "ci" in out:
        b = out["bootstrap"]
        lines.append(f"bootstrap ({b['resamples']} resamples over images, {b['confidence']:.0%} {b['method']} interval, {b['seconds']:.1f} s):")
        lines += [f"  {k:<6} [{pts(v[0])}, {pts(v[1])}]" for k, v in out["ci"].items() if v is not None]
    if "tide" in out:
        t = out["tide"]
        if t["ap50"] is None:
            lines.append("TIDE: undefined (no ground truth to find)")
        else:
            lines.append(f"TIDE (AP50 {t['ap50']:.1f}; error types as dAP points): " + "  ".join(f"{k} {v:.2f}" for k, v in t["main"].items()))
    if "confusion" in out:
        c = out["confusion"]
        labels = c["labels"]
        cells = c["cells"] if "cells" in c else [[g, p, n] for g, row in enumerate(c["matrix"]) for p, n in enumerate(row) if n]
        off = sorted(((n, labels[g], labels[p]) for g, p, n in cells if g != p), reverse=True)
        lines.append(f"confusion (IoU {c['iou']}, score >= {c['score_threshold']}): most frequent off-diagonal: "
                     + ", ".join(f"{g}->{p} {n}" for n, g, p in off[:5]))  # fmt: skip
    if "operating_points" in out:
        op = out["operating_points"]
        if "at_confidence" in op:
            o = op["at_confidence"]["overall"]
            lines.append(f"at score >= {op['confidence']}: precision {pts(o['precision'])}, recall {pts(o['recall'])}, F1 {pts(o['f1'])}")
        b = op["best_f1"]["overall"]
        if b:
            lines.append(f"best F1 overall {pts(b['f1'])} at score >= {b['score']:.3f}")
    return "\n".join(lines)


def add_check_arguments(p) -> None:
    g = p.add_argument_group("statistical mode (needs a baseline made with --keep-predictions)")
    g.add_argument("--significance", type=float, metavar="ALPHA",
                   help="fail on an accuracy drop only when a paired bootstrap finds it significant at ALPHA (e.g. 0.05) ...")
    g.add_argument("--min-effect", type=float, default=0.5, metavar="PTS", help="... and larger than PTS AP points (default 0.5)")
    g.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES, help=f"bootstrap resamples (default 1000; at least ceil(2/ALPHA), at most {MAX_RESAMPLES})")
    g.add_argument("--seed", type=int, default=DEFAULT_SEED)


def describe(args) -> str:
    return (f"statistical mode: an accuracy drop fails only when a paired bootstrap over images ({args.resamples} resamples, "
            f"seed {args.seed}) finds it significant (p < {args.significance}) and it exceeds {args.min_effect} points; "
            "units whose baseline has no predictions use the absolute tolerance (--ap-tol)")  # fmt: skip
