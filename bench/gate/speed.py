"""The speed part of the CI gate: intervals compared, contention refused, never normalised by a toy.

A unit's speed is its single-stream end-to-end p50 with the 95 % order-statistic interval
(:mod:`bench.speed.stats`) and the machine's load over the timing window (:mod:`bench.speed.machine`).
The verdict of one unit (:func:`judge`), in this order:

1. ``machine busy``: either side was timed while other processes used more than ``BUSY_SHARE`` of
   the CPUs. Not judged (a loaded machine slows models by 3-8x and a tiny reference workload by up to
   48x, so no normalisation rescues it); the row says so and does not fail the gate.
2. ``machine speed differs``: the machine's speed probe (:func:`bench.speed.machine.speed_probe`:
   matrix products on all CPUs at once, timed just before and after each single-stream window) ran
   more than ``PROBE_TOL`` slower or faster on one side than on the other, or changed by that much
   within one side's window. The load figures miss some slowdowns (virtual CPUs co-scheduled on one
   core's hyperthreads without steal time, a lowered clock): on this project's VM an unchanged model
   ran +53-58 % slower for seconds at a time with other processes at 0 %. Not judged; the row gives
   both probes. Records without a probe (older runs) skip this step.
3. ``not comparable``: the two sides ran on different hardware or settings that change speed (CPU
   model, CPU count, usable CPUs, torch threads, device). Not judged.
4. ``too few samples``: a side has no interval for p50 (fewer than 6 samples). Not judged.
5. Otherwise: a regression when the current p50 is more than ``tol`` above the baseline's AND the
   intervals are apart (current lower end above the baseline's upper end): both a real size and a
   real separation. Faster by more than ``tol`` with the intervals apart is reported as ``faster``.

Two builds timed interleaved in one process (:mod:`bench.speed.interleaved`) share the machine's
load, so :func:`judge_paired` judges them even on a busy machine.

The reference workload (``reference_ms`` of a run) is still recorded for a reader; the gate never
divides by it (it inverted verdicts under load: 515 ms loaded vs 10.4 ms quiet while detectors
slowed 3-8x).
"""

from __future__ import annotations

import math

from bench.speed.machine import BUSY_SHARE

PROBE_TOL = 0.5  # quiet: the probe varies by ~20-30 % between windows; the slow state it must catch is ~2-3x
IDENTITY = ("cpu", "cpu_count", "affinity", "torch_threads", "device", "gpu")  # what must match for a speed comparison


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def unit_latency(rec: dict) -> dict | None:
    """The gated speed of a unit record: ``{"p50_ms", "interval_ms", "n", "busy", "others_share",
    "machine", "probe_ms"}`` (``probe_ms``: the speed probe before and after the window, or None), or
    None when the unit has no single-stream figure (accuracy-only, or an older record with only the
    batch window: then ``{"p50_ms", "interval_ms": None, ...}`` so the gate says why)."""
    s = rec.get("speed_summary") or {}
    p50 = s.get("latency_p50_ms")
    if p50 is None:
        return None
    env = rec.get("environment") or {}
    torch_env = env.get("torch") or {}
    machine = {"cpu": env.get("cpu"), "cpu_count": env.get("cpu_count"), "affinity": env.get("affinity"),
               "torch_threads": torch_env.get("threads"), "device": (rec.get("settings") or {}).get("device", env.get("device")),
               "gpu": torch_env.get("gpu")}  # fmt: skip
    interval = (s.get("latency_intervals_ms") or {}).get("p50")
    return {"p50_ms": p50, "interval_ms": list(interval) if interval else None, "n": s.get("single_stream_n"),
            "busy": s.get("machine_busy"), "others_share": s.get("others_cpu_share"), "machine": machine,
            "probe_ms": s.get("speed_probe_ms")}  # fmt: skip


def validate_latency(lat, fail) -> None:
    """Check a baseline unit's ``latency`` object; ``fail(field, message)`` raises."""
    if not isinstance(lat, dict):
        fail("latency", f"expected an object or null, got {type(lat).__name__}")
    for field in ("p50_ms", "interval_ms", "n", "busy", "others_share", "machine"):
        if field not in lat:
            fail(f"latency.{field}", "missing (null is the explicit 'not measured')")
    if not _finite(lat["p50_ms"]) or lat["p50_ms"] <= 0:
        fail("latency.p50_ms", f"expected a positive finite number, got {lat['p50_ms']!r}")
    iv = lat["interval_ms"]
    if iv is not None:
        if not isinstance(iv, list) or len(iv) != 2 or any(v is not None and (not _finite(v) or v <= 0) for v in iv):
            fail("latency.interval_ms", f"expected [lo, hi] of positive finite numbers (or null ends), got {iv!r}")
        if None not in iv and not iv[0] <= lat["p50_ms"] <= iv[1]:
            fail("latency.interval_ms", f"{iv!r} does not contain p50 {lat['p50_ms']!r}")
    if lat["n"] is not None and (not isinstance(lat["n"], int) or isinstance(lat["n"], bool) or lat["n"] < 1):
        fail("latency.n", f"expected a positive integer or null, got {lat['n']!r}")
    if lat["busy"] not in (True, False, None):
        fail("latency.busy", f"expected true, false or null, got {lat['busy']!r}")
    if lat["others_share"] is not None and (not _finite(lat["others_share"]) or not 0 <= lat["others_share"] <= 1):
        fail("latency.others_share", f"expected a number in [0, 1] or null, got {lat['others_share']!r}")
    if not isinstance(lat["machine"], dict):
        fail("latency.machine", f"expected an object, got {type(lat['machine']).__name__}")
    probe = lat.get("probe_ms")  # optional: baselines made before the probe have none
    if probe is not None and (not isinstance(probe, list) or len(probe) != 2 or not all(_finite(v) and v > 0 for v in probe)):
        fail("latency.probe_ms", f"expected [before, after] positive finite ms, or null, got {probe!r}")


