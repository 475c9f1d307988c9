"""Timing harness: structure, not wall-clock tolerances (the machines are noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.speed.measure import SpeedSettings, measure_speed
from bench.speed.timing import Clock, WarmupRule, iteration, measure_batch, percentile, summarize
from detectors.base import Batch, Detections, Detector

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "bench" / "schemas" / "speed_record.schema.json").read_text())


class SleepDetector(Detector):
    """Each stage sleeps a known time; the first ``slow_calls`` forwards sleep ``slow_ms``.
    ``oom_from``: batch sizes from this one up raise CUDA's out-of-memory error."""

    family = "test-sleep"

    def __init__(self, classes=("a",), pre_ms=2.0, fwd_ms=4.0, post_ms=1.0, slow_calls=0, slow_ms=40.0, oom_from=None, **kw):
        super().__init__(list(classes), **kw)
        self.ms = (pre_ms, fwd_ms, post_ms)
        self.slow_calls, self.slow_ms, self.oom_from, self.calls = slow_calls, slow_ms, oom_from, 0

    def preprocess(self, images):
        time.sleep(self.ms[0] / 1000)
        return Batch(None, [(10, 10)] * len(images))

    def forward(self, batch):
        if self.oom_from and len(batch.sizes) >= self.oom_from:
            import torch

            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.calls += 1
        time.sleep((self.slow_ms if self.calls <= self.slow_calls else self.ms[1]) / 1000)
        return None

    def postprocess(self, raw, batch):
        time.sleep(self.ms[2] / 1000)
        empty = Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))
        return [empty for _ in batch.sizes]

    def describe(self):
        return {**super().describe(), "parameters": None}


IMAGES = [np.zeros((10, 10, 3), np.uint8)] * 3


def test_percentiles_by_hand_and_against_numpy():
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 90) == pytest.approx(3.7)
    assert percentile([7.0], 99) == 7.0
    rng = np.random.default_rng(0)
    for n in (2, 5, 17, 100, 1001):
        x = rng.exponential(3.0, n).tolist()
        s = summarize(x)
        for q in (50, 90, 99):
            assert s[f"p{q}"] == pytest.approx(np.percentile(x, q), rel=1e-12)
        assert s["std"] == pytest.approx(np.std(x, ddof=1)) and s["mean"] == pytest.approx(np.mean(x))
        assert s["min"] == min(x) and s["n"] == n


def test_samples_of_a_known_sleep_are_never_shorter_than_the_sleep():
    det = SleepDetector()
    r = measure_batch(det, IMAGES, 1, Clock("cpu"), WarmupRule(min_iters=1, window=2, max_iters=4), iters=10, seconds=None)
    s = r["samples_ms"]
    assert len(s["end_to_end"]) == 10
    assert min(s["preprocess"]) >= 2.0 and min(s["forward"]) >= 4.0 and min(s["postprocess"]) >= 1.0
    assert min(s["end_to_end"]) >= 7.0


def test_stage_times_add_up_to_the_end_to_end_time():
    clock = Clock("cpu")
    for _ in range(5):
        t = iteration(SleepDetector(), IMAGES[:2], clock)
        assert t["preprocess"] + t["forward"] + t["postprocess"] == pytest.approx(t["end_to_end"], abs=1e-9)


def test_warm_up_runs_until_stable_and_is_excluded():
    # slow calls 100x the normal forward, the line between them at 150 ms: a loaded machine (sleeps
    # overshooting by tens of ms) cannot move a sample across it
    det = SleepDetector(slow_calls=4, slow_ms=300.0, fwd_ms=2.0)
    r = measure_batch(det, IMAGES, 1, Clock("cpu"), WarmupRule(min_iters=3, window=3, tolerance=0.5), iters=8, seconds=None)
    assert r["warmup"]["iterations"] >= 7  # two windows after the slow calls, not a fixed count
    assert sum(t > 150 for t in r["warmup"]["samples_ms"]) == 4
    assert max(r["samples_ms"]["forward"]) < 150.0  # no warm-up sample leaked into the distribution
    assert r["latency_ms"]["end_to_end"]["n"] == 8


