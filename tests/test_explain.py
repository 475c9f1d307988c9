"""bench explain: each convention equals the tool it names, on generated cases.

Oracles: ultralytics' own ``match_predictions`` + ``ap_per_class``; torchmetrics'
``MeanAveragePrecision()`` with its defaults; pycocotools (box areas; results capped per
image); a transcription of the VOC devkit; hand-worked IoU-threshold cases.
"""

import copy

import numpy as np
import pytest
from cases import coco_case
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import COCO_STATS, pycocotools_eval, voc_devkit_ap

from bench.analysis.explain import COCO_CONVENTIONS, FLOAT32_IOU, FLOAT32_RECALL, RULES, apply_rules, explain, format_explain
from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.protocols import COCO

CONV = {c.name: c for c in COCO_CONVENTIONS}


def scored(gt, dets, name):
    ds = parse_gt(gt, "gt.json")
    c = CONV[name]
    return ds, evaluate(ds, parse_results(dets, ds, "dt.json"), apply_rules(COCO, c.rules, c.metric))


def _xyxy(b):
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


def _iou_matrix(gts, dts):
    """pycocotools' IoU (float64), ground truth rows x detection columns."""
    out = np.zeros((len(gts), len(dts)))
    for i, g in enumerate(gts):
        for j, d in enumerate(dts):
            w = min(g[2], d[2]) - max(g[0], d[0])
            h = min(g[3], d[3]) - max(g[1], d[1])
            if w > 0 and h > 0:
                out[i, j] = w * h / ((g[2] - g[0]) * (g[3] - g[1]) + (d[2] - d[0]) * (d[3] - d[1]) - w * h)
    return out


def legacy_match_predictions(pred_classes, true_classes, iou, thresholds):
    """ultralytics <= 8.3's BaseValidator.match_predictions (use_scipy=False), transcribed: the
    pairs at IoU >= t in IoU order, unique per detection, then unique per label."""
    correct = np.zeros((len(pred_classes), len(thresholds)), bool)
    iou = iou * (true_classes[:, None] == pred_classes)
    for i, threshold in enumerate(thresholds):
        matches = np.array(np.nonzero(iou >= threshold)).T
        if matches.shape[0]:
            if matches.shape[0] > 1:
                matches = matches[iou[matches[:, 0], matches[:, 1]].argsort()[::-1]]
                matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
                matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
            correct[matches[:, 1].astype(int), i] = True
    return correct


def ultralytics_oracle(gt, dets, thresholds, legacy=False):
    """ultralytics' validator path on COCO dicts: crowd dropped (its converter), per image
    ``match_predictions`` on predictions in descending confidence, then ``ap_per_class``."""
    torch = pytest.importorskip("torch")
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import ap_per_class

    v = BaseValidator.__new__(BaseValidator)
    v.iouv = torch.linspace(0.5, 0.95, 10) if thresholds is None else torch.tensor(thresholds, dtype=torch.float64)  # its own default
    tps, confs, pcls, tcls = [], [], [], []
    for img in gt["images"]:
        g = [a for a in gt["annotations"] if a["image_id"] == img["id"] and not a.get("iscrowd")]
        d = sorted((x for x in dets if x["image_id"] == img["id"]), key=lambda x: -x["score"])
        tcls += [a["category_id"] for a in g]
        if not d:
            continue
        iou = torch.from_numpy(_iou_matrix([_xyxy(a["bbox"]) for a in g], [_xyxy(x["bbox"]) for x in d]))
        pc = torch.tensor([x["category_id"] for x in d])
        tc = torch.tensor([a["category_id"] for a in g], dtype=torch.int64)
        if legacy:
            tps.append(legacy_match_predictions(pc.numpy(), tc.numpy(), iou.numpy(), v.iouv.numpy()))
        else:
            tps.append(v.match_predictions(pc, tc, iou).numpy())
        confs += [x["score"] for x in d]
        pcls += [x["category_id"] for x in d]
    tp = np.concatenate(tps) if tps else np.zeros((0, len(v.iouv)), bool)
    out = ap_per_class(tp, np.array(confs), np.array(pcls), np.array(tcls))
    return out[5], out[6]  # ap [nc, T], classes


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4), integer=st.booleans())
def test_ultralytics_convention_equals_ultralytics(seed, n_img, n_cat, integer):
    gt, dets = coco_case(seed, n_img, n_cat, integer=integer)  # distinct scores: ultralytics' sort is not stable
    ds, res = scored(gt, dets, "ultralytics")
    ap, classes = ultralytics_oracle(gt, dets, None)
    if len(classes) == 0:
        assert res.metrics["AP"] is None
        return
    np.testing.assert_allclose(res.metrics["AP"], ap.mean(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.metrics["AP50"], ap[:, 0].mean(), rtol=0, atol=1e-12)
    names = {int(i): n for i, n in zip(ds.categories.ids, ds.categories.names)}
    for k, c in enumerate(classes):
        np.testing.assert_allclose(res.per_class[names[int(c)]]["AP"], ap[k].mean(), rtol=0, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4))
