"""Bootstrap over images (bench.analysis.bootstrap / paired).

Oracles: the metric core itself (all multiplicities 1 must give its AP to the last bit), the
core on a physically duplicated dataset (multiplicity m = the image m times), and simulation
(the 95 % interval covers the population AP about 95 % of the time).
"""

from __future__ import annotations

import numpy as np
import pytest
from cases import coco_case

from bench.analysis.bootstrap import bootstrap, interval, metric_samples, resample_counts, table_ap
from bench.analysis.paired import p_value, paired_bootstrap
from bench.data.coco import parse_gt
from bench.data.results import parse_results
from bench.metrics.core import evaluate
from bench.metrics.result import MatchTable
from bench.protocols import COCO, LVIS, VOC07, VOC12, coco_recall_thresholds

PROTOCOLS = {"coco": COCO, "voc07": VOC07.with_(gt_ignore="iscrowd"), "voc12": VOC12.with_(gt_ignore="iscrowd"),
             "coco-argmax": COCO.with_(matching="argmax")}  # fmt: skip


def _scored(seed, lvis=False, n_img=6, **kw):
    gt, dets = coco_case(seed, n_img=n_img, lvis=lvis, **kw)
    ds = parse_gt(gt, "gt.json", "lvis" if lvis else "coco")
    return gt, dets, ds, parse_results(dets, ds, "dt.json")


@pytest.mark.parametrize("seed", range(24))
def test_unit_weights_reproduce_the_core_exactly(seed):
    lvis = seed % 4 == 3
    _, _, ds, det = _scored(seed, lvis=lvis, tie_scores=seed % 3 == 0, integer=seed % 2 == 0)
    for p in [LVIS] if lvis else PROTOCOLS.values():
        r = evaluate(ds, det, p)
        samples, per_class = metric_samples(r, np.ones((1, len(ds.images)), np.int32))
        assert set(samples) == {k for k in r.metrics if k in ("AP", "AP50", "AP75", "APr", "APc", "APf", "mAP")}
        for k, v in samples.items():
            assert (None if np.isnan(v[0]) else float(v[0])) == r.metrics[k], (p.name, k)  # bit for bit
        for i, name in enumerate(r.category_names):
            ref = r.per_class[name]["AP"]
            assert (ref is None) == bool(np.isnan(per_class[0, i]))
            if ref is not None:
                assert per_class[0, i] == pytest.approx(ref, abs=1e-15)


def _duplicated(gt, dets, counts_by_id):
    imgs, anns, out = [], [], []
    for im in gt["images"]:
        for c in range(counts_by_id[im["id"]]):
            nid = im["id"] * 10 + c
            imgs.append({**im, "id": nid})
            anns += [{**a, "id": a["id"] * 10 + c, "image_id": nid} for a in gt["annotations"] if a["image_id"] == im["id"]]
            out += [{**d, "image_id": nid} for d in dets if d["image_id"] == im["id"]]
    return {**gt, "images": imgs, "annotations": anns}, out


@pytest.mark.parametrize("seed", range(12))
def test_multiplicity_equals_duplicating_the_images(seed):
    gt, dets, ds, det = _scored(seed, integer=False)
    counts = resample_counts(len(ds.images), 1, seed)
    gt2, dets2 = _duplicated(gt, dets, {k: int(counts[0, i]) for i, k in enumerate(ds.images.keys)})
    ds2 = parse_gt(gt2, "gt2.json")
    for p in PROTOCOLS.values():
        samples, _ = metric_samples(evaluate(ds, det, p), counts)
        ref = evaluate(ds2, parse_results(dets2, ds2, "dt2.json"), p).metrics
        for k, v in samples.items():
            if ref[k] is None:
                assert np.isnan(v[0])
            else:
                assert v[0] == pytest.approx(ref[k], abs=1e-12), (p.name, k)


def test_resample_counts_are_seeded_multinomial():
    a, b = resample_counts(50, 200, 3), resample_counts(50, 200, 3)
    assert a.dtype == np.int32 and a.shape == (200, 50) and (a == b).all()
    assert (a.sum(axis=1) == 50).all() and not (a == resample_counts(50, 200, 4)).all()
    assert abs(a.mean() - 1.0) < 1e-12 and 0.8 < a.var() < 1.2  # Binomial(50, 1/50): variance 0.98


def test_interval_methods():
    s = np.array([0.1, 0.2, 0.3, np.nan])
    assert interval(s, 0.2, 0.5, "percentile") == pytest.approx([0.15, 0.25])
    assert interval(s, 0.25, 0.5) == pytest.approx([0.25, 0.35])  # basic: 2*est - [q_hi, q_lo]
    assert interval(np.array([np.nan]), 0.2, 0.95) is None and interval(s, None, 0.95) is None
    assert interval(np.array([0.9, 1.0]), 0.99, 0.95)[1] == 1.0  # clipped to [0, 1]


