"""Mask IoU of every (image, category) group: the only thing ``iou_type="segm"`` changes.

The matching and accumulation in :mod:`bench.metrics.kernels` are shared with boxes; this
module supplies their IoU matrices from RLE masks (pycocotools' rleIou, crowd included).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bench.data.model import Dataset, DetectionTable
from bench.data.segmentation import detection_masks
from bench.errors import InputError
from bench.masks.kernels import rle_iou_pair


@njit(cache=True, parallel=True)
def group_ious(gc, goff, gbb, gh, gw, g_rows, crowd, gs, ge, dc, doff, dbb, dh, dw, darea, d_rows, ds, de):
    """IoU matrices ``[nd, ng]`` of every group, row-major, concatenated; and their offsets
    ``[G+1]``. Group ``i`` holds GT ``g_rows[gs[i]:ge[i]]`` (crowd flags ``crowd[gs[i]:ge[i]]``)
    and detections ``d_rows[ds[i]:de[i]]``, rows of the packed sets."""
    n = gs.shape[0]
    off = np.zeros(n + 1, np.int64)
    for i in range(n):
        off[i + 1] = off[i] + (ge[i] - gs[i]) * (de[i] - ds[i])
    out = np.zeros(off[n])
    for i in prange(n):
        ng = ge[i] - gs[i]
        nd = de[i] - ds[i]
        for d in range(nd):
            for g in range(ng):
                out[off[i] + d * ng + g] = rle_iou_pair(
                    dc, doff, d_rows[ds[i] + d], dbb, dh, dw, darea, gc, goff, g_rows[gs[i] + g], gbb, gh, gw, crowd[gs[i] + g]
                )
    return out, off


def iou_matrices(ds: Dataset, det: DetectionTable, gt_rows: np.ndarray, gt_crowd: np.ndarray, gs, ge,
                 dt_rows: np.ndarray, dts, dte) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-group mask IoU (see :func:`group_ious`) for the prepared GT and detection rows."""
    if ds.boxes.segmentation is None:
        raise InputError(ds.source, None, "segmentation", "iou_type='segm' needs ground-truth masks, which this dataset lacks")
    g = ds.boxes.segmentation.packed()
    d = detection_masks(ds, det)
    return group_ious(
        g.counts, g.offs, g.bbox(), g.heights, g.widths, gt_rows, gt_crowd, gs, ge,
        d.counts, d.offs, d.bbox(), d.heights, d.widths, d.area().astype(np.int64), dt_rows, dts, dte,
    )  # fmt: skip
