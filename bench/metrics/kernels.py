"""Compiled inner loops of the metric core (numba, cached on disk after the first run).

Status codes: :mod:`bench.metrics.codes` (0 false positive, 1 true positive, 2 ignored).
Floating-point expressions follow the
reference tools operation for operation, so results are bit-identical to them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bench.metrics.codes import EPS, FP, IGNORED, TP

_CHUNKS = 64  # match_groups' work units: enough to balance the threads of any machine


@njit(cache=True, error_model="numpy")
def _iou(d, g, dt_xyxy, dt_barea, gt_xyxy, gt_barea, crowd):
    """pycocotools' bbIou for one pair: intersection over union, or over the detection's
    area for a crowd box. ``*_barea`` are width*height as the source gave them."""
    w = min(dt_xyxy[d, 2], gt_xyxy[g, 2]) - max(dt_xyxy[d, 0], gt_xyxy[g, 0])
    if w <= 0:
        return 0.0
    h = min(dt_xyxy[d, 3], gt_xyxy[g, 3]) - max(dt_xyxy[d, 1], gt_xyxy[g, 1])
    if h <= 0:
        return 0.0
    i = w * h
    if crowd:
        u = dt_barea[d]
    else:
        u = dt_barea[d] + gt_barea[g] - i
    return i / u


@njit(cache=True, error_model="numpy", parallel=True)
def match_groups(
    gt_xyxy, gt_barea, gt_area, gt_crowd, gt_ig, gt_start, gt_end,
    dt_xyxy, dt_barea, dt_area, dt_uig, dt_start, dt_end,
    area_lo, area_hi, thrs, mode, pre_iou, pre_off, out_pos,
):  # fmt: skip
    """Match detections to ground truth in every (image, category) group.

    Group ``i`` holds GT rows ``gt_start[i]:gt_end[i]`` (file order) and detection rows
    ``dt_start[i]:dt_end[i]`` (score order, ties in file order). ``gt_ig``: GT ignored in
    every area range (crowd / ignore / difficult); ``dt_uig``: an unmatched detection is
    ignored (LVIS not-exhaustive). ``mode``: 0 greedy (pycocotools), 1 argmax (VOC devkit),
    2 greedy taking the first ground truth on IoU ties (ultralytics). ``pre_off`` empty: box IoU;
    else group ``i``'s IoU matrix ``[nd, ng]`` is ``pre_iou[pre_off[i]:pre_off[i+1]]`` row-major
    (masks). Returns int8 ``[D, A, T]`` status codes, detection ``j``'s at row ``out_pos[j]`` (one
    detection's codes are adjacent in memory, so scattered rows cost one cache line each).
    """
    argmax = mode == 1
    first_on_ties = mode == 2
    n_area = area_lo.shape[0]
    n_thr = thrs.shape[0]
    status = np.zeros((dt_area.shape[0], n_area, n_thr), np.int8)
    n_grp = gt_start.shape[0]
    max_ng, max_pairs = 0, 0
    for grp in range(n_grp):
        ng, nd = gt_end[grp] - gt_start[grp], dt_end[grp] - dt_start[grp]
        max_ng, max_pairs = max(max_ng, ng), max(max_pairs, ng * nd)
    # groups are independent: chunks of them on both cores, each chunk with its own scratch
    # arrays (one allocation per chunk, not four per group)
    n_chunks = min(n_grp, _CHUNKS)
    for c in prange(n_chunks):
        scratch = np.empty(max_pairs)
        gig = np.empty(max_ng, np.bool_)
        perm = np.empty(max_ng, np.int64)
        matched = np.empty(max_ng, np.bool_)
        for grp in range(c * n_grp // n_chunks, (c + 1) * n_grp // n_chunks):
            _match_group(grp, status, scratch, gig, perm, matched, gt_xyxy, gt_barea, gt_area, gt_crowd, gt_ig, gt_start, gt_end,
                         dt_xyxy, dt_barea, dt_area, dt_uig, dt_start, dt_end, area_lo, area_hi, thrs, argmax, first_on_ties,
                         pre_iou, pre_off, out_pos)  # fmt: skip
    return status


@njit(cache=True, error_model="numpy", inline="always")
def _match_group(
    grp, status, scratch, gig, perm, matched, gt_xyxy, gt_barea, gt_area, gt_crowd, gt_ig, gt_start, gt_end,
    dt_xyxy, dt_barea, dt_area, dt_uig, dt_start, dt_end, area_lo, area_hi, thrs, argmax, first_on_ties,
    pre_iou, pre_off, out_pos,
):  # fmt: skip
    """One (image, category) group of :func:`match_groups`, its status rows written in place."""
    n_area = area_lo.shape[0]
    n_thr = thrs.shape[0]
    gs, ds = gt_start[grp], dt_start[grp]
    ng, nd = gt_end[grp] - gs, dt_end[grp] - ds
    if nd == 0:
        return
    if pre_off.shape[0] > 0:
        ious = pre_iou[pre_off[grp]:pre_off[grp + 1]].reshape((nd, ng))
    else:
        ious = scratch[: nd * ng].reshape((nd, ng))
        for d in range(nd):
            for g in range(ng):
                ious[d, g] = _iou(ds + d, gs + g, dt_xyxy, dt_barea, gt_xyxy, gt_barea, gt_crowd[gs + g])
    for a in range(n_area):
        lo, hi = area_lo[a], area_hi[a]
        for g in range(ng):
            ar = gt_area[gs + g]
            gig[g] = gt_ig[gs + g] or ar < lo or ar > hi
        n = 0  # GT order for greedy matching: not ignored first, stable
        for g in range(ng):
            if not gig[g]:
                perm[n] = g
                n += 1
        for g in range(ng):
            if gig[g]:
                perm[n] = g
                n += 1
        for t in range(n_thr):
            matched[:ng] = False
            for d in range(nd):
                m = -1
                st = FP
                if argmax:
                    # VOC devkit: the GT with the largest overlap (first on ties), taken or not.
                    best = -np.inf
                    for g in range(ng):
                        v = ious[d, g]
                        if v > 0.0 and v > best:
                            best = v
                            m = g
                    if m >= 0 and best >= thrs[t]:
                        if gig[m]:
                            st = IGNORED
                        elif not matched[m]:
                            st = TP
                            matched[m] = True
                        else:
                            st = FP  # a duplicate detection of a found object
                    else:
                        m = -1
                else:
                    # pycocotools evaluateImg: best still-free GT, regular GT before ignored.
                    best = min(thrs[t], 1 - 1e-10)
                    for j in range(ng):
                        g = perm[j]
                        if matched[g] and not gt_crowd[gs + g]:
                            continue
                        if m > -1 and not gig[m] and gig[g]:
                            break
                        if ious[d, g] < best or (first_on_ties and m > -1 and ious[d, g] == best):
                            continue
                        best = ious[d, g]
                        m = g
                    if m >= 0:
                        matched[m] = True
                        st = IGNORED if gig[m] else TP
                if m < 0:
                    da = dt_area[ds + d]
                    st = IGNORED if (dt_uig[ds + d] or da < lo or da > hi) else FP
                status[out_pos[ds + d], a, t] = st


@njit(cache=True, error_model="numpy", parallel=True)
def accumulate_coco(status, rank, cat_start, cat_end, npos, max_dets, rec_thrs):
    """pycocotools' accumulate: precision ``[T, R, K, A, M]`` at the recall points,
    recall ``[T, K, A, M]`` (-1 where a category has no ground truth to find) and each
    category's AP, the mean precision over the recall points, ``[T, K, A, M]`` (NaN there).

    ``status`` int8 ``[D, A, T]``: detections in accumulation order (category blocks, score
    order, ties resolved); ``rank`` is each one's place in its (image, category) group,
    compared with ``max_dets``.
    """
    n_area, n_thr = status.shape[1], status.shape[2]
    n_cat, n_m, n_r = cat_start.shape[0], max_dets.shape[0], rec_thrs.shape[0]
    # filled in [K, A, M, T, R] order so every write is sequential; returned as a
    # [T, R, K, A, M] view (pycocotools' layout) without a copy
    prec = -np.ones((n_cat, n_area, n_m, n_thr, n_r))
    rec = -np.ones((n_cat, n_area, n_m, n_thr))
    mean = np.full((n_cat, n_area, n_m, n_thr), np.nan)  # mean precision over R: the category's AP
    for k in prange(n_cat):  # categories are independent: both cores
        n = cat_end[k] - cat_start[k]
        rc = np.zeros((n_thr, n))
        pr = np.zeros((n_thr, n))
        tp = np.zeros(n_thr)
        fp = np.zeros(n_thr)
        nd = np.zeros(n_thr, np.int64)
        for a in range(n_area):
            n_gt = npos[k, a]
            if n_gt == 0:
                continue
            for mi in range(n_m):
                tp[:] = 0.0
                fp[:] = 0.0
                nd[:] = 0
                for j in range(cat_start[k], cat_end[k]):  # one pass, every threshold at once
                    if rank[j] >= max_dets[mi]:
                        continue
                    for t in range(n_thr):
                        st = status[j, a, t]
                        # an ignored detection repeats the previous (recall, precision) point,
                        # which changes neither the envelope nor the first point reaching a
                        # recall threshold: skipping it gives the same numbers
                        if st == IGNORED:
                            continue
                        if st == TP:
                            tp[t] += 1.0
                        else:
                            fp[t] += 1.0
                        i = nd[t]
                        rc[t, i] = tp[t] / n_gt
                        pr[t, i] = tp[t] / (fp[t] + tp[t] + EPS)
                        nd[t] = i + 1
                for t in range(n_thr):
                    m = nd[t]
                    rec[k, a, mi, t] = rc[t, m - 1] if m else 0.0
                    for i in range(m - 1, 0, -1):
                        if pr[t, i] > pr[t, i - 1]:
                            pr[t, i - 1] = pr[t, i]
                    i = 0
                    total = 0.0
                    for r in range(n_r):  # np.searchsorted(rc, rec_thrs, side="left")
                        while i < m and rc[t, i] < rec_thrs[r]:
                            i += 1
                        v = pr[t, i] if i < m else 0.0
                        prec[k, a, mi, t, r] = v
                        total += v
                    mean[k, a, mi, t] = total / n_r
    return np.transpose(prec, (3, 4, 0, 1, 2)), np.transpose(rec, (3, 0, 1, 2)), np.transpose(mean, (3, 0, 1, 2))


@njit(cache=True)
def _nanmax(x, y):
    """MATLAB's max(x, y): a NaN argument is ignored."""
    if np.isnan(x):
        return y
    if np.isnan(y):
        return x
    return max(x, y)


