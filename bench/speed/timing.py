"""Latency and throughput measurement: one code path for CUDA and CPU.

Every iteration is stamped four times: before ``preprocess``, after it, after ``forward``,
after ``postprocess``. On CUDA a stamp synchronises the device and records a CUDA event, so
asynchronous launches are not mistaken for finished work and the durations come from the GPU
timeline; on the CPU a stamp is ``time.perf_counter_ns``. The end-to-end time of an iteration
is the span from its first to its last stamp, so the stage times add up to it.

Warm-up runs until timings are stable (``WarmupRule``: a minimum count, then the median of the
last ``window`` iterations within ``tolerance`` of the window before, capped in iterations and
seconds); warm-up samples are never part of the reported distribution. Times are milliseconds.
"""

from __future__ import annotations

import gc
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

STAGES = ("preprocess", "forward", "postprocess", "end_to_end")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between order statistics
    (numpy's default "linear" method)."""
    v = sorted(values)
    if not v:
        raise ValueError("percentile of no samples")
    pos = (len(v) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def summarize(samples: Sequence[float]) -> dict:
    """n, mean, std (sample, ddof=1), min, max, p50, p90, p99 of ``samples``."""
    n = len(samples)
    mean = sum(samples) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in samples) / (n - 1)) if n > 1 else 0.0
    return {"n": n, "mean": mean, "std": std, "min": min(samples), "max": max(samples),
            "p50": percentile(samples, 50), "p90": percentile(samples, 90), "p99": percentile(samples, 99)}  # fmt: skip


class Clock:
    """Stamps on CUDA events (after a device synchronisation) or ``perf_counter_ns``."""

    def __init__(self, device: str = "cpu"):
        self.cuda = False
        if str(device).startswith("cuda"):
            import torch

            self.cuda = torch.cuda.is_available()
            self._torch = torch
        self.kind = "cuda-events+synchronize" if self.cuda else "perf_counter_ns"

    def stamp(self):
        if self.cuda:
            self._torch.cuda.synchronize()
            ev = self._torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter_ns()

    def ms(self, a, b) -> float:
        if self.cuda:
            b.synchronize()
            return float(a.elapsed_time(b))
        return (b - a) / 1e6


def iteration(detector, images, clock: Clock) -> dict:
    """One timed pass of ``images`` through the three stages; ms per stage and end to end."""
    t0 = clock.stamp()
    batch = detector.preprocess(images)
    t1 = clock.stamp()
    raw = detector.forward(batch)
    t2 = clock.stamp()
    detector.postprocess(raw, batch)
    t3 = clock.stamp()
    return {"preprocess": clock.ms(t0, t1), "forward": clock.ms(t1, t2), "postprocess": clock.ms(t2, t3), "end_to_end": clock.ms(t0, t3)}


@dataclass(frozen=True)
class WarmupRule:
    min_iters: int = 3
    window: int = 3
    tolerance: float = 0.05
    max_iters: int = 50
    max_seconds: float = 60.0


def warm_up(step: Callable[[], dict], rule: WarmupRule) -> dict:
    """Run ``step`` until the end-to-end median of the last window is within ``tolerance`` of
    the window before (after at least ``min_iters``), or a cap is hit."""
    times: list[float] = []
    t0 = time.perf_counter()
    stable = False
    while True:
        times.append(step()["end_to_end"])
        n, w = len(times), rule.window
        if n >= max(rule.min_iters, 2 * w):
            a, b = float(np.median(times[-2 * w: -w])), float(np.median(times[-w:]))
            if abs(b - a) <= rule.tolerance * a:
                stable = True
                break
        if n >= rule.max_iters or time.perf_counter() - t0 >= rule.max_seconds:
            break
    return {"iterations": len(times), "seconds": time.perf_counter() - t0, "stable": stable, "first_ms": times[0], "samples_ms": times}


def sample(step: Callable[[], dict], iters: int | None, seconds: float | None, min_samples: int = 5, max_samples: int = 10000) -> dict:
    """Timed iterations after warm-up: ``iters`` of them, or as many as fit in ``seconds``
    (at least ``min_samples``). Returns stage -> list of ms."""
    out: dict[str, list[float]] = {s: [] for s in STAGES}
    t0 = time.perf_counter()
    while True:
        for k, v in step().items():
            out[k].append(v)
        n = len(out["end_to_end"])
        if iters is not None and n >= iters:
            break
        if iters is None and n >= min_samples and (time.perf_counter() - t0 >= (seconds or 0) or n >= max_samples):
            break
    return out


def batches(images: Sequence, batch_size: int):
    """Endless batches of ``batch_size`` images, cycling through ``images`` in order."""
    i = 0
    while True:
        yield [images[(i + k) % len(images)] for k in range(batch_size)]
        i = (i + batch_size) % len(images)


def is_oom(err: BaseException) -> bool:
    try:
        import torch

        if isinstance(err, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    return "out of memory" in str(err).lower()


def free_memory(device: str) -> None:
    gc.collect()
    if str(device).startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def reset_peak_rss() -> None:
    """Linux: reset the process's peak resident set (VmHWM) so each setting gets its own."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def count_flops(detector, images) -> tuple[int | None, str | None]:
    """FLOPs of ``forward`` for a batch of ``images`` (torch's flop counter), or the reason not."""
    try:
        from torch.utils.flop_counter import FlopCounterMode

        batch = detector.preprocess(images)
        with FlopCounterMode(display=False) as counter:
            detector.forward(batch)
        return int(counter.get_total_flops()), None
    except Exception as e:  # e.g. a model with ops the counter cannot trace, or no torch
        return None, f"{type(e).__name__}: {e}"[:300]


def measure_batch(detector, images: Sequence, batch_size: int, clock: Clock, rule: WarmupRule,
                  iters: int | None, seconds: float | None, min_samples: int = 5) -> dict:
    """Latency distribution and throughput of one batch size; errors (OOM included) as data."""
    device = getattr(detector, "device", "cpu")
    feed = batches(images, batch_size)
    step = lambda: iteration(detector, next(feed), clock)  # noqa: E731
    result: dict = {"batch_size": batch_size, "error": None}
    torch = None
    if clock.cuda:
        import torch

        torch.cuda.reset_peak_memory_stats()
    reset_peak_rss()
    try:
        result["warmup"] = warm_up(step, rule)
        samples = sample(step, iters, seconds, min_samples)
    except Exception as e:
        result["error"] = ("out of memory: " if is_oom(e) else "") + f"{type(e).__name__}: {e}"[:500]
        free_memory(device)
        return result
    result["latency_ms"] = {s: summarize(samples[s]) for s in STAGES}
    result["samples_ms"] = samples
    result["throughput_ips"] = batch_size * 1000.0 / result["latency_ms"]["end_to_end"]["mean"]
    result["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20 if torch is not None else None
    result["peak_rss_mb"] = peak_rss_mb()
    return result
