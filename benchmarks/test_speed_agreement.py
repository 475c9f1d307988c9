"""Speed benchmarks (not tests: run them on purpose, they take a minute).

    pytest benchmarks/test_speed_agreement.py --benchmark-autosave      # keep a history
    pytest benchmarks/test_speed_agreement.py --benchmark-compare       # compare with it

1. detbench's latency for one model agrees with an independent ``torch.utils.benchmark.Timer``
   measurement of the same call, in the same process, within 5 % (medians).
2. The harness's own cost per iteration (four stamps and the stage calls, measured with a
   detector whose stages do nothing) stays under 1 % of that model's latency.
3. pytest-benchmark's own timing of ``predict`` for the model, so histories can be kept.

Environment variables: ``DETBENCH_BENCH_MODEL`` (default ``ssdlite320_mobilenet_v3_large``,
the fastest torchvision model), ``DETBENCH_BENCH_DEVICE`` (default cuda when present, else cpu).
Random weights: speed does not depend on the weights' values.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bench.speed.timing import Clock, WarmupRule, iteration, measure_batch  # noqa: E402
from detectors.base import Batch, Detector  # noqa: E402
from detectors.registry import build  # noqa: E402

MODEL = os.environ.get("DETBENCH_BENCH_MODEL", "ssdlite320_mobilenet_v3_large")
DEVICE = os.environ.get("DETBENCH_BENCH_DEVICE", "cuda" if torch.cuda.is_available() else "cpu")
IMAGE = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def detector():
    return build(MODEL, ["person", "car", "dog"], weights="random", device=DEVICE)


def detbench_median_ms(det) -> float:
    r = measure_batch(det, [IMAGE], 1, Clock(DEVICE), WarmupRule(), iters=60, seconds=None)
    return r["latency_ms"]["end_to_end"]["p50"]


def timer_median_ms(det) -> float:
    from torch.utils.benchmark import Timer

    def call():
        det.predict([IMAGE])
        det.synchronize()

    t = Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads())  # same threads as ours
    t.timeit(10)  # warm-up
    return t.timeit(60).median * 1000.0


class NoOp(Detector):
    family = "no-op"

    def preprocess(self, images):
        return Batch(None, [(1, 1)])

    def forward(self, batch):
        return None

    def postprocess(self, raw, batch):
        return []


def test_detbench_agrees_with_torch_timer_within_5_percent(detector):
    ours, theirs = [], []
    for _ in range(3):  # interleave, so drift hits both alike
        ours.append(detbench_median_ms(detector))
        theirs.append(timer_median_ms(detector))
    a, b = float(np.median(ours)), float(np.median(theirs))
    print(f"\n{MODEL} on {DEVICE}: detbench p50 {a:.3f} ms, torch.utils.benchmark median {b:.3f} ms, ratio {a / b:.4f}")
    assert abs(a / b - 1) < 0.05


def test_harness_overhead_under_1_percent_of_the_model(detector):
    clock = Clock(DEVICE)
    det = NoOp(["x"], device=DEVICE)
    for _ in range(100):
        iteration(det, [IMAGE], clock)
    overhead = float(np.median([iteration(det, [IMAGE], clock)["end_to_end"] for _ in range(2000)]))
    model = detbench_median_ms(detector)
    print(f"\nharness overhead {overhead * 1000:.1f} us per iteration = {100 * overhead / model:.3f} % of {MODEL} ({model:.2f} ms)")
    assert overhead < 0.01 * model


def test_predict_history(benchmark, detector):
    benchmark.pedantic(detector.predict, args=([IMAGE],), rounds=30, warmup_rounds=5)
