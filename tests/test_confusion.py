"""Confusion matrix (bench.analysis.confusion) and operating points, on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from cases import coco_case

from bench.analysis.confusion import confusion_matrix
from bench.analysis.operating_points import operating_points
from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.protocols import COCO

A, B, BG = 0, 1, 2


def _case(anns, dets, n_img=2):
    gt = {"images": [{"id": i + 1, "width": 100, "height": 100} for i in range(n_img)],
          "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
          "annotations": [{"id": j + 1, "image_id": im, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": crowd}
                          for j, (im, c, b, crowd) in enumerate(anns)]}  # fmt: skip
    ds = parse_gt(gt, "gt.json")
    return ds, parse_results([{"image_id": im, "category_id": c, "bbox": b, "score": s} for im, c, b, s in dets], ds, "dt.json")


def test_hand_worked_matrix():
    ds, det = _case(
        [(1, 1, [0, 0, 10, 10], 0), (1, 2, [50, 50, 10, 10], 0), (1, 1, [80, 80, 10, 10], 0), (1, 2, [20, 70, 10, 10], 1)],
        [(1, 1, [0, 0, 10, 10], 0.9),     # a on a: diagonal
         (1, 1, [1, 0, 10, 10], 0.8),     # extra a on the found a: background (not a second a-a)
         (1, 1, [50, 50, 10, 10], 0.7),   # a on the b box: confused (b row, a column)
         (1, 2, [30, 30, 5, 5], 0.6),     # b on nothing: background
         (1, 2, [20, 70, 10, 10], 0.6),   # b on a crowd b: ignored, not counted
         (1, 1, [80, 80, 10, 10], 0.1),   # below the score threshold: not counted, so gt 3 is missed
         (2, 2, [10, 10, 10, 10], 0.5)],  # image without ground truth: background
    )  # fmt: skip
    m = confusion_matrix(ds, det, COCO, iou=0.5, score_threshold=0.25).matrix
    expected = np.zeros((3, 3), int)
    expected[A, A] = 1
    expected[BG, A] = 1
    expected[B, A] = 1
    expected[BG, B] = 2
    expected[A, BG] = 1  # gt 3
    assert (m == expected).all(), m
    m0 = confusion_matrix(ds, det, COCO, iou=0.5, score_threshold=0.0).matrix
    assert m0[A, A] == 2 and m0[A, BG] == 0  # counted now: it finds gt 3


@pytest.mark.parametrize("seed", range(10))
def test_matrix_accounts_for_every_box(seed):
    gt, dets = coco_case(seed, n_img=5, integer=False)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json")
    cm = confusion_matrix(ds, det, COCO, score_threshold=0.3)
    k = len(ds.categories)
    r = evaluate(ds, det, COCO.with_(iou_thresholds=(0.5,)))
    # rows: every non-crowd ground truth exactly once
    assert (cm.matrix[:k].sum(axis=1) == np.bincount(ds.boxes.category_idx[~ds.boxes.iscrowd], minlength=k)).all()
    # diagonal: the core's true positives at IoU 0.5 among detections scoring >= 0.3
    st, sc = r.table.status[0], r.table.scores
    for c in range(k):
        s, e = r.table.cat_start[c], r.table.cat_end[c]
        assert cm.matrix[c, c] == np.sum((st[s:e] == 1) & (sc[s:e] >= 0.3))
    assert cm.matrix[k, k] == 0


def test_operating_points():
    ds, det = _case([(1, 1, [0, 0, 10, 10], 0), (1, 1, [50, 50, 10, 10], 0)],
                    [(1, 1, [0, 0, 10, 10], 0.9), (1, 1, [30, 30, 5, 5], 0.8), (1, 1, [50, 50, 10, 10], 0.3)])  # fmt: skip
    op = operating_points(evaluate(ds, det, COCO), confidence=0.5)
    a = op["at_confidence"]["per_class"]["a"]
    assert (a["tp"], a["fp"], a["precision"], a["recall"]) == (1, 1, 0.5, 0.5) and a["f1"] == pytest.approx(0.5)
    assert op["at_confidence"]["per_class"]["b"]["precision"] is None
    best = op["best_f1"]["per_class"]["a"]
    assert best["score"] == 0.3 and best["f1"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    assert op["best_f1"]["overall"]["score"] == 0.3


def test_sparse_json_beyond_100_classes():
    from bench.analysis.confusion import Confusion

    m = np.zeros((102, 102), np.int64)
    m[3, 5], m[101, 7] = 2, 1
    d = Confusion(m, [f"c{i}" for i in range(101)], 0.5, 0.25).to_dict()
    assert "matrix" not in d and sorted(d["cells"]) == [[3, 5, 2], [101, 7, 1]]
    assert "matrix" in Confusion(m[:3, :3], ["a", "b"], 0.5, 0.25).to_dict()
