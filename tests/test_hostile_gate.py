"""The CI gate cannot pass by accident: a hostile or broken baseline (no units, Infinity/NaN,
strings for numbers, missing fields) is refused with an error naming the file, unit and field
(exit 2); a metric on one side only is a listed failure (exit 1), a unit on one side only is listed
as added / removed (not a failure); two units with the same dataset/detector but different settings
are told apart, never picked by folder-hash order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.errors import InputError
from bench.gate.check import SPEED_METRIC, compare, make_baseline, write_baseline
from bench.jsonio import dump_json

UNIT = "d/m"


def make_run(path: Path, units: list[dict], reference_ms: float = 2.0) -> Path:
    """A run folder by hand: each unit dict has detector, AP (or None: no metrics), p50, settings."""
    path.mkdir(parents=True)
    dump_json(path / "run.json", {"run_id": path.name, "reference_ms": reference_ms})
    for i, u in enumerate(units):
        folder = path / f"d__{u.get('detector', 'm')}__{u.get('key', f'k{i:02d}')}"
        folder.mkdir()
        p50 = u.get("p50", 10.0)
        speed = {"latency_p50_ms": p50, "latency_intervals_ms": {"p50": [0.95 * p50, 1.05 * p50] if p50 is not None else None}, "single_stream_n": 100,
                 "machine_busy": False, "others_cpu_share": 0.0}  # fmt: skip
        rec = {"dataset": "d", "detector": u.get("detector", "m"), "status": u.get("status", "ok"), "speed_summary": speed}
        if "settings" in u:
            rec["settings"] = u["settings"]
        (folder / "record.json").write_text(json.dumps(rec))  # json, not orjson: keeps Infinity as a hostile file would
        if u.get("AP", 0.5) is not None:
            dump_json(folder / "metrics.json", {"metrics": {"AP": u.get("AP", 0.5), "AP50": 0.7}})
    return path


def write_raw(path: Path, baseline: dict) -> Path:
    """Write JSON the way a hand-edited file might hold it (Infinity / NaN literals allowed)."""
    path.write_text(json.dumps(baseline, allow_nan=True))
    return path


@pytest.fixture
def good(tmp_path):
    run = make_run(tmp_path / "run", [{}])
    return run, make_baseline(run)


def check(baseline: Path, run: Path) -> int:
    return main(["check", "--baseline", str(baseline), "--run", str(run)])


def test_empty_units_is_an_error_not_no_regressions(tmp_path, good, capsys):
    run, base = good
    path = write_raw(tmp_path / "empty.json", {**base, "units": {}})
    with pytest.raises(InputError, match=r"empty\.json: units: no units"):
        compare(path, run)
    assert check(path, run) == 2
    out = capsys.readouterr()
    assert "no regressions" not in out.out and "units: no units" in out.err


@pytest.mark.parametrize(
    "field,value",
    [("latency.p50_ms", float("inf")), ("latency_p50_ms", float("inf")), ("latency.interval_ms", [float("nan"), 11.0]),
     ("metrics.AP", float("nan")), ("metrics.AP", float("-inf")), ("metrics.AP", "0.5"), ("metrics.AP", True),
     ("latency", "fast"), ("metrics.AP", 7.0), ("latency.p50_ms", -1.0), ("latency.interval_ms", [11.0, 12.0]),
     ("latency.others_share", 1.5), ("latency.busy", "no"), ("latency.n", 0)],
    ids=["inf-latency", "inf-p50", "nan-interval", "nan-AP", "-inf-AP", "string-AP", "bool-AP", "string-latency", "AP-out-of-range",
         "negative-latency", "interval-without-p50", "share-out-of-range", "string-busy", "zero-samples"],
)  # fmt: skip
def test_bad_values_are_errors_naming_file_unit_and_field(tmp_path, good, capsys, field, value):
    run, base = good
    unit = dict(base["units"][UNIT])
    if field.startswith(("metrics.", "latency.")):
        top, sub = field.split(".", 1)
        unit[top] = {**unit[top], sub: value}
    else:
        unit[field] = value
    path = write_raw(tmp_path / "hostile.json", {**base, "units": {UNIT: unit}})
    with pytest.raises(InputError) as err:
        compare(path, run)
    assert str(err.value).startswith(f"{path}: units['{UNIT}'].{field}:")
    assert check(path, run) == 2
    assert f"units['{UNIT}'].{field}" in capsys.readouterr().err


def test_infinite_baseline_latency_no_longer_passes_a_slow_run(tmp_path, good):
    run, base = good
    slow = make_run(tmp_path / "slow", [{"p50": 10_000.0}])
    unit = base["units"][UNIT]
    path = write_raw(tmp_path / "inf.json", {**base, "units": {UNIT: {**unit, "latency": {**unit["latency"], "p50_ms": float("inf")}}}})
    assert check(path, slow) == 2


@pytest.mark.parametrize("field", ["status", "metrics", "latency"])
def test_a_missing_field_is_an_error(tmp_path, good, field):
    run, base = good
    unit = {k: v for k, v in base["units"][UNIT].items() if k != field}
    with pytest.raises(InputError, match=rf"units\['{UNIT}'\]\.{field}: missing"):
        compare({**base, "units": {UNIT: unit}}, run)


def test_a_unit_that_gates_nothing_is_an_error(good):
    run, base = good
    unit = {**base["units"][UNIT], "metrics": {"AP": None}, "latency_p50_ms": None, "latency": None}
    with pytest.raises(InputError, match="gates nothing"):
        compare({**base, "units": {UNIT: unit}}, run)


def test_a_metric_the_run_has_and_the_baseline_lacks_fails(good):
    run, base = good
    unit = {**base["units"][UNIT], "metrics": {"AP50": base["units"][UNIT]["metrics"]["AP50"]}}  # AP dropped
    bad = [r for r in compare({**base, "units": {UNIT: unit}}, run) if not r.ok]
    assert [(r.unit, r.metric, r.delta) for r in bad] == [(UNIT, "AP", "not in baseline")]


def test_a_latency_the_baseline_measured_and_the_run_did_not_fails(tmp_path, good):
    run, base = good
    unmeasured = make_run(tmp_path / "acc", [{"p50": None}])
    bad = [r for r in compare(base, unmeasured) if not r.ok]
    assert [(r.metric, r.delta) for r in bad] == [(SPEED_METRIC, "not measured")]
    # the other way round is legitimate: an accuracy-only baseline unit (latency null) is "not measured"
    accuracy_only = {**base, "units": {UNIT: {**base["units"][UNIT], "latency_p50_ms": None, "latency": None}}}
    assert all(r.ok for r in compare(accuracy_only, run)) and SPEED_METRIC not in {r.metric for r in compare(accuracy_only, run)}


def test_non_finite_values_in_the_run_fail(tmp_path, good):
    _, base = good
    run = make_run(tmp_path / "inf", [{"p50": float("inf")}])  # a corrupt speed summary
    (next(p for p in run.iterdir() if p.is_dir()) / "metrics.json").write_text('{"metrics": {"AP": NaN, "AP50": "high"}}')
    bad = {r.metric: r.delta for r in compare(base, run) if not r.ok}
    assert bad == {"AP": "invalid nan", "AP50": "invalid 'high'", SPEED_METRIC: "invalid inf"}


def test_units_on_one_side_only_are_listed_as_added_or_removed(tmp_path, good, capsys):
    run, base = good
    other = make_run(tmp_path / "other", [{"detector": "n"}])
    rows = compare(base, other)
    assert {(r.unit, r.verdict, r.ok) for r in rows} == {("d/m", "removed", True), ("d/n", "added", True)}
    both = make_run(tmp_path / "both", [{}, {"detector": "n"}])
    assert [(r.unit, r.delta, r.verdict, r.ok) for r in compare(base, both) if r.unit == "d/n"] == [("d/n", "not in baseline", "added", True)]
    path = tmp_path / "base.json"
    dump_json(path, base)
    assert check(path, both) == 0  # a newly registered detector does not fail the gate
    out = capsys.readouterr().out
    assert "d/n" in out and "added" in out and "no regressions; 1 unit(s) added" in out
    failed = make_run(tmp_path / "failed", [{"status": "failed", "AP": None, "p50": None}])
    assert [(r.unit, r.delta, r.ok) for r in compare(base, failed)] == [("d/m", "failed", False)]  # failing is still a regression


def test_a_baseline_unit_recorded_as_failed_does_not_pass(tmp_path, good):
    run, base = good
    failed = {**base, "units": {UNIT: {**base["units"][UNIT], "status": "failed", "metrics": {}, "latency_p50_ms": None, "latency": None}}}
    assert [(r.metric, r.delta, r.ok) for r in compare(failed, run)] == [("status", "baseline failed", False)]


def test_baseline_refuses_an_empty_or_non_finite_run(tmp_path, capsys):
    empty = make_run(tmp_path / "empty", [])
    with pytest.raises(InputError, match="no units"):
        write_baseline(empty, tmp_path / "b.json")
    assert main(["baseline", "--run", str(empty), "--out", str(tmp_path / "b.json")]) == 2
    assert not (tmp_path / "b.json").exists()
    inf = make_run(tmp_path / "inf", [{"p50": float("inf")}])
    assert main(["baseline", "--run", str(inf), "--out", str(tmp_path / "b.json")]) == 2
    assert "latency_p50_ms" in capsys.readouterr().err and not (tmp_path / "b.json").exists()


SETTINGS = {"dataset": "d", "detector": "m", "max_images": 5, "device": "cpu"}


def test_same_label_different_settings_are_told_apart(tmp_path):
    # as after --resume with changed settings: the folder-hash order must not pick one
    run = make_run(tmp_path / "run", [{"key": "ffff", "AP": 0.9, "settings": SETTINGS}, {"key": "0000", "AP": 0.1, "settings": {**SETTINGS, "max_images": 6}}])
    base = make_baseline(run)
    assert base["units"].keys() == {"d/m[max_images=5]", "d/m[max_images=6]"}
    assert base["units"]["d/m[max_images=5]"]["metrics"]["AP"] == 0.9 and base["units"]["d/m[max_images=6]"]["metrics"]["AP"] == 0.1
    assert all(r.ok for r in compare(base, run))
    single = make_baseline(make_run(tmp_path / "single", [{"AP": 0.9, "settings": SETTINGS}]))
    assert single["units"].keys() == {"d/m"}  # a unique pair keeps the plain label
    assert {(r.unit, r.verdict) for r in compare(single, run)} == {("d/m", "removed"), ("d/m[max_images=5]", "added"), ("d/m[max_images=6]", "added")}


def test_same_label_and_nothing_to_tell_them_apart_is_an_error(tmp_path):
    run = make_run(tmp_path / "run", [{"key": "aaaa"}, {"key": "bbbb", "AP": 0.2}])  # records without settings
    with pytest.raises(InputError, match=r"d/m: 2 units share this label.*d__m__aaaa.*d__m__bbbb"):
        make_baseline(run)
    assert main(["baseline", "--run", str(run), "--out", str(tmp_path / "b.json")]) == 2


def test_resume_with_changed_settings_gates_both_units(tmp_path, tmp_path_factory):
    from bench.data.catalog import prepare_synthetic
    from bench.data.images import image_root
    from tests.test_run_store_gate import do_run, noisy

    ds = prepare_synthetic("coco", tmp_path_factory.mktemp("cache"))
    synthetic = (ds, image_root(ds))
    do_run(tmp_path / "r", synthetic, max_images=5)
    do_run(tmp_path / "r", synthetic, build=noisy(*synthetic, noise=0.3), max_images=6)  # --resume, changed settings, worse
    base = make_baseline(tmp_path / "r")
    assert set(base["units"]) == {"synthetic-coco/noisy[max_images=5]", "synthetic-coco/noisy[max_images=6]"}
    aps = {k: u["metrics"]["AP"] for k, u in base["units"].items()}
    assert aps["synthetic-coco/noisy[max_images=5]"] > aps["synthetic-coco/noisy[max_images=6]"]
