"""Referring expressions: top-1 accuracy at IoU >= 0.5, hand-worked, with a scripted detector,
and Grounding DINO / OWLv2 (tiny, random weights) through ``bench refexp``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.errors import InputError
from bench.run.refexp import Expression, iou, load_expressions, run_refexp, top1_hits
from detectors.base import Detections


def test_iou_boundary_hand_worked():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    gts = np.array([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 20.0], [0.0, 0.0, 10.0, 20.001]])
    np.testing.assert_allclose(iou(box, gts), [50 / 150, 0.5, 100 / 200.01])
    e = lambda b: Expression(1, "x", "t", np.array([b]))  # noqa: E731
    hits = top1_hits([box, box, box, None], [e(gts[0]), e(gts[1]), e(gts[2]), e(gts[1])])
    assert hits.tolist() == [False, True, False, False]  # 1/3 no; exactly 0.5 yes; just under no; no box no
    # several referred boxes: any one matching is enough
    assert top1_hits([box], [Expression(1, "x", "t", np.array([gts[0], [0, 0, 10, 10]]))]).tolist() == [True]


def _refs(tmp_path, records):
    images = [{"id": i + 1, "file_name": f, "caption": c} for i, (f, c, _) in enumerate(records)]
    anns = [{"id": i + 1, "image_id": i + 1, "bbox": b, "category_id": 1} for i, (_, _, b) in enumerate(records)]
    p = tmp_path / "refs.json"
    p.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "object"}]}))
    return p


def test_bad_files_name_record_and_field(tmp_path):
    with pytest.raises(InputError, match=r"refs.json: images\[0\].caption: the referring expression"):
        load_expressions(_refs(tmp_path, [("a.png", "", [0, 0, 1, 1])]))
    with pytest.raises(InputError, match=r"refs.json: annotations\[0\].bbox: width and height"):
        load_expressions(_refs(tmp_path, [("a.png", "the cat", [0, 0, -1, 1])]))


class Scripted:
    """Answers each expression with a scripted box (XYXY), or nothing."""

    def __init__(self, script):
        self.script, self.text = script, None

    def set_vocabulary(self, classes):
        (self.text,) = classes

    def predict(self, images):
        b = self.script[self.text]
        if b is None:
            return [Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))]
        boxes = np.array([[0, 0, 1, 1], b], np.float32)[::-1].copy()  # best first, then a worse one
        return [Detections(boxes, np.array([0.9, 0.1], np.float32), np.zeros(2, np.int64))]


def test_top1_accuracy_with_a_scripted_detector(tmp_path):
    from bench.data.png import write_png

    write_png(tmp_path / "a.png", np.zeros((20, 20, 3), np.uint8))
    p = _refs(tmp_path, [("a.png", "left dog", [0, 0, 10, 10]), ("a.png", "right dog", [10, 0, 10, 10]), ("a.png", "man", [0, 0, 20, 20])])
    script = {"left dog": [0, 0, 10, 10], "right dog": [0, 0, 10, 10], "man": None}  # right, wrong (IoU 0), no box
    out = run_refexp(Scripted(script), load_expressions(p), tmp_path)
    assert out["top1_accuracy"] == pytest.approx(1 / 3) and out["correct"] == 1 and out["expressions"] == 3
    assert [a["hit"] for a in out["answers"]] == [True, False, False] and out["answers"][2]["box"] is None


@pytest.mark.parametrize("detector", ["grounding_dino_tiny", "owlv2_base_patch16_ensemble"])
def test_bench_refexp_runs_grounding_models(tmp_path, capsys, detector):
    pytest.importorskip("transformers")
    from bench.cli.main import main
    from bench.data.png import write_png

    rng = np.random.default_rng(0)
    write_png(tmp_path / "a.png", rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    p = _refs(tmp_path, [("a.png", "the red car", [4, 4, 20, 20]), ("a.png", "a dog on the left", [30, 10, 20, 30])])
    code = main(["refexp", "--detector", detector, "--weights", "random", "--detector-arg", "tiny=true", "--gt", str(p),
                 "--images", str(tmp_path), "--out", str(tmp_path / "out.json")])  # fmt: skip
    assert code == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["expressions"] == 2 and 0.0 <= out["top1_accuracy"] <= 1.0 and all(a["box"] is not None for a in out["answers"])
    assert out["correct"] == sum(a["hit"] for a in out["answers"]) and "top-1 accuracy" in capsys.readouterr().out
