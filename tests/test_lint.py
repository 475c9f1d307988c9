"""The evaluation-setup linter: each warning fires on a generated case built to trigger it, and
stays silent on a clean case; the numbers it reports are checked against direct computations."""

import copy

import numpy as np
import pytest
from oracles import pycocotools_eval

from bench.analysis.lint import as_xyxy_misread, lint, tie_bounds
from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS


def clean_case(seed=0, n_img=6, n_cat=3, per_image=30):
    """Every category present, each image with objects and many detections down to score 0.001,
    distinct scores, boxes inside the image, all fields present."""
    rng = np.random.default_rng(seed)
    cats = [{"id": c + 1, "name": f"c{c + 1}"} for c in range(n_cat)]
    images, anns, dets = [], [], []
    for i in range(1, n_img + 1):
        images.append({"id": i, "width": 200, "height": 150, "file_name": f"{i}.jpg"})
        for j in range(3):
            c = (i + j) % n_cat + 1
            x, y, w, h = (float(v) for v in (*rng.integers(0, 100, 2), *rng.integers(10, 40, 2)))
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": [x, y, w, h], "area": w * h * 0.8, "iscrowd": 0})
            dets.append({"image_id": i, "category_id": c, "bbox": [x + 1, y, w, h], "score": 0})
        for _ in range(per_image - 3):
            x, y, w, h = (float(v) for v in (*rng.integers(0, 150, 2), *rng.integers(5, 40, 2)))
            w, h = min(w, 200 - x), min(h, 150 - y)
            dets.append({"image_id": i, "category_id": int(rng.integers(1, n_cat + 1)), "bbox": [x, y, w, h], "score": 0})
    scores = rng.permutation(len(dets)) / len(dets) * 0.999 + 0.001
    for d, s in zip(dets, scores):
        d["score"] = float(s)
    return {"images": images, "categories": cats, "annotations": anns}, dets


def run_lint(gt, dets, p=COCO):
    ds = parse_gt(gt, "gt.json")
    return {f["code"]: f for f in lint(ds, parse_results(dets, ds, "dt.json"), p)}


def test_clean_case_is_silent():
    assert run_lint(*clean_case()) == {}


def test_score_threshold_fires_on_thresholded_results():
    gt, dets = clean_case()
    kept = [d for d in dets if d["score"] >= 0.3]
    f = run_lint(gt, kept)["score_threshold"]
    assert f["min_score"] == pytest.approx(min(d["score"] for d in kept))
    few = [d for d in dets if d["score"] >= 0.06][: len(gt["annotations"])]  # thresholded and few per image
    f = run_lint(gt, few)["score_threshold"]
    assert "detections per image" in f["message"] and f"{f['min_score']:.3f}" in f["message"]
    sparse = [d for d in dets if d["score"] < 0.06 or d["score"] > 0.95]  # few per image, but low scores present
    assert min(d["score"] for d in sparse) < 0.05 and len(sparse) < 2 * len(gt["annotations"])
    assert "score_threshold" not in run_lint(gt, sparse)


def test_score_threshold_is_silent_with_a_tiny_minimum_score():
    # hostile report: fired on files with no threshold at all (min score 0.0002), on the
    # "few detections per image" criterion alone
    gt, dets = clean_case()
    dets = [d for d in dets if d["score"] > 0.9] + [dict(dets[0], score=0.0002)]
    assert "score_threshold" not in run_lint(gt, dets)


def test_max_dets_is_silent_when_the_cap_costs_nothing():
    # detections beyond the cap that are false positives below every true positive: AP without the cap
    # is the same (gain 0 < 0.05 points), so nothing to report
    gt, _ = clean_case()
    dets = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 0.9} for a in gt["annotations"]]
    for im in gt["images"]:
        dets += [{"image_id": im["id"], "category_id": 1, "bbox": [150.0, 120.0, 5.0, 5.0], "score": 0.0001 * (1 + j)} for j in range(10)]
    p = COCO.with_(max_dets=(1, 5, 8))
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    assert evaluate(ds, det, p.with_(max_dets=(1, 5, None))).metrics["AP"] == evaluate(ds, det, p).metrics["AP"]
    assert "max_dets" not in run_lint(gt, dets, p)


