"""Box-format conversions.

detbench keeps boxes internally as XYXY in absolute, continuous pixel coordinates of the
original image: a box covering pixel columns 0..9 (0-based) is ``x1=0, x2=10``.

Formats handled here (all arrays are float64 ``[N, 4]``):

- ``xyxy``:   x1, y1, x2, y2
- ``xywh``:   x1, y1, width, height (COCO's ``bbox``)
- ``cxcywh``: centre x, centre y, width, height (DETR's output)
- the same three *normalised* by the image size (values in [0, 1]), as ``*_norm``
- ``voc``:    the Pascal VOC devkit's 1-based inclusive pixel indices xmin, ymin, xmax, ymax.
  Continuous XYXY = (xmin - 1, ymin - 1, xmax, ymax). IoU on continuous boxes equals the
  devkit's "+1" IoU on its own coordinates exactly for integer coordinates.
"""

from __future__ import annotations

import numpy as np

FORMATS = ("xyxy", "xywh", "cxcywh", "xyxy_norm", "xywh_norm", "cxcywh_norm", "voc")


def _as_boxes(boxes) -> np.ndarray:
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape [N, 4], got {arr.shape}")
    return arr


def _scale(width: float | None, height: float | None) -> np.ndarray:
    if width is None or height is None:
        raise ValueError("normalised box formats need the image width and height")
    return np.array([width, height, width, height], dtype=np.float64)


def to_xyxy(boxes, fmt: str, width: float | None = None, height: float | None = None) -> np.ndarray:
    """Convert ``boxes`` in format ``fmt`` to absolute XYXY float64 ``[N, 4]``."""
    b = _as_boxes(boxes)
    if fmt.endswith("_norm"):
        b = b * _scale(width, height)
        fmt = fmt[: -len("_norm")]
    if fmt == "xyxy":
        return b.copy()
    if fmt == "xywh":
        return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)
    if fmt == "cxcywh":
        hw, hh = b[:, 2] / 2.0, b[:, 3] / 2.0
        return np.stack([b[:, 0] - hw, b[:, 1] - hh, b[:, 0] + hw, b[:, 1] + hh], axis=1)
    if fmt == "voc":
        return np.stack([b[:, 0] - 1.0, b[:, 1] - 1.0, b[:, 2], b[:, 3]], axis=1)
    raise ValueError(f"unknown box format {fmt!r}; expected one of {', '.join(FORMATS)}")


def from_xyxy(boxes, fmt: str, width: float | None = None, height: float | None = None) -> np.ndarray:
    """Convert absolute XYXY boxes to format ``fmt``; the inverse of :func:`to_xyxy`."""
    b = _as_boxes(boxes)
    norm = fmt.endswith("_norm")
    base = fmt[: -len("_norm")] if norm else fmt
    if base == "xyxy":
        out = b.copy()
    elif base == "xywh":
        out = np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    elif base == "cxcywh":
        out = np.stack(
            [(b[:, 0] + b[:, 2]) / 2.0, (b[:, 1] + b[:, 3]) / 2.0, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1
        )
    elif base == "voc" and not norm:
        out = np.stack([b[:, 0] + 1.0, b[:, 1] + 1.0, b[:, 2], b[:, 3]], axis=1)
    else:
        raise ValueError(f"unknown box format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if norm:
        out = out / _scale(width, height)
    return out


def box_area(xyxy) -> np.ndarray:
    """Area of XYXY boxes in square pixels, float64 ``[N]``; degenerate boxes give 0."""
    b = _as_boxes(xyxy)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)
