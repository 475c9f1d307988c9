"""Run settings versus ``--detector-arg``: a run setting given as a detector arg is refused with
the option to use instead, unknown keys are refused with the accepted ones, ``--max-detections``
reaches the detector and its output, the protocol's default cap applies otherwise, ``bench run
--help`` documents every option and every family's keys, and a missing ``--weights`` file is an
input error (exit 2) naming the path."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.cli.args import MAX_DETECTIONS, max_detections
from bench.cli.main import main
from detectors.options import FAMILY_ARGS, SETTINGS

DATASET = "coco-val2017-mini"


def exit_status(argv: list[str]) -> int:
    """The status ``python -m bench ARGV`` exits with (SystemExit mapped as the interpreter does:
    None -> 0, an int -> itself, any other value -> printed to stderr, status 1)."""
    try:
        return main(argv)
    except SystemExit as e:
        if e.code is None or isinstance(e.code, int):
            return e.code or 0
        print(e.code, file=sys.stderr)
        return 1


def run_argv(tmp_path, *extra: str, detector: str = "yolox_nano") -> list[str]:
    return ["run", "--detector", detector, "--dataset", DATASET, "--out", str(tmp_path / "runs"), *extra]


@pytest.mark.parametrize("key, value, option", [
    ("max_detections", "300", "--max-detections"),
    ("score_threshold", "0.2", "--score-threshold"),
    ("nms_iou", "0.5", "--nms-iou"),
    ("weights", "other.onnx", "--weights"),
    ("device", "cuda", "--device"),
    ("dtype", "fp16", "--dtype"),
])  # fmt: skip
def test_run_setting_as_detector_arg_is_refused_naming_the_option(tmp_path, capsys, key, value, option):
    status = exit_status(run_argv(tmp_path, "--detector-arg", f"{key}={value}"))
    err = capsys.readouterr().err
    assert status != 0 and option in err and key in err and "override a run setting" in err
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_run_setting_is_refused_by_speed_too(tmp_path, capsys):
    status = exit_status(["speed", "--detector", "yolox_nano", "--max-images", "1", "--out", str(tmp_path / "s.json"),
                          "--detector-arg", "max_detections=300"])  # fmt: skip
    assert status != 0 and "--max-detections" in capsys.readouterr().err and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("detector, family", [("yolox_nano", "onnxruntime"), ("onnx", "onnxruntime"), ("fasterrcnn_resnet50_fpn", "torchvision")])
def test_unknown_detector_arg_names_the_accepted_keys(tmp_path, capsys, detector, family):
    status = exit_status(run_argv(tmp_path, "--detector-arg", "colr=bgr", detector=detector))
    err = capsys.readouterr().err
    assert status != 0 and "colr" in err and family in err
    accepted = err.split("accepted:", 1)[1]
    assert all(k in accepted for k in FAMILY_ARGS[family])
    assert not (tmp_path / "runs").exists()


def test_refusals_exit_with_status_2(tmp_path):
    """Input errors exit 2 (as argparse's own and a missing --weights file do), not Python's
    status 1 for ``SystemExit("message")``: scripts tell a usage error from a failed run by it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for arg in ("max_detections=300", "colr=bgr", "no_equals_sign"):
        proc = subprocess.run([sys.executable, "-m", "bench", *run_argv(tmp_path, "--detector-arg", arg)], capture_output=True, text=True,
                              env=env, timeout=120)  # fmt: skip
        assert proc.returncode == 2, f"--detector-arg {arg}: exit {proc.returncode}: {proc.stderr.strip()}"


def test_onnx_adapter_arguments_are_exactly_the_documented_keys():
    import inspect

    from detectors.onnx_runtime import OnnxDetector

    params = set(inspect.signature(OnnxDetector.__init__).parameters) - {"self", "classes", "common"}
    internal = {"embedded", "published"}  # set by registry entries, not by users
    assert params - internal == set(FAMILY_ARGS["onnxruntime"])
    assert not set(SETTINGS) & set(FAMILY_ARGS["onnxruntime"])


def test_max_detections_defaults_to_the_protocols_cap():
    unset = SimpleNamespace(max_detections=None)
    assert max_detections(unset, "coco") == 100 == MAX_DETECTIONS["coco"]
    assert max_detections(unset, "lvis") == 300
    assert max_detections(unset, "voc07") == 100
    assert max_detections(SimpleNamespace(max_detections=300), "coco") == 300
    assert max_detections(SimpleNamespace(max_detections=50), "lvis") == 50


def test_max_detections_reaches_the_detector(tmp_path, capsys):
    # score threshold 0 keeps every NMS survivor, so the cap (not the threshold) bounds the output
    status = exit_status(run_argv(tmp_path, "--max-images", "3", "--max-detections", "300", "--score-threshold", "0"))
    out = capsys.readouterr()
    assert status == 0, out.err
    (run,) = (tmp_path / "runs").iterdir()
    (unit,) = [p for p in run.iterdir() if p.is_dir()]
    record = json.loads((unit / "record.json").read_text())
    assert record["status"] == "ok" and record["settings"]["max_detections"] == 300
    assert record["describe"]["settings"]["max_detections"] == 300
    per_image = Counter(d["image_id"] for d in json.loads(gzip.decompress((unit / "predictions.json.gz").read_bytes())))
    assert len(per_image) == 3 and max(per_image.values()) <= 300
    assert max(per_image.values()) > 100  # the cap really was 300, not the default 100


def test_default_cap_is_100_on_coco(tmp_path, capsys):
    status = exit_status(run_argv(tmp_path, "--max-images", "2", "--score-threshold", "0"))
    assert status == 0, capsys.readouterr().err
    (record,) = (tmp_path / "runs").glob("*/*/record.json")
    record_dir = record.parent
    record = json.loads(record.read_text())
    assert record["settings"]["max_detections"] == 100 and record["describe"]["settings"]["max_detections"] == 100
    per_image = Counter(d["image_id"] for d in json.loads(gzip.decompress((record_dir / "predictions.json.gz").read_bytes())))
    assert max(per_image.values()) == 100


def test_run_help_documents_every_option_and_the_family_keys(capsys):
    assert exit_status(["run", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--detector", "--weights", "--dataset", "--gt", "--images", "--protocol", "--device", "--dtype", "--batch-size",
                   "--max-images", "--out", "--max-detections", "--score-threshold", "--nms-iou", "--detector-arg"):  # fmt: skip
        assert option in text, option
    assert "LVIS 300" in text and "COCO/VOC 100" in text  # the --max-detections defaults
    # each family's keys are listed under its own heading, in the epilog
    epilog = text[text.index("--detector-arg keys, per family"):]
    positions = {fam: epilog.index(f"  {fam}:") for fam in FAMILY_ARGS}
    ordered = sorted(positions, key=positions.get)
    for i, fam in enumerate(ordered):
        section = epilog[positions[fam]: positions[ordered[i + 1]] if i + 1 < len(ordered) else len(epilog)]
        for key in FAMILY_ARGS[fam]:
            assert f"    {key}:" in section, f"{fam}: {key}"
    assert "onnxruntime:" in text and "layout" in text and "yolox-decoded" in text and "nanodet-plus" in text


def test_missing_weights_file_exits_2_naming_the_path(tmp_path, capsys):
    status = exit_status(run_argv(tmp_path, "--weights", "/nonexistent.onnx", detector="onnx"))
    err = capsys.readouterr().err
    assert status == 2 and "/nonexistent.onnx" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_missing_weights_file_exit_code_from_the_shell(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "bench", *run_argv(tmp_path, "--weights", str(tmp_path / "absent.onnx"), detector="onnx")],
                          capture_output=True, text=True, env=env, timeout=120, cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert proc.returncode == 2 and str(tmp_path / "absent.onnx") in proc.stderr
