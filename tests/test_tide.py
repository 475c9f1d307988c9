"""TIDE main errors (bench.analysis.tide) equal tidecv's get_main_errors() on generated cases."""

from __future__ import annotations

import pytest
from cases import coco_case
from tide_shim import tidecv_main_errors

from bench.analysis.tide import TYPES, tide
from bench.data.coco import parse_gt
from bench.data.results import parse_results


def _ours(gt, dets):
    ds = parse_gt(gt, "gt.json")
    return tide(ds, parse_results(dets, ds, "dt.json"))


# continuous coordinates (an exact crowd-IoU of 0.5, where tidecv's ">" and pycocotools' ">="
# differ, cannot occur); tied scores on every other case; > 100 detections per image on some
@pytest.mark.parametrize("seed", range(40))
def test_equal_to_tidecv(seed):
    many = seed % 8 == 7
    gt, dets = coco_case(seed, n_img=3 if many else 5, n_cat=4, integer=False, tie_scores=seed % 2 == 0,
                         max_dt=160 if many else 30, max_gt=12 if many else 6)  # fmt: skip
    if not dets:
        pytest.skip("no detections")
    ap, ref = tidecv_main_errors(gt, dets)
    got = _ours(gt, dets)
    assert got.ap == pytest.approx(ap, abs=1e-9)
    assert set(got.main) == set(TYPES) == set(ref)
    for k in TYPES:
        assert got.main[k] == pytest.approx(ref[k], abs=1e-9), k


def test_hand_worked_types():
    """One image, classes a/b: each detection built to be one error type."""
    gt = {"images": [{"id": 1, "width": 100, "height": 100}, {"id": 2, "width": 100, "height": 100}],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 50, 10, 10], "area": 100, "iscrowd": 0},
                          {"id": 3, "image_id": 1, "category_id": 1, "bbox": [80, 0, 10, 10], "area": 100, "iscrowd": 0}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},    # TP of gt 1
            {"image_id": 1, "category_id": 1, "bbox": [0.5, 0, 10, 10], "score": 0.8},  # Dupe of gt 1
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.7},  # Cls: on the b box
            {"image_id": 1, "category_id": 1, "bbox": [84, 0, 10, 10], "score": 0.6},   # Loc: IoU 0.43 with gt 3
            {"image_id": 1, "category_id": 1, "bbox": [30, 30, 5, 5], "score": 0.5},    # Bkg
            {"image_id": 2, "category_id": 2, "bbox": [30, 30, 5, 5], "score": 0.4}]    # Bkg: image without GT
    got = _ours(gt, dets)
    assert got.counts == {"Cls": 1, "Loc": 1, "Both": 0, "Dupe": 1, "Bkg": 2, "Miss": 0}
    ap, ref = tidecv_main_errors(gt, dets)
    assert got.ap == pytest.approx(ap) and all(got.main[k] == pytest.approx(ref[k]) for k in TYPES)


def test_other_protocols_and_no_detections():
    from bench.data.model import DetectionTable
    from bench.protocols import LVIS, VOC12

    gt, dets = coco_case(3, n_img=6, lvis=True, integer=False)
    ds = parse_gt(gt, "gt.json", "lvis")
    det = parse_results(dets, ds, "dt.json")
    for p in (LVIS, VOC12.with_(gt_ignore="ignore")):
        r = tide(ds, det, p)
        assert set(r.main) == set(TYPES) and all(v >= 0 for v in r.main.values())
    gt, _ = coco_case(4, n_img=4)
    ds = parse_gt(gt, "gt.json")
    r = tide(ds, DetectionTable.empty())
    assert r.ap == 0.0 and r.counts["Miss"] == int((~ds.boxes.iscrowd).sum()) and r.main["Miss"] == 0.0