def test_ultralytics_legacy_convention_equals_its_iou_ordered_matching(seed, n_img, n_cat):
    gt, dets = coco_case(seed, n_img, n_cat, integer=False)  # no IoU ties: its argsort is not stable
    ds, res = scored(gt, dets, "ultralytics_8.3")
    ap, classes = ultralytics_oracle(gt, dets, None, legacy=True)
    if len(classes) == 0:
        assert res.metrics["AP"] is None
        return
    np.testing.assert_allclose(res.metrics["AP"], ap.mean(), rtol=0, atol=1e-12)
    names = {int(i): n for i, n in zip(ds.categories.ids, ds.categories.names)}
    for k, c in enumerate(classes):
        np.testing.assert_allclose(res.per_class[names[int(c)]]["AP"], ap[k].mean(), rtol=0, atol=1e-12)


def test_ultralytics_tie_rule_first_ground_truth():
    """Two ground truths with the same IoU to the first detection: ultralytics takes the first,
    pycocotools the last; the second detection then overlaps only the other one."""
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 0, 10, 10], "area": 100, "iscrowd": 0}]}  # fmt: skip
    dets = [{"image_id": 1, "category_id": 1, "bbox": [5, 0, 10, 10], "score": 0.9},  # IoU 1/3 with both
            {"image_id": 1, "category_id": 1, "bbox": [12, 0, 10, 10], "score": 0.8}]  # IoU 0.67 with GT 2 only
    thr = (0.3,)
    ap, _ = ultralytics_oracle(gt, dets, thr)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    ours = evaluate(ds, det, COCO.with_(iou_thresholds=thr, matching="ultralytics", interpolation="continuous"))
    assert ours.metrics["AP"] == pytest.approx(ap.mean(), abs=1e-12)
    assert ap.mean() > 0.9  # first GT taken: both detections are true positives
    coco = evaluate(ds, det, COCO.with_(iou_thresholds=thr))
    assert coco.metrics["AP"] < 0.6  # pycocotools takes GT 2: the second detection is a false positive


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4))
def test_torchmetrics_convention_equals_torchmetrics_default(seed, n_img, n_cat):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.detection")
    gt, dets = coco_case(seed, n_img, n_cat)  # integer boxes: exact in torchmetrics' float32
    for d in dets:
        d["score"] = float(np.float32(d["score"]))
    metric = tm.MeanAveragePrecision()  # defaults: box iou, xyxy, pycocotools backend, [1, 10, 100]
    preds, targets = [], []
    for img in gt["images"]:
        d = [x for x in dets if x["image_id"] == img["id"]]
        g = [a for a in gt["annotations"] if a["image_id"] == img["id"]]
        preds.append({"boxes": torch.tensor([_xyxy(x["bbox"]) for x in d], dtype=torch.float32).reshape(-1, 4),
                      "scores": torch.tensor([x["score"] for x in d], dtype=torch.float32),
                      "labels": torch.tensor([x["category_id"] for x in d], dtype=torch.int64)})
        targets.append({"boxes": torch.tensor([_xyxy(a["bbox"]) for a in g], dtype=torch.float32).reshape(-1, 4),
                        "labels": torch.tensor([a["category_id"] for a in g], dtype=torch.int64)})  # fmt: skip
    metric.update(preds, targets)
    ref = metric.compute()
    _, res = scored(gt, dets, "torchmetrics")
    for ours, theirs in (("AP", "map"), ("AP50", "map_50"), ("AP75", "map_75"), ("APs", "map_small"),
                         ("APm", "map_medium"), ("APl", "map_large"), ("AR100", "mar_100")):  # fmt: skip
        value = res.metrics[ours]
        assert (-1.0 if value is None else value) == pytest.approx(float(ref[theirs]), abs=1e-6), ours


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4), integer=st.booleans())
def test_box_area_convention_equals_pycocotools_on_box_areas(seed, n_img, n_cat, integer):
    gt, dets = coco_case(seed, n_img, n_cat, integer=integer)
    boxed = copy.deepcopy(gt)
    for a in boxed["annotations"]:
        a["area"] = a["bbox"][2] * a["bbox"][3]
    ref = pycocotools_eval(boxed, dets)
    _, res = scored(gt, dets, "box_area")
    ours = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(ours, ref.stats, rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4), cap=st.integers(2, 8))
