"""Speed scenarios as MLPerf Inference defines them: single-stream, offline, server.

- ``single-stream``: one image at a time, end to end (preprocess + forward + postprocess), the next
  issued when the last is done. Reports p50, p90 (the headline, as MLPerf) and p99 of the end-to-end
  latency, each with its sample count and a distribution-free 95 % interval (order statistics,
  :mod:`bench.speed.stats`), and MLPerf's early-stopping estimates of p90 and p99. How many samples:
  :class:`SingleStreamRule` (at least MLPerf's early-stopping minimum for p90, 64; then until the p90
  interval is narrower than ``rel_width`` of p90, or a cap; the reason it stopped is recorded).
- ``offline``: all images available at once; maximum throughput with the input pipeline overlapped:
  a thread decodes and preprocesses batch k + 1 while the model runs batch k, another postprocesses
  batch k - 1. Reports images/s over the wall time, the batch size, and ``busy``: the share of the
  wall time the model's forward took (1.0: the accelerator never waited for the CPU).
- ``server``: queries arrive as a Poisson process at a target rate, served one at a time in arrival
  order; latency counts the wait in the queue. A rate passes when MLPerf's early-stopping rule
  accepts the latency bound at the stated percentile (p99 by default); :func:`max_server_rate`
  bisects for the highest passing rate.

Times are milliseconds; rates are queries (images) per second. ``step`` callables time one image
with :func:`bench.speed.timing.iteration` (stage -> ms).
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from bench.speed.stats import early_stopping_estimate, min_passing, min_queries, percentile_interval, relative_width
from bench.speed.timing import STAGES, summarize

SCENARIOS = ("single-stream", "offline", "server")
PERCENTILES = (50, 90, 99)
HEADLINE_PERCENTILE = 90


def scenario_names(text: str | None) -> tuple[str, ...]:
    """``"single-stream,offline"`` -> the scenario tuple; ``"none"`` or empty -> (); unknown names raise
    ``ValueError`` listing the valid ones."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip() and n.strip() != "none")
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}: choose from {', '.join(SCENARIOS)} (or none)")
    return names


@dataclass(frozen=True)
class SingleStreamRule:
    """How many single-stream samples: at least ``min_samples`` (None: MLPerf's early-stopping
    minimum for p90, 64), then until the ``confidence`` interval of p90 is narrower than ``rel_width``
    of p90 (checked every ``check_every`` samples), or ``max_samples`` / ``max_seconds`` is reached
    (then the interval is wider than asked, and the record says so)."""

    rel_width: float = 0.10
    confidence: float = 0.95
    min_samples: int | None = None
    max_samples: int = 2000
    max_seconds: float = 60.0
    check_every: int = 16

    def minimum(self) -> int:
        return self.min_samples if self.min_samples is not None else min_queries(HEADLINE_PERCENTILE / 100.0)

    def describe(self) -> str:
        return (f"at least {self.minimum()} samples (MLPerf early-stopping minimum for p{HEADLINE_PERCENTILE}"
                f"{'' if self.min_samples is None else ', overridden'}), then until the {self.confidence:.0%} interval of "
                f"p{HEADLINE_PERCENTILE} is within {self.rel_width:.0%} of it; caps {self.max_samples} samples, {self.max_seconds:g} s")  # fmt: skip


def single_stream(step: Callable[[], dict], rule: SingleStreamRule = SingleStreamRule()) -> dict:
    """Run ``step`` (one image, returns stage -> ms) under ``rule``; the single-stream result."""
    samples: dict[str, list[float]] = {s: [] for s in STAGES}
    t0, stop = time.perf_counter(), None
    while stop is None:
        for k, v in step().items():
            samples[k].append(v)
        n = len(samples["end_to_end"])
        if n >= rule.max_samples:
            stop = "max_samples"
        elif time.perf_counter() - t0 >= rule.max_seconds and n >= 2:
            stop = "max_seconds"
        elif n >= rule.minimum() and (n - rule.minimum()) % rule.check_every == 0:
            if relative_width(percentile_interval(samples["end_to_end"], HEADLINE_PERCENTILE, rule.confidence)) <= rule.rel_width:
                stop = "interval"
    return single_stream_result(samples, rule, stop, time.perf_counter() - t0)


def single_stream_result(samples: dict[str, list[float]], rule: SingleStreamRule, stop: str, seconds: float) -> dict:
    """The record of a single-stream run from its samples (stage -> ms list)."""
    e2e = samples["end_to_end"]
    pct = {f"p{q}": percentile_interval(e2e, q, rule.confidence) for q in PERCENTILES}
    head = pct[f"p{HEADLINE_PERCENTILE}"]
    return {
        "scenario": "single-stream", "batch_size": 1, "rule": {**asdict(rule), "description": rule.describe()},
        "stop": stop, "interval_met": relative_width(head) <= rule.rel_width, "n": len(e2e), "seconds": seconds,
        "headline": f"p{HEADLINE_PERCENTILE}", "percentiles": pct,
        "early_stopping": {f"p{q}": early_stopping_estimate(e2e, q / 100.0) for q in (90, 99)},
        "latency_ms": {s: summarize(samples[s]) for s in STAGES}, "samples_ms": samples,
    }  # fmt: skip


@dataclass(frozen=True)
class OfflineRule:
    """Offline: ``warmup_batches`` untimed, then at least ``min_batches`` and until ``seconds`` have
    passed (capped at ``max_batches``); ``depth`` batches may wait between stages."""

    seconds: float = 5.0
    min_batches: int = 4
    max_batches: int = 1000
    warmup_batches: int = 2
    depth: int = 2


