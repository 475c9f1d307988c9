"""An export fed the wrong preprocessing is flagged, not quietly scored, and ``bench doctor`` names
the preprocessing that works (issue 23). Real weights, real images: the embedded yolox_nano and
nanodet_m exports, and yolox_nano rewritten to YOLOX's pre-0.1.1 input convention (RGB, / 255,
ImageNet mean/std; tests/old_exports.py)."""

import pytest
from old_exports import embedded, prepend_old_normalisation

from bench.data.catalog import load_dataset
from bench.jsonio import dump_json
from bench.protocols import COCO
from bench.run.doctor import diagnose, run_doctor
from bench.run.sanity import implausible_findings
from bench.run.unit import UnitSettings, run_unit

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def old_yolox(tmp_path_factory):
    return prepend_old_normalisation(embedded("yolox_nano"), tmp_path_factory.mktemp("old") / "yolox_nano_rgb_imagenet.onnx")


@pytest.fixture(scope="module")
def mini():
    ds, root, _ = load_dataset("coco-val2017-mini")
    return ds, root


def _unit(run, ds, root, weights, args=(), images=30):
    s = UnitSettings(dataset="coco-val2017-mini", detector="onnx", weights=str(weights), detector_args=tuple(args), max_images=images)
    logged = []
    rec = run_unit(s, ds, root, COCO, run, {}, speed=False, log=logged.append)
    return rec, logged


def test_old_convention_export_is_flagged_everywhere(tmp_path, old_yolox, mini):
    """Failed before the fix: AP 0.0 with exit 0, no flag (the boxes are varied, so the
    degenerate checks stay silent)."""
    from bench.gate.check import compare, make_baseline
    from bench.report.tables import leaderboard

    ds, root = mini
    run = tmp_path / "run"
    run.mkdir()
    dump_json(run / "run.json", {"run_id": "r", "reference_ms": 1.0})
    rec, logged = _unit(run, ds, root, old_yolox)
    assert rec["status"] == "ok" and rec["metrics_summary"]["AP"] < 0.01
    assert any(f.startswith("implausible: no true positive at IoU 0.5 over 30 images holding") for f in rec["degenerate"])
    assert any("colour order (given BGR)" in f and "bench doctor" in f for f in rec["degenerate"])
    assert any("WARNING: implausible" in line for line in logged)  # console
    row = leaderboard([rec]).iloc[0]
    assert bool(row["degenerate"]) and "implausible" in row["note"]
    base = make_baseline(run)
    rows = compare({**base, "units": {k: {**u, "degenerate": []} for k, u in base["units"].items()}}, run)
    assert any(r.metric == "plausible" and not r.ok and "implausible" in r.delta for r in rows)  # gate


def test_old_convention_export_with_its_own_preprocessing_is_plausible(tmp_path, old_yolox, mini):
    ds, root = mini
    args = (("colour", "rgb"), ("scale", 1 / 255), ("mean", [0.485, 0.456, 0.406]), ("std", [0.229, 0.224, 0.225]))
    rec, _ = _unit(tmp_path / "run", ds, root, old_yolox, args)
    assert rec["metrics_summary"]["AP"] > 0.15 and not [f for f in rec["degenerate"] if f.startswith("implausible")]


@pytest.mark.parametrize("name", ["yolox_nano", "nanodet_m"])
def test_embedded_exports_pass_and_doctor_agrees(name):
    found, text = run_doctor(name, images=6)
    given = next(v for v in found if v.current)
    assert given.plausible and "the given preprocessing is among the plausible ones" in text
    assert any(not v.plausible for v in found)  # the doctor can tell a wrong normalisation


def test_doctor_names_the_working_preprocessing_of_the_old_export(old_yolox):
    found, text = run_doctor("onnx", images=6, weights=str(old_yolox))
    assert not next(v for v in found if v.current).plausible
    assert found[0].plausible and found[0].args["mean"] == [0.485, 0.456, 0.406] and found[0].args["colour"] == "rgb"
    assert "the given preprocessing is not plausible; best: RGB imagenet" in text and "--detector-arg 'colour=rgb'" in text


def test_published_fraction_and_synthetic_data(mini):
    """AP under a quarter of the published figure is implausible on enough images; synthetic
    datasets and small image counts are not judged by it."""
    from bench.metrics.core import evaluate
    from bench.run.inference import subset

    ds, _ = mini
    sub = subset(ds, list(range(60)))
    from bench.data.model import DetectionTable

    b = sub.boxes
    keep = b.category_idx == b.category_idx[0]  # one class found perfectly: AP well under 25 % of 40
    perfect = DetectionTable(b.image_idx[keep], b.category_idx[keep], b.xyxy[keep], b.box_area[keep], b.image_idx[keep] * 0 + 0.9)
    result = evaluate(sub, perfect, COCO)
    describe = {"published": {"box_map": 40.0, "source": "test"}, "layout": "yolox"}
    found = implausible_findings(result, describe, "coco-val2017-mini", 60)
    assert any("under 25% of the published 40.0" in f for f in found) and not any("no true positive" in f for f in found)
    assert implausible_findings(result, describe, "synthetic-coco", 60) == []
    assert not any("published" in f for f in implausible_findings(result, describe, "coco-val2017-mini", 20))


def test_export_without_its_score_sigmoid_is_refused(tmp_path):
    """Failed before the fix: an export whose graph leaves the sigmoid out (bubbliiiing's
    yolox-pytorch export does; here yolox_nano's outputs turned back into logits) was read as
    the yolox layout and its logit products scored as if they were probabilities."""
    from old_exports import strip_output_sigmoid

    from detectors.labels import COCO80
    from detectors.registry import build

    path = strip_output_sigmoid(embedded("yolox_nano"), tmp_path / "logits.onnx")
    with pytest.raises(ValueError, match=r"objectness/class columns range over \[-.*not \[0, 1\].*leaves out the sigmoid"):
        build("onnx", list(COCO80), weights=str(path))
    assert build("onnx", list(COCO80), weights=str(embedded("yolox_nano"))).layout == "yolox"


def test_no_true_positive_counts_only_classes_the_detector_predicts(mini):
    """A detector that cannot predict any class of the dataset (a label map with no overlap)
    scores 0 for that reason, which the record already says: not flagged as implausible."""
    from bench.data.model import DetectionTable
    from bench.metrics.core import evaluate
    from bench.run.inference import subset

    ds, _ = mini
    sub = subset(ds, list(range(10)))
    empty = DetectionTable.concat([])
    result = evaluate(sub, empty, COCO)
    names = list(sub.categories.names)
    assert any("no true positive" in f for f in implausible_findings(result, {}, "coco-val2017-mini", 10))
    blind = {"label_map": {"unpredictable_dataset_classes": names}}
    assert implausible_findings(result, blind, "coco-val2017-mini", 10) == []
