"""The CUDA table in one prepared run: every listed detector in every listed speed mode, on one
GPU, with no network, in at most 8 minutes.

    python benchmarks/gpu_suite.py                 # on the GPU machine (--budget 420 s of rows)
    python benchmarks/gpu_suite.py --dry-run       # CPU, tiny budgets: what CI runs (tests/test_gpu_suite.py)

Needs torch, torchvision, transformers, onnxruntime (present on such a machine) and, carried as
wheels, orjson, plotly, jsonschema; the C extensions built in place (``python setup.py
build_ext --inplace``) or carried. Per row (detector x mode, ``bench.speed.modes``):
single-stream p50 / p90 / p99 with their 95 % order-statistic intervals and sample count, offline
images/s and the forward's busy share (``bench.speed.scenarios``), peak device memory, and for
detectors with real weights (the embedded ONNX models) AP on the embedded COCO subset with its
difference from the fp32 reference row and the MLPerf 99 % / 95 % gates. Random-weight rows are
speed only and say so. A row that cannot run (no CUDA provider in a CPU onnxruntime build, a
model whose forward cannot be captured in a CUDA graph, the budget spent) is a row with the
reason, "not measured". Writes ``<out>/gpu_suite-<time>.json`` (rows + the full environment:
GPU, driver, CUDA, cuDNN, torch, clocks and throttle state via nvidia-ml-py when present) and
the same table as ``.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere: this checkout's bench

from bench.jsonio import dump_json  # noqa: E402
from bench.speed.environment import environment, nvml_snapshot  # noqa: E402
from bench.speed.measure import SpeedSettings, run_scenarios, scenario_summary  # noqa: E402
from bench.speed.modes import accuracy_gate, applicable, apply_mode, device_used, mode  # noqa: E402
from bench.speed.scenarios import OfflineRule, SingleStreamRule  # noqa: E402
from bench.speed.timing import Clock, WarmupRule, free_memory  # noqa: E402
from detectors.registry import family  # noqa: E402

REAL = ("yolox_nano", "nanodet_m")  # embedded real weights: AP measured; everything else is speed only
SUITE = {  # detector -> modes, the reference (fp32) row first
    "yolox_nano": ("ort-cpu", "ort-cuda", "ort-tensorrt"),
    "nanodet_m": ("ort-cpu", "ort-cuda", "ort-tensorrt"),
    "ssdlite320_mobilenet_v3_large": ("eager-fp32", "eager-fp16", "eager-bf16", "channels_last", "compile", "cuda-graphs"),
    "fasterrcnn_resnet50_fpn": ("eager-fp32", "eager-fp16", "channels_last", "cuda-graphs"),
    "rtdetr_r50vd": ("eager-fp32", "eager-fp16", "eager-bf16", "compile", "cuda-graphs"),
    "detr_resnet50": ("eager-fp32", "eager-fp16", "eager-bf16"),
}
DRY_SUITE = {"yolox_nano": ("ort-cpu", "ort-cuda"), "rtdetr_r50vd": ("eager-fp32", "eager-fp16", "eager-bf16", "cuda-graphs")}  # tiny configs
FIXED = (480, 640)  # every image resized to it: static shapes (CUDA graphs, compile) and comparable rows


def load_subset(n: int):
    from bench.data.catalog import load_dataset
    from bench.data.images import load_image
    from bench.protocols import get_protocol

    ds, root, protocol = load_dataset("coco-val2017-mini")
    idx = list(range(min(n, len(ds.images))))
    return ds, idx, [load_image(root / ds.images.files[i]) for i in idx], get_protocol(protocol), root


def build_row(name: str, m, device: str, classes, dry: bool):
    from detectors.registry import build

    kwargs = dict(m.detector_args)
    if name not in REAL:
        kwargs.update(weights="random", **({"tiny": True} if dry else {}))
    dev = "cpu" if m.name == "ort-cpu" else device
    return build(name, classes, device=dev, dtype=m.dtype, **kwargs), dev


def peak_memory_mb(device: str) -> float | None:
    if not str(device).startswith("cuda"):
        return None
    import torch

    return torch.cuda.max_memory_allocated(device) / 2**20


def run_row(name: str, mode_name: str, device: str, data, budget_s: float, dry: bool) -> dict:
    """One table row: its timing, memory and (real weights) AP, or the reason it was not measured."""
    ds, idx, images, protocol, _ = data
    m = mode(mode_name)
    row = {"detector": name, "mode": m.name, "device": device, "weights": "real" if name in REAL else "random (speed only)",
           "measured": False, "reason": None, "note": m.note}  # fmt: skip
    why = applicable(m, family(name), device)
    if why:
        row["reason"] = why
        return row
    t0 = time.perf_counter()
    try:
        if str(device).startswith("cuda"):
            import torch

            torch.cuda.reset_peak_memory_stats(device)
        det, dev = build_row(name, m, device, list(ds.categories.names), dry)
        used, fallback = device_used(det, dev)
        settings = SpeedSettings(device=used, dtype=m.dtype, channels_last=m.channels_last, compile=m.compile, cuda_graphs=m.cuda_graphs,
                                 scenarios=("single-stream", "offline"), offline_batch_size=1 if name in REAL else 8,
                                 single_stream=SingleStreamRule(min_samples=8 if dry else None, max_seconds=0.45 * budget_s, max_samples=2000),
                                 offline=OfflineRule(seconds=0.25 * budget_s, min_batches=1 if dry else 4, warmup_batches=1 if dry else 2))  # fmt: skip
        applied = apply_mode(det, settings)
        if applied["notes"]:
            raise RuntimeError("; ".join(applied["notes"]))
        timed = _resize(images, FIXED)
        warm = WarmupRule(max_iters=5 if dry else 50, max_seconds=(0.6 if m.compile else 0.2) * budget_s)  # compile: compilation is warm-up
        scenarios = run_scenarios(det, timed, settings, Clock(used), warm)
        errors = {k: v["error"] for k, v in scenarios.items() if v.get("error")}
        if errors:
            raise RuntimeError("; ".join(f"{k}: {v}" for k, v in errors.items()))
        row.update(measured=True, device=used, fallback=fallback, summary=scenario_summary(scenarios), peak_memory_mb=peak_memory_mb(used),
                   single_stream={k: scenarios["single-stream"].get(k) for k in ("n", "stop", "interval_met", "percentiles", "warmup")},
                   offline={k: scenarios["offline"][k] for k in ("images_per_s", "busy", "batch_size", "batches")},
                   describe={k: det.describe().get(k) for k in ("providers", "preprocess", "postprocess", "random_weights")})  # fmt: skip
        if name in REAL:
            from bench.run.inference import accuracy

            row["accuracy"] = accuracy(det, ds, images, idx, protocol)["metrics"]
    except Exception as e:  # a row that fails is a row with its reason; the suite goes on
        row["reason"] = f"{type(e).__name__}: {e}"[:400]
    finally:
        free_memory(device)
    row["seconds"] = time.perf_counter() - t0
    return row


def decode_check(device: str, data) -> dict:
    """The loader's device-side JPEG decode (``--decode device``: nvJPEG on CUDA) against the CPU
    decode (the suite's images, ``load_subset``: the loader's CPU path) on the same images: how many
    pixels differ and by how much, and the AP of each real-weight detector (run on the CPU, so only
    the pixels differ) on both. The project keeps a device path a candidate for the default only
    within 0.1 AP."""
    import numpy as np

    from bench.run.inference import accuracy
    from bench.run.loader import iterate
    from detectors.registry import build

    ds, idx, cpu, protocol, root = data
    dev = [im if isinstance(im, np.ndarray) else im.permute(1, 2, 0).cpu().numpy()
           for b in iterate(root, ds.images.files, idx, 8, device, decode="device") for _, im, _ in b]  # fmt: skip
    diff = [np.abs(a.astype(np.int16) - b.astype(np.int16)) for a, b in zip(cpu, dev)]
    out = {"device": device, "images": len(idx), "max_abs_diff": int(max(d.max() for d in diff)),
           "differing_pixel_share": float(sum((d > 0).sum() for d in diff) / sum(d.size for d in diff)), "detectors": {}}  # fmt: skip
    for name in REAL:
        det = build(name, list(ds.categories.names), device="cpu")
        a, b = (accuracy(det, ds, ims, idx, protocol)["metrics"]["AP"] for ims in (cpu, dev))
        out["detectors"][name] = {"ap_cpu_decode": a, "ap_device_decode": b, "diff_points": 100 * (b - a), "within_0_1_ap": abs(b - a) <= 1e-3}
    return out


def _resize(images, size):
    from bench.speed.measure import resize_all

    return resize_all(images, size)


def add_gates(rows: list[dict]) -> None:
    """AP difference of each real-weight row from its detector's fp32 reference row (the first mode)."""
    for name in {r["detector"] for r in rows}:
        mine = [r for r in rows if r["detector"] == name]
        ref = mine[0].get("accuracy") if mine else None
        for r in mine:
            if r.get("accuracy") and ref:
                r["gate"] = {**accuracy_gate(r["accuracy"]["AP"], ref["AP"]), "reference": mine[0]["mode"]}


