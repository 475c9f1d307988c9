"""The C kernels (bench.native.kernels) equal the numba ones (bench.metrics.kernels) bit for
bit, on generated nasty inputs; and the metric core gives the same results (and pycocotools'
stats) with them swapped in."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cases import coco_case
from hypothesis import given, settings
from hypothesis import strategies as st
from mask_cases import mask_case
from oracles import COCO_STATS, pycocotools_eval

from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics import kernels as nb
from bench.metrics.core import evaluate
from bench.native import kernels as nat
from bench.protocols import COCO, COCO_AREAS, LVIS, VOC07, VOC12, matlab_colon

if nat._kernels is None:
    pytest.skip("bench.native._kernels is not built (python setup.py build_ext --inplace)", allow_module_level=True)

UNLIMITED = np.iinfo(np.int64).max
AREAS_LO = np.array([a[1] for a in COCO_AREAS], np.float64)
AREAS_HI = np.array([a[2] for a in COCO_AREAS], np.float64)
BORDERS = [0.0, 32.0**2, 96.0**2, 1e10]  # COCO's area-range ends: both inclusive


@contextlib.contextmanager
def threaded():
    """The wrapper cuts even tiny inputs into 3 ranges, so the threaded path runs."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(nat, "_n_threads", lambda: 3)
        mp.setattr(nat, "_MIN_WORK_PER_THREAD", 1)
        yield


def assert_same(a, b):
    """Same dtype, shape, layout (strides; numba gives empty arrays zero strides) and values
    (NaN equal to NaN), element for element."""
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape and (x.size == 0 or x.strides == y.strides)
        assert np.array_equal(x, y, equal_nan=True)


def _boxes(rng, n: int, base: np.ndarray | None):
    """XYXY boxes on a coarse grid (ties, identical and zero-size boxes), near ``base`` boxes
    when given, and their width*height, sometimes not what the source gave ("box_area")."""
    if base is not None and len(base) and n:
        xyxy = base[rng.integers(0, len(base), n)].copy()
        jitter = rng.choice([0.0, 0.0, 1.0, -2.0, 0.5], (n, 4))
        xyxy += jitter
        xyxy[:, 2:] = np.maximum(xyxy[:, 2:], xyxy[:, :2])
    else:
        xy = rng.integers(0, 10, (n, 2)) * 4.0
        wh = rng.choice([0.0, 4.0, 8.0, 16.0, 32.0, 48.0, 100.0], (n, 2))
        if rng.random() < 0.3:
            xy, wh = xy + rng.random((n, 2)), wh * rng.uniform(0.9, 1.1, (n, 2))
        xyxy = np.concatenate([xy, xy + wh], axis=1)
    barea = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    odd = rng.random(n) < 0.1
    barea[odd] *= rng.uniform(0.5, 1.5, odd.sum())
    return xyxy, barea


def _areas(rng, barea: np.ndarray) -> np.ndarray:
    """Areas for the ranges: the box's, or exactly on a range border, or another value."""
    pick = rng.integers(0, 3, len(barea))
    return np.where(pick == 0, barea, np.where(pick == 1, rng.choice(BORDERS, len(barea)), barea * rng.uniform(0.3, 1.0, len(barea))))


