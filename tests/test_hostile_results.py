"""Hostile input: the compiled results reader accepts nothing Python's json rejects (a
differential fuzz test), numbers given as strings are errors naming the record and the field,
and a VOC image list with a repeated image is an error naming the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.coco import parse_gt
from bench.data.fast_results import parse_columns
from bench.data.results import fast_table, load_results, parse_results
from bench.data.voc import load_voc
from bench.errors import InputError
from bench.jsonio import parse_json_bytes

GT = parse_gt({
    "images": [{"id": i, "width": 100, "height": 100} for i in (1, 2, 7, 12)],
    "categories": [{"id": c, "name": f"c{c}"} for c in (1, 3, 90)],
    "annotations": [],
}, "gt")  # fmt: skip

GOOD = '"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5'


def outcome(fn):
    """('ok', table) or ('error', message) for a loader call."""
    try:
        return "ok", fn()
    except InputError as err:
        return "error", str(err)


def same_tables(a, b) -> bool:
    return all(
        getattr(a, k).dtype == getattr(b, k).dtype
        and getattr(a, k).shape == getattr(b, k).shape
        and np.array_equal(getattr(a, k).view(np.uint8), getattr(b, k).view(np.uint8))
        for k in ("image_idx", "category_idx", "xyxy", "box_area", "scores")
    )


def check_differential(data: bytes) -> None:
    """json rejects -> the fast path declines and the general path names the error;
    json accepts -> the fast path declines or gives exactly the general path's answer."""
    try:
        json.loads(data)
        valid = True
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        valid = False
    cols = parse_columns(data)
    if not valid:
        assert cols is None, data
        with pytest.raises(InputError, match="malformed JSON"):
            parse_json_bytes(data, "f")
        return
    if cols is None:
        return
    fast = outcome(lambda: fast_table(data, GT, "f"))
    general = outcome(lambda: parse_results(parse_json_bytes(data, "f"), GT, "f"))
    if fast == ("ok", None):
        return  # parsed, then declined on its values
    assert fast[0] == general[0], (data, fast, general)
    if fast[0] == "error":
        assert fast[1] == general[1], data
    else:
        assert same_tables(fast[1], general[1]), data


# ---- explicit cases from the bug report ----------------------------------------------------

@pytest.mark.parametrize("extra", [
    '"extra": [1,,], ',
    '"extra": [}, ',
    '"extra": {"a" 1}, ',
    '"extra": {"a": 1,}, ',
    '"extra": [1 2], ',
    '"extra": {"a": 1 "b": 2}, ',
    '"extra": {1: 2}, ',
    '"extra": [1], ]',
    '"extra": "a\tb", ',  # a raw tab byte inside a string
    '"extra": "a\nb", ',  # a raw newline byte
    '"extra": "\x01", ',
    '"extra": "\\x41", ',  # not a JSON escape
    '"extra": "\\u12G4", ',  # not hex
    '"extra": "\\u12", ',
    '"extra": 01, ',
    '"extra": 1., ',
    '"extra": .5, ',
    '"extra": -, ',
    '"extra": 1e, ',
    '"extra": +1, ',
    '"extra": tru, ',
    '"extra": nul, ',
    '"extra": [true false], ',
    '"ex\ttra": 1, ',  # a control byte inside a key
])  # fmt: skip
def test_malformed_unused_values_are_declined(extra):
    data = f"[{{{extra}{GOOD}}}]".encode()
    with pytest.raises(json.JSONDecodeError):
        json.loads(data)
    assert parse_columns(data) is None
    check_differential(data)