def _ms(p: dict) -> str:
    """value [lo, hi]; an end the sample count cannot give is "-" (too few samples for that percentile's interval)."""
    ends = ", ".join("-" if p.get(k) is None else f"{p[k]:.2f}" for k in ("lo", "hi"))
    return f"{p['value']:.2f} [{ends}]"


def markdown(result: dict) -> str:
    env = result["environment"]
    gpu = (env.get("torch") or {}).get("gpu") or "no GPU"
    lines = [f"# detbench CUDA table ({'DRY RUN on CPU: not GPU figures' if result['dry_run'] else gpu})", "",
             f"{result['created']}; device {result['device']}; torch {env['packages'].get('torch')}, CUDA "
             f"{(env.get('torch') or {}).get('cuda')}, cuDNN {(env.get('torch') or {}).get('cudnn')}; driver "
             f"{(env.get('nvml') or {}).get('driver')}; images resized to {FIXED[0]}x{FIXED[1]} for timing; "
             f"AP on {result['images']} images of coco-val2017-mini. Latency ms, p50/p90/p99 with 95 % order-statistic intervals.", "",
             "| detector | mode | device | single-stream p50 | p90 | p99 | n | offline img/s | busy | peak MB | AP | vs fp32 | 99 % / 95 % |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["rows"]:
        if not r["measured"]:
            lines.append(f"| {r['detector']} | {r['mode']} | {r['device']} | not measured: {r['reason']} | | | | | | | | | |")
            continue
        p, off = r["single_stream"]["percentiles"], r["offline"]
        ap = "speed only (random weights)" if "accuracy" not in r else f"{r['accuracy']['AP'] * 100:.2f}"
        g = r.get("gate") or {}
        diff = "" if g.get("diff_points") is None else f"{g['diff_points']:+.2f}"
        gates = "" if g.get("gate_99") is None else f"{'pass' if g['gate_99'] else 'FAIL'} / {'pass' if g['gate_95'] else 'FAIL'}"
        if g.get("reference") == r["mode"]:
            diff, gates = "reference", "reference"
        mem = "-" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.0f}"
        n = f"{r['single_stream']['n']}" + ("" if (r["single_stream"].get("warmup") or {}).get("stable", True) else " (warm-up not stable)")
        lines.append(f"| {r['detector']} | {r['mode']} | {r['device']} | {_ms(p['p50'])} | {_ms(p['p90'])} | {_ms(p['p99'])} | "
                     f"{n} | {off['images_per_s']:.1f} | {off['busy']:.2f} | {mem} | {ap} | {diff} | {gates} |")  # fmt: skip
    dec = result.get("device_decode") or {}
    if dec.get("error"):
        lines += ["", f"JPEG decode on {dec['device']} vs the CPU: not measured: {dec['error']}"]
    elif dec:
        lines += ["", f"JPEG decode on {dec['device']} (`--decode device`) vs the CPU, {dec['images']} images: max pixel difference "
                      f"{dec['max_abs_diff']}, {100 * dec['differing_pixel_share']:.3f} % of pixels differ; AP (detector on the CPU) "
                  + "; ".join(f"{k} {v['ap_cpu_decode'] * 100:.2f} -> {v['ap_device_decode'] * 100:.2f} ({v['diff_points']:+.2f} points, "
                              f"{'within' if v['within_0_1_ap'] else 'OUTSIDE'} 0.1 AP)" for k, v in dec["detectors"].items())]  # fmt: skip
    lines += ["", f"Suite wall time {result['seconds']:.0f} s (budget {result['budget_s']:.0f} s for rows). Load average at start "
                  f"{result['load_start']}, end {result['load_end']}."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny budgets and models, a subset of rows (CI)")
    ap.add_argument("--device", default=None, help="default cuda (cpu with --dry-run)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all rows (default 420; 20 with --dry-run)")
    ap.add_argument("--images", type=int, default=None, help="accuracy images (default 120; 4 with --dry-run)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args(argv)
    dry = args.dry_run
    device = args.device or ("cpu" if dry else "cuda")
    if not dry and not device.startswith("cuda"):
        ap.error("without --dry-run the suite is the CUDA table: --device cuda[:N]")
    budget = args.budget if args.budget is not None else (20.0 if dry else 420.0)
    suite = DRY_SUITE if dry else SUITE
    start, load_start = time.perf_counter(), os.getloadavg()
    env = environment(device)
    data = load_subset(args.images if args.images is not None else (4 if dry else 120))
    plan = [(d, m) for d, modes in suite.items() for m in modes]
    plan.sort(key=lambda row: mode(row[1]).compile)  # compile rows last: a long compilation cannot starve the other rows
    rows = []
    for k, (name, m) in enumerate(plan):
        left = budget - (time.perf_counter() - start)
        share = left / (len(plan) - k)
        why = applicable(mode(m), family(name), device)
        if why or left <= 0:
            rows.append({"detector": name, "mode": m, "device": device, "measured": False, "reason": why or "suite budget spent"})
            continue
        rows.append(run_row(name, m, device, data, share, dry))
        r = rows[-1]
        print(f"{name:>32} {m:>13}: " + (f"p50 {r['summary']['latency_p50_ms']:.2f} ms, offline {r['summary']['offline_ips']:.1f} img/s"
                                          if r["measured"] else f"not measured: {r['reason']}"), flush=True)  # fmt: skip
    add_gates(rows)
    try:
        decode = decode_check(device, data)
    except Exception as e:  # reported, never the end of the suite
        decode = {"device": device, "error": f"{type(e).__name__}: {e}"[:400]}
    if device.startswith("cuda"):
        env["nvml_end"] = nvml_snapshot()
    result = {"schema": "detbench.gpu_suite/1", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "dry_run": dry, "device": device,
              "budget_s": budget, "images": len(data[1]), "fixed_size": list(FIXED), "environment": env, "rows": rows, "device_decode": decode,
              "load_start": [round(x, 2) for x in load_start], "load_end": [round(x, 2) for x in os.getloadavg()],
              "seconds": time.perf_counter() - start}  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"gpu_suite-{'dry-' if dry else ''}{time.strftime('%Y%m%d-%H%M%S')}"
    dump_json(stem.with_suffix(".json"), result)
    text = markdown(result)
    stem.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
