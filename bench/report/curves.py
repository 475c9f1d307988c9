"""PR curves as drawn: fewer points, same shape, and the best-F1 point on the drawn line.

A stored curve (``metrics["curves"]`` / ``["pooled_curves"]``, see :mod:`bench.metrics`) holds one
(recall, precision, score) point per score threshold, in decreasing score order: precision falls
along a vertical run at fixed recall (false positives) and recall steps right at each true
positive. Drawn as a polyline (plotly ``mode="lines"``), only the points where the line turns
carry its shape; the others lie on the segment between their neighbours.

``thin`` keeps exactly the turning points (the corners), so the drawn line passes through every
computed point. A curve with more corners than ``max_points`` (pooled curves of a full val2017 run
reach tens of thousands) is further simplified by Douglas-Peucker with tolerance ``tol`` (recall
and precision units: 1e-3 is under one pixel on a plot up to 1,000 px), which keeps the first and
last points and the best-F1 point; no computed point is then farther than ``tol`` from the line.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.curves import PRCurve

MAX_POINTS = 2000
TOL = 1e-3


def best_f1(curve: dict) -> int | None:
    """Index of the best-F1 point as the metric core picks it (:meth:`bench.metrics.curves.PRCurve.best_f1`), or None.

    Scores are strictly decreasing along a stored curve (one point per distinct score), so the
    score names the point."""
    arrays = [np.asarray(curve[k], float) for k in ("recall", "precision", "score")]
    best = PRCurve(*arrays, curve.get("num_gt") or 0).best_f1()
    return None if best is None else int(np.flatnonzero(arrays[2] == best["score"])[0])


def corners(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the points where the polyline (x[i], y[i]) turns, with both ends.

    A point is dropped only when it lies on the segment from the previous kept point's direction:
    same direction in and out (cross product zero, dot product positive), so a path that doubles
    back keeps its turning point.
    """
    n = len(x)
    if n <= 2:
        return np.arange(n)
    dx, dy = np.diff(x), np.diff(y)
    nonzero = (dx != 0) | (dy != 0)  # repeated points carry nothing: drop the duplicates first
    idx = np.r_[0, 1 + np.flatnonzero(nonzero)]
    if len(idx) <= 2:
        return np.unique(np.r_[idx, n - 1])
    dx, dy = np.diff(x[idx]), np.diff(y[idx])
    cross = dx[:-1] * dy[1:] - dy[:-1] * dx[1:]
    dot = dx[:-1] * dx[1:] + dy[:-1] * dy[1:]
    scale = np.hypot(dx[:-1], dy[:-1]) * np.hypot(dx[1:], dy[1:])
    straight = (np.abs(cross) <= 1e-12 * scale) & (dot > 0)
    keep = np.r_[True, ~straight, True]
    return np.unique(np.r_[idx[keep], n - 1])


def douglas_peucker(x: np.ndarray, y: np.ndarray, tol: float, forced: list[int]) -> np.ndarray:
    """Indices kept by Douglas-Peucker (every dropped point within ``tol`` of the kept polyline), plus ``forced``."""
    n = len(x)
    keep = np.zeros(n, bool)
    keep[[0, n - 1, *forced]] = True
    anchors = np.flatnonzero(keep)
    stack = list(zip(anchors[:-1], anchors[1:]))
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        px, py = x[a + 1 : b] - x[a], y[a + 1 : b] - y[a]
        sx, sy = x[b] - x[a], y[b] - y[a]
        length2 = sx * sx + sy * sy
        if length2 == 0:
            d = np.hypot(px, py)
        else:  # distance to the segment (not the infinite line): a path folding back stays honest
            t = np.clip((px * sx + py * sy) / length2, 0.0, 1.0)
            d = np.hypot(px - t * sx, py - t * sy)
        i = int(np.argmax(d))
        if d[i] > tol:
            m = a + 1 + i
            keep[m] = True
            stack += [(a, m), (m, b)]
    return np.flatnonzero(keep)


def thin(curve: dict, max_points: int = MAX_POINTS, tol: float = TOL) -> dict:
    """``curve`` with only the points that shape its polyline (see the module docstring); list
    fields are subset, the others (``num_gt``) copied. The best-F1 point is always kept."""
    x, y = np.asarray(curve["recall"], float), np.asarray(curve["precision"], float)
    best = best_f1(curve)
    keep = corners(x, y)
    if best is not None:
        keep = np.union1d(keep, [best])
    if len(keep) > max_points:
        sub = douglas_peucker(x[keep], y[keep], tol, [int(np.searchsorted(keep, best))] if best is not None else [])
        keep = keep[sub]
    return {k: [v[i] for i in keep] if isinstance(v, list) else v for k, v in curve.items()}
