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

/* One (category, area range, max_dets) cell of accumulate_coco, all thresholds at once.
 * rc, pr: [T, n] scratch; tp, fp: [T]; nd: [T]. */
static void coco_cell(const coco_args *a, int64_t k, int64_t ar, int64_t mi, double *rc, double *pr,
                      double *tp, double *fp, int64_t *nd)
{
    const int64_t n_area = a->n_area, n_thr = a->n_thr, n_r = a->n_r;
    const int64_t n = a->cat_end[k] - a->cat_start[k];
    const int64_t n_gt = a->npos[k * n_area + ar];
    const int64_t max_det = a->max_dets[mi];
    for (int64_t t = 0; t < n_thr; t++) {
        tp[t] = 0.0;
        fp[t] = 0.0;
        nd[t] = 0;
    }
    for (int64_t j = a->cat_start[k]; j < a->cat_end[k]; j++) { /* one pass, every threshold */
        if (a->rank[j] >= max_det)
            continue;
        const int8_t *st_row = a->status + (j * n_area + ar) * n_thr;
        for (int64_t t = 0; t < n_thr; t++) {
            int st = st_row[t];
            /* an ignored detection repeats the previous (recall, precision) point, which
             * changes neither the envelope nor the first point reaching a recall threshold */
            if (st == ST_IGNORED)
                continue;
            if (st == ST_TP)
                tp[t] += 1.0;
            else
                fp[t] += 1.0;
            int64_t i = nd[t];
            rc[t * n + i] = tp[t] / (double)n_gt;
            pr[t * n + i] = tp[t] / (fp[t] + tp[t] + EPS);
            nd[t] = i + 1;
        }
    }
    const int64_t cell = (k * n_area + ar) * a->n_m + mi; /* [K, A, M] index */
    for (int64_t t = 0; t < n_thr; t++) {
        const int64_t m = nd[t];
        double *r_c = rc + t * n, *p_r = pr + t * n;
        a->rec[cell * n_thr + t] = m ? r_c[m - 1] : 0.0;
        for (int64_t i = m - 1; i > 0; i--) /* the precision envelope */
            if (p_r[i] > p_r[i - 1])
                p_r[i - 1] = p_r[i];
        double *out = a->prec + (cell * n_thr + t) * n_r;
        int64_t i = 0;
        double total = 0.0;
        for (int64_t r = 0; r < n_r; r++) { /* np.searchsorted(rc, rec_thrs, side="left") */
            while (i < m && r_c[i] < a->rec_thrs[r])
                i++;
            double v = i < m ? p_r[i] : 0.0;
            out[r] = v;
            total += v;
        }
        a->mean[cell * n_thr + t] = total / (double)n_r;
    }
}

int accumulate_coco_range(const coco_args *a, int64_t k_lo, int64_t k_hi)
{
    const int64_t n_thr = a->n_thr;
    const int64_t longest = longest_category(a->cat_start, a->cat_end, k_lo, k_hi);
    double *rc = malloc((size_t)(n_thr * longest + 1) * sizeof(double));
    double *pr = malloc((size_t)(n_thr * longest + 1) * sizeof(double));
    double *tp = malloc((size_t)(n_thr + 1) * sizeof(double));
    double *fp = malloc((size_t)(n_thr + 1) * sizeof(double));
    int64_t *nd = malloc((size_t)(n_thr + 1) * sizeof(int64_t));
    int ok = rc && pr && tp && fp && nd;
    for (int64_t k = k_lo; ok && k < k_hi; k++)
        for (int64_t ar = 0; ar < a->n_area; ar++) {
            if (a->npos[k * a->n_area + ar] == 0)
                continue; /* nothing to find: -1 / NaN stay */
            for (int64_t mi = 0; mi < a->n_m; mi++)
                coco_cell(a, k, ar, mi, rc, pr, tp, fp, nd);
        }
    free(rc);
    free(pr);
    free(tp);
    free(fp);
    free(nd);
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