def test_maxdets_per_image_equals_pycocotools_on_results_capped_per_image(seed, n_img, n_cat, cap):
    """Honoured maxDets: the top ``cap`` detections of each image (stable on ties), whatever
    their category; pycocotools on results cut that way gives the same precision table."""
    gt, dets = coco_case(seed, n_img, n_cat, tie_scores=True)
    capped = []
    for img in gt["images"]:
        mine = [d for d in dets if d["image_id"] == img["id"]]
        capped += sorted(mine, key=lambda d: -d["score"])[:cap]
    capped.sort(key=lambda d: dets.index(d))  # file order, for ties
    ref = pycocotools_eval(gt, capped, {"maxDets": [1, cap, cap]}) if capped else None
    ds = parse_gt(gt, "gt.json")
    res = evaluate(ds, parse_results(dets, ds, "dt.json"), COCO.with_(max_dets=(1, cap, cap), max_dets_scope="image"))
    if ref is None:
        assert res.metrics["AP"] in (0.0, None)
        return
    np.testing.assert_allclose(res.precision[..., 2], ref.eval["precision"][..., 2], rtol=0, atol=1e-12)


def test_float32_thresholds_equal_torch_linspace():
    torch = pytest.importorskip("torch")
    assert FLOAT32_IOU == tuple(torch.linspace(0.5, 0.95, 10).tolist())
    assert FLOAT32_RECALL == tuple(torch.linspace(0.0, 1.0, 101).tolist())
    assert FLOAT32_IOU[1] != COCO.iou_thresholds[1] and FLOAT32_IOU[0] == 0.5 and FLOAT32_IOU[5] == 0.75


def _one_box_case(det_h):
    gt = {"images": [{"id": 1, "width": 100, "height": 100}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100, "iscrowd": 0}]}  # fmt: skip
    return gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, det_h], "score": 0.9}]


@pytest.mark.parametrize("det_h, iou", [(5.0, 0.5), (5.5, 0.55)])
def test_iou_strict_hand_worked(det_h, iou):
    """IoU exactly at a threshold: a match under pycocotools' >=, a miss under >."""
    gt, dets = _one_box_case(det_h)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    t = COCO.iou_index(iou)
    loose, strict = evaluate(ds, det, COCO), evaluate(ds, det, COCO.with_(iou_strict=True))
    assert loose.table.status[t, 0] == 1 and strict.table.status[t, 0] == 0
    assert (loose.table.status[:t, 0] == 1).all() and (strict.table.status[:t, 0] == 1).all()  # lower thresholds unaffected
    assert loose.metrics["AP"] - strict.metrics["AP"] == pytest.approx(0.1, abs=1e-12)  # one of 10 thresholds


