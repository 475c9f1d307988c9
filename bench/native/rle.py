"""Run-length-encoded masks with the C extensions ``bench.native._rle`` and ``_segm_results``.

The same kernels as :mod:`bench.masks.kernels` / :mod:`bench.masks.poly` (numba, the fallback
and the reference): bit-identical outputs, no numba import. Packed sets as there: counts
uint32 ``[sum m_i]``, offs int64 ``[N+1]``, heights / widths int64 ``[N]``. The per-RLE and
per-group kernels run over ranges in Python threads (the C code releases the GIL).
"""

from __future__ import annotations

import mmap

import numpy as np

from bench.native import built, enabled
from bench.native.kernels import _run, _split

_rle = built("_rle")
_segm = built("_segm_results")


def available() -> bool:
    """Both extensions are built and ``DETBENCH_NATIVE`` does not turn them off ("0")."""
    return _rle is not None and _segm is not None and enabled()


_HUGE_MIN_BYTES = 32 << 20  # from this size an output buffer asks for transparent huge pages


def big_empty(n: int, dtype) -> np.ndarray:
    """``np.empty(n, dtype)``; from 32 MiB in anonymous memory advised to use huge pages (Linux
    transparent huge pages in "madvise" mode), so that filling it faults 2 MiB pages, not 4 KiB
    ones: at COCO scale the masks' runs (~350 MB) cost more in page faults than in decoding."""
    nbytes = int(n) * np.dtype(dtype).itemsize
    if nbytes < _HUGE_MIN_BYTES or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.empty(n, dtype)
    buf = mmap.mmap(-1, nbytes)
    try:
        buf.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # refused (no THP support): ordinary pages, same array
        pass
    return np.frombuffer(buf, dtype)


def _i64(x) -> np.ndarray:
    return np.ascontiguousarray(x, np.int64)


def decode_strings(buf, starts: np.ndarray, ends: np.ndarray, json_escapes: bool = False):
    """rleFrString of the strings ``buf[starts[i]:ends[i]]`` (``json_escapes``: a ``\\\\`` pair is
    one backslash, as the results scanner leaves them). Returns (counts, offs, bad): ``bad`` the
    first malformed string's index (see :func:`bench.masks.kernels.from_string`), or -1."""
    starts, ends = _i64(starts), _i64(ends)
    n = len(starts)
    runs = np.empty(n, np.int64)
    ranges = _split(ends - starts)
    _run(lambda lo, hi: _rle.count_runs(buf, starts, ends, json_escapes, runs, n, lo, hi), ranges)
    offs = np.zeros(n + 1, np.int64)
    np.cumsum(runs, out=offs[1:])
    cnts = big_empty(offs[-1], np.uint32)
    bad = np.zeros(n, np.uint8)
    _run(lambda lo, hi: _rle.decode_strings(buf, starts, ends, json_escapes, offs, cnts, bad, n, lo, hi), ranges)
    wrong = np.flatnonzero(bad)
    return cnts, offs, int(wrong[0]) if len(wrong) else -1


def take(cnts: np.ndarray, offs: np.ndarray, rows: np.ndarray):
    """The runs of RLEs ``rows`` (in that order): (counts, offs), as :func:`bench.masks.kernels.take_runs`."""
    cnts, offs, rows = np.ascontiguousarray(cnts, np.uint32), _i64(offs), _i64(rows)
    n = len(offs) - 1
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise IndexError("a row is outside the packed masks")
    lengths = offs[rows + 1] - offs[rows]
    out_offs = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=out_offs[1:])
    out = big_empty(out_offs[-1], np.uint32)
    _run(lambda lo, hi: _rle.take(cnts, offs, rows, out_offs, out, n, len(rows), lo, hi), _split(lengths))
    return out, out_offs