def test_bootstrap_result_and_paired_test():
    _, _, ds, det = _scored(1, integer=False, n_img=60)
    r = evaluate(ds, det, COCO)
    ci = bootstrap(r, n=300, seed=0)
    assert set(ci.ci) == {"AP", "AP50", "AP75"} and ci.to_dict()["resamples"] == 300
    lo, hi = ci.ci["AP"]
    assert 0.0 <= lo <= hi <= 1.0
    same = paired_bootstrap(r, r, n=200)
    assert same["AP"]["delta"] == 0.0 and same["AP"]["ci"] == [0.0, 0.0] and same["AP"]["p_value"] == 1.0
    # no detections at all on every other image: about half the ground truth is missed
    keep = det.image_idx % 2 == 0
    from bench.data.model import DetectionTable

    worse = evaluate(ds, DetectionTable(det.image_idx[keep], det.category_idx[keep], det.xyxy[keep], det.box_area[keep], det.scores[keep]), COCO)
    diff = paired_bootstrap(r, worse, n=300)
    assert diff["AP"]["delta"] < 0 and diff["AP"]["ci"][1] < 0 and diff["AP"]["p_value"] < 0.05


def test_p_value_inverts_the_basic_interval():
    assert p_value(np.array([0.1] * 99), 0.1) == pytest.approx(2 / 100)  # reflected: all at 0.1 > 0
    assert p_value(np.array([-1.0, 1.0]), 0.0) == 1.0 and p_value(np.array([np.nan]), 0.0) is None
    rng = np.random.default_rng(0)
    for _ in range(50):
        d = rng.normal(rng.normal(0, 1), 1, 999)
        est = float(rng.normal(0, 1))
        lo, hi = interval(d, est, 0.95, lo=-np.inf, hi=np.inf)
        p = p_value(d, est)
        if abs(p - 0.05) > 0.01:  # away from the boundary (quantile interpolation)
            assert (p < 0.05) == (not lo <= 0.0 <= hi)


def _population(n_img, k, rng):
    di, dc, ds, st, gi, gc = [], [], [], [], [], []
    for i in range(n_img):
        for c in rng.integers(0, k, rng.poisson(1.5)):
            gi.append(i), gc.append(c)
            if rng.random() < 0.75:
                di.append(i), dc.append(c), ds.append(rng.beta(4, 2)), st.append(1)
            if rng.random() < 0.2:
                di.append(i), dc.append(c), ds.append(rng.beta(2, 3)), st.append(0)
        for _ in range(rng.poisson(8)):
            di.append(i), dc.append(rng.integers(0, k)), ds.append(rng.beta(1.5, 4)), st.append(0)
    return [np.array(a) for a in (di, dc, ds, st, gi, gc)]


def _table(di, dc, ds, st, gi, gc, k):
    order = np.lexsort((di, -ds, dc))
    c = dc[order]
    return MatchTable(st[order][None].astype(np.int8), ds[order], np.searchsorted(c, np.arange(k)), np.searchsorted(c, np.arange(k), "right"),
                      np.bincount(gc, minlength=k), image_idx=di[order], gt_image_idx=gi, gt_category_idx=gc)  # fmt: skip


def _ap(table, counts):
    return np.nanmean(table_ap(table, "coco101", coco_recall_thresholds(), counts)[:, 0, :], axis=1)


def test_coverage_by_simulation():
    """A finite population of 20,000 images (3 classes, detections with known TP/FP status);
    200 samples of 300 images drawn with replacement; each sample's 95 % basic interval
    (200 resamples) must cover the population AP in 90-99 % of the samples."""
    k, n_pop, n, reps = 3, 20000, 300, 200
    rng = np.random.default_rng(7)
    di, dc, ds, st, gi, gc = _population(n_pop, k, rng)
    pop_ap = _ap(_table(di, dc, ds, st, gi, gc, k), np.ones((1, n_pop), np.int32))[0]
    d_ord, g_ord = np.argsort(di, kind="stable"), np.argsort(gi, kind="stable")
    d_span = np.searchsorted(di[d_ord], np.arange(n_pop + 1))
    g_span = np.searchsorted(gi[g_ord], np.arange(n_pop + 1))
    covered = 0
    for r in range(reps):
        pick = rng.integers(0, n_pop, n)
        dr = np.concatenate([d_ord[d_span[i] : d_span[i + 1]] for i in pick])
        gr = np.concatenate([g_ord[g_span[i] : g_span[i + 1]] for i in pick])
        d_img = np.repeat(np.arange(n), np.diff(d_span)[pick])
        g_img = np.repeat(np.arange(n), np.diff(g_span)[pick])
        t = _table(d_img, dc[dr], ds[dr], st[dr], g_img, gc[gr], k)
        est = _ap(t, np.ones((1, n), np.int32))[0]
        lo, hi = interval(_ap(t, resample_counts(n, 200, r)), est, 0.95)
        covered += lo <= pop_ap <= hi
    assert 0.90 <= covered / reps <= 0.99, covered / reps
