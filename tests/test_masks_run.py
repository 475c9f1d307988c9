"""``bench run`` / ``bench all`` with instance masks, offline, on the embedded real COCO subset
(which keeps its official segmentations).

Mask R-CNN with seeded random weights runs end to end: its masks are stored as compressed RLE in
``predictions.json.gz``, box and mask metrics are stored apart (``metrics.json`` /
``metrics_segm.json``, each stating its ``iou_type``), and both equal pycocotools' ``COCOeval``
(``iouType='bbox'`` / ``'segm'``) run on the stored predictions file against the official
annotations of the same images: the oracle re-reads what was written, so the file, the records
and the metric core are checked together. ``--iou-type segm`` without masks on either side is
refused (exit 2) before any run folder exists.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pycocotools = pytest.importorskip("pycocotools")

from bench.cli.main import main  # noqa: E402
from bench.jsonio import load_json  # noqa: E402
from bench.run.iou_types import iou_types_to_score  # noqa: E402

DATASET = "coco-val2017-mini"
GT = Path(__file__).resolve().parents[1] / "bench" / "data" / "embedded" / "coco_val2017_mini" / "instances_val2017_mini.json"
TINY = ["--weights", "random", "--detector-arg", "tiny=true"]
COCO_STATS = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def run(tmp_path: Path, *argv: str) -> tuple[int, Path]:
    out = tmp_path / "runs"
    status = main(["run", "--dataset", DATASET, "--out", str(out), *argv])
    return status, out


def only_unit(out: Path) -> Path:
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (unit,) = [p for p in run_dir.iterdir() if p.is_dir()]
    return unit


def pycocotools_stats(predictions: list[dict], image_ids: list[int], iou_type: str) -> dict:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(GT))
        dt = gt.loadRes([dict(p) for p in predictions])
        ev = COCOeval(gt, dt, iou_type)
        ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: (None if v < 0 else float(v)) for k, v in zip(COCO_STATS, ev.stats)}


def test_maskrcnn_random_weights_segm_end_to_end_equals_pycocotools(tmp_path):
    status, out = run(tmp_path, "--detector", "maskrcnn_resnet50_fpn", *TINY, "--max-images", "3", "--iou-type", "segm")
    assert status == 0
    unit = only_unit(out)
    record = load_json(unit / "record.json")
    assert record["status"] == "ok" and record["iou_types"] == ["bbox", "segm"]
    assert record["settings"]["iou_type"] == "segm"
    box, mask = load_json(unit / "metrics.json"), load_json(unit / "metrics_segm.json")
    assert box["iou_type"] == "bbox" and mask["iou_type"] == "segm"
    assert record["metrics_summary"]["AP"] == box["metrics"]["AP"] and record["metrics_segm_summary"]["AP"] == mask["metrics"]["AP"]
    predictions = load_json(unit / "predictions.json.gz")
    assert predictions and all(isinstance(p["segmentation"]["counts"], str) for p in predictions)
    images = {im["id"]: im for im in json.loads(GT.read_text())["images"]}
    for p in predictions:  # masks in the original image's pixels
        assert p["segmentation"]["size"] == [images[p["image_id"]]["height"], images[p["image_id"]]["width"]]
    from bench.data.catalog import load_dataset

    ds = load_dataset(DATASET)[0]
    image_ids = [int(k) for k in ds.images.keys[:3]]
    assert {p["image_id"] for p in predictions} <= set(image_ids)
    for iou_type, stored in (("bbox", box), ("segm", mask)):
        ref = pycocotools_stats(predictions, image_ids, iou_type)
        for k in COCO_STATS:
            a, b = stored["metrics"][k], ref[k]
            assert (a is None and b is None) or abs(a - b) < 1e-9, (iou_type, k, a, b)


def test_noisy_masks_unit_equals_pycocotools(tmp_path):
    """A unit with masks that score far from 0 and 1 (the ground truth's masks, perturbed):
    the stored box and mask metrics equal pycocotools on the stored predictions, and differ."""
    from bench.data.catalog import load_dataset
    from bench.protocols import COCO
    from bench.run.unit import UnitSettings, run_unit
    from tests.noisy_masks import NoisyMasks

    ds, root, _ = load_dataset(DATASET)
    n = 8

    def build(**kw):
        return NoisyMasks(list(ds.categories.names), ds, root, noise=0.1, **{k: v for k, v in kw.items() if k != "weights"})

    rec = run_unit(UnitSettings(dataset=DATASET, detector="noisy-masks", max_images=n, speed_seconds=0.05), ds, root, COCO,
                   tmp_path / "run", {}, build=build, log=lambda m: None)  # fmt: skip
    assert rec["status"] == "ok" and rec["iou_types"] == ["bbox", "segm"]  # both by default: masks on both sides
    (unit,) = [p for p in (tmp_path / "run").iterdir() if p.is_dir()]
    predictions = load_json(unit / "predictions.json.gz")
    image_ids = [int(k) for k in ds.images.keys[:n]]
    for iou_type, file in (("bbox", "metrics.json"), ("segm", "metrics_segm.json")):
        stored, ref = load_json(unit / file)["metrics"], pycocotools_stats(predictions, image_ids, iou_type)
        for k in COCO_STATS:
            assert (stored[k] is None and ref[k] is None) or abs(stored[k] - ref[k]) < 1e-9, (iou_type, k, stored[k], ref[k])
        assert 0.2 < stored["AP"] < 0.95
    assert rec["metrics_segm_summary"]["AP"] != rec["metrics_summary"]["AP"]


def test_iou_type_bbox_scores_boxes_only(tmp_path):
    status, out = run(tmp_path, "--detector", "maskrcnn_resnet50_fpn_v2", *TINY, "--max-images", "2", "--iou-type", "bbox")
    assert status == 0
    unit = only_unit(out)
    record = load_json(unit / "record.json")
    assert record["iou_types"] == ["bbox"] and "metrics_segm_summary" not in record
    assert not (unit / "metrics_segm.json").exists()
    assert all("segmentation" in p for p in load_json(unit / "predictions.json.gz"))  # the masks are still recorded


@pytest.mark.parametrize("argv, message", [
    (["--detector", "fasterrcnn_resnet50_fpn", *TINY], "fasterrcnn_resnet50_fpn predict(s) no instance masks"),
    (["--detector", "yolox_nano"], "yolox_nano predict(s) no instance masks"),
])  # fmt: skip
def test_segm_without_detector_masks_is_refused_before_anything_runs(tmp_path, capsys, argv, message):
    status, out = run(tmp_path, *argv, "--iou-type", "segm")
    assert status == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_segm_without_dataset_masks_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "runs"
    status = main(["run", "--dataset", "synthetic-voc", "--detector", "maskrcnn_resnet50_fpn", *TINY, "--out", str(out), "--iou-type", "segm"])
    assert status == 2 and "synthetic-voc have no instance segmentations" in capsys.readouterr().err
    assert not out.exists()
    status = main(["all", "--datasets", "synthetic-voc", "--detectors", "maskrcnn_resnet50_fpn", "--out", str(out), "--iou-type", "segm"])
    assert status == 2 and not out.exists()
    status = main(["all", "--datasets", DATASET, "--detectors", "fcos_resnet50_fpn", "--out", str(out), "--iou-type", "segm"])
    assert status == 2 and "fcos_resnet50_fpn predict(s) no instance masks" in capsys.readouterr().err and not out.exists()


def _noisy_masks_run(run: Path, own_masks: float) -> Path:
    from bench.data.catalog import load_dataset
    from bench.jsonio import dump_json
    from bench.protocols import COCO
    from bench.run.unit import UnitSettings, run_unit
    from tests.noisy_masks import NoisyMasks

    ds, root, _ = load_dataset(DATASET)
    run.mkdir(parents=True)
    dump_json(run / "run.json", {"run_id": run.name, "reference_ms": 1.0})

    def build(**kw):
        return NoisyMasks(list(ds.categories.names), ds, root, noise=0.1, own_masks=own_masks, **{k: v for k, v in kw.items() if k != "weights"})

    run_unit(UnitSettings(dataset=DATASET, detector="noisy-masks", max_images=6, speed_seconds=0.05), ds, root, COCO, run, {},
             build=build, log=lambda m: None)  # fmt: skip
    return run


def test_the_gate_checks_mask_ap(tmp_path, capsys):
    """A baseline of a unit with masks gates its mask AP: worse masks with the same boxes fail
    the check on mask_AP rows only."""
    from bench.gate.check import compare, make_baseline

    good = _noisy_masks_run(tmp_path / "good", own_masks=0.8)
    base = make_baseline(good)
    (unit,) = base["units"].values()
    assert {"AP", "mask_AP", "mask_AP50", "mask_AP75"} <= set(unit["metrics"])
    assert all(r.ok for r in compare(base, good, speed_tol=1e9))
    worse = _noisy_masks_run(tmp_path / "worse", own_masks=0.0)  # every mask the filled box: mask AP drops, box AP does not
    bad = [r for r in compare(base, worse, speed_tol=1e9) if not r.ok]
    assert bad and all(r.metric.startswith("mask_") for r in bad)


class _Dets:
    def __init__(self, n: int, masks):
        self.masks = masks
        self._n = n

    def __len__(self):
        return self._n


def test_iou_types_scored_by_default():
    from bench.data.catalog import load_dataset

    with_masks = load_dataset(DATASET)[0]
    without = load_dataset("synthetic-voc")[0]
    rle = [{"size": [1, 1], "counts": "01"}]
    assert iou_types_to_score(None, with_masks, [_Dets(1, rle), _Dets(0, None)]) == ["bbox", "segm"]
    assert iou_types_to_score(None, with_masks, [_Dets(1, None)]) == ["bbox"]
    assert iou_types_to_score(None, without, [_Dets(1, rle)]) == ["bbox"]
    assert iou_types_to_score("bbox", with_masks, [_Dets(1, rle)]) == ["bbox"]
    with pytest.raises(ValueError, match="no instance segmentations"):
        iou_types_to_score("segm", without, [_Dets(1, rle)])
    with pytest.raises(ValueError, match="predicted no masks"):
        iou_types_to_score("segm", with_masks, [_Dets(1, None)])
    with pytest.raises(ValueError, match="every image or none"):
        iou_types_to_score(None, with_masks, [_Dets(1, rle), _Dets(2, None)])
