"""Compiled JSON scanning primitives for :mod:`bench.data.fast_results`: whitespace, exact
numbers (Clinger's fast path, else a "slow" flag for Python's ``float``), strings with escapes
and UTF-8 checks, literals, keys, and skipping any nested value with full validation.

Each takes the byte buffer and a position and returns the position after what it read (-1
when the bytes are not valid JSON of that kind), plus the value where there is one.
"""

from __future__ import annotations

import numba
import numpy as np

_POW10 = np.array([10.0**k for k in range(23)])
_MAX_EXACT = 2**53
_MAX_DEPTH = 256  # nesting within a skipped value; deeper declines (json itself recurses)
_QUOTE, _COMMA, _COLON, _LBRACK, _RBRACK, _LBRACE, _RBRACE, _MINUS, _DOT = 34, 44, 58, 91, 93, 123, 125, 45, 46


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _ws(buf, p):
    n = len(buf)
    while p < n and (buf[p] == 32 or buf[p] == 10 or buf[p] == 13 or buf[p] == 9):
        p += 1
    return p


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _is_digit(buf, p):
    return p < len(buf) and 48 <= buf[p] <= 57


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _digits(buf, p, m, sig, big, e10, fraction):
    """Accumulate a run of digits into mantissa ``m`` (at most 18 significant digits; ``big``
    marks more) and the power of ten ``e10``; ``fraction``: digits after the point."""
    while _is_digit(buf, p):
        if sig < 18:
            m = m * 10 + (buf[p] - 48)
            if m > 0:
                sig += 1
            if fraction:
                e10 -= 1
        else:
            big = True
            if not fraction:
                e10 += 1
        p += 1
    return p, m, sig, big, e10


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _store(vals, slow, ns, row, col, start, end, v, exact):
    """Put a parsed number in place; an inexact one is queued for Python's float()."""
    vals[row, col] = v
    if not exact:
        slow[ns, 0] = start
        slow[ns, 1] = end
        slow[ns, 2] = row * 5 + col
        ns += 1
    return ns


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _number(buf, p):
    """Parse a JSON number at p -> (end, value, exact, is_int, integer). end = -1 on a syntax
    error; ``integer`` is the value itself when ``is_int`` (at most 18 digits)."""
    n = len(buf)
    neg = False
    if p < n and buf[p] == _MINUS:
        neg = True
        p += 1
    if not _is_digit(buf, p) or (buf[p] == 48 and _is_digit(buf, p + 1)):
        return -1, 0.0, False, False, 0  # no digit, or a leading zero: not JSON
    p, m, sig, big, e10 = _digits(buf, p, 0, 0, False, 0, False)
    is_int = True
    if p < n and buf[p] == _DOT:
        is_int = False
        if not _is_digit(buf, p + 1):
            return -1, 0.0, False, False, 0
        p, m, sig, big, e10 = _digits(buf, p + 1, m, sig, big, e10, True)
    if p < n and (buf[p] == 101 or buf[p] == 69):
        is_int = False
        p += 1
        eneg = False
        if p < n and (buf[p] == 43 or buf[p] == _MINUS):
            eneg = buf[p] == _MINUS
            p += 1
        if not _is_digit(buf, p):
            return -1, 0.0, False, False, 0
        ex = 0
        while _is_digit(buf, p):
            if ex < 10000:
                ex = ex * 10 + (buf[p] - 48)
            p += 1
        e10 += -ex if eneg else ex
    exact = (not big) and m <= _MAX_EXACT and -22 <= e10 <= 22
    v = 0.0
    if exact:
        v = float(m) * _POW10[e10] if e10 >= 0 else float(m) / _POW10[-e10]
        if neg:
            v = -v
    if is_int and neg:
        m = -m
    return p, v, exact, is_int and not big, m


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _is_hex(c):
    return (48 <= c <= 57) or (65 <= c <= 70) or (97 <= c <= 102)


@numba.njit(cache=True)
def _utf8(buf, p):
    """Length of the well-formed UTF-8 sequence whose lead byte (>= 0x80) is at p, or -1.
    Overlong forms, encoded surrogates and code points past U+10FFFF are refused (Unicode
    Table 3-7); Python's json takes encoded surrogates, so refusing them only declines."""
    n = len(buf)
    c = buf[p]
    lo, hi = 0x80, 0xBF
    if 0xC2 <= c <= 0xDF:
        k = 1
    elif c == 0xE0:
        k, lo = 2, 0xA0
    elif c == 0xED:
        k, hi = 2, 0x9F
    elif 0xE1 <= c <= 0xEF:
        k = 2
    elif c == 0xF0:
        k, lo = 3, 0x90
    elif 0xF1 <= c <= 0xF3:
        k = 3
    elif c == 0xF4:
        k, hi = 3, 0x8F
    else:
        return -1
    if p + k >= n or not (lo <= buf[p + 1] <= hi):
        return -1
    for j in range(2, k + 1):
        if not (0x80 <= buf[p + j] <= 0xBF):
            return -1
    return k + 1


