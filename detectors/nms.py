"""Class-aware greedy NMS for the YOLO-style decoders (``detectors.yolo_decode``), without torch.

``nms`` runs the compiled kernel ``bench.native._nms`` where it is built (and enabled:
``DETBENCH_NATIVE``), else ``nms_numpy``; both keep the same detections in the same order
(``tests/test_nms_kernel.py`` proves it on generated cases with ties and equal boxes, and on
the embedded detectors' real outputs). The C kernel stops once ``max_keep`` boxes are kept and
does no per-iteration array allocation: on NanoDet-m's ~30 000 candidates it is what makes the
postprocess cheap (``benchmarks/bench_nms.py``).

Boxes: float32 [N, 4] XYXY, continuous coordinates (no +1). Classes are kept apart by
offsetting each box by label * (max coordinate + 1), torchvision's ``batched_nms`` trick.
"""

from __future__ import annotations

import numpy as np

from bench.native import load
from bench.native.sort import argsort_desc


def _native():
    return load("_nms")


def backend() -> str:
    """Which implementation ``nms`` uses here: ``"native"`` (C) or ``"numpy"``."""
    return "native" if _native() is not None else "numpy"


def iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one XYXY box with [N, 4] boxes (continuous coordinates, no +1)."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


def _ordered(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidates' order (descending score, ties: lower index first) and their class-offset boxes."""
    boxes = np.asarray(boxes, np.float32)
    order = argsort_desc(np.asarray(scores))  # np.argsort(-scores, kind="stable"), by C radix sort where built
    offset = boxes + (np.asarray(labels).astype(np.float32) * (boxes.max() + 1.0 if len(boxes) else 0.0))[:, None]
    return order, offset


def nms_numpy(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float, max_keep: int) -> np.ndarray:
    """Class-aware greedy NMS in numpy; indices kept, by descending score (ties: lower index first)."""
    order, offset = _ordered(boxes, scores, labels)
    keep = []
    while order.size and len(keep) < max_keep:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        order = rest[iou_one_to_many(offset[i], offset[rest]) <= iou]
    return np.asarray(keep, dtype=np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float, max_keep: int, impl: str = "auto") -> np.ndarray:
    """``nms_numpy``'s result, from the C kernel where it is built and the boxes are finite.
    ``impl``: ``"auto"`` (that choice) or ``"numpy"`` (force the numpy loop)."""
    if impl not in ("auto", "numpy"):
        raise ValueError(f"nms impl must be auto or numpy, got {impl!r}")
    native = _native() if impl == "auto" else None
    if native is None or len(boxes) == 0:
        return nms_numpy(boxes, scores, labels, iou, max_keep)
    order, offset = _ordered(boxes, scores, labels)
    sorted_boxes = np.ascontiguousarray(offset[order], dtype=np.float32)
    if not np.isfinite(sorted_boxes).all():  # NaN / inf propagate differently through C's comparisons
        return nms_numpy(boxes, scores, labels, iou, max_keep)
    out = np.empty(len(order), np.int64)
    count = native.greedy(sorted_boxes, out, float(iou), int(max(max_keep, 0)))
    return order[out[:count]]
