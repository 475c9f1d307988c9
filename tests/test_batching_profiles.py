"""The accuracy pass's batch size (bench.run.batching) and bench all's fixed profiles: which units run
never depends on the stopwatch, random-weight units are speed only in every profile."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from bench.run import batching
from bench.run.unit import PROFILES, QUICK_RANDOM_UNITS
from detectors.base import Detections


def _det(n: int, shift: float = 0.0, score_shift: float = 0.0) -> Detections:
    boxes = np.array([[10.0 * i + shift, 5.0, 10.0 * i + 8 + shift, 20.0] for i in range(n)], np.float32)
    return Detections(boxes, np.linspace(0.9, 0.1, n).astype(np.float32) + score_shift, np.arange(n) % 3)


class Invariant:
    """Predictions depend on each image alone."""

    def predict(self, images):
        return [_det(int(im.shape[0]) % 7 + 2) for im in images]


class Padded(Invariant):
    """Predictions depend on the batch's largest image (as padding does in DETR-family models)."""

    def predict(self, images):
        h = max(im.shape[0] for im in images)
        return [_det(int(im.shape[0]) % 7 + 2, shift=0.01 * (h - im.shape[0])) for im in images]


IMAGES = [np.zeros((100, 80, 3), np.uint8), np.zeros((100, 80, 3), np.uint8), np.zeros((160, 90, 3), np.uint8)]


def fake_memory(free_mb: float, batch2_mb: float):
    return (lambda: free_mb), (lambda call: (call(), batch2_mb)[1])


def test_same_predictions():
    assert batching.same_predictions([_det(3)], [_det(3)]) is None
    assert "top detections" in batching.same_predictions([_det(3)], [_det(4)])
    assert "boxes differ" in batching.same_predictions([_det(3)], [_det(3, shift=1.0)])
    assert "scores" in batching.same_predictions([_det(3)], [_det(3, score_shift=0.01)])
    assert batching.same_predictions([_det(3)], [_det(3, shift=0.4)]) is None  # within half a pixel


def test_batch_size_from_memory_only_when_batching_is_proven_harmless():
    big = batching.choose_batch_size(Invariant(), IMAGES, "cuda", memory=fake_memory(80_000.0, 400.0))
    assert big["batch_size"] == batching.CAP and big["padding_invariant"] and big["per_image_mb"] == 200.0
    small = batching.choose_batch_size(Invariant(), IMAGES, "cuda", memory=fake_memory(1000.0, 200.0))
    assert small["batch_size"] == 4  # 0.5 * 1000 / 100 = 5 -> 4
    assert batching.choose_batch_size(Invariant(), IMAGES, "cuda", memory=fake_memory(150.0, 200.0))["batch_size"] == 1
    padded = batching.choose_batch_size(Padded(), IMAGES, "cuda", memory=fake_memory(80_000.0, 400.0))
    assert padded["batch_size"] == 1 and padded["padding_invariant"] is False and "differ" in padded["rule"]
    assert batching.choose_batch_size(Padded(), IMAGES, "cpu") == {**padded, "padding_invariant": None, "per_image_mb": None,
                                                                   "free_mb": None, "rule": "cpu: batch 1"}  # fmt: skip
    assert batching.choose_batch_size(Padded(), IMAGES, "cuda", requested=8)["batch_size"] == 8


def test_profiles_are_fixed_lists_not_time_budgets():
    from detectors.registry import REGISTRY

    assert set(QUICK_RANDOM_UNITS) <= set(REGISTRY) and len(QUICK_RANDOM_UNITS) == len(set(QUICK_RANDOM_UNITS))
    assert PROFILES["quick"]["random_units"] == QUICK_RANDOM_UNITS and PROFILES["full"]["random_units"] is None
    assert not any("budget" in k for p in PROFILES.values() for k in p)


def test_bench_all_loop_runs_the_listed_units_speed_only(monkeypatch, tmp_path):
    import bench.run.unit as unit
    import detectors.availability as avail
    from bench.cli import run_all

    ran = []

    def fake_run_unit(s, *a, **k):
        ran.append((s.detector, s.accuracy, s.batch_size))
        return {"status": "ok", "accuracy_meaningful": s.accuracy, "speed_summary": {"latency_p50_ms": 1.0}}

    monkeypatch.setattr(unit, "run_unit", fake_run_unit)
    monkeypatch.setattr(avail, "availability", lambda name: ("ready", "") if name == "yolox_nano" else ("unavailable", ""))
    monkeypatch.setattr(avail, "missing_packages", lambda name, pretrained=True: [])
    args = argparse.Namespace(weights=None, device="cpu", dtype="fp32", batch_size=None, max_images=None, max_detections=None,
                              score_threshold=0.001, nms_iou=None, iou_type=None, detectors=None, cache=None)  # fmt: skip
    dets = ["yolox_nano", "detr_resnet50", "detr_resnet101", "yolov8n", "dfine_xlarge"]
    for profile in ("quick", "full"):
        ran.clear()
        run_all._loop(args, tmp_path, {}, dets, ["coco-val2017-mini"], profile)
        expected = ["yolox_nano", "detr_resnet50", "yolov8n"] if profile == "quick" else dets
        assert [d for d, _, _ in ran] == expected
        assert all(acc == (d == "yolox_nano") for d, acc, _ in ran)  # random weights: speed only, in every profile
    skipped = (tmp_path / "skipped_units.json").read_text()
    assert "detr_resnet101" in skipped and "fixed list" in skipped
    ran.clear()
    run_all._loop(argparse.Namespace(**{**vars(args), "detectors": "dfine_xlarge"}), tmp_path, {}, ["dfine_xlarge"], ["coco-val2017-mini"], "quick")
    assert ran == [("dfine_xlarge", False, None)]  # named explicitly: runs


def test_a_cpu_unit_records_its_accuracy_batch(tmp_path):
    pytest.importorskip("torch")
    from bench.data.catalog import prepare_synthetic
    from bench.data.images import image_root
    from bench.jsonio import dump_json, load_json
    from bench.protocols import COCO
    from bench.run.unit import UnitSettings, run_unit
    from tests.noisy_detector import NoisyGroundTruth

    ds = prepare_synthetic("coco", tmp_path / "cache")
    root = image_root(ds)
    run = tmp_path / "run"
    run.mkdir()
    dump_json(run / "run.json", {"run_id": "run", "reference_ms": 1.0})
    build = lambda **kw: NoisyGroundTruth(list(ds.categories.names), ds, root, **{k: v for k, v in kw.items() if k != "weights"})  # noqa: E731
    rec = run_unit(UnitSettings(dataset="synthetic-coco", detector="noisy", batch_size=None, max_images=6, speed_seconds=0.05), ds, root, COCO,
                   run, {}, build=build, log=lambda m: None)  # fmt: skip
    assert rec["status"] == "ok" and rec["accuracy_batch"]["batch_size"] == 1 and rec["accuracy_batch"]["rule"] == "cpu: batch 1"
    speed = load_json(next(p for p in run.iterdir() if p.is_dir()) / "speed.json")
    assert set(speed["scenarios"]) == {"single-stream", "offline"} and speed["summary"]["single_stream_n"] >= 2
