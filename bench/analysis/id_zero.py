"""Ground-truth annotations whose ``id`` is 0, scored as pycocotools, lvis-api and faster-coco-eval do.

Those tools record matches in tables of annotation ids where 0 means "no match" (COCOeval's
``dtm``, LVISEval's ``dt_m``): a detection matched to an annotation with id 0 is stored as
unmatched, so it counts as a false positive (ignored, as unmatched detections are, where its area
is outside the area range scored or, LVIS, its class not exhaustively annotated), while the annotation is still taken (no other
detection can match it) and still counted as an object to find. detbench scores the intended
value (the match is a true positive, as hotcoco and supervision do); this module scores the
quirk honestly, for the lint and ``bench explain``: the same prepared detections and match table
as :func:`bench.metrics.core.evaluate`, with each such match turned into a false positive.
The matches are found again, for the (image, category) groups holding an id-0 annotation only,
by pycocotools' greedy rule (``COCOeval.evaluateImg``) on the core's IoU function.

Box IoU only (``iou_type`` "bbox"); COCO-style (101-point) protocols with pycocotools matching.
"""

from __future__ import annotations

import numpy as np

from bench.data.model import Dataset, DetectionTable
from bench.metrics import backend
from bench.metrics.codes import FP, IGNORED, TP
from bench.metrics.core import _bounds, _by_score_then, count_positives, gt_area, match, prepare
from bench.metrics.kernels import _iou
from bench.metrics.result import EvalResult, MatchTable, summarize
from bench.protocols import EvalProtocol


def id_zero_rows(ds: Dataset) -> np.ndarray:
    """Rows (file positions) of the ground-truth annotations whose id is 0, int64 ``[N]``."""
    if ds.format not in ("coco", "lvis"):  # VOC annotations get their ids from detbench (1, 2, ...)
        return np.zeros(0, np.int64)
    return np.flatnonzero(ds.boxes.ids == 0)


def applies(p: EvalProtocol, iou_type: str) -> bool:
    """Whether :func:`evaluate_as_pycocotools` can score this protocol."""
    return iou_type == "bbox" and p.interpolation == "coco101" and p.matching == "greedy" and p.category_groups is None


def _flips(ds: Dataset, det: DetectionTable, p: EvalProtocol, prep) -> list[tuple[int, int, int, int]]:
    """(prepared detection position, area range, IoU threshold, new status) of every match to a
    non-ignored id-0 annotation, by pycocotools' greedy rule; the new status is what the tools
    give an unmatched detection: a false positive, or ignored where its area is outside the range."""
    b = ds.boxes
    n_cat = len(ds.categories)
    g_rows, d_rows = prep.gt_rows, prep.dt_rows
    gt_key = b.image_idx[g_rows] * n_cat + b.category_idx[g_rows]
    dt_key = det.image_idx[d_rows] * n_cat + det.category_idx[d_rows]
    thrs = np.asarray(p.iou_thresholds, np.float64)
    if p.iou_strict:
        thrs = np.nextafter(thrs, np.inf)
    area = gt_area(ds, p)
    out = []
    for key in np.unique(gt_key[b.ids[g_rows] == 0]):
        gs, ge = np.searchsorted(gt_key, key, "left"), np.searchsorted(gt_key, key, "right")
        ds_, de = np.searchsorted(dt_key, key, "left"), np.searchsorted(dt_key, key, "right")
        g, d = g_rows[gs:ge], d_rows[ds_:de]  # ground truth in file order; detections by -score, file order
        crowd = prep.gt_crowd[gs:ge]
        ious = np.array([[_iou(j, k, det.xyxy, det.box_area, b.xyxy, b.box_area, bool(crowd[gi])) for gi, k in enumerate(g)] for j in d])
        for a, (_, lo, hi) in enumerate(p.area_ranges):
            ignored = prep.gt_ignored[gs:ge] | (area[g] < lo) | (area[g] > hi)
            order = np.argsort(ignored, kind="stable")  # pycocotools: ignored ground truth last
            for t, thr in enumerate(thrs):
                taken = np.zeros(len(g), bool)
                for jd in range(len(d)):
                    best, m = min(thr, 1 - 1e-10), -1
                    for gi in order:
                        if taken[gi] and not crowd[gi]:
                            continue
                        if m > -1 and not ignored[m] and ignored[gi]:
                            break
                        if ious[jd, gi] < best:
                            continue
                        best, m = ious[jd, gi], gi
                    if m == -1:
                        continue
                    taken[m] = True
                    if b.ids[g[m]] == 0 and not ignored[m]:  # stored as unmatched: outside the range it is ignored
                        outside = det.box_area[d[jd]] < lo or det.box_area[d[jd]] > hi  # (LVIS: or not exhaustive)
                        out.append((ds_ + jd, a, t, IGNORED if outside or prep.dt_unmatched_ignored[ds_ + jd] else FP))
    return out


def evaluate_as_pycocotools(ds: Dataset, det: DetectionTable, p: EvalProtocol) -> EvalResult:
    """``evaluate(ds, det, p)`` with each match to a non-ignored id-0 annotation counted as a
    false positive (the annotation still taken and still counted): the value pycocotools,
    lvis-api and faster-coco-eval give. Box IoU, COCO-style protocols (:func:`applies`)."""
    if not applies(p, "bbox"):
        raise ValueError(f"the id-0 quirk is scored for COCO-style box protocols with pycocotools matching, not {p.name!r}")
    prep = prepare(ds, det, p)
    npos = count_positives(ds, p, prep)
    n_cat = len(ds.categories)
    cat, scores = det.category_idx[prep.dt_rows], det.scores[prep.dt_rows]
    acc = prep.acc_order if prep.acc_order is not None else _by_score_then(scores, [(cat, n_cat)])
    pos = np.empty(len(acc), np.int64)
    pos[acc] = np.arange(len(acc))
    status = match(ds, det, p, prep, "bbox", out_pos=pos)  # [D, A, T], accumulation order
    for j, a, t, code in _flips(ds, det, p, prep):
        if status[pos[j], a, t] != TP:  # the core's match differs from the greedy rule: never guess
            raise AssertionError(f"detection {int(prep.dt_rows[j])}: the core did not match it at area {a}, IoU {t}")
        status[pos[j], a, t] = code
    cat, rank = cat[acc], prep.dt_rank[acc]
    cat_start, cat_end = _bounds(cat, np.arange(n_cat))
    max_dets = np.array([np.iinfo(np.int64).max if m is None else m for m in p.max_dets], np.int64)
    precision, recall, ap = backend.accumulate_coco(status, rank, cat_start, cat_end, npos, max_dets, np.asarray(p.recall_thresholds, np.float64))
    table = MatchTable(np.ascontiguousarray(status[:, 0, :].T), scores[acc], cat_start, cat_end, npos[:, 0])
    return summarize(ds, p, precision, ap, np.where(recall > -1, recall, np.nan), npos, table, n_detections=len(det))
