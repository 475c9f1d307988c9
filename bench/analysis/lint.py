"""The evaluation-setup linter: traps that silently change AP, each with the number it affects.

``lint(ds, det, protocol, result)`` returns findings, each a dict ``{"code", "message", ...numbers}``;
only the checks that fire are returned. Detections are XYXY absolute pixels (the core's
:class:`DetectionTable`); AP values are fractions in [0, 1].

codes: score_threshold, max_dets, tied_scores, gt_missing_fields, boxes_outside_image,
categories_absent_from_gt, images_without_detections, gt_id_zero.
"""

from __future__ import annotations

import numpy as np

from bench.data.model import Dataset, DetectionTable
from bench.fmt import pts
from bench.metrics import backend
from bench.metrics.codes import IGNORED
from bench.metrics.core import UNLIMITED, evaluate
from bench.metrics.result import EvalResult, MatchTable
from bench.protocols import EvalProtocol

THRESHOLD_MIN_SCORE = 0.05  # torchvision's default box_score_thresh; detbench evaluates from 0.001
FEW_DETECTIONS_RATIO = 2.0  # fewer detections per image than this many times the objects per image
TIE_FRACTION = 0.05
TIE_AP_GAP = 0.001  # 0.1 AP points between the two ways of breaking ties
MAX_DETS_MIN_GAIN = 0.0005  # 0.05 AP points: a smaller gain without the cap is not reported
OUTSIDE_FRACTION = 0.01
OUTSIDE_TOLERANCE = 0.02  # of the image side (at least 2 px): unclipped boxes may overhang a little


def _finding(code: str, message: str, **numbers) -> dict:
    return {"code": code, "message": message, **numbers}


def _pts(v: float | None) -> str:
    return pts(v, 2)


def check_score_threshold(ds: Dataset, det: DetectionTable) -> list[dict]:
    """A score threshold before evaluation cuts the PR curve's tail (AP can only go down). Fires
    only when the lowest score is at least ``THRESHOLD_MIN_SCORE``: few detections per image with
    low scores present is a sparse detector, not a threshold."""
    if len(det) == 0:
        return []
    min_score = float(det.scores.min())
    if min_score < THRESHOLD_MIN_SCORE:
        return []
    per_image = len(det) / max(len(ds.images), 1)
    gt_per_image = len(ds.boxes) / max(len(ds.images), 1)
    why = f"the lowest score is {min_score:.3f}"
    if per_image < FEW_DETECTIONS_RATIO * gt_per_image:
        why += f" and there are {per_image:.1f} detections per image for {gt_per_image:.1f} objects"
    return [_finding("score_threshold", f"a score threshold seems applied before evaluation: {why}; the PR curve is cut and AP "
                     "is lower than the detector's (evaluate with a threshold of 0.001 or lower)",
                     min_score=min_score, detections_per_image=per_image, gt_per_image=gt_per_image)]  # fmt: skip


def _over_cap(keys: np.ndarray, cap: int) -> int:
    counts = np.unique(keys, return_counts=True)[1]
    return int(np.maximum(counts - cap, 0).sum())


def check_max_dets(ds: Dataset, det: DetectionTable, p: EvalProtocol, result: EvalResult) -> list[dict]:
    """Detections beyond the protocol's cap, and the AP scored without the cap."""
    if p.max_dets_per_image is not None:
        dropped, uncapped, cap = _over_cap(det.image_idx, p.max_dets_per_image), p.with_(max_dets_per_image=None), f"{p.max_dets_per_image} per image"
    elif p.max_dets_last is not None:
        key = det.image_idx * len(ds.categories) + det.category_idx
        unit = "image" if p.max_dets_scope == "image" else "image and category"
        dropped = _over_cap(det.image_idx if p.max_dets_scope == "image" else key, p.max_dets_last)
        uncapped, cap = p.with_(max_dets=(*p.max_dets[:-1], None)), f"{p.max_dets_last} per {unit}"
    else:
        return []
    if dropped == 0:
        return []
    key = "AP" if p.coco_style else "mAP"
    with_cap, without = result.metrics[key], evaluate(ds, det, uncapped, result.iou_type).metrics[key]
    gain = None if with_cap is None or without is None else without - with_cap
    if gain is not None and gain < MAX_DETS_MIN_GAIN:  # the cap costs nothing that shows
        return []
    return [_finding("max_dets", f"{dropped} detections ({dropped / len(det):.1%}) are dropped by the cap of {cap}; "
                     f"{key} {_pts(with_cap)} with the cap, {_pts(without)} without it",
                     dropped=dropped, fraction=dropped / len(det), cap=cap, ap_with_cap=with_cap, ap_without_cap=without,
                     ap_gain=gain)]  # fmt: skip