def test_max_dets_reports_dropped_and_ap_without_cap():
    gt, dets = clean_case(per_image=30)
    p = COCO.with_(max_dets=(1, 5, 8))
    f = run_lint(gt, dets, p)["max_dets"]
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    counts = np.unique(det.image_idx * 10 + det.category_idx, return_counts=True)[1]
    assert f["dropped"] == int(np.maximum(counts - 8, 0).sum()) > 0
    ref = pycocotools_eval(gt, dets, {"maxDets": [1, 5, 8]})  # pycocotools' own table at maxDets 8
    assert f["ap_with_cap"] == pytest.approx(ref.eval["precision"][..., 0, 2][ref.eval["precision"][..., 0, 2] > -1].mean(), abs=1e-12)
    assert f["ap_without_cap"] == pytest.approx(pycocotools_eval(gt, dets).stats[0], abs=1e-12)  # <= 100 per group: no cap
    assert "max_dets" not in run_lint(gt, dets, COCO)  # 30 per image < 100: nothing dropped
    lv = run_lint(*lvis_of(gt, dets), LVIS.with_(max_dets_per_image=20))["max_dets"]
    assert lv["dropped"] == sum(max(0, sum(d["image_id"] == im["id"] for d in dets) - 20) for im in gt["images"])


def lvis_of(gt, dets):
    g = copy.deepcopy(gt)
    for a in g["annotations"]:
        a.pop("iscrowd")
    for c in g["categories"]:
        c["frequency"] = "f"
    for im in g["images"]:
        present = {a["category_id"] for a in g["annotations"] if a["image_id"] == im["id"]}
        im["neg_category_ids"] = [c["id"] for c in g["categories"] if c["id"] not in present]
        im["not_exhaustive_category_ids"] = []
    return g, dets


def test_tied_scores_bounds_bracket_every_file_order():
    gt, dets = clean_case(seed=3)
    for d in dets:
        d["score"] = round(d["score"], 1)  # heavy ties
    f = run_lint(gt, dets)["tied_scores"]
    assert f["fraction"] > 0.5 and f["ap_pessimistic"] < f["ap_optimistic"]
    rng = np.random.default_rng(0)
    for _ in range(5):  # any order of the file scores within the bounds (the matching may move, so a small slack)
        shuffled = [dets[i] for i in rng.permutation(len(dets))]
        ap = run_lint_ap(gt, shuffled)
        assert f["ap_pessimistic"] - 1e-9 <= ap <= f["ap_optimistic"] + 1e-9


def run_lint_ap(gt, dets):
    ds = parse_gt(gt, "gt.json")
    return evaluate(ds, parse_results(dets, ds, "dt.json"), COCO.with_(tie_break="file")).metrics["AP"]


