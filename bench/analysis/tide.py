"""TIDE error analysis (Bolya et al., ECCV 2020), equal to the ``tidecv`` package's
``get_main_errors()``.

Each false positive (and each detection ignored by a crowd region) gets one of five types, tested
in this order, with the IoUs of the detection against the image's non-ignored ground truth:

- Loc  (localisation): best same-class IoU in [0.1, 0.5];
- Cls  (classification): best other-class IoU >= 0.5;
- Dupe (duplicate): best IoU with a same-class ground truth that a true positive already took >= 0.5;
- Bkg  (background): best IoU with any ground truth <= 0.1 (every detection on an image
  without ground truth);
- Both: none of the above (wrong class and badly placed).

Miss: a ground truth no detection found and that no Cls/Loc error points at. dAP of a type is
the AP50 (tidecv's own 101-point AP over the classes that have ground truth or detections) after
fixing every error of that type, minus the AP50 before, in points, floored at 0: a Cls/Loc error
becomes the true positive of its ground truth (only the highest-scoring such error per ground
truth; the others disappear), Dupe/Bkg/Both false positives disappear, a missed ground truth is
removed from the count.

Which detection is a true positive, a false positive or ignored comes from the metric core's
:class:`MatchTable`, under the protocol TIDE's matching coincides with (IoU >= 0.5, every area,
at most ``max_dets`` detections per image across classes, crowd regions ignore); cross-class IoUs
are computed here (an IoU is not a matcher). Known differences from tidecv, all on exact ties:
tidecv takes the first of equally good ground truth where pycocotools takes the last, ignores a
detection on a crowd region at crowd-IoU > 0.5 where pycocotools does at >= 0.5, and orders tied
scores by its image order (file order) where detbench uses image-id order. Equality with tidecv
is proven for COCO-style data; on LVIS the core's federated rules decide which detections count
(tidecv emulates them with ignore regions), on VOC the devkit's difficult flags are the ignored
ground truth (matched greedily, as TIDE does).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from bench.analysis.pairing import image_ious, image_spans, single_threshold, take_true_positives
from bench.data.model import Dataset, DetectionTable
from bench.metrics.codes import TP
from bench.metrics.core import evaluate, ignore_flag
from bench.protocols import COCO, EvalProtocol

TYPES = ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss")  # tidecv's order
CLS, LOC, BOTH, DUPE, BKG, NONE = 0, 1, 2, 3, 4, -1
POS_THRESH, BG_THRESH, MAX_DETS = 0.5, 0.1, 100
TIDE_RECALLS = np.array([x / 100 for x in range(101)])  # tidecv's x_range


def tide_protocol(base: EvalProtocol = COCO, max_dets: int = MAX_DETS) -> EvalProtocol:
    """The core protocol whose matching is TIDE's: IoU 0.5 only, one area range, ``max_dets``
    per image across classes (tidecv's ``Data.max_dets``: 100, LVIS 300), no per-category cap."""
    return single_threshold(base, POS_THRESH, "tide", max_dets)


@njit(cache=True, error_model="numpy")
def classify(d_xyxy, d_barea, d_cat, d_status, d_score, d_start, d_end, g_xyxy, g_barea, g_cat, g_start, g_end):
    """TIDE's per-image error tests. Detections of image i are ``d_start[i]:d_end[i]`` in TIDE's
    order (score descending, file order on ties); its non-ignored ground truth ``g_start[i]:g_end[i]``
    in file order. Returns err int8 ``[D]`` (-1 true positive, else CLS/LOC/BOTH/DUPE/BKG),
    target int64 ``[D]`` (ground truth row of a Cls/Loc error, else -1), best bool ``[D]`` (the
    error that fixes its target), used / usable bool ``[G]``."""
    n_d, n_g = d_cat.shape[0], g_cat.shape[0]
    err = np.full(n_d, NONE, np.int8)
    target = np.full(n_d, -1, np.int64)
    best = np.zeros(n_d, np.bool_)
    used = np.zeros(n_g, np.bool_)
    usable = np.zeros(n_g, np.bool_)
    best_score = np.full(n_g, -1.0)
    best_det = np.full(n_g, -1, np.int64)
    for i in range(d_start.shape[0]):
        ds, de, gs, ge = d_start[i], d_end[i], g_start[i], g_end[i]
        ng = ge - gs
        iou = image_ious(ds, de, gs, ge, d_xyxy, d_barea, g_xyxy, g_barea)
        take_true_positives(iou, ds, de, gs, ge, d_cat, d_status, g_cat, used)
        for d in range(ds, de):
            if d_status[d] == TP:
                continue
            if ng == 0:
                err[d] = BKG
                continue
            same_v, same_g, other_v, other_g, used_v, any_v = 0.0, 0, 0.0, 0, 0.0, 0.0
            for g in range(ng):  # first maximum, as numpy's argmax
                v = iou[d - ds, g]
                if g_cat[gs + g] == d_cat[d]:
                    if v > same_v:
                        same_v, same_g = v, g
                    if used[gs + g] and v > used_v:
                        used_v = v
                elif v > other_v:
                    other_v, other_g = v, g
                any_v = max(any_v, v)
            t = -1
            if BG_THRESH <= same_v <= POS_THRESH:
                err[d], t = LOC, gs + same_g
            elif other_v >= POS_THRESH:
                err[d], t = CLS, gs + other_g
            elif used_v >= POS_THRESH:
                err[d] = DUPE
            elif any_v <= BG_THRESH:
                err[d] = BKG
            else:
                err[d] = BOTH
            if t >= 0:
                target[d] = t
                if not used[t]:
                    usable[t] = True
                    if best_score[t] < d_score[d]:
                        best_score[t], best_det[t] = d_score[d], d
    for g in range(n_g):
        if best_det[g] >= 0:
            best[best_det[g]] = True
    return err, target, best, used, usable


def tide_class_ap(score: np.ndarray, correct: np.ndarray, key: np.ndarray, n_gt: int) -> float:
    """tidecv's ``APDataObject.get_ap``, in points: points sorted by score (descending; ties by
    ``key``, the order tidecv inserted them), plain precision, envelope, 101 recall points."""
    if n_gt == 0:
        return 0.0
    order = np.lexsort((key, -score))
    c = correct[order]
    tp = np.cumsum(c).astype(np.float64)
    fp = np.cumsum(~c).astype(np.float64)
    precision = tp / (tp + fp)
    recall = tp / n_gt
    precision = np.maximum.accumulate(precision[::-1])[::-1] if len(precision) else precision
    idx = np.searchsorted(recall, TIDE_RECALLS, side="left")
    y = [float(precision[i]) if i < len(precision) else 0 for i in idx.tolist()]
    return sum(y) / len(y) * 100


def tide_map(cls: np.ndarray, score: np.ndarray, correct: np.ndarray, key: np.ndarray, n_gt: dict[int, int], classes: list[int]) -> float:
    """tidecv's ``get_mAP``: mean class AP over ``classes`` that have points or ground truth."""
    aps = []
    order = np.argsort(cls, kind="stable")
    cls_s = cls[order]
    for k in classes:
        lo, hi = np.searchsorted(cls_s, k), np.searchsorted(cls_s, k, "right")
        sel = order[lo:hi]
        if len(sel) == 0 and n_gt.get(k, 0) == 0:
            continue
        aps.append(tide_class_ap(score[sel], correct[sel], key[sel], n_gt.get(k, 0)))
    return sum(aps) / len(aps) if aps else 0.0


@dataclass
class TideResult:
    """ap: TIDE's AP50 in points; main: dAP in points per type (tidecv's ``get_main_errors()``);
    counts: errors per type (Miss: ground truth missed). ``ap`` and every dAP are None (undefined)
    when there is no (non-ignored) ground truth to find."""

    ap: float | None
    main: dict[str, float | None]
    counts: dict[str, int]

    def to_dict(self) -> dict:
        return {"ap50": self.ap, "main": self.main, "counts": self.counts, "unit": "AP points",
                "pos_threshold": POS_THRESH, "background_threshold": BG_THRESH}  # fmt: skip


def tide(ds: Dataset, det: DetectionTable, base: EvalProtocol = COCO, max_dets: int | None = None) -> TideResult:
    """TIDE's main errors of ``det`` on ``ds`` (boxes XYXY pixels, as everywhere).

    Example::

        from bench.data.inputs import load_ground_truth
        from bench.data.results import load_results
        ds = load_ground_truth("instances_val2017_mini.json")
        t = tide(ds, load_results("predictions.json", ds))
        t.main["Loc"]   # AP50 points a perfect localisation would add
    """
    p = tide_protocol(base, max_dets or base.max_dets_per_image or MAX_DETS)
    table = evaluate(ds, det, p).table
    rows = table.dt_rows
    img = table.image_idx
    order = np.lexsort((rows, -table.scores, img))  # TIDE's order: image, score descending, file order
    rows, img, status, score = rows[order], img[order], table.status[0][order], table.scores[order]
    cat = det.category_idx[rows]
    b = ds.boxes
    g_rows = np.flatnonzero(~ignore_flag(ds, p))
    g_rows = g_rows[np.argsort(b.image_idx[g_rows], kind="stable")]  # image, then file order
    d_start, d_end, g_start, g_end = image_spans(img, b.image_idx[g_rows], len(ds.images))
    g_cat = b.category_idx[g_rows]
    err, target, best, used, usable = classify(
        np.ascontiguousarray(det.xyxy[rows]), det.box_area[rows], cat, status, score, d_start, d_end,
        np.ascontiguousarray(b.xyxy[g_rows]), b.box_area[g_rows], g_cat, g_start, g_end,
    )  # fmt: skip
    missed = ~used & ~usable
    counted = status != 2  # ignored detections are not points of the AP (but can be fixed)
    pos = np.arange(len(rows))
    n_gt = {int(k): int(v) for k, v in zip(*np.unique(g_cat, return_counts=True))}
    classes = sorted(set(n_gt) | set(cat[counted].tolist()))
    base_ap = tide_map(cat[counted], score[counted], status[counted] == TP, pos[counted], n_gt, classes)
    is_tp = status == TP
    if not n_gt:  # nothing to find: AP and every dAP undefined, not 0 (tidecv would print 0.00)
        counts = {name: 0 if name == "Miss" else int((err == code).sum()) for code, name in enumerate(TYPES)}
        return TideResult(None, {name: None for name in TYPES}, counts)
    main, counts = {}, {}
    for code, name in enumerate(TYPES):
        gt_count = dict(n_gt)
        if name == "Miss":
            for k in g_cat[missed].tolist():
                gt_count[k] -= 1
            fixed = np.zeros(len(rows), bool)
        else:
            fixed = err == code
        keep_fp = counted & ~is_tp & ~fixed  # errors left as they are
        promote = fixed & best & (err <= LOC)  # Cls/Loc errors that become their target's TP
        new_cls = np.where(promote & (err == CLS), g_cat[np.maximum(target, 0)], cat)
        sel = keep_fp | promote | is_tp
        # tidecv pushes the error points first (in error order), then the true positives
        key = np.where(is_tp, len(rows), 0) + pos
        ap = tide_map(new_cls[sel], score[sel], (promote | is_tp)[sel], key[sel], gt_count, classes)
        main[name] = max(ap - base_ap, 0.0)
        counts[name] = int(missed.sum()) if name == "Miss" else int((err == code).sum())
    return TideResult(base_ap, main, counts)
