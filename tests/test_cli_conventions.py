"""The CLI's conventions (issue 22): --version, --json on stdout, examples in every --help, no
abbreviations, unknown options named for their command with the closest option, report defaulting
to the latest run, report --compare's verdict and exit code, the decimal policy, eval's classes
line and its pycocotools format (byte for byte against pycocotools), list's order and width."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest

from bench.cli.main import build_parser, main

MINI = "bench/data/embedded/coco_val2017_mini/instances_val2017_mini.json"
REPO = Path(__file__).resolve().parents[1]


def write_embedded_results(path: Path, seed: int = 0) -> Path:
    """A COCO results file on the embedded coco-val2017-mini: its ground truth jittered (8% of the
    box size), 15% dropped, 10% relabelled, uniform random scores; seeded. Stands for a user's file."""
    gt = json.loads((REPO / MINI).read_text())
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    out = []
    for a in gt["annotations"]:
        if rng.random() < 0.15:
            continue
        x, y, w, h = a["bbox"]
        j = rng.normal(0, 0.08, 4)
        cat = a["category_id"] if rng.random() > 0.1 else int(rng.choice(cats))
        box = [round(x + j[0] * w, 2), round(y + j[1] * h, 2), round(w * (1 + j[2]), 2), round(h * (1 + j[3]), 2)]
        out.append({"image_id": a["image_id"], "category_id": cat, "bbox": box, "score": round(float(rng.random()), 4)})
    path.write_text(json.dumps(out))
    return path


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_version(capsys):
    from bench import __version__

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"detbench {__version__}"


def test_every_help_has_examples_and_no_abbreviations():
    parser = build_parser()
    assert parser.allow_abbrev is False
    for name, sub in subparsers().items():
        assert sub.allow_abbrev is False, name
        help_text = sub.format_help()
        assert "examples:\n  python -m bench " + name in help_text, f"{name} --help has no example"


@pytest.mark.parametrize("argv, message", [
    (["run", "--detecter", "yolox_nano"], "python -m bench run: unknown option --detecter; did you mean --detector?"),
    (["all", "--scor-threshold", "0.1"], "python -m bench all: unknown option --scor-threshold; did you mean --score-threshold?"),
    (["eval", "--result", "x.json", "--gt", "y.json"], "python -m bench eval: unknown option --result; did you mean --results?"),
    (["list", "--zzz"], "python -m bench list: unknown option --zzz (see python -m bench list --help)"),
])  # fmt: skip
def test_unknown_options_name_the_command_and_the_closest_option(capsys, argv, message):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err
    assert "required" not in err  # not the misleading "the following arguments are required: --detector"


def test_option_values_and_known_options_pass_the_check():
    args = build_parser().parse_args(["run", "--detector", "yolox_nano", "--detector-arg=x=1", "--dataset", "coco-val2017-mini"])
    assert args.detector == "yolox_nano" and args.detector_arg == ["x=1"]


def test_eval_text_json_and_classes_line(tmp_path, capsys):
    results = write_embedded_results(tmp_path / "results.json")
    assert main(["eval", "--gt", str(REPO / MINI), "--results", str(results)]) == 0
    text = capsys.readouterr().out
    assert "  classes: 71 with ground truth of 80 (lowest AP: " in text
    assert main(["eval", "--gt", str(REPO / MINI), "--results", str(results), "--json", "--out", str(tmp_path / "m.json")]) == 0
    io_ = capsys.readouterr()
    doc = json.loads(io_.out)  # stdout is the JSON alone
    assert doc == json.loads((tmp_path / "m.json").read_text())
    assert doc["protocol"] == "coco" and set(doc["metrics"]) >= {"AP", "AP50"} and "protocol: coco" in io_.err
    ap = doc["metrics"]["AP"]
    assert f"AP      {100 * ap:.1f}\n" in io_.err  # one decimal in points, as bench.fmt.pts


def test_eval_pycocotools_format_is_byte_equal_to_pycocotools(tmp_path, capsys):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    results = write_embedded_results(tmp_path / "results.json")
    assert main(["eval", "--gt", str(REPO / MINI), "--results", str(results), "--format", "pycocotools"]) == 0
    ours = capsys.readouterr().out
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(REPO / MINI))
        ev = COCOeval(gt, gt.loadRes(str(results)), "bbox")
        ev.evaluate()
        ev.accumulate()
    theirs = io.StringIO()
    with contextlib.redirect_stdout(theirs):
        ev.summarize()
    assert ours == theirs.getvalue() and len(ours.splitlines()) == 12


def test_eval_pycocotools_format_refuses_other_protocols_and_json(tmp_path, capsys):
    results = write_embedded_results(tmp_path / "results.json")
    base = ["eval", "--gt", str(REPO / MINI), "--results", str(results)]
    assert main([*base, "--format", "pycocotools", "--protocol", "voc07"]) == 2
    assert "coco protocol only" in capsys.readouterr().err
    assert main([*base, "--format", "pycocotools", "--json"]) == 2


