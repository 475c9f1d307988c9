"""Loaders and bad input: every error names the file, the record and the field."""

import json

import numpy as np
import pytest

from bench.boxes import FORMATS, box_area, from_xyxy, to_xyxy
from bench.data.coco import load_coco, load_lvis, parse_gt
from bench.data.results import load_results, parse_results
from bench.data.voc import load_voc
from bench.errors import InputError

GT = {
    "images": [{"id": 1, "width": 100, "height": 80, "file_name": "a.jpg"}, {"id": 2, "width": 50, "height": 50, "file_name": "b.jpg"}],
    "categories": [{"id": 3, "name": "cat"}, {"id": 1, "name": "dog"}],
    "annotations": [{"id": 1, "image_id": 2, "category_id": 3, "bbox": [1, 2, 3, 4], "area": 10, "iscrowd": 0}],
}


def gt(**changes):
    obj = json.loads(json.dumps(GT))
    for key, value in changes.items():
        section, i, field = key.split("__")
        if value is None:
            del obj[section][int(i)][field]
        else:
            obj[section][int(i)][field] = value
    return obj


def expect(fn, *fragments):
    with pytest.raises(InputError) as err:
        fn()
    for f in fragments:
        assert f in str(err.value), str(err.value)


def test_coco_loads_sorted_by_id_with_xyxy_boxes():
    ds = parse_gt(GT, "gt.json")
    assert ds.images.keys == [1, 2] and ds.categories.names == ["dog", "cat"]
    assert ds.boxes.xyxy.tolist() == [[1, 2, 4, 6]] and ds.boxes.area.tolist() == [10]
    assert ds.boxes.image_idx.tolist() == [1] and ds.boxes.category_idx.tolist() == [1]


@pytest.mark.parametrize(
    "changes, fragments",
    [
        ({"annotations__0__bbox": [1, 2, -3, 4]}, ["gt.json", "annotations[0].bbox", "width is negative"]),
        ({"annotations__0__bbox": [1, 2, 3]}, ["annotations[0].bbox", "expected [x, y, width, height]"]),
        ({"annotations__0__bbox": None}, ["annotations[0].bbox", "missing field"]),
        ({"annotations__0__image_id": 9}, ["annotations[0].image_id", "image id 9 is not in the ground truth"]),
        ({"annotations__0__category_id": 7}, ["annotations[0].category_id", "category id 7"]),
        ({"annotations__0__area": -1}, ["annotations[0].area", "negative"]),
        ({"images__1__id": 1}, ["images[1].id", "duplicate id 1"]),
        ({"categories__0__name": None}, ["categories[0].name"]),
        ({"annotations__0__id": "x"}, ["annotations[0].id", "expected an integer"]),
    ],
)
def test_bad_ground_truth(changes, fragments):
    expect(lambda: parse_gt(gt(**changes), "gt.json"), *fragments)


def test_nan_box_in_file(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt()).replace("[1, 2, 3, 4]", "[1, 2, NaN, 4]"))
    expect(lambda: load_coco(path), "gt.json", "annotations[0].bbox", "finite")


def test_malformed_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    expect(lambda: load_coco(path), "broken.json", "malformed JSON")


def test_missing_area_falls_back_to_box_area_with_a_warning():
    ds = parse_gt(gt(annotations__0__area=None), "gt.json")
    assert ds.boxes.area.tolist() == [12.0] and "no 'area' field" in ds.warnings[0]


