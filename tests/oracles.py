"""The reference tools as test oracles: pycocotools, lvis-api and a transcription of the
VOC devkit's VOCevaldet.m / VOCap.m. Test-only code."""

from __future__ import annotations

import contextlib
import copy
import io
import logging

import numpy as np

if not hasattr(np, "float"):  # lvis-api 0.5.3 still uses np.float, removed from numpy
    np.float = float

COCO_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
LVIS_KEYS = {"AP": "AP", "AP50": "AP50", "AP75": "AP75", "APs": "APs", "APm": "APm", "APl": "APl",
             "APr": "APr", "APc": "APc", "APf": "APf", "AR@300": "AR300", "ARs@300": "ARs",
             "ARm@300": "ARm", "ARl@300": "ARl"}  # fmt: skip


def pycocotools_eval(gt: dict, dets: list, params: dict | None = None, iou_type: str = "bbox"):
    """COCOeval(iouType=iou_type) on in-memory dicts; returns the evaluator after summarize()."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = copy.deepcopy(gt)
        cg.createIndex()
        cd = cg.loadRes(copy.deepcopy(dets)) if dets else COCO()
        if not dets:  # loadRes cannot take an empty list; an empty result set scores the same
            cd.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            cd.createIndex()
        ev = COCOeval(cg, cd, iou_type)
        for k, v in (params or {}).items():
            setattr(ev.params, k, v)
        ev.evaluate()
        ev.accumulate()
        if params is None:
            ev.summarize()
    return ev


def assert_lvis_equal(res, ref, cap: int = 300, tol: float = 1e-9) -> None:
    """detbench's LVIS result ``res`` equals lvis-api's evaluator ``ref``: every statistic and
    the precision table (AR300 is AR at ``cap``)."""
    for ref_key, our_key in LVIS_KEYS.items():
        if our_key == "AR300":
            our_key = f"AR{cap}"
        got = res.metrics[our_key]
        assert abs((-1 if got is None else got) - ref.results[ref_key]) <= tol, (ref_key, got, ref.results[ref_key])
    np.testing.assert_allclose(res.precision[..., 0], ref.eval["precision"], rtol=0, atol=tol)


def lvis_eval(gt: dict, dets: list, max_dets: int = 300, iou_type: str = "bbox"):
    """LVISEval(iou_type=iou_type) with LVISResults capped at ``max_dets`` per image."""
    from lvis import LVIS, LVISEval, LVISResults

    logging.getLogger("lvis").setLevel(logging.ERROR)
    g = LVIS.__new__(LVIS)
    g.logger = logging.getLogger("lvis")
    g.dataset = copy.deepcopy(gt)
    g._create_index()
    with contextlib.redirect_stdout(io.StringIO()):
        res = LVISResults(g, copy.deepcopy(dets), max_dets=max_dets)
        ev = LVISEval(g, res, iou_type)
        ev.run()
    return ev


def matlab_colon_0_01_1() -> list[float]:
    """MATLAB's 0:0.1:1, written out by its documented colon algorithm."""
    first = [0 + k * 0.1 for k in range(6)]
    second = [1 - k * 0.1 for k in range(5)]
    out = first[:5] + [0.5] + second[::-1]
    return out


def voc_devkit_ap(gt_objects: dict, dets: list, use_07: bool, minoverlap: float = 0.5) -> float:
    """VOCevaldet.m for one class, on devkit (1-based inclusive) coordinates.

    gt_objects: image -> list of (xmin, ymin, xmax, ymax, difficult)
    dets:       list of (image, confidence, xmin, ymin, xmax, ymax), in file order
    Returns AP (NaN where the devkit's arithmetic gives NaN).
    """
    npos = sum(1 for objs in gt_objects.values() for o in objs if not o[4])
    detected = {img: [False] * len(objs) for img, objs in gt_objects.items()}
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])  # MATLAB sort is stable
    tp, fp = [], []
    for d in order:
        img, _, *bb = dets[d]
        objs = gt_objects.get(img, [])
        ovmax, jmax = -np.inf, -1
        for j, g in enumerate(objs):
            bi = [max(bb[0], g[0]), max(bb[1], g[1]), min(bb[2], g[2]), min(bb[3], g[3])]
            iw = bi[2] - bi[0] + 1
            ih = bi[3] - bi[1] + 1
            if iw > 0 and ih > 0:
                ua = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + (g[2] - g[0] + 1) * (g[3] - g[1] + 1) - iw * ih
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax, jmax = ov, j
        t = f = 0
        if ovmax >= minoverlap:
            if not objs[jmax][4]:
                if not detected[img][jmax]:
                    t = 1
                    detected[img][jmax] = True
                else:
                    f = 1
        else:
            f = 1
        tp.append(t)
        fp.append(f)
    tp = np.cumsum(tp, dtype=np.float64)
    fp = np.cumsum(fp, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rec = tp / npos
        prec = tp / (fp + tp)
    if use_07:
        ap = 0.0
        for t in matlab_colon_0_01_1():
            sel = prec[rec >= t]
            if sel.size == 0:
                p = 0.0
            else:
                p = np.nan if np.all(np.isnan(sel)) else np.nanmax(sel)
            ap = ap + p / 11
        return ap
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = np.fmax(mpre[i], mpre[i + 1])  # MATLAB max ignores NaN
    i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))
