"""Hostile and careless use of run / all / report: refused before anything is built, or a
result that says what went wrong. Each case failed before its fix."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.data.catalog import prepare_synthetic
from bench.data.images import image_root
from bench.jsonio import dump_json, load_json, write_atomic
from bench.protocols import COCO
from bench.run.unit import UnitSettings, begin_run, run_unit
from tests.noisy_detector import NoisyGroundTruth


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_atomic(tmp_path / "f.json", b"{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.json").stat().st_mode) == mode


def test_leaderboard_markdown_escapes_names():
    pd = pytest.importorskip("pandas")
    from bench.report.tables import to_markdown

    md = to_markdown(pd.DataFrame([{"detector": "<img src=x onerror=alert(1)>|evil", "AP": 0.5}]))
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;\\|evil" in md
    assert md.splitlines()[2].count(" | ") == 1  # the pipe stays inside its cell


def _perfect(ds, index_root):
    def build(**kw):
        return NoisyGroundTruth(list(ds.categories.names), ds, index_root, noise=0.0, **{k: v for k, v in kw.items() if k != "weights"})

    return build


def test_unreadable_image_keeps_its_ground_truth_and_marks_the_unit(tmp_path):
    ds = prepare_synthetic("coco", tmp_path / "cache")
    root = image_root(ds)
    broken = tmp_path / "images"
    shutil.copytree(root, broken)
    victim = next(i for i in range(len(ds.images)) if (ds.boxes.image_idx == i).any())
    (broken / ds.images.files[victim]).write_bytes(b"not an image")
    run = tmp_path / "run"
    dump_json(run / "run.json", {"run_id": "run", "reference_ms": 1.0})
    ok = run_unit(UnitSettings(dataset="d", detector="perfect", speed_seconds=0.05), ds, root, COCO, run, {}, build=_perfect(ds, root),
                  log=lambda m: None)  # fmt: skip
    lines = []
    rec = run_unit(UnitSettings(dataset="d", detector="perfect-broken", speed_seconds=0.05), ds, broken, COCO, run, {},
                   build=_perfect(ds, root), log=lines.append)  # fmt: skip
    assert ok["metrics_summary"]["AP"] == pytest.approx(1.0)
    assert rec["status"] == "ok" and len(rec["skipped_images"]) == 1
    assert rec["metrics_summary"]["AP"] < 1.0  # the unreadable image's objects count as missed: AP is not inflated
    assert ds.images.files[victim] in rec["degraded"] and "1 of 48 images unreadable" in rec["degraded"]
    assert any("WARNING" in m and ds.images.files[victim] in m for m in lines)
    from bench.report.tables import leaderboard

    row = leaderboard([rec]).iloc[0]
    assert "DEGRADED" in row["note"] and "1 unreadable" in row["images"]


def test_report_of_a_run_whose_every_unit_failed(tmp_path):
    pytest.importorskip("jinja2")
    from bench.report.render import render_run

    ds = prepare_synthetic("coco", tmp_path / "cache")
    run = tmp_path / "run"
    dump_json(run / "run.json", {"run_id": "run", "reference_ms": 1.0})

    def boom(**kw):
        raise RuntimeError("cannot build <b>this</b>")

    run_unit(UnitSettings(dataset="d", detector="x"), ds, image_root(ds), COCO, run, {}, build=boom, log=lambda m: None)
    html = render_run(run, tmp_path / "rep").read_text()
    assert "failed: RuntimeError: cannot build &lt;b&gt;this&lt;/b&gt;" in html


def test_resume_keeps_the_history_of_run_json(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bench", "all", "--first"])
    run, run_id, _ = begin_run(tmp_path, "cpu", profile="quick")
    monkeypatch.setattr(sys, "argv", ["bench", "all", "--resume", run_id])
    begin_run(tmp_path, "cpu", resume=run_id, profile="full")
    doc = load_json(run / "run.json")
    assert doc["profile"] == "full" and "--resume" in doc["command"]
    assert len(doc["history"]) == 1 and doc["history"][0]["profile"] == "quick" and "--first" in doc["history"][0]["command"]


CASES = {
    "max-images 0": (["run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--max-images", "0"], "--max-images must be at least 1"),
    "max-images negative": (["all", "--detectors", "yolox_nano", "--max-images", "-3"], "--max-images must be at least 1"),
    "batch size 0": (["run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--batch-size", "0"], "--batch-size must be at least 1"),
    "unknown dataset": (["all", "--detectors", "yolox_nano", "--datasets", "coco-val2017-mni"], "did you mean: coco-val2017-mini"),
    "unknown device": (["run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--device", "tpu"], "--device tpu"),
    "missing weights": (["run", "--detector", "onnx", "--dataset", "coco-val2017-mini", "--weights", "/nope/m.onnx"], "/nope/m.onnx"),
    "score threshold above 1": (["run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--score-threshold", "2"],
                                "--score-threshold must be between 0 and 1"),
    "nms iou above 1": (["all", "--detectors", "yolox_nano", "--nms-iou", "5"], "--nms-iou must be between 0 and 1"),
    "resume of no run": (["all", "--detectors", "yolox_nano", "--resume", "20990101-000000-nosuch"], "--resume 20990101-000000-nosuch: no run"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_arguments_are_one_line_errors_and_leave_no_run(case, tmp_path, capsys):
    argv, message = CASES[case]
    out = tmp_path / "runs"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())  # no empty run that check/baseline would take as the latest


def test_out_under_a_file_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--out", str(blocker / "runs")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_cuda_without_cuda_is_refused_before_building(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini",
                           "--device", "cuda", "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_two_units_of_one_detector_are_told_apart_in_the_leaderboard():
    pytest.importorskip("pandas")
    from bench.report.tables import leaderboard

    base = {"dataset": "d", "detector": "yolox_nano", "status": "ok", "weights_used": "pretrained"}
    a = {**base, "settings_key": "aaaa1111bbbb", "settings": {"max_detections": 100}}
    b = {**base, "settings_key": "cccc2222dddd", "settings": {"max_detections": 300}}
    names = list(leaderboard([a, b])["detector"])
    assert len(set(names)) == 2 and "max_detections=100" in names[0] and "max_detections=300" in names[1]
    assert list(leaderboard([a])["detector"]) == ["yolox_nano"]  # a single unit keeps its plain name


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 a JPEG, not a model", b"\x08\x07" * 100])
def test_garbage_onnx_file_names_the_path_and_the_format(tmp_path, content):
    pytest.importorskip("onnxruntime")
    from detectors.registry import build

    bad = tmp_path / "model.onnx"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=r"model.onnx: not a loadable ONNX model"):
        build("onnx", ["person"], weights=str(bad))


@pytest.mark.parametrize("kwargs, message", [
    ({"layout": "end2end"}, "layout end2end needs an output"),
    ({"input_size": [1, 2, 3]}, "input_size must be one positive int or H,W"),
    ({"input_size": -5}, "input_size must be one positive int or H,W"),
    ({"input_size": 320}, "input is fixed at 64x64"),
    ({"colour": "purple"}, "colour must be rgb or bgr"),
    ({"scale": "abc"}, "scale must be a number"),
    ({"mean": [1, 2]}, "mean must be three numbers"),
])
def test_onnx_options_are_checked(tmp_path, kwargs, message):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from detectors.registry import build
    from tests.tiny_models import export_tiny_onnx

    export_tiny_onnx(tmp_path / "m.onnx", "yolov8", num_classes=3, size=64, names=["a", "b", "c"])
    with pytest.raises(ValueError, match=message):
        build("onnx", ["a", "b", "c"], weights=str(tmp_path / "m.onnx"), **kwargs)