@pytest.mark.parametrize(
    "record, fragments",
    [
        ({"image_id": 5, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 0.5}, ["dt.json", "detections[1].image_id", "image id 5"]),
        ({"image_id": 1, "category_id": 8, "bbox": [0, 0, 1, 1], "score": 0.5}, ["detections[1].category_id", "category id 8"]),
        ({"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "score": float("nan")}, ["detections[1].score", "finite"]),
        ({"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, -1], "score": 0.5}, ["detections[1].bbox", "height is negative"]),
        ({"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1]}, ["detections[1].score", "missing field"]),
        ("oops", ["detections[1]", "expected a JSON object"]),
    ],
)
def test_bad_results(record, fragments):
    ds = parse_gt(GT, "gt.json")
    good = {"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.1}
    expect(lambda: parse_results([good, record], ds, "dt.json"), *fragments)


def test_results_not_a_list():
    expect(lambda: parse_results({"a": 1}, parse_gt(GT, "gt.json"), "dt.json"), "dt.json", "expected a list")


def test_lvis_needs_frequency_and_federated_lists(tmp_path):
    obj = gt()
    for c in obj["categories"]:
        c["frequency"] = "r"
    expect(lambda: parse_gt(obj, "lvis.json", "lvis"), "images[0].neg_category_ids")
    for im in obj["images"]:
        im["neg_category_ids"], im["not_exhaustive_category_ids"] = [1], [44]
    expect(lambda: parse_gt(obj, "lvis.json", "lvis"), "images[0].not_exhaustive_category_ids", "category id 44")
    obj["images"][0]["not_exhaustive_category_ids"] = [3]
    obj["images"][1]["not_exhaustive_category_ids"] = []
    path = tmp_path / "lvis.json"
    path.write_text(json.dumps(obj))
    ds = load_lvis(path)
    assert [x.tolist() for x in ds.images.not_exhaustive_category_idx] == [[1], []]


def write_voc_xml(root, stem, body):
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / f"{stem}.xml").write_text(f"<annotation><size><width>50</width><height>40</height></size>{body}</annotation>")


def test_voc_loader_and_devkit_results(tmp_path):
    root = tmp_path / "VOC2007"
    write_voc_xml(root, "000001", "<object><name>dog</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>")
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "test.txt").write_text("000001\n")
    ds = load_voc(root)
    assert len(ds.categories) == 20 and ds.boxes.xyxy.tolist() == [[0, 1, 10, 20]] and ds.boxes.difficult.tolist() == [True]
    res = tmp_path / "res"
    res.mkdir()
    (res / "comp4_det_test_dog.txt").write_text("000001 0.9 1 2 10 20\n")
    det = load_results(res, ds, "test")
    assert det.xyxy.tolist() == [[0, 1, 10, 20]] and ds.categories.names[det.category_idx[0]] == "dog"
    (res / "comp4_det_test_dog.txt").write_text("000001 0.9 1 2 10 20\n000009 0.5 1 1 2 2\n")
    expect(lambda: load_results(res, ds, "test"), "comp4_det_test_dog.txt", "line 2", "000009")
    write_voc_xml(root, "000001", "<object><name>dog</name><bndbox><xmin>1</xmin><ymin>x</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>")
    expect(lambda: load_voc(root), "000001.xml", "object[0].bndbox.ymin", "expected a number")


def test_box_conversions_round_trip_and_known_values():
    xyxy = np.array([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 0.0, 5.0]])
    assert to_xyxy([[10, 20, 40, 60]], "xywh").tolist() == [[10, 20, 50, 80]]
    assert to_xyxy([[30, 50, 40, 60]], "cxcywh").tolist() == [[10, 20, 50, 80]]
    assert to_xyxy([[0.1, 0.2, 0.5, 0.8]], "xyxy_norm", 100, 100).tolist() == [[10, 20, 50, 80]]
    assert to_xyxy([[11, 21, 50, 80]], "voc").tolist() == [[10, 20, 50, 80]]
    for fmt in FORMATS:
        back = to_xyxy(from_xyxy(xyxy, fmt, 200, 100), fmt, 200, 100)
        np.testing.assert_allclose(back, xyxy, atol=1e-12)
    assert box_area(xyxy).tolist() == [2400.0, 0.0]
    with pytest.raises(ValueError, match="width and height"):
        to_xyxy(xyxy, "cxcywh_norm")
    with pytest.raises(ValueError, match="unknown box format"):
        to_xyxy(xyxy, "yxyx")
