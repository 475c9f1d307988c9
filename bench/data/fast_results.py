"""A fast path for COCO results JSON: bytes -> columns in one compiled pass, no Python dicts.

It accepts exactly the common shape: a top-level list of objects, each with ``image_id`` and
``category_id`` (JSON integers), ``bbox`` (4 numbers) and ``score`` (a number). The values
of other keys are skipped but fully validated as JSON (string escapes and UTF-8, no raw
control bytes, the number grammar, commas and colons in nested arrays and objects), so
nothing Python's ``json`` refuses is accepted; known keys must be spelled without escapes.
Anything else (a dict at the top, a missing or repeated key, a float id, a number given as a
string, a NaN literal, malformed JSON, a value that then fails validation) returns ``None``
and the caller takes the general path (orjson + per-field validation), which gives the same
numbers or the error naming the file, record and field.

Numbers are exact: a decimal with at most 2^53 as its digits and a power of ten within 1e22
converts with one correctly rounded IEEE operation (Clinger's fast path); any other number is
re-read by Python's ``float`` from its bytes.
"""

from __future__ import annotations

import numba
import numpy as np

from bench.data.json_scan import (
    _COLON,
    _COMMA,
    _LBRACE,
    _LBRACK,
    _MAX_DEPTH,
    _QUOTE,
    _RBRACE,
    _RBRACK,
    _key,
    _next,
    _number,
    _skip_value,
    _store,
    _ws,
)


@numba.njit(cache=True, inline="always")
def _record(buf, p, row, img, cat, vals, slow, ns, stack):
    """One results record (its opening brace at p) into row ``row``: (position after its
    closing brace, ns), or (-1, ns) when it is not in the fast path's shape."""
    n = len(buf)
    if p >= n or buf[p] != _LBRACE:
        return -1, ns
    p += 1
    seen = 0
    while True:
        p = _ws(buf, p)
        if p >= n or buf[p] != _QUOTE:
            return -1, ns
        p, code = _key(buf, p)
        if p < 0:
            return -1, ns
        p = _ws(buf, p)
        if p >= n or buf[p] != _COLON:
            return -1, ns
        p = _ws(buf, p + 1)
        if p >= n:
            return -1, ns
        if code == 4:
            p = _skip_value(buf, p, stack)
            if p < 0:
                return -1, ns
        else:
            bit = 1 << code
            if seen & bit:
                return -1, ns  # a repeated key: let the general path decide
            seen |= bit
            if code <= 1:
                end, _, _, is_int, integer = _number(buf, p)
                if end < 0 or not is_int:
                    return -1, ns
                if code == 0:
                    img[row] = integer
                else:
                    cat[row] = integer
                p = end
            elif code == 3:
                end, v, exact, _, _ = _number(buf, p)
                if end < 0:
                    return -1, ns
                ns = _store(vals, slow, ns, row, 4, p, end, v, exact)
                p = end
            else:
                if buf[p] != _LBRACK:
                    return -1, ns
                p += 1
                for j in range(4):
                    p = _ws(buf, p)
                    if p >= n:
                        return -1, ns
                    end, v, exact, _, _ = _number(buf, p)
                    if end < 0:
                        return -1, ns
                    ns = _store(vals, slow, ns, row, j, p, end, v, exact)
                    p = _ws(buf, end)
                    if p >= n:
                        return -1, ns
                    if j < 3:
                        if buf[p] != _COMMA:
                            return -1, ns
                        p += 1
                if buf[p] != _RBRACK:
                    return -1, ns
                p += 1
        p, kind = _next(buf, p, _RBRACE)
        if kind < 0:
            return -1, ns
        if kind == 1:
            break
    if seen != 15:
        return -1, ns
    return p, ns


@numba.njit(cache=True)
def _span(buf, p, stop, last, row, img, cat, vals, slow, ns):
    """Records from p (an opening brace) up to ``stop``: the span must end exactly there,
    after a comma (or, ``last``, at the closing bracket and the end of the file).
    Returns (ok, rows parsed, ns)."""
    stack = np.empty(_MAX_DEPTH, np.uint8)  # open brackets of a skipped value
    first = row
    while True:
        p, ns = _record(buf, p, row, img, cat, vals, slow, ns, stack)
        if p < 0:
            return False, row - first, ns
        row += 1
        p, kind = _next(buf, p, _RBRACK)
        if kind < 0:
            return False, row - first, ns
        p = _ws(buf, p)
        if kind == 1:
            return last and p == len(buf), row - first, ns
        if p >= stop:
            return (not last) and p == stop, row - first, ns


