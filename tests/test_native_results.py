"""The C results parser (bench.native.results) against its two oracles: the numba parser
(bench.data.fast_results, same None-ness and bit-identical columns) and Python's json (a file
json refuses is declined; an accepted file gives int() of the id tokens and float() of the
number tokens, bit for bit). Generated files vary whitespace, key order, extra keys (nested
values, escapes, unicode), number spellings and the place where the file is split in two."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.native import results as native

if native._results is None:
    pytest.skip("bench.native._results is not built (run setup.py build_ext --inplace)", allow_module_level=True)

from bench.data.fast_results import parse_columns as numba_parse  # noqa: E402  (after the skip)

_KNOWN = ("image_id", "category_id", "bbox", "score")


@pytest.fixture(autouse=True, scope="module")
def _numba_in_one_thread():
    """The oracle's two halves run one after the other: same answers, and on a busy machine
    OpenMP's two threads cost tens of milliseconds per call (thousands of calls here)."""
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


class _Token(str):
    """A number token as json.loads saw it (parse_int / parse_float keep the text)."""


def _bits(a: np.ndarray) -> bytes:
    return a.view(np.uint8).tobytes()


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return all(
        x.dtype == y.dtype and x.shape == y.shape and x.flags["C_CONTIGUOUS"] and _bits(x) == _bits(y) for x, y in zip(a, b)
    )


def _json_columns(data: bytes):
    """What the fast path must give for an accepted file, from json.loads with the number
    tokens kept as text: (image_id, category_id, xywh, score) or None (json refuses it)."""
    try:
        records = json.loads(data, parse_int=_Token, parse_float=_Token)
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        return None
    assert isinstance(records, list)
    img = np.array([int(r["image_id"]) for r in records], np.int64)
    cat = np.array([int(r["category_id"]) for r in records], np.int64)
    xywh = np.array([[float(v) for v in r["bbox"]] for r in records], np.float64).reshape(-1, 4)
    score = np.array([float(r["score"]) for r in records], np.float64)
    for r in records:  # the accepted shape: id tokens are integers
        assert all("." not in r[k] and "e" not in r[k].lower() for k in ("image_id", "category_id")), r
    return img, cat, xywh, score


def check(data: bytes) -> None:
    """Every native variant agrees with numba; an accepted file agrees with json."""
    expected = numba_parse(data)
    variants = [native.parse_columns(data)]
    for use_strtod in (True, False):  # glibc's strtod_l / Python's float() for hard numbers
        for min_split in (0, 1 << 62):  # always two halves when a split point exists / one pass
            variants.append(native._parse(data, use_strtod, min_split))
    for got in variants:
        assert _same(got, expected), data[:300]
    if expected is not None:
        assert _same(variants[0], _json_columns(data)), data[:300]


# ---- generated files ------------------------------------------------------------------------

_ws = st.sampled_from(["", "", " ", "  ", "\n", "\t", "\r\n  ", " \n\t "])
_int_token = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(2**53 - 3, 2**53 + 3),
    st.integers(10**18 - 3, 10**18 - 1),
    st.integers(-(10**18) + 1, -(10**18) + 3),
    st.integers(-(10**19), 10**19),
).map(str)
_digits = st.text("0123456789", min_size=1, max_size=24)
_spelled = st.builds(  # any JSON number spelling: sign, digits, fraction, exponent
    lambda sign, whole, frac, exp: sign + (whole.lstrip("0") or "0") + frac + exp,
    st.sampled_from(["", "-"]),
    _digits,
    st.one_of(st.just(""), _digits.map(lambda d: "." + d)),
    st.one_of(st.just(""), st.builds(lambda e, s, d: e + s + d, st.sampled_from("eE"), st.sampled_from(["", "+", "-"]), st.integers(0, 400).map(str))),
)
_number_token = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),  # json.dump's 17-digit floats
    st.floats(0, 1000).map(repr),
    st.floats(0, 1).map(lambda f: repr(f * 1e-5)),
    _int_token,
    _spelled,
    st.sampled_from(["0", "-0", "-0.0", "0e999", "-0E-999", "1e400", "-1e400", "1e-400", "2.4703282292062328e-324", "5e-324",
                     "1.7976931348623157e308", "1.7976931348623159e308", "9007199254740993", "9007199254740995", "1e22", "1e23",
                     "123456789012345678", "0.1", "0." + "0" * 200 + "1", "1" * 150, "0.30000000000000004"]),
)
_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(10**25), 10**25), st.floats(allow_nan=False, allow_infinity=False),
                  st.text(max_size=8), st.sampled_from(['a\\"b}]{[,:', "{", ",{", ", {", "\u00e9\u4e2d\U0001f600", "\x01\t\n\\/"]))
