"""Speed scenarios and their statistics: order-statistic intervals, MLPerf early stopping, the
single-stream / offline / server runners and the machine-load meter (correctness, not timings)."""

from __future__ import annotations

import itertools
import json
import math
import time

import numpy as np
import pytest

from bench.speed import stats
from bench.speed.machine import BUSY_SHARE, LoadMeter, measure_window
from bench.speed.measure import SpeedSettings, measure_speed
from bench.speed.scenarios import (OfflineRule, ServerRule, SingleStreamRule, max_server_rate, offline, scenario_names, server_run,
                                   single_stream)  # fmt: skip
from bench.speed.timing import WarmupRule
from tests.test_timing import IMAGES, SCHEMA, SleepDetector


def _binom_cdf(n, p, k):
    return sum(math.comb(n, x) * p**x * (1 - p) ** (n - x) for x in range(k + 1))


def test_binomial_cdf_against_exact_sums():
    for n, p in [(1, 0.5), (10, 0.9), (37, 0.5), (64, 0.99)]:
        cdf = stats.binomial_cdf(n, p)
        assert cdf.shape == (n + 1,)
        for k in range(n + 1):
            assert cdf[k] == pytest.approx(_binom_cdf(n, p, k), abs=1e-12)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_order_statistic_ranks_cover_and_are_tight(q):
    for n in [1, 5, 20, 64, 100, 367, 368, 1000]:
        lo, hi = stats.order_statistic_ranks(n, q, 0.95)
        a = 0.025
        if lo is not None:  # P(B < lo) <= a, and lo + 1 would break it
            assert _binom_cdf(n, q, lo - 1) <= a + 1e-12
            assert lo == n or _binom_cdf(n, q, lo) > a
        else:
            assert (1 - q) ** n > a  # even x_(1) is not low enough
        if hi is not None:
            assert 1 - _binom_cdf(n, q, hi - 1) <= a + 1e-12
            assert hi == 1 or 1 - _binom_cdf(n, q, hi - 2) > a
        else:
            assert q**n > a  # even x_(n) is not high enough
        if lo is not None and hi is not None:
            assert stats.coverage(n, q, lo, hi) >= 0.95
    assert stats.order_statistic_ranks(367, 0.99)[1] is None and stats.order_statistic_ranks(368, 0.99)[1] == 368  # 0.99**n <= 0.025


@pytest.mark.parametrize("dist", ["lognormal", "exponential", "bimodal"])
def test_intervals_cover_the_true_percentile_on_generated_samples(dist):
    rng = np.random.default_rng(1)
    trials, n = 600, 200
    true = {}
    big = {"lognormal": lambda k: rng.lognormal(3.0, 0.4, k), "exponential": lambda k: 10 + rng.exponential(5.0, k),
           "bimodal": lambda k: np.where(rng.random(k) < 0.8, rng.normal(20, 1, k), rng.normal(35, 2, k))}[dist]  # fmt: skip
    ref = big(2_000_000)
    for q in (50, 90, 99):
        true[q] = np.percentile(ref, q)
    hits = {q: 0 for q in true}
    for _ in range(trials):
        x = big(n)
        for q in true:
            iv = stats.percentile_interval(x, q, 0.95)
            lo = -np.inf if iv["lo"] is None else iv["lo"]
            hi = np.inf if iv["hi"] is None else iv["hi"]
            hits[q] += lo <= true[q] <= hi
    for q, h in hits.items():
        nominal = stats.coverage(n, q / 100, *stats.order_statistic_ranks(n, q / 100, 0.95))
        assert nominal >= 0.95
        assert h / trials >= nominal - 3 * math.sqrt(nominal * (1 - nominal) / trials), (dist, q, h / trials)


def _odds_exact(h, t, p):
    return _binom_cdf(h + t, 1 - p, t)


def test_min_passing_matches_its_definition_and_mlperf_counts():
    assert stats.min_queries(0.90) == 64  # MLPerf single-stream: "need to process at least 64 queries" for p90
    assert stats.min_queries(0.99) == 662  # and 662 for p99
    assert stats.min_passing(0, 0.9) == math.ceil(math.log(0.01) / math.log(0.9))  # LoadGen's closed form at t = 0
    for p in (0.9, 0.97):
        for t in (0, 1, 2, 5, 13):
            h = stats.min_passing(t, p)
            assert _odds_exact(h, t, p) < 0.01 <= _odds_exact(h - 1, t, p)


