"""Mask AP (iou_type="segm") equals pycocotools COCOeval(iouType='segm') and lvis-api
LVISEval(iou_type='segm'), stat for stat, on generated and real cases."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from mask_cases import mask_case
from oracles import COCO_STATS, assert_lvis_equal, lvis_eval, pycocotools_eval
from pycocotools import mask as cmask

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.errors import InputError
from bench.metrics.core import evaluate
from bench.metrics.files import evaluate_files
from bench.protocols import COCO, LVIS

TOL = 1e-9
EMBEDDED = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini" / "instances_val2017_mini.json"


def ours(gt, dets, protocol=COCO):
    ds = parse_gt(gt, "gt.json")
    return evaluate(ds, parse_results(dets, ds, "dt.json", masks=True), protocol, iou_type="segm")


def assert_coco_equal(gt, dets):
    ref = pycocotools_eval(gt, dets, iou_type="segm")
    res = ours(gt, dets)
    got = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(got, ref.stats, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.precision, ref.eval["precision"], rtol=0, atol=TOL)
    return res


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 4), n_cat=st.integers(1, 4),
       bbox=st.sampled_from(["all", "none"]), tie_scores=st.booleans())  # fmt: skip
def test_coco_segm_equals_pycocotools(seed, n_img, n_cat, bbox, tie_scores):
    """Polygons (multi-part, tiny, off the border), uncompressed crowd RLE, compressed RLE,
    empty masks, areas that are not the mask's, detections with and without boxes."""
    gt, dets = mask_case(seed, n_img, n_cat, bbox=bbox, tie_scores=tie_scores)
    assume(dets)  # loadRes cannot take an empty list
    assert_coco_equal(gt, dets)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 4), n_cat=st.integers(1, 5),
       bbox=st.sampled_from(["all", "none"]), cap=st.sampled_from([300, 4]))  # fmt: skip
def test_lvis_segm_equals_lvis_api(seed, n_img, n_cat, bbox, cap):
    """Federated lists, zero-area annotations, empty masks (zero area without a box), the cap."""
    gt, dets = mask_case(seed, n_img, n_cat, lvis=True, bbox=bbox)
    assume(dets)
    ref = lvis_eval(gt, dets, max_dets=cap, iou_type="segm")
    ds = parse_gt(gt, "lvis.json")
    res = evaluate(ds, parse_results(dets, ds, "dt.json", masks=True), LVIS.with_(max_dets_per_image=cap), "segm")
    assert_lvis_equal(res, ref, cap, TOL)


def test_image_with_hundreds_of_instances():
    gt, dets = mask_case(7, n_img=2, n_cat=3, crowded=300, bbox="none")
    assert sum(a["image_id"] == gt["images"][0]["id"] for a in gt["annotations"]) == 300
    assert_coco_equal(gt, dets)


def _embedded_results(gt: dict, seed: int) -> list:
    """Detections from the real annotations' masks: shifted, noisy, re-scored, some dropped."""
    rng = np.random.default_rng(seed)
    coco_gt = copy.deepcopy(gt)
    from pycocotools.coco import COCO as Coco

    c = Coco()
    c.dataset = coco_gt
    c.createIndex()
    dets = []
    for a in gt["annotations"]:
        if rng.random() < 0.2:
            continue
        m = c.annToMask(a)
        m = np.roll(m, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
        m = np.asfortranarray(m ^ (rng.random(m.shape) < 0.01)).astype(np.uint8)
        r = cmask.encode(np.asfortranarray(m))
        cat = a["category_id"] if rng.random() < 0.9 else gt["categories"][int(rng.integers(len(gt["categories"])))]["id"]
        dets.append({"image_id": a["image_id"], "category_id": cat, "score": float(rng.random()),
                     "segmentation": {"size": r["size"], "counts": r["counts"].decode()}})  # fmt: skip
    return dets


def test_embedded_real_coco_subset(tmp_path):
    """Official val2017 polygons and crowd RLE, through the files and the CLI's function."""
    gt = json.loads(EMBEDDED.read_text())
    assert any(a["iscrowd"] for a in gt["annotations"]) and any(isinstance(a["segmentation"], list) for a in gt["annotations"])
    dets = _embedded_results(gt, 0)
    ref = pycocotools_eval(gt, dets, iou_type="segm")
    path = tmp_path / "dt.json"
    path.write_text(json.dumps(dets))
    res = evaluate_files(str(EMBEDDED), str(path), iou_type="segm")
    got = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(got, ref.stats, rtol=0, atol=TOL)
    assert res.to_dict()["iou_type"] == "segm"
    with pytest.raises(InputError) as err:  # no boxes in the file: bbox cannot be scored
        evaluate_files(str(EMBEDDED), str(path))
    assert (err.value.record, err.value.field) == ("detections[0]", "bbox")


def test_ground_truth_masks_equal_ann_to_rle():
    from pycocotools.coco import COCO as Coco

    gt = json.loads(EMBEDDED.read_text())
    c = Coco()
    c.dataset = copy.deepcopy(gt)
    c.createIndex()
    ds = parse_gt(gt, "gt.json")
    expected = [c.annToRLE(a) for a in gt["annotations"]]
    assert ds.boxes.segmentation.to_dicts() == [{"size": list(r["size"]), "counts": r["counts"]} for r in expected]


def _case():
    gt, dets = mask_case(3, n_img=2, n_cat=2, bbox="none")
    assert dets
    return gt, dets


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda gt, d: d[0].pop("segmentation"), "segmentation"),
        (lambda gt, d: d[0]["segmentation"].update(counts="\x7f"), "segmentation.counts"),
        (lambda gt, d: d[0]["segmentation"].update(counts="1"), "segmentation.counts"),
        (lambda gt, d: d[0]["segmentation"].update(size=[1, 1]), "segmentation.size"),
        (lambda gt, d: d[0]["segmentation"].update(size=["3", 4]), "segmentation.size"),
        (lambda gt, d: d[0].update(segmentation=[[1, 2, 3, 4, 5, 6]]), "segmentation"),
        (lambda gt, d: gt["annotations"][0].update(segmentation=[]), "segmentation"),
        (lambda gt, d: gt["annotations"][0].update(segmentation=[[1, 2, 3, 4]]), "segmentation"),
        (lambda gt, d: gt["annotations"][0].update(segmentation=[[1, 2, "3", 4, 5, 6]]), "segmentation"),
        (lambda gt, d: gt["annotations"][0].update(segmentation={"size": [2, 2], "counts": [4]}), "segmentation.size"),
        (lambda gt, d: gt["annotations"][0].update(segmentation={"size": gt["annotations"][0]["segmentation"]["size"] if isinstance(gt["annotations"][0]["segmentation"], dict) else [gt["images"][0]["height"], gt["images"][0]["width"]], "counts": [1, 2]}), "segmentation.counts"),
    ],
)  # fmt: skip
def test_bad_masks_are_errors_naming_record_and_field(mutate, field):
    gt, dets = _case()
    gt["annotations"][0]["image_id"] = gt["images"][0]["id"]
    mutate(gt, dets)
    with pytest.raises(InputError) as err:
        ours(gt, dets)
    assert err.value.field == field
    assert "[0]" in err.value.record


