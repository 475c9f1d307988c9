"""Shared pieces of the error analyses (TIDE, confusion matrix): a single-threshold protocol for
the metric core, the per-image IoU block, and which ground truth each true positive took.

The core's :class:`MatchTable` says whether a detection is a true positive, not which ground
truth it found; the analyses recover that pairing from the decision, never re-deciding it: a
true positive (in score order) takes the free same-class ground truth it overlaps most.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bench.metrics.kernels import TP, _iou
from bench.protocols import EvalProtocol


def single_threshold(base: EvalProtocol, iou: float, name: str, max_dets_per_image: int | None) -> EvalProtocol:
    """``base`` reduced to one IoU threshold, one area range, no per-category cap (optionally a
    per-image cap across classes), greedy matching; ignore flags, crowd rule and LVIS' federated
    rules stay the base protocol's."""
    return base.with_(name=name, iou_thresholds=(iou,), area_ranges=(("all", 0.0, 1e5**2),), max_dets=(None,),
                      max_dets_per_image=max_dets_per_image, matching="greedy", interpolation="coco101", tie_break="image")  # fmt: skip


@njit(cache=True, error_model="numpy")
def image_ious(ds, de, gs, ge, d_xyxy, d_barea, g_xyxy, g_barea):
    """IoU ``[de-ds, ge-gs]`` of one image's detections and ground truth (any classes)."""
    iou = np.zeros((de - ds, ge - gs))
    for d in range(ds, de):
        for g in range(gs, ge):
            iou[d - ds, g - gs] = _iou(d, g, d_xyxy, d_barea, g_xyxy, g_barea, False)
    return iou


@njit(cache=True, error_model="numpy")
def take_true_positives(iou, ds, de, gs, ge, d_cat, d_status, g_cat, used):
    """Mark in ``used`` the ground truth each true positive of the image took (the free
    same-class one it overlaps most, first on ties), in the detections' (score) order."""
    for d in range(ds, de):
        if d_status[d] != TP:
            continue
        m, v = -1, -1.0
        for g in range(gs, ge):
            if not used[g] and g_cat[g] == d_cat[d] and iou[d - ds, g - gs] > v:
                m, v = g, iou[d - ds, g - gs]
        if m >= 0:
            used[m] = True


def image_spans(det_img: np.ndarray, gt_img: np.ndarray, n_img: int) -> tuple[np.ndarray, ...]:
    """(d_start, d_end, g_start, g_end): each image's block in sorted detection / GT image arrays."""
    r = np.arange(n_img)
    return (np.searchsorted(det_img, r), np.searchsorted(det_img, r, "right"),
            np.searchsorted(gt_img, r), np.searchsorted(gt_img, r, "right"))  # fmt: skip
