"""Does the speed gate flake, miss, or invert? (bench.gate.speed on real single-stream timings.)

Not a test: timings depend on the machine. The model is the embedded real YOLOX-Nano ONNX
(onnxruntime on the CPU) on the first 4 images of the embedded coco-val2017-mini. One "run" is the
single-stream scenario (bench.speed.scenarios.single_stream, its stated rule: >= 64 samples, then
until the p90 interval is within 10 %, capped at ``--seconds``) with the machine's load measured
over it (bench.speed.machine.LoadMeter), turned into the gate's latency record and judged by
``bench.gate.speed.judge`` at the default tolerance (10 %).

Trials, interleaved so that every kind of run sees the same machine:
- ``unchanged``: ``--trials`` re-runs of the same model, each judged against the baseline run: a
  REGRESSION verdict is a false alarm;
- ``slowed``: ``--trials`` runs with an injected 20 % slowdown (each image's pipeline, then a CPU spin
  of 20 % of its measured time): a REGRESSION verdict is a detection;
- ``loaded``: runs made while ``--burners`` processes spin on the CPUs: (a) the unchanged model
  under load against the quiet baseline, and (b) the quiet plain model judged against a baseline of
  the slowed ("older, slower") model timed under load. Neither may be a REGRESSION: (a) must be
  ok or "machine busy", (b) must be ok, faster or "machine busy".

Paired (``--parts paired``): the same three questions with A (baseline) and B (candidate) timed
interleaved in one process (bench.speed.interleaved: ``--rounds`` rounds of ``--per-round`` images
each, order alternating), judged by ``bench.gate.speed.judge_paired``: both share the machine's
load, so these are judged even when the machine is busy.

Every run records the load average and the share of the CPUs other processes used. Besides the
gate's verdict, the table shows what the interval rule alone would have said ("forced": busy
ignored), so the cost of refusing a busy machine is visible. Writes
``benchmarks/results/bench_gate-<time>.json``.

    python benchmarks/bench_gate.py                   # 20 + 20 trials, 2 burners, stored and paired
    python benchmarks/bench_gate.py --trials 5 --seconds 4 --parts paired
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gate.speed import judge, judge_paired  # noqa: E402
from bench.speed.interleaved import interleaved  # noqa: E402
from bench.speed.machine import LoadMeter  # noqa: E402
from bench.speed.scenarios import SingleStreamRule, single_stream  # noqa: E402
from bench.speed.timing import Clock, WarmupRule, batches, iteration, warm_up  # noqa: E402


def _spin(stop) -> None:
    while not stop.is_set():
        pass


def load_model():
    from bench.data.catalog import load_dataset
    from bench.data.images import load_image
    from detectors.registry import build

    ds, root, _ = load_dataset("coco-val2017-mini")
    images = [load_image(root / ds.images.files[i]) for i in range(4)]
    return build("yolox_nano", list(ds.categories.names), device="cpu"), images


def make_step(detector, images, slowdown: float):
    """One image through the pipeline (stage -> ms), slowed by ``slowdown`` of its time, spent spinning."""
    clock, feed = Clock("cpu"), batches(images, 1)

    def step():
        t0 = time.perf_counter()
        r = iteration(detector, next(feed), clock)
        if slowdown:
            until = t0 + (1.0 + slowdown) * (time.perf_counter() - t0)
            while time.perf_counter() < until:
                pass
            r["end_to_end"] = (time.perf_counter() - t0) * 1000.0
        return r

    return step


def one_run(detector, images, slowdown: float, rule: SingleStreamRule) -> dict:
    """A single-stream run, as a unit's speed record gives it to the gate."""
    step = make_step(detector, images, slowdown)
    warm_up(step, WarmupRule(min_iters=3, window=3, max_iters=20, max_seconds=5.0))
    with LoadMeter(probe=True) as m:
        res = single_stream(step, rule)
    p = res["percentiles"]["p50"]
    import onnxruntime

    return {"p50_ms": p["value"], "interval_ms": [p["lo"], p["hi"]], "n": res["n"], "busy": m.result["busy"],
            "others_share": m.result["others_share"], "probe_ms": m.result["probe_ms"], "loadavg": m.result["before"]["loadavg"], "stop": res["stop"],
            "machine": {"cpu": "this machine", "cpu_count": os.cpu_count(), "device": "cpu", "onnxruntime": onnxruntime.__version__}}  # fmt: skip