def offline(detector, items: Sequence, batch_size: int, rule: OfflineRule = OfflineRule(), load: Callable | None = None,
            cuda: bool = False) -> dict:  # fmt: skip
    """Throughput of ``detector`` over ``items`` (cycled) at ``batch_size`` with the pipeline overlapped.
    ``load(item) -> image`` decodes an item (None: items are images already); ``cuda``: time the
    forward with CUDA events on the current stream (no synchronisation inside the pipeline)."""
    decodes = load is not None
    load = load or (lambda x: x)

    def make(k: int):
        batch = [load(items[(k * batch_size + j) % len(items)]) for j in range(batch_size)]
        return detector.preprocess(batch)

    for k in range(rule.warmup_batches):  # untimed, sequential
        pre = make(k)
        detector.postprocess(detector.forward(pre), pre)
    ready: queue.Queue = queue.Queue(maxsize=rule.depth)
    done: queue.Queue = queue.Queue(maxsize=rule.depth)
    stop_flag, errors = threading.Event(), []

    def produce():
        k = 0
        try:
            while not stop_flag.is_set():
                ready.put(make(k))
                k += 1
        except Exception as e:  # handed to the caller
            errors.append(e)
            ready.put(None)

    def consume():
        try:
            while (job := done.get()) is not None:
                detector.postprocess(*job)
        except Exception as e:
            errors.append(e)

    forward_ms: list[float] = []
    events = []
    producer, consumer = threading.Thread(target=produce, daemon=True), threading.Thread(target=consume, daemon=True)
    t0 = time.perf_counter()
    producer.start()
    consumer.start()
    batches = 0
    try:
        while batches < rule.max_batches and (batches < rule.min_batches or time.perf_counter() - t0 < rule.seconds):
            pre = ready.get()
            if pre is None or errors:
                break
            if cuda:
                import torch

                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                raw = detector.forward(pre)
                b.record()
                events.append((a, b))
            else:
                a = time.perf_counter_ns()
                raw = detector.forward(pre)
                forward_ms.append((time.perf_counter_ns() - a) / 1e6)
            if not _put(done, (raw, pre), consumer.is_alive):
                break
            batches += 1
    finally:
        stop_flag.set()
        _put(done, None, consumer.is_alive)
        consumer.join()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                ready.get(timeout=0.05)
            except queue.Empty:
                pass
        producer.join()
    if cuda:
        import torch

        torch.cuda.synchronize()
        forward_ms = [a.elapsed_time(b) for a, b in events]
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    images = batches * batch_size
    return {"scenario": "offline", "batch_size": batch_size, "rule": asdict(rule), "batches": batches, "images": images,
            "seconds": wall, "images_per_s": images / wall, "forward_ms": summarize(forward_ms),
            "busy": min(1.0, sum(forward_ms) / 1000.0 / wall), "decode_included": decodes,
            "overlap": "decode+preprocess thread, forward on the caller's thread, postprocess thread"}  # fmt: skip


def _put(q: queue.Queue, item, alive: Callable[[], bool]) -> bool:
    """Put ``item`` on ``q``, giving up (False) once its consumer thread has died (its error is kept)."""
    while True:
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            if not alive():
                return False


@dataclass(frozen=True)
class ServerRule:
    """Server: ``queries`` Poisson arrivals per rate (seeded); a rate passes when MLPerf's early
    stopping accepts ``bound_ms`` as the ``percentile`` latency (needs ``queries >= min_passing(0) ``,
    459 for p99); :func:`max_server_rate` bisects ``steps`` times."""

    bound_ms: float = 100.0
    percentile: float = 0.99
    queries: int = 500
    seed: int = 0
    steps: int = 5


def server_run(step: Callable[[], dict], rate: float, rule: ServerRule) -> dict:
    """One server run at ``rate`` queries/s: latencies (queue wait + service), and MLPerf's verdict."""
    rng = np.random.default_rng(rule.seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, rule.queries))
    latencies, free_at = [], 0.0
    t0 = time.perf_counter()
    for arrival in arrivals:
        now = time.perf_counter() - t0
        if arrival > now:
            time.sleep(arrival - now)
        step()
        free_at = time.perf_counter() - t0
        latencies.append((free_at - arrival) * 1000.0)
    over = int(sum(1 for v in latencies if v > rule.bound_ms))
    need = min_passing(over, rule.percentile) + over
    return {"rate_qps": rate, "queries": rule.queries, "over_bound": over, "needed_queries": need, "passed": rule.queries >= need,
            "latency_ms": summarize(latencies), f"p{100 * rule.percentile:g}": percentile_interval(latencies, 100 * rule.percentile),
            "achieved_qps": rule.queries / free_at}  # fmt: skip


def max_server_rate(step: Callable[[], dict], rule: ServerRule, service_ms: float) -> dict:
    """The highest passing rate: bisection between 0 and the service capacity ``1000 / service_ms``
    (``service_ms``: e.g. the single-stream p50), ``rule.steps`` runs; every run is recorded."""
    if rule.queries < min_passing(0, rule.percentile):
        raise ValueError(f"{rule.queries} queries can never pass at p{100 * rule.percentile:g}: at least {min_passing(0, rule.percentile)}")
    lo, hi, runs = 0.0, 1000.0 / service_ms, []
    for _ in range(rule.steps):
        rate = (lo + hi) / 2.0
        r = server_run(step, rate, rule)
        runs.append(r)
        lo, hi = (rate, hi) if r["passed"] else (lo, rate)
    return {"scenario": "server", "rule": asdict(rule), "max_rate_qps": lo if lo > 0 else None, "capacity_qps": 1000.0 / service_ms,
            "runs": runs, "note": None if lo > 0 else "no tested rate passed"}  # fmt: skip
