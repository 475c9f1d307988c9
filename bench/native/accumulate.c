/* accumulate_coco and accumulate_voc: per-category precision/recall from the status codes.
 *
 * Ports of bench/metrics/kernels.py's numba functions, expression for expression (they are
 * pycocotools' COCOeval.accumulate and the VOC devkit's VOCevaldet.m / VOCap.m), so the
 * results are bit-identical.
 */
#include <math.h>
#include <stdlib.h>

#include "kernels.h"

/* pycocotools' np.spacing(1) in its precision denominator */
#define EPS 2.220446049250313e-16

/* Largest category (in detections) of [k_lo, k_hi). */
static int64_t longest_category(const int64_t *cat_start, const int64_t *cat_end, int64_t k_lo, int64_t k_hi)
{
    int64_t longest = 0;
    for (int64_t k = k_lo; k < k_hi; k++)
        if (cat_end[k] - cat_start[k] > longest)
            longest = cat_end[k] - cat_start[k];
    return longest;
}

/* Per-thread scratch of accumulate_coco, sized for the range's largest category (n detections),
 * per "slot" u = (area range, threshold), u < A*T. */
typedef struct {
    int32_t *tp_seen;  /* [A*T, n] detections counted up to and including each true positive */
    int64_t *n_tp;     /* [A*T] true positives so far */
    int64_t *n_seen;   /* [A*T] detections counted (not ignored) so far */
    double *prec;      /* [n] precision at each true positive of one slot */
    double *rc;        /* [A, n + 1] recall after c true positives: c / n_gt */
    int64_t *rc_len;   /* [A] entries of rc computed for the current category */
} coco_scratch;

/* The recall/precision table of one slot (area range ar, threshold t) of a (category,
 * max_dets) cell, from its q true positives, written to the outputs.
 *
 * numba keeps recall rc[i] = tp/n_gt and precision pr[i] = tp/(fp + tp + EPS) at every counted
 * detection i; this computes the same doubles at the true positives only, which gives the
 * same table:
 *  - fp + tp is the integer i + 1, exact in a double, so pr[i] = tp / ((double)(i+1) + EPS);
 *  - at a false positive i, tp equals that of the last true positive j < i (or is 0 when there
 *    is none), and correctly rounded division is monotone, so pr[i] <= pr[j] (or pr[i] = 0):
 *    the envelope's suffix maxima are attained at true positives, or are 0 when none follows;
 *  - rc only rises at true positives, so the first i with rc[i] >= thr (numba's searchsorted
 *    pointer; rec_thrs ascending, which the wrapper checks) is index 0 when thr <= 0 and
 *    otherwise the first true positive whose c / n_gt >= thr; the envelope there is the
 *    suffix maximum from that true positive (from the first one at index 0).
 * Recall at the last counted detection is rc after all q true positives. */
static void coco_slot(const coco_args *a, int64_t cell, int64_t t, const int32_t *tp_seen, int64_t q,
                      int64_t seen, const double *rc, double *restrict p)
{
    const int64_t n_thr = a->n_thr, n_r = a->n_r;
    for (int64_t c = 0; c < q; c++) /* numba's tp / (fp + tp + EPS) at the c-th true positive */
        p[c] = (double)(c + 1) / ((double)tp_seen[c] + EPS);
    a->rec[cell * n_thr + t] = seen ? rc[q] : 0.0;
    for (int64_t c = q - 1; c > 0; c--) /* the precision envelope */
        if (p[c] > p[c - 1])
            p[c - 1] = p[c];
    double *restrict out = a->prec + (cell * n_thr + t) * n_r;
    int64_t c = 0; /* the next true positive not yet passed */
    double total = 0.0;
    for (int64_t r = 0; r < n_r; r++) {
        const double thr = a->rec_thrs[r];
        double v;
        if (seen == 0) {
            v = 0.0;
        } else if (rc[0] >= thr) { /* index 0: pr there is 0 or the first true positive's */
            v = q ? p[0] : 0.0;
        } else {
            while (c < q && rc[c + 1] < thr)
                c++;
            v = c < q ? p[c] : 0.0;
        }
        out[r] = v;
        total += v;
    }
    a->mean[cell * n_thr + t] = total / (double)n_r;
}

/* One (category, max_dets) cell of accumulate_coco: one pass over the category's detections
 * counts every (area range, threshold) slot at once (a detection's A*T codes are adjacent),
 * without branches; then each area range with ground truth to find gets its tables. */
static void coco_cell(const coco_args *a, int64_t k, int64_t mi, coco_scratch *s)
{
    const int64_t n_area = a->n_area, n_thr = a->n_thr, n_at = n_area * n_thr;
    const int64_t n = a->cat_end[k] - a->cat_start[k];
    const int64_t max_det = a->max_dets[mi];
    int32_t *restrict tp_seen = s->tp_seen;
    int64_t *restrict n_tp = s->n_tp, *restrict n_seen = s->n_seen;
    for (int64_t u = 0; u < n_at; u++) {
        n_tp[u] = 0;
        n_seen[u] = 0;
    }
    for (int64_t j = a->cat_start[k]; j < a->cat_end[k]; j++) {
        if (a->rank[j] >= max_det)
            continue;
        const int8_t *restrict row = a->status + j * n_at;
        for (int64_t u = 0; u < n_at; u++) {
            /* an ignored detection counts as neither: it repeats the previous point */
            const int st = row[u];
            const int64_t seen = n_seen[u] + (st != ST_IGNORED), c = n_tp[u];
            tp_seen[u * n + c] = (int32_t)seen; /* kept only if this one is a true positive */
            n_tp[u] = c + (st == ST_TP);
            n_seen[u] = seen;
        }
    }
    for (int64_t ar = 0; ar < n_area; ar++) {
        const int64_t n_gt = a->npos[k * n_area + ar];
        if (n_gt == 0)
            continue; /* nothing to find: -1 / NaN stay */
        double *rc = s->rc + ar * (n + 1);
        const int64_t cell = (k * n_area + ar) * a->n_m + mi; /* [K, A, M] index */
        for (int64_t t = 0; t < n_thr; t++) {
            const int64_t u = ar * n_thr + t, q = n_tp[u];
            for (; s->rc_len[ar] <= q; s->rc_len[ar]++) /* numba's tp / n_gt after c true positives */
                rc[s->rc_len[ar]] = (double)s->rc_len[ar] / (double)n_gt;
            coco_slot(a, cell, t, tp_seen + u * n, q, n_seen[u], rc, s->prec);
        }
    }
}