def verdicts(base: dict, cur: dict, tol: float) -> dict:
    delta, verdict = judge(base, cur, tol)
    ignore = {"busy": False, "others_share": None, "probe_ms": None}  # the interval rule alone: no busy or probe check
    forced = judge({**base, **ignore}, {**cur, **ignore}, tol)[1]
    return {"verdict": verdict, "forced": forced, "delta": delta, "base_p50": base["p50_ms"], "cur_p50": cur["p50_ms"],
            "base_others": base["others_share"], "cur_others": cur["others_share"], "base_probe_ms": base["probe_ms"],
            "cur_probe_ms": cur["probe_ms"], "cur_loadavg": cur["loadavg"], "cur_n": cur["n"]}  # fmt: skip


def paired(detector, images, slow_a: float, slow_b: float, args) -> dict:
    """A (slowed by ``slow_a``) and B (by ``slow_b``) timed interleaved, judged."""
    a, b = make_step(detector, images, slow_a), make_step(detector, images, slow_b)
    for step in (a, b):
        warm_up(step, WarmupRule(min_iters=3, window=3, max_iters=20, max_seconds=5.0))
    res = interleaved(a, b, args.rounds, args.per_round)
    delta, verdict = judge_paired(res, args.tol)
    return {"verdict": verdict, "delta": delta, "ratio": res["ratio"], "interval": res["interval"], "a_ms": res["a_ms"], "b_ms": res["b_ms"],
            "others": res["machine"]["others_share"], "loadavg": res["machine"]["before"]["loadavg"]}  # fmt: skip


def under_load(burners: int, run):
    """``run()`` while ``burners`` processes spin on the CPUs."""
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(burners)]
    for p in procs:
        p.start()
    try:
        time.sleep(1.0)
        return run()
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=5)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=6.0, help="cap of each single-stream run")
    ap.add_argument("--tol", type=float, default=0.10)
    ap.add_argument("--slowdown", type=float, default=0.20)
    ap.add_argument("--burners", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10, help="paired: rounds per comparison")
    ap.add_argument("--per-round", type=int, default=5, help="paired: images per side per round")
    ap.add_argument("--parts", default="stored,paired", help="stored, paired, or both (comma-separated)")
    args = ap.parse_args()
    rule = SingleStreamRule(max_seconds=args.seconds)
    detector, images = load_model()
    t0 = time.time()
    result: dict = {"args": vars(args), "loadavg_start": list(os.getloadavg())}
    if "stored" in args.parts:
        result["stored"] = stored(detector, images, rule, args)
    if "paired" in args.parts:
        result["paired"] = paired_part(detector, images, args)
    result["seconds"] = time.time() - t0
    path = Path(__file__).resolve().parent / "results" / f"bench_gate-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    print(f"wrote {path}")
    return 0


