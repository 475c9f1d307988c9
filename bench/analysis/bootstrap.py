"""Bootstrap confidence intervals over images, from the core's :class:`MatchTable`.

A resample draws ``I`` images with replacement from the ``I`` scored images; it is represented
as a multiplicity per image (how often the image was drawn), never by matching again. The
precision/recall of a category under a resample are the weighted cumulative TP / FP counts of
its detections in accumulation order (each detection weighs its image's multiplicity) over the
weighted number of ground truth to find; AP is then read exactly as the core reads it (COCO's
101-point lookup, or the VOC devkit's 11-point / all-point rules). With every multiplicity 1 the
kernel reproduces the core's per-category AP bit for bit.

An image drawn ``m`` times counts as one image with weight ``m`` (its detections form one block
in the score order), the usual weighted-bootstrap convention.

Intervals are basic (reverse-percentile) bootstrap intervals by default, percentile intervals
on request; see :func:`interval` for why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np
from numba import njit, prange

from bench.analysis.defaults import BLOCK_CELLS
from bench.analysis.defaults import CONFIDENCE as DEFAULT_CONFIDENCE
from bench.analysis.defaults import RESAMPLES as DEFAULT_RESAMPLES
from bench.analysis.defaults import SEED as DEFAULT_SEED
from bench.metrics.codes import EPS, FP, TP
from bench.metrics.result import EvalResult, MatchTable
from bench.protocols import matlab_colon

MODES = {"coco101": 0, "voc11": 1, "voc_all": 2}


def resample_blocks(n_images: int, n_resamples: int, seed: int = DEFAULT_SEED, block_cells: int = BLOCK_CELLS):
    """The multiplicity of every image in every resample, as consecutive int32 ``[b, I]`` blocks
    (rows sum to ``I``; at most ``max(block_cells // I, 1)`` rows a block, so memory stays bounded
    whatever ``n_resamples``).

    Seeded (numpy's PCG64 via ``default_rng(seed)``, the rows drawn block after block); two runs on
    the same images get the same rows, which is what makes a paired comparison paired."""
    if n_resamples < 1:
        raise ValueError(f"the number of resamples must be >= 1, got {n_resamples}")
    if n_images < 1:
        raise ValueError("the bootstrap needs at least one image (the protocol scores none here)")
    if seed < 0:
        raise ValueError(f"the bootstrap seed must be >= 0, got {seed}")
    rng = np.random.default_rng(seed)
    rows = max(block_cells // n_images, 1)
    for start in range(0, n_resamples, rows):
        b = min(rows, n_resamples - start)
        draws = rng.integers(0, n_images, size=(b, n_images), dtype=np.int64)
        draws += (np.arange(b, dtype=np.int64) * n_images)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n_images).reshape(b, n_images).astype(np.int32)


def resample_counts(n_images: int, n_resamples: int, seed: int = DEFAULT_SEED) -> np.ndarray:
    """All of :func:`resample_blocks` in one int32 ``[B, I]`` matrix (for tests and small B)."""
    return np.concatenate(list(resample_blocks(n_images, n_resamples, seed)))


@njit(cache=True, error_model="numpy")
def _interpolate(rc, pr, n, mode, points11, any_fp, any_ig):
    """VOC AP of one (category, threshold) from its TP entries only: ``rc``/``pr`` ``[n]`` are the
    recall and precision right after each true positive (mode 1 VOC2007, 2 VOC2010+). The precision envelope over the full
    sequence equals the envelope over these entries (a false positive never raises precision),
    so the values are the core's, operation for operation."""
    if mode == 2:  # VOC2010+: area under the envelope, summed where recall changes
        for i in range(n - 1, 0, -1):
            if pr[i] > pr[i - 1]:
                pr[i - 1] = pr[i]
        s = 0.0
        prev = 0.0
        for i in range(n):
            s += (rc[i] - prev) * pr[i]
            prev = rc[i]
        return s
    s = 0.0  # VOC2007: max precision at recall >= t, 0 where no point reaches t
    for p_i in range(points11.shape[0]):
        thr = points11[p_i]
        p = np.nan
        found = False
        for j in range(n):
            if rc[j] >= thr:
                found = True
                if np.isnan(p) or pr[j] > p:
                    p = pr[j]
        if not found:
            if thr <= 0.0 and not any_fp and any_ig:
                p = np.nan  # only ignored entries: the devkit's NaN precision, as the core
            else:
                p = 0.0
        s = s + p / 11
    return s


@njit(cache=True, error_model="numpy")
def _coco_block(rc, pr, n, nb, rec_thrs, values, run, nxt):
    """pycocotools' 101-point AP for ``nb`` resamples at once: ``rc``/``pr`` ``[n, BLOCK]`` are
    the TP entries of each resample (see :func:`_interpolate`); ``values`` ``[BLOCK, R]`` receives
    the interpolated precision at each recall threshold. One backward pass: the envelope is the
    running maximum from the end, and threshold j takes it at the first entry with recall >= j."""
    n_r = rec_thrs.shape[0]
    values[:, :] = 0.0
    for b in range(nb):
        run[b] = 0.0
        nxt[b] = n_r - 1
    for i in range(n - 1, -1, -1):
        for b in range(nb):
            if pr[i, b] > run[b]:
                run[b] = pr[i, b]
            hi = rc[i, b]
            lo = rc[i - 1, b] if i > 0 else -np.inf
            j = nxt[b]
            while j >= 0 and rec_thrs[j] > hi:
                j -= 1  # above this entry's recall: a later entry's, or 0
            while j >= 0 and rec_thrs[j] > lo:
                values[b, j] = run[b]
                j -= 1
            nxt[b] = j


BLOCK = 8  # resamples accumulated together in one pass over the detections


@njit(cache=True, parallel=True, error_model="numpy")
def weighted_ap(tp_bits, fp_bits, img, cat_start, cat_end, gt_img, gt_cat, counts, n_thr, mode, rec_thrs, points11, n_chunks):
    """AP per resample, threshold and category: float64 ``[B, T, K]`` (NaN: no ground truth).

    tp_bits / fp_bits: int64 ``[D]``, bit t set where the detection is a TP / FP at threshold t
    (neither: ignored); img: int64 ``[D]``; detections in accumulation order, category k owning
    ``cat_start[k]:cat_end[k]``; gt_img / gt_cat: int64 ``[G]`` counted ground truth;
    counts: int32 ``[B, I]`` image multiplicities; mode: 0 coco101, 1 voc11, 2 voc_all;
    n_chunks: parallel workers. Resamples are processed ``BLOCK`` at a time, so the detection
    arrays are read once per block; a detection that is a false positive at every threshold
    (most of them) only adds its weight to a shared count.
    """
    n_res, n_img = counts.shape[0], counts.shape[1]
    n_cat = cat_start.shape[0]
    n_r = rec_thrs.shape[0]
    all_bits = (1 << n_thr) - 1
    out = np.full((n_res, n_thr, n_cat), np.nan)
    longest = 1  # most detections of one category that are a TP somewhere (the TP-entry buffers)
    for k in range(n_cat):
        n = 0
        for j in range(cat_start[k], cat_end[k]):
            if tp_bits[j] != 0:
                n += 1
        longest = max(longest, n)
    n_blocks = (n_res + BLOCK - 1) // BLOCK
    for c in prange(n_chunks):
        w = np.zeros((n_img, BLOCK))
        # one entry per detection that is a TP at t, for every resample of the block alike (a
        # zero-weight one repeats the previous point, which changes no interpolation), so the
        # inner loops run over the block's resamples without branches
        rc = np.empty((n_thr, longest, BLOCK))
        pr = np.empty((n_thr, longest, BLOCK))
        n_tp = np.zeros(n_thr, np.int64)
        tp = np.zeros((n_thr, BLOCK))
        fp = np.zeros((n_thr, BLOCK))
        any_fp = np.zeros((n_thr, BLOCK), np.bool_)
        any_ig = np.zeros((n_thr, BLOCK), np.bool_)
        fp_all = np.zeros(BLOCK)  # false positives at every threshold: added to fp[t, r] when read
        npos = np.zeros((BLOCK, n_cat))
        values = np.zeros((BLOCK, n_r))
        run = np.zeros(BLOCK)
        nxt = np.zeros(BLOCK, np.int64)
        for blk in range(c, n_blocks, n_chunks):
            b0 = blk * BLOCK
            nb = min(BLOCK, n_res - b0)
            for i in range(n_img):
                for r in range(BLOCK):
                    w[i, r] = counts[b0 + r, i] if r < nb else 0.0
            npos[:] = 0.0
            for g in range(gt_img.shape[0]):
                for r in range(BLOCK):
                    npos[r, gt_cat[g]] += w[gt_img[g], r]
            for k in range(n_cat):
                tp[:] = 0.0
                fp[:] = 0.0
                fp_all[:] = 0.0
                n_tp[:] = 0
                any_fp[:] = False
                any_ig[:] = False
                for j in range(cat_start[k], cat_end[k]):
                    i = img[j]
                    fb = fp_bits[j]
                    if fb == all_bits:
                        for r in range(BLOCK):
                            fp_all[r] += w[i, r]
                        continue
                    tb = tp_bits[j]
                    for t in range(n_thr):
                        if (tb >> t) & 1:
                            m = n_tp[t]
                            for r in range(BLOCK):
                                tp[t, r] += w[i, r]
                                rc[t, m, r] = tp[t, r] / npos[r, k]
                                f = fp[t, r] + fp_all[r]  # integer-valued floats: exactly the core's count
                                if mode == 0:
                                    pr[t, m, r] = tp[t, r] / (f + tp[t, r] + EPS)
                                else:
                                    pr[t, m, r] = tp[t, r] / (f + tp[t, r]) if tp[t, r] > 0.0 else 0.0
                            n_tp[t] = m + 1
                        elif (fb >> t) & 1:
                            for r in range(BLOCK):
                                fp[t, r] += w[i, r]
                                any_fp[t, r] |= w[i, r] > 0.0
                        else:
                            for r in range(BLOCK):
                                any_ig[t, r] |= w[i, r] > 0.0
                for t in range(n_thr):
                    if mode == 0:
                        _coco_block(rc[t], pr[t], n_tp[t], nb, rec_thrs, values, run, nxt)
                    for r in range(nb):
                        if npos[r, k] == 0.0:
                            continue
                        if mode == 0:
                            total = 0.0
                            if tp[t, r] > 0.0:  # else no weighted TP: AP 0
                                for j in range(n_r):  # the core's summation order: equal to the bit
                                    total += values[r, j]
                            out[b0 + r, t, k] = total / n_r
                        else:
                            seen_fp = any_fp[t, r] or fp_all[r] > 0.0
                            n = n_tp[t] if tp[t, r] > 0.0 else 0  # no weighted TP: no point at all
                            out[b0 + r, t, k] = _interpolate(rc[t, :, r], pr[t, :, r], n, mode, points11, seen_fp, any_ig[t, r])
    return out


def status_bits(status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int64 ``[D]`` TP and FP bit masks of an int8 ``[T, D]`` status table (T <= 62)."""
    n_thr = status.shape[0]
    if n_thr > 62:
        raise ValueError(f"at most 62 IoU thresholds, got {n_thr}")
    weights = (np.int64(1) << np.arange(n_thr, dtype=np.int64))[:, None]
    tp = ((status == TP).astype(np.int64) * weights).sum(axis=0, dtype=np.int64)
    fp = ((status == FP).astype(np.int64) * weights).sum(axis=0, dtype=np.int64)
    return tp, fp


def table_ap(table: MatchTable, interpolation: str, recall_thresholds, counts: np.ndarray) -> np.ndarray:
    """Per-resample AP ``[B, T, K]`` of ``table`` under image multiplicities ``counts`` ``[B, I]``."""
    if table.image_idx is None or table.gt_image_idx is None or table.gt_category_idx is None:
        raise ValueError("the MatchTable lacks image_idx / gt_image_idx / gt_category_idx (made by an older core?)")
    if interpolation not in MODES:
        raise ValueError(f"unknown interpolation {interpolation!r}")
    counts = np.asarray(counts)
    n_img = counts.shape[1] if counts.ndim == 2 else 0
    for name, idx in (("image_idx", table.image_idx), ("gt_image_idx", table.gt_image_idx)):
        if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n_img):
            raise ValueError(f"MatchTable.{name} holds image index {int(idx.max())} (min {int(idx.min())}) but the resamples "
                             f"cover {n_img} images: the table does not index the scored images")  # fmt: skip
    tp, fp = status_bits(table.status)
    return weighted_ap(
        tp, fp, np.ascontiguousarray(table.image_idx, np.int64), table.cat_start.astype(np.int64), table.cat_end.astype(np.int64),
        np.ascontiguousarray(table.gt_image_idx, np.int64), np.ascontiguousarray(table.gt_category_idx, np.int64),
        np.ascontiguousarray(counts, np.int32), table.status.shape[0], MODES[interpolation],
        np.asarray(recall_thresholds, np.float64), matlab_colon(0.0, 0.1, 1.0), min((len(counts) + BLOCK - 1) // BLOCK, 4 * numba.get_num_threads()),
    )  # fmt: skip


def _nanmean_last(x: np.ndarray) -> np.ndarray:
    """Mean over the last axes' defined entries: ``[B, ...] -> [B]`` (NaN where none); the
    core's ``np.mean`` of the defined values in the same order, so equal to the last bit."""
    flat = x.reshape(x.shape[0], -1)
    out = np.full(x.shape[0], np.nan)
    for b in range(x.shape[0]):
        v = flat[b][~np.isnan(flat[b])]
        if v.size:
            out[b] = np.mean(v)
    return out


def metric_samples(result: EvalResult, counts: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Each headline metric per resample (``{name: [B]}``, NaN where undefined) and per-class AP
    ``[B, K]``: the core's definitions (COCO: AP over IoU 0.50:0.95, AP50, AP75, LVIS APr/c/f;
    VOC: mAP at IoU 0.5)."""
    p = result.protocol
    ap = table_ap(result.table, p.interpolation, p.recall_thresholds, counts)
    t50, t75 = p.iou_index(0.5), p.iou_index(0.75)
    out: dict[str, np.ndarray] = {}
    if p.interpolation == "coco101":
        out["AP"] = _nanmean_last(ap)
        if t50 is not None:
            out["AP50"] = _nanmean_last(ap[:, t50])
        if t75 is not None:
            out["AP75"] = _nanmean_last(ap[:, t75])
        freq = [result.per_class[n].get("frequency") for n in result.category_names]
        if p.federated and all(f is not None for f in freq):
            for g in ("r", "c", "f"):
                out[f"AP{g}"] = _nanmean_last(ap[:, :, np.array([f == g for f in freq])])
        defined = ~np.isnan(ap)
        n_def = defined.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(n_def > 0, np.where(defined, ap, 0.0).sum(axis=1) / np.maximum(n_def, 1), np.nan)
    else:
        t = t50 if t50 is not None else 0
        out["mAP"] = _nanmean_last(ap[:, t])
        per_class = ap[:, t]
    return out, per_class


def blocked_samples(results: list[EvalResult], n_images: int, n: int, seed: int) -> list[tuple[dict[str, np.ndarray], np.ndarray]]:
    """:func:`metric_samples` of each result under the same ``n`` seeded resamples, scored block by
    block (:func:`resample_blocks`): ``[(samples {metric: [n]}, per-class AP [n, K])]``."""
    parts: list[list] = [[] for _ in results]
    for counts in resample_blocks(n_images, n, seed):
        for part, r in zip(parts, results):
            part.append(metric_samples(r, counts))
    out = []
    for part in parts:
        samples = {k: np.concatenate([s[k] for s, _ in part]) for k in part[0][0]}
        out.append((samples, np.concatenate([pc for _, pc in part])))
    return out


def interval(samples: np.ndarray, estimate: float | None, confidence: float, method: str = "basic",
             lo: float = 0.0, hi: float = 1.0) -> list[float] | None:  # fmt: skip
    """``[low, high]`` from the defined resampled values (None if none are, or no estimate).

    "percentile": the (1-c)/2 and (1+c)/2 quantiles q_lo, q_hi. "basic" (the default): the
    reverse-percentile interval [2*estimate - q_hi, 2*estimate - q_lo], clipped to [lo, hi].
    AP's precision envelope takes a maximum over a noisy curve, so resampled AP sits above the
    full-set AP, as the full-set AP sits above the population's; the basic interval corrects
    for that shift, which the percentile interval keeps (on a COCO-val-sized case the
    percentile interval can miss the estimate itself). The basic interval's coverage is checked
    by simulation in tests/test_bootstrap.py.
    """
    v = samples[~np.isnan(samples)]
    if v.size == 0 or estimate is None:
        return None
    a = (1.0 - confidence) / 2.0
    q_lo, q_hi = np.quantile(v, [a, 1.0 - a])
    if method == "percentile":
        return [float(q_lo), float(q_hi)]
    if method != "basic":
        raise ValueError(f"unknown interval method {method!r} (basic or percentile)")
    return [float(min(max(2 * estimate - q_hi, lo), hi)), float(min(max(2 * estimate - q_lo, lo), hi))]


def check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


@dataclass
class BootstrapCI:
    """Bootstrap intervals over ``n`` image resamples (fractions in [0, 1]).

    ci: metric -> [low, high] or None; per_class: class name -> [low, high] or None;
    bias: metric -> mean resampled value minus the estimate (how far the resamples sit above it);
    samples: metric -> float64 ``[n]`` (NaN where undefined), kept for plots and tests.
    """

    n: int
    confidence: float
    seed: int
    method: str
    ci: dict[str, list[float] | None]
    per_class: dict[str, list[float] | None]
    bias: dict[str, float | None]
    seconds: float
    samples: dict[str, np.ndarray] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict:
        return {"resamples": self.n, "confidence": self.confidence, "seed": self.seed, "unit": "images",
                "method": self.method, "seconds": self.seconds, "ci": self.ci, "per_class": self.per_class,
                "bias": self.bias}  # fmt: skip


def bootstrap(result: EvalResult, n: int = DEFAULT_RESAMPLES, confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED,
              method: str = "basic") -> BootstrapCI:  # fmt: skip
    """Bootstrap intervals over images for ``result``'s AP metrics and per-class AP.

    Example::

        result = evaluate_files("instances_val2017_mini.json", "predictions.json")
        ci = bootstrap(result, n=1000, seed=0)
        ci.ci["AP"]        # [low, high], fractions
    """
    import time

    check_confidence(confidence)
    t0 = time.perf_counter()
    samples, per_class = blocked_samples([result], int(result.counts["images"]), n, seed)[0]
    ci = {k: interval(v, result.metrics.get(k), confidence, method) for k, v in samples.items()}
    pc = {name: interval(per_class[:, k], result.per_class[name]["AP"], confidence, method) for k, name in enumerate(result.category_names)}
    bias = {}
    for k, v in samples.items():
        d = v[~np.isnan(v)]
        bias[k] = float(d.mean() - result.metrics[k]) if d.size and result.metrics.get(k) is not None else None
    return BootstrapCI(n, confidence, seed, method, ci, pc, bias, time.perf_counter() - t0, samples)
