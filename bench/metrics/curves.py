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


def best_f1_per_category(status: np.ndarray, scores: np.ndarray, starts: np.ndarray, ends: np.ndarray, npos: np.ndarray) -> list:
    """``pr_curve(...).best_f1()`` for every category at once (same arithmetic, same result).

    status / scores: ``[D]`` with category k owning ``starts[k]:ends[k]`` (score order inside).
    """
    k_all = len(starts)
    out: list = [None] * k_all
    lengths = ends - starts
    if lengths.sum() == 0:
        return out
    pos = np.concatenate([np.arange(s, e) for s, e in zip(starts.tolist(), ends.tolist()) if e > s])
    cat = np.repeat(np.arange(k_all), lengths)
    st, sc = status[pos], scores[pos]
    counted = st != 2
    st, sc, cat = st[counted], sc[counted], cat[counted]
    if len(st) == 0:
        return out
    tpc = np.cumsum(st == TP)
    fpc = np.cumsum(st == FP)
    first = np.searchsorted(cat, cat)  # first element of each element's category
    tp = (tpc - np.where(first > 0, tpc[first - 1], 0)).astype(np.float64)
    fp = (fpc - np.where(first > 0, fpc[first - 1], 0)).astype(np.float64)
    run_end = np.r_[(sc[1:] != sc[:-1]) | (cat[1:] != cat[:-1]), True]
    tp, fp, sc, cat = tp[run_end], fp[run_end], sc[run_end], cat[run_end]
    n = npos[cat].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = tp / n
        p = tp / (tp + fp)
        denom = p + r
        f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    order = np.lexsort((np.arange(len(f1)), -f1, cat))
    heads = order[np.r_[True, cat[order][1:] != cat[order][:-1]]]
    for i in heads.tolist():
        k = int(cat[i])
        if npos[k] > 0:
            out[k] = {"f1": float(f1[i]), "precision": float(p[i]), "recall": float(r[i]), "score": float(sc[i])}
    return out