@numba.njit(cache=True)
def _record_start_after(buf, p, n):
    """The first '{' at or after p whose previous non-space byte is ',' (a plausible record
    start; the caller proves it by parsing up to it), or n."""
    while p < n:
        if buf[p] == _LBRACE:
            q = p - 1
            while q > 0 and (buf[q] == 32 or buf[q] == 10 or buf[q] == 13 or buf[q] == 9):
                q -= 1
            if buf[q] == _COMMA:
                return p
        p += 1
    return n


@numba.njit(cache=True, parallel=True)
def _parse(buf):
    """-> (ok, rows, image_id, category_id, values [N, 5] (x, y, w, h, score), slow [S, 3]
    (start, end, flat index into values)).

    The records are read in two halves at once (both cores): the second half starts at a
    plausible record boundary, which counts only if the first half's records end exactly
    there; otherwise the file is read in one pass.
    """
    n = len(buf)
    p = _ws(buf, 0)
    if p >= n or buf[p] != _LBRACK:
        return False, 0, np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 5)), np.empty((0, 3), np.int64)
    p = _ws(buf, p + 1)
    if p < n and buf[p] == _RBRACK:
        p = _ws(buf, p + 1)
        return p == n, 0, np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 5)), np.empty((0, 3), np.int64)
    mid = _record_start_after(buf, p + (n - p) // 2, n)
    starts = np.array([p, mid])
    stops = np.array([mid, n])
    caps = np.zeros(3, np.int64)  # row capacity before each half: its '{' count
    for h in range(2):
        c = 0
        for i in range(starts[h], stops[h]):
            if buf[i] == _LBRACE:
                c += 1
        caps[h + 1] = caps[h] + c
    img = np.empty(caps[2], np.int64)
    cat = np.empty(caps[2], np.int64)
    vals = np.empty((caps[2], 5), np.float64)
    slow = np.empty((5 * caps[2], 3), np.int64)
    ok = np.zeros(2, np.bool_)
    rows = np.zeros(2, np.int64)
    nss = np.zeros(2, np.int64)
    halves = 2 if mid < n else 1
    if halves == 1:
        stops[0] = n
    for h in numba.prange(halves):
        ok[h], rows[h], nss[h] = _span(buf, starts[h], stops[h], h == halves - 1, caps[h], img, cat, vals, slow, 5 * caps[h])
    if not ok[0] or (halves == 2 and not ok[1]):
        if halves == 1:
            return False, 0, img[:0], cat[:0], vals[:0], slow[:0]
        ok1, r, ns = _span(buf, p, n, True, 0, img, cat, vals, slow, 0)  # one pass
        return ok1, r, img[:r], cat[:r], vals[:r], slow[:ns]
    total = rows[0] + rows[1]
    shift = caps[1] - rows[0]  # second half's rows move down next to the first's
    for r in range(rows[1]):
        img[rows[0] + r] = img[caps[1] + r]
        cat[rows[0] + r] = cat[caps[1] + r]
        for j in range(5):
            vals[rows[0] + r, j] = vals[caps[1] + r, j]
    ns0 = nss[0]
    for i in range(5 * caps[1], nss[1]):
        slow[ns0, 0] = slow[i, 0]
        slow[ns0, 1] = slow[i, 1]
        slow[ns0, 2] = slow[i, 2] - 5 * shift
        ns0 += 1
    return True, total, img[:total], cat[:total], vals[:total], slow[:ns0]


def parse_columns(data: bytes):
    """(image_id int64 [N], category_id int64 [N], xywh float64 [N, 4], score float64 [N]),
    or None when the file is not in the fast path's shape."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if len(buf) == 0:
        return None
    ok, rows, img, cat, vals, slow = _parse(buf)
    if not ok:
        return None
    if len(slow):
        flat = vals.reshape(-1)
        for start, end, dst in slow.tolist():
            flat[dst] = float(data[start:end])
    return img, cat, np.ascontiguousarray(vals[:, :4]), np.ascontiguousarray(vals[:, 4])