def match_case(seed: int, mode: int, pre: bool, strict: bool, large: bool, permute: bool):
    """The 20 arguments of match_groups for random (image, category) groups."""
    rng = np.random.default_rng(seed)
    n_grp = int(rng.integers(2, 4)) if large else int(rng.integers(1, 12))
    ng = rng.integers(100, 400, n_grp) if large else rng.integers(0, 8, n_grp)
    nd = rng.integers(50, 300, n_grp) if large else rng.integers(0, 12, n_grp)
    ng[rng.random(n_grp) < 0.2] = 0  # detections with no ground truth
    nd[rng.random(n_grp) < 0.2] = 0  # ground truth with no detections
    gts, dts = [], []
    for g, d in zip(ng, nd):
        gt_xyxy, gt_barea = _boxes(rng, int(g), None)
        gts.append((gt_xyxy, gt_barea))
        dts.append(_boxes(rng, int(d), gt_xyxy if rng.random() < 0.8 else None))
    gt_xyxy = np.concatenate([x for x, _ in gts]).reshape(-1, 4)
    gt_barea = np.concatenate([a for _, a in gts])
    dt_xyxy = np.concatenate([x for x, _ in dts]).reshape(-1, 4)
    dt_barea = np.concatenate([a for _, a in dts])
    n_gt, n_dt = len(gt_barea), len(dt_barea)
    gt_crowd = rng.random(n_gt) < 0.2
    gt_ig = gt_crowd | (rng.random(n_gt) < 0.1)
    gt_end, dt_end = np.cumsum(ng), np.cumsum(nd)
    thrs = np.linspace(0.5, 0.95, 10) if rng.random() < 0.5 else np.sort(rng.choice([0.0, 0.1, 0.5, 0.5, 0.7, 1.0], rng.integers(1, 6)))
    if strict:  # IoU > t as IoU >= the next double
        thrs = np.nextafter(thrs, np.inf)
    pre_iou, pre_off = np.zeros(0), np.zeros(0, np.int64)
    if pre:  # mask IoU matrices [nd, ng] per group, with ties, zeros, ones and the odd NaN
        sizes = ng * nd
        pre_off = np.r_[0, np.cumsum(sizes)].astype(np.int64)
        pre_iou = rng.choice([0.0, 0.1, 0.5, 0.5, 0.75, 0.95, 1.0, rng.random()], int(sizes.sum()))
        pre_iou[rng.random(len(pre_iou)) < 0.02] = np.nan
    return (
        gt_xyxy, gt_barea, _areas(rng, gt_barea), gt_crowd, gt_ig, (gt_end - ng).astype(np.int64), gt_end.astype(np.int64),
        dt_xyxy, dt_barea, _areas(rng, dt_barea), rng.random(n_dt) < 0.2, (dt_end - nd).astype(np.int64), dt_end.astype(np.int64),
        AREAS_LO, AREAS_HI, thrs, mode, pre_iou, pre_off, rng.permutation(n_dt) if permute else np.arange(n_dt),
    )  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from([0, 1, 2]), pre=st.booleans(), strict=st.booleans(), permute=st.booleans())
def test_match_groups_equals_numba(seed, mode, pre, strict, permute):
    args = match_case(seed, mode, pre, strict, large=False, permute=permute)
    assert_same(nat.match_groups(*args), nb.match_groups(*args))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from([0, 1, 2]), pre=st.booleans(), large=st.booleans())
def test_match_groups_threaded_equal_numba(seed, mode, pre, large):
    """Ranges of groups on 3 threads; large: groups of hundreds of ground truth and detections."""
    with threaded():
        args = match_case(seed, mode, pre, strict=not large, large=large, permute=True)
        assert_same(nat.match_groups(*args), nb.match_groups(*args))


def accumulate_case(seed: int):
    """(status [D, A, T], rank, cat_start, cat_end, npos [K, A], max_dets, rec_thrs)."""
    rng = np.random.default_rng(seed)
    n_cat, n_area, n_thr = int(rng.integers(1, 6)), int(rng.integers(1, 5)), int(rng.integers(1, 11))
    sizes = rng.integers(0, 60, n_cat)
    sizes[rng.random(n_cat) < 0.2] = 0  # categories with no detections
    cat_end = np.cumsum(sizes).astype(np.int64)
    n_det = int(cat_end[-1])
    p = rng.dirichlet([1, 1, 1])  # mostly false positives, true positives or ignored
    status = rng.choice(np.array([0, 1, 2], np.int8), (n_det, n_area, n_thr), p=p)
    rank = rng.integers(0, 120, n_det).astype(np.int64)
    npos = rng.integers(0, 30, (n_cat, n_area)).astype(np.int64)
    npos[rng.random((n_cat, n_area)) < 0.25] = 0  # nothing to find: -1 / NaN
    max_dets = np.array([[1, 10, 100], [UNLIMITED], [0, 3, UNLIMITED], [5]][int(rng.integers(4))], np.int64)
    if rng.random() < 0.6:
        rec_thrs = np.linspace(0.0, 1.0, 101)
    else:  # ascending, with duplicates, non-positive and above-one points
        rec_thrs = np.sort(rng.choice([-0.5, -0.0, 0.0, 0.01, 0.25, 0.5, 0.5, 0.99, 1.0, 1.5, rng.random()], rng.integers(1, 12)))
    return status, rank, cat_end - sizes, cat_end, npos, max_dets, rec_thrs


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_accumulate_coco_equals_numba(seed):
    args = accumulate_case(seed)
    assert_same(nat.accumulate_coco(*args), nb.accumulate_coco(*args))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_accumulate_coco_threaded_equals_numba(seed):
    with threaded():
        args = accumulate_case(seed)
        assert_same(nat.accumulate_coco(*args), nb.accumulate_coco(*args))


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), all_point=st.booleans())
def test_accumulate_voc_equals_numba(seed, all_point):
    status, _, cs, ce, npos, _, _ = accumulate_case(seed)
    args = (np.ascontiguousarray(status.transpose(1, 2, 0)), cs, ce, npos, matlab_colon(0.0, 0.1, 1.0), all_point)
    assert_same(nat.accumulate_voc(*args), nb.accumulate_voc(*args))