def _loadgen_estimate(sorted_lat, p):
    """LoadGen's single-stream loop (results.cc), written as it is there."""
    n = len(sorted_lat)
    h_min = stats.min_passing(1, p)
    if n < h_min + 1:
        return None
    t = 1
    for i in range(2, n + 1):
        if n < stats.min_passing(i, p) + i:
            t = i - 1
            break
    return sorted_lat[n - t]


def test_early_stopping_estimate_is_loadgens():
    rng = np.random.default_rng(3)
    for n in (10, 63, 64, 65, 150, 700):
        x = rng.lognormal(2, 0.5, n)
        for p in (0.9, 0.99):
            est = stats.early_stopping_estimate(x, p)
            assert est["value"] == _loadgen_estimate(sorted(x), p)
            assert est["min_queries"] == stats.min_queries(p)
            if est["value"] is not None:
                assert est["value"] >= np.percentile(x, 100 * p)  # a conservative (upper) estimate


def _fake_step(values):
    cycle = itertools.cycle(values)

    def step():
        v = next(cycle)
        return {"preprocess": 0.0, "forward": v, "postprocess": 0.0, "end_to_end": v}

    return step


def test_single_stream_stops_by_its_stated_rule():
    tight = single_stream(_fake_step([10.0, 10.1, 10.2, 10.05]), SingleStreamRule(rel_width=0.05))
    assert tight["stop"] == "interval" and tight["interval_met"] and tight["n"] == 64  # the MLPerf minimum is enough
    spread = single_stream(_fake_step(list(np.random.default_rng(0).lognormal(3, 1.0, 997))), SingleStreamRule(rel_width=0.10, max_samples=300))
    assert spread["stop"] == "max_samples" and spread["n"] == 300 and not spread["interval_met"]
    slow = single_stream(lambda: (time.sleep(0.02), {"preprocess": 0, "forward": 20, "postprocess": 0, "end_to_end": 20.0})[1],
                         SingleStreamRule(max_seconds=0.1))  # fmt: skip
    assert slow["stop"] == "max_seconds" and 2 <= slow["n"] < 64
    assert slow["percentiles"]["p99"]["hi"] is None  # too few samples: the interval says so, no made-up bound
    mid = single_stream(_fake_step(list(np.random.default_rng(1).lognormal(3, 0.1, 5000))), SingleStreamRule(rel_width=0.08))
    assert mid["stop"] == "interval" and (mid["n"] - 64) % 16 == 0
    head = mid["percentiles"]["p90"]
    assert stats.relative_width(head) <= 0.08 and head["lo"] <= head["value"] <= head["hi"]
    assert mid["early_stopping"]["p90"]["value"] is not None and mid["headline"] == "p90"


def test_offline_overlaps_the_stages_and_counts_what_it_ran():
    loaded = []
    det = SleepDetector(pre_ms=1.0, fwd_ms=3.0, post_ms=1.0)
    r = offline(det, [0, 1, 2], 2, OfflineRule(seconds=0.2, min_batches=3, warmup_batches=1), load=lambda i: (loaded.append(i), IMAGES[i])[1])
    assert r["batches"] >= 3 and r["images"] == 2 * r["batches"] and r["decode_included"]
    assert r["forward_ms"]["n"] == r["batches"] and 0 < r["busy"] <= 1
    assert r["images_per_s"] == pytest.approx(r["images"] / r["seconds"])
    assert set(loaded) == {0, 1, 2}

    class Broken(SleepDetector):
        def preprocess(self, images):
            if self.calls >= 2:
                raise RuntimeError("bad image")
            return super().preprocess(images)

    with pytest.raises(RuntimeError, match="bad image"):
        offline(Broken(), IMAGES, 1, OfflineRule(seconds=0.2, warmup_batches=2))

    class BrokenPost(SleepDetector):
        def postprocess(self, raw, batch):
            if self.calls >= 2:
                raise RuntimeError("bad output")
            return super().postprocess(raw, batch)

    with pytest.raises(RuntimeError, match="bad output"):  # the consumer thread died: raised, never a hang on a full queue
        offline(BrokenPost(fwd_ms=0.1), IMAGES, 1, OfflineRule(seconds=0.5, warmup_batches=1, min_batches=50, depth=1))


