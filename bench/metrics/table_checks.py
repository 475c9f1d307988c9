"""Checks of a :class:`DetectionTable` given to the metric core directly (the Python API, a
detector's outputs): the loaders build valid tables, but a table built by hand reaches the core
unchecked, where an index outside the dataset or a NaN turns into a plausible wrong AP (an
image index past the end or a category index past ``n_cat`` aliases another (image, category)
group in the core's keys; NaN scores and boxes are ordered and matched arbitrarily)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from bench.data.model import Dataset, DetectionTable

_DTYPES = {"image_idx": np.int64, "category_idx": np.int64, "xyxy": np.float64, "box_area": np.float64, "scores": np.float64}


def check_detection_table(ds: Dataset, det: DetectionTable) -> DetectionTable:
    """``det`` with int64 indices and float64 values (float32 columns widened, exactly: the C
    kernels refused them where numba computed in float32), after raising ValueError naming the
    first bad row and field: columns of different lengths or shapes (image_idx, category_idx
    int [D]; xyxy float [D, 4]; box_area, scores float [D]), an image or category index outside
    ``ds``, or NaN in xyxy, box_area or scores. Infinite values stay allowed (an overflowing
    w*h area, a box running to infinity)."""
    n = len(det.scores)
    shapes = {"image_idx": (n,), "category_idx": (n,), "xyxy": (n, 4), "box_area": (n,), "scores": (n,)}
    for name, shape in shapes.items():
        a = np.asarray(getattr(det, name))
        if a.shape != shape:
            raise ValueError(f"detections: {name} has shape {a.shape}, expected {shape} (one row per score)")
        if name.endswith("idx") and n and a.dtype.kind not in "iu":
            raise ValueError(f"detections: {name} must hold integers, got {a.dtype}")
    for name, size in (("image_idx", len(ds.images)), ("category_idx", len(ds.categories))):
        a = np.asarray(getattr(det, name))
        if n == 0 or (a.min() >= 0 and a.max() < size):  # the common case: two reductions
            continue
        bad = np.flatnonzero((a < 0) | (a >= size))
        if len(bad):
            raise ValueError(f"detections[{bad[0]}]: {name} {a[bad[0]]} is outside the dataset's {size} rows")
    for name in ("xyxy", "box_area", "scores"):
        a = np.asarray(getattr(det, name), dtype=np.float64)
        if not np.isnan(a).any():
            continue
        a = a if a.ndim == 2 else a[:, None]  # rows of [D, 4] or [D, 1]
        bad = np.flatnonzero(np.isnan(a).any(axis=1))
        if len(bad):
            raise ValueError(f"detections[{bad[0]}]: {name} is NaN ({a[bad[0]].tolist()})")
    changed = {k: np.asarray(getattr(det, k), t) for k, t in _DTYPES.items() if np.asarray(getattr(det, k)).dtype != t}
    return replace(det, **changed) if changed else det