def test_empty_inputs_equal_numba():
    f8, i8, b1 = np.zeros(0), np.zeros(0, np.int64), np.zeros(0, bool)
    boxes = np.zeros((0, 4))
    thrs = np.linspace(0.5, 0.95, 10)
    args = (boxes, f8, f8, b1, b1, i8, i8, boxes, f8, f8, b1, i8, i8, AREAS_LO, AREAS_HI, thrs, 0, f8, i8, i8)
    assert_same(nat.match_groups(*args), nb.match_groups(*args))
    status, _, cs, _, npos, max_dets, rec_thrs = accumulate_case(1)
    no_dets = np.zeros(len(cs), np.int64)
    acc = (status[:0], i8, no_dets, no_dets, npos, max_dets, rec_thrs)
    assert_same(nat.accumulate_coco(*acc), nb.accumulate_coco(*acc))


def test_bad_inputs_are_refused():
    args = list(match_case(3, 0, False, False, False, False))
    with pytest.raises(TypeError, match="gt_xyxy"):
        nat.match_groups(*[args[0].astype(np.float32), *args[1:]])
    bad = list(args)
    bad[19] = np.full(len(args[19]), len(args[19]))  # out_pos past the end
    with pytest.raises(ValueError, match="out_pos"):
        nat.match_groups(*bad)
    bad = list(args)
    bad[6] = args[6] + 1  # the last group's GT past the end
    with pytest.raises(ValueError, match="gt_start"):
        nat.match_groups(*bad)
    acc = list(accumulate_case(2))
    acc[6] = np.array([0.5, 0.1])  # descending recall points
    with pytest.raises(ValueError, match="rec_thrs"):
        nat.accumulate_coco(*acc)


def test_available_and_no_numba_import():
    code = "import sys, bench.native.kernels as k; print(k.available(), 'numba' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["True", "False"]
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**env, "DETBENCH_NATIVE": "0"}, check=True)
    assert off.stdout.split() == ["False", "False"]


def _evaluate(gt, dets, protocol):
    ds = parse_gt(gt, "gt.json")
    return evaluate(ds, parse_results(dets, ds, "dt.json"), protocol)


def _swap_in_native(monkeypatch):
    for name in ("match_groups", "accumulate_coco", "accumulate_voc"):
        monkeypatch.setattr(nb, name, getattr(nat, name))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), tie_scores=st.booleans(), protocol=st.sampled_from([COCO, LVIS, VOC07, VOC12]))
def test_core_results_unchanged_with_native_kernels(seed, tie_scores, protocol):
    lvis = protocol is LVIS
    gt, dets = coco_case(seed, 5, 4, tie_scores=tie_scores, integer=False, lvis=lvis, max_dt=30)
    ref = _evaluate(gt, dets, protocol)
    with pytest.MonkeyPatch.context() as mp:
        _swap_in_native(mp)
        res = _evaluate(gt, dets, protocol)
    assert res.metrics == ref.metrics and res.per_class == ref.per_class
    if ref.precision is not None:
        assert_same(res.precision, ref.precision)
    assert_same(res.table.status, ref.table.status)
    if protocol is COCO:  # and pycocotools' twelve stats
        stats = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
        np.testing.assert_allclose(stats, pycocotools_eval(gt, dets).stats, rtol=0, atol=1e-9)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_core_mask_results_unchanged_with_native_kernels(seed):
    """iou_type "segm": the precomputed mask-IoU path, unchanged and equal to pycocotools'."""
    gt, dets = mask_case(seed, 3, 3, crowded=40 if seed % 2 else 0)
    ds = parse_gt(gt, "gt.json")
    det = parse_results(dets, ds, "dt.json", masks=True)
    ref = evaluate(ds, det, COCO, iou_type="segm")
    with pytest.MonkeyPatch.context() as mp:
        _swap_in_native(mp)
        res = evaluate(ds, det, COCO, iou_type="segm")
    assert res.metrics == ref.metrics
    assert_same(res.precision, ref.precision)
    stats = np.array([-1.0 if res.metrics[n] is None else res.metrics[n] for n in COCO_STATS])
    np.testing.assert_allclose(stats, pycocotools_eval(gt, dets, iou_type="segm").stats, rtol=0, atol=1e-9)