def tied_fraction(table: MatchTable) -> float:
    """Share of detections whose score equals a neighbour's in the same category."""
    s = table.scores
    if len(s) < 2:
        return 0.0
    cat = np.repeat(np.arange(len(table.cat_start)), table.cat_end - table.cat_start)
    eq = (s[1:] == s[:-1]) & (cat[1:] == cat[:-1])
    tied = np.zeros(len(s), bool)
    tied[1:] |= eq
    tied[:-1] |= eq
    return float(tied.mean())


def tie_bounds(table: MatchTable, p: EvalProtocol) -> tuple[float | None, float | None]:
    """(pessimistic, optimistic) AP: tied detections of a category ordered false positives first,
    or true positives first, at each IoU threshold; matches stay as the core made them.
    COCO-style (101-point) protocols only."""
    cat = np.repeat(np.arange(len(table.cat_start)), table.cat_end - table.cat_start)
    s = table.scores[: len(cat)]
    # runs of equal (category, score): the table is in (category, -score) order, so reordering
    # inside a run by status is the lexsort((rank, -score, category)); a run's statuses are then
    # just its counts of each kind, laid out in rank order (np.repeat, linear time)
    run = np.cumsum(np.r_[0, (cat[1:] != cat[:-1]) | (s[1:] != s[:-1])]) if len(cat) else np.zeros(0, np.int64)
    n_runs = int(run[-1]) + 1 if len(run) else 0
    out = []
    for first in (0, 1):  # FP first (pessimistic), TP first (optimistic); ignored in between
        aps = []
        for t in range(table.status.shape[0]):
            st = table.status[t][: len(cat)]
            rank_key = np.where(st == first, 0, np.where(st == IGNORED, 1, 2))
            counts = np.bincount(run * 3 + rank_key, minlength=3 * n_runs)
            in_rank_order = np.repeat(np.tile(np.array([first, IGNORED, 1 - first], np.int8), n_runs), counts)
            _, _, ap = backend.accumulate_coco(
                in_rank_order[:, None, None], np.zeros(len(cat), np.int64), table.cat_start, table.cat_end,
                table.npos[:, None], np.array([UNLIMITED], np.int64), np.asarray(p.recall_thresholds, np.float64),
            )  # fmt: skip
            aps.append(ap[0, :, 0, 0])
        a = np.array(aps)
        out.append(float(np.nanmean(a)) if np.isfinite(a).any() else None)
    return out[0], out[1]


def check_tied_scores(result: EvalResult, p: EvalProtocol) -> list[dict]:
    frac = tied_fraction(result.table)
    if frac == 0.0:
        return []
    low = high = None
    if p.interpolation == "coco101":
        low, high = tie_bounds(result.table, p)
    gap = None if low is None or high is None else high - low
    if frac <= TIE_FRACTION and (gap is None or gap < TIE_AP_GAP):
        return []
    bounds = f"; AP lies between {_pts(low)} (false positives first) and {_pts(high)} (true positives first)" if gap is not None else ""
    return [_finding("tied_scores", f"{frac:.1%} of detections share their score with another of the same category, so the "
                     f"order of the results file decides AP{bounds}", fraction=frac, ap_pessimistic=low, ap_optimistic=high)]  # fmt: skip


