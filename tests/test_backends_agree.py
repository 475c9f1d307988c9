"""The C path (bench.native: results parser, radix sort, matching, accumulation) and the numba
path (DETBENCH_NATIVE=0) give identical results end to end, from the files to every array of
the result, under every protocol and convention detbench scores with."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cases import coco_case
from mask_cases import mask_case

from bench.analysis.explain import COCO_CONVENTIONS, LVIS_CONVENTIONS, apply_rules
from bench.data.inputs import load_inputs
from bench.metrics import backend
from bench.metrics.core import evaluate
from bench.protocols import COCO, LVIS, VOC07, VOC12

pytest.importorskip("bench.native._kernels", reason="the optional C extension was not built (no C compiler at install)")
pytest.importorskip("bench.native._results", reason="the optional C extension was not built (no C compiler at install)")


def _protocols(lvis: bool):
    base, conventions = (LVIS, LVIS_CONVENTIONS) if lvis else (COCO, COCO_CONVENTIONS)
    yield from (apply_rules(base, c.rules, c.metric) for c in conventions)
    if not lvis:
        yield VOC07
        yield VOC12


def _same(a, b, where):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    else:
        assert a == b or (a != a and b != b), where


def _score_both(monkeypatch, tmp_path, gt, dets, iou_type="bbox", lvis=False):
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "dt.json").write_text(json.dumps(dets))
    out = {}
    for native in ("1", "0"):
        monkeypatch.setenv("DETBENCH_NATIVE", native)
        assert backend.name() == ("c" if native == "1" else "numba")
        ds, det, _ = load_inputs(str(tmp_path / "gt.json"), str(tmp_path / "dt.json"), "lvis" if lvis else "coco", iou_type=iou_type)
        out[native] = [(det.xyxy, det.scores, det.image_idx, det.category_idx)]
        out[native] += [evaluate(ds, det, p, iou_type) for p in _protocols(lvis)]
    for c, n in zip(out["1"][0], out["0"][0]):
        _same(c, n, "parsed detections")
    for c, n in zip(out["1"][1:], out["0"][1:]):
        name = c.protocol.name
        assert c.metrics == n.metrics and c.per_class == n.per_class and c.per_area == n.per_area, name
        for field in ("status", "scores", "cat_start", "cat_end", "npos", "dt_rows"):
            _same(getattr(c.table, field), getattr(n.table, field), (name, field))
        if c.precision is not None:
            _same(c.precision, n.precision, (name, "precision"))


@pytest.mark.parametrize("seed", range(12))
def test_coco_boxes_every_convention(monkeypatch, tmp_path, seed):
    gt, dets = coco_case(seed, n_img=5, n_cat=4, tie_scores=seed % 2 == 0, max_dt=40)
    _score_both(monkeypatch, tmp_path, gt, dets)


@pytest.mark.parametrize("seed", range(6))
def test_lvis_boxes_every_convention(monkeypatch, tmp_path, seed):
    gt, dets = coco_case(seed, n_img=5, n_cat=6, lvis=True, max_dt=60)
    _score_both(monkeypatch, tmp_path, gt, dets, lvis=True)


@pytest.mark.parametrize("seed", range(4))
def test_masks(monkeypatch, tmp_path, seed):
    gt, dets = mask_case(seed, n_img=3, n_cat=3, crowded=20 if seed == 0 else 0)
    _score_both(monkeypatch, tmp_path, gt, dets, iou_type="segm")
