"""Stable sorts of the metric core: the C radix and counting sorts of ``bench.native._sort``
where built, else numpy's (the same permutations)."""

from __future__ import annotations

import numpy as np

from bench.native import load


def _native():
    return load("_sort")


def argsort_desc(values: np.ndarray) -> np.ndarray:
    """int64 ``[N]``: ``np.argsort(-values, kind="stable")`` (larger first, ties in input order)."""
    v = np.ascontiguousarray(values, dtype=np.float64)
    native = _native()
    if native is not None and len(v) > 1 and not np.isnan(v).any():
        out = np.empty(len(v), np.int64)
        native.argsort_desc(v, out)
        return out
    return np.argsort(-v, kind="stable")


def detection_orders(image: np.ndarray, category: np.ndarray, score: np.ndarray, n_img: int, n_cat: int) -> tuple[np.ndarray, np.ndarray]:
    """Two stable permutations of N detections (int64 ``[N]`` each): ``order`` by (image,
    category, -score, position) and ``by_cat`` by (category, -score, image, position).
    ``image`` / ``category``: indices in ``[0, n_img)`` / ``[0, n_cat)``; ``score`` without NaN."""
    image = np.ascontiguousarray(image, np.int64)
    category = np.ascontiguousarray(category, np.int64)
    score = np.ascontiguousarray(score, np.float64)
    native = _native()
    if native is not None and not np.isnan(score).any():
        order, by_cat = np.empty(len(score), np.int64), np.empty(len(score), np.int64)
        native.coco_orders(image, category, score, n_img, n_cat, order, by_cat)
        return order, by_cat
    by_cat = then_by(np.arange(len(score)), image, n_img)  # (image, position)
    by_cat = then_by(by_cat[argsort_desc(score[by_cat])], category, n_cat)  # (category, -score, image, position)
    return then_by(by_cat, image, n_img), by_cat


def then_by(order: np.ndarray, key: np.ndarray, n_keys: int) -> np.ndarray:
    """``order`` re-sorted stably by ``key[order]``: ties keep their place in ``order``. Keys
    below 2^15 sort as int16, by radix, in linear time."""
    k = key[order]
    return order[np.argsort(k.astype(np.int16) if n_keys < 2**15 else k, kind="stable")]


def run_starts(keys: np.ndarray) -> np.ndarray:
    """int64 positions where a run of equal values starts in grouped ``keys`` (empty for none)."""
    if len(keys) == 0:
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
