"""Mask IoU of every (image, category) group: the only thing ``iou_type="segm"`` changes.

The matching and accumulation in :mod:`bench.metrics.kernels` are shared with boxes; this
module supplies their IoU matrices from RLE masks (pycocotools' rleIou, crowd included), by
the C kernels of :mod:`bench.native.rle` where built, else numba's :mod:`bench.masks.kernels`.
"""

from __future__ import annotations

import numpy as np

from bench.data.model import Dataset, DetectionTable
from bench.data.segmentation import detection_masks
from bench.errors import InputError
from bench.masks.rle import c_kernels


def iou_matrices(ds: Dataset, det: DetectionTable, gt_rows: np.ndarray, gt_crowd: np.ndarray, gs, ge,
                 dt_rows: np.ndarray, dts, dte) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-group mask IoU for the prepared GT and detection rows: the matrices ``[nd, ng]`` of
    every group, row-major, concatenated (float64), and their offsets int64 ``[G+1]``. Group ``i``
    holds GT ``gt_rows[gs[i]:ge[i]]`` and detections ``dt_rows[dts[i]:dte[i]]``."""
    if ds.boxes.segmentation is None:
        raise InputError(ds.source, None, "segmentation", "iou_type='segm' needs ground-truth masks, which this dataset lacks")
    g = ds.boxes.segmentation.packed()
    d = detection_masks(ds, det)
    c = c_kernels()
    if c is None:
        from bench.masks.kernels import group_ious
    else:
        group_ious = c.group_ious
    return group_ious(
        g.counts, g.offs, g.bbox(), g.heights, g.widths, gt_rows, gt_crowd, gs, ge,
        d.counts, d.offs, d.bbox(), d.heights, d.widths, d.area().astype(np.int64), dt_rows, dts, dte,
    )  # fmt: skip
