"""Weights: local files and folders load back to the same outputs, every family; unreachable
hubs give a clear error with the fix, at once; ``bench list`` shows availability."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from detectors.base import WeightsUnavailable  # noqa: E402
from detectors.registry import REGISTRY, build  # noqa: E402
from tests.tiny_models import export_tiny_onnx  # noqa: E402

CLASSES = ["cat", "dog", "traffic_light"]


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)  # random initialisation, repeatable
IMAGES = [np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)]


def same_outputs(a, b):
    (da,), (db,) = a.predict(IMAGES), b.predict(IMAGES)
    np.testing.assert_allclose(da.scores, db.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(da.boxes, db.boxes, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(da.labels, db.labels)
    assert len(da) > 0


def test_torchvision_state_dict_file_round_trip(tmp_path):
    a = build("fasterrcnn_mobilenet_v3_large_320_fpn", CLASSES, weights="random", tiny=True)
    torch.save(a.model.state_dict(), tmp_path / "w.pth")
    b = build("fasterrcnn_mobilenet_v3_large_320_fpn", CLASSES, weights=str(tmp_path / "w.pth"), num_classes=len(CLASSES) + 1, tiny=True)
    same_outputs(a, b)
    assert b.describe()["weights_source"] == str((tmp_path / "w.pth").resolve())
    with pytest.raises(ValueError, match="num_classes"):
        build("fasterrcnn_mobilenet_v3_large_320_fpn", CLASSES, weights=str(tmp_path / "w.pth"), tiny=True)  # 91 classes by default


@pytest.mark.parametrize("name", ["rtdetr_r50vd", "detr_resnet50", "owlv2_base_patch16_ensemble", "grounding_dino_tiny"])
def test_hf_save_pretrained_folder_round_trip(name, tmp_path):
    a = build(name, CLASSES, weights="random", tiny=True)
    a.model.save_pretrained(tmp_path)
    a.processor.save_pretrained(tmp_path)
    b = build(name, CLASSES, weights=str(tmp_path))
    same_outputs(a, b)


def test_ultralytics_pt_file_round_trip(tmp_path):
    a = build("yolov8n", CLASSES, weights="random", tiny=True)
    a.model.names = dict(enumerate(CLASSES))
    torch.save({"model": a.model, "train_args": {}}, tmp_path / "m.pt")
    b = build("yolov8n", CLASSES, weights=str(tmp_path / "m.pt"), tiny=True, trust_pickle=True)  # our own file
    assert b.model_names == CLASSES
    same_outputs(a, b)


def test_onnx_reads_names_and_size_from_ultralytics_metadata(tmp_path):
    export_tiny_onnx(tmp_path / "m.onnx", "yolov8", num_classes=3, size=64, names=["dog", "cat", "zebra"])
    det = build("onnx_yolov8", CLASSES, weights=str(tmp_path / "m.onnx"))
    info = det.describe()
    assert det.input_size == (64, 64) and info["class_names"] == "model metadata"
    assert det.label_map.model_to_dataset.tolist() == [1, 0, -1] and det.label_map.missing == ("traffic_light",)
    (d,) = det.predict(IMAGES)
    assert set(d.labels.tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="needs a model file"):
        build("onnx_yolov8", CLASSES)


@pytest.fixture
def offline_empty_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("DETBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("name", ["fasterrcnn_resnet50_fpn", "rtdetr_r50vd", "owlv2_base_patch16_ensemble", "yolov8n"])
def test_missing_weights_fail_fast_with_the_fix(name, offline_empty_caches):
    t0 = time.perf_counter()
    with pytest.raises(WeightsUnavailable) as err:
        build(name, CLASSES)
    assert time.perf_counter() - t0 < 30
    msg = str(err.value)
    assert "--weights" in msg and "random" in msg and "DETBENCH_OFFLINE" in msg


def test_bench_list_shows_every_detector_without_importing_torch(offline_empty_caches):
    code = "import sys; from bench.cli.main import main; main(['list']); print('torch' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=True).stdout
    lines = out.strip().splitlines()
    assert lines[-1] == "False"
    for name in REGISTRY:
        assert any(line.split()[0] == name for line in lines[1:-1]), name
    assert "unavailable" in out and "needs-weights" in out