def test_explain_json(tmp_path, capsys):
    results = write_embedded_results(tmp_path / "results.json")
    assert main(["explain", "--gt", str(REPO / MINI), "--results", str(results), "--protocol", "coco_maxdets_per_image", "--json"]) == 0
    io_ = capsys.readouterr()
    doc = json.loads(io_.out)
    assert doc["baseline"] == "pycocotools" and "pycocotools" in doc["protocols"] and "waterfall" in io_.err


def test_list_ready_first_within_100_columns_and_json(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert all(len(line) <= 100 for line in text.splitlines())
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    statuses = [r["status"] for r in rows]
    ready = [r["detector"] for r in rows if r["status"] == "ready"]
    assert {"yolox_nano", "nanodet_m"} <= set(ready) and statuses[: len(ready)] == ["ready"] * len(ready)
    assert text.index("yolox_nano") < text.index("fasterrcnn_resnet50_fpn")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """runs/a (a good test-only detector) and runs/b (the same, noisier: a regression), made by
    run_unit on the synthetic dataset; runs/b is the later one."""
    from bench.data.catalog import prepare_synthetic
    from bench.data.images import image_root
    from bench.jsonio import dump_json
    from bench.protocols import COCO
    from bench.run.unit import UnitSettings, run_unit
    from tests.noisy_detector import NoisyGroundTruth

    base = tmp_path_factory.mktemp("cli-runs")
    ds = prepare_synthetic("coco", base / "cache")
    root = image_root(ds)
    out = []
    for name, noise in (("a", 0.02), ("b", 0.3)):
        path = base / "runs" / name
        path.mkdir(parents=True)
        dump_json(path / "run.json", {"run_id": name, "reference_ms": 1.0, "command": "test", "environment": {}})
        build = lambda noise=noise, **kw: NoisyGroundTruth(list(ds.categories.names), ds, root, noise=noise, **{k: v for k, v in kw.items() if k != "weights"})  # noqa: E731
        run_unit(UnitSettings(dataset="synthetic-coco", detector="noisy", speed_seconds=0.05, max_images=8), ds, root, COCO, path, {},
                 build=build, log=lambda m: None)  # fmt: skip
        out.append(path)
    os.utime(out[1] / "run.json")  # b is the latest
    return base, out


def test_report_defaults_to_the_latest_run(two_runs, monkeypatch, capsys):
    base, (_, b) = two_runs
    monkeypatch.chdir(base)
    assert main(["report"]) == 0
    assert "wrote reports/b/index.html" in capsys.readouterr().out and (base / "reports" / "b" / "index.html").exists()


def test_report_compare_prints_the_verdict_and_fails_on_a_regression(two_runs, monkeypatch, capsys):
    base, (a, b) = two_runs
    monkeypatch.chdir(base)
    assert main(["report", "--compare", str(a), str(a)]) == 0
    assert "no regressions" in capsys.readouterr().out
    assert main(["report", "--compare", str(a), str(b), "--out", str(base / "cmp")]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "regression(s)" in out and (base / "cmp" / "index.html").exists()


def test_check_json_and_decimal_policy(two_runs, tmp_path, capsys):
    from bench.gate.check import make_baseline
    from bench.jsonio import dump_json

    _, (a, b) = two_runs
    dump_json(tmp_path / "base.json", make_baseline(a))
    assert main(["check", "--baseline", str(tmp_path / "base.json"), "--run", str(b), "--json"]) == 1
    io_ = capsys.readouterr()
    doc = json.loads(io_.out)
    assert doc["ok"] is False and doc["regressions"] >= 1 and {"unit", "metric", "baseline", "current", "delta", "ok"} <= set(doc["rows"][0])
    row = next(r for r in doc["rows"] if r["metric"] == "AP")
    line = next(ln for ln in io_.err.splitlines() if " AP " in ln)
    # values in points with one decimal, the difference with two and a sign
    assert f" {100 * row['baseline']:.1f} " in line and f" {100 * row['current']:.1f} " in line and " pts" in row["delta"]
    assert f"{100 * (row['current'] - row['baseline']):+.2f} pts" == row["delta"]


def test_pytest_config_filters_third_party_warnings_and_keeps_ours(tmp_path):
    import subprocess
    import sys

    (tmp_path / "test_w.py").write_text(
        "import warnings\n"
        "def test_w():\n"
        "    warnings.warn_explicit('ours', DeprecationWarning, 'bench/x.py', 1, module='bench.x')\n"
        "    warnings.warn_explicit('theirs', DeprecationWarning, 'torch/x.py', 1, module='torch.x')\n"
        "    warnings.warn_explicit('theirs too', UserWarning, 'transformers/x.py', 1, module='transformers.x')\n"
        "def test_s():\n"
        "    import pytest; pytest.skip('a reason shown')\n"
    )  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "pytest", "-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path / "test_w.py")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert "1 passed, 1 skipped, 1 warning" in proc.stdout and "ours" in proc.stdout and "theirs" not in proc.stdout
    assert "SKIPPED" in proc.stdout and "a reason shown" in proc.stdout  # -rs
