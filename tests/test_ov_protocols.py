"""OV-COCO (category subset + grouped AP50) and OV-LVIS, against hand-worked cases and against
pycocotools on the OVR-CNN-filtered ground truth (the json every OV-COCO paper scores)."""

import json
from pathlib import Path

import numpy as np
import pytest
from cases import coco_case
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import pycocotools_eval

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.errors import InputError
from bench.metrics.core import evaluate
from bench.ov_splits import OV_COCO_BASE, OV_COCO_NOVEL
from bench.protocols import COCO, LVIS, OV_COCO, OV_LVIS, CategoryGroups, get_protocol

MINI = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini" / "instances_val2017_mini.json"


def coco_categories() -> list[dict]:
    return json.loads(MINI.read_text())["categories"]


def test_split_is_48_plus_17_of_coco_and_leaves_15_out():
    names = [c["name"] for c in coco_categories()]
    assert len(OV_COCO_BASE) == 48 and len(OV_COCO_NOVEL) == 17
    assert not set(OV_COCO_BASE) & set(OV_COCO_NOVEL)
    assert set(OV_COCO_BASE) | set(OV_COCO_NOVEL) <= set(names)
    left_out = sorted(set(names) - set(OV_COCO_BASE) - set(OV_COCO_NOVEL))
    assert left_out == sorted(["traffic light", "fire hydrant", "stop sign", "parking meter", "baseball bat", "baseball glove",
                               "tennis racket", "wine glass", "hot dog", "potted plant", "dining table", "cell phone",
                               "teddy bear", "hair drier", "sports ball"])  # fmt: skip
    assert get_protocol("ov-coco") is OV_COCO and OV_COCO.iou_thresholds == COCO.iou_thresholds


