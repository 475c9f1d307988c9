"""The results file is read and parsed in a thread while the ground truth loads: the same
table, and errors in the same order as a sequential load (the ground truth's first)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from cases import coco_case

from bench.data.inputs import load_ground_truth, load_inputs
from bench.data.results import ResultsReader, load_results
from bench.errors import InputError

pytest.importorskip("bench.native._results", reason="the optional C extension was not built")


def _files(tmp_path, seed=3):
    gt, dets = coco_case(seed, n_img=4, n_cat=3, max_dt=30)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    return str(tmp_path / "gt.json"), str(tmp_path / "dt.json")


def test_threaded_read_gives_the_sequential_table(tmp_path):
    gt, dt = _files(tmp_path)
    assert ResultsReader.useful(dt)
    _, det, _ = load_inputs(gt, dt)
    want = load_results(dt, load_ground_truth(gt))
    for a, b in zip((det.image_idx, det.category_idx, det.xyxy, det.box_area, det.scores),
                    (want.image_idx, want.category_idx, want.xyxy, want.box_area, want.scores)):  # fmt: skip
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert [t.name for t in threading.enumerate() if t.name == "results-reader"] == []


def test_errors_keep_their_order(tmp_path):
    gt, dt = _files(tmp_path)
    with pytest.raises(InputError, match="file not found") as e:
        load_inputs(gt, str(tmp_path / "missing.json"))
    assert "missing.json" in str(e.value)
    (tmp_path / "bad_gt.json").write_text("{not json")
    with pytest.raises(InputError) as e:  # both broken: the ground truth's error, as before
        load_inputs(str(tmp_path / "bad_gt.json"), str(tmp_path / "missing.json"))
    assert "bad_gt.json" in str(e.value)
    ds = load_ground_truth(gt)
    record = {"image_id": ds.images.keys[0], "category_id": int(ds.categories.ids[0]), "bbox": [0, 0, 1], "score": 0.5}
    (tmp_path / "broken.json").write_text(json.dumps([record]))
    with pytest.raises(InputError, match=r"detections\[0\].*bbox"):  # declined by the fast path: the general one names it
        load_inputs(gt, str(tmp_path / "broken.json"))
    assert [t.name for t in threading.enumerate() if t.name == "results-reader"] == []