def test_segm_needs_masks_on_both_sides():
    gt, dets = _case()
    ds = parse_gt(gt, "gt.json")
    boxes_only = parse_results([{**d, "bbox": [0, 0, 1, 1]} for d in dets], ds, "dt.json")
    with pytest.raises(InputError, match="mask"):
        evaluate(ds, boxes_only, COCO, iou_type="segm")
    for a in gt["annotations"]:
        a.pop("segmentation")
    ds = parse_gt(gt, "gt.json")
    with pytest.raises(InputError, match="masks"):
        evaluate(ds, parse_results(dets, ds, "dt.json", masks=True), COCO, iou_type="segm")


def test_subset_of_ground_truth_masks_keeps_them_in_step():
    gt, _ = _case()
    ds = parse_gt(gt, "gt.json")
    rows = np.array([2, 0])
    full = ds.boxes.segmentation
    assert full.take(rows).to_dicts() == [full.to_dicts()[i] for i in rows]  # before conversion
    full.packed()
    assert full.take(rows).to_dicts() == [full.to_dicts()[i] for i in rows]  # after


def test_masks_from_python_score_like_the_results_file():
    """A DetectionTable built from bitmasks (bench.masks.rle.encode_masks) scores as the
    same masks written to a results file and read back."""
    from bench.data.model import DetectionTable
    from bench.masks.rle import decode, encode_masks

    gt, dets = mask_case(5, n_img=3, n_cat=2, bbox="none")
    ds = parse_gt(gt, "gt.json")
    from_file = parse_results(dets, ds, "dt.json", masks=True)
    bitmasks = [decode(d["segmentation"]).astype(bool) for d in dets]
    seg = [encode_masks(m[None])[0] for m in bitmasks]
    table = DetectionTable(from_file.image_idx, from_file.category_idx, from_file.xyxy, from_file.box_area, from_file.scores, seg)
    a = evaluate(ds, from_file, COCO, iou_type="segm").metrics
    b = evaluate(ds, table, COCO, iou_type="segm").metrics
    assert a == b


def test_cli_eval_iou_type_segm(tmp_path, capsys):
    from bench.cli.main import main

    gt, dets = mask_case(9, n_img=3, n_cat=2, bbox="all")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = tmp_path / "m.json"
    common = ["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--out", str(out)]
    assert main(common + ["--iou-type", "segm"]) == 0
    segm = json.loads(out.read_text())
    ref = pycocotools_eval(gt, dets, iou_type="segm").stats
    assert segm["iou_type"] == "segm" and abs((segm["metrics"]["AP"] or 0) - max(ref[0], 0)) <= TOL
    assert main(common) == 0  # bbox stays the default
    box = json.loads(out.read_text())
    assert box["iou_type"] == "bbox" and abs((box["metrics"]["AP"] or 0) - max(pycocotools_eval(gt, dets).stats[0], 0)) <= TOL
    capsys.readouterr()