def probe_change(base: dict, cur: dict) -> str | None:
    """Why the machine's own speed differs between or within the two sides (their speed probes),
    or None when it does not (or a side has no probe)."""
    bp, cp = base.get("probe_ms"), cur.get("probe_ms")
    if not bp or not cp:
        return None
    for side, (a, b) in (("baseline", bp), ("run", cp)):
        if max(a, b) > (1 + PROBE_TOL) * min(a, b):
            return f"the speed probe changed within the {side}'s window: {a:.2f} -> {b:.2f} ms"
    bm, cm = sum(bp) / 2, sum(cp) / 2
    if max(bm, cm) > (1 + PROBE_TOL) * min(bm, cm):
        return f"the speed probe took {bm:.2f} vs {cm:.2f} ms (baseline/run): the machine itself ran at another speed"
    return None


def _busy(lat: dict) -> bool:
    share = lat.get("others_share")
    return bool(lat.get("busy")) or (share is not None and share > BUSY_SHARE)


def judge(base: dict, cur: dict, tol: float) -> tuple[str, str]:
    """(delta text, verdict) for one unit's latency; verdict is one of ``ok``, ``faster``,
    ``REGRESSION``, ``machine busy``, ``machine speed differs``, ``not comparable``, ``too few samples``
    (see the module doc)."""
    ratio = cur["p50_ms"] / base["p50_ms"]
    delta = f"{100 * (ratio - 1):+.1f} %"
    if _busy(base) or _busy(cur):
        shares = "/".join("?" if x.get("others_share") is None else f"{x['others_share']:.0%}" for x in (base, cur))
        return f"{delta}; other processes used {shares} of the CPUs (baseline/run)", "machine busy"
    changed = probe_change(base, cur)
    if changed:
        return f"{delta}; {changed}", "machine speed differs"
    differ = [k for k in IDENTITY if base["machine"].get(k) is not None and cur["machine"].get(k) is not None
              and base["machine"][k] != cur["machine"][k]]  # fmt: skip
    if differ:
        return f"{delta}; " + ", ".join(f"{k} {base['machine'][k]!r} vs {cur['machine'][k]!r}" for k in differ), "not comparable"
    bi, ci = base.get("interval_ms"), cur.get("interval_ms")
    if not bi or not ci or None in bi or None in ci:
        return f"{delta}; a side has no p50 interval (re-run with the single-stream scenario)", "too few samples"
    apart_up, apart_down = ci[0] > bi[1], ci[1] < bi[0]
    text = f"{delta} (run [{ci[0]:.2f}, {ci[1]:.2f}] vs baseline [{bi[0]:.2f}, {bi[1]:.2f}] ms)"
    if ratio > 1 + tol and apart_up:
        return text, "REGRESSION"
    if ratio < 1 - tol and apart_down:
        return text, "faster"
    return text, "ok"


NOT_JUDGED = ("machine busy", "machine speed differs", "not comparable", "too few samples")


def judge_paired(result: dict, tol: float) -> tuple[str, str]:
    """(delta text, verdict) of an interleaved A/B timing (:func:`bench.speed.interleaved.interleaved`,
    B the candidate): REGRESSION when the median round ratio is above ``1 + tol`` and its interval
    lies above 1; ``faster`` when below ``1 - tol`` and its interval below 1; ``too few samples``
    without an interval; else ok. Judged on a busy machine too: both sides shared the load."""
    lo, hi = result["interval"]
    delta = f"{100 * (result['ratio'] - 1):+.1f} %"
    if lo is None or hi is None:
        return f"{delta}; {result['rounds']} rounds give no interval", "too few samples"
    text = f"{delta} (95 % interval of the round ratios [{lo:.3f}, {hi:.3f}])"
    if result["ratio"] > 1 + tol and lo > 1:
        return text, "REGRESSION"
    if result["ratio"] < 1 - tol and hi < 1:
        return text, "faster"
    return text, "ok"
