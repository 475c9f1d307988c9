"""What the console prints (issue 22): one line per group of units that did not run, a closing
recap with the scored units' AP beside the published figure and the report as a file:// link,
plain-line progress without a terminal, the loader figure in words, the subset beside every AP."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bench.cli.console import group_line, recap, unit_line
from bench.run.unit import LineProgress, loader_line, progress_bar

REPO = Path(__file__).resolve().parents[1]


def record(detector: str, ap: float | None = 0.303, subset: str | None = None, meaningful: bool = True, status: str = "ok") -> dict:
    return {"detector": detector, "status": status, "error": None if status == "ok" else "RuntimeError: boom", "subset": subset,
            "accuracy_meaningful": meaningful, "speed_summary": {"latency_p50_ms": 21.04}, "metrics_summary": {"AP": ap, "AP50": 0.469},
            "describe": {"published": {"box_map": 25.8}}}  # fmt: skip


def test_unit_line_names_the_subset_beside_the_ap():
    line = unit_line("yolox_nano", record("yolox_nano", subset="30 of 120 images"), "coco")
    assert "AP 30.3 (30 of 120 images) (published 25.8 on full val2017)" in line and "21.0 ms p50" in line
    assert "images)" not in unit_line("yolox_nano", record("yolox_nano"), "coco")  # every image: no subset to name
    assert "speed only, no AP" in unit_line("r", record("r", meaningful=False, subset="speed only"), "coco")


def test_group_line_is_one_compact_line():
    names = [f"detector_{i}" for i in range(31)]
    line = group_line("left out", "random weights, not in the quick profile's fixed list of units", names, "--full runs them all")
    assert "\n" not in line and "31 detectors: detector_0, detector_1" in line and "... and 25 more" in line and len(line) < 220
    assert group_line("not run", "needs ultralytics", ["yolov8n"]) == "  not run, needs ultralytics: 1 detector: yolov8n"


def test_recap_counts_scores_and_links_the_report(tmp_path):
    records = [("coco-val2017-mini", "coco", record("yolox_nano")), ("coco-val2017-mini", "coco", record("nanodet_m", 0.233, "30 of 120 images")),
               ("coco-val2017-mini", "coco", record("ssd", meaningful=False)), ("coco-val2017-mini", "coco", record("bad", status="failed"))]  # fmt: skip
    report = tmp_path / "reports" / "r1" / "index.html"
    text = recap(records, [{"detector": "x"}] * 3, [{"detector": "y"}] * 2, report)
    lines = text.splitlines()
    assert lines[0] == "recap: 2 scored, 1 timed only (random weights, no AP), 3 left out by the profile, 2 unavailable here, 1 failed"
    assert "yolox_nano" in lines[1] and "AP  30.3 (published 25.8 on full val2017)" in lines[1]
    assert "AP  23.3 (30 of 120 images) (published 25.8" in lines[2]
    assert "bad" in lines[3] and "failed: RuntimeError: boom" in lines[3]
    assert lines[-1] == f"report: file://{report.resolve()}"


def test_progress_without_a_terminal_is_a_few_plain_lines():
    out = io.StringIO()
    bar = LineProgress(120, "yolox_nano on coco-val2017-mini", stream=out)
    for _ in range(120):
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 4
    assert lines[0].startswith("    yolox_nano on coco-val2017-mini: 30/120 images (") and lines[-1].split(":")[1].startswith(" 120/120")
    assert isinstance(progress_bar(10, "x"), LineProgress)  # pytest's stderr is no terminal


def test_loader_figure_in_words():
    line = loader_line({"images": 64, "seconds": 5.3, "images_per_s": 12.07, "workers": 1})
    assert line.startswith("image loading alone (read + decode, no model): 12 images/s over 64 images, 1 worker process;")
    assert "in this process" in loader_line({"images": 4, "seconds": 1.0, "images_per_s": 4.0, "workers": 0})


def test_bench_run_names_the_subset_beside_the_ap(tmp_path):
    cmd = [sys.executable, "-m", "bench", "run", "--detector", "yolox_nano", "--dataset", "coco-val2017-mini", "--max-images", "5",
           "--out", str(tmp_path / "runs")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stderr
    box = next(ln for ln in proc.stdout.splitlines() if ln.startswith("box"))
    assert box.startswith("box (5 of 120 images)  AP ") and "\r" not in proc.stderr


def test_bench_all_groups_what_did_not_run_and_recaps(tmp_path, monkeypatch, capsys):
    """A registry of three (two random-weight units, one ONNX entry without a file) and a quick
    profile whose fixed list holds the first: the second is left out, in one group line, in the
    recap's counts and in skipped_units.json beside the ONNX entry, which cannot run here."""
    import detectors.availability  # noqa: F401 (imported before the patch, so its own REGISTRY binding stays the full one)
    import detectors.registry as registry
    from bench.cli.main import main
    from bench.jsonio import load_json
    from bench.run import unit

    monkeypatch.setenv("DETBENCH_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    names = ("ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn", "onnx_yolox")
    monkeypatch.setattr(registry, "REGISTRY", {k: registry.REGISTRY[k] for k in names})
    monkeypatch.setitem(unit.PROFILES, "quick", {**unit.PROFILES["quick"], "random_units": ("ssdlite320_mobilenet_v3_large",)})
    assert main(["all", "--cache", str(tmp_path), "--out", str(tmp_path / "runs"), "--reports", str(tmp_path / "reports"),
                 "--max-images", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert ("  left out, random weights, not in the quick profile's fixed list of units: 1 detector: fasterrcnn_mobilenet_v3_large_320_fpn "
            "(--full runs them all, --detectors NAME runs one)") in out  # fmt: skip
    assert "recap: 0 scored, 1 timed only (random weights, no AP), 1 left out by the profile, 1 unavailable here, 0 failed" in out
    (run,) = (tmp_path / "runs").iterdir()
    assert [(s["detector"], s["why"][:10]) for s in load_json(run / "skipped_units.json")] == [
        ("fasterrcnn_mobilenet_v3_large_320_fpn", "quick prof"), ("onnx_yolox", "needs --we")]
