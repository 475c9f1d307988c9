"""detbench's voc07/voc12 protocols equal the VOC devkit (VOCevaldet.m) class for class."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles import matlab_colon_0_01_1, voc_devkit_ap

from bench.data.model import Boxes, Categories, Dataset, DetectionTable, Images
from bench.metrics.core import evaluate
from bench.protocols import VOC07, VOC12, matlab_colon


def make(gt_objects: dict, dets: list, n_img: int):
    """Dataset + DetectionTable for one class from devkit-coordinate inputs."""
    rows = [(img, *o) for img in range(n_img) for o in gt_objects.get(img, [])]
    raw = np.array([r[1:5] for r in rows], np.float64).reshape(-1, 4)
    xyxy = np.stack([raw[:, 0] - 1, raw[:, 1] - 1, raw[:, 2], raw[:, 3]], axis=1)
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    n = len(rows)
    boxes = Boxes(np.arange(1, n + 1), np.array([r[0] for r in rows], np.int64), np.zeros(n, np.int64), xyxy, area,
                  area.copy(), np.zeros(n, bool), np.zeros(n, bool), np.array([r[5] for r in rows], bool))  # fmt: skip
    images = Images([f"{i:06d}" for i in range(n_img)], [f"{i:06d}.jpg" for i in range(n_img)], np.zeros(n_img, np.int64), np.zeros(n_img, np.int64))
    ds = Dataset("t", "voc", "t", images, Categories(np.array([1]), ["thing"]), boxes)
    draw = np.array([d[2:] for d in dets], np.float64).reshape(-1, 4)
    dxyxy = np.stack([draw[:, 0] - 1, draw[:, 1] - 1, draw[:, 2], draw[:, 3]], axis=1)
    det = DetectionTable(np.array([d[0] for d in dets], np.int64), np.zeros(len(dets), np.int64), dxyxy,
                         (dxyxy[:, 2] - dxyxy[:, 0]) * (dxyxy[:, 3] - dxyxy[:, 1]), np.array([d[1] for d in dets], np.float64))  # fmt: skip
    return ds, det


def voc_case(seed: int, n_img: int, tie_scores: bool, decimals: bool):
    rng = np.random.default_rng(seed)
    gt, dets = {}, []
    for img in range(n_img):
        objs = []
        for _ in range(int(rng.integers(0, 6))):
            x1, y1 = rng.integers(1, 60, 2)
            x2, y2 = x1 + rng.integers(0, 25), y1 + rng.integers(0, 25)
            objs.append((float(x1), float(y1), float(x2), float(y2), bool(rng.random() < 0.2)))
            for _ in range(int(rng.integers(0, 4))):
                j = rng.integers(-3, 4, 4) + (rng.integers(0, 4, 4) * 0.25 if decimals else 0)
                b = [x1 + j[0], y1 + j[1], max(x1 + j[0], x2 + j[2]), max(y1 + j[1], y2 + j[3])]
                s = float(rng.choice([0.3, 0.6, 0.9])) if tie_scores else float(rng.random())
                dets.append((img, s, *map(float, b)))
        gt[img] = objs
        for _ in range(int(rng.integers(0, 5))):
            x1, y1 = rng.integers(1, 60, 2)
            dets.append((img, float(rng.random()), float(x1), float(y1), float(x1 + rng.integers(0, 30)), float(y1 + rng.integers(0, 30))))
    order = rng.permutation(len(dets))
    return gt, [dets[i] for i in order]


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_img=st.integers(1, 5), tie_scores=st.booleans(), decimals=st.booleans())
def test_voc_ap_equals_devkit(seed, n_img, tie_scores, decimals):
    gt, dets = voc_case(seed, n_img, tie_scores, decimals)
    ds, det = make(gt, dets, n_img)
    npos = sum(not o[4] for objs in gt.values() for o in objs)
    for protocol, use_07 in ((VOC07, True), (VOC12, False)):
        ref = voc_devkit_ap(gt, dets, use_07)
        got = evaluate(ds, det, protocol).per_class["thing"]["AP"]
        if npos == 0:
            # The devkit divides by npos = 0 here (0 for VOC07, NaN for VOC12): AP is undefined.
            assert got is None
        elif np.isnan(ref):
            assert got is None
        else:
            assert got == pytest.approx(ref, abs=1e-9), (protocol.name, got, ref)


def test_matlab_colon_matches_the_transcription():
    assert matlab_colon(0.0, 0.1, 1.0).tolist() == matlab_colon_0_01_1()
    assert matlab_colon(0.0, 0.1, 1.0)[7] == 0.7 != np.arange(0, 1.1, 0.1)[7]


def test_hand_worked_example():
    """2 objects (one difficult) + 1 more in a second image; 4 detections.

    sorted: d1 0.9 hits A (TP), d2 0.8 hits A again (FP, duplicate), d3 0.7 hits the difficult
    box (ignored), d4 0.6 hits C (TP).  npos = 2.
    tp = 1,1,1,2  fp = 0,1,1,1  rec = .5,.5,.5,1  prec = 1,.5,.5,2/3
    VOC12: envelope prec = 1,2/3,2/3,2/3 -> AP = .5*1 + .5*2/3 = 5/6
    VOC07: t<=.5 -> 1 (6 points), t>.5 -> 2/3 (5 points): AP = (6 + 5*2/3)/11 = 28/33
    """
    gt = {0: [(1, 1, 10, 10, False), (30, 30, 40, 40, True)], 1: [(5, 5, 20, 20, False)]}
    dets = [(0, 0.8, 1, 1, 10, 11), (0, 0.9, 1, 1, 10, 10), (0, 0.7, 30, 30, 40, 40), (1, 0.6, 5, 5, 20, 20)]
    ds, det = make(gt, dets, 2)
    assert evaluate(ds, det, VOC12).per_class["thing"]["AP"] == pytest.approx(5 / 6, abs=1e-12)
    assert evaluate(ds, det, VOC07).per_class["thing"]["AP"] == pytest.approx(28 / 33, abs=1e-12)
    assert evaluate(ds, det, VOC07).metrics["mAP"] == pytest.approx(28 / 33, abs=1e-12)


def test_plus_one_pixel_convention_and_inclusive_threshold():
    """GT 1..10 (10 px wide), detection 6..15: devkit overlap 5*10/(150) = 1/3; a 1..10 x 1..10
    GT vs 1..10 x 6..10 detection: 50/100 = 0.5 exactly, which the devkit counts (>=)."""
    gt = {0: [(1, 1, 10, 10, False)]}
    ds, det = make(gt, [(0, 0.9, 1, 6, 10, 10)], 1)
    assert evaluate(ds, det, VOC12).per_class["thing"]["AP"] == pytest.approx(1.0)
    # Without +1 (continuous 0..10 vs 0..10 treated as 1..10): 4x9/(9*9) — the strict-">" or
    # no-"+1" reimplementations call this a miss; the devkit does not.
    assert voc_devkit_ap(gt, [(0, 0.9, 1, 6, 10, 10)], False) == 1.0


def test_argmax_rule_differs_from_greedy():
    """The devkit assigns a detection to its best-overlapping GT even when that GT is taken:
    the second detection overlaps taken A most and free B less: devkit says FP."""
    gt = {0: [(1, 1, 10, 10, False), (4, 1, 13, 10, False)]}
    dets = [(0, 0.9, 1, 1, 10, 10), (0, 0.8, 2, 1, 11, 10)]
    ds, det = make(gt, dets, 1)
    got = evaluate(ds, det, VOC12).per_class["thing"]["AP"]
    assert got == pytest.approx(voc_devkit_ap(gt, dets, False)) == pytest.approx(0.5)


def test_class_without_positives_is_undefined():
    gt = {0: [(1, 1, 10, 10, True)]}
    ds, det = make(gt, [(0, 0.9, 1, 1, 10, 10)], 1)
    res = evaluate(ds, det, VOC07)
    assert res.per_class["thing"]["AP"] is None and res.metrics["mAP"] is None
