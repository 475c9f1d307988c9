"""The CLI contract: ``python -m bench eval`` names, output JSON shape, exit codes; ``bench all``."""

import json
import subprocess
import sys

import numpy as np
import pytest
from cases import coco_case

from bench.cli.evaluate import METRIC_ORDER
from bench.cli.main import main
from bench.data.model import DetectionTable
from bench.data.results_out import write_results
from bench.data.synthetic import SyntheticSpec, write
from bench.data.voc import load_voc


def run(argv, capsys):
    code = main(argv)
    return code, capsys.readouterr()


@pytest.mark.parametrize("protocol, lvis", [("coco", False), ("lvis", True)])
def test_eval_writes_the_contract_json(tmp_path, capsys, protocol, lvis):
    gt, dets = coco_case(5, 3, 3, lvis=lvis)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = tmp_path / "m.json"
    code, io = run(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--protocol", protocol, "--out", str(out)], capsys)
    assert code == 0 and f"protocol: {protocol}" in io.out
    data = json.loads(out.read_text())
    assert data["protocol"] == protocol and list(data["metrics"]) == METRIC_ORDER[protocol]
    assert set(data["per_class"]) == {c["name"] for c in gt["categories"]}
    assert all("AP" in v for v in data["per_class"].values())
    assert all(v is None or 0 <= v <= 1 for v in data["metrics"].values())


def test_eval_voc_from_devkit_files_and_from_coco_json(tmp_path, capsys):
    root = write(SyntheticSpec(layout="voc", num_images=6), tmp_path, images=False)
    ds = load_voc(root)
    b = ds.boxes
    keep = ~b.difficult
    det = DetectionTable(b.image_idx[keep], b.category_idx[keep], b.xyxy[keep], b.box_area[keep], np.linspace(1, 0.5, int(keep.sum())))
    res_dir = tmp_path / "res"
    res_dir.mkdir()
    for k, name in enumerate(ds.categories.names):
        sel = np.flatnonzero(det.category_idx == k)
        (res_dir / f"comp4_det_test_{name}.txt").write_text(
            "".join(f"{ds.images.keys[det.image_idx[j]]} {det.scores[j]} {det.xyxy[j,0]+1:g} {det.xyxy[j,1]+1:g} {det.xyxy[j,2]:g} {det.xyxy[j,3]:g}\n" for j in sel)
        )
    write_results(det, ds, tmp_path / "dt.json")
    for results in (res_dir, tmp_path / "dt.json"):
        for protocol in ("voc07", "voc12"):
            out = tmp_path / f"{protocol}.json"
            code, _ = run(["eval", "--gt", str(root), "--results", str(results), "--protocol", protocol, "--out", str(out)], capsys)
            data = json.loads(out.read_text())
            assert code == 0 and list(data["metrics"]) == ["mAP"] and data["metrics"]["mAP"] == pytest.approx(1.0, abs=1e-12)


def test_bad_input_exits_2_with_the_place(tmp_path, capsys):
    gt, dets = coco_case(5, 2, 2)
    dets[1]["score"] = "high"
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    code, io = run(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--protocol", "coco"], capsys)
    assert code == 2 and "dt.json: detections[1].score: expected a number" in io.err
    code, io = run(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--protocol", "lvis"], capsys)
    assert code == 2 and "needs an LVIS annotation file" in io.err


def test_bench_all_runs_the_built_in_default(tmp_path):
    import json
    import os

    env = {**os.environ, "DETBENCH_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch")}
    cmd = [sys.executable, "-m", "bench", "all", "--cache", str(tmp_path), "--out", str(tmp_path / "runs"), "--reports", str(tmp_path / "reports"),
           "--detectors", "ssdlite320_mobilenet_v3_large,onnx_yolov8", "--max-images", "2"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("self-check AP=100.0 ok") == 4
    assert "  not run, needs --weights model.onnx: 1 detector: onnx_yolov8 (no official weights: bring your export)" in proc.stdout
    assert "recap: 0 scored, 1 timed only (random weights, no AP), 0 left out by the profile, 1 unavailable here, 0 failed" in proc.stdout
    assert "\r" not in proc.stderr  # no terminal: no carriage-return progress frames in the log
    (run,) = (tmp_path / "runs").iterdir()
    (unit,) = [p for p in run.iterdir() if p.is_dir()]
    rec = json.loads((unit / "record.json").read_text())
    assert rec["weights_used"] == "random" and rec["accuracy_meaningful"] is False  # offline: fell back, and says so
    assert "fell back to random" in rec["notes"][0] and rec["subset"] == "speed only"  # quick profile: timed, never scored
    assert (unit / "speed.json").exists() and not (unit / "metrics.json").exists()
    assert (tmp_path / "reports" / run.name / "index.html").exists()  # bench all ends with the report
    assert f"report: {(tmp_path / 'reports' / run.name / 'index.html').resolve().as_uri()}" in proc.stdout
    assert json.loads((run / "skipped_units.json").read_text()) == [
        {"dataset": "coco-val2017-mini", "detector": "onnx_yolov8", "why": "needs --weights model.onnx (no official weights: bring your export)"}]


def test_scoring_does_not_import_torch(tmp_path):
    code = "import sys, bench.data.inputs, bench.metrics.core; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_help_lists_every_command_on_one_line(capsys):
    from bench.cli.main import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in commands:
        lines = [ln for ln in out.splitlines() if ln.strip().startswith(name + " ")]
        assert len(lines) == 1 and len(lines[0].split(None, 1)) == 2, f"{name} has no one-line help"
