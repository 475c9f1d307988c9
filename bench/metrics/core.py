"""The metric core: prepare flat arrays, match once, accumulate, summarise.

``evaluate(dataset, detections, protocol)`` is the single entry point for COCO, LVIS and VOC;
every protocol difference is read from :class:`bench.protocols.EvalProtocol`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.data.model import Dataset, DetectionTable
from bench.metrics import backend
from bench.metrics.result import EvalResult, MatchTable, summarize
from bench.metrics.table_checks import check_detection_table
from bench.native.sort import argsort_desc, detection_orders, run_starts, then_by
from bench.protocols import IOU_TYPES, MATCHING, EvalProtocol, matlab_colon

UNLIMITED = np.iinfo(np.int64).max


@dataclass(frozen=True)
class _Prepared:
    """Ground truth and detections after the protocol's filters, sorted by (image, category)."""

    gt_rows: np.ndarray  # dataset box rows, sorted (image, category, file order)
    gt_ignored: np.ndarray
    gt_crowd: np.ndarray
    dt_rows: np.ndarray  # detection rows, sorted (image, category, -score, file order)
    dt_rank: np.ndarray  # place of each in its (image, category) group
    dt_unmatched_ignored: np.ndarray
    acc_order: np.ndarray | None = None  # positions in dt_rows sorted (category, -score, image, file), when known


def _group_rank(keys: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal ``keys`` (keys already grouped)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, np.int64)
    starts = run_starts(keys)
    first = np.repeat(starts, np.diff(np.r_[starts, n]))
    return np.arange(n) - first


