"""Hostile-user reproductions for the analysis features (issue 12): each test states the
expected behaviour; they fail on the integrated main at d28a7b9.

OV-COCO drops the 15 left-out classes and the images without any of the 65 before matching, so
every analysis of an ``ov-coco`` evaluation must equal the same analysis under ``coco`` on the
same files filtered by hand (65 classes, the kept images, their detections).

The later tests (after ``test_ov_coco_without_any_scored_class...``) cover the rest of the same
report: the bootstrap's index check, ``bench check``'s statistical options, bounded resampling,
undefined TIDE, ``--top-classes``, image-set mismatches in the gate and ``--compare``, the gate's
re-scoring checks, and the linter on VOC devkit results."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.jsonio import load_json
from bench.ov_splits import OV_COCO_BASE, OV_COCO_NOVEL

GT = Path(__file__).resolve().parents[1] / "bench/data/embedded/coco_val2017_mini/instances_val2017_mini.json"


def _files(tmp_path):
    """(full gt, 65-class gt, detections of the 65 on the kept images) on the embedded subset."""
    rnd = random.Random(0)
    gt = json.loads(GT.read_text())
    keep = {c["id"] for c in gt["categories"] if c["name"] in set(OV_COCO_BASE) | set(OV_COCO_NOVEL)}
    anns = [a for a in gt["annotations"] if a["category_id"] in keep]
    imgs = {a["image_id"] for a in anns}
    dets = []
    for a in anns:
        if a.get("iscrowd"):
            continue
        x, y, w, h = a["bbox"]
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": rnd.random(),
                     "bbox": [x + rnd.uniform(-3, 3), y + rnd.uniform(-3, 3), w * rnd.uniform(0.9, 1.1), h]})  # fmt: skip
        dets.append({"image_id": a["image_id"], "category_id": rnd.choice(sorted(keep)), "score": rnd.random() / 2,
                     "bbox": [x + 10, y + 10, w, h]})  # fmt: skip
    small = dict(gt, annotations=anns, categories=[c for c in gt["categories"] if c["id"] in keep],
                 images=[i for i in gt["images"] if i["id"] in imgs])  # fmt: skip
    (tmp_path / "gt65.json").write_text(json.dumps(small))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    return str(GT), str(tmp_path / "gt65.json"), str(tmp_path / "dt.json")


def _eval(gt, dt, out, *argv):
    assert main(["eval", "--gt", gt, "--results", dt, "--out", str(out), *argv]) == 0
    return load_json(out)


def test_ov_coco_bootstrap_equals_the_prefiltered_coco_bootstrap(tmp_path):
    # bug: result.counts["images"] is 115 (kept images) but MatchTable.image_idx still indexes
    # the 120 images of the file, so the resample multiplicities hit the wrong images (numba,
    # no bounds check): on the noisy file of the report, AP50 interval [69.1, 88.1] instead of [68.5, 76.9].
    full, small, dt = _files(tmp_path)
    a = _eval(full, dt, tmp_path / "a.json", "--protocol", "ov-coco", "--bootstrap", "100")
    b = _eval(small, dt, tmp_path / "b.json", "--protocol", "coco", "--bootstrap", "100")
    assert a["metrics"]["AP50"] == pytest.approx(b["metrics"]["AP50"])
    assert a["ci"]["AP50"] == pytest.approx(b["ci"]["AP50"])


def test_ov_coco_tide_equals_the_prefiltered_coco_tide(tmp_path):
    # bug: tide() takes every ground truth of the dataset (the 15 left-out classes included):
    # AP50 55.6 / Cls 10.4 instead of tidecv's 66.7 / 5.0 on the filtered files.
    full, small, dt = _files(tmp_path)
    a = _eval(full, dt, tmp_path / "a.json", "--protocol", "ov-coco", "--tide")
    b = _eval(small, dt, tmp_path / "b.json", "--protocol", "coco", "--tide")
    assert a["tide"]["ap50"] == pytest.approx(b["tide"]["ap50"])
    assert a["tide"]["main"] == pytest.approx(b["tide"]["main"])


def test_ov_coco_confusion_holds_only_the_scored_classes(tmp_path):
    # bug: 81 labels; the left-out classes' ground truth appears as missed (dining table -> background 15)
    full, _, dt = _files(tmp_path)
    a = _eval(full, dt, tmp_path / "a.json", "--protocol", "ov-coco", "--confusion")
    assert len(a["confusion"]["labels"]) == 65 + 1


def test_negative_seed_is_a_one_line_error(tmp_path, capsys):
    # bug: `--seed -1` ends in numpy's ValueError traceback ("expected non-negative integer")
    _, small, dt = _files(tmp_path)
    try:
        code = main(["eval", "--gt", small, "--results", dt, "--bootstrap", "5", "--seed", "-1"])
    except SystemExit as e:
        code = e.code
    assert code == 2 and "--seed" in capsys.readouterr().err


def test_segm_results_without_bbox_are_scored_and_written(tmp_path):
    # bug: pycocotools scores segm results without `bbox` (it derives the box from the mask);
    # detbench prints the mask metrics (equal to pycocotools') and then stops with
    # "detections[0].bbox: missing field" (exit 2), writing no --out file.
    from pycocotools import mask as mask_utils

    gt = json.loads(GT.read_text())
    ims = {i["id"]: i for i in gt["images"]}
    dets = []
    for a in gt["annotations"][:40]:
        im, seg = ims[a["image_id"]], a["segmentation"]
        if not isinstance(seg, list):
            continue
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, im["height"], im["width"]))
        dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": 0.9,
                     "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})  # fmt: skip
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = tmp_path / "out.json"
    assert main(["eval", "--gt", str(GT), "--results", str(tmp_path / "dt.json"), "--iou-type", "segm", "--out", str(out)]) == 0
    assert load_json(out)["metrics"]["AP"] is not None


def test_ov_coco_without_any_scored_class_and_bootstrap_is_a_one_line_error(tmp_path, capsys):
    # bug: ValueError("the bootstrap needs at least one image") traceback from resample_counts
    gt = json.loads(GT.read_text())
    keep = {c["id"] for c in gt["categories"] if c["name"] in set(OV_COCO_BASE) | set(OV_COCO_NOVEL)}
    gt["annotations"] = [a for a in gt["annotations"] if a["category_id"] not in keep]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text("[]")
    code = main(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--protocol", "ov-coco", "--bootstrap", "5"])
    assert code in (0, 2) and "Traceback" not in capsys.readouterr().err


def test_bootstrap_refuses_a_table_indexing_more_images_than_it_resamples(tmp_path):
    # the root of the ov-coco interval bug: the kernel reads counts[r, image_idx] unchecked;
    # a table whose image indices exceed the resampled image count is an error, never a wrong read
    from bench.analysis.bootstrap import bootstrap
    from bench.analysis.scope import scored_inputs
    from bench.cli.explain import load_pair
    from bench.metrics.core import evaluate
    from bench.protocols import get_protocol

    full, _, dt = _files(tmp_path)
    ds, det = load_pair(full, dt)
    result = evaluate(ds, det, get_protocol("ov-coco"))
    assert result.table.image_idx.max() >= result.counts["images"]  # the full file's indices, the kept count
    with pytest.raises(ValueError, match="image index"):
        bootstrap(result, 5)
    scoped, sub_ds, _ = scored_inputs(result, ds, det)
    assert scoped.counts["images"] == len(sub_ds.images) == result.counts["images"]
    assert scoped.metrics["AP"] == pytest.approx(result.metrics["AP"])
    assert bootstrap(scoped, 5).ci["AP"] is not None


def _exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


@pytest.mark.parametrize("bad, names", [
    (["--min-effect", "nan"], ["--min-effect"]), (["--min-effect", "inf"], ["--min-effect"]),
    (["--significance", "nan"], ["--significance"]),
    (["--resamples", "3"], ["--resamples", "--significance"]), (["--resamples", "10"], ["--resamples", "--significance"]),
    (["--resamples", "39"], ["--resamples", "--significance"]), (["--resamples", "100001"], ["--resamples"]),
    (["--seed", "-1"], ["--seed"]),
])  # fmt: skip
def test_check_refuses_statistical_options_that_disable_or_cannot_reach_the_gate(tmp_path, capsys, bad, names):
    # bug: --min-effect nan passed (NaN disables the drop test); --resamples 3 at 0.05 could never
    # be significant (smallest p-value 2/(n+1)) and printed "not significant" next to an interval excluding 0
    argv = ["check", "--baseline", str(tmp_path / "b.json"), "--run", str(tmp_path), "--significance", "0.05", *bad]
    assert _exit_code(argv) == 2
    err = capsys.readouterr().err
    assert all(n in err for n in names)


def test_forty_resamples_are_enough_at_005():
    from bench.analysis.paired import min_resamples

    assert min_resamples(0.05) == 40 and min_resamples(0.01) == 200 and min_resamples(0.5) == 4
    assert 2 / (min_resamples(0.05) + 1) < 0.05 <= 2 / min_resamples(0.05)


def test_paired_interval_excludes_zero_exactly_when_p_is_below_the_level():
    # the row's interval and p-value must never disagree (hand-checkable order statistics)
    import numpy as np

    from bench.analysis.paired import p_value, paired_interval

    rng = np.random.default_rng(1)
    for case in range(3000):
        n = int(rng.integers(1, 120))
        d = np.round(rng.normal(rng.normal(0, 0.02), 0.02, n), int(rng.integers(2, 4)))  # rounding: ties, exact zeros
        est = float(np.round(rng.normal(d.mean() / 2, 0.01), 3))
        for alpha in (0.05, 0.1, 0.2, 0.5):
            lo, hi = paired_interval(d, est, 1.0 - alpha)
            assert (lo > 0 or hi < 0) == (p_value(d, est) < alpha), (case, n, alpha)
            assert lo <= hi


def test_resamples_are_drawn_in_bounded_blocks():
    import numpy as np

    from bench.analysis.bootstrap import resample_blocks

    blocks = list(resample_blocks(50, 1001, seed=3, block_cells=50 * 64))
    assert [len(b) for b in blocks] == [64] * 15 + [41]
    allc = np.concatenate(blocks)
    assert allc.shape == (1001, 50) and (allc.sum(axis=1) == 50).all()
    assert (np.concatenate(list(resample_blocks(50, 1001, seed=3, block_cells=50 * 64))) == allc).all()  # seeded
    with pytest.raises(ValueError, match="seed"):
        next(resample_blocks(5, 5, seed=-1))


@pytest.mark.parametrize("bad", [["--bootstrap", "100001"], ["--bootstrap", "1000000"]])
def test_eval_refuses_more_resamples_than_the_maximum(tmp_path, capsys, bad):
    _, small, dt = _files(tmp_path)
    assert _exit_code(["eval", "--gt", small, "--results", dt, *bad]) == 2
    assert "--bootstrap" in capsys.readouterr().err


def test_tide_is_undefined_without_ground_truth(tmp_path, capsys):
    # TIDE's AP50 was "0.00" on a file with nothing to find: undefined (None), as AP is
    gt = json.loads(GT.read_text())
    gt["annotations"] = []
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    im = gt["images"][0]["id"]
    (tmp_path / "dt.json").write_text(json.dumps([{"image_id": im, "category_id": gt["categories"][0]["id"], "score": 0.9,
                                                   "bbox": [1, 1, 20, 20]}]))  # fmt: skip
    out = tmp_path / "o.json"
    assert main(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--tide", "--out", str(out)]) == 0
    t = load_json(out)["tide"]
    assert t["ap50"] is None and all(v is None for v in t["main"].values()) and t["counts"]["Bkg"] == 1
    assert "TIDE: undefined" in capsys.readouterr().out


@pytest.mark.parametrize("n", ["-3", "0"])
def test_explain_refuses_top_classes_below_one(tmp_path, capsys, n):
    _, small, dt = _files(tmp_path)
    assert _exit_code(["explain", "--gt", small, "--results", dt, "--top-classes", n]) == 2
    assert "--top-classes" in capsys.readouterr().err


def _gate_run(path: Path, images: int, total: int = 120) -> Path:
    """A one-unit run folder (tests/test_hostile_gate.py's layout) that scored ``images`` of ``total``."""
    from tests.test_hostile_gate import make_run

    run = make_run(path, [{}])
    unit = next(p for p in run.iterdir() if p.is_dir())
    rec = json.loads((unit / "record.json").read_text())
    rec["subset"] = None if images == total else f"{images} of {total} images"
    (unit / "record.json").write_text(json.dumps(rec))
    (unit / "metrics.json").write_text(json.dumps({"metrics": {"AP": 0.5, "AP50": 0.7}, "counts": {"images": images}}))
    return run


def test_gate_fails_a_unit_scored_on_another_image_set(tmp_path, capsys):
    # bug: --max-images 10 against a 120-image baseline compared AP silently (and could pass)
    from bench.gate.check import compare, write_baseline

    base = write_baseline(_gate_run(tmp_path / "a", 120), tmp_path / "base.json")
    assert base["units"]["d/m"]["images"] == 120 and base["units"]["d/m"]["subset"] is None
    rows = compare(tmp_path / "base.json", _gate_run(tmp_path / "b", 10))
    bad = [r for r in rows if not r.ok]
    assert len(bad) == 1 and bad[0].metric == "images" and "image sets differ" in bad[0].delta and "10" in bad[0].delta
    assert main(["check", "--baseline", str(tmp_path / "base.json"), "--run", str(tmp_path / "b")]) == 1
    assert all(r.ok for r in compare(tmp_path / "base.json", _gate_run(tmp_path / "c", 120)))
    # an older baseline without the fields is compared as before
    old = load_json(tmp_path / "base.json")
    for u in old["units"].values():
        u.pop("images"), u.pop("subset")
    assert all(r.ok for r in compare(old, _gate_run(tmp_path / "d", 120)))


def test_report_compare_says_the_image_sets_differ(tmp_path, capsys):
    from bench.report.render import render_compare

    html = render_compare(_gate_run(tmp_path / "a", 120), _gate_run(tmp_path / "b", 10), tmp_path / "cmp").read_text()
    assert "WARNING: d/m: image sets differ" in capsys.readouterr().out
    assert "WARNING: d/m: image sets differ" in html


def test_statistical_gate_refuses_predictions_that_do_not_match_the_run_metrics(tmp_path, monkeypatch, capsys):
    # bug: the gate re-scored the run's predictions.json.gz without checking it is what the run scored
    import shutil

    from tests.test_ci_gate import deterministic_run

    monkeypatch.setenv("DETBENCH_CACHE", str(tmp_path / "cache"))
    base_run = deterministic_run(tmp_path / "a", tmp_path / "cache")
    baseline = tmp_path / "base.json"
    assert main(["baseline", "--run", str(base_run), "--out", str(baseline), "--keep-predictions"]) == 0
    same = deterministic_run(tmp_path / "b", tmp_path / "cache")
    worse = deterministic_run(tmp_path / "c", tmp_path / "cache", noise=0.052)
    unit = next(p for p in same.iterdir() if p.is_dir())
    shutil.copyfile(next(p for p in worse.iterdir() if p.is_dir()) / "predictions.json.gz", unit / "predictions.json.gz")
    capsys.readouterr()
    assert main(["check", "--baseline", str(baseline), "--run", str(same), "--significance", "0.05", "--speed-tol", "100"]) == 2
    err = capsys.readouterr().err
    assert "predictions.json.gz" in err and "metrics.json" in err and "re-scored AP" in err


def test_voc_devkit_results_outside_the_image_get_no_xywh_hint(tmp_path, capsys):
    # devkit files already hold x1 y1 x2 y2: "XYWH/XYXY confusion" was the wrong advice
    import numpy as np

    from bench.data.synthetic import SyntheticSpec, write
    from bench.data.voc import load_voc

    root = write(SyntheticSpec(layout="voc", num_images=6), tmp_path, images=False)
    ds = load_voc(root)
    b = ds.boxes
    res = tmp_path / "res"
    res.mkdir()
    for k, name in enumerate(ds.categories.names):
        lines = []
        for j in np.flatnonzero(b.category_idx == k):
            x1, y1, x2, y2 = b.xyxy[j] * 3  # every box in a frame three times too large
            lines.append(f"{ds.images.keys[b.image_idx[j]]} 0.9 {x1 + 1:g} {y1 + 1:g} {x2:g} {y2:g}\n")
        (res / f"comp4_det_test_{name}.txt").write_text("".join(lines))
    out = tmp_path / "o.json"
    assert main(["eval", "--gt", str(root), "--results", str(res), "--out", str(out)]) == 0
    f = {x["code"]: x for x in load_json(out)["lint"]}["boxes_outside_image"]
    assert "XYWH" not in f["message"] and f["ap_if_bbox_were_xyxy"] is None


def test_gate_rescoring_of_an_ov_coco_unit_uses_the_images_bench_run_scored(tmp_path):
    # bench run restricts OV-COCO's dataset to its 65 classes' images before --max-images; the gate's
    # re-scoring took the first N images of the full file instead (other images, table indices off)
    from bench.data.inputs import load_ground_truth
    from bench.data.model import subset
    from bench.data.results import load_results
    from bench.gate.statistical import _score
    from bench.metrics.core import evaluate
    from bench.protocols import get_protocol

    _, small, dt = _files(tmp_path)
    first = {im["id"] for im in json.loads(Path(small).read_text())["images"][:50]}  # what the unit predicted on
    Path(dt).write_text(json.dumps([d for d in json.loads(Path(dt).read_text()) if d["image_id"] in first]))
    got = _score(Path(dt), "coco-val2017-mini", 50, "ov-coco")
    sub = subset(load_ground_truth(small), range(50))
    want = evaluate(sub, load_results(dt, sub), get_protocol("coco"))
    assert got.counts["images"] == 50 and got.table.image_idx.max() < 50
    assert got.metrics["AP"] == pytest.approx(want.metrics["AP"], abs=1e-12) and got.metrics["AP50"] == pytest.approx(want.metrics["AP50"], abs=1e-12)


def test_scoped_inputs_of_an_already_restricted_dataset_are_not_rescored(tmp_path):
    # bench run restricts the dataset first: no second evaluation per unit
    from bench.analysis.scope import scored_inputs
    from bench.data.inputs import load_ground_truth
    from bench.data.results import load_results
    from bench.metrics.core import evaluate
    from bench.metrics.groups import subset_categories
    from bench.protocols import get_protocol

    full, _, dt = _files(tmp_path)
    p = get_protocol("ov-coco")
    ds = subset_categories(load_ground_truth(full), p.category_groups)
    det = load_results(dt, ds)
    result = evaluate(ds, det, p)
    scoped, sds, sdet = scored_inputs(result, ds, det)
    assert sds is ds and sdet is det and scoped.table is result.table and scoped.protocol.category_groups is None
