"""Datasets defined as an image subset of another entry (LVIS v1 minival): by a coco_url rule
and by a pinned id list, against the parent filtered by hand."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import yaml
from cases import coco_case

from bench.data.catalog import load_dataset, present, yaml_entries
from bench.data.coco import parse_gt
from bench.errors import InputError


def _setup(tmp_path, subset: dict):
    gt, _ = coco_case(11, n_img=6, n_cat=4, lvis=True)
    for k, im in enumerate(gt["images"]):
        im["coco_url"] = f"http://images.cocodataset.org/{'val2017' if k % 2 else 'train2017'}/{im['id']:012d}.jpg"
    (tmp_path / "lvis_val.json").write_text(json.dumps(gt))
    doc = {"datasets": {"parent": {"format": "lvis", "protocol": "lvis", "annotations": str(tmp_path / "lvis_val.json"), "images": "img"},
                        "mini": {"subset_of": "parent", "subset": subset}}}  # fmt: skip
    path = tmp_path / "datasets.yaml"
    path.write_text(yaml.safe_dump(doc))
    return gt, path


def _expected(gt, keep):
    sub = dict(gt, images=[i for i in gt["images"] if i["id"] in keep], annotations=[a for a in gt["annotations"] if a["image_id"] in keep])
    return parse_gt(sub, "x.json", "lvis")


def _same(a, b):
    assert a.images.keys == b.images.keys and a.images.files == b.images.files
    assert [list(x) for x in a.images.neg_category_idx] == [list(x) for x in b.images.neg_category_idx]
    np.testing.assert_array_equal(a.boxes.ids, b.boxes.ids)
    np.testing.assert_array_equal(a.boxes.xyxy, b.boxes.xyxy)
    assert a.categories.names == b.categories.names and a.categories.frequency == b.categories.frequency


def test_coco_url_rule_keeps_the_val2017_images(tmp_path):
    gt, path = _setup(tmp_path, {"coco_url_contains": "/val2017/"})
    ds, root, protocol = load_dataset("mini", path=path)
    keep = {i["id"] for i in gt["images"] if "/val2017/" in i["coco_url"]}
    assert len(keep) == 3 and ds.name == "mini" and protocol == "lvis" and root == tmp_path / "img"
    _same(ds, _expected(gt, keep))
    assert present("mini", yaml_entries(path)["mini"], path=path)


def test_pinned_id_list(tmp_path):
    gt, _ = _setup(tmp_path, {})
    ids = [gt["images"][0]["id"], gt["images"][4]["id"]]
    (tmp_path / "ids.json").write_text(json.dumps(ids))
    sha = hashlib.sha256((tmp_path / "ids.json").read_bytes()).hexdigest()
    _, path = _setup(tmp_path, {"image_ids_file": "ids.json", "image_ids_sha256": sha})
    ds, _, _ = load_dataset("mini", path=path)
    _same(ds, _expected(gt, set(ids)))
    (tmp_path / "ids.json").write_text(json.dumps(ids[:1]))
    with pytest.raises(InputError, match="ids.json: sha256 .* differs from the recorded"):
        load_dataset("mini", path=path)


@pytest.mark.parametrize("subset, match", [
    ({}, "exactly one of image_ids_file, coco_url_contains"),
    ({"coco_url_contains": "/val2017/", "image_ids_file": "x"}, "exactly one of"),
    ({"image_ids_file": "ids.json"}, "image_ids_sha256: missing"),
])  # fmt: skip
def test_bad_subset_definitions(tmp_path, subset, match):
    (tmp_path / "ids.json").write_text("[1]")
    _, path = _setup(tmp_path, subset)
    with pytest.raises(InputError, match=match):
        load_dataset("mini", path=path)


def test_unknown_ids_are_refused(tmp_path):
    (tmp_path / "ids.json").write_text("[123456789]")
    sha = hashlib.sha256(b"[123456789]").hexdigest()
    _, path = _setup(tmp_path, {"image_ids_file": "ids.json", "image_ids_sha256": sha})
    with pytest.raises(InputError, match="1 image ids are not in the parent"):
        load_dataset("mini", path=path)


def test_shipped_minival_entry():
    e = yaml_entries()["lvis-v1-minival"]
    assert e["subset_of"] == "lvis-v1-val" and e["subset"] == {"coco_url_contains": "/val2017/"}
