"""Mask boundaries for Boundary IoU (Cheng et al. 2021), as the boundary-iou-api computes them.

The reference (``boundary_iou/utils/boundary_utils.py``, ``mask_to_boundary``) pads the mask
with one row/column of zeros, erodes it ``d`` times with a 3x3 square (OpenCV) and keeps
``mask - eroded``, with ``d = max(1, round(dilation_ratio * sqrt(h^2 + w^2)))`` (Python's
round: half to even). Iterated 3x3 erosion is one erosion with a ``(2d+1)`` square, and the
zero ring makes every pixel within ``d`` of the image border count as outside; so a foreground
pixel is interior exactly when the ``(2d+1) x (2d+1)`` window around it lies inside the image
and is all foreground. That is what :func:`boundary` computes (integral image over the mask's
bounding box padded by ``d``: pixels outside the box are background), without OpenCV.
"""

from __future__ import annotations

import numpy as np

from bench.masks.rle import Packed, from_counts


def dilation(h: int, w: int, ratio: float = 0.02) -> int:
    """The reference's erosion count for an ``h x w`` image."""
    return max(1, int(round(ratio * float(np.sqrt(h**2 + w**2)))))


def to_dense(counts: np.ndarray, h: int, w: int) -> np.ndarray:
    """One RLE's runs -> bool mask ``[h, w]``."""
    values = (np.arange(len(counts)) % 2).astype(bool)
    return np.repeat(values, counts.astype(np.int64)).reshape((w, h)).T


def to_counts(mask: np.ndarray) -> np.ndarray:
    """bool mask ``[h, w]`` -> its runs (column-major, starting with background), uint32."""
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.r_[0, change, len(flat)])
    if len(flat) and flat[0]:
        runs = np.r_[0, runs]
    return runs.astype(np.uint32)


def boundary(mask: np.ndarray, d: int) -> np.ndarray:
    """bool ``[h, w]``: the foreground pixels whose ``(2d+1)``-square window is not all
    foreground inside the image (the reference's ``mask - erode(mask)``)."""
    out = np.zeros_like(mask, dtype=bool)
    ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(ys) == 0:
        return out
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs[0], xs[-1] + 1
    crop = np.pad(mask[y0:y1, x0:x1].astype(np.int64), d)  # background around the box (and outside the image)
    s = np.zeros((crop.shape[0] + 1, crop.shape[1] + 1), np.int64)
    s[1:, 1:] = crop.cumsum(0).cumsum(1)
    k = 2 * d + 1
    window = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]  # [y1-y0, x1-x0]: sums around each box pixel
    interior = window == k * k
    # a window reaching outside the image is not all foreground (the zero ring)
    hh, ww = mask.shape
    yy = np.arange(y0, y1)[:, None]
    xx = np.arange(x0, x1)[None, :]
    interior &= (yy >= d) & (yy <= hh - 1 - d) & (xx >= d) & (xx <= ww - 1 - d)
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1] & ~interior
    return out


def boundaries(p: Packed, ratio: float = 0.02) -> Packed:
    """The boundary of every RLE in ``p`` (each at its own size), packed in order."""
    counts = []
    for i in range(len(p)):
        h, w = int(p.heights[i]), int(p.widths[i])
        runs = p.counts[p.offs[i]:p.offs[i + 1]]
        if h * w == 0:
            counts.append(runs.astype(np.uint32))
            continue
        counts.append(to_counts(boundary(to_dense(runs, h, w), dilation(h, w, ratio))))
    return from_counts(counts, p.heights, p.widths)

