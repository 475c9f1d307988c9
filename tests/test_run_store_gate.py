"""One unit on the synthetic dataset: stored files, re-scoring, resume, failures as records,
and the CI gate catching a degraded detector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.data.catalog import prepare_synthetic
from bench.data.images import image_root
from bench.jsonio import dump_json, load_json
from bench.protocols import COCO
from bench.run.unit import UnitSettings, run_unit
from tests.noisy_detector import NoisyGroundTruth


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    ds = prepare_synthetic("coco", tmp_path_factory.mktemp("cache"))
    return ds, image_root(ds)


def noisy(ds, root, **kw):
    return lambda **common: NoisyGroundTruth(list(ds.categories.names), ds, root, **kw, **{k: v for k, v in common.items() if k != "weights"})


def do_run(run: Path, synthetic, detector="noisy", build=None, **settings):
    ds, root = synthetic
    run.mkdir(parents=True, exist_ok=True)
    dump_json(run / "run.json", {"run_id": run.name, "reference_ms": 1.0})
    s = UnitSettings(dataset="synthetic-coco", detector=detector, speed_seconds=0.05, **settings)
    return run_unit(s, ds, root, COCO, run, {"test": True}, build=build or noisy(ds, root), log=lambda m: None)


def test_unit_files_rescore_to_the_same_metrics(tmp_path, synthetic, capsys):
    rec = do_run(tmp_path / "r1", synthetic)
    assert rec["status"] == "ok" and rec["subset"] is None
    unit = next(p for p in (tmp_path / "r1").iterdir() if p.is_dir())
    assert {p.name for p in unit.iterdir()} == {"predictions.json.gz", "metrics.json", "speed.json", "record.json"}
    metrics = load_json(unit / "metrics.json")["metrics"]
    assert 0.3 < metrics["AP"] < 1.0
    out = tmp_path / "again.json"
    ds, _ = synthetic
    assert main(["eval", "--gt", ds.source, "--results", str(unit / "predictions.json.gz"), "--out", str(out)]) == 0
    assert load_json(out)["metrics"] == metrics  # bench eval re-scores stored predictions, no model
    assert rec["describe"]["family"] == "test-only-noisy-ground-truth" and rec["environment"] == {"test": True}


def test_resume_skips_completed_units_and_redoes_changed_settings(tmp_path, synthetic):
    calls = []
    ds, root = synthetic

    def counting(**kw):
        calls.append(kw)
        return noisy(ds, root)(**kw)

    do_run(tmp_path / "r", synthetic, build=counting, max_images=5)
    do_run(tmp_path / "r", synthetic, build=counting, max_images=5)
    assert len(calls) == 1  # the second pass found it complete
    do_run(tmp_path / "r", synthetic, build=counting, max_images=6)
    assert len(calls) == 2 and len([p for p in (tmp_path / "r").iterdir() if p.is_dir()]) == 2


def test_a_failing_detector_is_a_record(tmp_path, synthetic):
    def broken(**kw):
        raise RuntimeError("CUDA out of memory. Tried to allocate 1 GiB")

    rec = do_run(tmp_path / "r", synthetic, build=broken)
    assert rec["status"] == "failed" and rec["error"].startswith("out of memory")
    assert (next(p for p in (tmp_path / "r").iterdir() if p.is_dir()) / "record.json").exists()


def test_gate_passes_an_unchanged_detector_and_fails_degraded_ones(tmp_path, synthetic):
    ds, root = synthetic
    do_run(tmp_path / "base", synthetic, build=noisy(ds, root, noise=0.05))
    baseline = tmp_path / "baseline.json"
    assert main(["baseline", "--run", str(tmp_path / "base"), "--out", str(baseline)]) == 0
    do_run(tmp_path / "same", synthetic, build=noisy(ds, root, noise=0.05))
    do_run(tmp_path / "worse", synthetic, build=noisy(ds, root, noise=0.25))
    do_run(tmp_path / "shuffled", synthetic, build=noisy(ds, root, noise=0.05, shuffle=True))
    speed_ignored = ["--speed-tol", "1000"]  # these tiny timings are noise; speed is tested below
    assert main(["check", "--baseline", str(baseline), "--run", str(tmp_path / "same"), *speed_ignored]) == 0
    assert main(["check", "--baseline", str(baseline), "--run", str(tmp_path / "worse"), *speed_ignored]) == 1
    assert main(["check", "--baseline", str(baseline), "--run", str(tmp_path / "shuffled"), *speed_ignored]) == 1
    assert main(["check", "--baseline", str(baseline), "--run", str(tmp_path / "missing_run")]) == 2


def test_corrupt_image_is_recorded_and_skipped(tmp_path, synthetic):
    import shutil

    ds, root = synthetic
    copy = tmp_path / "images"
    shutil.copytree(root, copy)
    build = noisy(ds, root)
    (copy / ds.images.files[1]).write_bytes(b"not an image")
    rec = do_run(tmp_path / "r", (ds, copy), build=build, max_images=4)
    assert rec["status"] == "ok" and [s["image"] for s in rec["skipped_images"]] == [ds.images.files[1]]
    assert ds.images.files[1] in rec["skipped_images"][0]["error"] and rec["loader"]["images"] == 4


def test_interrupted_unit_leaves_no_record_and_resume_redoes_it(tmp_path, synthetic):
    ds, root = synthetic

    def interrupted(**kw):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        do_run(tmp_path / "r", synthetic, build=interrupted, max_images=3)
    assert not list((tmp_path / "r").glob("*/record.json"))
    rec = do_run(tmp_path / "r", synthetic, max_images=3)
    assert rec["status"] == "ok" and len(list((tmp_path / "r").glob("*/record.json"))) == 1