def test_tie_bounds_hand_worked():
    """One class, two objects in two images; one TP and one FP tied at .5: pessimistic FP first
    (precision 0 then 1/2), optimistic TP first (1 then 1/2)."""
    gt = {"images": [{"id": 1, "width": 50, "height": 50}, {"id": 2, "width": 50, "height": 50}],
          "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
                          {"id": 2, "image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}]}  # fmt: skip
    dets = [{"image_id": 1, "category_id": 1, "bbox": [30, 30, 10, 10], "score": 0.5},
            {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}]  # fmt: skip
    ds = parse_gt(gt, "gt.json")
    res = evaluate(ds, parse_results(dets, ds, "dt.json"), COCO)
    low, high = tie_bounds(res.table, COCO)
    # recall 1/2 reached at precision 1/2 (pessimistic) or 1 (optimistic): 51 recall points 0..0.50
    assert low == pytest.approx(51 * 0.5 / 101, abs=1e-12)
    assert high == pytest.approx(51 * 1.0 / 101, abs=1e-12)
    assert res.metrics["AP"] == pytest.approx(low, abs=1e-12)  # pycocotools: image 1 (the FP) first


def _tie_bounds_by_lexsort(table, p):
    """The bounds' definition, directly: per threshold, each category's detections re-sorted by
    (score descending, then FP-first or TP-first among ties), accumulated."""
    from bench.metrics.core import UNLIMITED
    from bench.metrics.kernels import accumulate_coco

    cat = np.repeat(np.arange(len(table.cat_start)), table.cat_end - table.cat_start)
    out = []
    for first in (0, 1):
        aps = []
        for t in range(table.status.shape[0]):
            st = table.status[t]
            rank = np.where(st == first, 0, np.where(st == 2, 1, 2))
            order = np.lexsort((rank, -table.scores, cat))
            _, _, ap = accumulate_coco(np.ascontiguousarray(st[order][:, None, None]), np.zeros(len(order), np.int64),
                                       table.cat_start, table.cat_end, table.npos[:, None], np.array([UNLIMITED], np.int64),
                                       np.asarray(p.recall_thresholds, np.float64))  # fmt: skip
            aps.append(ap[0, :, 0, 0])
        a = np.array(aps)
        out.append(float(np.nanmean(a)) if np.isfinite(a).any() else None)
    return tuple(out)


@pytest.mark.parametrize("seed", range(25))
def test_tie_bounds_equal_their_definition(seed):
    from cases import coco_case

    gt, dets = coco_case(seed, n_img=5, n_cat=4, tie_scores=True, max_dt=40)
    ds = parse_gt(gt, "gt.json")
    res = evaluate(ds, parse_results(dets, ds, "dt.json"), COCO)
    assert tie_bounds(res.table, COCO) == _tie_bounds_by_lexsort(res.table, COCO)


def test_missing_fields_fire_with_counts():
    gt, dets = clean_case()
    for a in gt["annotations"][:4]:
        a.pop("area")
    for a in gt["annotations"][2:7]:
        a.pop("iscrowd")
    found = [f for f in lint_all(gt, dets) if f["code"] == "gt_missing_fields"]
    assert {f["field"]: f["count"] for f in found} == {"area": 4, "iscrowd": 5}


def lint_all(gt, dets, p=COCO):
    ds = parse_gt(gt, "gt.json")
    return lint(ds, parse_results(dets, ds, "dt.json"), p)


def test_xywh_written_as_xyxy_fires_and_measures_the_fix():
    gt, dets = clean_case()
    wrong = copy.deepcopy(dets)
    for d in wrong:  # the classic bug: [x1, y1, x2, y2] in the bbox field
        x, y, w, h = d["bbox"]
        d["bbox"] = [x, y, x + w, y + h]
    f = run_lint(gt, wrong)["boxes_outside_image"]
    assert f["detections"] > 0 and f["ground_truth"] == 0
    right = run_lint_ap_coco(gt, dets)
    assert f["ap_if_bbox_were_xyxy"] == pytest.approx(right, abs=1e-12) and f["ap_as_given"] < right


def test_boxes_outside_with_corner_results_has_no_xywh_hint():
    # VOC devkit results already hold x1 y1 x2 y2: the XYWH/XYXY hint (and its re-scoring) is wrong there
    gt, dets = clean_case()
    for d in dets:
        x, y, w, h = d["bbox"]
        d["bbox"] = [x, y, x + w, y + h]
    ds = parse_gt(gt, "gt.json")
    f = {x["code"]: x for x in lint(ds, parse_results(dets, ds, "dt.json"), COCO, xywh_results=False)}["boxes_outside_image"]
    assert "XYWH" not in f["message"] and "another frame" in f["message"] and f["ap_if_bbox_were_xyxy"] is None


def run_lint_ap_coco(gt, dets):
    ds = parse_gt(gt, "gt.json")
    return evaluate(ds, parse_results(dets, ds, "dt.json"), COCO).metrics["AP"]


def test_misread_is_the_inverse_of_the_bug():
    gt, dets = clean_case()
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    bug = copy.deepcopy(dets)
    for d in bug:
        x, y, w, h = d["bbox"]
        d["bbox"] = [x, y, x + w, y + h]
    np.testing.assert_allclose(as_xyxy_misread(parse_results(bug, ds, "dt.json")).xyxy, det.xyxy)


def test_absent_categories_fire():
    gt, dets = clean_case()
    gt["categories"].append({"id": 9, "name": "ghost"})
    dets.append({"image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5], "score": 0.5})
    f = run_lint(gt, dets)["categories_absent_from_gt"]
    assert f["categories"] == ["ghost"] and f["detections"] == 1


def test_images_without_detections_fire():
    gt, dets = clean_case()
    dropped = [d for d in dets if d["image_id"] != 2]
    f = run_lint(gt, dropped)["images_without_detections"]
    assert f["images"] == 1 and f["ground_truth"] == sum(a["image_id"] == 2 for a in gt["annotations"])
    gt["images"].append({"id": 99, "width": 10, "height": 10})  # no ground truth, no detection: fine
    assert "images_without_detections" not in run_lint(gt, dets)
