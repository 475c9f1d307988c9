"""Precision/recall curves that carry the score threshold of every point, and best-F1.

A point is the operating point "keep detections with score >= s": points are taken only at
the last detection of each run of equal scores, since no threshold separates tied scores.
Precision here is the plain tp / (tp + fp) (no interpolation, no epsilon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.metrics.kernels import FP, TP


@dataclass(frozen=True)
class PRCurve:
    """recall, precision, score: float64 ``[P]``, in decreasing score order."""

    recall: np.ndarray
    precision: np.ndarray
    score: np.ndarray
    num_gt: int

    def best_f1(self) -> dict | None:
        """The operating point with the highest F1: {f1, precision, recall, score}, or None."""
        if len(self.recall) == 0 or self.num_gt == 0:
            return None
        p, r = self.precision, self.recall
        denom = p + r
        f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
        i = int(np.argmax(f1))
        return {"f1": float(f1[i]), "precision": float(p[i]), "recall": float(r[i]), "score": float(self.score[i])}

    def to_dict(self) -> dict:
        return {
            "recall": self.recall.tolist(),
            "precision": self.precision.tolist(),
            "score": self.score.tolist(),
            "num_gt": self.num_gt,
        }


def pr_curve(status: np.ndarray, scores: np.ndarray, num_gt: int) -> PRCurve:
    """Curve from one category's detections in score order.

    status: int8 ``[D]`` (0 FP, 1 TP, 2 ignored); scores: float64 ``[D]`` (non-increasing).
    """
    counted = status != 2
    tp = np.cumsum(status == TP)[counted].astype(np.float64)
    fp = np.cumsum(status == FP)[counted].astype(np.float64)
    s = scores[counted]
    if len(s) == 0:
        empty = np.zeros(0)
        return PRCurve(empty, empty, empty, num_gt)
    run_end = np.r_[s[1:] != s[:-1], True]
    tp, fp, s = tp[run_end], fp[run_end], s[run_end]
    recall = tp / num_gt if num_gt else np.full(len(tp), np.nan)
    return PRCurve(recall, tp / (tp + fp), s, num_gt)
