/* match_groups: detections matched to ground truth in each (image, category) group.
 *
 * A port of bench/metrics/kernels.py's match_groups/_match_group/_iou; every floating-point
 * expression is the numba one (itself pycocotools' / the VOC devkit's / ultralytics'), in the
 * same order, so the status codes are identical. Comments name the reference behaviour.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* Python's (and numba's) min(a, b) / max(a, b): the second argument only when it compares
 * strictly smaller / larger, so a NaN or a tie keeps the first. */
static inline double py_min(double a, double b) { return b < a ? b : a; }
static inline double py_max(double a, double b) { return b > a ? b : a; }

/* pycocotools' bbIou for detection d and ground truth g: intersection over union, or over
 * the detection's area for a crowd box. *_barea are width*height as the source gave them. */
static double box_iou(const match_args *a, int64_t d, int64_t g, int crowd)
{
    const double *db = a->dt_xyxy + 4 * d;
    const double *gb = a->gt_xyxy + 4 * g;
    double w = py_min(db[2], gb[2]) - py_max(db[0], gb[0]);
    if (w <= 0)
        return 0.0;
    double h = py_min(db[3], gb[3]) - py_max(db[1], gb[1]);
    if (h <= 0)
        return 0.0;
    double i = w * h;
    double u = crowd ? a->dt_barea[d] : a->dt_barea[d] + a->gt_barea[g] - i;
    return i / u;
}

/* Per-thread scratch, sized for the largest group of the range (allocated once per range,
 * as numba allocates once per chunk). */
typedef struct {
    double *ious;      /* [nd * ng] box IoU matrix, row-major */
    uint8_t *gig;      /* [A, ng] ground truth ignored in each area range */
    int64_t *perm;     /* [A, ng] matching order: regular GT first, then ignored, each stable */
    uint8_t *matched;  /* [A, T, ng] ground truth taken, per (area range, threshold) */
    double *floor;     /* [T] the IoU a match needs: min(thr, 1 - 1e-10) (greedy) or thr (argmax) */
} scratch_t;

/* VOC devkit: the ground truth with the largest overlap (first on ties), taken or not.
 * Returns the status, or -1 when no ground truth reaches the threshold. */
static int match_argmax(const double *iou_row, int64_t ng, const uint8_t *gig, uint8_t *matched, double thr)
{
    int64_t m = -1;
    double best = -INFINITY;
    for (int64_t g = 0; g < ng; g++) {
        double v = iou_row[g];
        if (v > 0.0 && v > best) {
            best = v;
            m = g;
        }
    }
    if (m < 0 || !(best >= thr))
        return -1;
    if (gig[m])
        return ST_IGNORED;
    if (!matched[m]) {
        matched[m] = 1;
        return ST_TP;
    }
    return ST_FP; /* a duplicate detection of a found object */
}

/* pycocotools' evaluateImg: the best still-free ground truth, regular before ignored;
 * first_on_ties (ultralytics) keeps the first ground truth of equal IoU. Returns the status,
 * or -1 when nothing matches. */
static int match_greedy(const double *iou_row, int64_t ng, const int64_t *perm, const uint8_t *gig,
                        uint8_t *matched, const uint8_t *crowd, double thr, int first_on_ties)
{
    int64_t m = -1;
    double best = py_min(thr, 1 - 1e-10);
    for (int64_t j = 0; j < ng; j++) {
        int64_t g = perm[j];
        if (matched[g] && !crowd[g])
            continue;
        if (m > -1 && !gig[m] && gig[g])
            break;
        double v = iou_row[g];
        if (v < best || (first_on_ties && m > -1 && v == best))
            continue;
        best = v;
        m = g;
    }
    if (m < 0)
        return -1;
    matched[m] = 1;
    return gig[m] ? ST_IGNORED : ST_TP;
}

/* The code of detection d (a row of the detection arrays) when it matches nothing in area
 * range ar: ignored outside the range or when its category is not exhaustive (dt_uig). */
static int8_t unmatched_code(const match_args *a, int64_t d, int64_t ar)
{
    const double da = a->dt_area[d];
    return (a->dt_uig[d] || da < a->area_lo[ar] || da > a->area_hi[ar]) ? ST_IGNORED : ST_FP;
}

/* One group: its detections' status rows written in place.
 *
 * numba loops (area range, threshold, detection); the (area range, threshold) cells are
 * independent and each keeps its detections in score order here too, so looping (detection,
 * area range, threshold) gives the same codes while writing each detection's A*T codes, which
 * are adjacent in the output, at once. */
