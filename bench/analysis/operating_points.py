"""Operating points: precision, recall and F1 at a chosen confidence, and the best-F1 confidence.

Read from the core's :class:`MatchTable` at IoU 0.5 (the protocol's first threshold where 0.5
is absent): keeping detections with score >= c, precision = TP / (TP + FP), recall = TP / ground
truth, F1 their harmonic mean; ignored detections count as neither. Per class, and overall
pooled over classes (micro average). The best-F1 points are the core's
(:func:`bench.metrics.curves.best_f1_per_category` per class, the pooled PR curve overall).
"""

from __future__ import annotations

import numpy as np

from bench.metrics.codes import FP, TP
from bench.metrics.result import EvalResult


def _prf(tp: int, fp: int, n_gt: int) -> dict:
    p = tp / (tp + fp) if tp + fp else None
    r = tp / n_gt if n_gt else None
    f1 = 2 * p * r / (p + r) if p is not None and r is not None and p + r > 0 else (0.0 if p is not None and r is not None else None)
    return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "num_gt": n_gt}


def operating_points(result: EvalResult, confidence: float | None = None, iou: float = 0.5) -> dict:
    """``{"iou", "confidence", "at_confidence": {"overall", "per_class"}, "best_f1": {"overall", "per_class"}}``
    (``at_confidence`` only when ``confidence`` is given); values are fractions, None where undefined."""
    p = result.protocol
    t = p.iou_index(iou)
    if t is None:
        t, iou = 0, p.iou_thresholds[0]
    tab = result.table
    out: dict = {"iou": iou, "confidence": confidence}
    if confidence is not None:
        if not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be in [0, 1], got {confidence}")
        st = tab.status[t]
        kept = tab.scores >= confidence
        per_class = {}
        for k, name in enumerate(result.category_names):
            s, e = tab.cat_start[k], tab.cat_end[k]
            kk = kept[s:e]
            per_class[name] = _prf(int(np.sum(st[s:e][kk] == TP)), int(np.sum(st[s:e][kk] == FP)), int(tab.npos[k]))
        out["at_confidence"] = {"overall": _prf(int(np.sum(st[kept] == TP)), int(np.sum(st[kept] == FP)), int(tab.npos.sum())),
                                "per_class": per_class}  # fmt: skip
    if t == p.iou_index(0.5) or (p.iou_index(0.5) is None and t == 0):
        per_class_best = {name: result.per_class[name]["best_f1"] for name in result.category_names}
    else:
        per_class_best = {name: result.pr_curve(k, iou).best_f1() for k, name in enumerate(result.category_names)}
    out["best_f1"] = {"overall": result.pooled_curve(iou).best_f1(), "per_class": per_class_best}
    return out
