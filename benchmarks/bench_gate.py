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

Every run records the load average and the share of the CPUs other processes used. Besides the
gate's verdict, the table shows what the interval rule alone would have said ("forced": busy
ignored), so the cost of refusing a busy machine is visible. Writes
``benchmarks/results/bench_gate-<time>.json``.

    python benchmarks/bench_gate.py                   # 20 + 20 trials, 2 burners
    python benchmarks/bench_gate.py --trials 5 --seconds 4
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

from bench.gate.speed import judge  # noqa: E402
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


def one_run(detector, images, slowdown: float, rule: SingleStreamRule) -> dict:
    """A single-stream run (optionally slowed by ``slowdown`` of each image's time, spent spinning)."""
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

    warm_up(step, WarmupRule(min_iters=3, window=3, max_iters=20, max_seconds=5.0))
    with LoadMeter() as m:
        res = single_stream(step, rule)
    p = res["percentiles"]["p50"]
    import onnxruntime

    return {"p50_ms": p["value"], "interval_ms": [p["lo"], p["hi"]], "n": res["n"], "busy": m.result["busy"],
            "others_share": m.result["others_share"], "loadavg": m.result["before"]["loadavg"], "stop": res["stop"],
            "machine": {"cpu": "this machine", "cpu_count": os.cpu_count(), "device": "cpu", "onnxruntime": onnxruntime.__version__}}  # fmt: skip


def verdicts(base: dict, cur: dict, tol: float) -> dict:
    delta, verdict = judge(base, cur, tol)
    forced = judge({**base, "busy": False, "others_share": None}, {**cur, "busy": False, "others_share": None}, tol)[1]
    return {"verdict": verdict, "forced": forced, "delta": delta, "base_p50": base["p50_ms"], "cur_p50": cur["p50_ms"],
            "base_others": base["others_share"], "cur_others": cur["others_share"], "cur_loadavg": cur["loadavg"], "cur_n": cur["n"]}  # fmt: skip


def loaded(detector, images, slowdown, rule, burners: int) -> dict:
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(burners)]
    for p in procs:
        p.start()
    try:
        time.sleep(1.0)
        return one_run(detector, images, slowdown, rule)
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
    args = ap.parse_args()
    rule = SingleStreamRule(max_seconds=args.seconds)
    detector, images = load_model()
    t0 = time.time()
    base = one_run(detector, images, 0.0, rule)
    out: dict = {"baseline": base, "unchanged": [], "slowed": [], "loaded": {}}
    for i in range(args.trials):
        out["unchanged"].append(verdicts(base, one_run(detector, images, 0.0, rule), args.tol))
        out["slowed"].append(verdicts(base, one_run(detector, images, args.slowdown, rule), args.tol))
        u, s = out["unchanged"][-1], out["slowed"][-1]
        print(f"trial {i + 1:2d}: unchanged {u['verdict']:<14} (forced {u['forced']:<10}) {u['delta'][:16]:<16} others {u['cur_others'] or 0:4.0%}  "
              f"slowed {s['verdict']:<14} (forced {s['forced']:<10}) {s['delta'][:16]:<16} others {s['cur_others'] or 0:4.0%}  load {u['cur_loadavg'][0]:.1f}")  # fmt: skip
    out["loaded"]["unchanged_under_load"] = verdicts(base, loaded(detector, images, 0.0, rule, args.burners), args.tol)
    old_slow_loaded = loaded(detector, images, args.slowdown, rule, args.burners)
    out["loaded"]["faster_build_vs_loaded_baseline"] = verdicts(old_slow_loaded, one_run(detector, images, 0.0, rule), args.tol)
    for k, v in out["loaded"].items():
        print(f"{k}: {v['verdict']} (forced {v['forced']}) {v['delta']}; others {v['base_others'] or 0:.0%} / {v['cur_others'] or 0:.0%}")
    count = lambda rows, key, val: sum(r[key] == val for r in rows)  # noqa: E731
    summary = {
        "false_alarms": count(out["unchanged"], "verdict", "REGRESSION"), "unchanged_busy": count(out["unchanged"], "verdict", "machine busy"),
        "false_alarms_forced": count(out["unchanged"], "forced", "REGRESSION"),
        "detected": count(out["slowed"], "verdict", "REGRESSION"), "slowed_busy": count(out["slowed"], "verdict", "machine busy"),
        "detected_forced": count(out["slowed"], "forced", "REGRESSION"), "trials": args.trials,
        "loaded_never_regression": all(v["verdict"] != "REGRESSION" for v in out["loaded"].values()),
        "seconds": time.time() - t0, "loadavg_end": list(os.getloadavg()),
    }  # fmt: skip
    out["summary"] = summary
    print(json.dumps(summary))
    path = Path(__file__).resolve().parent / "results" / f"bench_gate-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