_extra_value = st.recursive(_leaf, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids, max_size=3), max_leaves=8)
_extra_key = st.text(max_size=6).filter(lambda k: k not in _KNOWN)


@st.composite
def _record(draw) -> list[tuple[str, str]]:
    """A record as (key, value JSON text) members, usually in the fast path's shape."""
    members = [
        ("image_id", draw(_int_token)),
        ("category_id", draw(_int_token)),
        ("bbox", "[" + ",".join(draw(_ws) + draw(_number_token) + draw(_ws) for _ in range(4)) + "]"),
        ("score", draw(_number_token)),
    ]
    for _ in range(draw(st.integers(0, 2))):
        members.append((draw(_extra_key), json.dumps(draw(_extra_value), ensure_ascii=draw(st.booleans()))))
    members = draw(st.permutations(members))
    if draw(st.integers(0, 9)) == 0:  # off the fast path's shape now and then
        i = draw(st.integers(0, len(members) - 1))
        members[i] = draw(st.sampled_from([
            (members[i][0], "1.0"), (members[i][0], "1e2"), (members[i][0], '"1"'), (members[i][0], "null"),
            ("image\\u005fid", members[i][1]), (members[i][0] + "x", members[i][1]),
        ]))  # fmt: skip
        if draw(st.booleans()):
            members.append(members[0])  # a repeated key
    return members


def _record_text(draw, members) -> str:
    return "{" + ",".join(draw(_ws) + json.dumps(k, ensure_ascii=False).replace("\\\\u005f", "\\u005f") + draw(_ws) + ":" + draw(_ws) + v + draw(_ws) for k, v in members) + "}"


@st.composite
def _results_file(draw) -> bytes:
    records = [_record_text(draw, r) for r in draw(st.lists(_record(), max_size=6))]
    sep = [draw(_ws) + "," + draw(_ws) for _ in records]
    body = "".join((sep[i - 1] if i else "") + rec for i, rec in enumerate(records))
    return (draw(_ws) + "[" + draw(_ws) + body + draw(_ws) + "]" + draw(_ws)).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_results_file())
def test_generated_files_match_numba_and_json(data):
    check(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(_number_token, min_size=1, max_size=8))
def test_numbers_are_python_float_bit_for_bit(tokens):
    recs = ",".join(f'{{"image_id":1,"category_id":2,"bbox":[{t},{t},0,1],"score":{t}}}' for t in tokens)
    data = f"[{recs}]".encode()
    check(data)
    for use_strtod in (True, False):
        _, _, xywh, score = native._parse(data, use_strtod, 0)
        want = [struct.pack("<d", float(t)) for t in tokens]
        assert [struct.pack("<d", v) for v in score] == want
        assert [struct.pack("<d", v) for v in xywh[:, 0]] == want


def test_overflow_and_underflow_are_what_python_gives():
    data = b'[{"image_id":1,"category_id":2,"bbox":[1e400,-1e400,1e-400,-1e-400],"score":1E+999}]'
    _, _, xywh, score = native.parse_columns(data)
    assert list(xywh[0]) == [np.inf, -np.inf, 0.0, 0.0] and np.signbit(xywh[0, 3]) and score[0] == np.inf
    check(data)


