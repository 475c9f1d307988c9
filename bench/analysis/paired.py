"""Paired bootstrap: is the difference between two results on the same images real?

Both results are resampled with the same image multiplicities (the same seeded
:func:`~bench.analysis.bootstrap.resample_blocks` rows), so image difficulty cancels out. For
each metric: the observed difference ``b - a``, its bootstrap interval (the basic interval, from
order statistics: :func:`paired_interval`), and a two-sided p-value for "no difference" that inverts that interval (:func:`p_value`).
"""

from __future__ import annotations

import math

import numpy as np

from bench.analysis.bootstrap import DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED, blocked_samples, check_confidence
from bench.metrics.result import EvalResult


def p_value(diffs: np.ndarray, estimate: float) -> float | None:
    """Two-sided bootstrap p-value of "the difference is 0", by inverting the basic interval:
    ``2 * min(#{r <= 0} + 1, #{r >= 0} + 1) / (n + 1)`` over the reflected values
    ``r = 2*estimate - d*`` (capped at 1). :func:`paired_interval` at level ``1 - A`` excludes 0
    exactly when this is below ``A``. The smallest value is ``2 / (n + 1)``: ``n`` resamples can
    reach significance at level ``A`` only when ``n >= 2 / A`` (:func:`min_resamples`)."""
    d = diffs[~np.isnan(diffs)]
    if d.size == 0:
        return None
    r = 2.0 * estimate - d
    below, above = int(np.sum(r <= 0)), int(np.sum(r >= 0))
    return float(min(1.0, 2.0 * (min(below, above) + 1) / (d.size + 1)))


def min_resamples(alpha: float) -> int:
    """The fewest resamples whose p-value (:func:`p_value`) can fall below ``alpha``: ceil(2 / alpha)."""
    return math.ceil(2.0 / alpha - 1e-9)


def paired_interval(diffs: np.ndarray, estimate: float, confidence: float) -> list[float] | None:
    """The basic bootstrap interval of a difference from order statistics, so that it agrees with
    :func:`p_value`: with ``A = 1 - confidence`` and ``k`` the largest integer below
    ``A * (n + 1) / 2``, ``[2*estimate - d_(n+1-k), 2*estimate - d_(k)]`` (``d_(j)`` the j-th
    smallest resampled difference), clipped to [-1, 1]; [-1, 1] when ``k`` is 0 (too few
    resamples to exclude anything). It excludes 0 exactly when ``p_value < A``."""
    d = np.sort(diffs[~np.isnan(diffs)])
    if d.size == 0:
        return None
    k = math.ceil(round(1.0 - confidence, 12) * (d.size + 1) / 2.0) - 1
    if k < 1:
        return [-1.0, 1.0]
    lo, hi = 2.0 * estimate - d[d.size - k], 2.0 * estimate - d[k - 1]
    return [float(min(max(lo, -1.0), 1.0)), float(min(max(hi, -1.0), 1.0))]


def paired_bootstrap(a: EvalResult, b: EvalResult, n: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE,
                     seed: int = DEFAULT_SEED) -> dict[str, dict]:  # fmt: skip
    """``{metric: {"a", "b", "delta", "ci", "p_value"}}`` for ``b - a`` (fractions).

    ``a`` and ``b`` must score the same images (same count, same order) under the same protocol.

    Example::

        d = paired_bootstrap(baseline_result, new_result)
        d["AP"]["delta"], d["AP"]["ci"], d["AP"]["p_value"]
    """
    check_confidence(confidence)
    if a.counts["images"] != b.counts["images"]:
        raise ValueError(f"a paired comparison needs the same images: {a.counts['images']} vs {b.counts['images']}")
    if a.protocol.name != b.protocol.name or a.category_names != b.category_names:
        raise ValueError("a paired comparison needs the same protocol and categories")
    (sa, _), (sb, _) = blocked_samples([a, b], int(a.counts["images"]), n, seed)
    out = {}
    for k in sa:
        va, vb = a.metrics.get(k), b.metrics.get(k)
        if va is None or vb is None:
            out[k] = {"a": va, "b": vb, "delta": None, "ci": None, "p_value": None}
            continue
        d = sb[k] - sa[k]
        out[k] = {"a": va, "b": vb, "delta": vb - va, "ci": paired_interval(d, vb - va, confidence), "p_value": p_value(d, vb - va)}
    return out
