"""Polygon rasterisation of pycocotools' ``rleFrPoly`` (``common/maskApi.c``), compiled.

The polygon is upsampled 5x, its boundary walked with C's integer casts (as x86 performs
them), and the y-boundary points turned into run lengths; the result is bit-equal to
pycocotools. Packed output as in :mod:`bench.masks.kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bench.masks.kernels import U32, pack

INT_MIN = -2147483648


@njit(cache=True)
def _c_int(v):
    """C's (int) cast of a double as x86 does it: truncation, INT_MIN when out of range or NaN."""
    if v >= -2147483648.0 and v < 2147483648.0:
        return np.int64(int(v))
    return np.int64(INT_MIN)


@njit(cache=True)
def fr_poly(xy, k, h, w):
    """rleFrPoly: the RLE counts of polygon ``xy`` (k vertices) rasterised at h x w."""
    scale = 5.0
    x = np.empty(k + 1, np.int64)
    y = np.empty(k + 1, np.int64)
    for j in range(k):
        x[j] = _c_int(scale * xy[j * 2] + 0.5)
        y[j] = _c_int(scale * xy[j * 2 + 1] + 0.5)
    if k > 0:
        x[k] = x[0]
        y[k] = y[0]
    m = 0
    for j in range(k):
        m += max(abs(x[j] - x[j + 1]), abs(y[j] - y[j + 1])) + 1
    u = np.empty(m, np.int64)
    v = np.empty(m, np.int64)
    m = 0
    for j in range(k):
        xs = x[j]
        xe = x[j + 1]
        ys = y[j]
        ye = y[j + 1]
        dx = abs(xe - xs)
        dy = abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe = xe, xs
            ys, ye = ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx != 0 else np.nan
            for d in range(dx + 1):
                t = dx - d if flip else d
                u[m] = t + xs
                v[m] = _c_int(ys + s * t + 0.5)
                m += 1
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v[m] = t + ys
                u[m] = _c_int(xs + s * t + 0.5)
                m += 1
    kk = m
    bx = np.empty(kk, np.int64)
    by = np.empty(kk, np.int64)
    m = 0
    wm1 = float(w - 1) if w > 0 else 18446744073709551615.0  # size_t w-1
    for j in range(1, kk):
        if u[j] != u[j - 1]:
            xd = float(u[j] if u[j] < u[j - 1] else u[j] - 1)
            xd = (xd + 0.5) / scale - 0.5
            if np.floor(xd) != xd or xd < 0 or xd > wm1:
                continue
            yd = float(v[j] if v[j] < v[j - 1] else v[j - 1])
            yd = (yd + 0.5) / scale - 0.5
            if yd < 0:
                yd = 0.0
            elif yd > h:
                yd = float(h)
            yd = np.ceil(yd)
            bx[m] = _c_int(xd)
            by[m] = _c_int(yd)
            m += 1
    a = np.empty(m + 1, np.int64)
    for j in range(m):
        a[j] = ((bx[j] * h + by[j]) & U32)  # int arithmetic, then (uint)
    a[m] = (h * w) & U32
    a = np.sort(a)
    p = np.int64(0)
    for j in range(m + 1):
        t = a[j]
        a[j] = (a[j] - p) & U32
        p = t
    b = np.empty(m + 1, np.uint32)
    j = 0
    nb = 0
    b[nb] = a[j]
    nb += 1
    j += 1
    while j < m + 1:
        if a[j] > 0:
            b[nb] = a[j]
            nb += 1
            j += 1
        else:
            j += 1
            if j < m + 1:
                b[nb - 1] = (np.int64(b[nb - 1]) + a[j]) & U32
                j += 1
    return b[:nb]


@njit(cache=True)
def fr_polys(coords, coord_offs, hs, ws):
    """fr_poly for many polygons (coords of polygon i: ``coords[coord_offs[i]:coord_offs[i+1]]``,
    drawn at ``hs[i]`` x ``ws[i]``); packed counts and offsets."""
    parts = []
    for i in range(coord_offs.shape[0] - 1):
        xy = coords[coord_offs[i]:coord_offs[i + 1]]
        parts.append(fr_poly(xy, xy.shape[0] // 2, hs[i], ws[i]))
    return pack(parts, coord_offs.shape[0] - 1)
