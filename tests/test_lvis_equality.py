"""detbench's LVIS protocol equals lvis-api LVISEval(iou_type='bbox'), stat for stat."""

from cases import coco_case
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracles import assert_lvis_equal, lvis_eval

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.protocols import LVIS

TOL = 1e-9


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_img=st.integers(1, 5),
    n_cat=st.integers(1, 6),
    tie_scores=st.booleans(),
    integer=st.booleans(),
    cap=st.sampled_from([300, 12, 3]),
)
def test_lvis_results_equal_lvis_api(seed, n_img, n_cat, tie_scores, integer, cap):
    """Federated negatives, not-exhaustive categories, frequency groups, zero-area annotations,
    and the per-image cap across categories (300; small caps make it bite)."""
    gt, dets = coco_case(seed, n_img, n_cat, tie_scores=tie_scores, integer=integer, lvis=True, max_dt=20)
    assume(dets)  # lvis-api fails on an empty results list (IndexError); see test_empty_lvis_results
    ref = lvis_eval(gt, dets, max_dets=cap)
    ds = parse_gt(gt, "lvis.json")
    res = evaluate(ds, parse_results(dets, ds, "dt.json"), LVIS.with_(max_dets_per_image=cap))
    assert_lvis_equal(res, ref, cap, TOL)


def test_empty_lvis_results_score_zero_where_lvis_api_fails():
    gt, _ = coco_case(11, 3, 3, lvis=True)
    ds = parse_gt(gt, "lvis.json")
    from bench.data.model import DetectionTable

    res = evaluate(ds, DetectionTable.empty(), LVIS)
    assert res.metrics["AP"] == 0.0 and res.metrics["AR300"] == 0.0