def test_oom_at_one_batch_size_is_recorded_and_the_run_goes_on():
    pytest.importorskip("torch")
    settings = SpeedSettings(batch_sizes=(1, 8, 2), iters=3, warmup=WarmupRule(min_iters=1, window=1, max_iters=2))
    rec = measure_speed("sleep", lambda dtype: SleepDetector(oom_from=8, dtype=dtype), IMAGES, settings)
    errors = {b["batch_size"]: b["error"] for b in rec["batches"]}
    assert errors[1] is None and errors[2] is None
    assert errors[8].startswith("out of memory") and "2.00 GiB" in errors[8]
    assert rec["summary"]["best_batch_size"] in (1, 2)


def test_a_detector_that_fails_to_build_is_a_record_not_a_crash():
    def broken(dtype):
        raise RuntimeError("weights file truncated")

    rec = measure_speed("broken", broken, IMAGES, SpeedSettings(iters=2))
    assert "weights file truncated" in rec["error"] and rec["batches"] == []
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(rec, SCHEMA)


def test_numerics_changing_modes_get_accuracy_in_the_mode_and_in_fp32():
    built, scored = [], []

    def build(dtype):
        built.append(dtype)
        return SleepDetector(dtype=dtype, pre_ms=0, fwd_ms=0, post_ms=0)

    def accuracy(det):
        scored.append(det.dtype)
        return {"AP": 0.5 if det.dtype == "fp32" else 0.49}

    settings = SpeedSettings(dtype="bf16", iters=2, warmup=WarmupRule(min_iters=1, window=1, max_iters=2))
    rec = measure_speed("sleep", build, IMAGES, settings, accuracy=accuracy)
    assert built == ["bf16", "fp32"] and scored == ["bf16", "fp32"]
    assert rec["accuracy"]["mode"]["metrics"]["AP"] == 0.49 and rec["accuracy"]["fp32"]["metrics"]["AP"] == 0.5
    rec = measure_speed("sleep", build, IMAGES, SpeedSettings(iters=2), accuracy=accuracy)
    assert rec["accuracy"] is None  # fp32 eager: nothing changes numerics


def test_cuda_clock_is_cleanly_absent_without_a_gpu():
    torch = pytest.importorskip("torch")
    clock = Clock("cuda")
    assert clock.cuda == torch.cuda.is_available()
    assert clock.kind == ("cuda-events+synchronize" if clock.cuda else "perf_counter_ns")


@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="no CUDA device on this machine")
def test_cuda_events_time_asynchronous_work():
    import torch

    clock = Clock("cuda")
    x = torch.randn(4096, 4096, device="cuda")
    a = clock.stamp()
    for _ in range(10):
        x = x @ x / 4096
    b = clock.stamp()
    assert clock.ms(a, b) > 0


def test_records_validate_against_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    rec = measure_speed("sleep", lambda dtype: SleepDetector(dtype=dtype), IMAGES,
                        SpeedSettings(batch_sizes=(1, 2), iters=3, warmup=WarmupRule(min_iters=1, window=1, max_iters=2)))  # fmt: skip
    jsonschema.validate(json.loads(json.dumps(rec)), SCHEMA)
    bad = json.loads(json.dumps(rec))
    del bad["batches"][0]["latency_ms"]["forward"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


def test_bench_speed_command_end_to_end(tmp_path):
    pytest.importorskip("torch")
    jsonschema = pytest.importorskip("jsonschema")
    out = tmp_path / "rec.json"
    env = {**os.environ, "DETBENCH_CACHE": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "bench", "speed", "--detector", "rtdetr_r50vd", "--weights", "random", "--detector-arg", "tiny=true",
           "--batch-sizes", "1,2", "--iters", "3", "--dtype", "bf16", "--max-images", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "headline" in proc.stdout and "accuracy (fp32)" in proc.stdout
    rec = json.loads(out.read_text())
    jsonschema.validate(rec, SCHEMA)
    assert rec["describe"]["random_weights"] and rec["flops"]["value"] > 0 and rec["parameters"] > 0
    assert rec["input"]["dataset"] == "coco-val2017-mini" and rec["environment"]["torch"]["threads"] >= 1  # the real default
    bad = subprocess.run([sys.executable, "-m", "bench", "speed", "--detector", "rtdetr_r50"], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "did you mean" in bad.stderr
