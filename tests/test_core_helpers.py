"""The core's set-membership and run helpers: both strategies of ``_member`` agree with np.isin."""

from __future__ import annotations

import numpy as np

from bench.metrics.core import _member, _runs


def test_member_table_and_search_agree_with_isin():
    rng = np.random.default_rng(0)
    for _ in range(200):
        size = int(rng.integers(1, 500))
        values = rng.integers(0, size, int(rng.integers(0, 300)))
        sets = [rng.integers(0, size, int(rng.integers(0, 40))) for _ in range(int(rng.integers(0, 3)))]
        want = np.isin(values, np.concatenate(sets)) if sets else np.zeros(len(values), bool)
        assert np.array_equal(_member(values, sets, size), want)  # flag table
        assert np.array_equal(_member(values, sets, 2**26 + 1), want)  # sorted members, binary search


def test_runs_of_sorted_keys():
    keys = np.array([3, 3, 5, 9, 9, 9])
    start, end = _runs(keys)
    assert start.tolist() == [0, 2, 3] and end.tolist() == [2, 3, 6]
    assert [len(a) for a in _runs(np.zeros(0, np.int64))] == [0, 0]
