"""PR curves drawn as computed (bench.report.curves): thinning keeps every corner of the stored
curve, so each computed point lies on the drawn polyline, and the best-F1 marker is a drawn point."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.metrics.curves import pr_curve
from bench.report.curves import best_f1, thin
from bench.report.figures import pr_traces


def distance_to_polyline(px: float, py: float, x: list[float], y: list[float]) -> float:
    """Euclidean distance from (px, py) to the polyline through (x[i], y[i])."""
    if len(x) == 1:
        return float(np.hypot(px - x[0], py - y[0]))
    ax, ay, bx, by = np.array(x[:-1]), np.array(y[:-1]), np.array(x[1:]), np.array(y[1:])
    sx, sy = bx - ax, by - ay
    length2 = sx * sx + sy * sy
    t = np.where(length2 > 0, ((px - ax) * sx + (py - ay) * sy) / np.where(length2 > 0, length2, 1), 0.0)
    t = np.clip(t, 0, 1)
    return float(np.min(np.hypot(px - (ax + t * sx), py - (ay + t * sy))))


def curve_from(outcomes: list[int], num_gt: int) -> dict:
    """A stored curve as the metric core computes it: ``outcomes`` per detection in decreasing score order (1 TP, 0 FP)."""
    status = np.array(outcomes, np.int8)
    scores = np.linspace(1.0, 0.01, len(outcomes))
    return pr_curve(status, scores, num_gt).to_dict()


curves = st.integers(1, 400).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 1), min_size=n, max_size=n), st.integers(0, 60)).map(
        lambda t: curve_from(t[0], max(t[1], sum(t[0]), 1))
    )
)


@settings(max_examples=300, deadline=None)
@given(curves)
def test_every_computed_point_lies_on_the_drawn_curve(curve):
    thinned = thin(curve)
    x, y = thinned["recall"], thinned["precision"]
    assert len(x) <= len(curve["recall"])
    pairs = set(zip(curve["recall"], curve["precision"], curve["score"]))
    assert set(zip(x, y, thinned["score"])) <= pairs  # only computed points are drawn
    assert (x[0], y[0]) == (curve["recall"][0], curve["precision"][0]) and (x[-1], y[-1]) == (curve["recall"][-1], curve["precision"][-1])
    for px, py in zip(curve["recall"], curve["precision"]):
        assert distance_to_polyline(px, py, x, y) < 1e-9, (px, py)
    i = best_f1(curve)
    assert (curve["recall"][i], curve["precision"][i]) in set(zip(x, y))  # the marker is a drawn point


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(200, 5000), st.floats(0.05, 0.95), st.integers(0, 50), st.sampled_from([1e-3, 1e-2]))
def test_long_curves_stay_within_the_tolerance_and_keep_the_best_f1_point(seed, n, tp_rate, extra_gt, tol):
    """More corners than ``max_points``: Douglas-Peucker, every computed point within ``tol`` of the line."""
    outcomes = (np.random.default_rng(seed).random(n) < tp_rate).astype(int).tolist()
    curve = curve_from(outcomes, max(sum(outcomes) + extra_gt, 1))
    thinned = thin(curve, max_points=50, tol=tol)
    x, y = thinned["recall"], thinned["precision"]
    assert len(x) <= len(curve["recall"])
    for px, py in zip(curve["recall"], curve["precision"]):
        assert distance_to_polyline(px, py, x, y) <= tol + 1e-12
    i = best_f1(curve)
    assert (curve["recall"][i], curve["precision"][i]) in set(zip(x, y))
    assert len(x) < len(thin(curve, max_points=10**9)["recall"]) or len(x) <= 50  # the simplification did drop corners


def test_the_corner_that_the_old_thinning_dropped():
    """nanodet_m on "airplane" (embedded COCO subset, 11 ground truths): 7 TPs, then 10 FPs, then a TP
    and ~200 FPs. The best-F1 point (recall 7/11, precision 1.0) is the top of a vertical drop; the old
    thinning (150 evenly spaced indices) dropped it and the star floated beside the line."""
    outcomes = [1] * 7 + [0] * 10 + [1] + [0] * 205
    curve = curve_from(outcomes, 11)
    assert len(curve["recall"]) == 223
    i = best_f1(curve)
    assert (curve["recall"][i], curve["precision"][i]) == (7 / 11, 1.0)
    line, star = pr_traces("nanodet_m", "#000", curve)
    assert (star["x"][0], star["y"][0]) in set(zip(line["x"], line["y"]))
    # the drawn line is the corners: (1/11, 1) .. (7/11, 1) is one horizontal segment, then the two vertical drops
    assert list(zip(line["x"], line["y"])) == [(1 / 11, 1.0), (7 / 11, 1.0), (7 / 11, 7 / 17), (8 / 11, 8 / 18), (8 / 11, 8 / 223)]


def test_no_ground_truth_or_no_points():
    assert best_f1({"recall": [], "precision": [], "score": [], "num_gt": 3}) is None
    assert thin({"recall": [], "precision": [], "score": [], "num_gt": 3})["recall"] == []
    one = {"recall": [0.5], "precision": [1.0], "score": [0.9], "num_gt": 2}
    assert thin(one) == one