def stats(cnts: np.ndarray, offs: np.ndarray, heights: np.ndarray, widths: np.ndarray, bbox: bool = True):
    """(area uint32 ``[n]`` (rleArea), pixel totals int64 ``[n]``, bbox float64 ``[n, 4]``
    (rleToBbox), or None without ``bbox``: the costly one)."""
    n = len(offs) - 1
    area, totals, bb = np.empty(n, np.uint32), np.empty(n, np.int64), np.empty((n, 4)) if bbox else None
    cnts, offs, heights, widths = np.ascontiguousarray(cnts, np.uint32), _i64(offs), _i64(heights), _i64(widths)
    _run(lambda lo, hi: _rle.stats(cnts, offs, heights, widths, area, totals, bb, n, lo, hi), _split(np.diff(offs)))
    return area, totals, bb


def _check_spans(buf, starts: np.ndarray, ends: np.ndarray) -> None:
    if len(starts) != len(ends) or (len(starts) and (starts.min() < 0 or (ends < starts).any() or ends.max() > len(buf))):
        raise IndexError("string spans outside the buffer")


def string_stats(buf, starts: np.ndarray, ends: np.ndarray, json_escapes: bool, heights: np.ndarray, widths: np.ndarray,
                 bbox: bool = True):  # fmt: skip
    """:func:`stats` of the compressed strings ``buf[starts[i]:ends[i]]``, no runs kept (without
    ``bbox`` the runs are only added up while decoding): (area, totals, bbox or None, bad), ``bad``
    the first malformed string's index or -1."""
    starts, ends, heights, widths = _i64(starts), _i64(ends), _i64(heights), _i64(widths)
    _check_spans(buf, starts, ends)
    n = len(starts)
    area, totals, bb, bad = np.empty(n, np.uint32), np.empty(n, np.int64), np.empty((n, 4)) if bbox else None, np.zeros(n, np.uint8)
    _run(lambda lo, hi: _rle.string_stats(buf, starts, ends, json_escapes, heights, widths, area, totals, bb, bad, n, lo, hi),
         _split(ends - starts))  # fmt: skip
    wrong = np.flatnonzero(bad)
    return area, totals, bb, int(wrong[0]) if len(wrong) else -1


def group_ious(gc, goff, gbb, gh, gw, g_rows, crowd, gs, ge, dc, doff, dbb, dh, dw, darea, d_rows, ds, de, strings=None):
    """:func:`bench.masks.kernels.group_ious` (same arguments, same result) in C. ``strings``:
    (buf, starts, ends, json_escapes): the detections as compressed counts strings, decoded inside
    the kernel where a pair needs them (``dc`` and ``doff`` then unused; ``dbb`` may be None: each
    detection's rleToBbox is then taken in the kernel, where its group has ground truth)."""
    gt = [np.ascontiguousarray(gc, np.uint32), _i64(goff), np.ascontiguousarray(gbb, np.float64), _i64(gh), _i64(gw),
          np.ascontiguousarray(crowd, np.uint8), _i64(g_rows), _i64(gs), _i64(ge)]  # fmt: skip
    dbb = None if dbb is None and strings is not None else np.ascontiguousarray(dbb, np.float64).reshape(-1, 4)
    tail = [dbb, _i64(dh), _i64(dw), _i64(darea), _i64(d_rows), _i64(ds), _i64(de)]
    if strings is None:
        dt, extra, n_dt = [np.ascontiguousarray(dc, np.uint32), _i64(doff), *tail], (), len(_i64(doff)) - 1
    else:
        buf, starts, ends, esc = strings[0], _i64(strings[1]), _i64(strings[2]), bool(strings[3])
        _check_spans(buf, starts, ends)
        dt, extra, n_dt = [buf, starts, *tail], (ends, esc), len(starts)
    n_gt, n = len(gt[1]) - 1, len(gt[7])
    if any(len(x) != n_dt for x in (tail[1], tail[2], tail[3])) or (dbb is not None and len(dbb) != n_dt):
        raise ValueError("one box, size and area per detection mask is needed")
    for rows, count, name in ((gt[6], n_gt, "GT"), (dt[6], n_dt, "detection")):
        if len(rows) and (rows.min() < 0 or rows.max() >= count):
            raise IndexError(f"a {name} row is outside the packed masks")
    if len(gt[5]) != len(gt[6]):
        raise ValueError("one crowd flag per GT row is needed")
    for lo, hi, rows in ((gt[7], gt[8], gt[6]), (dt[7], dt[8], dt[6])):
        if len(lo) != n or len(hi) != n or (n and ((lo < 0).any() or (hi < lo).any() or (hi > len(rows)).any())):
            raise IndexError("group bounds outside the rows")
    sizes = (gt[8] - gt[7]) * (dt[8] - dt[7])
    off = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=off[1:])
    out = np.zeros(off[-1])
    gt, dt = tuple(gt), tuple(dt)
    _run(lambda lo, hi: _rle.group_ious(gt, dt, off, out, n_gt, len(gt[6]), n_dt, len(dt[6]), n, lo, hi, *extra), _split(sizes))
    return out, off


