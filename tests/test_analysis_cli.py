"""The analysis features end to end: ``bench eval`` options into --out, and ``bench check``'s
statistical mode on the deterministic CI run (tests/test_ci_gate.py)."""

from __future__ import annotations

import json

import pytest
from cases import coco_case
from tide_shim import tidecv_main_errors

from bench.cli.main import main
from bench.gate.check import compare
from bench.gate.statistical import statistical_rows
from bench.jsonio import load_json
from tests.test_ci_gate import deterministic_run


def test_eval_writes_every_analysis(tmp_path, capsys):
    gt, dets = coco_case(5, n_img=12, integer=False)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = tmp_path / "out.json"
    assert main(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--bootstrap", "200", "--tide",
                 "--confusion", "--operating-point", "0.3", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "bootstrap (200 resamples" in printed and "TIDE (AP50" in printed
    f = load_json(out)
    assert set(f["ci"]) == {"AP", "AP50", "AP75"} and all(lo <= hi for lo, hi in f["ci"].values())
    assert set(f["ci_per_class"]) == set(f["per_class"]) and f["bootstrap"]["resamples"] == 200
    ap, ref = tidecv_main_errors(gt, dets)
    assert f["tide"]["main"] == pytest.approx(ref, abs=1e-9) and f["tide"]["ap50"] == pytest.approx(ap)
    k = len(gt["categories"])
    assert len(f["confusion"]["matrix"]) == k + 1 and f["confusion"]["labels"][-1] == "background"
    assert f["operating_points"]["confidence"] == 0.3 and "overall" in f["operating_points"]["at_confidence"]
    # without the options: no analysis keys
    assert main(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), "--out", str(out)]) == 0
    assert not {"ci", "tide", "confusion", "operating_points"} & set(load_json(out))


def test_check_statistical_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DETBENCH_CACHE", str(tmp_path / "cache"))
    base_run = deterministic_run(tmp_path / "a", tmp_path / "cache")
    baseline = tmp_path / "base.json"
    assert main(["baseline", "--run", str(base_run), "--out", str(baseline), "--keep-predictions"]) == 0
    rec = load_json(next(p for p in base_run.iterdir() if p.is_dir()) / "record.json")
    a = rec["analysis"]  # bench run stores the analyses with each unit
    assert {"ci", "ci_per_class", "bootstrap", "tide", "confusion", "operating_points"} <= set(a) and a["bootstrap"]["resamples"] == 1000
    from bench.report.render import render_run

    html = render_run(base_run, tmp_path / "report").read_text()
    assert "Bootstrap intervals over images" in html and "TIDE error types" in html and "confusion (IoU 0.5" in html
    assert "AP 95% CI" in html
    import pandas as pd

    csv = pd.read_csv(tmp_path / "report" / "leaderboard.csv")  # fractions, as AP (two columns); points only for display
    lo, hi = a["ci"]["AP"]
    assert "AP_ci" not in csv and {lo, hi} <= set(csv["AP_ci_low"]) | set(csv["AP_ci_high"]) and (csv["AP_ci_high"] <= 1).all()
    assert f"[{100 * lo:.1f}, {100 * hi:.1f}]" in html and f"[{100 * lo:.1f}, {100 * hi:.1f}]" in (tmp_path / "report" / "leaderboard.md").read_text()
    units = load_json(baseline)["units"]
    assert all("predictions" in u and (tmp_path / u["predictions"]["file"]).exists() for u in units.values())
    stat = ["--significance", "0.05", "--min-effect", "0.5", "--resamples", "300", "--speed-tol", "100"]
    same = deterministic_run(tmp_path / "b", tmp_path / "cache")
    assert main(["check", "--baseline", str(baseline), "--run", str(same), *stat]) == 0
    assert "statistical mode" in capsys.readouterr().out
    # a slightly noisier detector: AP drops 0.9 points (significant), AP75 0.7 points (not significant
    # on 48 images): the tolerance mode fails both, the statistical mode only AP
    worse = deterministic_run(tmp_path / "c", tmp_path / "cache", noise=0.052)
    tol = {(r.unit, r.metric): r for r in compare(baseline, worse, 0.005, 100.0)}
    rows = {(r.unit, r.metric): r for r in statistical_rows(list(tol.values()), baseline, worse, 0.05, 0.005, n=300)}
    unit = "synthetic-coco/noisy-gt-a"
    assert not tol[unit, "AP"].ok and not tol[unit, "AP75"].ok
    assert not rows[unit, "AP"].ok and " significant" in rows[unit, "AP"].delta
    assert rows[unit, "AP75"].ok and "not significant" in rows[unit, "AP75"].delta
    assert rows[unit, "AP50"].ok and rows[unit, "latency_p50_ms"] == tol[unit, "latency_p50_ms"]
    assert main(["check", "--baseline", str(baseline), "--run", str(worse), *stat]) == 1
    assert "p=" in capsys.readouterr().out
    # a baseline without predictions: the absolute tolerance decides, and the table says so
    plain = tmp_path / "plain.json"
    assert main(["baseline", "--run", str(base_run), "--out", str(plain)]) == 0
    rows = statistical_rows(compare(plain, worse, 0.005, 100.0), plain, worse, 0.05, 0.005, n=50)
    assert not [r for r in rows if r.metric == "AP"][0].ok
    assert all("tolerance: no baseline predictions" in r.delta for r in rows if r.metric.startswith("AP"))


@pytest.mark.parametrize("bad", [["--bootstrap", "0"], ["--bootstrap", "10", "--confidence", "1.5"], ["--operating-point", "2"],
                                 ["--confusion", "--confusion-iou", "0"]])  # fmt: skip
def test_eval_refuses_bad_analysis_options(tmp_path, capsys, bad):
    gt, dets = coco_case(5, n_img=3)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    assert main(["eval", "--gt", str(tmp_path / "gt.json"), "--results", str(tmp_path / "dt.json"), *bad]) == 2
    assert "error: --" in capsys.readouterr().err
