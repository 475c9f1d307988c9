"""Statistics of latency samples: distribution-free percentile intervals and MLPerf's early stopping.

Percentile interval (order statistics): for ``n`` independent samples of a continuous latency
distribution, the number of samples below its true q-quantile is Binomial(n, q), whatever the
distribution. So ``[x_(l), x_(u)]`` (1-based order statistics) covers the true quantile with
probability ``P(l <= B < u)``, ``B ~ Binomial(n, q)``. :func:`order_statistic_ranks` picks ``l`` and
``u`` with at most ``(1 - confidence) / 2`` of the binomial mass on each side, so the coverage is at
least ``confidence`` (exactly computable: :func:`coverage`). With too few samples no such rank
exists on a side and that end is ``None`` (e.g. an upper bound for p99 needs ``0.99**n <= 0.025``,
n >= 368 at 95 %).

Early stopping (MLPerf Inference LoadGen, ``loadgen/early_stopping.cc`` and ``results.cc``): with
``t`` queries over a latency bound and ``h`` under it, the bound is taken as the p-percentile at
confidence ``c`` when ``P(Binomial(h + t, 1 - (p - d)) <= t) <= 1 - c`` (``d``: tolerance, 0 in
MLPerf; ``c`` 0.99). :func:`min_passing` is the smallest such ``h``. For single-stream, the
early-stopping estimate of the p-percentile of ``n`` sorted latencies is the ``t``-th largest
sample, ``t`` the largest count with ``n >= min_passing(t) + t``; runs with fewer than
``min_passing(1) + 1`` samples (64 for p90) have no estimate. Times are in the samples' unit (ms).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

MLPERF_CONFIDENCE = 0.99  # LoadGen's early-stopping confidence
MLPERF_TOLERANCE = 0.0  # LoadGen's early-stopping tolerance d


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """``P(B <= k)`` for ``k = 0..n``, ``B ~ Binomial(n, p)`` (float64, shape (n + 1,)); log-space pmf."""
    if n < 0 or not 0.0 <= p <= 1.0:
        raise ValueError(f"binomial needs n >= 0 and p in [0, 1], got n={n}, p={p}")
    k = np.arange(n + 1, dtype=np.float64)
    if p in (0.0, 1.0):
        pmf = (k == (0 if p == 0.0 else n)).astype(np.float64)
    else:
        lg = np.array([math.lgamma(x + 1.0) for x in range(n + 1)])
        pmf = np.exp(lg[n] - lg - lg[::-1] + k * math.log(p) + (n - k) * math.log1p(-p))
    return np.minimum(np.cumsum(pmf), 1.0)


def order_statistic_ranks(n: int, q: float, confidence: float = 0.95) -> tuple[int | None, int | None]:
    """1-based ranks ``(l, u)`` with ``P(B < l) <= a`` and ``P(B >= u) <= a``, ``a = (1 - confidence) / 2``,
    ``B ~ Binomial(n, q)``: ``[x_(l), x_(u)]`` covers the true q-quantile (``q`` in (0, 1)) with
    probability >= ``confidence``. A side that no rank satisfies (too few samples) is ``None``."""
    if not 0.0 < q < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(f"quantile and confidence must be in (0, 1), got {q}, {confidence}")
    if n < 1:
        return None, None
    a = (1.0 - confidence) / 2.0
    cdf = binomial_cdf(n, q)  # cdf[k] = P(B <= k)
    below = np.nonzero(cdf <= a)[0]  # P(B <= l - 1) <= a  <=>  l - 1 in below
    lo = int(below[-1]) + 1 if below.size else None
    above = np.nonzero(1.0 - cdf <= a)[0]  # P(B >= u) = 1 - P(B <= u - 1) <= a  <=>  u - 1 in above
    hi = int(above[0]) + 1 if above.size and int(above[0]) + 1 <= n else None
    return lo, hi


def coverage(n: int, q: float, lo: int | None, hi: int | None) -> float:
    """The exact probability that ``[x_(lo), x_(hi)]`` covers the true q-quantile of a continuous
    distribution (a missing end is -inf / +inf)."""
    cdf = binomial_cdf(n, q)
    below = 0.0 if lo is None else float(cdf[lo - 1])  # P(B <= lo - 1): the quantile lies under x_(lo)
    above = 0.0 if hi is None else 1.0 - float(cdf[hi - 1])  # P(B >= hi): the quantile lies over x_(hi)
    return 1.0 - below - above


def percentile_interval(samples: Sequence[float], q: float, confidence: float = 0.95) -> dict:
    """The q-th percentile (``q`` in (0, 100), numpy's linear interpolation) of ``samples`` with its
    distribution-free interval: ``{"value", "lo", "hi", "n", "confidence", "coverage", "method"}``;
    ``lo`` / ``hi`` are ``None`` where there are too few samples for that side."""
    v = np.sort(np.asarray(samples, dtype=np.float64))
    if v.size == 0:
        raise ValueError("percentile of no samples")
    lo, hi = order_statistic_ranks(v.size, q / 100.0, confidence)
    value = float(np.percentile(v, q))
    # With few samples an order statistic can lie beyond the interpolated estimate (n = 2, p99: the
    # lower end is the maximum); widening that end to the estimate keeps the coverage >= stated.
    return {"value": value, "lo": None if lo is None else min(float(v[lo - 1]), value),
            "hi": None if hi is None else max(float(v[hi - 1]), value), "n": int(v.size), "confidence": confidence,
            "coverage": coverage(v.size, q / 100.0, lo, hi), "method": "order statistics (binomial, distribution-free)"}  # fmt: skip


def relative_width(interval: dict) -> float:
    """``(hi - lo) / value`` of a :func:`percentile_interval`; ``inf`` when an end is missing."""
    if interval["lo"] is None or interval["hi"] is None or interval["value"] <= 0:
        return math.inf
    return (interval["hi"] - interval["lo"]) / interval["value"]


def _odds(h: int, t: int, p: float, d: float) -> float:
    """``P(Binomial(h + t, 1 - p + d) <= t)``: the chance of ``t`` or fewer over-latency queries among
    ``h + t`` if the true (p - d)-quantile were at the bound (LoadGen's ``odds``)."""
    n, over = h + t, 1.0 - p + d
    if over >= 1.0:
        return 1.0
    lg = math.lgamma(n + 1)
    terms = [lg - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * math.log(over) + (n - x) * math.log1p(-over) for x in range(t + 1)]
    m = max(terms)
    return min(1.0, math.exp(m) * sum(math.exp(x - m) for x in terms))


def min_passing(t: int, p: float, d: float = MLPERF_TOLERANCE, c: float = MLPERF_CONFIDENCE) -> int:
    """LoadGen's ``MinPassingQueriesFinder``: the smallest ``h`` with ``_odds(h, t, p, d) < 1 - c``
    (``p``, ``d``, ``c`` as fractions: p90 is ``p=0.9``)."""
    if not 0.0 < p < 1.0 or not 0.0 < c < 1.0 or not 0.0 <= d < p or t < 0:
        raise ValueError(f"early stopping needs t >= 0, p in (0, 1), 0 <= d < p, c in (0, 1); got {t}, {p}, {d}, {c}")
    target = 1.0 - c
    hi = 1
    while _odds(hi, t, p, d) >= target:
        hi *= 2
    lo = hi // 2 if hi > 1 else 0
    while lo < hi:  # _odds falls as h grows: the first h below target
        mid = (lo + hi) // 2
        if _odds(mid, t, p, d) < target:
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_queries(p: float, d: float = MLPERF_TOLERANCE, c: float = MLPERF_CONFIDENCE) -> int:
    """The fewest samples with an early-stopping estimate of the p-percentile: ``min_passing(1) + 1``
    (64 for p90, 662 for p99 at LoadGen's defaults)."""
    return min_passing(1, p, d, c) + 1


def early_stopping_estimate(samples: Sequence[float], p: float, d: float = MLPERF_TOLERANCE, c: float = MLPERF_CONFIDENCE) -> dict:
    """MLPerf single-stream early stopping for the p-percentile (``p`` a fraction) of ``samples``:
    ``{"value", "discarded", "n", "min_queries", "percentile", "confidence"}``; ``value`` is ``None``
    with fewer than ``min_queries(p)`` samples. ``discarded``: how many of the largest samples are
    set aside (``t - 1``)."""
    v = np.sort(np.asarray(samples, dtype=np.float64))
    n, need = int(v.size), min_queries(p, d, c)
    out = {"value": None, "discarded": None, "n": n, "min_queries": need, "percentile": 100.0 * p, "confidence": c}
    if n < need:
        return out
    t = 1
    while min_passing(t + 1, p, d, c) + t + 1 <= n:
        t += 1
    out.update(value=float(v[n - t]), discarded=t - 1)
    return out
