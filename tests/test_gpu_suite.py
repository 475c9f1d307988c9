"""The GPU suite's CPU dry run (benchmarks/gpu_suite.py --dry-run): every row is either measured
(with its intervals, offline throughput, and AP where the weights are real) or carries the reason
it was not; GPU-only rows say "needs a CUDA device"; JSON and markdown are written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
SUITE = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_suite.py"


def _suite():
    spec = importlib.util.spec_from_file_location("gpu_suite", SUITE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dry_run_writes_the_table_with_every_row_accounted_for(tmp_path):
    gs = _suite()
    assert gs.main(["--dry-run", "--out", str(tmp_path), "--budget", "12"]) == 0
    (js,), (md,) = list(tmp_path.glob("*.json")), list(tmp_path.glob("*.md"))
    result = json.loads(js.read_text())
    assert result["dry_run"] is True and result["device"] == "cpu" and result["environment"]["device"] == "cpu"
    rows = {(r["detector"], r["mode"]): r for r in result["rows"]}
    assert set(rows) == {(d, m) for d, modes in gs.DRY_SUITE.items() for m in modes}
    for r in rows.values():
        assert r["measured"] or r["reason"], r
    assert rows[("yolox_nano", "ort-cuda")]["reason"] == "needs a CUDA device"
    assert rows[("rtdetr_r50vd", "cuda-graphs")]["reason"] == "needs a CUDA device"
    ref = rows[("yolox_nano", "ort-cpu")]
    assert ref["measured"] and ref["device"] == "cpu" and ref["weights"] == "real"
    assert ref["single_stream"]["n"] >= 2 and ref["single_stream"]["percentiles"]["p50"]["value"] > 0
    assert ref["offline"]["images_per_s"] > 0 and 0 < ref["offline"]["busy"] <= 1
    assert ref["accuracy"]["AP"] > 0.1 and ref["gate"]["reference"] == "ort-cpu" and ref["gate"]["gate_99"] is True
    text = md.read_text()
    dec = result["device_decode"]  # on CPU tensors the device decode is the CPU's: no pixel, no AP differs
    assert dec["device"] == "cpu" and dec["images"] == 4 and dec["max_abs_diff"] == 0 and set(dec["detectors"]) == set(gs.REAL)
    for v in dec["detectors"].values():
        assert v["ap_cpu_decode"] == v["ap_device_decode"] > 0.1 and v["within_0_1_ap"]
    assert "JPEG decode on cpu (`--decode device`) vs the CPU, 4 images: max pixel difference 0" in text
    assert "DRY RUN on CPU: not GPU figures" in text and "not measured: needs a CUDA device" in text
    assert "speed only (random weights)" in text or "suite budget spent" in text


def test_the_real_suite_refuses_a_cpu_device():
    with pytest.raises(SystemExit):
        _suite().main(["--device", "cpu"])