int accumulate_coco_range(const coco_args *a, int64_t k_lo, int64_t k_hi)
{
    const int64_t n_at = a->n_area * a->n_thr;
    const int64_t longest = longest_category(a->cat_start, a->cat_end, k_lo, k_hi);
    coco_scratch s;
    s.tp_seen = malloc((size_t)(n_at * longest + 1) * sizeof(int32_t));
    s.n_tp = malloc((size_t)(n_at + 1) * sizeof(int64_t));
    s.n_seen = malloc((size_t)(n_at + 1) * sizeof(int64_t));
    s.prec = malloc((size_t)(longest + 1) * sizeof(double));
    s.rc = malloc((size_t)(a->n_area * (longest + 1) + 1) * sizeof(double));
    s.rc_len = malloc((size_t)(a->n_area + 1) * sizeof(int64_t));
    int ok = s.tp_seen && s.n_tp && s.n_seen && s.prec && s.rc && s.rc_len;
    for (int64_t k = k_lo; ok && k < k_hi; k++) {
        for (int64_t ar = 0; ar < a->n_area; ar++)
            s.rc_len[ar] = 0;
        for (int64_t mi = 0; mi < a->n_m; mi++)
            coco_cell(a, k, mi, &s);
    }
    free(s.tp_seen);
    free(s.n_tp);
    free(s.n_seen);
    free(s.prec);
    free(s.rc);
    free(s.rc_len);
    return ok ? 0 : -1;
}

/* MATLAB's max(x, y): a NaN argument is ignored; otherwise Python's max. */
static double nanmax(double x, double y)
{
    if (isnan(x))
        return y;
    if (isnan(y))
        return x;
    return y > x ? y : x;
}

/* The devkit's AP of one (category, area range, threshold) from rec/prec[1..nd]. */
static double voc_ap(double *rec, double *prec, int64_t nd, const voc_args *a)
{
    double s = 0.0;
    if (a->all_point) { /* VOC2010+: area under the monotone envelope */
        rec[0] = 0.0;
        prec[0] = 0.0;
        rec[nd + 1] = 1.0;
        prec[nd + 1] = 0.0;
        for (int64_t i = nd; i >= 0; i--)
            prec[i] = nanmax(prec[i], prec[i + 1]);
        for (int64_t i = 1; i < nd + 2; i++)
            if (rec[i] != rec[i - 1])
                s += (rec[i] - rec[i - 1]) * prec[i];
        return s;
    }
    for (int64_t p_i = 0; p_i < a->n_points; p_i++) { /* VOC2007's 11 points */
        const double thr = a->points11[p_i];
        int found = 0;
        double p = NAN;
        for (int64_t j = 1; j < nd + 1; j++)
            if (rec[j] >= thr) {
                found = 1;
                p = nanmax(p, prec[j]);
            }
        if (!found)
            p = 0.0;
        s = s + p / 11;
    }
    return s;
}

int accumulate_voc_range(const voc_args *a, int64_t k_lo, int64_t k_hi)
{
    const int64_t n_area = a->n_area, n_thr = a->n_thr, n_cat = a->n_cat;
    const int64_t longest = longest_category(a->cat_start, a->cat_end, k_lo, k_hi);
    double *rec = calloc((size_t)(longest + 2), sizeof(double));
    double *prec = calloc((size_t)(longest + 2), sizeof(double));
    int ok = rec && prec;
    for (int64_t k = k_lo; ok && k < k_hi; k++) {
        const int64_t nd = a->cat_end[k] - a->cat_start[k];
        for (int64_t ar = 0; ar < n_area; ar++) {
            const int64_t n_gt = a->npos[k * n_area + ar];
            if (n_gt == 0)
                continue;
            for (int64_t t = 0; t < n_thr; t++) {
                const int8_t *st_row = a->status + (ar * n_thr + t) * a->n_det + a->cat_start[k];
                double tp = 0.0, fp = 0.0;
                for (int64_t j = 0; j < nd; j++) {
                    if (st_row[j] == ST_TP)
                        tp += 1.0;
                    else if (st_row[j] == ST_FP)
                        fp += 1.0;
                    rec[j + 1] = tp / (double)n_gt;
                    prec[j + 1] = tp / (fp + tp);
                }
                const int64_t out = (t * n_cat + k) * n_area + ar; /* [T, K, A] */
                a->recall[out] = nd ? rec[nd] : 0.0;
                a->ap[out] = voc_ap(rec, prec, nd, a);
            }
        }
    }
    free(rec);
    free(prec);
    return ok ? 0 : -1;
}
