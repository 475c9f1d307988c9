"""The CI regression gate: compare a run with a stored baseline.

Accuracy: absolute tolerance per metric (default 0.5 AP points). Speed: noise-aware. Each run
times a fixed reference workload in the same process (``reference_workload``); latencies are
compared divided by it, so a uniformly slower machine is not a regression; relative tolerance
(default 10 %). A unit missing from the run, or failed, is a regression.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.jsonio import dump_json, load_json
from bench.store import load_records

BASELINE_SCHEMA = "detbench.baseline/1"
GATED = ("AP", "AP50", "AP75", "mAP", "APr", "APc", "APf")


def reference_workload(device: str = "cpu", repeats: int = 7) -> float:
    """Median ms of a fixed compute workload (matmuls + a sort) on ``device``."""
    if str(device).startswith("cuda"):
        import torch

        from bench.timing import Clock

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


def unit_name(rec: dict) -> str:
    return f"{rec['dataset']}/{rec['detector']}"


def make_baseline(run: Path) -> dict:
    manifest = load_json(Path(run) / "run.json")
    ref = manifest["reference_ms"]
    units = {}
    for rec in load_records(run):
        metrics = (rec.get("metrics") or {}).get("metrics") or {}
        p50 = (rec.get("speed_summary") or {}).get("latency_p50_ms")
        units[unit_name(rec)] = {
            "status": rec["status"], "metrics": {k: v for k, v in metrics.items() if k in GATED},
            "latency_p50_ms": p50, "normalized_latency": p50 / ref if p50 else None,
            "accuracy_meaningful": rec.get("accuracy_meaningful"),
        }  # fmt: skip
    return {"schema": BASELINE_SCHEMA, "run": manifest["run_id"], "reference_ms": ref, "units": units}


@dataclass(frozen=True)
class Row:
    unit: str
    metric: str
    baseline: float | None
    current: float | None
    delta: str
    ok: bool


def compare(baseline: dict, run: Path, ap_tol: float = 0.005, speed_tol: float = 0.10) -> list[Row]:
    current = make_baseline(run)
    rows = []
    for name, base in baseline["units"].items():
        cur = current["units"].get(name)
        if cur is None or cur["status"] != "ok":
            rows.append(Row(name, "status", None, None, "missing" if cur is None else cur["status"], False))
            continue
        for metric, b in base["metrics"].items():
            c = cur["metrics"].get(metric)
            if b is None and c is None:
                continue
            ok = c is not None and b is not None and c >= b - ap_tol
            rows.append(Row(name, metric, b, c, "-" if c is None or b is None else f"{100 * (c - b):+.2f} pts", ok))
        b, c = base.get("normalized_latency"), cur.get("normalized_latency")
        if b and c:
            rows.append(Row(name, "latency/ref", b, c, f"{100 * (c / b - 1):+.1f} %", c <= b * (1 + speed_tol)))
    return rows


def format_rows(rows: list[Row]) -> str:
    w = max([len(r.unit) for r in rows] + [4])
    lines = [f"{'unit':<{w}}  {'metric':<11} {'baseline':>9} {'current':>9}  {'delta':>11}  result"]
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v:9.4f}"  # noqa: E731
        lines.append(f"{r.unit:<{w}}  {r.metric:<11} {fmt(r.baseline):>9} {fmt(r.current):>9}  {r.delta:>11}  {'ok' if r.ok else 'REGRESSION'}")
    return "\n".join(lines)


def write_baseline(run: Path, out: Path) -> dict:
    base = make_baseline(run)
    dump_json(out, base)
    return base
