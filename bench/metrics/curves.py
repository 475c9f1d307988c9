"""Precision/recall curves that carry the score threshold of every point, and best-F1.

A point is the operating point "keep detections with score >= s": points are taken only at
the last detection of each run of equal scores, since no threshold separates tied scores.
Precision here is the plain tp / (tp + fp) (no interpolation, no epsilon).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.metrics.codes import FP, IGNORED, TP
from bench.native import load
from bench.native.sort import run_starts


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
    counted = status != IGNORED
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
    native = _native_best_f1(status, scores, starts, ends, npos)
    if native is not None:
        return native
    k_all = len(starts)
    out: list = [None] * k_all
    lengths = ends - starts
    filled = lengths > 0
    if not filled.any():
        return out
    s_f, e_f = starts[filled], ends[filled]
    if (s_f[1:] == e_f[:-1]).all():  # the blocks lie back to back in category order: one slice
        pos = slice(int(s_f[0]), int(e_f[-1]))
    else:
        pos = np.concatenate([np.arange(s, e) for s, e in zip(s_f.tolist(), e_f.tolist())])
    cat = np.repeat(np.arange(k_all), lengths)
    st, sc = status[pos], scores[pos]
    counted = st != IGNORED
    st, sc, cat = st[counted], sc[counted], cat[counted]
    if len(st) == 0:
        return out
    tpc = np.cumsum(st == TP)
    fpc = np.cumsum(st == FP)
    first = run_starts(cat)  # cumulative counts restart at each category
    size = np.diff(np.r_[first, len(cat)])
    tp = (tpc - np.repeat(np.r_[0, tpc[first[1:] - 1]], size)).astype(np.float64)
    fp = (fpc - np.repeat(np.r_[0, fpc[first[1:] - 1]], size)).astype(np.float64)
    run_end = np.r_[(sc[1:] != sc[:-1]) | (cat[1:] != cat[:-1]), True]
    tp, fp, sc, cat = tp[run_end], fp[run_end], sc[run_end], cat[run_end]
    n = npos[cat].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = tp / n
        p = tp / (tp + fp)
        denom = p + r
        f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    first = run_starts(cat)  # each category's best F1, the first point reaching it
    best = np.repeat(np.fmax.reduceat(f1, first), np.diff(np.r_[first, len(cat)]))
    hit = np.flatnonzero(f1 == best)
    heads = hit[run_starts(cat[hit])]
    for i in heads.tolist():
        k = int(cat[i])
        if npos[k] > 0:
            out[k] = {"f1": float(f1[i]), "precision": float(p[i]), "recall": float(r[i]), "score": float(sc[i])}
    return out


def _native_best_f1(status, scores, starts, ends, npos) -> list | None:
    """:func:`best_f1_per_category` by the C pass of ``bench.native._curves`` (same arithmetic),
    or None where that extension is not built or is turned off."""
    _curves = load("_curves")
    if _curves is None:
        return None
    k = len(starts)
    has = np.zeros(k, np.int8)
    f1, p, r, s = (np.zeros(k) for _ in range(4))
    _curves.best_f1(
        np.ascontiguousarray(status, np.int8), np.ascontiguousarray(scores, np.float64),
        np.ascontiguousarray(starts, np.int64), np.ascontiguousarray(ends, np.int64), np.ascontiguousarray(npos, np.int64),
        has, f1, p, r, s,
    )  # fmt: skip
    return [
        {"f1": float(f1[i]), "precision": float(p[i]), "recall": float(r[i]), "score": float(s[i])} if has[i] else None
        for i in range(k)
    ]
