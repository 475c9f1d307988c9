"""Every registered detector: built with random weights from a tiny config (an exported tiny
ONNX model for the ONNX entries), run on two images of different sizes, checked against the
``Detections`` contract. Adding a registry line adds it to these tests."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from detectors.base import Detections  # noqa: E402
from detectors.registry import REGISTRY, build  # noqa: E402
from tests.tiny_models import export_tiny_onnx  # noqa: E402

CLASSES = ["circle", "person", "triangle", "car", "traffic_light"]  # two COCO names: the embedded real models map them
DESCRIBE_KEYS = {"family", "variant", "weights_id", "weights_source", "input_size", "parameters", "postprocess", "published", "settings"}


def make_detector(name: str, tmp_path, **kw):
    torch.manual_seed(0)  # random initialisation, repeatable
    target, defaults = REGISTRY[name]
    if target.startswith("detectors.onnx_runtime"):
        if defaults.get("embedded"):  # a real shipped export: its own weights and classes
            return build(name, CLASSES, **kw)
        path = tmp_path / f"{name}.onnx"
        layout = "yolov8" if defaults["layout"] == "auto" else defaults["layout"]
        export_tiny_onnx(path, layout, num_classes=len(CLASSES), names=CLASSES if layout == "yolov8" else None)
        extra = {} if layout == "yolov8" else {"model_classes": CLASSES}
        return build(name, CLASSES, weights=str(path), **extra, **kw)
    return build(name, CLASSES, weights="random", tiny=True, **kw)


def images():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), torch.from_numpy(rng.integers(0, 256, (3, 90, 70), dtype=np.uint8))]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_detector_honours_the_contract(name, tmp_path):
    # threshold 0: a randomly initialised model may score everything under 0.001
    det = make_detector(name, tmp_path, max_detections=7, score_threshold=0.0)
    ims = images()
    batch = det.preprocess(ims)
    assert batch.sizes == [(120, 160), (90, 70)]
    out = det.postprocess(det.forward(batch), batch)
    assert len(out) == 2
    for d, (h, w) in zip(out, batch.sizes):
        assert isinstance(d, Detections)
        n = len(d)
        assert 0 < n <= 7
        assert d.boxes.dtype == np.float32 and d.boxes.shape == (n, 4)
        assert d.scores.dtype == np.float32 and d.scores.shape == (n,)
        assert d.labels.dtype == np.int64 and d.labels.shape == (n,)
        assert np.all(np.diff(d.scores) <= 0), "scores must be sorted descending"
        assert np.all(d.scores >= det.score_threshold)
        assert np.all((d.labels >= 0) & (d.labels < len(CLASSES)))
        assert np.all(d.boxes[:, [0, 2]] >= 0) and np.all(d.boxes[:, [0, 2]] <= w)
        assert np.all(d.boxes[:, [1, 3]] >= 0) and np.all(d.boxes[:, [1, 3]] <= h)
        assert np.all(d.boxes[:, 2] >= d.boxes[:, 0]) and np.all(d.boxes[:, 3] >= d.boxes[:, 1])
    again = det.predict(ims)  # predict == the three steps chained
    for a, b in zip(out, again):
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5)
    info = det.describe()
    assert DESCRIBE_KEYS <= set(info), DESCRIBE_KEYS - set(info)
    assert info["settings"]["score_threshold"] == 0.0 and info["settings"]["max_detections"] == 7
    json.dumps(info)  # provenance must be storable as JSON


def test_evaluation_defaults_are_not_the_libraries_demo_defaults(tmp_path):
    det = make_detector("retinanet_resnet50_fpn", tmp_path)
    assert det.score_threshold == 0.001 and det.max_detections == 100
    assert det.model.score_thresh == 0.001 and det.model.detections_per_img == 100
    lvis = make_detector("fasterrcnn_resnet50_fpn", tmp_path, max_detections=300)
    assert lvis.model.roi_heads.detections_per_img == 300 and lvis.model.roi_heads.score_thresh == 0.001