def _gt_hand(cats):
    cid = {c["name"]: c["id"] for c in cats}
    anns = [
        {"id": 1, "image_id": 1, "category_id": cid["cat"], "bbox": [10, 10, 50, 50], "area": 2500, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": cid["person"], "bbox": [100, 100, 40, 80], "area": 3200, "iscrowd": 0},
        {"id": 3, "image_id": 2, "category_id": cid["potted plant"], "bbox": [10, 10, 30, 30], "area": 900, "iscrowd": 0},
        {"id": 4, "image_id": 3, "category_id": cid["dog"], "bbox": [0, 0, 60, 40], "area": 2400, "iscrowd": 0},
    ]
    images = [{"id": i, "width": 320, "height": 240, "file_name": f"{i}.jpg"} for i in (1, 2, 3)]
    dets = [
        {"image_id": 1, "category_id": cid["cat"], "bbox": [10, 10, 50, 50], "score": 0.9},  # TP
        {"image_id": 1, "category_id": cid["person"], "bbox": [200, 10, 40, 80], "score": 0.8},  # FP (no overlap)
        {"image_id": 1, "category_id": cid["person"], "bbox": [100, 100, 40, 80], "score": 0.7},  # TP
        {"image_id": 3, "category_id": cid["dog"], "bbox": [0, 0, 60, 40], "score": 0.6},  # TP
        {"image_id": 2, "category_id": cid["cat"], "bbox": [10, 10, 30, 30], "score": 0.95},  # image 2: no split annotation
        {"image_id": 1, "category_id": cid["potted plant"], "bbox": [10, 10, 50, 50], "score": 0.99},  # left-out class
    ]
    return {"images": images, "categories": cats, "annotations": anns}, dets


def _score(gt, dets, protocol):
    ds = parse_gt(gt, "gt.json")
    return evaluate(ds, parse_results(dets, ds, "dt.json"), protocol)


def test_ov_coco_hand_worked():
    # cat: TP at 0.9 -> AP50 1. person: FP 0.8 then TP 0.7 -> precision 1/2 at recall 1, the
    # envelope is 0.5 everywhere -> AP50 0.5. dog: TP -> 1. Image 2 holds only a left-out class
    # (potted plant), so OVR-CNN's json drops it, and the 0.95 "cat" on it is not an FP.
    # novel = mean(cat 1, dog 1) = 1 (the 15 other novel classes have no GT: undefined, left out);
    # base = person 0.5; all = (1 + 1 + 0.5) / 3.
    gt, dets = _gt_hand(coco_categories())
    r = _score(gt, dets, OV_COCO)
    assert r.metrics["AP50_novel"] == pytest.approx(1.0, abs=1e-12)
    assert r.metrics["AP50_base"] == pytest.approx(0.5, abs=1e-12)
    assert r.metrics["AP50_all"] == pytest.approx(2.5 / 3, abs=1e-12)
    assert len(r.per_class) == 65 and "potted plant" not in r.per_class
    assert r.counts["images"] == 2 and r.counts["ground_truth"] == 3
    assert r.per_class["cat"]["AP50"] == pytest.approx(1.0) and r.per_class["person"]["AP50"] == pytest.approx(0.5)
    assert r.to_dict()["protocol_settings"]["category_groups"]["groups"]["novel"] == list(OV_COCO_NOVEL)
    # the match table points at the caller's rows and images: rows 0-3 scored (4: dropped image, 5: left-out class)
    t = r.table
    assert sorted(t.dt_rows.tolist()) == [0, 1, 2, 3]
    assert dict(zip(t.dt_rows.tolist(), t.image_idx.tolist())) == {0: 0, 1: 0, 2: 0, 3: 2}  # images sorted by id: 1, 2, 3
    assert sorted(t.gt_image_idx.tolist()) == [0, 0, 2] and r.protocol is OV_COCO


def test_images_all_keeps_the_image_and_its_false_positive():
    # the same data with every image kept: the 0.95 "cat" on image 2 ranks first and is an FP,
    # so cat's AP50 is 0.5 (precision 1/2 at recall 1) and novel = mean(0.5, 1) = 0.75.
    gt, dets = _gt_hand(coco_categories())
    groups = OV_COCO.category_groups
    p = OV_COCO.with_(category_groups=CategoryGroups(groups.name, groups.groups, groups.metrics, images="all"))
    r = _score(gt, dets, p)
    assert r.per_class["cat"]["AP50"] == pytest.approx(0.5)
    assert r.metrics["AP50_novel"] == pytest.approx(0.75)
    assert r.counts["images"] == 3


def test_dataset_without_the_split_classes_is_an_error():
    gt, dets = coco_case(0)
    with pytest.raises(InputError, match="categories.name.*ov-coco-48-17.*65 missing"):
        _score(gt, dets, OV_COCO)


def test_groups_reject_overlap_and_bad_labels():
    with pytest.raises(ValueError, match="two groups"):
        CategoryGroups("x", (("a", ("p", "q")), ("b", ("q",))))
    with pytest.raises(ValueError, match="distinct"):
        CategoryGroups("x", (("all", ("p",)),))


def ovrcnn_filter(gt: dict, keep_names: set) -> dict:
    """OVR-CNN's ``filter_annotation`` (ipynb/003.ipynb): categories of the split, their
    annotations, and the images holding at least one of them."""
    cats = [c for c in gt["categories"] if c["name"] in keep_names]
    ids = {c["id"] for c in cats}
    anns = [a for a in gt["annotations"] if a["category_id"] in ids]
    useful = {a["image_id"] for a in anns}
    return {"images": [i for i in gt["images"] if i["id"] in useful], "categories": cats, "annotations": anns}


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_cat=st.integers(3, 7), n_img=st.integers(1, 6))
def test_grouped_ap50_equals_pycocotools_on_the_filtered_json(seed, n_cat, n_img):
    gt, dets = coco_case(seed, n_img, n_cat)
    names = [c["name"] for c in gt["categories"]]
    rng = np.random.default_rng(seed)
    order = [names[i] for i in rng.permutation(len(names))]
    k = int(rng.integers(1, len(names)))  # at least one category left out
    novel, base = tuple(order[: max(1, k // 2)]), tuple(order[max(1, k // 2) : k])
    groups = CategoryGroups("t", (("base", base), ("novel", novel)) if base else (("novel", novel),))
    res = _score(gt, dets, COCO.with_(name="t", category_groups=groups))

    filt = ovrcnn_filter(gt, set(groups.names))
    kept_imgs, kept_cats = {i["id"] for i in filt["images"]}, {c["id"] for c in filt["categories"]}
    fdets = [d for d in dets if d["image_id"] in kept_imgs and d["category_id"] in kept_cats]
    if not filt["images"]:
        assert all(res.metrics[f"AP50_{g}"] is None for g in ("novel", "all"))
        return
    ev = pycocotools_eval(filt, fdets, params={})
    prec = ev.eval["precision"]  # [T, R, K, A, M]; Detic's custom_coco_eval: precision[0, :, k, 0, -1]
    cat_names = [c["name"] for c in sorted(filt["categories"], key=lambda c: c["id"])]
    ap50 = {}
    for kk, n in enumerate(cat_names):
        p = prec[0, :, kk, 0, -1]
        p = p[p > -1]
        ap50[n] = float(np.mean(p)) if p.size else None
    for n in cat_names:
        assert res.per_class[n]["AP50"] == pytest.approx(ap50[n], abs=1e-12) if ap50[n] is not None else res.per_class[n]["AP50"] is None
    for label, members in [*groups.groups, ("all", groups.names)]:
        vals = [ap50[n] for n in members if ap50[n] is not None]
        want = float(np.mean(vals)) if vals else None
        got = res.metrics[f"AP50_{label}"]
        assert (got is None and want is None) or got == pytest.approx(want, abs=1e-12)
    assert res.counts["images"] == len(filt["images"])


def test_ov_lvis_is_lvis_with_rare_as_novel():
    gt, dets = coco_case(3, 5, 6, lvis=True)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    a, b = evaluate(ds, det, LVIS), evaluate(ds, det, OV_LVIS)
    assert a.metrics == b.metrics and "APr" in b.metrics
    assert OV_LVIS.category_groups is None and get_protocol("ov-lvis") is OV_LVIS


def test_bench_eval_protocol_ov_coco(tmp_path, capsys):
    from bench.cli.main import main

    gt, dets = _gt_hand(coco_categories())
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    code = main(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--protocol", "ov-coco",
                 "--out", str(tmp_path / "m.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "AP50_novel 100.0" in out and "AP50_base  50.0" in out
    m = json.loads((tmp_path / "m.json").read_text())
    assert m["protocol"] == "ov-coco" and m["metrics"]["AP50_all"] == pytest.approx(2.5 / 3) and len(m["per_class"]) == 65
