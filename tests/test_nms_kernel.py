"""The compiled greedy NMS (``bench.native._nms`` behind ``detectors.nms.nms``) keeps exactly what
the numpy loop keeps, in the same order: generated cases with score ties, duplicated boxes,
zero-area and negative boxes and IoUs exactly at the threshold; and the embedded real
detectors' outputs on real images. Also NanoDet v0.x's per-level pre-NMS cap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detectors import nms as N
from detectors.yolo_decode import LAYOUTS, PreNmsCaps, level_rows, top_rows_per_level

needs_native = pytest.mark.skipif(N._native() is None, reason="bench.native._nms not built (python setup.py build_ext --inplace)")
COORD = st.sampled_from([-8.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 7.25, 10.0, 16.0, 33.3])


@st.composite
def cases(draw):
    n = draw(st.integers(0, 60))
    boxes = []
    for _ in range(n):
        if boxes and draw(st.booleans()):
            boxes.append(list(boxes[draw(st.integers(0, len(boxes) - 1))]))  # an equal box
            continue
        x1, y1 = draw(COORD), draw(COORD)
        boxes.append([x1, y1, x1 + draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 8.0])), y1 + draw(st.sampled_from([0.0, 1.0, 2.0, 4.0]))])
    scores = [draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.9, 1.0])) for _ in range(n)]  # many ties
    labels = [draw(st.integers(0, 2)) for _ in range(n)]
    iou = draw(st.sampled_from([0.0, 1 / 3, 0.45, 0.5, 0.6, 0.65, 0.7, 1.0]))  # 1/2 and 1/3 occur exactly as IoUs
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32), np.asarray(labels, np.int64), iou,
            draw(st.integers(1, 70)))  # fmt: skip


@needs_native
@settings(max_examples=400, deadline=None)
@given(cases())
def test_native_nms_equals_numpy_on_generated_cases(case):
    boxes, scores, labels, iou, max_keep = case
    expected = N.nms_numpy(boxes, scores, labels, iou, max_keep)
    got = N.nms(boxes, scores, labels, iou, max_keep)
    assert got.dtype == np.int64 and got.tolist() == expected.tolist()


@needs_native
@pytest.mark.parametrize("seed", range(6))
def test_native_nms_equals_numpy_on_large_random_cases(seed):
    rng = np.random.default_rng(seed)
    n = 5000
    xy = rng.uniform(-50, 600, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0, 300, (n, 2))], 1).astype(np.float32)
    scores = np.round(rng.random(n), 2).astype(np.float32)
    labels = rng.integers(0, 80, n)
    for iou, keep in ((0.6, 100), (0.7, 300), (0.45, 5000)):
        assert N.nms(boxes, scores, labels, iou, keep).tolist() == N.nms_numpy(boxes, scores, labels, iou, keep).tolist()


def test_non_finite_boxes_take_the_numpy_path_and_empty_input():
    boxes = np.array([[0, 0, 2, 2], [0, 0, np.inf, 2], [0, 0, 2, 2]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert N.nms(boxes, scores, np.zeros(3, np.int64), 0.5, 10).tolist() == N.nms_numpy(boxes, scores, np.zeros(3, np.int64), 0.5, 10).tolist()
    assert N.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), 0.5, 10).tolist() == []
    with pytest.raises(ValueError, match="auto or numpy"):
        N.nms(boxes, scores, np.zeros(3, np.int64), 0.5, 10, impl="torch")


def test_nanodet_v0_cap_keeps_the_top_rows_per_level():
    counts = level_rows("nanodet", (320, 320))
    assert counts == [1600, 400, 100]
    rng = np.random.default_rng(0)
    cls = rng.random((2100, 3)).astype(np.float32)
    rows = top_rows_per_level(cls, counts, 1000)
    assert len(rows) == 1500 and np.all(np.diff(rows) > 0)  # 1000 of level 0, all of levels 1 and 2, in row order
    best = cls[:1600].max(1)
    assert set(rows[:1000].tolist()) == set(np.argsort(-best, kind="stable")[:1000].tolist())
    assert rows[1000:].tolist() == list(range(1600, 2100))
    assert LAYOUTS["nanodet"].caps.per_level == 1000 and LAYOUTS["nanodet-plus"].caps == PreNmsCaps(source=LAYOUTS["nanodet-plus"].caps.source)
    assert LAYOUTS["yolov8"].caps.total == 30000 and LAYOUTS["yolox"].caps.total is None


@needs_native
@pytest.mark.parametrize("name", ["nanodet_m", "yolox_nano"])
def test_embedded_detectors_keep_identical_detections_with_either_nms(name):
    pytest.importorskip("onnxruntime")
    from bench.data.catalog import load_dataset
    from bench.data.images import load_image
    from detectors.registry import build

    ds, root, _ = load_dataset("coco-val2017-mini")
    fast, slow = build(name, list(ds.categories.names)), build(name, list(ds.categories.names))
    slow.nms_impl = "numpy"
    assert fast.describe()["postprocess"]["nms"] == "class-aware greedy (native)"
    for f in ds.images.files[:4]:
        im = load_image(root / f)
        batch = fast.preprocess([im])
        raw = fast.forward(batch)
        a, b = fast.postprocess(raw, batch)[0], slow.postprocess(raw, batch)[0]
        assert len(a) > 0
        for field in ("boxes", "scores", "labels"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