@njit(cache=True, error_model="numpy")
def accumulate_voc(status, cat_start, cat_end, npos, points11, all_point):
    """The VOC devkit's AP per category: ``[T, K, A]`` AP and recall, NaN where undefined.

    ``all_point``: VOC2010+ (area under the monotone precision envelope); else VOC2007's
    11-point rule over ``points11`` (max precision at recall >= t, NaN-ignoring as MATLAB's max).
    Precision is tp / (tp + fp) with no epsilon, as in VOCevaldet.m.
    """
    n_area, n_thr = status.shape[0], status.shape[1]
    n_cat = cat_start.shape[0]
    ap = np.full((n_thr, n_cat, n_area), np.nan)
    recall = np.full((n_thr, n_cat, n_area), np.nan)
    longest = 0
    for k in range(n_cat):
        longest = max(longest, cat_end[k] - cat_start[k])
    rec = np.zeros(longest + 2)
    prec = np.zeros(longest + 2)
    for k in range(n_cat):
        nd = cat_end[k] - cat_start[k]
        for a in range(n_area):
            n_gt = npos[k, a]
            if n_gt == 0:
                continue
            for t in range(n_thr):
                tp = 0.0
                fp = 0.0
                for j in range(nd):
                    st = status[a, t, cat_start[k] + j]
                    if st == TP:
                        tp += 1.0
                    elif st == FP:
                        fp += 1.0
                    rec[j + 1] = tp / n_gt
                    prec[j + 1] = tp / (fp + tp)
                recall[t, k, a] = rec[nd] if nd else 0.0
                if all_point:
                    rec[0] = 0.0
                    prec[0] = 0.0
                    rec[nd + 1] = 1.0
                    prec[nd + 1] = 0.0
                    for i in range(nd, -1, -1):
                        prec[i] = _nanmax(prec[i], prec[i + 1])
                    s = 0.0
                    for i in range(1, nd + 2):
                        if rec[i] != rec[i - 1]:
                            s += (rec[i] - rec[i - 1]) * prec[i]
                    ap[t, k, a] = s
                else:
                    s = 0.0
                    for p_i in range(points11.shape[0]):
                        thr = points11[p_i]
                        found = False
                        p = np.nan
                        for j in range(1, nd + 1):
                            if rec[j] >= thr:
                                found = True
                                p = _nanmax(p, prec[j])
                        if not found:
                            p = 0.0
                        s = s + p / 11
                    ap[t, k, a] = s
    return ap, recall


