"""Fixed AP (Dave et al. 2021, "Evaluating Large-Vocabulary Object Detectors: The Devil is in the
Details"): a budget of K detections per class over the whole dataset instead of a per-image cap.

Oracles: hand-worked cases from the paper's definition, and the reference code's procedure
(achalddave/large-vocab-devil, scripts/evaluate_ap_fixed.py: keep each category's top K by
score over the results file, then lvis-api with no per-image limit) run through lvis-api.
"""

import pytest
from cases import coco_case
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import LVIS_KEYS, lvis_eval

from bench.analysis.explain import apply_rules, explain
from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.protocols import LVIS


def fixed(k: int):
    return LVIS.with_(max_dets_per_image=None, max_dets_per_category=k)


def _gt(n_img, cats, boxes):
    """LVIS dict: ``boxes`` = [(image, category, [x, y, w, h])]; every category is checked on
    every image (absent ones in neg_category_ids)."""
    images = []
    for i in range(1, n_img + 1):
        present = {c for im, c, _ in boxes if im == i}
        images.append({"id": i, "width": 100, "height": 100, "neg_category_ids": [c for c in cats if c not in present],
                       "not_exhaustive_category_ids": []})  # fmt: skip
    anns = [{"id": j + 1, "image_id": im, "category_id": c, "bbox": b, "area": b[2] * b[3]} for j, (im, c, b) in enumerate(boxes)]
    return {"images": images, "categories": [{"id": c, "name": f"c{c}", "frequency": "f"} for c in cats], "annotations": anns}


def _score(gt, dets, p):
    ds = parse_gt(gt, "gt.json", "lvis")
    return evaluate(ds, parse_results(dets, ds, "dt.json"), p)


B = [10, 10, 20, 20]
MISS = [60, 60, 20, 20]


def _case():
    """One class, one object in each of 3 images; detections TP .9, FP .8, TP .7, TP .3."""
    gt = _gt(3, [1], [(1, 1, B), (2, 1, B), (3, 1, B)])
    dets = [{"image_id": 1, "category_id": 1, "bbox": B, "score": 0.9}, {"image_id": 1, "category_id": 1, "bbox": MISS, "score": 0.8},
            {"image_id": 2, "category_id": 1, "bbox": B, "score": 0.7}, {"image_id": 3, "category_id": 1, "bbox": B, "score": 0.3}]  # fmt: skip
    return gt, dets


def test_budget_of_three_hand_worked():
    """K=3 keeps .9 TP, .8 FP, .7 TP: recall 1/3, 1/3, 2/3, precision 1, 1/2, 2/3 (envelope 1, 2/3, 2/3).
    101-point lookup: recall 0.00-0.33 -> 1 (34 points), 0.34-0.66 -> 2/3 (33), 0.67-1 -> 0 (34)."""
    gt, dets = _case()
    assert _score(gt, dets, fixed(3)).metrics["AP50"] == pytest.approx((34 + 33 * 2 / 3) / 101, abs=1e-12)


def test_budget_of_four_hand_worked():
    """K=4 adds .3 TP: recall 1 at precision 3/4; the envelope is 1, 3/4, 3/4, 3/4."""
    gt, dets = _case()
    assert _score(gt, dets, fixed(4)).metrics["AP50"] == pytest.approx((34 + 67 * 0.75) / 101, abs=1e-12)


def test_budget_is_per_class_not_per_image():
    """Image 1 holds a confident false positive of class 2 and the true positive of class 1 below
    it. A cap of one detection per image loses class 1's object; a per-class budget of one does not,
    and class 2's detections never use class 1's budget (the paper's point: no coupling of classes)."""
    gt = _gt(2, [1, 2], [(1, 1, B), (2, 2, B)])
    dets = [{"image_id": 1, "category_id": 2, "bbox": MISS, "score": 0.95}, {"image_id": 1, "category_id": 1, "bbox": B, "score": 0.5},
            {"image_id": 2, "category_id": 2, "bbox": B, "score": 0.9}]  # fmt: skip
    capped = _score(gt, dets, LVIS.with_(max_dets_per_image=1))
    assert capped.per_class["c1"]["AP50"] == 0.0
    budget = _score(gt, dets, fixed(1))
    assert budget.per_class["c1"]["AP50"] == pytest.approx(1.0, abs=1e-12)
    assert budget.per_class["c2"]["AP50"] == 0.0  # its budget of 1 is spent on the false positive (.95)
    # K=2: FP .95 then TP .9: precision 0, 1/2 at recall 0, 1; the envelope is 1/2 at every recall point
    assert _score(gt, dets, fixed(2)).per_class["c2"]["AP50"] == pytest.approx(0.5, abs=1e-12)


def test_budget_is_taken_before_the_federated_filter():
    """The reference keeps each category's top K over the whole results file, then lvis-api drops
    detections on images where the category is not checked: they still use up the budget."""
    gt = _gt(2, [1], [(1, 1, B)])
    gt["images"][1]["neg_category_ids"] = []  # category 1 unchecked on image 2
    dets = [{"image_id": 2, "category_id": 1, "bbox": B, "score": 0.9}, {"image_id": 1, "category_id": 1, "bbox": B, "score": 0.5}]
    assert _score(gt, dets, fixed(1)).metrics["AP"] == 0.0  # the one kept detection is not evaluated
    assert _score(gt, dets, fixed(2)).metrics["AP"] == pytest.approx(1.0, abs=1e-12)


def reference_fixed_ap(gt: dict, dets: list, k: int):
    """scripts/evaluate_ap_fixed.py's procedure: by category, ``sorted(..., key=score, reverse=True)[:k]``
    (stable on ties), then LVISResults(max_dets=-1) and LVISEval with no per-image limit."""
    by_cat: dict = {}
    for d in dets:
        by_cat.setdefault(d["category_id"], []).append(d)
    kept = [d for anns in by_cat.values() for d in sorted(anns, key=lambda x: x["score"], reverse=True)[:k]]
    return lvis_eval(gt, kept, max_dets=-1)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 6), n_cat=st.integers(1, 4), k=st.integers(1, 12),
       tie_scores=st.booleans())  # fmt: skip
def test_equals_the_reference_procedure(seed, n_img, n_cat, k, tie_scores):
    gt, dets = coco_case(seed, n_img, n_cat, tie_scores=tie_scores, lvis=True)
    if not dets:
        return
    ref = reference_fixed_ap(gt, dets, k)
    ours = _score(gt, dets, fixed(k))
    for theirs, mine in LVIS_KEYS.items():
        if not theirs.startswith("AP"):
            continue  # recall keys carry the per-image limit's name (AR@300 / AR)
        r = ref.results[theirs]
        assert (-1.0 if ours.metrics[mine] is None else ours.metrics[mine]) == pytest.approx(r, abs=1e-12), mine


def test_explain_offers_fixed_ap_on_lvis():
    gt, dets = coco_case(5, 5, 3, lvis=True)
    ds = parse_gt(gt, "gt.json", "lvis")
    rep = explain(ds, parse_results(dets, ds, "dt.json"), ["lvis_fixed_ap"])
    assert rep["baseline"] == "lvis" and set(rep["protocols"]) == {"lvis", "lvis_fixed_ap"}
    assert apply_rules(LVIS, ("fixed_ap",)).max_dets_per_category == 10_000
    assert [s["rule"] for s in rep["attribution"]["waterfall"]["lvis_fixed_ap"]] == ["fixed_ap"]
