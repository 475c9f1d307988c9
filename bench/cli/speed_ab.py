"""``bench speed --against WEIGHTS``: the candidate (``--weights``) timed interleaved with a
baseline (``--against``) in one process, and judged as the speed gate judges paired timings.

Stored runs taken at different times see different machines; timed interleaved, both sides share
whatever state the machine is in (``bench.speed.interleaved``: rounds of a few single images
through A then B, order alternating, the median of the per-round ratios with its order-statistic
interval). ``bench.gate.speed.judge_paired`` calls a REGRESSION when the ratio is more than
``--speed-tol`` above 1 and its interval lies above 1 (exit 1). Measured on this project's
2-core machine (``benchmarks/bench_gate.py``): 0 false alarms in 20 unchanged pairs and 19-20 of
20 injected 20 % slowdowns caught, in two quiet runs; never a regression under load.

May import: bench.speed, bench.gate, bench.jsonio, detectors (through the caller's factory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence


def speed_against(args, make: Callable[[str | None], object], images: Sequence, info: dict) -> int:
    """Time ``make(args.against)`` (A, the baseline) and ``make(args.weights)`` (B, the candidate)
    interleaved on ``images``; print the verdict, write the record, exit 1 on a REGRESSION."""
    import time

    from bench.cli.parsing import write_out
    from bench.gate.speed import judge_paired
    from bench.speed.environment import environment
    from bench.speed.interleaved import interleaved
    from bench.speed.timing import Clock, WarmupRule, batches, iteration, warm_up

    clock, steps = Clock(args.device), []
    for weights in (args.against, args.weights):
        det, feed = make(weights), batches(images, 1)
        step = lambda det=det, feed=feed: iteration(det, next(feed), clock)  # noqa: E731
        warm_up(step, WarmupRule())
        steps.append(step)
    result = interleaved(steps[0], steps[1], rounds=args.rounds, per_round=args.per_round)
    delta, verdict = judge_paired(result, args.speed_tol)
    print(f"{args.detector}: candidate {args.weights or 'default weights'} vs baseline {args.against}, timed interleaved "
          f"({result['rounds']} rounds x {result['per_round']} images per side, {args.device}): "
          f"p50 {result['b_ms']:.2f} vs {result['a_ms']:.2f} ms, {delta}: {verdict}")  # fmt: skip
    record = {"schema": "detbench.speed_ab/1", "detector": args.detector, "baseline_weights": args.against,
              "candidate_weights": args.weights, "device": args.device, "speed_tol": args.speed_tol, "verdict": verdict,
              "delta": delta, **result, "data": info, "environment": environment(args.device)}  # fmt: skip
    write_out(str(args.out or Path("runs") / "speed" / f"{args.detector}-ab-{time.strftime('%Y%m%d-%H%M%S')}.json"), record)
    return 1 if verdict == "REGRESSION" else 0
