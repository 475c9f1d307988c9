"""Speed modes as rows (bench.speed.modes) and ONNX Runtime's device honesty
(detectors.onnx_providers): ``--device cuda`` never runs silently on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from bench.speed.measure import SpeedSettings, format_table, measure_speed
from bench.speed.modes import MODES, accuracy_gate, applicable, apply_mode, mode
from bench.speed.timing import WarmupRule
from detectors.onnx_providers import FIX, OnnxProviderError, check_session, choose

ort = pytest.importorskip("onnxruntime")
CPU_ONLY = ["CPUExecutionProvider"]
WITH_CUDA = ["CUDAExecutionProvider", "CPUExecutionProvider"]


def test_accuracy_gate_applies_mlperf_99_and_95_percent():
    g = accuracy_gate(0.2975, 0.30)
    assert g["gate_99"] is True and g["gate_95"] is True and g["diff_points"] == pytest.approx(-0.25)
    g = accuracy_gate(0.29, 0.30)  # 96.7 %
    assert g["gate_99"] is False and g["gate_95"] is True
    g = accuracy_gate(0.28, 0.30)  # 93.3 %
    assert g["gate_99"] is False and g["gate_95"] is False
    assert accuracy_gate(None, 0.3)["gate_99"] is None and accuracy_gate(0.3, 0.0)["ratio"] is None


def test_every_mode_is_a_row_with_a_reason_when_it_does_not_apply():
    names = [m.name for m in MODES]
    assert names[0] == "eager-fp32" and {"eager-fp16", "eager-bf16", "channels_last", "compile", "cuda-graphs",
                                         "ort-cpu", "ort-cuda", "ort-tensorrt"} <= set(names)  # fmt: skip
    assert applicable(mode("ort-cuda"), "onnxruntime", "cpu") == "needs a CUDA device"
    assert applicable(mode("ort-cuda"), "onnxruntime", "cuda") is None
    assert "onnxruntime mode" in applicable(mode("ort-cpu"), "torchvision", "cpu")
    assert applicable(mode("eager-bf16"), "torchvision", "cpu") is None
    assert "GPU mode" in applicable(mode("eager-fp16"), "hf-transformers", "cpu")
    assert applicable(mode("cuda-graphs"), "torchvision", "cuda") is None
    with pytest.raises(KeyError, match="known"):
        mode("tensorrt-int8")


def test_cuda_graphs_on_the_cpu_are_recorded_as_not_supported():
    class Det:
        device = "cpu"
        model = object()

        def channels_last(self):
            raise NotImplementedError("no")

        def compile(self):
            raise NotImplementedError("no")

    applied = apply_mode(Det(), SpeedSettings(cuda_graphs=True))
    assert applied["cuda_graphs"] is False and applied["notes"] == ["cuda_graphs not supported: CUDA graphs need a CUDA device"]


def test_provider_choice_on_cpu_and_cuda():
    assert choose("auto", "cpu", CPU_ONLY, False, "m.onnx").providers == CPU_ONLY
    c = choose("auto", "cuda", WITH_CUDA, False, "m.onnx")
    assert c.providers == WITH_CUDA and c.device == "cuda" and c.fallback is None
    t = choose("tensorrt", "cuda:0", ["TensorrtExecutionProvider", *WITH_CUDA], False, "m.onnx")
    assert t.providers[0] == "TensorrtExecutionProvider"
    with pytest.raises(ValueError, match="pass --device cuda"):
        choose("cuda", "cpu", WITH_CUDA, False, "m.onnx")
    with pytest.raises(ValueError, match="auto, cpu, cuda or tensorrt"):
        choose("rocm", "cuda", WITH_CUDA, False, "m.onnx")


def test_a_session_that_dropped_its_gpu_provider_is_the_same_error_or_fallback():
    c = choose("cuda", "cuda", WITH_CUDA, False, "m.onnx")
    with pytest.raises(OnnxProviderError, match="libraries did not load"):
        check_session(c, CPU_ONLY, False, "m.onnx")
    fb = check_session(c, CPU_ONLY, True, "m.onnx")
    assert fb.device == "cpu" and fb.fallback["asked"]["provider"] == "CUDAExecutionProvider"
    assert check_session(c, WITH_CUDA, False, "m.onnx") is c


def _build(monkeypatch, **kw):
    from bench.data.catalog import load_dataset
    from detectors.registry import build

    monkeypatch.setattr(ort, "get_available_providers", lambda: list(CPU_ONLY))  # the CPU wheel, as on a GPU box without onnxruntime-gpu
    ds, _, _ = load_dataset("coco-val2017-mini")
    return build("nanodet_m", list(ds.categories.names), device="cuda", **kw)


def test_cuda_without_a_gpu_provider_is_an_error_naming_the_fix(monkeypatch):
    with pytest.raises(OnnxProviderError) as e:
        _build(monkeypatch)
    assert "pip install onnxruntime-gpu" in str(e.value) and "detbench[onnx-gpu]" in str(e.value) and "cpu_fallback=true" in str(e.value)
    assert FIX in str(e.value)


def test_explicit_cpu_fallback_is_recorded_and_shown_as_cpu(monkeypatch):
    det = _build(monkeypatch, cpu_fallback=True)
    d = det.describe()
    assert det.device == "cpu" and d["settings"]["device"] == "cpu" and d["providers"] == CPU_ONLY
    assert d["device_fallback"]["asked"] == {"device": "cuda", "provider": "CUDAExecutionProvider"}
    images = [np.full((120, 160, 3), 90, np.uint8)]
    rec = measure_speed("nanodet_m", lambda dtype: det, images,
                        SpeedSettings(device="cuda", iters=2, count_flops=False, warmup=WarmupRule(min_iters=1, window=1, max_iters=2)))  # fmt: skip
    assert rec["error"] is None and rec["device_used"] == "cpu" and rec["clock"] == "perf_counter_ns"
    assert rec["device_fallback"]["used"]["device"] == "cpu"
    import json
    from pathlib import Path

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).resolve().parents[1] / "bench" / "schemas" / "speed_record.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(rec)), schema)
    table = format_table(rec)
    assert "device=cpu" in table and "device=cuda" not in table and "asked for cuda, ran on cpu" in table


def test_bench_speed_cuda_graphs_on_cpu_is_recorded_and_every_mode_gets_its_accuracy_gate(tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "rec.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "bench", "speed", "--detector", "yolox_nano", "--cuda-graphs", "--iters", "2", "--max-images", "2",
           "--scenarios", "none", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rec = json.loads(out.read_text())
    assert rec["settings"]["cuda_graphs"] is True and rec["mode"]["cuda_graphs"] is False
    assert rec["mode"]["notes"] == ["cuda_graphs not supported: CUDA graphs need a CUDA device"]
    gate = rec["accuracy"]["gate"]  # the mode did not apply, so its AP equals fp32's: ratio 1, both gates pass
    assert gate["ratio"] == 1.0 and gate["gate_99"] and gate["gate_95"] and "accuracy gate: 100.00 % of fp32" in proc.stdout


def test_a_unit_run_on_the_cpu_after_an_explicit_fallback_says_so(monkeypatch, tmp_path):
    """bench run / bench all: the unit's record carries where the detector really ran, and why."""
    from bench.data.catalog import load_dataset
    from bench.protocols import COCO
    from bench.run.unit import UnitSettings, run_unit

    det = _build(monkeypatch, cpu_fallback=True)
    ds, root, _ = load_dataset("coco-val2017-mini")
    logged = []
    rec = run_unit(UnitSettings(dataset="coco-val2017-mini", detector="nanodet_m", device="cuda", max_images=2, speed_seconds=0.05),
                   ds, root, COCO, tmp_path / "run", {}, build=lambda **kw: det, speed=False, log=logged.append)  # fmt: skip
    assert rec["status"] == "ok" and rec["device_used"] == "cpu"
    assert rec["device_fallback"]["asked"]["device"] == "cuda"
    assert any("ran on cpu" in n for n in rec["notes"]) and any("WARNING: ran on cpu, not cuda" in m for m in logged)
