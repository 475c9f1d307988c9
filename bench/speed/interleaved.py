"""Two pipelines timed interleaved in one process: A/B comparison that holds on a busy machine.

Stored runs taken at different times see different machines (other processes, clocks), so the gate
refuses to judge them when the machine was busy (:mod:`bench.gate.speed`). Timed interleaved, A and B
share whatever load there is: each round runs ``per_round`` single images through A and through B
(the order alternates every round: AB, BA, AB, ... so a trend within a round does not favour one),
and the round's ratio is ``median(B) / median(A)``. The result is the median of the round ratios
with its distribution-free 95 % interval (order statistics over rounds, :mod:`bench.speed.stats`).
Use it for a baseline build vs a candidate, fp32 vs fp16, one postprocess vs another. Times in ms.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from bench.speed.machine import LoadMeter
from bench.speed.stats import percentile_interval


def interleaved(step_a: Callable[[], dict], step_b: Callable[[], dict], rounds: int = 12, per_round: int = 6,
                confidence: float = 0.95) -> dict:  # fmt: skip
    """``{"ratio", "interval", "rounds", "per_round", "ratios", "a_ms", "b_ms", "machine"}``: ratio is the
    median over rounds of B's median end-to-end time over A's (> 1: B is slower); ``interval`` is its
    ``confidence`` interval (None ends when ``rounds`` is too small, fewer than 6 at 95 %)."""
    if rounds < 1 or per_round < 1:
        raise ValueError(f"rounds and per_round must be at least 1, got {rounds}, {per_round}")
    ratios, a_all, b_all = [], [], []
    with LoadMeter() as meter:
        for r in range(rounds):
            times = {"a": [], "b": []}
            for side in ("a", "b") if r % 2 == 0 else ("b", "a"):
                step = step_a if side == "a" else step_b
                times[side] = [step()["end_to_end"] for _ in range(per_round)]
            a, b = float(np.median(times["a"])), float(np.median(times["b"]))
            ratios.append(b / a)
            a_all += times["a"]
            b_all += times["b"]
    iv = percentile_interval(ratios, 50, confidence)
    return {"ratio": iv["value"], "interval": [iv["lo"], iv["hi"]], "rounds": rounds, "per_round": per_round, "ratios": ratios,
            "a_ms": float(np.median(a_all)), "b_ms": float(np.median(b_all)), "machine": meter.result}  # fmt: skip
