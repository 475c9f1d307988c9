"""PR curves carry the score threshold of every point; best-F1; the tie warning."""

import numpy as np
import pytest

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.metrics.curves import pr_curve
from bench.protocols import COCO


def test_curve_points_sit_at_score_run_ends_and_skip_ignored():
    status = np.array([1, 0, 2, 1, 0, 1], np.int8)
    scores = np.array([0.9, 0.8, 0.8, 0.8, 0.5, 0.4])
    c = pr_curve(status, scores, num_gt=4)
    assert c.score.tolist() == [0.9, 0.8, 0.5, 0.4]
    assert c.recall.tolist() == [0.25, 0.5, 0.5, 0.75]
    assert c.precision.tolist() == pytest.approx([1.0, 2 / 3, 0.5, 0.6])
    best = c.best_f1()  # F1: 0.4, 0.571, 0.5, 0.667
    assert best["score"] == 0.4 and best["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_result_curves_and_per_class_best_f1():
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [20 * i, 0, 10, 10], "area": 100} for i in range(3)],
    }
    dets = [{"image_id": 1, "category_id": 1, "bbox": [20 * i, 0, 10, 10], "score": 0.9 - 0.1 * i} for i in range(2)]
    dets.append({"image_id": 1, "category_id": 1, "bbox": [200, 200, 10, 10], "score": 0.95})
    ds = parse_gt(gt, "gt")
    res = evaluate(ds, parse_results(dets, ds, "dt"), COCO)
    curve = res.pr_curve("a", 0.5)
    assert curve.score.tolist() == [0.95, 0.9, 0.8] and curve.recall.tolist() == pytest.approx([0, 1 / 3, 2 / 3])
    assert res.per_class["a"]["best_f1"]["score"] == 0.8
    assert res.to_dict(curves=True)["curves"]["0.5"]["a"]["score"] == [0.95, 0.9, 0.8]
    with pytest.raises(ValueError, match="not one of the protocol's thresholds"):
        res.pr_curve("a", 0.42)


def test_common_ties_are_warned_about():
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100}]}  # fmt: skip
    dets = [{"image_id": 1, "category_id": 1, "bbox": [i, 0, 10, 10], "score": 0.5} for i in range(4)]
    ds = parse_gt(gt, "gt")
    assert "share their score" in evaluate(ds, parse_results(dets, ds, "dt"), COCO).warnings[0]


def test_pooled_curve_merges_classes_in_score_order():
    gt = {
        "images": [{"id": 1}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100},
                        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [50, 0, 10, 10], "area": 100}],
    }  # fmt: skip
    dets = [{"image_id": 1, "category_id": 2, "bbox": [50, 0, 10, 10], "score": 0.7},  # TP of b
            {"image_id": 1, "category_id": 1, "bbox": [90, 90, 10, 10], "score": 0.9},  # FP of a
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}]  # TP of a  # fmt: skip
    ds = parse_gt(gt, "gt")
    pooled = evaluate(ds, parse_results(dets, ds, "dt"), COCO).pooled_curve(0.5)
    assert pooled.score.tolist() == [0.9, 0.7, 0.5] and pooled.num_gt == 2
    assert pooled.recall.tolist() == pytest.approx([0, 0.5, 1]) and pooled.precision.tolist() == pytest.approx([0, 0.5, 2 / 3])


@pytest.mark.parametrize("native", ["1", "0"])  # the C pass (bench.native._curves) and the numpy one
def test_vectorised_best_f1_equals_the_per_category_curves(monkeypatch, native):
    from bench.metrics.curves import _native_best_f1, best_f1_per_category

    monkeypatch.setenv("DETBENCH_NATIVE", native)
    if native == "1":
        pytest.importorskip("bench.native._curves", reason="the optional C extension was not built")
        assert _native_best_f1(np.zeros(1, np.int8), np.ones(1), np.zeros(1, np.int64), np.ones(1, np.int64), np.ones(1, np.int64)) is not None

    rng = np.random.default_rng(0)
    for _ in range(300):
        k = int(rng.integers(1, 8))
        lens = rng.integers(0, 12, k)
        starts = np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64)
        ends = starts + lens
        status = rng.integers(0, 3, int(lens.sum())).astype(np.int8)  # FP, TP, ignored
        scores = np.concatenate([np.sort(rng.choice([0.1, 0.5, 0.7, 0.9, rng.random()], n))[::-1] for n in lens]) if lens.sum() else np.zeros(0)
        npos = rng.integers(0, 5, k)
        expected = [pr_curve(status[s:e], scores[s:e], int(npos[c])).best_f1() for c, (s, e) in enumerate(zip(starts, ends))]
        assert best_f1_per_category(status, scores, starts, ends, npos) == expected
        # the same blocks stored apart and in reverse category order (a table the core did not lay out)
        gap = 3
        offsets = np.cumsum(np.r_[0, (lens + gap)[::-1]])[:-1][::-1].astype(np.int64)
        spread_status = np.full(int(lens.sum()) + gap * k, 1, np.int8)
        spread_scores = np.full(len(spread_status), 2.0)
        for c, (s, e) in enumerate(zip(starts, ends)):
            spread_status[offsets[c] : offsets[c] + lens[c]] = status[s:e]
            spread_scores[offsets[c] : offsets[c] + lens[c]] = scores[s:e]
        assert best_f1_per_category(spread_status, spread_scores, offsets, offsets + lens, npos) == expected
