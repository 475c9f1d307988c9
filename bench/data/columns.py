"""Turn lists of JSON records into validated numpy columns.

The fast path is one list comprehension and one ``np.array`` per column. When it fails or
finds a bad value, a slow pass finds the first offending record and raises
:class:`~bench.errors.InputError` naming the file, the record and the field.
"""

from __future__ import annotations

import itertools
import math
from numbers import Integral, Real

import numpy as np

from bench.errors import InputError

_MISSING = object()


def _err(file: str, section: str, i: int, key: str, msg: str) -> InputError:
    return InputError(file, f"{section}[{i}]", key, msg)


def _get(records: list, i: int, key: str, file: str, section: str, default=_MISSING):
    rec = records[i]
    if not isinstance(rec, dict):
        raise InputError(file, f"{section}[{i}]", None, f"expected a JSON object, got {type(rec).__name__}")
    if key not in rec:
        if default is _MISSING:
            raise _err(file, section, i, key, "missing field")
        return default
    return rec[key]


def _locate(records, key, file, section, default, check) -> None:
    """Slow pass: raise for the first record whose ``key`` fails ``check`` (returns a message or None)."""
    for i in range(len(records)):
        value = _get(records, i, key, file, section, default)
        msg = check(value)
        if msg:
            raise _err(file, section, i, key, msg)


def _check_int(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, Real):
        return f"expected an integer, got {v!r}"
    if not isinstance(v, Integral) and not (math.isfinite(v) and float(v).is_integer()):
        return f"expected an integer, got {v!r}"
    # a float must be below 2**63 in magnitude, as int_column's vectorized test: orjson reads an
    # integer past 64 bits as a float, and -(2**63 + 1) rounds to -2.0**63
    if not -(2**63) <= v <= _INT64_MAX or (not isinstance(v, Integral) and abs(v) >= 2.0**63):
        return f"{v!r} is out of the 64-bit integer range"
    return None


_INT64_MAX = 2**63 - 1


def _check_number(v) -> str | None:
    if isinstance(v, bool) or not isinstance(v, Real):
        return f"expected a number, got {v!r}"
    if not math.isfinite(v):
        return f"must be finite, got {v!r}"
    return None


def int_column(records: list, key: str, file: str, section: str, default=_MISSING) -> np.ndarray:
    """int64 ``[N]``; integral floats (``3.0``) are accepted, as Python dict lookups accept them."""
    try:
        if default is _MISSING:
            raw = [r[key] for r in records]
        else:
            raw = [r.get(key, default) for r in records]
        arr = np.array(raw)
        if len(raw) == 0:
            return np.zeros(0, np.int64)
        if arr.dtype.kind == "i" or (arr.dtype.kind == "u" and arr.max() <= _INT64_MAX):
            return arr.astype(np.int64)
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.floor(arr)) and np.all(np.abs(arr) < 2.0**63):
            return arr.astype(np.int64)
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        pass
    _locate(records, key, file, section, default, _check_int)
    raise InputError(file, section, key, "expected integers")  # pragma: no cover - _locate raises first


def float_column(records: list, key: str, file: str, section: str, default=_MISSING) -> np.ndarray:
    """float64 ``[N]`` of finite numbers."""
    try:
        if default is _MISSING:
            raw = [r[key] for r in records]
        else:
            raw = [r.get(key, default) for r in records]
        arr = np.array(raw, dtype=np.float64)
        if arr.ndim == 1 and np.all(np.isfinite(arr)):
            return arr
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        pass
    _locate(records, key, file, section, default, _check_number)
    raise InputError(file, section, key, "expected numbers")  # pragma: no cover


def flag_column(records: list, key: str, file: str, section: str) -> np.ndarray:
    """bool ``[N]`` from an optional 0/1 (or true/false) field; missing means False."""
    return float_column(records, key, file, section, default=0) != 0


def optional_float_column(records: list, key: str, file: str, section: str) -> tuple[np.ndarray, np.ndarray]:
    """(values, missing) for an optional numeric field; missing entries hold NaN."""
    missing = np.array([isinstance(r, dict) and key not in r for r in records], dtype=bool)
    values = float_column(records, key, file, section, default=0.0)
    values[missing] = np.nan
    return values, missing


def _check_box(v) -> str | None:
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        return f"expected [x, y, width, height], got {v!r}"
    for c in v:
        msg = _check_number(c)
        if msg:
            return f"expected 4 finite numbers, got {v!r}"
    if v[2] < 0:
        return f"width is negative ({v[2]!r})"
    if v[3] < 0:
        return f"height is negative ({v[3]!r})"
    return None


def xywh_column(records: list, key: str, file: str, section: str) -> np.ndarray:
    """float64 ``[N, 4]`` COCO boxes [x, y, w, h] with finite values and w, h >= 0."""
    if len(records) == 0:
        return np.zeros((0, 4))
    try:
        boxes = [r[key] for r in records]
        if np.all(np.fromiter(map(len, boxes), np.int64, count=len(boxes)) == 4):
            flat = itertools.chain.from_iterable(boxes)
            arr = np.fromiter(flat, np.float64, count=4 * len(boxes)).reshape(-1, 4)
            if np.all(np.isfinite(arr)) and np.all(arr[:, 2:] >= 0):
                return arr
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        pass
    _locate(records, key, file, section, _MISSING, _check_box)
    raise InputError(file, section, key, "expected boxes")  # pragma: no cover


def id_lookup(sorted_ids: np.ndarray, query: np.ndarray, file: str, section: str, key: str, what: str) -> np.ndarray:
    """Rows of ``query`` ids in ``sorted_ids``; an unknown id raises naming the first record."""
    if len(query) == 0:
        return np.zeros(0, np.int64)
    idx = np.searchsorted(sorted_ids, query)
    idx_c = np.minimum(idx, max(len(sorted_ids) - 1, 0))
    ok = (idx < len(sorted_ids)) & (sorted_ids[idx_c] == query) if len(sorted_ids) else np.zeros(len(query), bool)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise _err(file, section, i, key, f"{what} {int(query[i])} is not in the ground truth")
    return idx.astype(np.int64)


def check_unique(ids: np.ndarray, file: str, section: str, key: str = "id") -> None:
    """Raise naming the first record whose id repeats an earlier one."""
    if len(ids) < 2:
        return
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    dup = np.flatnonzero(s[1:] == s[:-1])
    if len(dup):
        first = order[dup[0] + 1]
        same = np.flatnonzero(ids == ids[first])
        raise _err(file, section, int(same[1]), key, f"duplicate id {ids[first].item()!r} (also {section}[{int(same[0])}])")


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """float64 ``[N, 4]`` XYXY from ``[N, 4]`` XYWH: x2 = x + w, y2 = y + h (the references'
    arithmetic; w + x is the same double), as one C-contiguous array."""
    xyxy = np.array(xywh, np.float64, order="C")  # one contiguous copy, then two strided column adds
    xyxy[:, 2] += xywh[:, 0]
    xyxy[:, 3] += xywh[:, 1]
    return xyxy