def check_gt_fields(ds: Dataset) -> list[dict]:
    out = []
    for name, n in sorted(ds.missing_fields.items()):
        if n:
            effect = {"area": "their box area stands in for the small/medium/large ranges",
                      "bbox": "their masks' bounding boxes stand in (mask AP is unaffected; box AP is not pycocotools')"}.get(
                name, "they count as not crowd (pycocotools would stop with a KeyError)")  # fmt: skip
            out.append(_finding("gt_missing_fields", f"{n} of {len(ds.boxes)} ground-truth annotations have no '{name}' field; {effect}",
                                field=name, count=n, fraction=n / max(len(ds.boxes), 1)))  # fmt: skip
    return out


def _outside(xyxy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    known = (w > 0) & (h > 0)
    tw, th = np.maximum(2.0, OUTSIDE_TOLERANCE * w), np.maximum(2.0, OUTSIDE_TOLERANCE * h)
    out = (xyxy[:, 0] < -tw) | (xyxy[:, 1] < -th) | (xyxy[:, 2] > w + tw) | (xyxy[:, 3] > h + th)
    return out & known


def as_xyxy_misread(det: DetectionTable) -> DetectionTable:
    """The detections if their ``[x, y, w, h]`` had been written as ``[x1, y1, x2, y2]``."""
    x1, y1 = det.xyxy[:, 0], det.xyxy[:, 1]
    w, h = np.maximum(det.xyxy[:, 2] - x1 - x1, 0.0), np.maximum(det.xyxy[:, 3] - y1 - y1, 0.0)
    xyxy = np.stack([x1, y1, x1 + w, y1 + h], axis=1)
    return DetectionTable(det.image_idx, det.category_idx, xyxy, w * h, det.scores)


def check_boxes_outside(ds: Dataset, det: DetectionTable, p: EvalProtocol, result: EvalResult, xywh_results: bool = True) -> list[dict]:
    """Boxes beyond the image: with COCO results (``bbox`` is [x, y, w, h]) a sign of XYWH written
    as XYXY, whose effect is measured; with corner boxes (VOC devkit files, ``xywh_results``
    False) or masks, a sign of another coordinate frame (normalised, resized or swapped axes)."""
    if len(det) == 0:
        return []
    w, h = ds.images.widths.astype(np.float64), ds.images.heights.astype(np.float64)
    n = int(_outside(det.xyxy, w[det.image_idx], h[det.image_idx]).sum())
    n_gt = int(_outside(ds.boxes.xyxy, w[ds.boxes.image_idx], h[ds.boxes.image_idx]).sum())
    if n / len(det) < OUTSIDE_FRACTION and n_gt == 0:
        return []
    key = "AP" if p.coco_style else "mAP"
    head = f"{n} detections ({n / len(det):.1%}) and {n_gt} ground-truth boxes reach beyond their image"
    if not xywh_results or result.iou_type != "bbox":
        return [_finding("boxes_outside_image", f"{head}: the coordinates may be in another frame (normalised, from resized images, "
                         "or x/y swapped)", detections=n, fraction=n / len(det), ground_truth=n_gt,
                         ap_as_given=result.metrics[key], ap_if_bbox_were_xyxy=None)]  # fmt: skip
    misread = evaluate(ds, as_xyxy_misread(det), p).metrics[key]
    return [_finding("boxes_outside_image", f"{head}, a sign of XYWH/XYXY confusion; {key} {_pts(result.metrics[key])} as given, "
                     f"{_pts(misread)} if the results' bbox held [x1, y1, x2, y2]", detections=n, fraction=n / len(det),
                     ground_truth=n_gt, ap_as_given=result.metrics[key], ap_if_bbox_were_xyxy=misread)]  # fmt: skip


def check_absent_categories(ds: Dataset, det: DetectionTable) -> list[dict]:
    n_gt = np.bincount(ds.boxes.category_idx, minlength=len(ds.categories))
    n_dt = np.bincount(det.category_idx, minlength=len(ds.categories))
    absent = np.flatnonzero((n_gt == 0) & (n_dt > 0))
    if len(absent) == 0:
        return []
    names = [ds.categories.names[k] for k in absent]
    n = int(n_dt[absent].sum())
    return [_finding("categories_absent_from_gt", f"{len(absent)} categories are predicted but have no ground truth "
                     f"({', '.join(names[:5])}{' ...' if len(names) > 5 else ''}): their {n} detections score in no AP "
                     "(a label-map mismatch, or ground truth covering only some classes)", categories=names, detections=n)]  # fmt: skip


def check_images_without_detections(ds: Dataset, det: DetectionTable) -> list[dict]:
    has_det = np.zeros(len(ds.images), bool)
    has_det[det.image_idx] = True
    gt_per_image = np.bincount(ds.boxes.image_idx, minlength=len(ds.images))
    empty = ~has_det & (gt_per_image > 0)
    n = int(empty.sum())
    if n == 0:
        return []
    n_gt = int(gt_per_image[empty].sum())
    with_gt = int((gt_per_image > 0).sum())
    return [_finding("images_without_detections", f"{n} of {with_gt} images with ground truth have no detection at all "
                     f"({n_gt} object{'s' if n_gt != 1 else ''}, {n_gt / max(len(ds.boxes), 1):.1%} of the ground truth, never found): "
                     "missing predictions, or image ids that do not match", images=n, images_with_ground_truth=with_gt, ground_truth=n_gt)]  # fmt: skip


def check_gt_id_zero(ds: Dataset, det: DetectionTable, p: EvalProtocol, result: EvalResult) -> list[dict]:
    """Ground-truth annotations with id 0: detbench's value and the one pycocotools, lvis-api and
    faster-coco-eval give (they take id 0 for "no match"), scored by :mod:`bench.analysis.id_zero`."""
    from bench.analysis.id_zero import applies, evaluate_as_pycocotools, id_zero_rows

    rows = id_zero_rows(ds)
    if len(rows) == 0:
        return []
    b = ds.boxes
    key = "AP" if p.coco_style else "mAP"
    ours = result.metrics[key]
    quirk = evaluate_as_pycocotools(ds, det, p).metrics[key] if applies(p, result.iou_type) else None
    where = ", ".join(f"image {ds.images.keys[b.image_idx[i]]} {ds.categories.names[b.category_idx[i]]!r}" for i in rows[:5])
    theirs = (f"{key} {_pts(quirk)} with them" if quirk is not None
              else f"their value is not computed for {result.iou_type} under {p.name}")  # fmt: skip
    return [_finding("gt_id_zero", f"{len(rows)} ground-truth annotation{'s have' if len(rows) != 1 else ' has'} id 0 ({where}"
                     f"{' ...' if len(rows) > 5 else ''}): detbench matches {'them' if len(rows) != 1 else 'it'} like any other, "
                     f"{key} {_pts(ours)}; pycocotools, lvis-api and faster-coco-eval read id 0 as 'no match', so a detection "
                     f"of it counts as a false positive and it is never found: {theirs}. Number annotation ids from 1 to agree "
                     "with every tool", annotations=len(rows), images=sorted({ds.images.keys[i] for i in b.image_idx[rows]}),
                     ap_detbench=ours, ap_pycocotools=quirk)]  # fmt: skip


def lint(ds: Dataset, det: DetectionTable, p: EvalProtocol, result: EvalResult | None = None, xywh_results: bool = True) -> list[dict]:
    """Every check that fires, in a fixed order. ``result``: ``evaluate(ds, det, p)`` if already done;
    ``xywh_results``: the results file's boxes were [x, y, w, h] (COCO), not corners (VOC devkit)."""
    result = result if result is not None else evaluate(ds, det, p)
    return [
        *check_score_threshold(ds, det), *check_max_dets(ds, det, p, result), *check_tied_scores(result, p),
        *check_gt_fields(ds), *check_boxes_outside(ds, det, p, result, xywh_results), *check_absent_categories(ds, det),
        *check_images_without_detections(ds, det), *check_gt_id_zero(ds, det, p, result),
    ]  # fmt: skip


def format_lint(findings: list[dict]) -> str:
    return "\n".join(f"lint [{f['code']}]: {f['message']}" for f in findings)
