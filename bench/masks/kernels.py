"""Compiled run-length-encoding kernels, transcribed from pycocotools' ``common/maskApi.c``.

A set of N RLEs is packed as ``counts`` uint32 ``[sum m_i]`` (all runs, concatenated) and
``offs`` int64 ``[N+1]`` (RLE ``i`` is ``counts[offs[i]:offs[i+1]]``), with heights and
widths int64 ``[N]``. Runs alternate background/foreground in column-major (Fortran) pixel
order, starting with background. Integer arithmetic follows the C code's 32-bit unsigned
wrap-around where it can matter. Polygons: :mod:`bench.masks.poly`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

U32 = 0xFFFFFFFF


@njit(cache=True)
def encode(flat, area, n):
    """rleEncode: ``flat`` uint8 ``[n * area]``, mask ``i`` at ``flat[i*area:(i+1)*area]``."""
    offs = np.zeros(n + 1, np.int64)
    for i in range(n):
        k = 1
        p = 0
        base = i * area
        for j in range(area):
            v = flat[base + j]
            if v != p:
                k += 1
                p = v
        offs[i + 1] = offs[i] + k
    cnts = np.empty(offs[n], np.uint32)
    for i in range(n):
        k = offs[i]
        p = 0
        c = 0
        base = i * area
        for j in range(area):
            v = flat[base + j]
            if v != p:
                cnts[k] = c
                k += 1
                c = 0
                p = v
            c += 1
        cnts[k] = c
    return cnts, offs


@njit(cache=True)
def decode(cnts, offs, area):
    """rleDecode into uint8 ``[n * area]``; returns (masks, ok) where ok is False if a run
    crosses the end of the buffer (pycocotools' 'Invalid RLE mask representation')."""
    n = offs.shape[0] - 1
    out = np.zeros(n * area, np.uint8)
    total = n * area
    p = 0
    for i in range(n):
        v = 0
        for j in range(offs[i], offs[i + 1]):
            c = np.int64(cnts[j])
            if p + c > total:
                return out, False
            if v:
                out[p:p + c] = 1
            p += c
            v = 1 - v
    return out, True


@njit(cache=True)
def to_string(cnts, offs):
    """rleToString for every RLE: ASCII bytes (48..111) concatenated, and their offsets."""
    n = offs.shape[0] - 1
    out = np.empty(7 * cnts.shape[0] + 1, np.uint8)
    soffs = np.zeros(n + 1, np.int64)
    p = 0
    for r in range(n):
        s = offs[r]
        for i in range(offs[r + 1] - s):
            x = np.int64(cnts[s + i])
            if i > 2:
                x -= np.int64(cnts[s + i - 2])
            more = True
            while more:
                c = x & 0x1F
                x >>= 5
                if c & 0x10:
                    more = x != -1
                else:
                    more = x != 0
                if more:
                    c |= 0x20
                out[p] = c + 48
                p += 1
        soffs[r + 1] = p
    return out[:p], soffs


@njit(cache=True, parallel=True)
def from_string(buf, soffs):
    """rleFrString for every string ``buf[soffs[i]:soffs[i+1]]`` (strings in parallel).

    Returns (counts, offs, bad): ``bad`` is the index of the first malformed string (a byte
    outside 48..111, a number cut off by the end of the string, or longer than 7 characters,
    which pycocotools would misread), or -1.
    """
    n = soffs.shape[0] - 1
    offs = np.zeros(n + 1, np.int64)
    for r in range(n):  # a number ends at each byte without the continuation bit 0x20
        m = 0
        for p in range(soffs[r], soffs[r + 1]):
            if not (np.int64(buf[p]) - 48) & 0x20:
                m += 1
        offs[r + 1] = offs[r] + m
    cnts = np.empty(offs[n], np.uint32)
    bad = np.zeros(n, np.bool_)
    for r in prange(n):
        m = offs[r]
        start = m
        p = soffs[r]
        e = soffs[r + 1]
        while p < e and not bad[r]:
            x = np.int64(0)
            k = 0
            more = True
            while more:
                if p >= e or k >= 7:
                    bad[r] = True
                    break
                c = np.int64(buf[p]) - 48
                if c < 0 or c > 63:
                    bad[r] = True
                    break
                x |= (c & 0x1F) << (5 * k)
                more = (c & 0x20) != 0
                p += 1
                k += 1
                if not more and (c & 0x10):
                    x |= np.int64(-1) << (5 * k)
            if bad[r]:
                break
            if m - start > 2:
                x += np.int64(cnts[m - 2])
            cnts[m] = x & U32
            m += 1
    for r in range(n):
        if bad[r]:
            return cnts, offs, r
    return cnts, offs, -1


@njit(cache=True, parallel=True)
def take_runs(cnts, offs, rows):
    """The runs of RLEs ``rows`` (in that order): packed counts and offsets."""
    n = rows.shape[0]
    out_offs = np.zeros(n + 1, np.int64)
    for i in range(n):
        out_offs[i + 1] = out_offs[i] + offs[rows[i] + 1] - offs[rows[i]]
    out = np.empty(out_offs[n], np.uint32)
    for i in prange(n):
        s = offs[rows[i]]
        for j in range(out_offs[i + 1] - out_offs[i]):
            out[out_offs[i] + j] = cnts[s + j]
    return out, out_offs


@njit(cache=True, parallel=True)
def sums(cnts, offs):
    """Total pixels of each RLE, int64 ``[n]`` (valid RLEs sum to h*w)."""
    n = offs.shape[0] - 1
    out = np.zeros(n, np.int64)
    for i in prange(n):
        s = np.int64(0)
        for j in range(offs[i], offs[i + 1]):
            s += cnts[j]
        out[i] = s
    return out


@njit(cache=True)
def area(cnts, offs):
    """rleArea: foreground pixels (odd runs), uint32 ``[n]``."""
    n = offs.shape[0] - 1
    out = np.zeros(n, np.uint32)
    for i in range(n):
        s = np.int64(0)
        for j in range(offs[i] + 1, offs[i + 1], 2):
            s += cnts[j]
        out[i] = s & U32
    return out


@njit(cache=True, parallel=True)
def to_bbox(cnts, offs, hs, ws):
    """rleToBbox: [x, y, w, h] float64 ``[n, 4]`` of each mask's foreground."""
    n = offs.shape[0] - 1
    bb = np.zeros((n, 4))
    for i in prange(n):
        h = hs[i]
        m = ((offs[i + 1] - offs[i]) // 2) * 2
        if m == 0 or h == 0:
            continue
        xs = ws[i]
        ys = h
        xe = 0
        ye = 0
        cc = np.int64(0)
        for j in range(m):
            start = cc
            c = np.int64(cnts[offs[i] + j])
            cc = (cc + c) & U32
            if j % 2 == 0 or c == 0:
                continue
            y_start = start % h
            x_start = (start - y_start) // h
            y_end = ((cc - 1) & U32) % h
            x_end = (((cc - 1) & U32) - y_end) // h
            xs = min(xs, x_start)
            xe = max(xe, x_end)
            if x_start < x_end:
                ys = 0
                ye = h - 1
            else:
                ys = min(ys, y_start)
                ye = max(ye, y_end)
        bb[i, 0] = xs
        bb[i, 2] = (xe - xs + 1) & U32
        bb[i, 1] = ys
        bb[i, 3] = (ye - ys + 1) & U32
    return bb


@njit(cache=True)
def bb_iou_pair(d, g, crowd):
    """bbIou for one pair of [x, y, w, h] boxes (0 when they do not overlap)."""
    w = min(d[2] + d[0], g[2] + g[0]) - max(d[0], g[0])
    if w <= 0:
        return 0.0
    h = min(d[3] + d[1], g[3] + g[1]) - max(d[1], g[1])
    if h <= 0:
        return 0.0
    i = w * h
    if crowd:
        u = d[2] * d[3]
    else:
        u = d[2] * d[3] + g[2] * g[3] - i
    return i / u


@njit(cache=True)
def bb_iou(db, gb, crowd):
    """bbIou: ``[m, n]`` IoU of [x, y, w, h] boxes; crowd uint8 ``[n]``."""
    out = np.zeros((db.shape[0], gb.shape[0]))
    for g in range(gb.shape[0]):
        for d in range(db.shape[0]):
            out[d, g] = bb_iou_pair(db[d], gb[g], crowd[g] != 0)
    return out


@njit(cache=True, inline="always")
def _advance(left, cnts, base, i, m, v):
    """The run walk's step in maskApi.c: when the current run is used up (``left`` 0) and runs
    remain, take the next one and flip the value. Returns (left, i, v)."""
    if left == 0 and i < m:
        return np.int64(cnts[base + i]), i + 1, not v
    return left, i, v


@njit(cache=True)
def rle_inter_union(dc, ds, dm, gc, gs, gm):
    """The run-walking loop of rleIou: (intersection, union) pixels of two RLEs."""
    ca = np.int64(dc[ds])
    cb = np.int64(gc[gs])
    a = 1
    b = 1
    va = False
    vb = False
    inter = np.int64(0)
    union = np.int64(0)
    ct = 1
    while ct > 0:
        c = min(ca, cb)
        if va or vb:
            union += c
            if va and vb:
                inter += c
        ca, a, va = _advance(ca - c, dc, ds, a, dm, va)
        cb, b, vb = _advance(cb - c, gc, gs, b, gm, vb)
        ct = ca + cb
        if c == 0 and ct > 0 and ((ca == 0 and a >= dm) or (cb == 0 and b >= gm)):
            break  # one RLE ended before the other: pycocotools loops forever here
    return inter, union


@njit(cache=True)
def rle_iou_pair(dc, doff, d, dbb, dh, dw, darea, gc, goff, g, gbb, gh, gw, crowd):
    """rleIou for one (detection, ground truth) pair, bbox pre-check included."""
    o = bb_iou_pair(dbb[d], gbb[g], crowd)
    if not o > 0:
        return o
    if dh[d] != gh[g] or dw[d] != gw[g]:
        return -1.0
    inter, union = rle_inter_union(dc, doff[d], doff[d + 1] - doff[d], gc, goff[g], goff[g + 1] - goff[g])
    if inter == 0:
        union = 1
    elif crowd:
        union = darea[d]
    return inter / union


@njit(cache=True)
def rle_iou(dc, doff, dbb, dh, dw, darea, gc, goff, gbb, gh, gw, crowd):
    """rleIou: ``[m, n]``; crowd uint8 ``[n]``."""
    m = doff.shape[0] - 1
    n = goff.shape[0] - 1
    out = np.zeros((m, n))
    for g in range(n):
        for d in range(m):
            out[d, g] = rle_iou_pair(dc, doff, d, dbb, dh, dw, darea, gc, goff, g, gbb, gh, gw, crowd[g] != 0)
    return out


@njit(cache=True)
def merge_groups(cnts, offs, hs, ws, bounds):
    """The union (rleMerge) of RLEs ``bounds[i]:bounds[i+1]`` for every group ``i``:
    packed counts and offsets, one RLE per group."""
    parts = []
    for i in range(bounds.shape[0] - 1):
        a, b = bounds[i], bounds[i + 1]
        r, _, _ = merge(cnts, offs[a:b + 1], hs[a:b], ws[a:b], False)
        parts.append(r)
    return pack(parts, bounds.shape[0] - 1)


@njit(cache=True)
def pack(parts, n):
    """``n`` count arrays concatenated: (counts uint32, offsets int64 ``[n + 1]``)."""
    offs = np.zeros(n + 1, np.int64)
    for i in range(n):
        offs[i + 1] = offs[i] + parts[i].shape[0]
    out = np.empty(offs[n], np.uint32)
    for i in range(n):
        out[offs[i]:offs[i + 1]] = parts[i]
    return out, offs


@njit(cache=True)
def merge(cnts, offs, hs, ws, intersect):
    """rleMerge of every RLE in the set into one: (counts, h, w); (empty, 0, 0) when sizes differ."""
    n = offs.shape[0] - 1
    h = hs[0]
    w = ws[0]
    cur = cnts[offs[0]:offs[1]].copy()
    if n == 1:
        return cur, h, w
    for i in range(1, n):
        if hs[i] != h or ws[i] != w:
            return np.zeros(0, np.uint32), np.int64(0), np.int64(0)
        bs = offs[i]
        bm = offs[i + 1] - bs
        am = cur.shape[0]
        out = np.empty(am + bm + 1, np.uint32)
        ca = np.int64(cur[0])
        cb = np.int64(cnts[bs])
        v = False
        va = False
        vb = False
        m = 0
        a = 1
        b = 1
        cc = np.int64(0)
        ct = 1
        while ct > 0:
            c = min(ca, cb)
            cc += c
            ca, a, va = _advance(ca - c, cur, 0, a, am, va)
            cb, b, vb = _advance(cb - c, cnts, bs, b, bm, vb)
            ct = ca + cb
            vp = v
            v = (va and vb) if intersect else (va or vb)
            if v != vp or ct == 0:
                out[m] = cc
                m += 1
                cc = 0
            if c == 0 and ct > 0 and ((ca == 0 and a >= am) or (cb == 0 and b >= bm)):
                raise ValueError("RLEs of different pixel totals cannot be merged")
        cur = out[:m].copy()
    return cur, h, w


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
