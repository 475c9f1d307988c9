"""The reference workload: a fixed compute kernel timed beside the detectors, recorded with each run
(``reference_ms``) so that a reader can see how fast the machine was when the figures were taken.

May import: numpy, torch (lazily, for CUDA), :mod:`bench.speed.timing`.
"""

from __future__ import annotations

import time

import numpy as np


def reference_workload(device: str = "cpu", repeats: int = 7) -> float:
    """Median ms of a fixed compute workload (matmuls + a sort) on ``device``."""
    if str(device).startswith("cuda"):
        import torch

        from bench.speed.timing import Clock

        clock, x = Clock(device), torch.randn(2048, 2048, device=device)
        times = []
        for _ in range(repeats):
            a = clock.stamp()
            for _ in range(10):
                x = (x @ x) / 2048
            times.append(clock.ms(a, clock.stamp()))
        return float(np.median(times))
    rng = np.random.default_rng(0)
    a, v = rng.standard_normal((256, 256)), rng.standard_normal(200_000)
    times = []
    for _ in range(repeats):
        t = time.perf_counter_ns()
        for _ in range(20):
            a = (a @ a) / 256.0
        np.sort(v)
        times.append((time.perf_counter_ns() - t) / 1e6)
    return float(np.median(times))
