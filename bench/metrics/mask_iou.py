"""Mask IoU of every (image, category) group: the only thing ``iou_type="segm"`` changes.

The matching and accumulation in :mod:`bench.metrics.kernels` are shared with boxes; this
module supplies their IoU matrices from RLE masks (pycocotools' rleIou, crowd included).
"""

from __future__ import annotations

import itertools

import numpy as np
from numba import njit, prange

from bench.data.model import Dataset, DetectionTable
from bench.data.segmentation import check_totals
from bench.errors import InputError
from bench.metrics import rle
from bench.metrics.rle import Packed
from bench.metrics.rle_kernels import rle_iou_pair


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


def detection_masks(ds: Dataset, det: DetectionTable, file: str = "<detections>") -> Packed:
    """The detections' masks packed, checked against their images' sizes."""
    seg = det.segmentation
    if seg is None:
        raise InputError(file, None, "segmentation", "iou_type='segm' needs a mask (compressed RLE) for every detection")
    if isinstance(seg, Packed):
        packed = seg
    else:
        packed = pack_detection_masks(seg, file)
    h, w = ds.images.heights[det.image_idx], ds.images.widths[det.image_idx]
    wrong = np.flatnonzero((packed.heights != h) | (packed.widths != w))
    if len(wrong):
        i = int(wrong[0])
        raise InputError(file, f"detections[{i}]", "segmentation.size",
                         f"mask size [{packed.heights[i]}, {packed.widths[i]}] is not the image's [height, width] [{h[i]}, {w[i]}]")  # fmt: skip
    check_totals(packed, file, "detections")
    return packed


def pack_detection_masks(seg: list, file: str, section: str = "detections") -> Packed:
    """Compressed RLE dicts ``{"size": [h, w], "counts": str}`` -> Packed; errors name the record."""
    try:
        size_lists = [r["size"] for r in seg]
        counts = [r["counts"] for r in seg]
        ok = set(map(type, counts)) <= {str, bytes} and set(map(type, size_lists)) <= {list}
        ok = ok and set(map(type, itertools.chain.from_iterable(size_lists))) <= {int}
        sizes = np.array(size_lists, np.int64).reshape(len(seg), 2)
        ok = ok and bool((sizes >= 0).all())
    except (KeyError, TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        for i, r in enumerate(seg):
            if not isinstance(r, dict) or not isinstance(r.get("counts"), (str, bytes)):
                raise InputError(file, f"{section}[{i}]", "segmentation", f"expected a compressed RLE {{size: [h, w], counts: str}}, got {r!r:.80}")
            size = r.get("size")
            if not (isinstance(size, list) and len(size) == 2 and all(type(v) is int and v >= 0 for v in size)):
                raise InputError(file, f"{section}[{i}]", "segmentation.size", f"expected [height, width] as integers, got {size!r:.80}")
        raise InputError(file, section, "segmentation", "unreadable masks")
    packed, bad = rle.pack_strings(counts, sizes[:, 0], sizes[:, 1])
    if packed is None:
        raise InputError(file, f"{section}[{bad}]", "segmentation.counts", "malformed compressed RLE string")
    return packed


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