def _by_score_then(scores: np.ndarray, keys: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """``np.lexsort((-scores, *keys))``: stable by descending score, then by each key in turn
    (the last is the primary key); ``keys`` pairs a key with its number of values. One float
    sort and a radix sort per small key, instead of lexsort's comparison sort per key."""
    order = argsort_desc(scores)
    for key, n_keys in keys:
        order = then_by(order, key, n_keys)
    return order


def _federated_keys(ds: Dataset, lists: list[np.ndarray]) -> np.ndarray:
    n_cat = len(ds.categories)
    parts = [i * n_cat + np.asarray(c, np.int64) for i, c in enumerate(lists) if len(c)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _member(values: np.ndarray, sets: list[np.ndarray], size: int) -> np.ndarray:
    """bool ``[N]``: whether each of ``values`` (ints in ``[0, size)``) is in any of ``sets``. A
    table of ``size`` flags where that fits in 64 MB (an (image, category) key space up to LVIS
    val's 24 M), else sorted unique members and a binary search."""
    if size <= 2**26:
        table = np.zeros(size, bool)
        for s in sets:
            table[s] = True
        return table[values]
    members = np.unique(np.concatenate(sets)) if sets else np.zeros(0, np.int64)
    if len(members) == 0:
        return np.zeros(len(values), bool)
    idx = np.minimum(np.searchsorted(members, values), len(members) - 1)
    return members[idx] == values


def prepare(ds: Dataset, det: DetectionTable, p: EvalProtocol) -> _Prepared:
    """Apply the protocol's filters (per-image cap, zero-area drop, federated rules) and sort."""
    b = ds.boxes
    n_cat = len(ds.categories)
    gt_rows = np.arange(len(b))
    if p.drop_crowd:  # ultralytics' COCO converter skips iscrowd annotations
        gt_rows = gt_rows[~b.iscrowd]
    if p.drop_zero_area:  # lvis-api's get_ann_ids keeps 0 < area < inf only
        gt_rows = gt_rows[(b.area > 0) & (b.area < np.inf)]
    gt_rows = gt_rows[np.lexsort((gt_rows, b.category_idx[gt_rows], b.image_idx[gt_rows]))]
    flag = ignore_flag(ds, p)
    gt_crowd = b.iscrowd[gt_rows] if p.crowd else np.zeros(len(gt_rows), bool)

    rows = np.arange(len(det))
    by_image = False
    if p.max_dets_per_category is not None:  # Fixed AP: top-k per category over the dataset, stable
        order = np.lexsort((-det.scores, det.category_idx))
        rows = np.sort(order[_group_rank(det.category_idx[order]) < p.max_dets_per_category])
    if p.max_dets_per_image is not None:  # LVISResults.limit_dets_per_image: top-k per image, stable
        # (image, -score, file position) order, from two stable sorts; 16-bit image keys sort by radix
        order = then_by(rows[argsort_desc(det.scores[rows])], det.image_idx, len(ds.images))
        rows = order[_group_rank(det.image_idx[order]) < p.max_dets_per_image]
        by_image = True  # rows stay in (image, -score, position) order
    if p.drop_zero_area:
        a = det.box_area[rows]
        rows = rows[(a > 0) & (a < np.inf)]
    dt_key = det.image_idx[rows] * n_cat + det.category_idx[rows]
    unmatched_ignored = np.zeros(len(rows), bool)
    if p.federated:
        if ds.images.neg_category_idx is None:
            raise ValueError(f"protocol {p.name!r} needs LVIS federated lists, which dataset {ds.name!r} ({ds.format}) lacks")
        present = b.image_idx[gt_rows] * n_cat + b.category_idx[gt_rows]
        keep = _member(dt_key, [present, _federated_keys(ds, ds.images.neg_category_idx)], len(ds.images) * n_cat)
        rows, dt_key = rows[keep], dt_key[keep]
        unmatched_ignored = _member(dt_key, [_federated_keys(ds, ds.images.not_exhaustive_category_idx)], len(ds.images) * n_cat)
    acc_order = None
    if by_image:  # already (image, -score, position): a stable sort by (image, category) finishes it
        order = then_by(then_by(np.arange(len(rows)), det.category_idx[rows], n_cat), det.image_idx[rows], len(ds.images))
    else:  # (image, category, -score), stable: ties keep file order (rows ascend); and on the
        # way (category, -score, image, file): the accumulation order, kept
        order, by_cat = detection_orders(det.image_idx[rows], det.category_idx[rows], det.scores[rows], len(ds.images), n_cat)
        place = np.empty(len(order), np.int64)
        place[order] = np.arange(len(order))
        acc_order = place[by_cat]
    rows, dt_key, unmatched_ignored = rows[order], dt_key[order], unmatched_ignored[order]
    rank = _group_rank(dt_key)
    if p.max_dets_scope == "image":  # place in the image's score order, across categories
        by_score = np.lexsort((rows, -det.scores[rows], det.image_idx[rows]))
        rank = np.empty(len(rows), np.int64)
        rank[by_score] = _group_rank(det.image_idx[rows][by_score])
    if p.max_dets_last is not None:  # computeIoU keeps maxDets[-1] per (image, category)
        keep = rank < p.max_dets_last
        rows, rank, unmatched_ignored = rows[keep], rank[keep], unmatched_ignored[keep]
        if acc_order is not None:  # the kept ones, renumbered
            acc_order = (np.cumsum(keep) - 1)[acc_order[keep[acc_order]]]
    return _Prepared(gt_rows, flag[gt_rows], gt_crowd, rows, rank, unmatched_ignored, acc_order)


def _bounds(sorted_keys: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.searchsorted(sorted_keys, groups, "left"), np.searchsorted(sorted_keys, groups, "right")


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) of each run of equal values in ``sorted_keys``."""
    start = run_starts(sorted_keys)
    return start, np.append(start[1:], len(sorted_keys)) if len(start) else start


def match(ds: Dataset, det: DetectionTable, p: EvalProtocol, prep: _Prepared, iou_type: str = "bbox",
          out_pos: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Status codes int8 ``[D, A, T]`` for the prepared detections (see :mod:`kernels`), the
    ``j``-th prepared detection's at row ``out_pos[j]`` (default ``j``). ``iou_type``
    "segm" takes the IoU from masks (:mod:`bench.metrics.mask_iou`), nothing else changes."""
    b = ds.boxes
    n_cat = len(ds.categories)
    g, d = prep.gt_rows, prep.dt_rows
    gt_key = b.image_idx[g] * n_cat + b.category_idx[g]
    dt_key = det.image_idx[d] * n_cat + det.category_idx[d]
    ds_, de = _runs(dt_key)  # the (image, category) groups with detections: the others match nothing
    gs, ge = _bounds(gt_key, dt_key[ds_])
    lo = np.array([r[1] for r in p.area_ranges], np.float64)
    hi = np.array([r[2] for r in p.area_ranges], np.float64)
    thrs = np.asarray(p.iou_thresholds, np.float64)
    if p.iou_strict:  # IoU > t is IoU >= the next double above t
        thrs = np.nextafter(thrs, np.inf)
    pre_iou, pre_off = np.zeros(0), np.zeros(0, np.int64)
    if iou_type != "bbox":  # masks: "segm", "boundary"
        from bench.metrics.mask_iou import iou_matrices

        pre_iou, pre_off = iou_matrices(ds, det, g, prep.gt_crowd, gs, ge, d, ds_, de, iou_type)
    return backend.match_groups(
        np.ascontiguousarray(b.xyxy[g]), b.box_area[g], gt_area(ds, p)[g], prep.gt_crowd, prep.gt_ignored, gs, ge,
        np.ascontiguousarray(det.xyxy[d]), det.box_area[d], det.box_area[d], prep.dt_unmatched_ignored, ds_, de,
        lo, hi, thrs, MATCHING.index(p.matching), pre_iou, pre_off,
        np.arange(len(d)) if out_pos is None else out_pos,
    )  # fmt: skip


def ignore_flag(ds: Dataset, p: EvalProtocol) -> np.ndarray:
    """bool ``[N]``: the ground truth the protocol ignores (crowd, ignore or difficult; none)."""
    b = ds.boxes
    return {"iscrowd": b.iscrowd, "ignore": b.ignore, "difficult": b.difficult, "none": np.zeros(len(b), bool)}[p.gt_ignore]


def gt_area(ds: Dataset, p: EvalProtocol) -> np.ndarray:
    """float64 ``[N]`` ground-truth area for the area ranges: the annotation's or the box's."""
    return ds.boxes.box_area if p.area_source == "box" else ds.boxes.area


def counted_gt(ds: Dataset, p: EvalProtocol, prep: _Prepared, a: int) -> np.ndarray:
    """Rows of the ground truth to find in area range ``a``: not ignored, area inside the range
    (both ends inclusive), in ``prep.gt_rows`` order."""
    _, lo, hi = p.area_ranges[a]
    area = gt_area(ds, p)[prep.gt_rows]
    return prep.gt_rows[~prep.gt_ignored & (area >= lo) & (area <= hi)]


def count_positives(ds: Dataset, p: EvalProtocol, prep: _Prepared) -> np.ndarray:
    """Ground truth to find, int64 ``[K, A]``: not ignored and inside the area range."""
    out = np.zeros((len(ds.categories), len(p.area_ranges)), np.int64)
    for a in range(len(p.area_ranges)):
        out[:, a] = np.bincount(ds.boxes.category_idx[counted_gt(ds, p, prep, a)], minlength=len(ds.categories))
    return out


def evaluate(ds: Dataset, det: DetectionTable, protocol: EvalProtocol, iou_type: str = "bbox") -> EvalResult:
    """Score ``det`` against ``ds`` under ``protocol``.

    Returns an :class:`EvalResult` whose ``metrics`` equal pycocotools (``coco``), lvis-api
    (``lvis``) or the VOC devkit (``voc07``/``voc12``) for the same inputs. ``iou_type``
    "segm" scores masks (``COCOeval(iouType='segm')`` / ``LVISEval(iou_type='segm')``): both
    sides need segmentations; area ranges still read the annotations' ``area`` and the
    detections' ``box_area`` (see :class:`DetectionTable`), as the references do.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    det = check_detection_table(ds, det)  # a hand-built table: indices in range, no NaN, 64-bit
    p = protocol
    if p.category_groups is not None:  # a scored subset (OV-COCO): restricted, scored here, grouped AP added
        from bench.metrics.groups import evaluate_subset

        return evaluate_subset(ds, det, p, iou_type)
    prep = prepare(ds, det, p)
    npos = count_positives(ds, p, prep)

    d = prep.dt_rows
    cat = det.category_idx[d]
    scores = det.scores[d]
    if p.tie_break == "image" and prep.acc_order is not None:  # found while sorting in prepare
        acc = prep.acc_order
    elif p.tie_break == "image":  # stable: ties keep (image, file) order, as pycocotools' mergesort
        acc = _by_score_then(scores, [(cat, len(ds.categories))])
    else:  # the devkit sorts each class file by confidence, stably
        acc = np.lexsort((d, -scores, cat))
    pos = np.empty(len(acc), np.int64)
    pos[acc] = np.arange(len(acc))
    status = match(ds, det, p, prep, iou_type, out_pos=pos)  # written in accumulation order
    cat, scores, rank = cat[acc], scores[acc], prep.dt_rank[acc]
    cat_start, cat_end = _bounds(cat, np.arange(len(ds.categories)))

    precision = None
    if p.interpolation == "coco101":
        max_dets = np.array([UNLIMITED if m is None else m for m in p.max_dets], np.int64)
        precision, recall, ap = backend.accumulate_coco(
            status, rank, cat_start, cat_end, npos, max_dets, np.asarray(p.recall_thresholds, np.float64)
        )
        recall = np.where(recall > -1, recall, np.nan)
    elif p.interpolation == "continuous":
        from bench.metrics import kernels

        max_dets = np.array([UNLIMITED if m is None else m for m in p.max_dets], np.int64)
        ap, recall = kernels.accumulate_continuous(np.ascontiguousarray(status.transpose(1, 2, 0)), rank, cat_start, cat_end, npos, max_dets)
    else:
        ap, recall = backend.accumulate_voc(
            np.ascontiguousarray(status.transpose(1, 2, 0)), cat_start, cat_end, npos, matlab_colon(0.0, 0.1, 1.0), p.interpolation == "voc_all"
        )
        ap, recall = ap[..., None], recall[..., None]

    # the table holds every prepared detection: prepare already dropped ranks >= max_dets_last
    rows_acc = d[acc]
    b = ds.boxes
    counted = counted_gt(ds, p, prep, 0)  # the table's area range, "all"
    table = MatchTable(
        np.ascontiguousarray(status[:, 0, :].T), scores, cat_start, cat_end, npos[:, 0],
        dt_rows=rows_acc, image_idx=det.image_idx[rows_acc],
        gt_image_idx=b.image_idx[counted], gt_category_idx=b.category_idx[counted],
    )  # fmt: skip
    result = summarize(ds, p, precision, ap, recall, npos, table, n_detections=len(det))
    result.iou_type = iou_type
    return result
