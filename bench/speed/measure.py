"""``python -m bench speed``: latency / throughput records for one detector and setting.

``measure_speed`` is the Python entry point; it builds the detector, applies the speed mode
(dtype, channels_last, torch.compile), counts parameters and FLOPs, times every batch size,
and, when the mode changes numerics (fp16, bf16, compile) and a dataset is given, measures
accuracy on the same images in this mode and in fp32 so the AP cost of the speed-up shows.
The headline FPS is end-to-end at batch 1. ``settings.scenarios`` adds the MLPerf-style scenarios
(:mod:`bench.speed.scenarios`) to the record under ``"scenarios"``, each with the machine's load
over its window (:mod:`bench.speed.machine`); the single-stream p50 / p90 / p99 (with intervals)
then head the summary.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable, Sequence

from bench.fmt import pts
from bench.speed.environment import environment, gpu_warnings, nvml_snapshot
from bench.speed.machine import LoadMeter
from bench.speed.modes import accuracy_gate, apply_mode, device_used
from bench.speed.scenarios import SCENARIOS, OfflineRule, ServerRule, SingleStreamRule, max_server_rate, offline, single_stream
from bench.speed.timing import Clock, WarmupRule, batches, count_flops, free_memory, is_oom, iteration, measure_batch, warm_up

SCHEMA = "detbench.speed/1"
HEADLINE = "end-to-end latency at batch 1 (preprocess + forward + postprocess)"


@dataclass(frozen=True)
class SpeedSettings:
    """What to measure. ``iters`` or ``seconds`` bound the timed samples per batch size
    (default: 50 iterations on CUDA, 5 seconds on CPU). ``fixed_size``: (h, w) to resize every
    image to; None keeps the dataset's natural sizes. ``scenarios``: which of ``SCENARIOS`` to run
    (single-stream under ``single_stream``'s rule, offline at ``offline_batch_size`` (None: the
    largest of ``batch_sizes``) under ``offline``'s rule, server under ``server``'s)."""

    batch_sizes: tuple[int, ...] = (1,)
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    cuda_graphs: bool = False
    iters: int | None = None
    seconds: float | None = None
    fixed_size: tuple[int, int] | None = None
    warmup: WarmupRule = field(default_factory=WarmupRule)
    min_samples: int = 5
    count_flops: bool = True
    scenarios: tuple[str, ...] = ()
    single_stream: SingleStreamRule = field(default_factory=SingleStreamRule)
    offline: OfflineRule = field(default_factory=OfflineRule)
    offline_batch_size: int | None = None
    server: ServerRule = field(default_factory=ServerRule)

    def __post_init__(self):
        unknown = [s for s in self.scenarios if s not in SCENARIOS]
        if unknown:
            raise ValueError(f"unknown scenario(s) {unknown}: choose from {', '.join(SCENARIOS)}")

    @property
    def changes_numerics(self) -> bool:
        """Every mode but fp32 eager is re-scored (bench.speed.modes: each mode's AP is gated against fp32's)."""
        return self.dtype != "fp32" or self.compile or self.channels_last or self.cuda_graphs

    def timing_bounds(self) -> tuple[int | None, float | None]:
        if self.iters is None and self.seconds is None:
            return (50, None) if self.device.startswith("cuda") else (None, 5.0)
        return self.iters, self.seconds


def resize_all(images: Sequence, size: tuple[int, int]) -> list:
    from detectors.image_ops import resize_uint8

    return [resize_uint8(im, *size) for im in images]


def measure_speed(name: str, build: Callable[..., object], images: Sequence, settings: SpeedSettings,
                  input_info: dict | None = None, accuracy: Callable[[object], dict] | None = None,
                  env: dict | None = None) -> dict:
    """One record for detector ``name``. ``build(dtype=...)`` returns a fresh detector;
    ``images``: RGB uint8 arrays; ``accuracy(detector) -> metrics`` scores a detector on the
    accuracy images (called only when the mode changes numerics); ``env``: the environment
    when the caller has already read it (a run reads it once for all its units)."""
    if settings.fixed_size:
        images = resize_all(images, settings.fixed_size)
    record: dict = {
        "schema": SCHEMA, "detector": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "settings": {**asdict(settings), "batch_sizes": list(settings.batch_sizes), "scenarios": list(settings.scenarios),
                     "fixed_size": list(settings.fixed_size) if settings.fixed_size else None}, "headline": HEADLINE,
        "input": {"mode": "fixed" if settings.fixed_size else "natural",
                  "images": len(images), **(input_info or {})},
        "environment": env if env is not None else environment(settings.device), "error": None, "batches": [], "warnings": [],
    }  # fmt: skip
    before = nvml_snapshot() if settings.device.startswith("cuda") else None
    try:
        detector = build(dtype=settings.dtype)
    except Exception as e:
        record["error"] = ("out of memory: " if is_oom(e) else "") + f"building failed: {type(e).__name__}: {e}"[:800]
        return record
    record["describe"] = detector.describe()
    used, fallback = device_used(detector, settings.device)
    if used != settings.device:  # a recorded fallback (ONNX Runtime without a GPU provider): timed and shown as what it is
        record["device_used"], record["device_fallback"] = used, fallback
        record["warnings"].append(f"asked for {settings.device}, ran on {used}: {(fallback or {}).get('reason', 'the detector chose it')}")
        settings = replace(settings, device=used)
    record["mode"] = apply_mode(detector, settings)
    record["parameters"] = record["describe"].get("parameters")
    flops, why = count_flops(detector, images[:1]) if settings.count_flops else (None, "not counted (quick profile)")
    record["flops"] = {"value": flops, "input": list(images[0].shape[:2]), "batch_size": 1, "note": why}
    clock = Clock(settings.device)
    record["clock"] = clock.kind
    rule = settings.warmup
    if settings.compile and rule == WarmupRule():  # compilation (and recompiles per input shape) belong to warm-up
        rule = WarmupRule(max_iters=100, max_seconds=900.0)
    iters, seconds = settings.timing_bounds()
    for b in settings.batch_sizes:
        record["batches"].append(measure_batch(detector, images, b, clock, rule, iters, seconds, settings.min_samples))
    record["scenarios"] = run_scenarios(detector, images, settings, clock, rule)
    if settings.compile:
        first = next((r for r in record["batches"] if not r["error"]), None)
        record["compile"] = {"first_call_ms": first["warmup"]["first_ms"] if first else None,
                             "warmup_seconds": first["warmup"]["seconds"] if first else None}  # fmt: skip
    record["accuracy"] = None
    if accuracy is not None and settings.changes_numerics:
        record["accuracy"] = {"mode": _guarded(accuracy, lambda: detector)}
        del detector
        free_memory(settings.device)
        record["accuracy"]["fp32"] = _guarded(accuracy, lambda: build(dtype="fp32"))
        record["accuracy"]["gate"] = accuracy_gate(*(_main_ap(record["accuracy"][k]["metrics"]) for k in ("mode", "fp32")))
    ok = [r for r in record["batches"] if not r["error"]]
    one = next((r for r in ok if r["batch_size"] == 1), None)
    record["summary"] = {
        "fps_batch1": 1000.0 / one["latency_ms"]["end_to_end"]["mean"] if one else None,
        "latency_p50_ms": one["latency_ms"]["end_to_end"]["p50"] if one else None,
        "latency_p99_ms": one["latency_ms"]["end_to_end"]["p99"] if one else None,
        "best_throughput_ips": max((r["throughput_ips"] for r in ok), default=None),
        "best_batch_size": max(ok, key=lambda r: r["throughput_ips"])["batch_size"] if ok else None,
    }  # fmt: skip
    record["summary"].update(scenario_summary(record["scenarios"]))
    after = nvml_snapshot() if before is not None else None
    record["warnings"] += gpu_warnings(before, after)
    record["warnings"] += [f"batch {r['batch_size']}: warm-up did not stabilise in {r['warmup']['iterations']} iterations"
                           for r in ok if not r["warmup"]["stable"]]  # fmt: skip
    if record["describe"].get("random_weights"):
        record["warnings"].append("random weights: speed only, accuracy not meaningful")
    return record


def _main_ap(metrics: dict | None) -> float | None:
    return None if not metrics else metrics.get("AP", metrics.get("mAP"))


def run_scenarios(detector, images: Sequence, settings: SpeedSettings, clock: Clock, rule: WarmupRule) -> dict:
    """Each scenario of ``settings.scenarios``: its result (with ``"machine"``, the load over its
    window) or ``{"error": ...}``; the run goes on after a failing scenario."""
    out: dict = {}
    for name in settings.scenarios:
        try:
            with LoadMeter(probe=name == "single-stream") as meter:  # the gate compares the probe of the machine's speed
                if name == "single-stream":
                    feed = batches(images, 1)
                    step = lambda: iteration(detector, next(feed), clock)  # noqa: E731
                    warm = warm_up(step, rule)
                    result = single_stream(step, settings.single_stream)
                    result["warmup"] = {k: v for k, v in warm.items() if k != "samples_ms"}
                elif name == "offline":
                    b = settings.offline_batch_size or max(settings.batch_sizes)
                    result = offline(detector, images, b, settings.offline, cuda=clock.cuda)
                else:
                    service = out.get("single-stream", {}).get("percentiles", {}).get("p50", {}).get("value")
                    feed = batches(images, 1)
                    step = lambda: iteration(detector, next(feed), clock)  # noqa: E731
                    result = max_server_rate(step, settings.server, service or warm_up(step, rule)["samples_ms"][-1])
            result["machine"] = meter.result
            result["error"] = None
        except Exception as e:  # a failing scenario (OOM included) is data
            result = {"scenario": name, "error": ("out of memory: " if is_oom(e) else "") + f"{type(e).__name__}: {e}"[:500]}
            free_memory(settings.device)
        out[name] = result
    return out


def scenario_summary(scenarios: dict) -> dict:
    """Headline figures of the scenarios: single-stream p50 / p90 / p99 with their intervals and
    sample count, whether the machine was busy, offline images/s and busy share."""
    out: dict = {}
    ss = scenarios.get("single-stream") or {}
    if ss and not ss.get("error"):
        p = ss["percentiles"]
        out.update({f"latency_{k}_ms": v["value"] for k, v in p.items()})
        out["latency_intervals_ms"] = {k: [v["lo"], v["hi"]] for k, v in p.items()}
        out["single_stream_n"] = ss["n"]
        out["machine_busy"] = ss["machine"]["busy"]
        out["others_cpu_share"] = ss["machine"]["others_share"]
        out["speed_probe_ms"] = ss["machine"].get("probe_ms")
    off = scenarios.get("offline") or {}
    if off and not off.get("error"):
        out.update(offline_ips=off["images_per_s"], offline_batch_size=off["batch_size"], offline_busy=off["busy"])
    srv = scenarios.get("server") or {}
    if srv and not srv.get("error"):
        out["server_max_qps"] = srv["max_rate_qps"]
    return out


def _guarded(accuracy: Callable, make: Callable) -> dict:
    """Accuracy as data: metrics, or the error that prevented them."""
    try:
        return {"metrics": accuracy(make()), "error": None}
    except Exception as e:
        return {"metrics": None, "error": ("out of memory: " if is_oom(e) else "") + f"{type(e).__name__}: {e}"[:500]}


def format_table(record: dict) -> str:
    device = record.get("device_used") or record["settings"]["device"]
    lines = [f"{record['detector']}  device={device} dtype={record['settings']['dtype']} "
             f"input={record['input']['mode']} clock={record.get('clock')}"]  # fmt: skip
    if record["error"]:
        return lines[0] + f"\n  error: {record['error']}"
    lines.append(f"  {'batch':>5} {'e2e p50':>9} {'p90':>8} {'p99':>8} {'pre':>7} {'fwd':>8} {'post':>7} {'img/s':>8} {'n':>4}")
    for r in record["batches"]:
        if r["error"]:
            lines.append(f"  {r['batch_size']:>5} error: {r['error']}")
            continue
        lat = r["latency_ms"]
        e = lat["end_to_end"]
        lines.append(f"  {r['batch_size']:>5} {e['p50']:9.2f} {e['p90']:8.2f} {e['p99']:8.2f} {lat['preprocess']['p50']:7.2f} "
                     f"{lat['forward']['p50']:8.2f} {lat['postprocess']['p50']:7.2f} {r['throughput_ips']:8.1f} {e['n']:>4}")  # fmt: skip
    lines += scenario_lines(record.get("scenarios") or {})
    s = record["summary"]
    if s["fps_batch1"]:
        lines.append(f"  headline: {s['fps_batch1']:.1f} FPS ({HEADLINE}); times in ms")
    for mode, acc in (record.get("accuracy") or {}).items():
        if mode == "gate":
            g = acc
            lines.append("  accuracy gate: " + (g.get("note") or f"{g['ratio'] * 100:.2f} % of fp32 ({g['diff_points']:+.2f} points): "
                                                f"99 % {'pass' if g['gate_99'] else 'FAIL'}, 95 % {'pass' if g['gate_95'] else 'FAIL'}"))
            continue
        main = _main_ap(acc["metrics"])
        lines.append(f"  accuracy ({mode}): " + (acc["error"] or ("-" if main is None else f"{pts(main)} AP")))
    lines += [f"  warning: {w}" for w in record["warnings"]]
    return "\n".join(lines)


def _interval(p: dict) -> str:
    show = lambda v: "?" if v is None else f"{v:.2f}"  # noqa: E731
    return f"{p['value']:.2f} [{show(p['lo'])}, {show(p['hi'])}]"


def scenario_lines(scenarios: dict) -> list[str]:
    """Console lines of the scenarios (ms; intervals are 95 % order-statistic intervals)."""
    lines = []
    for name, r in scenarios.items():
        if r.get("error"):
            lines.append(f"  {name}: error: {r['error']}")
            continue
        m = r["machine"]
        load = "load unknown" if m["others_share"] is None else f"others used {m['others_share']:.0%} of the CPUs" + (" (MACHINE BUSY)" if m["busy"] else "")
        if name == "single-stream":
            p = r["percentiles"]
            lines.append(f"  single-stream: p50 {_interval(p['p50'])}  p90 {_interval(p['p90'])}  p99 {_interval(p['p99'])} ms; "
                         f"n={r['n']} (stopped: {r['stop']}); {load}")  # fmt: skip
        elif name == "offline":
            lines.append(f"  offline: {r['images_per_s']:.1f} images/s at batch {r['batch_size']}, forward busy {r['busy']:.0%}; {load}")
        else:
            rate = "none passed" if r["max_rate_qps"] is None else f"{r['max_rate_qps']:.1f} queries/s"
            lines.append(f"  server: max rate {rate} with p{100 * r['rule']['percentile']:g} <= {r['rule']['bound_ms']:g} ms; {load}")
    return lines
