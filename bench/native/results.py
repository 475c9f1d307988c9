"""COCO results JSON -> columns with the C extension ``bench.native._results``.

The same contract as :func:`bench.data.fast_results.parse_columns` (the numba version, which
stays the reference): it accepts exactly the files that one accepts, declines (``None``)
exactly the ones it declines, and gives bit-identical numbers, without importing numba.

The records are read in two halves at once, each in its own thread with the GIL released: the
second half starts at a plausible record start (a ``{`` after a ``,``), which counts only when
the first half's records end exactly there; otherwise the file is read again in one pass.
"""

from __future__ import annotations

import threading

import numpy as np

from bench.native import built, enabled

_results = built("_results")  # None where not built (optional at install time): callers use the numba version

_MIN_SPLIT = 1 << 16
_MIN_ANNOTATION = len(b'{"id":0,"image_id":0,"category_id":0,"bbox":[0,0,0,0]}')  # the shortest record gt_span accepts  # smaller files are read in one pass: a thread costs more than it saves


def available() -> bool:
    """Whether the extension was built and is not switched off by ``DETBENCH_NATIVE=0``."""
    return _results is not None and enabled()


def parse_columns(data: bytes):
    """(image_id int64 [N], category_id int64 [N], xywh float64 [N, 4] C-contiguous,
    score float64 [N]), or None when the file is not in the fast path's shape."""
    if _results is None:
        raise RuntimeError("bench.native._results is not built; use bench.data.fast_results")
    return _parse(data, bool(_results.HAVE_STRTOD), _MIN_SPLIT)


def _parse(data: bytes, use_strtod: bool, min_split: int):
    """parse_columns with its two switches exposed for tests: ``use_strtod`` False sends every
    number outside the exact integer paths to Python's float() (what builds without glibc
    do); ``min_split``: the smallest remainder after ``[`` that is split in two halves."""
    if len(data) == 0:
        return None
    status, start, mid, braces0, braces1 = _results.plan(data, min_split)
    if status == 0:
        return None
    cap = braces0 + braces1  # every record has its own '{': an upper bound on the rows
    img = np.empty(cap, np.int64)
    cat = np.empty(cap, np.int64)
    xywh = np.empty((cap, 4), np.float64)
    score = np.empty(cap, np.float64)
    slow = np.empty((5 * cap, 3), np.int64)  # untouched pages cost no memory
    columns = (img, cat, xywh, score)
    if status == 1:
        return columns  # "[]": no rows
    n = len(data)
    if mid < n:
        rows = _two_halves(data, start, mid, braces0, columns, slow, use_strtod)
        if rows is not None:
            return tuple(c[:rows] for c in columns)
    ok, rows, n_slow = _results.span(data, start, n, True, img, cat, xywh, score, slow, use_strtod)
    if not ok:
        return None
    _fill_slow(data, slow[:n_slow], xywh, score)
    return tuple(c[:rows] for c in columns)


def _two_halves(data: bytes, start: int, mid: int, cap0: int, columns, slow, use_strtod: bool):
    """Read [start, mid) into rows [0, cap0) and [mid, end) into rows [cap0, ...) at once, then
    move the second half's rows down next to the first's: the row count, or None when the
    halves do not join exactly at mid (the caller then reads the file in one pass)."""
    views = [
        (start, mid, False, [c[:cap0] for c in columns], slow[: 5 * cap0]),
        (mid, len(data), True, [c[cap0:] for c in columns], slow[5 * cap0 :]),
    ]
    answers: list = [None, None]

    def read(h: int) -> None:
        begin, stop, last, cols, slow_h = views[h]
        try:
            answers[h] = _results.span(data, begin, stop, last, *cols, slow_h, use_strtod)
        except BaseException as err:  # re-raised in the calling thread
            answers[h] = err

    second = threading.Thread(target=read, args=(1,), name="results-json-half")
    second.start()
    read(0)
    second.join()
    for answer in answers:
        if isinstance(answer, BaseException):
            raise answer
    if not (answers[0][0] and answers[1][0]):
        return None
    for (_, _, _, cols, slow_h), (_, _, n_slow) in zip(views, answers):
        _fill_slow(data, slow_h[:n_slow], cols[2], cols[3])
    rows0, rows1 = answers[0][1], answers[1][1]
    if rows0 < cap0:  # nested braces in other keys' values: close the gap
        for c in columns:
            c[rows0 : rows0 + rows1] = c[cap0 : cap0 + rows1]
    return rows0 + rows1


def _fill_slow(data: bytes, slow: np.ndarray, xywh: np.ndarray, score: np.ndarray) -> None:
    """Python's float() for the queued (start, end, row * 5 + column) tokens."""
    for begin, end, flat in slow.tolist():
        row, col = divmod(flat, 5)
        value = float(bytes(data[begin:end]))  # bytes: data may be any buffer
        if col == 4:
            score[row] = value
        else:
            xywh[row, col] = value


def parse_gt_annotations(data: bytes):
    """A COCO / LVIS ground-truth file's "annotations" array read in C (``gt_json.c``):
    ``(rest, columns)``, or None when the file is not in the fast path's shape (the caller
    then parses it in full, which names any bad record). ``rest``: the file's bytes with that
    array replaced by ``[]`` (images, categories and the rest, for a general JSON parser).
    ``columns``: dict of ``id``, ``image_id``, ``category_id`` (int64 ``[N]``), ``xywh``
    (float64 ``[N, 4]``, finite, w and h >= 0), ``area`` (float64 ``[N]``, NaN where the field
    is missing), ``iscrowd``, ``ignore`` and ``has_iscrowd`` (bool ``[N]``)."""
    if _results is None:
        raise RuntimeError("bench.native._results is not built")
    status, at = _results.gt_top(data, 0, True)
    if status != 1:
        return None  # no annotations member (the general path says so), or declined
    # an annotation takes at least _MIN_ANNOTATION bytes: a bound on the rows that costs no
    # pass over the data (np.empty: the pages past the rows read are never touched)
    cap = (len(data) - at) // _MIN_ANNOTATION + 1
    ids, img, cat = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap, np.int64)
    xywh, area = np.empty((cap, 4), np.float64), np.empty(cap, np.float64)
    crowd, ignore, seen = np.empty(cap, np.uint8), np.empty(cap, np.uint8), np.empty(cap, np.uint8)
    slow = np.empty((5 * cap, 3), np.int64)  # untouched pages cost no memory
    end, rows, n_slow = _results.gt_span(data, at, ids, img, cat, xywh, area, crowd, ignore, seen, slow, bool(_results.HAVE_STRTOD))
    if end < 0 or _results.gt_top(data, end, False)[0] != 2:  # declined, or a second "annotations"
        return None
    for begin, stop, flat in slow[:n_slow].tolist():
        row, c = divmod(flat, 5)
        value = float(bytes(data[begin:stop]))
        if c == 4:
            area[row] = value
        else:
            xywh[row, c] = value
    xywh, area, seen = xywh[:rows], area[:rows], seen[:rows]
    if not (np.isfinite(xywh).all() and (xywh[:, 2:] >= 0).all() and np.isfinite(area).all()):
        return None  # the general path names the record
    area[(seen & 1) == 0] = np.nan
    columns = {"id": ids[:rows], "image_id": img[:rows], "category_id": cat[:rows], "xywh": xywh, "area": area,
               "iscrowd": crowd[:rows].astype(bool), "ignore": ignore[:rows].astype(bool), "has_iscrowd": (seen & 2) != 0}  # fmt: skip
    return bytes(data[:at]) + b"[]" + bytes(data[end:]), columns
