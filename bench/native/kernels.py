"""C matching and accumulation kernels: drop-in equals of :mod:`bench.metrics.kernels`.

``match_groups``, ``accumulate_coco`` and ``accumulate_voc`` take the arguments of the numba
functions and return the same arrays, bit for bit (same dtypes, shapes and layouts). The
work is cut into ranges (groups weighted by their pairs; categories weighted by their
detections) run by Python threads, each calling the C extension ``bench.native._kernels``
with the GIL released. Inputs are checked here (dtypes, shapes, index ranges) so the C code
can trust them. Importing this module does not import numba.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

from bench.native import built, enabled

_kernels = built("_kernels")  # None where not built (no C compiler at install time): callers use numba

_MAX_THREADS = 8
_MIN_WORK_PER_THREAD = 20_000  # below this a thread costs more than it saves (units: pairs or detections)


def available() -> bool:
    """The extension is built and ``DETBENCH_NATIVE`` does not turn it off ("0")."""
    return _kernels is not None and enabled()


def _require() -> None:
    if _kernels is None:
        raise RuntimeError("bench.native._kernels is not built; run `python setup.py build_ext --inplace`")


def _n_threads() -> int:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(n, _MAX_THREADS))


def _split(work: np.ndarray, parallel: bool = True) -> list[tuple[int, int]]:
    """Consecutive ranges of ``work``'s indices with about equal sums, one per thread (one
    range when the work is small or ``parallel`` is false)."""
    n = len(work)
    cum = np.cumsum(work, dtype=np.float64)
    total = float(cum[-1]) if n else 0.0
    parts = min(_n_threads(), int(total // _MIN_WORK_PER_THREAD)) if parallel else 1
    if parts <= 1:
        return [(0, n)]
    cuts = np.searchsorted(cum, total * np.arange(1, parts) / parts, side="right")
    bounds = [0, *sorted(set(int(c) for c in cuts) - {0, n}), n]
    return list(zip(bounds[:-1], bounds[1:]))


def _run(call: Callable[[int, int], None], ranges: list[tuple[int, int]]) -> None:
    """``call(lo, hi)`` for every range: the first in this thread, the others in threads."""
    errors: list[BaseException] = []

    def worker(lo: int, hi: int) -> None:
        try:
            call(lo, hi)
        except BaseException as e:  # re-raised in the caller below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=r) for r in ranges[1:]]
    for t in threads:
        t.start()
    worker(*ranges[0])
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def _array(name: str, x, kind: str, ndim: int, shape: tuple | None = None) -> np.ndarray:
    """``x`` as a C-contiguous array of the kernels' dtype for ``kind`` ("f" float64, "b" bool,
    "i" int64, "int8"). Floats must already be float64 and booleans bool (converting them would
    change the numbers); any integer dtype is widened to int64. ``shape``: None entries are free."""
    x = np.asarray(x)
    if kind == "f" and x.dtype != np.float64:
        raise TypeError(f"{name}: float64 required, got {x.dtype}")
    if kind == "b" and x.dtype != np.bool_:
        raise TypeError(f"{name}: bool required, got {x.dtype}")
    if kind == "int8" and x.dtype != np.int8:
        raise TypeError(f"{name}: int8 required, got {x.dtype}")
    if kind == "i":
        if x.dtype.kind not in "iu" and not (x.dtype.kind in "f" and x.size == 0):
            raise TypeError(f"{name}: integers required, got {x.dtype}")
        x = x.astype(np.int64, copy=False)
    if x.ndim != ndim or (shape is not None and any(s is not None and s != n for s, n in zip(shape, x.shape))):
        raise ValueError(f"{name}: shape {x.shape}, expected {shape if shape is not None else f'{ndim} dimensions'}")
    return np.ascontiguousarray(x)


def _spans(name: str, start: np.ndarray, end: np.ndarray, n: int) -> None:
    """Every ``[start[i], end[i])`` inside ``[0, n)`` and not reversed."""
    if len(start) and (start.min() < 0 or end.max() > n or (end < start).any()):
        raise ValueError(f"{name}: ranges must satisfy 0 <= start <= end <= {n}")


def match_groups(
    gt_xyxy, gt_barea, gt_area, gt_crowd, gt_ig, gt_start, gt_end,
    dt_xyxy, dt_barea, dt_area, dt_uig, dt_start, dt_end,
    area_lo, area_hi, thrs, mode, pre_iou, pre_off, out_pos,
) -> np.ndarray:  # fmt: skip
    """:func:`bench.metrics.kernels.match_groups` in C: int8 status ``[D, A, T]``, equal bit for bit."""
    _require()
    n_gt, n_dt = len(gt_barea), len(dt_area)
    gt_start = _array("gt_start", gt_start, "i", 1)
    n_grp = len(gt_start)
    ins = (
        _array("gt_xyxy", gt_xyxy, "f", 2, (n_gt, 4)), _array("gt_barea", gt_barea, "f", 1),
        _array("gt_area", gt_area, "f", 1, (n_gt,)), _array("gt_crowd", gt_crowd, "b", 1, (n_gt,)),
        _array("gt_ig", gt_ig, "b", 1, (n_gt,)), gt_start, _array("gt_end", gt_end, "i", 1, (n_grp,)),
        _array("dt_xyxy", dt_xyxy, "f", 2, (n_dt, 4)), _array("dt_barea", dt_barea, "f", 1, (n_dt,)),
        _array("dt_area", dt_area, "f", 1), _array("dt_uig", dt_uig, "b", 1, (n_dt,)),
        _array("dt_start", dt_start, "i", 1, (n_grp,)), _array("dt_end", dt_end, "i", 1, (n_grp,)),
        _array("area_lo", area_lo, "f", 1), _array("area_hi", area_hi, "f", 1, (len(area_lo),)),
        _array("thrs", thrs, "f", 1), _array("pre_iou", pre_iou, "f", 1), _array("pre_off", pre_off, "i", 1),
        _array("out_pos", out_pos, "i", 1, (n_dt,)),
    )  # fmt: skip
    gs, ge, ds, de, pre, off, pos = ins[5], ins[6], ins[11], ins[12], ins[16], ins[17], ins[18]
    if int(mode) not in (0, 1, 2):
        raise ValueError(f"mode must be 0, 1 or 2, got {mode}")
    _spans("gt_start/gt_end", gs, ge, n_gt)
    _spans("dt_start/dt_end", ds, de, n_dt)
    pairs = (ge - gs) * (de - ds)
    if len(off):  # group i's IoU matrix [nd, ng] is pre_iou[pre_off[i]:pre_off[i + 1]]
        if len(off) != n_grp + 1 or (n_grp and (off[0] < 0 or off[-1] > len(pre) or (np.diff(off) != pairs).any())):
            raise ValueError("pre_off: expected G + 1 offsets into pre_iou, group i's holding nd * ng values")
    if n_dt and (pos.min() < 0 or pos.max() >= n_dt):
        raise ValueError(f"out_pos: rows must lie in [0, {n_dt})")
    status = np.zeros((n_dt, len(ins[13]), len(ins[15])), np.int8)
    # threads write disjoint rows only when the groups' detections and their out_pos rows are
    # disjoint (always so in the core); otherwise one range, in group order, as numba's serial order
    disjoint = bool((ds[1:] >= de[:-1]).all()) and (n_dt == 0 or np.bincount(pos, minlength=n_dt).max() <= 1)
    ranges = _split(pairs + (de - ds), parallel=disjoint)
    _run(lambda lo, hi: _kernels.match(ins, status, int(mode), lo, hi), ranges)
    return status


def _categories(cat_start, cat_end, npos, n_area: int) -> tuple[np.ndarray, ...]:
    """Checked category spans and counts: (cat_start, cat_end, npos [K, A])."""
    cs = _array("cat_start", cat_start, "i", 1)
    ce = _array("cat_end", cat_end, "i", 1, (len(cs),))
    npos = _array("npos", npos, "i", 2, (len(cs), n_area))
    return cs, ce, npos


def accumulate_coco(status, rank, cat_start, cat_end, npos, max_dets, rec_thrs):
    """:func:`bench.metrics.kernels.accumulate_coco` in C: precision ``[T, R, K, A, M]``,
    recall ``[T, K, A, M]`` and mean precision ``[T, K, A, M]``, equal bit for bit (and the
    same transposed views of arrays filled in ``[K, A, M, T, R]`` order)."""
    _require()
    status = _array("status", status, "int8", 3)
    n_det, n_area, n_thr = status.shape
    if n_det >= 2**31:  # the C code counts a category's detections in 32 bits
        raise ValueError(f"status: {n_det} detections, at most 2**31 - 1 supported")
    rank = _array("rank", rank, "i", 1, (n_det,))
    cs, ce, npos = _categories(cat_start, cat_end, npos, n_area)
    _spans("cat_start/cat_end", cs, ce, n_det)
    max_dets = _array("max_dets", max_dets, "i", 1)
    rec_thrs = _array("rec_thrs", rec_thrs, "f", 1)
    if not (rec_thrs[1:] >= rec_thrs[:-1]).all() or np.isnan(rec_thrs).any():
        raise ValueError("rec_thrs must be ascending (pycocotools' recall points), without NaN")
    if (npos < 0).any():
        raise ValueError("npos: counts of ground truth must not be negative")
    shape = (len(cs), n_area, len(max_dets), n_thr)
    prec = np.full((*shape, len(rec_thrs)), -1.0)
    rec = np.full(shape, -1.0)
    mean = np.full(shape, np.nan)
    ins, outs = (status, rank, cs, ce, npos, max_dets, rec_thrs), (prec, rec, mean)
    ranges = _split((ce - cs) + len(rec_thrs))
    _run(lambda lo, hi: _kernels.accumulate_coco(ins, outs, n_area, n_thr, lo, hi), ranges)
    return np.transpose(prec, (3, 4, 0, 1, 2)), np.transpose(rec, (3, 0, 1, 2)), np.transpose(mean, (3, 0, 1, 2))


def accumulate_voc(status, cat_start, cat_end, npos, points11, all_point):
    """:func:`bench.metrics.kernels.accumulate_voc` in C: AP and recall ``[T, K, A]``, NaN
    where undefined, equal bit for bit. ``status`` int8 ``[A, T, D]``."""
    _require()
    status = _array("status", status, "int8", 3)
    n_area, n_thr, n_det = status.shape
    cs, ce, npos = _categories(cat_start, cat_end, npos, n_area)
    _spans("cat_start/cat_end", cs, ce, n_det)
    points11 = _array("points11", points11, "f", 1)
    ap = np.full((n_thr, len(cs), n_area), np.nan)
    recall = np.full((n_thr, len(cs), n_area), np.nan)
    ins, outs = (status, cs, ce, npos, points11), (ap, recall)
    ranges = _split((ce - cs) + 1)
    _run(lambda lo, hi: _kernels.accumulate_voc(ins, outs, n_area, n_thr, bool(all_point), lo, hi), ranges)
    return ap, recall
