/* The matching and COCO/VOC accumulation kernels of detbench's metric core, in C99.
 *
 * Ports of bench/metrics/kernels.py (numba), operation for operation, so the results are
 * bit-identical (built with -ffp-contract=off, never fast-math). Arrays are plain C-contiguous
 * buffers whose dtypes, lengths and index ranges the Python wrapper (bench/native/kernels.py)
 * has checked; these functions trust them. Each function handles a range of the work (groups
 * or categories) so that several threads can share one call's outputs without overlap.
 */
#ifndef DETBENCH_KERNELS_H
#define DETBENCH_KERNELS_H

#include <stdint.h>

/* Status codes of a detection at one (area range, IoU threshold). */
enum { ST_FP = 0, ST_TP = 1, ST_IGNORED = 2 };

/* Inputs and output of match_groups; see kernels.py for the meaning of each array.
 * Booleans are numpy bool bytes (0 or 1). Shapes: G groups, N ground truth, D detections,
 * A area ranges, T thresholds. */
typedef struct {
    const double *gt_xyxy;      /* [N, 4] */
    const double *gt_barea;     /* [N] */
    const double *gt_area;      /* [N] */
    const uint8_t *gt_crowd;    /* [N] */
    const uint8_t *gt_ig;       /* [N] */
    const int64_t *gt_start;    /* [G] */
    const int64_t *gt_end;      /* [G] */
    const double *dt_xyxy;      /* [D, 4] */
    const double *dt_barea;     /* [D] */
    const double *dt_area;      /* [D] */
    const uint8_t *dt_uig;      /* [D] */
    const int64_t *dt_start;    /* [G] */
    const int64_t *dt_end;      /* [G] */
    const double *area_lo;      /* [A] */
    const double *area_hi;      /* [A] */
    const double *thrs;         /* [T] */
    int64_t n_area, n_thr;
    int mode;                   /* 0 greedy (pycocotools), 1 argmax (VOC), 2 greedy first-on-ties */
    const double *pre_iou;      /* concatenated [nd, ng] IoU matrices, or NULL: box IoU */
    const int64_t *pre_off;     /* [G + 1] offsets into pre_iou (only when pre_iou is set) */
    const int64_t *out_pos;     /* [D] output row of each detection */
    int8_t *status;             /* [D, A, T] output, zero-filled by the caller */
} match_args;

/* Match groups [grp_lo, grp_hi). Returns 0, or -1 when scratch memory cannot be allocated. */
int match_range(const match_args *a, int64_t grp_lo, int64_t grp_hi);

/* Inputs and outputs of accumulate_coco (K categories, M max_dets, R recall thresholds). */
typedef struct {
    const int8_t *status;       /* [D, A, T] in accumulation order */
    const int64_t *rank;        /* [D] */
    const int64_t *cat_start;   /* [K] */
    const int64_t *cat_end;     /* [K] */
    const int64_t *npos;        /* [K, A] */
    const int64_t *max_dets;    /* [M] */
    const double *rec_thrs;     /* [R] */
    int64_t n_area, n_thr, n_m, n_r;
    double *prec;               /* [K, A, M, T, R] output, filled with -1 by the caller */
    double *rec;                /* [K, A, M, T] output, filled with -1 by the caller */
    double *mean;               /* [K, A, M, T] output, filled with NaN by the caller */
} coco_args;

/* Accumulate categories [k_lo, k_hi). Returns 0, or -1 when scratch cannot be allocated. */
int accumulate_coco_range(const coco_args *a, int64_t k_lo, int64_t k_hi);

/* Inputs and outputs of accumulate_voc. */
typedef struct {
    const int8_t *status;       /* [A, T, D] */
    const int64_t *cat_start;   /* [K] */
    const int64_t *cat_end;     /* [K] */
    const int64_t *npos;        /* [K, A] */
    const double *points11;     /* [P] recall points of the 11-point rule */
    int64_t n_area, n_thr, n_det, n_cat, n_points;
    int all_point;              /* 1: VOC2010+ area under the envelope; 0: VOC2007 11-point */
    double *ap;                 /* [T, K, A] output, filled with NaN by the caller */
    double *recall;             /* [T, K, A] output, filled with NaN by the caller */
} voc_args;

/* Accumulate categories [k_lo, k_hi). Returns 0, or -1 when scratch cannot be allocated. */
int accumulate_voc_range(const voc_args *a, int64_t k_lo, int64_t k_hi);

#endif
