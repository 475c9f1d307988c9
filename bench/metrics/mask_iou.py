"""Mask IoU of every (image, category) group: the only thing ``iou_type="segm"`` changes
(``"boundary"``: Boundary IoU, the smaller of mask IoU and the boundaries' IoU, as the
boundary-iou-api's COCO evaluator scores it; see :mod:`bench.masks.boundary`).

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
from bench.masks.strings import StringMasks


BOUNDARY_DILATION_RATIO = 0.02  # the boundary-iou-api's default: the boundary's width per image diagonal


def iou_matrices(ds: Dataset, det: DetectionTable, gt_rows: np.ndarray, gt_crowd: np.ndarray, gs, ge,
                 dt_rows: np.ndarray, dts, dte, iou_type: str = "segm") -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-group mask IoU (``iou_type`` "segm") or Boundary IoU ("boundary") for the prepared GT
    and detection rows: the matrices ``[nd, ng]`` of every group, row-major, concatenated
    (float64), and their offsets int64 ``[G+1]``. Group ``i`` holds GT ``gt_rows[gs[i]:ge[i]]``
    and detections ``dt_rows[dts[i]:dte[i]]``. Boundary IoU keeps mask IoU for crowd ground truth."""
    if ds.boxes.segmentation is None:
        raise InputError(ds.source, None, "segmentation", f"iou_type={iou_type!r} needs ground-truth masks, which this dataset lacks")
    g = ds.boxes.segmentation.packed()
    d = detection_masks(ds, det)
    iou, off = _group_ious(g, gt_rows, gt_crowd, gs, ge, d, dt_rows, dts, dte)
    if iou_type != "boundary":
        return iou, off
    from bench.masks.boundary import boundaries

    b_iou, _ = _group_ious(boundaries(g.take(gt_rows), BOUNDARY_DILATION_RATIO), np.arange(len(gt_rows)), gt_crowd, gs, ge,
                          boundaries(d.take(dt_rows), BOUNDARY_DILATION_RATIO), np.arange(len(dt_rows)), dts, dte)  # fmt: skip
    sizes = (ge - gs) * (dte - dts)
    group = np.repeat(np.arange(len(gs)), sizes)
    column = gs[group] + (np.arange(len(iou)) - off[group]) % np.maximum(ge - gs, 1)[group]
    return np.where(gt_crowd[column] != 0, iou, np.minimum(iou, b_iou)), off


def _group_ious(g, gt_rows, gt_crowd, gs, ge, d, dt_rows, dts, dte):
    """rleIou of every group (see :func:`iou_matrices`) by the C kernels where built, else numba;
    detections kept as strings (:class:`StringMasks`) are decoded inside the C kernel."""
    c = c_kernels()
    strings = None
    if c is None:
        from bench.masks.kernels import group_ious

        if isinstance(d, StringMasks):  # the C reader made them, the kernels were turned off since
            d = d.take(np.arange(len(d)))
    else:
        group_ious = c.group_ious
        strings = d.spans() if isinstance(d, StringMasks) else None
    dc, doff, dbb = (None, None, None) if strings is not None else (d.counts, d.offs, d.bbox())  # strings: boxes in the kernel
    return group_ious(
        g.counts, g.offs, g.bbox(), g.heights, g.widths, gt_rows, gt_crowd, gs, ge,
        dc, doff, dbb, d.heights, d.widths, d.area().astype(np.int64), dt_rows, dts, dte,
        **({} if strings is None else {"strings": strings}),
    )  # fmt: skip
