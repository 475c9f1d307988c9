"""The C radix argsort equals numpy's stable argsort of the negated values, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bench.native import sort

_sort = pytest.importorskip("bench.native._sort", reason="the optional C extension was not built (no C compiler at install)")

SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, 5e-324, -5e-324, 2.2250738585072014e-308, 1e308, -1e308, 0.1, 0.30000000000000004]


def _native(v: np.ndarray) -> np.ndarray:
    out = np.empty(len(v), np.int64)
    _sort.argsort_desc(np.ascontiguousarray(v, np.float64), out)
    return out


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.integers(0, 400), elements=st.one_of(st.floats(allow_nan=False, allow_infinity=True), st.sampled_from(SPECIAL))))
def test_radix_argsort_equals_numpy_stable_argsort(v):
    assert np.array_equal(_native(v), np.argsort(-v, kind="stable"))


def test_scores_like_a_detector_file_and_every_digit_pass():
    rng = np.random.default_rng(0)
    for v in (np.round(rng.random(100_000), 4), rng.random(50_000), rng.normal(0, 1e6, 50_000), np.full(1000, 0.5)):
        assert np.array_equal(_native(v), np.argsort(-v, kind="stable"))


def test_wrapper_falls_back_for_nan_and_when_disabled(monkeypatch):
    v = np.array([0.5, np.nan, 0.7, 0.5])
    assert np.array_equal(sort.argsort_desc(v), np.argsort(-v, kind="stable"))
    monkeypatch.setenv("DETBENCH_NATIVE", "0")
    w = np.array([0.1, 0.9, 0.1])
    assert np.array_equal(sort.argsort_desc(w), [1, 0, 2])


def test_wrong_buffers_are_refused():
    with pytest.raises(ValueError, match="float64"):
        _sort.argsort_desc(np.zeros(3), np.zeros(2, np.int64))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 300), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans())
def test_detection_orders_equal_lexsort(n, n_img, n_cat, seed, ties):
    rng = np.random.default_rng(seed)
    image, category = rng.integers(0, n_img, n), rng.integers(0, n_cat, n)
    score = rng.choice([0.0, -0.0, 0.5, 1.0, np.inf], n) if ties else rng.random(n)
    want_order = np.lexsort((np.arange(n), -score, category, image))
    want_by_cat = np.lexsort((np.arange(n), image, -score, category))
    order = np.empty(n, np.int64)
    by_cat = np.empty(n, np.int64)
    _sort.coco_orders(image, category, score, n_img, n_cat, order, by_cat)
    assert np.array_equal(order, want_order) and np.array_equal(by_cat, want_by_cat)
    got = sort.detection_orders(image, category, score, n_img, n_cat)  # the wrapper (C)
    assert np.array_equal(got[0], want_order) and np.array_equal(got[1], want_by_cat)


def test_detection_orders_numpy_fallback_and_refusals(monkeypatch):
    rng = np.random.default_rng(1)
    image, category, score = rng.integers(0, 40_000, 500), rng.integers(0, 3, 500), rng.choice([0.1, 0.2], 500)
    want = np.lexsort((np.arange(500), -score, category, image)), np.lexsort((np.arange(500), image, -score, category))
    monkeypatch.setenv("DETBENCH_NATIVE", "0")  # numpy, with keys past 16 bits
    got = sort.detection_orders(image, category, score, 40_000, 3)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    with pytest.raises(ValueError, match="inside"):  # an index outside its range never reaches the counting sort
        _sort.coco_orders(np.array([0, 5]), np.array([0, 0]), np.zeros(2), 5, 1, np.empty(2, np.int64), np.empty(2, np.int64))
