"""Inputs written by other projects that once scored quietly wrong (issue 23): results shaped as
a dataset, the images-without-detections count, and a polygon refusal cut mid-number."""

import json
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.data.coco import parse_gt
from bench.data.results import load_results, parse_results
from bench.errors import InputError

GT = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}, {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100}],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [50, 50, 20, 20], "area": 400, "iscrowd": 0},
    ],
}


def _dataset_shaped(remap: bool) -> dict:
    """Two perfect detections written as a dataset; ``remap``: its tables swap the image ids
    (a.jpg is id 2 here), so that its ids mean other images than the ground truth's."""
    images = [{"id": 2 if remap else 1, "file_name": "a.jpg"}, {"id": 1 if remap else 2, "file_name": "b.jpg"}]
    first, second = (2, 1) if remap else (1, 2)
    anns = [{"id": 1, "image_id": first, "category_id": 1, "bbox": [10, 10, 30, 30], "score": 0.9},
            {"id": 2, "image_id": second, "category_id": 2, "bbox": [50, 50, 20, 20], "score": 0.9}]  # fmt: skip
    return {"images": images, "categories": GT["categories"], "annotations": anns}


def test_dataset_shaped_results_with_remapped_tables_are_refused():
    """Failed before the fix: the tables were ignored and the file scored AP 0.0 silently."""
    ds = parse_gt(GT, "gt.json")
    with pytest.raises(InputError) as e:
        parse_results(_dataset_shaped(remap=True), ds, "dt.json")
    msg = str(e.value)
    assert "dt.json" in msg and "images[0]" in msg and "dataset" in msg and "'annotations' list" in msg
    assert "'a.jpg' here but 'b.jpg' in the ground truth" in msg


def test_dataset_shaped_results_agreeing_with_ground_truth_are_accepted():
    from bench.metrics.core import evaluate
    from bench.protocols import COCO

    ds = parse_gt(GT, "gt.json")
    det = parse_results(_dataset_shaped(remap=False), ds, "dt.json")
    assert evaluate(ds, det, COCO).metrics["AP"] == pytest.approx(1.0)


@pytest.mark.parametrize("obj, words", [
    ({"annotations": []}, "without its own 'images' and 'categories' table"),
    ({"info": {}}, "got a JSON object with keys ['info']"),
    ({**_dataset_shaped(False), "categories": [{"id": 1, "name": "dog"}]}, "'dog' here but 'cat'"),
    ({**_dataset_shaped(False), "categories": [{"id": 7, "name": "cat"}]}, "id 7 is not in the ground truth's categories"),
    ({**_dataset_shaped(False), "categories": [{"id": 1}]}, "has no 'name'"),
])  # fmt: skip
def test_other_json_objects_are_refused(obj, words):
    with pytest.raises(InputError, match=re.escape(words)):
        parse_results(obj, parse_gt(GT, "gt.json"), "dt.json")


@pytest.mark.parametrize("native", ["1", "0"])
def test_every_reader_refuses_the_remapped_file(tmp_path, native):
    """The C reader (DETBENCH_NATIVE=1), numba's (0) and ``bench eval`` give the same refusal."""
    gt, dt = tmp_path / "gt.json", tmp_path / "dt.json"
    gt.write_text(json.dumps(GT))
    dt.write_text(json.dumps(_dataset_shaped(remap=True)))
    code = "import sys; from bench.data.inputs import load_inputs; load_inputs(sys.argv[1], sys.argv[2])"
    out = subprocess.run([sys.executable, "-c", code, str(gt), str(dt)], capture_output=True, text=True,
                         env={"DETBENCH_NATIVE": native, "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert out.returncode != 0 and "whose images disagree with the ground truth's" in out.stderr
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps(_dataset_shaped(remap=False)))
    assert len(load_results(ok, parse_gt(GT, "gt.json"))) == 2
    cli = subprocess.run([sys.executable, "-m", "bench", "eval", "--gt", str(gt), "--results", str(dt)], capture_output=True,
                         text=True, env={"DETBENCH_NATIVE": native, "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert cli.returncode != 0 and "disagree" in cli.stdout + cli.stderr


def test_images_without_detections_counts_images_that_have_ground_truth():
    """Failed before the fix: "1 of 2 images with ground truth" where only one image has any."""
    from bench.analysis.lint import lint
    from bench.protocols import COCO

    gt = {**GT, "annotations": GT["annotations"][:1]}  # image 2 has no ground truth
    ds = parse_gt(gt, "gt.json")
    det = parse_results([{"image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5}], ds, "dt.json")
    (f,) = [f for f in lint(ds, det, COCO) if f["code"] == "images_without_detections"]
    assert f["message"].startswith("1 of 1 images with ground truth") and f["images_with_ground_truth"] == 1


def test_polygon_refusal_is_not_cut_mid_number():
    """Failed before the fix: the value was shown cut at 80 characters, inside a number."""
    coords = [123.456789 + i for i in range(20)]  # a flat polygon, not a list of polygons
    gt = {**GT, "annotations": [{**GT["annotations"][0], "segmentation": coords}]}
    ds = parse_gt(gt, "gt.json")
    with pytest.raises(InputError) as e:
        ds.boxes.segmentation.packed()
    shown = str(e.value).split("got ", 1)[1]
    tokens = [t.strip(" []") for t in shown.split(",")]
    assert tokens[-1] == "..." and all(float(t) in coords for t in tokens[:-1])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), drop=st.sampled_from(["all", "some"]), crowded=st.integers(0, 3))
def test_mask_ap_of_ground_truth_without_boxes_equals_pycocotools(seed, drop, crowded):
    """Failed before the fix: ground truth with 'segmentation' and no 'bbox' was refused under
    segm, where pycocotools scores it (area and iscrowd read from the annotations as it does)."""
    import copy

    import numpy as np
    from mask_cases import mask_case
    from oracles import COCO_STATS, pycocotools_eval

    from bench.metrics.core import evaluate
    from bench.protocols import COCO

    gt, dets = mask_case(seed, crowded=crowded)
    if not gt["annotations"] or not dets:
        return
    gt = copy.deepcopy(gt)
    for i, a in enumerate(gt["annotations"]):
        if drop == "all" or i % 2 == 0:
            del a["bbox"]
    ref = pycocotools_eval(gt, dets, iou_type="segm")
    ds = parse_gt(gt, "gt.json")
    assert ds.missing_fields["bbox"] == sum("bbox" not in a for a in gt["annotations"])
    res = evaluate(ds, parse_results(dets, ds, "dt.json", masks=True), COCO, iou_type="segm")
    got = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(got, ref.stats, rtol=0, atol=1e-9)


def test_ground_truth_without_boxes_refuses_box_ap_and_scores_masks(tmp_path):
    """bench eval: --iou-type segm scores it; box AP (which pycocotools cannot compute) is refused."""
    from mask_cases import mask_case

    from bench.data.inputs import load_inputs

    gt, dets = mask_case(5, bbox="all")
    for a in gt["annotations"]:
        del a["bbox"]
    g, d = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt))
    d.write_text(json.dumps(dets))
    with pytest.raises(InputError, match=r"have a 'segmentation' and no 'bbox'.*--iou-type segm"):
        load_inputs(str(g), str(d))
    ds, det, _ = load_inputs(str(g), str(d), iou_type="segm")
    assert len(det) == len(dets) and any("no 'bbox'" in w for w in ds.warnings)