@numba.njit(cache=True)
def _skip_string(buf, p):
    """Validate the JSON string whose opening quote is at p; the position after its closing
    quote, or -1 (a raw control byte, a bad escape, malformed UTF-8, no closing quote)."""
    n = len(buf)
    p += 1
    while p < n:
        c = buf[p]
        if c == _QUOTE:
            return p + 1
        if c < 32:
            return -1
        if c == 92:  # backslash
            if p + 1 >= n:
                return -1
            e = buf[p + 1]
            if e == 117:  # \uXXXX
                if p + 5 >= n:
                    return -1
                for j in range(2, 6):
                    if not _is_hex(buf[p + j]):
                        return -1
                p += 6
            elif e == _QUOTE or e == 92 or e == 47 or e == 98 or e == 102 or e == 110 or e == 114 or e == 116:
                p += 2
            else:
                return -1
            continue
        if c >= 128:
            k = _utf8(buf, p)
            if k < 0:
                return -1
            p += k
            continue
        p += 1
    return -1


@numba.njit(cache=True)
def _literal(buf, p):
    """true / false / null at p: the position after it, or -1."""
    n = len(buf)
    for word in (b"true", b"false", b"null"):
        k = len(word)
        if p + k <= n:
            same = True
            for j in range(k):
                if buf[p + j] != word[j]:
                    same = False
                    break
            if same:
                return p + k
    return -1


@numba.njit(cache=True)
def _member_key(buf, p):
    """Inside an object, at p (past whitespace) a key, whitespace, ':' and whitespace: the
    position of the value, or -1."""
    n = len(buf)
    if p >= n or buf[p] != _QUOTE:
        return -1
    p = _skip_string(buf, p)
    if p < 0:
        return -1
    p = _ws(buf, p)
    if p >= n or buf[p] != _COLON:
        return -1
    return _ws(buf, p + 1)


@numba.njit(cache=True)
def _skip_value(buf, p, stack):
    """Validate and skip any JSON value starting at p (past whitespace); the position after
    it, or -1 for anything Python's json would refuse (or nesting deeper than ``stack``)."""
    n = len(buf)
    depth = 0
    while True:
        # a value starts at p
        if p >= n:
            return -1
        c = buf[p]
        if c == _LBRACK or c == _LBRACE:
            if depth >= len(stack):
                return -1  # deeper than we care to follow: let the general path decide
            stack[depth] = c
            depth += 1
            p = _ws(buf, p + 1)
            if p >= n:
                return -1
            if buf[p] == c + 2:  # '[' + 2 == ']', '{' + 2 == '}': empty
                depth -= 1
                p += 1
            else:
                if c == _LBRACE:
                    p = _member_key(buf, p)
                    if p < 0:
                        return -1
                continue  # the first element or member value
        elif c == _QUOTE:
            p = _skip_string(buf, p)
        elif c == 116 or c == 102 or c == 110:
            p = _literal(buf, p)
        else:
            p = _number(buf, p)[0]
        if p < 0:
            return -1
        # a value ended at p: close containers until a ',' starts the next value
        while True:
            if depth == 0:
                return p
            p = _ws(buf, p)
            if p >= n:
                return -1
            top = stack[depth - 1]
            c = buf[p]
            if c == _COMMA:
                p = _ws(buf, p + 1)
                if top == _LBRACE:
                    p = _member_key(buf, p)
                    if p < 0:
                        return -1
                break
            if c == top + 2:
                depth -= 1
                p += 1
                continue
            return -1


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _matches(buf, s, k, word):
    """Whether the ``k`` bytes at ``s`` spell ``word``."""
    if k != len(word):
        return False
    for j in range(k):
        if buf[s + j] != word[j]:
            return False
    return True


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _key(buf, p):
    """Key whose opening quote is at p -> (end after closing quote, code). Codes: 0 image_id,
    1 category_id, 2 bbox, 3 score, 4 other, -1 error (an escape, or not a valid string)."""
    n = len(buf)
    p += 1
    s = p
    while p < n and buf[p] != _QUOTE:
        c = buf[p]
        if c < 32 or c == 92:
            return -1, -1  # a raw control byte; or an escape, which might spell a known key
        if c >= 128:
            k = _utf8(buf, p)
            if k < 0:
                return -1, -1
            p += k
        else:
            p += 1
    if p >= n:
        return -1, -1
    k = p - s
    end = p + 1
    code = 4
    if _matches(buf, s, k, b"image_id"):
        code = 0
    elif _matches(buf, s, k, b"category_id"):
        code = 1
    elif _matches(buf, s, k, b"bbox"):
        code = 2
    elif _matches(buf, s, k, b"score"):
        code = 3
    return end, code


@numba.njit(cache=True, inline="always")  # inlined at numba level: no per-call refcounting
def _next(buf, p, close):
    """After a member or element: (position past the separator, 0 for ',' / 1 for ``close``),
    or (p, -1) for anything else."""
    p = _ws(buf, p)
    if p < len(buf) and buf[p] == _COMMA:
        return p + 1, 0
    if p < len(buf) and buf[p] == close:
        return p + 1, 1
    return p, -1
