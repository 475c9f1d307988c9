"""Ground-truth annotations with id 0 (issue 23): detbench scores the intended value and says so,
with the value pycocotools / lvis-api / faster-coco-eval give, scored by re-matching
(bench.analysis.id_zero) and checked here against those tools on generated cases."""

import copy

import numpy as np
import pytest
from cases import coco_case
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import COCO_STATS, lvis_eval, pycocotools_eval

from bench.analysis.explain import explain
from bench.analysis.id_zero import evaluate_as_pycocotools
from bench.analysis.lint import lint
from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.errors import InputError
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS


def with_id_zero(gt: dict, pick: int) -> dict:
    """``gt`` with its annotation ``pick`` (modulo their count) given id 0, the others 1, 2, ..."""
    gt = copy.deepcopy(gt)
    for i, a in enumerate(gt["annotations"]):
        a["id"] = i + 1
    gt["annotations"][pick % len(gt["annotations"])]["id"] = 0
    return gt


def one_box(ann_id: int):
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "cat"}],
          "annotations": [{"id": ann_id, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0}]}  # fmt: skip
    return gt, [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9}]


def test_perfect_detection_of_id_zero_warns_with_both_values():
    """Failed before the fix: AP 1.0 without a word where pycocotools gives 0.0."""
    gt, dets = one_box(0)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    result = evaluate(ds, det, COCO)
    (f,) = [f for f in lint(ds, det, COCO, result) if f["code"] == "gt_id_zero"]
    assert result.metrics["AP"] == pytest.approx(1.0) and f["ap_detbench"] == result.metrics["AP"]
    assert f["ap_pycocotools"] == pytest.approx(pycocotools_eval(gt, dets).stats[0]) == 0.0
    assert "AP 100.00" in f["message"] and "AP 0.00 with them" in f["message"] and f["images"] == [1]
    assert not [f for f in lint(ds, det, COCO, result) if f["code"] != "gt_id_zero" and "id 0" in f["message"]]
    gt1, _ = one_box(1)
    ds1 = parse_gt(gt1, "gt.json")
    assert not [f for f in lint(ds1, parse_results(dets, ds1), COCO) if f["code"] == "gt_id_zero"]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4), pick=st.integers(0, 10**6),
       tie_scores=st.booleans())  # fmt: skip
def test_id_zero_quirk_equals_pycocotools(seed, n_img, n_cat, pick, tie_scores):
    gt, dets = coco_case(seed, n_img, n_cat, tie_scores=tie_scores)
    if not gt["annotations"] or not dets:
        return
    gt = with_id_zero(gt, pick)
    ds = parse_gt(gt, "gt.json")
    quirk = evaluate_as_pycocotools(ds, parse_results(dets, ds, "dt.json"), COCO)
    ref = pycocotools_eval(gt, dets)
    got = np.array([-1.0 if quirk.metrics[n] is None else quirk.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(got, ref.stats, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.where(quirk.precision is None, 0, quirk.precision), ref.eval["precision"], rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), pick=st.integers(0, 10**6))
def test_id_zero_quirk_equals_lvis_api(seed, pick):
    gt, dets = coco_case(seed, 4, 3, lvis=True)
    if not gt["annotations"] or not dets:
        return
    gt = with_id_zero(gt, pick)
    ds = parse_gt(gt, "gt.json", "lvis")
    quirk = evaluate_as_pycocotools(ds, parse_results(dets, ds, "dt.json"), LVIS)
    ref = lvis_eval(gt, dets)
    assert (quirk.metrics["AP"] if quirk.metrics["AP"] is not None else -1) == pytest.approx(ref.results["AP"], abs=1e-9)


def test_id_zero_quirk_equals_faster_coco_eval():
    fce = pytest.importorskip("faster_coco_eval")
    for seed in range(12):
        gt, dets = coco_case(seed, 4, 3)
        if not gt["annotations"] or not dets:
            continue
        gt = with_id_zero(gt, seed)
        ds = parse_gt(gt, "gt.json")
        quirk = evaluate_as_pycocotools(ds, parse_results(dets, ds, "dt.json"), COCO)
        g = fce.COCO(copy.deepcopy(gt))
        ev = fce.COCOeval_faster(g, g.loadRes(copy.deepcopy(dets)), "bbox", print_function=lambda *a: None)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert (quirk.metrics["AP"] if quirk.metrics["AP"] is not None else -1) == pytest.approx(ev.stats[0], abs=1e-9), seed


def test_several_id_zero_annotations_are_refused_as_duplicates():
    """Ids are unique in a file: a second id 0 is refused, naming both records (pycocotools'
    index keeps only the last of them and scores it twice)."""
    gt, dets = coco_case(3, 4, 3)
    gt = with_id_zero(gt, 0)
    gt["annotations"][1]["id"] = 0
    with pytest.raises(InputError, match=r"annotations\[1\].*duplicate id 0 \(also annotations\[0\]\)"):
        parse_gt(gt, "gt.json")


def test_explain_row_for_the_quirk():
    gt, dets = one_box(0)
    ds = parse_gt(gt, "gt.json")
    rep = explain(ds, parse_results(dets, ds, "dt.json"))
    assert rep["protocols"]["pycocotools"]["AP"] == pytest.approx(1.0) and rep["protocols"]["pycocotools_id0"]["AP"] == 0.0
    (step,) = rep["attribution"]["waterfall"]["pycocotools_id0"]
    assert step["rule"] == "gt_id_zero" and step["delta"]["AP"] == pytest.approx(-1.0)
    gt1, _ = one_box(1)
    ds1 = parse_gt(gt1, "gt.json")
    assert "pycocotools_id0" not in explain(ds1, parse_results(dets, ds1))["protocols"]  # only where it applies
