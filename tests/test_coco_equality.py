"""detbench's COCO protocol equals pycocotools COCOeval(iouType='bbox'), stat for stat."""

import numpy as np
import pytest
from cases import coco_case
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import COCO_STATS, pycocotools_eval

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.protocols import COCO

TOL = 1e-9


def ours(gt, dets, protocol=COCO):
    ds = parse_gt(gt, "gt.json")
    return evaluate(ds, parse_results(dets, ds, "dt.json"), protocol)


def as_stats(metrics, names):
    return np.array([-1.0 if metrics[n] is None else metrics[n] for n in names])


@settings(max_examples=400, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_img=st.integers(1, 5),
    n_cat=st.integers(1, 4),
    scale=st.sampled_from([1.0, 2.5, 7.0]),
    tie_scores=st.booleans(),
    integer=st.booleans(),
)
def test_twelve_stats_and_precision_table_equal_pycocotools(seed, n_img, n_cat, scale, tie_scores, integer):
    gt, dets = coco_case(seed, n_img, n_cat, scale, tie_scores, integer)
    ref = pycocotools_eval(gt, dets)
    res = ours(gt, dets)
    np.testing.assert_allclose(as_stats(res.metrics, COCO_STATS), ref.stats, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=TOL)


def test_many_detections_per_image_beyond_max_dets():
    gt, dets = coco_case(7, n_img=3, n_cat=2, max_gt=20, max_dt=150)
    assert max(sum(d["image_id"] == i["id"] for d in dets) for i in gt["images"]) > 100
    ref = pycocotools_eval(gt, dets)
    np.testing.assert_allclose(as_stats(ours(gt, dets).metrics, COCO_STATS), ref.stats, rtol=0, atol=TOL)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tie_scores=st.booleans())
def test_custom_thresholds_areas_and_max_dets(seed, tie_scores):
    """Custom parameters: the precision/recall tables equal pycocotools'. pycocotools' summary
    hard-codes maxDets=100 for stats[0] (it gives -1 for maxDets [1, 2, 5]); detbench's AP
    honours the last maxDets, which is what pycocotools' _summarize(1, maxDets=5) computes."""
    gt, dets = coco_case(seed, 4, 3, tie_scores=tie_scores, max_dt=20)
    thrs = np.array([0.3, 0.5, 0.65])
    areas = [[0, 1e10], [0, 400], [400, 1e10]]
    params = {"iouThrs": thrs, "areaRng": areas, "areaRngLbl": ["all", "small", "large"], "maxDets": [1, 2, 5]}
    ref = pycocotools_eval(gt, dets, params)
    p = COCO.with_(iou_thresholds=tuple(thrs), area_ranges=(("all", 0, 1e10), ("small", 0, 400), ("large", 400, 1e10)), max_dets=(1, 2, 5))
    res = ours(gt, dets, p)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=TOL)
    s = ref.eval["precision"][:, :, :, 0, 2]  # pycocotools' _summarize(1, maxDets=5)
    intent_ap = float(np.mean(s[s > -1])) if (s > -1).any() else None
    s5 = ref.eval["recall"][:, :, 0, 2]
    intent_ar = float(np.mean(s5[s5 > -1])) if (s5 > -1).any() else None
    assert (res.metrics["AP"] is None) == (intent_ap is None)
    if intent_ap is not None:
        assert abs(res.metrics["AP"] - intent_ap) <= TOL
        assert abs(res.metrics["AR5"] - intent_ar) <= TOL
    assert res.metrics["APm"] is None  # no "medium" range in this protocol


def test_empty_results_score_zero():
    gt, _ = coco_case(3)
    res = ours(gt, [])
    ref = pycocotools_eval(gt, [])
    np.testing.assert_allclose(as_stats(res.metrics, COCO_STATS), ref.stats, rtol=0, atol=TOL)


def test_area_comes_from_the_annotation_not_the_box():
    gt = {
        "images": [{"id": 1, "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "a"}],
        # A 40x40 box (1600 px, "medium") whose mask area is 900 px ("small").
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 900, "iscrowd": 0}],
    }
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.9}]
    m = ours(gt, dets).metrics
    assert m["APs"] == pytest.approx(1.0, abs=1e-12) and m["APm"] is None