static void match_group(const match_args *a, int64_t grp, scratch_t *s)
{
    const int64_t n_area = a->n_area, n_thr = a->n_thr, n_at = n_area * n_thr;
    const int64_t gs = a->gt_start[grp], ds = a->dt_start[grp];
    const int64_t ng = a->gt_end[grp] - gs, nd = a->dt_end[grp] - ds;
    if (ng == 0) { /* nothing to match: every code is the unmatched one */
        for (int64_t d = ds; d < ds + nd; d++)
            for (int64_t ar = 0; ar < n_area; ar++)
                memset(a->status + a->out_pos[d] * n_at + ar * n_thr, unmatched_code(a, d, ar), (size_t)n_thr);
        return;
    }
    if (nd == 0)
        return;
    const double *ious;
    if (a->pre_iou != NULL) {
        ious = a->pre_iou + a->pre_off[grp];
    } else {
        for (int64_t d = 0; d < nd; d++)
            for (int64_t g = 0; g < ng; g++)
                s->ious[d * ng + g] = box_iou(a, ds + d, gs + g, a->gt_crowd[gs + g]);
        ious = s->ious;
    }
    const uint8_t *crowd = a->gt_crowd + gs;
    for (int64_t ar = 0; ar < n_area; ar++) {
        const double lo = a->area_lo[ar], hi = a->area_hi[ar];
        uint8_t *restrict gig = s->gig + ar * ng;
        int64_t *restrict perm = s->perm + ar * ng;
        for (int64_t g = 0; g < ng; g++) {
            double area = a->gt_area[gs + g];
            gig[g] = a->gt_ig[gs + g] || area < lo || area > hi;
        }
        int64_t n = 0; /* GT order for greedy matching: not ignored first, stable */
        for (int64_t g = 0; g < ng; g++)
            if (!gig[g])
                perm[n++] = g;
        for (int64_t g = 0; g < ng; g++)
            if (gig[g])
                perm[n++] = g;
    }
    memset(s->matched, 0, (size_t)(n_at * ng));
    const int mode = a->mode;
    for (int64_t d = 0; d < nd; d++) {
        const double *row = ious + d * ng;
        /* the largest IoU of the row, NaN counted as +inf: a threshold above it matches no
         * ground truth in any mode (every IoU compares below it), so the search is skipped */
        double top = -INFINITY;
        for (int64_t g = 0; g < ng; g++)
            top = isnan(row[g]) ? INFINITY : (row[g] > top ? row[g] : top);
        int8_t *out = a->status + a->out_pos[ds + d] * n_at;
        for (int64_t ar = 0; ar < n_area; ar++) {
            const int8_t unmatched = unmatched_code(a, ds + d, ar);
            const uint8_t *gig = s->gig + ar * ng;
            for (int64_t t = 0; t < n_thr; t++) {
                uint8_t *m = s->matched + (ar * n_thr + t) * ng;
                int st = top < s->floor[t] ? -1
                    : mode == 1 ? match_argmax(row, ng, gig, m, a->thrs[t])
                    : match_greedy(row, ng, s->perm + ar * ng, gig, m, crowd, a->thrs[t], mode == 2);
                out[ar * n_thr + t] = (int8_t)(st < 0 ? unmatched : st);
            }
        }
    }
}

int match_range(const match_args *a, int64_t grp_lo, int64_t grp_hi)
{
    int64_t max_ng = 0, max_pairs = 0;
    for (int64_t grp = grp_lo; grp < grp_hi; grp++) {
        int64_t ng = a->gt_end[grp] - a->gt_start[grp], nd = a->dt_end[grp] - a->dt_start[grp];
        if (ng > max_ng)
            max_ng = ng;
        if (ng * nd > max_pairs)
            max_pairs = ng * nd;
    }
    scratch_t s;
    /* at least one element each: malloc(0) may return NULL */
    s.ious = a->pre_iou == NULL ? malloc((size_t)(max_pairs + 1) * sizeof(double)) : NULL;
    s.gig = malloc((size_t)(a->n_area * max_ng + 1));
    s.perm = malloc((size_t)(a->n_area * max_ng + 1) * sizeof(int64_t));
    s.matched = malloc((size_t)(a->n_area * a->n_thr * max_ng + 1));
    s.floor = malloc((size_t)(a->n_thr + 1) * sizeof(double));
    int ok = s.gig && s.perm && s.matched && s.floor && (a->pre_iou != NULL || s.ious);
    for (int64_t t = 0; ok && t < a->n_thr; t++)
        s.floor[t] = a->mode == 1 ? a->thrs[t] : py_min(a->thrs[t], 1 - 1e-10);
    if (ok)
        for (int64_t grp = grp_lo; grp < grp_hi; grp++)
            match_group(a, grp, &s);
    free(s.ious);
    free(s.gig);
    free(s.perm);
    free(s.matched);
    free(s.floor);
    return ok ? 0 : -1;
}
