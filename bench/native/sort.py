"""Stable descending argsort of float64 values: the C radix sort of ``bench.native._sort``
where built, else numpy's (the same permutation)."""

from __future__ import annotations

import numpy as np

from bench.metrics.backend import native_enabled


def argsort_desc(values: np.ndarray) -> np.ndarray:
    """int64 ``[N]``: ``np.argsort(-values, kind="stable")`` (larger first, ties in input order)."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    if native_enabled() and len(v) > 1 and np.isfinite(v).all():
        try:
            from bench.native import _sort
        except ImportError:
            _sort = None
        if _sort is not None:
            out = np.empty(len(v), np.int64)
            _sort.argsort_desc(v, out)
            return out
    return np.argsort(-v, kind="stable")
