"""Paired bootstrap: is the difference between two results on the same images real?

Both results are resampled with the same image multiplicities (the same seeded
:func:`~bench.analysis.bootstrap.resample_counts` matrix), so image difficulty cancels out. For
each metric: the observed difference ``b - a``, its bootstrap interval (the basic interval, as
:func:`~bench.analysis.bootstrap.interval`), and a two-sided p-value for "no difference" that inverts that interval (:func:`p_value`).
"""

from __future__ import annotations

import numpy as np

from bench.analysis.bootstrap import (DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, DEFAULT_SEED, check_confidence, interval, metric_samples,
                                      resample_counts)  # fmt: skip
from bench.metrics.result import EvalResult


def p_value(diffs: np.ndarray, estimate: float) -> float | None:
    """Two-sided bootstrap p-value of "the difference is 0", by inverting the basic interval:
    the smallest level at which ``[2*estimate - q_hi, 2*estimate - q_lo]`` excludes 0, i.e.
    ``2 * min(#{r <= 0} + 1, #{r >= 0} + 1) / (n + 1)`` over the reflected values
    ``r = 2*estimate - d*`` (capped at 1). Interval and p-value therefore agree."""
    d = diffs[~np.isnan(diffs)]
    if d.size == 0:
        return None
    r = 2.0 * estimate - d
    below, above = int(np.sum(r <= 0)), int(np.sum(r >= 0))
    return float(min(1.0, 2.0 * (min(below, above) + 1) / (d.size + 1)))


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
    counts = resample_counts(int(a.counts["images"]), n, seed)
    sa, _ = metric_samples(a, counts)
    sb, _ = metric_samples(b, counts)
    out = {}
    for k in sa:
        va, vb = a.metrics.get(k), b.metrics.get(k)
        if va is None or vb is None:
            out[k] = {"a": va, "b": vb, "delta": None, "ci": None, "p_value": None}
            continue
        d = sb[k] - sa[k]
        out[k] = {"a": va, "b": vb, "delta": vb - va, "ci": interval(d, vb - va, confidence, lo=-1.0, hi=1.0), "p_value": p_value(d, vb - va)}
    return out