@pytest.mark.parametrize("name, use_07", [("voc07", True), ("voc12", False)])
@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), n_cat=st.integers(1, 4), tie=st.booleans())
def test_voc_conventions_equal_the_devkit(name, use_07, seed, n_img, n_cat, tie):
    """Crowd regions as 'difficult', devkit coordinates (x2 - 1): the devkit's AP per class."""
    gt, dets = coco_case(seed, n_img, n_cat, tie_scores=tie)
    ds, res = scored(gt, dets, name)
    for cat_id, cname in zip(ds.categories.ids, ds.categories.names):
        objs = {}
        for a in gt["annotations"]:
            if a["category_id"] == cat_id:
                x1, y1, x2, y2 = _xyxy(a["bbox"])
                objs.setdefault(a["image_id"], []).append((x1, y1, x2 - 1, y2 - 1, bool(a["iscrowd"])))
        mine = [(d["image_id"], d["score"], *(_xyxy(d["bbox"])[:2]), _xyxy(d["bbox"])[2] - 1, _xyxy(d["bbox"])[3] - 1)
                for d in dets if d["category_id"] == cat_id]  # fmt: skip
        npos = sum(1 for o in objs.values() for g in o if not g[4])
        ours = res.per_class[cname]["AP50"]
        if npos == 0:
            assert ours is None
        else:
            assert ours == pytest.approx(voc_devkit_ap(objs, mine, use_07), abs=1e-12)


def test_explain_report_shape_and_waterfall_adds_up():
    gt, dets = coco_case(11, 5, 4)
    ds = parse_gt(gt, "gt.json")
    rep = explain(ds, parse_results(dets, ds, "dt.json"))
    assert rep["baseline"] == "pycocotools" and set(rep["protocols"]) == set(CONV)
    base = rep["protocols"]["pycocotools"]
    for name, steps in rep["attribution"]["waterfall"].items():
        metric = rep["conventions"][name]["metric"]
        total = sum(s["delta"][metric] for s in steps)
        assert base[metric] + total == pytest.approx(rep["protocols"][name][metric], abs=1e-12)
    assert set(rep["attribution"]["single_rule"]) <= set(RULES)
    assert "waterfall from pycocotools" in format_explain(rep)
    with pytest.raises(ValueError, match="unknown convention"):
        explain(ds, parse_results(dets, ds, "dt.json"), ["nope"])


def test_cli_explain_and_eval_write_json(tmp_path, capsys):
    import json

    from bench.cli.main import main

    gt, dets = coco_case(7, 4, 3)
    g, r = tmp_path / "gt.json", tmp_path / "dt.json"
    g.write_text(json.dumps(gt))
    r.write_text(json.dumps(dets))
    assert main(["explain", "--gt", str(g), "--results", str(r), "--protocol", "ultralytics", "--out", str(tmp_path / "x.json")]) == 0
    out = json.loads((tmp_path / "x.json").read_text())
    ds = parse_gt(gt, "gt.json")
    ref = evaluate(ds, parse_results(dets, ds, "dt.json"), COCO)
    assert set(out["protocols"]) == {"pycocotools", "ultralytics"}
    assert out["protocols"]["pycocotools"]["AP"] == pytest.approx(ref.metrics["AP"], abs=1e-12)
    assert [s["rule"] for s in out["attribution"]["waterfall"]["ultralytics"]] == list(CONV["ultralytics"].rules)
    assert isinstance(out["lint"], list)
    assert "waterfall from pycocotools" in capsys.readouterr().out
    assert main(["eval", "--gt", str(g), "--results", str(r), "--out", str(tmp_path / "e.json")]) == 0
    ev = json.loads((tmp_path / "e.json").read_text())
    assert {f["code"] for f in ev["lint"]} >= {"categories_absent_from_gt"}  # coco_case: the last category is never in GT
    assert main(["explain", "--gt", str(g), "--results", str(r), "--protocol", "lvis_fixed_ap"]) == 2  # not for COCO data


def test_report_section_renders_units():
    from bench.report.explain import explain_views
    from bench.report.render import environment

    gt, dets = coco_case(11, 5, 4)
    ds = parse_gt(gt, "gt.json")
    rec = {"dataset": "d", "detector": "det", "status": "ok", "accuracy_meaningful": True,
           "explain": explain(ds, parse_results(dets, ds, "dt.json")), "lint": [{"code": "x", "message": "a <b> warning"}]}  # fmt: skip
    views = explain_views([rec, {**rec, "accuracy_meaningful": False}, {**rec, "status": "failed"}])
    assert len(views["d"]) == 1 and len(views["d"][0]["rows"]) == len(CONV)
    html = environment().get_template("_explain.html").render(explain=views, s={"name": "d"})
    assert "Why tools disagree: det" in html and "ultralytics" in html and "a &lt;b&gt; warning" in html