def paired_part(detector, images, args) -> dict:
    out: dict = {"unchanged": [], "slowed": [], "loaded": {}}
    for i in range(args.trials):
        out["unchanged"].append(paired(detector, images, 0.0, 0.0, args))
        out["slowed"].append(paired(detector, images, 0.0, args.slowdown, args))
        u, s = out["unchanged"][-1], out["slowed"][-1]
        print(f"paired {i + 1:2d}: unchanged {u['verdict']:<10} {u['delta'][:9]:<9} slowed {s['verdict']:<10} {s['delta'][:9]:<9} "
              f"others {u['others'] or 0:4.0%}/{s['others'] or 0:4.0%}  load {u['loadavg'][0]:.1f}")  # fmt: skip
    out["loaded"]["unchanged_under_load"] = under_load(args.burners, lambda: paired(detector, images, 0.0, 0.0, args))
    out["loaded"]["faster_build_under_load"] = under_load(args.burners, lambda: paired(detector, images, args.slowdown, 0.0, args))
    for k, v in out["loaded"].items():
        print(f"paired {k}: {v['verdict']} {v['delta']}; others {v['others'] or 0:.0%}, load {v['loadavg'][0]:.1f}")
    count = lambda rows, val: sum(r["verdict"] == val for r in rows)  # noqa: E731
    out["summary"] = {"false_alarms": count(out["unchanged"], "REGRESSION"), "detected": count(out["slowed"], "REGRESSION"),
                      "trials": args.trials, "loaded_never_regression": all(v["verdict"] != "REGRESSION" for v in out["loaded"].values()),
                      "loadavg_end": list(os.getloadavg())}  # fmt: skip
    print("paired: " + json.dumps(out["summary"]))
    return out


def stored(detector, images, rule, args) -> dict:
    t0 = time.time()
    base = one_run(detector, images, 0.0, rule)
    out: dict = {"baseline": base, "unchanged": [], "slowed": [], "loaded": {}}
    for i in range(args.trials):
        out["unchanged"].append(verdicts(base, one_run(detector, images, 0.0, rule), args.tol))
        out["slowed"].append(verdicts(base, one_run(detector, images, args.slowdown, rule), args.tol))
        u, s = out["unchanged"][-1], out["slowed"][-1]
        print(f"trial {i + 1:2d}: unchanged {u['verdict']:<14} (forced {u['forced']:<10}) {u['delta'][:16]:<16} others {u['cur_others'] or 0:4.0%}  "
              f"slowed {s['verdict']:<14} (forced {s['forced']:<10}) {s['delta'][:16]:<16} others {s['cur_others'] or 0:4.0%}  load {u['cur_loadavg'][0]:.1f}  "
              f"probe {'/'.join(f'{p:.2f}' for p in u['cur_probe_ms'] + s['cur_probe_ms'])} ms")  # fmt: skip
    out["loaded"]["unchanged_under_load"] = verdicts(base, under_load(args.burners, lambda: one_run(detector, images, 0.0, rule)), args.tol)
    old_slow_loaded = under_load(args.burners, lambda: one_run(detector, images, args.slowdown, rule))
    out["loaded"]["faster_build_vs_loaded_baseline"] = verdicts(old_slow_loaded, one_run(detector, images, 0.0, rule), args.tol)
    for k, v in out["loaded"].items():
        print(f"{k}: {v['verdict']} (forced {v['forced']}) {v['delta']}; others {v['base_others'] or 0:.0%} / {v['cur_others'] or 0:.0%}")
    count = lambda rows, key, val: sum(r[key] == val for r in rows)  # noqa: E731
    probes = [p for r in out["unchanged"] + out["slowed"] for p in r["cur_probe_ms"]]
    summary = {
        "false_alarms": count(out["unchanged"], "verdict", "REGRESSION"), "unchanged_busy": count(out["unchanged"], "verdict", "machine busy"),
        "unchanged_speed_differs": count(out["unchanged"], "verdict", "machine speed differs"),
        "false_alarms_forced": count(out["unchanged"], "forced", "REGRESSION"),
        "detected": count(out["slowed"], "verdict", "REGRESSION"), "slowed_busy": count(out["slowed"], "verdict", "machine busy"),
        "slowed_speed_differs": count(out["slowed"], "verdict", "machine speed differs"),
        "probe_ms_range": [min(probes), max(probes)],
        "detected_forced": count(out["slowed"], "forced", "REGRESSION"), "trials": args.trials,
        "loaded_never_regression": all(v["verdict"] != "REGRESSION" for v in out["loaded"].values()),
        "seconds": time.time() - t0, "loadavg_end": list(os.getloadavg()),
    }  # fmt: skip
    out["summary"] = summary
    print("stored: " + json.dumps(summary))
    return out


if __name__ == "__main__":
    sys.exit(main())
