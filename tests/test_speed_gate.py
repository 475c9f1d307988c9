"""The speed part of the gate (bench.gate.speed): intervals compared, a busy machine refused, other
hardware not compared, and no normalisation that can invert a verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.gate.check import SPEED_METRIC, compare, make_baseline, summary_line
from bench.gate.speed import judge
from bench.jsonio import dump_json
from bench.speed.machine import BUSY_SHARE

MACHINE = {"cpu": "Test CPU", "cpu_count": 2, "affinity": 2, "torch": {"threads": 2}}


def lat(p50, half=0.03, busy=False, share=0.0, **machine):
    return {"p50_ms": p50, "interval_ms": [p50 * (1 - half), p50 * (1 + half)], "n": 100, "busy": busy, "others_share": share,
            "machine": {"cpu": "Test CPU", "cpu_count": 2, "affinity": 2, "torch_threads": 2, "device": "cpu", **machine}}  # fmt: skip


def test_a_real_slowdown_with_apart_intervals_is_a_regression():
    assert judge(lat(10.0), lat(12.0), 0.10)[1] == "REGRESSION"
    assert judge(lat(10.0), lat(10.5), 0.10)[1] == "ok"  # apart but within the tolerance
    assert judge(lat(10.0, half=0.2), lat(12.0, half=0.2), 0.10)[1] == "ok"  # 20 % slower but the intervals overlap: not shown
    assert judge(lat(10.0), lat(8.0), 0.10)[1] == "faster"


def test_a_busy_machine_is_refused_on_either_side_never_judged():
    for base, cur in [(lat(10.0), lat(30.0, busy=True, share=0.9)), (lat(10.0, busy=True, share=0.6), lat(12.0)),
                      (lat(10.0), lat(30.0, share=BUSY_SHARE + 0.01))]:  # fmt: skip
        delta, verdict = judge(base, cur, 0.10)
        assert verdict == "machine busy" and "of the CPUs" in delta
    # a loaded baseline, a quiet faster build: the old reference normalisation called this +546 %; now it is refused
    assert judge(lat(148.0, busy=True, share=0.95), lat(19.0), 0.10)[1] == "machine busy"


def test_a_machine_that_ran_at_another_speed_is_not_judged():
    """The load figures saw nothing (others 0 %), but the fixed probe ran slower: not a verdict on
    the model. Within the tolerance, or without a probe on a side, the intervals decide."""
    from bench.gate.speed import PROBE_TOL

    slow = (1 + PROBE_TOL) * 1.1
    delta, verdict = judge({**lat(10.0), "probe_ms": [4.0, 4.0]}, {**lat(15.0), "probe_ms": [4.0 * slow, 4.0 * slow]}, 0.10)
    assert verdict == "machine speed differs" and "the machine itself ran at another speed" in delta and "+50.0 %" in delta
    delta, verdict = judge({**lat(10.0), "probe_ms": [4.0, 4.0]}, {**lat(15.0), "probe_ms": [4.0, 4.0 * slow]}, 0.10)
    assert verdict == "machine speed differs" and "within the run's window" in delta
    assert judge({**lat(10.0), "probe_ms": [4.0 * slow, 4.0]}, {**lat(10.0), "probe_ms": [4.0, 4.0]}, 0.10)[1] == "machine speed differs"
    near = 1 + PROBE_TOL * 0.8
    assert judge({**lat(10.0), "probe_ms": [4.0, 4.0]}, {**lat(15.0), "probe_ms": [4.0 * near, 4.0 * near]}, 0.10)[1] == "REGRESSION"
    assert judge({**lat(10.0), "probe_ms": None}, {**lat(15.0), "probe_ms": [9.0, 9.0]}, 0.10)[1] == "REGRESSION"
    assert judge(lat(10.0, busy=True, share=0.9), {**lat(15.0), "probe_ms": [9.0, 9.0]}, 0.10)[1] == "machine busy"  # busy first


def test_the_speed_probe_times_every_usable_cpu_and_restores_the_mask():
    import os

    from bench.speed.machine import LoadMeter, speed_probe

    mask = os.sched_getaffinity(0)
    p = speed_probe(repeats=2)
    assert os.sched_getaffinity(0) == mask and p["cpus"] == sorted(mask)[: len(p["cpus"])] and len(p["solo_ms"]) == len(mask)
    assert len(p["parallel_ms"] or []) == (len(mask) if len(mask) > 1 else 0)
    assert p["slowest_ms"] == max(p["solo_ms"] + (p["parallel_ms"] or [])) and all(0 < t < 1000 for t in p["solo_ms"])
    with LoadMeter(probe=True) as m:
        pass
    assert len(m.result["probe_ms"]) == 2 and all(t > 0 for t in m.result["probe_ms"])
    with LoadMeter() as m:
        pass
    assert "probe_ms" not in m.result


def test_a_baseline_probe_must_be_two_positive_numbers():
    from bench.gate.speed import validate_latency

    def fail(field, message):
        raise ValueError(f"{field}: {message}")

    validate_latency({**lat(10.0), "probe_ms": [4.0, 4.1]}, fail)
    validate_latency(lat(10.0), fail)  # baselines made before the probe have none
    for bad in ([4.0], [4.0, -1.0], "4", [4.0, float("nan")]):
        with pytest.raises(ValueError, match="latency.probe_ms"):
            validate_latency({**lat(10.0), "probe_ms": bad}, fail)


def test_other_hardware_or_threads_is_not_compared():
    delta, verdict = judge(lat(10.0), lat(20.0, cpu="Other CPU"), 0.10)
    assert verdict == "not comparable" and "'Test CPU' vs 'Other CPU'" in delta
    assert judge(lat(10.0), lat(20.0, torch_threads=1), 0.10)[1] == "not comparable"
    assert judge(lat(10.0), lat(20.0, cpu=None), 0.10)[1] == "REGRESSION"  # unknown on one side: compared


def test_no_interval_is_not_judged():
    cur = {**lat(20.0), "interval_ms": [None, 21.0]}
    assert judge(lat(10.0), cur, 0.10)[1] == "too few samples"
    assert judge(lat(10.0), {**lat(20.0), "interval_ms": None}, 0.10)[1] == "too few samples"


def _run(path: Path, p50: float, busy: bool = False, cpu: str = "Test CPU") -> Path:
    unit = path / "u"
    unit.mkdir(parents=True)
    dump_json(path / "run.json", {"run_id": path.name, "reference_ms": 515.0 if busy else 10.4})  # recorded, never divided by
    speed = {"latency_p50_ms": p50, "latency_intervals_ms": {"p50": [0.97 * p50, 1.03 * p50]}, "single_stream_n": 80,
             "machine_busy": busy, "others_cpu_share": 0.9 if busy else 0.02}  # fmt: skip
    dump_json(unit / "record.json", {"dataset": "d", "detector": "m", "status": "ok", "speed_summary": speed, "settings": {"device": "cpu"},
                                     "environment": {**MACHINE, "cpu": cpu}})  # fmt: skip
    dump_json(unit / "metrics.json", {"metrics": {"AP": 0.5}})
    return path


def test_gate_rows_from_runs(tmp_path):
    base = make_baseline(_run(tmp_path / "a", 10.0))
    assert base["units"]["d/m"]["latency"]["interval_ms"] == pytest.approx([9.7, 10.3])
    assert base["units"]["d/m"]["latency"]["machine"]["torch_threads"] == 2
    rows = {r.metric: r for r in compare(base, _run(tmp_path / "slower", 12.0))}
    assert not rows[SPEED_METRIC].ok and rows[SPEED_METRIC].verdict == "REGRESSION" and "+20.0 %" in rows[SPEED_METRIC].delta
    busy = [r for r in compare(base, _run(tmp_path / "busy", 60.0, busy=True)) if r.metric == SPEED_METRIC]
    assert busy[0].ok and busy[0].verdict == "machine busy"
    assert "1 speed row(s) not judged: machine busy" in summary_line(busy) and summary_line(busy).startswith("no regressions")
    loaded_base = make_baseline(_run(tmp_path / "loaded", 148.0, busy=True))
    faster = [r for r in compare(loaded_base, _run(tmp_path / "quiet", 19.0)) if r.metric == SPEED_METRIC]
    assert faster[0].ok and faster[0].verdict == "machine busy"  # never "a regression of a faster build"
    other = [r for r in compare(base, _run(tmp_path / "other", 30.0, cpu="Other CPU")) if r.metric == SPEED_METRIC]
    assert other[0].ok and other[0].verdict == "not comparable"


def test_interleaved_timing_and_its_verdict():
    import itertools

    from bench.gate.speed import judge_paired
    from bench.speed.interleaved import interleaved

    def steps(values):
        it = itertools.cycle(values)
        return lambda: {"end_to_end": next(it)}

    same = interleaved(steps([10.0, 10.2, 9.9]), steps([10.0, 10.2, 9.9]), rounds=12, per_round=3)
    assert same["ratio"] == 1.0 and same["rounds"] == 12 and len(same["ratios"]) == 12 and "others_share" in same["machine"]
    assert judge_paired(same, 0.10)[1] == "ok"
    slow = interleaved(steps([10.0, 10.2, 9.9]), steps([12.0, 12.3, 11.9]), rounds=12, per_round=3)
    assert slow["ratio"] > 1.15 and slow["interval"][0] > 1 and judge_paired(slow, 0.10)[1] == "REGRESSION"
    assert judge_paired(interleaved(steps([12.0]), steps([10.0]), rounds=8, per_round=2), 0.10)[1] == "faster"
    assert judge_paired(interleaved(steps([10.0]), steps([20.0]), rounds=3, per_round=2), 0.10)[1] == "too few samples"
    # the order alternates every round: A first in even rounds, B first in odd ones
    order = []
    interleaved(lambda: (order.append("a"), {"end_to_end": 1.0})[1], lambda: (order.append("b"), {"end_to_end": 1.0})[1], rounds=2, per_round=1)
    assert order == ["a", "b", "b", "a"]
    with pytest.raises(ValueError):
        interleaved(steps([1.0]), steps([1.0]), rounds=0)
