"""Boundary AP (``iou_type="boundary"``) against the boundary-iou-api's COCO evaluator.

The boundary-iou-api (github.com/bowenc0221/boundary-iou-api) is not on PyPI, so its algorithm is
restated here, test-only, from its source: ``mask_to_boundary`` (OpenCV erosion, dilation ratio
0.02) and ``COCOeval.computeBoundaryIoU`` (mask IoU and boundary IoU by pycocotools' ``iou``, the
smaller of the two for non-crowd ground truth), on top of pycocotools' COCOeval as that fork is.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mask_cases import mask_case
from oracles import COCO_STATS
from pycocotools import mask as mask_utils
from test_segm_equality import EMBEDDED, _embedded_results

from bench.masks import rle
from bench.masks.boundary import boundaries, boundary, dilation
from bench.metrics.files import evaluate_files


def reference_mask_to_boundary(mask, dilation_ratio=0.02):
    """boundary_iou/utils/boundary_utils.py, mask_to_boundary."""
    h, w = mask.shape
    img_diag = np.sqrt(h**2 + w**2)
    d = int(round(dilation_ratio * img_diag))
    if d < 1:
        d = 1
    new_mask = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    kernel = np.ones((3, 3), dtype=np.uint8)
    new_mask_erode = cv2.erode(new_mask, kernel, iterations=d)
    mask_erode = new_mask_erode[1 : h + 1, 1 : w + 1]
    return mask - mask_erode


def reference_boundary_eval(gt: dict, dets: list):
    """The fork's COCOeval(iouType='boundary'): pycocotools' with computeBoundaryIoU."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def boundary_rle(seg):
        m = mask_utils.decode(seg)
        return mask_utils.encode(np.array(reference_mask_to_boundary(m)[:, :, None], order="F", dtype="uint8"))[0]

    class BoundaryEval(COCOeval):
        def computeIoU(self, imgId, catId):  # noqa: N802 - computeBoundaryIoU of the fork
            p = self.params
            gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
            if len(gt) == 0 and len(dt) == 0:
                return []
            inds = np.argsort([-d["score"] for d in dt], kind="mergesort")
            dt = [dt[i] for i in inds][: p.maxDets[-1]]
            iscrowd = [int(o["iscrowd"]) for o in gt]
            mask_ious = np.array(mask_utils.iou([d["segmentation"] for d in dt], [g["segmentation"] for g in gt], iscrowd))
            b_ious = np.array(mask_utils.iou([boundary_rle(d["segmentation"]) for d in dt],
                                             [boundary_rle(g["segmentation"]) for g in gt], iscrowd))  # fmt: skip
            iscrowd = np.array(iscrowd)
            ious = mask_ious
            if len(gt) and len(dt):
                ious[:, iscrowd == 0] = np.minimum(mask_ious[:, iscrowd == 0], b_ious[:, iscrowd == 0])
            else:
                ious = np.minimum(mask_ious, b_ious)
            return ious

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = copy.deepcopy(gt)
        cg.createIndex()
        cd = cg.loadRes(copy.deepcopy(dets))
        ev = BoundaryEval(cg, cd, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(1, 40), w=st.integers(1, 40), ratio=st.sampled_from([0.02, 0.05, 0.1, 0.3]))
def test_boundary_equals_reference_mask_to_boundary(seed, h, w, ratio):
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        y, x = rng.integers(0, h), rng.integers(0, w)
        m[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] = 1
    if rng.random() < 0.3:
        m ^= (rng.random((h, w)) < 0.2).astype(np.uint8)
    want = reference_mask_to_boundary(m, ratio).astype(bool)
    assert dilation(h, w, ratio) == max(1, int(round(ratio * np.sqrt(h**2 + w**2))))
    np.testing.assert_array_equal(boundary(m.astype(bool), dilation(h, w, ratio)), want)
    packed = boundaries(rle.pack([mask_utils.encode(np.asfortranarray(m))]), ratio)
    assert packed.to_dicts()[0]["counts"] == mask_utils.encode(np.asfortranarray(want.astype(np.uint8)))["counts"]


def _compare(tmp_path, gt, dets):
    ref = reference_boundary_eval(gt, dets)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    res = evaluate_files(str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "coco", iou_type="boundary")
    got = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(got, ref.stats, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(res.precision, ref.eval["precision"])
    return res, ref


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("native", ["1", "0"])
def test_boundary_ap_equals_reference_on_generated_masks(tmp_path, monkeypatch, seed, native):
    monkeypatch.setenv("DETBENCH_NATIVE", native)
    gt, dets = mask_case(seed, n_img=3, n_cat=3, bbox=("all", "none")[seed % 2])
    if not dets:
        pytest.skip("no detections drawn")
    _compare(tmp_path, gt, dets)


def test_boundary_ap_equals_reference_on_real_masks(tmp_path):
    """The embedded val2017 subset's real polygons and crowd RLE; detections perturb them."""
    gt = json.loads(EMBEDDED.read_text())
    gt["images"] = gt["images"][:30]
    keep = {i["id"] for i in gt["images"]}
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
    res, ref = _compare(tmp_path, gt, _embedded_results(gt, 1))
    segm = evaluate_files(str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "coco", iou_type="segm")
    assert res.metrics["AP"] < segm.metrics["AP"]  # boundaries are harder to match than masks