def fr_polys(coords: np.ndarray, coord_offs: np.ndarray, heights: np.ndarray, widths: np.ndarray):
    """rleFrPoly of every polygon (see :func:`bench.masks.poly.fr_polys`), in parts (threads
    over ranges): a list of (lo, hi, counts, offs), offs from 0 for polygons [lo, hi)."""
    coord_offs = _i64(coord_offs)
    n = len(coord_offs) - 1
    if n and ((np.diff(coord_offs) < 0).any() or coord_offs[0] != 0 or coord_offs[-1] > len(coords)):
        raise IndexError("polygon offsets outside the coordinates")
    coords, heights, widths = np.ascontiguousarray(coords, np.float64), _i64(heights), _i64(widths)
    ranges = _split(np.diff(coord_offs) * 64)  # a vertex's walk: tens of points
    parts: dict = {}

    def run(lo: int, hi: int) -> None:
        parts[lo] = _rle.fr_polys(coords, coord_offs, heights, widths, n, lo, hi)

    _run(run, ranges)
    return [(lo, hi, np.frombuffer(parts[lo][0], np.uint32), np.frombuffer(parts[lo][1], np.int64)) for lo, hi in ranges]


def merge_groups(cnts: np.ndarray, offs: np.ndarray, bounds: np.ndarray):
    """The union (rleMerge) of RLEs ``bounds[i]:bounds[i+1]`` (each group non-empty, one size):
    (counts, offs), one RLE per group."""
    offs, bounds = _i64(offs), _i64(bounds)
    if len(bounds) < 1 or (np.diff(bounds) <= 0).any() or bounds[0] < 0 or bounds[-1] > len(offs) - 1:
        raise IndexError("merge groups outside the RLEs")
    c, o = _rle.merge_groups(np.ascontiguousarray(cnts, np.uint32), offs, bounds, len(offs) - 1, len(bounds) - 1)
    return np.frombuffer(c, np.uint32), np.frombuffer(o, np.int64)


def scan_spans(data: bytes, cap: int | None = None):
    """Each record's compressed RLE in a results JSON file, found, not decoded: (sizes int64
    ``[N, 2]``, starts, ends int64 ``[N]`` (the counts string is ``data[starts[i]:ends[i]]``),
    json_escapes: a ``\\\\`` pair in some string), or None when the file is not in the reader's
    shape (see ``segm_results.c``) or holds more than ``cap`` records (default: an upper bound from
    the file's length, as a record the reader takes is at least ``{"segmentation":{"size":[0,0],
    "counts":""}}``, 44 bytes; the outputs are allocated, not touched, beyond the records found)."""
    cap = len(data) // 44 + 1 if cap is None else cap
    starts, ends = np.empty(cap, np.int64), np.empty(cap, np.int64)
    sizes, escaped = np.empty((cap, 2), np.int64), np.empty(cap, np.uint8)
    ok, rows = _segm.scan(data, starts, ends, sizes, escaped, cap)
    if not ok:
        return None
    return sizes[:rows], starts[:rows], ends[:rows], bool(escaped[:rows].any())

