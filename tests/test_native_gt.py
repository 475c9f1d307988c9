"""The C ground-truth reader (``bench.native.results.parse_gt_annotations``, used by
``load_ground_truth(masks=False)``) against the general path (orjson + the column builders):
the same Dataset boxes bit for bit, the same warnings and missing-field counts, and for a bad
file the same InputError (the fast path declines, the general path names the record)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.data.inputs import load_ground_truth
from bench.errors import InputError
from bench.native import results as native

if native._results is None:
    pytest.skip("bench.native._results is not built (run setup.py build_ext --inplace)", allow_module_level=True)

_FIELDS = ("ids", "image_idx", "category_idx", "xyxy", "box_area", "area", "iscrowd", "ignore", "difficult")


def _gt(n_img: int = 6, n_ann: int = 40, seed: int = 0, lvis: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    images = [{"id": int(i), "width": 640, "height": 480, "file_name": f"{i}.jpg"} for i in rng.permutation(np.arange(10, 10 + n_img))]
    cats = [{"id": c, "name": f"c{c}"} for c in (5, 2, 9)]
    if lvis:
        for c in cats:
            c["frequency"] = "f"
        for im in images:
            im["neg_category_ids"], im["not_exhaustive_category_ids"] = [9], []
    anns = []
    for j in range(n_ann):
        a = {"id": 1000 - j, "image_id": images[j % n_img]["id"], "category_id": cats[j % 3]["id"],
             "bbox": [float(rng.uniform(0, 300)), round(float(rng.uniform(0, 200)), 2), 12.5, int(rng.integers(0, 90))]}  # fmt: skip
        if j % 4:
            a["area"] = float(rng.uniform(1, 500)) if j % 3 else int(rng.integers(0, 500))
        if j % 5:
            a["iscrowd"] = int(j % 7 == 0)
        if j % 6 == 0:
            a["ignore"] = 1
        if j % 2:
            a["segmentation"] = [[1.0, 2.0, 30.5, 4.0, 5, 60]] if j % 3 else {"size": [480, 640], "counts": "a\\u00e9b"}
        anns.append(a)
    return {"info": {"description": "gt \u00e9"}, "images": images, "annotations": anns, "categories": cats, "licenses": []}


def _load(path, masks: bool):
    try:
        return load_ground_truth(path, masks=masks)
    except InputError as e:
        return e


def _assert_same(path) -> None:
    fast, slow = _load(path, False), _load(path, True)
    if isinstance(slow, InputError):
        assert isinstance(fast, InputError) and str(fast) == str(slow)
        return
    assert not isinstance(fast, InputError), fast
    for f in _FIELDS:
        a, b = getattr(fast.boxes, f), getattr(slow.boxes, f)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), f
    assert fast.warnings == slow.warnings and fast.missing_fields == slow.missing_fields
    assert fast.images.keys == slow.images.keys and list(fast.categories.names) == list(slow.categories.names)
    assert fast.format == slow.format


def test_fast_path_is_taken_and_equal(tmp_path):
    for lvis in (False, True):
        gt = _gt(lvis=lvis)
        path = tmp_path / "gt.json"
        path.write_text(json.dumps(gt, indent=1 if lvis else None))
        assert native.parse_gt_annotations(path.read_bytes()) is not None  # not a silent decline
        _assert_same(path)


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g["annotations"][3].update(id=g["annotations"][4]["id"]),  # duplicate id
        lambda g: g["annotations"][3].update(image_id=99999),  # unknown image
        lambda g: g["annotations"][3].update(category_id=7.0),  # integral float: accepted by the general path
        lambda g: g["annotations"][3].update(bbox=[1, 2, -3, 4]),  # negative width
        lambda g: g["annotations"][3].update(bbox=[1, 2, 3]),
        lambda g: g["annotations"][3].update(area=-1),
        lambda g: g["annotations"][3].update(area=None),
        lambda g: g["annotations"][3].update(iscrowd=True),
        lambda g: g["annotations"][3].update(iscrowd=2),
        lambda g: g["annotations"][3].pop("id"),
        lambda g: g["annotations"].append(7),
        lambda g: g.update(annotations={}),
        lambda g: g.pop("annotations"),
        lambda g: g.update(annotations=[]),
    ],
)
def test_edits_give_the_general_paths_answer(tmp_path, edit):
    gt = _gt()
    edit(gt)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    _assert_same(path)


def test_a_second_annotations_member_declines(tmp_path):
    gt = _gt(n_ann=5)
    text = json.dumps(gt)[:-1] + ', "annotations": []}'  # the last one wins in every JSON reader here
    path = tmp_path / "gt.json"
    path.write_text(text)
    assert native.parse_gt_annotations(path.read_bytes()) is None
    _assert_same(path)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_bytes_agree(tmp_path, data):
    """Any single-byte change or cut of a valid file: both paths accept it with equal boxes, or
    both raise the same error."""
    raw = bytearray(json.dumps(_gt(n_img=3, n_ann=8, seed=1)).encode())
    pos = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        raw[pos] = data.draw(st.sampled_from(b'{}[],:"0123456789.-eE \\tnu'))
    else:
        raw = raw[:pos]
    path = tmp_path / "gt.json"
    path.write_bytes(bytes(raw))
    _assert_same(path)