@pytest.mark.parametrize("raw", [b"\xff", b"\xc3", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80"])
def test_invalid_utf8_in_an_unused_string_is_declined(raw):
    data = b'[{"extra": "a' + raw + b'b", ' + GOOD.encode() + b"}]"
    with pytest.raises(ValueError):
        json.loads(data)
    assert parse_columns(data) is None
    check_differential(data)


def test_valid_hostile_extras_still_take_the_fast_path():
    extra = {
        "segmentation": {"counts": 'a\\"b}]{[,:\u00e9\u4e2d\U0001f600\t\n\x01', "size": [1, 2], "n": [[1, {"x": None}], True, False, -0.0, 1e-300, 12345678901234567890123]},
        "caf\u00e9": [[], {}, [[[]]], "", "\\", "/"],
    }
    rec = {**json.loads("{" + GOOD + "}"), **extra}
    for ensure_ascii in (True, False):
        for indent in (None, 2, "\t"):
            data = json.dumps([rec, rec], ensure_ascii=ensure_ascii, indent=indent).encode()
            if ensure_ascii:
                data = data.replace(b"caf\\u00e9", b"caf\xc3\xa9")  # keys with escapes are declined; keep it raw
            assert parse_columns(data) is not None, data
            check_differential(data)


# ---- differential fuzz test against json.loads --------------------------------------------

_leaf = (
    st.none() | st.booleans() | st.integers(-(10**25), 10**25)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=6)
)  # fmt: skip
_value = st.recursive(_leaf, lambda ch: st.lists(ch, max_size=3) | st.dictionaries(st.text(max_size=4), ch, max_size=3), max_leaves=8)
_number = st.integers(0, 3000) | st.floats(0, 1e4, allow_nan=False) | st.sampled_from([0.1, 1e-7, 5e-324, 1e22, 1e23, -0.0])


@st.composite
def results_file(draw) -> bytes:
    records = []
    for _ in range(draw(st.integers(1, 3))):
        rec = {
            "image_id": draw(st.sampled_from([1, 2, 7, 12])),
            "category_id": draw(st.sampled_from([1, 3, 90])),
            "bbox": draw(st.lists(_number, min_size=4, max_size=4)),
            "score": draw(_number),
        }
        for key in draw(st.lists(st.sampled_from(["extra", "segmentation", "area", "attrs"]), max_size=2, unique=True)):
            rec[key] = draw(_value)
        records.append(dict(draw(st.permutations(list(rec.items())))))
    style = draw(st.sampled_from(["compact", "spaces", "indent1", "indent2", "tab"]))
    kwargs = {
        "compact": {"separators": (",", ":")},
        "spaces": {},
        "indent1": {"indent": 1},
        "indent2": {"indent": 2},
        "tab": {"indent": "\t"},
    }[style]
    return json.dumps(records, ensure_ascii=draw(st.booleans()), **kwargs).encode()


_BYTES = st.sampled_from(list(b',:[]{}"\\ \t\n\r\x00\x01\x1f\x7f0123456789-+.eEtfnlrsu/xX')) | st.integers(0, 255)
_EDIT = st.tuples(st.sampled_from(["insert", "delete", "replace"]), st.integers(0, 10**6), _BYTES)


def mutate(data: bytes, edits) -> bytes:
    buf = bytearray(data)
    for op, pos, byte in edits:
        pos %= len(buf) + (op == "insert") if buf else 1
        if op == "insert":
            buf.insert(pos, byte)
        elif buf and op == "delete":
            del buf[pos]
        elif buf:
            buf[pos] = byte
    return bytes(buf)


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(results_file(), st.lists(_EDIT, min_size=1, max_size=3))
def test_fuzz_fast_path_against_json(data, edits):
    assert fast_table(data, GT, "f") is not None  # the unmutated file takes the fast path
    check_differential(data)
    check_differential(mutate(data, edits))


# ---- numbers given as strings ---------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    ("score", '"0.5"'),
    ("bbox", '["1", 2, 3, 4]'),
    ("bbox", '[0, 0, "1", 1]'),
    ("image_id", '"12"'),
    ("category_id", '"3"'),
    ("score", "true"),
    ("bbox", "[true, 2, 3, 4]"),
    ("bbox", '{"a": 0, "b": 0, "c": 1, "d": 1}'),
    ("bbox", '"1234"'),
    ("category_id", "true"),
])  # fmt: skip
def test_numbers_given_as_strings_are_errors_naming_record_and_field(tmp_path, field, value):
    good = json.loads("{" + GOOD + "}")
    bad = {**good, field: "__BAD__"}
    text = json.dumps([good, good, bad]).replace('"__BAD__"', value)
    data = text.encode()
    assert parse_columns(data) is None  # the fast path declines...
    fragments = ("dt.json", f"detections[2].{field}")
    with pytest.raises(InputError) as err:  # ...and the general path names the record and field
        parse_results(json.loads(text), GT, "dt.json")
    assert all(f in str(err.value) for f in fragments), str(err.value)
    path = tmp_path / "dt.json"
    path.write_bytes(data)
    with pytest.raises(InputError) as err:  # the public loader, whichever path it takes
        load_results(path, GT)
    assert all(f in str(err.value) for f in fragments), str(err.value)


# ---- VOC image list with a repeated image ---------------------------------------------------

def test_voc_split_list_with_a_duplicate_line_is_an_error(tmp_path):
    root = tmp_path / "VOC2007"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for stem in ("000001", "000002"):
        (root / "Annotations" / f"{stem}.xml").write_text(
            "<annotation><size><width>50</width><height>40</height></size><object><name>dog</name>"
            "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object></annotation>"
        )
    (root / "ImageSets" / "Main" / "test.txt").write_text("000001\n000002\n")
    assert load_voc(root).images.keys == ["000001", "000002"]
    (root / "ImageSets" / "Main" / "test.txt").write_text("000001\n\n000002\n000001  1\n")
    with pytest.raises(InputError) as err:
        load_voc(root)
    msg = str(err.value)
    assert "test.txt" in msg and "line 4" in msg and "000001" in msg and "line 1" in msg, msg


def test_a_non_utf8_devkit_file_is_an_error_naming_the_line(tmp_path):
    from bench.data.voc import read_split
    from bench.errors import InputError

    lists = tmp_path / "ImageSets" / "Main"
    lists.mkdir(parents=True)
    (lists / "test.txt").write_bytes(b"000001\n000002\xff\xfe\n")
    with pytest.raises(InputError, match=r"test.txt: line 2: not UTF-8 text \(byte 0xff"):
        read_split(tmp_path, "test")


def test_an_id_beyond_64_bits_is_an_error_not_a_wrapped_id(tmp_path):
    from bench.cli.main import main

    gt = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini" / "instances_val2017_mini.json"
    res = tmp_path / "dt.json"
    res.write_text(json.dumps([{"image_id": 2**64 + 6818, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}]))
    with pytest.raises(InputError, match=r"detections\[0\]\.image_id: .* out of the 64-bit integer range"):
        from bench.metrics.files import evaluate_files

        evaluate_files(str(gt), str(res), "coco")
    assert main(["eval", "--gt", str(gt), "--results", str(res)]) == 2


def test_empty_results_are_scored_with_a_warning(tmp_path):
    from bench.metrics.files import evaluate_files

    gt = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini" / "instances_val2017_mini.json"
    (tmp_path / "dt.json").write_text("[]")
    result = evaluate_files(str(gt), str(tmp_path / "dt.json"), "coco")
    assert result.metrics["AP"] == 0.0 and any("no detections" in w for w in result.warnings)
