"""The compiled results parser gives bit-identical columns to orjson + the general path, and
declines (returns None) whatever it does not handle, so the general path decides."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from bench.data.coco import parse_gt
from bench.data.fast_results import parse_columns
from bench.data.results import fast_table, parse_results

GT = parse_gt({
    "images": [{"id": i, "width": 100, "height": 100} for i in (1, 2, 7, 1234567890123)],
    "categories": [{"id": c, "name": f"c{c}"} for c in (1, 3, 90)],
    "annotations": [],
}, "gt")  # fmt: skip


def number(rng: random.Random):
    kind = rng.randrange(9)
    if kind == 0:
        return rng.randrange(0, 2000)  # an integer literal
    if kind == 1:
        return round(rng.uniform(0, 1000), rng.randrange(0, 6))
    if kind == 2:
        return rng.random()  # 16-17 significant digits: often past the fast path
    if kind == 3:
        return float(np.float32(rng.uniform(0, 640)))
    if kind == 4:
        return rng.choice([0.0, -0.0, 1e-7, 2.5e-10, 123456789.125, 1e22, 1e23, 5e-324, 0.1, 0.30000000000000004])
    if kind == 5:
        return rng.uniform(0, 1) * 10 ** rng.randrange(-30, 30)
    return rng.uniform(0, 500)


def record(rng: random.Random) -> dict:
    r = {
        "image_id": rng.choice([1, 2, 7, 1234567890123]),
        "category_id": rng.choice([1, 3, 90]),
        "bbox": [abs(number(rng)) for _ in range(4)],
        "score": abs(number(rng)),
    }
    if rng.random() < 0.2:
        r["area"] = number(rng)
    if rng.random() < 0.1:
        r["segmentation"] = {"counts": 'ab\\"c}]', "size": [1, 2], "nested": [[1, {"x": None}], True, False]}
    items = list(r.items())
    rng.shuffle(items)
    return dict(items)


def assert_same(data: bytes):
    fast = fast_table(data, GT, "f")
    slow = parse_results(json.loads(data), GT, "f")
    assert fast is not None
    for name in ("image_idx", "category_idx", "xyxy", "box_area", "scores"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a.view(np.uint8), b.view(np.uint8)), name  # bit for bit, -0.0 included


@pytest.mark.parametrize("seed", range(40))
def test_fast_path_is_bit_identical_to_the_general_path(seed):
    rng = random.Random(seed)
    records = [record(rng) for _ in range(rng.randrange(0, 60))]
    indent = rng.choice([None, 1, 2, "\t"])
    assert_same(json.dumps(records, indent=indent).encode())
    assert_same(json.dumps(records, separators=(",", ":")).encode())


@pytest.mark.parametrize("text", [
    '{"annotations": []}',  # a dict at the top
    '[{"image_id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',  # repeated key
    '[{"image_id": 1.0, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',  # float id
    '[{"image_id": "1", "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',  # string id
    '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": NaN}]',  # not JSON
    '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1], "score": 0.5}]',  # 3 numbers
    '[{"image_id": 1, "category_id": 1, "score": 0.5}]',  # missing bbox
    '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5},]',  # trailing comma
    '[{"image_\\u0069d": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',  # escaped key
    '[{"image_id": 01, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',  # leading zero
    '[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}] x',  # trailing bytes
    '',
])  # fmt: skip
def test_shapes_it_does_not_handle_are_declined(text):
    assert parse_columns(text.encode()) is None


def test_invalid_values_fall_back_to_the_general_path_and_its_error(tmp_path):
    from bench.data.results import load_results
    from bench.errors import InputError

    bad = b'[{"image_id": 1, "category_id": 1, "bbox": [0, 0, -1, 1], "score": 0.5}]'
    assert parse_columns(bad) is not None and fast_table(bad, GT, "f") is None  # parsed, then declined
    unknown = b'[{"image_id": 5, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]'
    with pytest.raises(InputError, match=r"detections\[0\].image_id: image id 5 is not in the ground truth"):
        fast_table(unknown, GT, "f")
    (tmp_path / "bad.json").write_bytes(bad)
    with pytest.raises(InputError, match=r"bad.json: detections\[0\].bbox: width is negative"):
        load_results(tmp_path / "bad.json", GT)  # the loader declined the fast path, the general one names the error


@pytest.mark.parametrize("decoy", [', {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.5}', ",{", ",\n {"])
def test_halves_split_inside_a_string_fall_back_to_one_pass(decoy):
    """The reader splits the file in two at a plausible record start; a split inside a
    skipped string must not count (the first half's records do not end there)."""
    rng = random.Random(3)
    recs = []
    for i in range(200):
        r = {"image_id": 2, "category_id": 3, "bbox": [i, 1.5, 2.0, 3.0], "score": rng.random()}
        r["note"] = decoy * rng.randrange(1, 20)
        recs.append(r)
    data = json.dumps(recs).encode()
    cols = parse_columns(data)
    assert cols is not None
    ref = parse_results(json.loads(data), GT, "dt.json")
    assert np.array_equal(cols[2], np.array([r["bbox"] for r in recs]))
    assert np.array_equal(cols[3], ref.scores) and len(cols[0]) == 200


def test_halves_keep_file_order_and_slow_numbers():
    """Two halves: rows, and numbers re-read by Python's float, stay in file order."""
    rng = random.Random(5)
    recs = [{"image_id": 7, "category_id": 90, "bbox": [rng.random(), 0.1, 2.5, 3], "score": rng.random()} for _ in range(1001)]
    data = json.dumps(recs).encode()
    img, cat, xywh, score = parse_columns(data)
    assert np.array_equal(xywh, np.array([r["bbox"] for r in recs], float))
    assert np.array_equal(score, np.array([r["score"] for r in recs]))
