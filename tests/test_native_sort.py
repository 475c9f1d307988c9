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
