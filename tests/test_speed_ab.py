"""``bench speed --against``: a candidate timed interleaved with a baseline in one process and judged
(bench.cli.speed_ab): a slower candidate is a REGRESSION with exit 1, a faster one is not."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from bench.jsonio import load_json
from detectors.base import Batch, Detections, Detector


class Sleeper(Detector):
    """Forward sleeps as many ms as its weights file's name says: a detector whose speed is its weights."""

    family = "test-sleep"

    def __init__(self, classes, weights="2", **kw):
        super().__init__(list(classes))
        self.ms = float(Path(weights).name)

    def preprocess(self, images):
        return Batch(None, [(10, 10)] * len(images))

    def forward(self, batch):
        time.sleep(self.ms / 1000)

    def postprocess(self, raw, batch):
        return [Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)) for _ in batch.sizes]


@pytest.fixture
def sleeper_registry(monkeypatch):
    import detectors.registry as registry

    monkeypatch.setattr(registry, "build", lambda name, classes, **kw: Sleeper(classes, **{k: v for k, v in kw.items() if k == "weights"}))
    monkeypatch.setattr(registry, "resolve", lambda name: name)
    monkeypatch.setattr("bench.cli.run.checked_detector_args", lambda name, given: {}, raising=False)


@pytest.mark.parametrize("candidate, baseline, verdict, code", [("8", "2", "REGRESSION", 1), ("2", "8", "faster", 0)])
def test_a_slower_candidate_fails_and_a_faster_one_passes(sleeper_registry, tmp_path, capsys, candidate, baseline, verdict, code):
    from bench.cli.main import main

    out = tmp_path / "ab.json"
    for name in (candidate, baseline):
        (tmp_path / name).write_text("")
    candidate, baseline = str(tmp_path / candidate), str(tmp_path / baseline)
    assert main(["speed", "--detector", "sleeper", "--weights", candidate, "--against", baseline, "--max-images", "2", "--rounds", "6",
                 "--per-round", "2", "--out", str(out)]) == code  # fmt: skip
    rec = load_json(out)
    assert rec["schema"] == "detbench.speed_ab/1" and rec["verdict"] == verdict
    assert rec["baseline_weights"] == baseline and rec["candidate_weights"] == candidate and rec["rounds"] == 6 and len(rec["ratios"]) == 6
    assert rec["data"]["settings"]["dtype"] == "fp32" and rec["data"]["settings"]["score_threshold"] == 0.001
    assert (rec["ratio"] > 2) if verdict == "REGRESSION" else (rec["ratio"] < 0.5)
    assert f": {verdict}" in capsys.readouterr().out


def test_rounds_must_be_positive(sleeper_registry, tmp_path):
    from bench.cli.main import main

    (tmp_path / "2").write_text("")
    with pytest.raises(SystemExit, match="--rounds and --per-round must be at least 1"):
        main(["speed", "--detector", "sleeper", "--against", str(tmp_path / "2"), "--rounds", "0", "--out", str(tmp_path / "x.json")])


def test_options_it_would_ignore_are_refused(sleeper_registry, tmp_path):
    from bench.cli.main import main

    (tmp_path / "2").write_text("")
    with pytest.raises(SystemExit, match="--fixed-size, --compile would be ignored"):
        main(["speed", "--detector", "sleeper", "--against", str(tmp_path / "2"), "--fixed-size", "64x64", "--compile",
              "--out", str(tmp_path / "x.json")])  # fmt: skip


def test_a_missing_baseline_file_is_named(sleeper_registry, tmp_path, capsys):
    from bench.cli.main import main

    assert main(["speed", "--detector", "sleeper", "--against", str(tmp_path / "old.onnx"), "--out", str(tmp_path / "x.json")]) == 2
    assert "--against " + str(tmp_path / "old.onnx") + ": no such file or folder" in capsys.readouterr().err