def test_ids_at_the_limits():
    for ident, ok in [("999999999999999999", True), ("-999999999999999999", True), ("1000000000000000000", False),
                      ("9007199254740993", True), ("-0", True), ("0", True), ("1.0", False), ("1e3", False), ("01", False)]:
        data = f'[{{"image_id":{ident},"category_id":{ident},"bbox":[0,0,1,1],"score":1}}]'.encode()
        got = native.parse_columns(data)
        assert (got is not None) == ok, ident
        if ok:
            assert got[0][0] == int(ident) and got[1][0] == int(ident)
        check(data)


# ---- the two halves -------------------------------------------------------------------------

_REC = '{"image_id": 7, "category_id": 3, "bbox": [1.5, 2.25, 3.0, 4.123456789012345], "score": 0.9}'


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 40), st.integers(0, 40), st.sampled_from(["{", ",{", ", {", "}, {", '\\", {'  ]), st.integers(0, 3000))
def test_split_point_inside_strings_and_nested_values(before, after, bait, pad):
    """The midpoint lands inside an extra string full of record-start look-alikes, or inside a
    nested object: the halves must still give numba's (and json's) answer."""
    bait_value = json.dumps("x" * (pad % 97) + bait * (pad // 97 + 1))
    nested = '{"a": [{"b": {}}, {}], "c": ' + bait_value + "}"
    middle = _REC[:-1] + ', "note": ' + bait_value + ', "seg": ' + nested + "}"
    data = ("[" + ", ".join([_REC] * before + [middle] + [_REC] * after) + "]").encode()
    check(data)
    assert native._parse(data, True, 0) is not None


def test_every_split_point_of_a_small_file():
    """Records near the split point: every possible midpoint, by moving the file's start."""
    recs = [_REC, _REC.replace('"score": 0.9', '"score": 0.9, "x": ",{\\"a\\": {}}"'), '{"bbox":[0,0,0,0],"score":0,"image_id":1,"category_id":1}']
    for k in range(60):
        data = (" " * k + "[" + ",\n".join(recs * 3) + "]").encode()
        check(data)


def test_two_threads_on_a_large_file():
    """Over the default split threshold: the threaded path gives numba's columns, including
    nested braces in extra keys (the halves' rows then move down)."""
    rng = np.random.default_rng(0)
    recs = [
        {"image_id": int(i), "category_id": int(c), "bbox": [float(v) for v in b], "score": float(s), **({"seg": {"a": [{}]}} if i % 3 else {})}
        for i, c, b, s in zip(rng.integers(0, 10**6, 3000), rng.integers(1, 91, 3000), rng.random((3000, 4)) * 600, rng.random(3000))
    ]
    data = json.dumps(recs).encode()
    assert len(data) > native._MIN_SPLIT
    check(data)
    assert len(native.parse_columns(data)[0]) == 3000


# ---- hostile input --------------------------------------------------------------------------

def test_truncated_at_every_byte():
    data = ('[{"image_id": 1, "category_id": 2, "bbox": [1e5, -0.5, 3, 4.25e-3], "score": 0.125, "x": {"a": ["\\u00e9\\n", true, null]}},'
            ' {"score": 1, "bbox": [0,0,0,0], "category_id": 1, "image_id": 2, "y": "caf\u00e9"}]').encode()
    check(data)
    for i in range(len(data)):
        check(data[:i])


@pytest.mark.parametrize("data", [
    b"", b" ", b"[", b"[]", b" [ ] ", b"[] x", b"[],", b"[{}]", b"{}", b'{"a": 1}', b"null", b"[1]", b"[[]]",
    b'\xef\xbb\xbf[]',  # a UTF-8 BOM
])  # fmt: skip
def test_odd_tops(data):
    check(data)


_GOOD = '"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5'


def _one(good: str = _GOOD, extra: str = "", tail: str = "]") -> str:
    """One record built from the fields text good (and members after it), in a list."""
    return "[{" + good + extra + "}" + tail


_HOSTILE = [
    _one(tail="] x"), _one(tail="]]"), _one(tail=",]"), _one(tail=""), _one(extra=","),
    _one(extra=', "a": NaN'), _one(extra=', "a": Infinity'), _one(extra=', "a": -Infinity'),
    _one(_GOOD.replace("0.5", "NaN")), _one(_GOOD.replace("0.5", "Infinity")), _one(_GOOD.replace("0.5", "-Infinity")),
    _one(extra=', "score": 0.5'), _one(extra=', "image_id": 1'), _one(extra=', "a": 1, "a": 2'),
    _one(_GOOD.replace("image_id", "image_\\u0069d")), _one(_GOOD.replace('"score"', '"sc\\u006fre"')),
    _one(extra=', "\\u00e9": 1'), _one(_GOOD.replace("1, ", "1.0, ", 1)), _one(_GOOD.replace(", 1]", "]")),
    _one(_GOOD.replace("[0, 0, 1, 1]", "[0, 0, 1, 1, 2]")), _one(_GOOD.replace("0.5", '"0.5"')),
    _one(_GOOD.split(', "score')[0]), _one(extra=', "a": "\t"'), _one(extra=', "a": "\\x"'),
    _one(extra=', "a": 01'), _one(extra=', "a": 1.'), _one(extra=', "a": -'), _one(extra=', "a": [1,]'),
    _one(extra=', "a": {"b" 1}'), _one(extra=', "a": tru'), _one(extra=', "a": truex'), _one(extra=', "a": nulll'),
    _one(extra=', "a": "\\ud800"'), _one(extra=', "a": "\\u12"'), _one(extra=', "a": [1 2]'), _one(extra=', "a": {1: 2}'),
]  # fmt: skip


@pytest.mark.parametrize("text", _HOSTILE)
def test_hostile_records(text):
    check(text.encode())


@pytest.mark.parametrize("raw", [
    b"\xff", b"\x80", b"\xc3", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\xf0\x9f\x98",
    b"\x00", b"\x1f", b"\x7f", b"\xc3\xa9", b"\xed\x9f\xbf", b"\xf4\x8f\xbf\xbf", b"\xf0\x9f\x98\x80",
])  # fmt: skip
def test_utf8_and_control_bytes_in_strings_and_keys(raw):
    for data in (b'[{"x": "a' + raw + b'b", ' + _GOOD.encode() + b"}]", b'[{"x' + raw + b'": 1, ' + _GOOD.encode() + b"}]",
                 b'[{"x": "a' + raw):  # fmt: skip
        check(data)


def test_nesting_limit():
    for depth in (1, 255, 256, 257, 300):
        for open_, close in (("[", "]"), ('{"k":', "}")):
            data = f'[{{{_GOOD}, "deep": {open_ * depth}1{close * depth}}}]'.encode()
            check(data)
            assert (native.parse_columns(data) is None) == (depth > 256)


def test_the_module_does_not_import_numba():
    code = "import sys, bench.native.results as r; assert r.available(); print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_available_follows_the_switch(monkeypatch):
    monkeypatch.setenv("DETBENCH_NATIVE", "0")
    assert not native.available()
    monkeypatch.setenv("DETBENCH_NATIVE", "1")
    assert native.available()


def test_real_coco_annotations_as_results():
    """The embedded COCO val2017 subset's annotations written as a results file (polygons and
    RLE counts as extra keys, real box numbers, 17-digit scores), as json.dump writes it."""
    from pathlib import Path

    gt = json.loads((Path(__file__).parents[1] / "bench/data/embedded/coco_val2017_mini/instances_val2017_mini.json").read_bytes())
    rng = np.random.default_rng(1)
    recs = [{**a, "score": float(s)} for a, s in zip(gt["annotations"], rng.random(len(gt["annotations"])))]
    for indent in (None, 1):
        data = json.dumps(recs, indent=indent).encode()
        check(data)
        img, cat, xywh, score = native.parse_columns(data)
        assert img.tolist() == [a["image_id"] for a in recs] and xywh.tolist() == [a["bbox"] for a in recs]