def test_server_counts_queue_wait_and_applies_mlperfs_rule():
    step = lambda: (time.sleep(0.002), {"end_to_end": 2.0})[1]  # noqa: E731
    r = server_run(step, 100.0, ServerRule(bound_ms=1000.0, percentile=0.9, queries=50))
    assert r["over_bound"] == 0 and r["needed_queries"] == stats.min_passing(0, 0.9) and r["passed"]
    assert r["latency_ms"]["min"] >= 2.0  # service time at least
    never = server_run(step, 100.0, ServerRule(bound_ms=0.5, percentile=0.9, queries=50))
    assert never["over_bound"] == 50 and not never["passed"]
    with pytest.raises(ValueError, match="can never pass"):
        max_server_rate(step, ServerRule(percentile=0.99, queries=100), 2.0)
    search = max_server_rate(step, ServerRule(bound_ms=0.5, percentile=0.9, queries=50, steps=2), 2.0)
    assert search["max_rate_qps"] is None and len(search["runs"]) == 2 and search["note"]


def test_scenario_names():
    assert scenario_names("single-stream, offline") == ("single-stream", "offline")
    assert scenario_names("none") == () and scenario_names("") == ()
    with pytest.raises(ValueError, match="single-stream"):
        scenario_names("singlestream")
    with pytest.raises(ValueError, match="unknown scenario"):
        SpeedSettings(scenarios=("batch",))


def test_load_meter_sees_other_processes():
    with LoadMeter() as m:
        pass
    assert set(m.result) >= {"others_share", "self_share", "busy", "before", "after"}
    cpu0, self0 = (1000, 10000), 0
    import bench.speed.machine as machine

    real = machine._cpu_jiffies, machine._self_jiffies
    try:  # 1000 busy ticks of 10000, 100 of them ours: others used 9 % of the machine
        machine._cpu_jiffies, machine._self_jiffies = (lambda: (2000, 20000)), (lambda: 100)
        quiet = measure_window({}, cpu0, self0, time.perf_counter())
        assert quiet["others_share"] == pytest.approx(0.09) and not quiet["busy"]
        machine._cpu_jiffies = lambda: (1000 + 6000, 20000)
        busy = measure_window({}, cpu0, self0, time.perf_counter())
        assert busy["others_share"] == pytest.approx(0.59) and busy["busy"] and busy["busy_threshold"] == BUSY_SHARE
        machine._self_jiffies = lambda: None
        assert measure_window({}, cpu0, self0, time.perf_counter())["busy"] is False  # unknown load: never called busy
    finally:
        machine._cpu_jiffies, machine._self_jiffies = real


def test_speed_record_with_scenarios_validates():
    jsonschema = pytest.importorskip("jsonschema")
    settings = SpeedSettings(batch_sizes=(1, 2), iters=3, warmup=WarmupRule(min_iters=1, window=1, max_iters=2), count_flops=False,
                             scenarios=("single-stream", "offline", "server"), single_stream=SingleStreamRule(max_seconds=0.3),
                             offline=OfflineRule(seconds=0.1), server=ServerRule(bound_ms=500, percentile=0.9, queries=45, steps=1))  # fmt: skip
    rec = json.loads(json.dumps(measure_speed("sleep", lambda dtype: SleepDetector(pre_ms=0.5, fwd_ms=1, post_ms=0.5), IMAGES, settings)))
    jsonschema.validate(rec, SCHEMA)
    sc = rec["scenarios"]
    assert sc["offline"]["batch_size"] == 2 and sc["single-stream"]["n"] >= 2 and len(sc["server"]["runs"]) == 1
    s = rec["summary"]
    assert s["latency_p90_ms"] == sc["single-stream"]["percentiles"]["p90"]["value"] and s["offline_batch_size"] == 2
    assert s["machine_busy"] == sc["single-stream"]["machine"]["busy"]
    bad = json.loads(json.dumps(rec))
    del bad["scenarios"]["single-stream"]["percentiles"]["p90"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


@pytest.mark.parametrize("n", [2, 3, 5, 20])
@pytest.mark.parametrize("q", [50.0, 90.0, 99.0])
def test_every_interval_end_brackets_its_estimate(n, q):
    """Few samples: an order-statistic end can lie past numpy's interpolated percentile (n = 2, p99:
    the lower end is the maximum); the interval is widened to hold the estimate, never inverted."""
    samples = np.random.default_rng(n).lognormal(3.0, 0.3, n)
    ci = stats.percentile_interval(samples, q)
    assert ci["lo"] is None or ci["lo"] <= ci["value"]
    assert ci["hi"] is None or ci["hi"] >= ci["value"]