def accumulate_continuous(status, rank, cat_start, cat_end, npos, max_dets):
    """ultralytics' ``ap_per_class`` / ``compute_ap`` per category: AP ``[T, K, A, M]`` and
    final recall, NaN where a category has no ground truth to find (plain numpy, as ultralytics).

    Precision tp / (tp + fp), recall tp / (n + 1e-16); sentinels (0, 1) and (recall[-1], 0),
    (1, 0); the envelope; ``np.interp`` at 101 recall points; the trapezoid rule.
    """
    n_area, n_thr = status.shape[0], status.shape[1]
    n_cat, n_m = cat_start.shape[0], max_dets.shape[0]
    x = np.linspace(0, 1, 101)
    trapz = getattr(np, "trapezoid", None) or np.trapz
    ap = np.full((n_thr, n_cat, n_area, n_m), np.nan)
    rec = np.full((n_thr, n_cat, n_area, n_m), np.nan)
    for k in range(n_cat):
        block = status[:, :, cat_start[k] : cat_end[k]]
        for a in range(n_area):
            if npos[k, a] == 0:
                continue
            for mi in range(n_m):
                kept = rank[cat_start[k] : cat_end[k]] < max_dets[mi]
                for t in range(n_thr):
                    st = block[a, t][kept]
                    st = st[st != IGNORED]  # ignored detections count as neither (per threshold)
                    if st.shape[0] == 0:
                        ap[t, k, a, mi] = rec[t, k, a, mi] = 0.0
                        continue
                    tpc = np.cumsum(st == TP, dtype=np.float64)
                    fpc = np.cumsum(st == FP, dtype=np.float64)
                    recall = tpc / (npos[k, a] + 1e-16)
                    precision = tpc / (tpc + fpc)
                    mrec = np.concatenate(([0.0], recall, [recall[-1]], [1.0]))
                    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
                    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
                    ap[t, k, a, mi] = trapz(np.interp(x, mrec, mpre), x)
                    rec[t, k, a, mi] = recall[-1]
    return ap, rec
