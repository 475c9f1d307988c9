/* bench.native._rle: run-length-encoded masks in C, bit-equal to pycocotools' maskApi.c.
 *
 * The same kernels as bench/masks/kernels.py and bench/masks/poly.py (numba, the fallback and
 * the reference of the differential tests). A set of N RLEs is packed as counts uint32
 * [sum m_i] and offs int64 [N+1]; heights, widths int64 [N]. Integer arithmetic follows the
 * numba port (int64 with explicit 32-bit wrap-around where maskApi.c wraps), so both paths
 * give the same bits on every input, hostile ones included.
 *
 * Arrays cross as buffers (no numpy headers); bench/native/rle.py allocates the outputs, checks
 * dtypes and index ranges, and runs the range functions ([lo, hi)) in Python threads: each
 * releases the GIL. This module checks buffer byte lengths against the sizes it is told.
 *
 * Files: rle.c (buffers, IoU, the module), rle_decode.c (counts strings, per-RLE reductions),
 * rle_poly.c (polygons, merging); rle.h what they share.
 */
#include "rle.h"

/* ------------------------------------------------------------------ buffers */

void release(bufs_t *bs)
{
    for (int i = 0; i < bs->n; i++)
        PyBuffer_Release(&bs->b[i]);
    bs->n = 0;
}

void *get(bufs_t *bs, PyObject *obj, int writable, Py_ssize_t min_bytes, const char *what)
{
    Py_buffer *b = &bs->b[bs->n];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: a C-contiguous%s buffer is required", what, writable ? " writable" : "");
        return NULL;
    }
    bs->n++;
    if (b->len < min_bytes) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, at least %zd needed", what, b->len, min_bytes);
        return NULL;
    }
    return b->buf;
}

int vec_reserve(vec_t *v, int64_t extra)
{
    if (v->n + extra <= v->cap)
        return 0;
    int64_t cap = v->cap ? v->cap : 1024;
    while (cap < v->n + extra)
        cap *= 2;
    uint32_t *p = realloc(v->v, (size_t)cap * sizeof(uint32_t));
    if (p == NULL)
        return -1;
    v->v = p;
    v->cap = cap;
    return 0;
}

/* ------------------------------------------------------------------ IoU */

/* bbIou of one pair of [x, y, w, h] boxes, as bench/masks/kernels.py bb_iou_pair. */
static inline double bb_iou_pair(const double *d, const double *g, int crowd)
{
    double a = d[2] + d[0], b = g[2] + g[0];
    double w = (a < b ? a : b) - (d[0] > g[0] ? d[0] : g[0]);
    if (w <= 0)
        return 0.0;
    a = d[3] + d[1];
    b = g[3] + g[1];
    double h = (a < b ? a : b) - (d[1] > g[1] ? d[1] : g[1]);
    if (h <= 0)
        return 0.0;
    double i = w * h, u = crowd ? d[2] * d[3] : d[2] * d[3] + g[2] * g[3] - i;
    return i / u;
}

/* The run walk of rleIou: intersection and union pixels of two RLEs (m >= 1 runs each);
 * stops where one ends before the other (pycocotools would loop forever there). */
static void inter_union(const uint32_t *dc, int64_t dm, const uint32_t *gc, int64_t gm, int64_t *inter, int64_t *uni)
{
    int64_t ca = dc[0], cb = gc[0], a = 1, b = 1, in = 0, un = 0, ct = 1;
    int va = 0, vb = 0;
    while (ct > 0) {
        int64_t c = ca < cb ? ca : cb;
        if (va || vb) {
            un += c;
            if (va && vb)
                in += c;
        }
        ca -= c;
        cb -= c;
        advance(&ca, dc, &a, dm, &va);
        advance(&cb, gc, &b, gm, &vb);
        ct = ca + cb;
        if (c == 0 && ct > 0 && ((ca == 0 && a >= dm) || (cb == 0 && b >= gm)))
            break;
    }
    *inter = in;
    *uni = un;
}

/* One side of the pairs (ground truth or detections): packed masks (c, off) or, detections only,
 * compressed counts strings str[st[i]:en[i]] (esc: JSON "\\" pairs in them) decoded when a pair
 * needs them; their boxes and sizes, the rows taking part, the groups' [s, e) ranges of those rows,
 * and the ground truth's crowd flags (per row) or the detections' areas (per mask). */
typedef struct {
    const uint32_t *c;
    const int64_t *off, *h, *w, *rows, *s, *e, *area;
    const double *bb;
    const uint8_t *crowd;
    const uint8_t *str;
    const int64_t *st, *en;
    int esc;
} side_t;

typedef struct {
    side_t g, d;
    const int64_t *off;
    double *out;
} groups_t;

/* One detection's runs: NULL until a pair needs them. */
typedef struct {
    const uint32_t *c;
    int64_t m;
} runs_t;

/* The runs of detection d into *r (decoded into sc from its string); 0, -1 without memory, -2 malformed. */
static int detection_runs(const side_t *D, int64_t d, vec_t *sc, runs_t *r)
{
    if (D->str == NULL) {
        r->c = D->c + D->off[d];
        r->m = D->off[d + 1] - D->off[d];
        return 0;
    }
    if (vec_reserve(sc, D->en[d] - D->st[d] + 1) < 0)
        return -1;
    r->m = decode_one(D->str, D->st[d], D->en[d], D->esc, sc->v, NULL);
    r->c = sc->v;
    return r->m < 0 ? -2 : 0;
}

/* rleIou of detection d (box db, runs dr) and ground truth g; *rc set (see detection_runs) when d's runs fail. */
static double rle_iou_pair(const groups_t *a, int64_t d, const double *db, int64_t g, int crowd, runs_t *dr,
                           vec_t *sc, int *rc)
{
    const side_t *D = &a->d, *G = &a->g;
    double o = bb_iou_pair(db, G->bb + 4 * g, crowd);
    if (!(o > 0))
        return o;
    if (D->h[d] != G->h[g] || D->w[d] != G->w[g])
        return -1.0;
    if (dr->c == NULL && (*rc = detection_runs(D, d, sc, dr)) != 0)
        return 0.0;
    int64_t dm = dr->m, gm = G->off[g + 1] - G->off[g], inter, uni;
    if (dm == 0 || gm == 0)  /* an RLE without runs: the numba walk would read past it; no pixels */
        return 0.0;
    inter_union(dr->c, dm, G->c + G->off[g], gm, &inter, &uni);
    if (inter == 0)
        uni = 1;
    else if (crowd)
        uni = D->area[d];
    return (double)inter / (double)uni;
}

/* The IoU matrices of groups [lo, hi). Packed detections are read in place; a detection given as
 * a string without a box (D->bb NULL) is decoded once, into this call's scratch buffer, where its
 * group has ground truth, and its rleToBbox taken from those runs; with a box, decoded only where
 * some pair needs its pixels. */
static int groups_range(const groups_t *a, int64_t lo, int64_t hi)
{
    const side_t *D = &a->d, *G = &a->g;
    vec_t sc = {NULL, 0, 0};
    int rc = 0;
    for (int64_t i = lo; i < hi && rc == 0; i++) {
        int64_t ng = G->e[i] - G->s[i], nd = D->e[i] - D->s[i];
        for (int64_t j = 0; j < nd && ng > 0 && rc == 0; j++) {
            int64_t d = D->rows[D->s[i] + j];
            runs_t dr = {NULL, 0};
            double box[4];
            const double *db = D->bb == NULL ? box : D->bb + 4 * d;
            if (D->bb == NULL) {
                uint32_t area;
                int64_t total;
                if ((rc = detection_runs(D, d, &sc, &dr)) != 0)
                    break;
                stats_one(dr.c, dr.m, D->h[d], D->w[d], &area, &total, box);
            }
            for (int64_t g = 0; g < ng && rc == 0; g++)
                a->out[a->off[i] + j * ng + g] = rle_iou_pair(a, d, db, G->rows[G->s[i] + g], G->crowd[G->s[i] + g] != 0,
                                                              &dr, &sc, &rc);
        }
    }
    free(sc.v);
    return rc;
}

/* The buffers of one side from its tuple (c, off, bb, h, w, crowd or area, rows, s, e), or for
 * detections as strings (str, starts, bb, h, w, area, rows, s, e) with ends (strings not NULL); 0 or -1. */
static int get_side(bufs_t *bs, PyObject *t, int is_gt, long long n_rle, long long n_rows, long long n, side_t *x,
                    PyObject *ends)
{
    static const char *names[2][9] = {{"dc", "doff", "dbb", "dh", "dw", "darea", "d_rows", "ds", "de"},
                                      {"gc", "goff", "gbb", "gh", "gw", "crowd", "g_rows", "gs", "ge"}};
    const char **nm = names[is_gt];
    if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) != 9) {
        PyErr_SetString(PyExc_TypeError, "expected a tuple of 9 arrays");
        return -1;
    }
#define T(i) PyTuple_GET_ITEM(t, i)
    x->str = NULL;
    x->c = NULL;
    if (ends != NULL) {
        if ((x->str = get(bs, T(0), 0, 0, "buf")) == NULL || (x->st = get(bs, T(1), 0, n_rle * 8, "starts")) == NULL ||
            (x->en = get(bs, ends, 0, n_rle * 8, "ends")) == NULL)
            return -1;
    } else if ((x->off = get(bs, T(1), 0, (n_rle + 1) * 8, nm[1])) == NULL ||
               (x->c = get(bs, T(0), 0, x->off[n_rle] * 4, nm[0])) == NULL) {
        return -1;
    }
    x->bb = NULL;  /* strings without boxes: each detection's taken from its runs in the kernel */
    if ((ends == NULL || T(2) != Py_None) && (x->bb = get(bs, T(2), 0, 4 * n_rle * 8, nm[2])) == NULL)
        return -1;
    if ((x->h = get(bs, T(3), 0, n_rle * 8, nm[3])) == NULL ||
        (x->w = get(bs, T(4), 0, n_rle * 8, nm[4])) == NULL || (x->rows = get(bs, T(6), 0, n_rows * 8, nm[6])) == NULL ||
        (x->s = get(bs, T(7), 0, n * 8, nm[7])) == NULL || (x->e = get(bs, T(8), 0, n * 8, nm[8])) == NULL)
        return -1;
    if (is_gt)
        x->crowd = get(bs, T(5), 0, n_rows, nm[5]);
    else
        x->area = get(bs, T(5), 0, n_rle * 8, nm[5]);
#undef T
    return (is_gt ? (const void *)x->crowd : (const void *)x->area) == NULL ? -1 : 0;
}

/* group_ious((gc, goff, gbb, gh, gw, crowd, g_rows, gs, ge), dt, off, out, n_gt_rle, n_gt_rows, n_dt_rle,
 *            n_dt_rows, n_groups, lo, hi, d_ends=None, json_escapes=False)
 * dt: (dc, doff, dbb, dh, dw, darea, d_rows, ds, de), or with d_ends the detections' strings
 * (buf, starts, dbb or None, dh, dw, darea, d_rows, ds, de). Row indices, group bounds and string spans are
 * checked by the caller (bench/native/rle.py); a malformed string raises ValueError. */
static PyObject *py_group_ious(PyObject *self, PyObject *args)
{
    PyObject *gt, *dt, *ooff, *oout, *ends = Py_None;
    long long ngr, ngrows, ndr, ndrows, n, lo, hi;
    int esc = 0;
    bufs_t bs = {.n = 0};
    groups_t a;
    if (!PyArg_ParseTuple(args, "OOOOLLLLLLL|Op", &gt, &dt, &ooff, &oout, &ngr, &ngrows, &ndr, &ndrows, &n, &lo, &hi,
                          &ends, &esc))
        return NULL;
    if (get_side(&bs, gt, 1, ngr, ngrows, n, &a.g, NULL) < 0 ||
        get_side(&bs, dt, 0, ndr, ndrows, n, &a.d, ends == Py_None ? NULL : ends) < 0)
        goto fail;
    a.d.esc = esc;
    {
        GET(off, int64_t, ooff, 0, n + 1, "off");
        a.off = off;
        GET(out, double, oout, 1, off[n], "out");
        a.out = out;
    }
    RUN_RANGE_RC(n, groups_range(&a, lo, hi));
}

static PyMethodDef methods[] = {
    {"count_runs", py_count_runs, METH_VARARGS, "Runs in each compressed counts string (GIL released)."},
    {"decode_strings", py_decode_strings, METH_VARARGS, "rleFrString of each string (GIL released)."},
    {"take", py_take, METH_VARARGS, "The runs of some RLEs, in a given order (GIL released)."},
    {"stats", py_stats, METH_VARARGS, "rleArea, pixel totals and rleToBbox (GIL released)."},
    {"string_stats", py_string_stats, METH_VARARGS, "stats of compressed strings, runs not kept (GIL released)."},
    {"group_ious", py_group_ious, METH_VARARGS, "rleIou of every (image, category) group (GIL released)."},
    {"fr_polys", py_fr_polys, METH_VARARGS, "rleFrPoly of every polygon."},
    {"merge_groups", py_merge_groups, METH_VARARGS, "rleMerge (union) of every group."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_rle", "Run-length-encoded masks (pycocotools' maskApi.c).",
                                    -1, methods};

PyMODINIT_FUNC PyInit__rle(void) { return PyModule_Create(&module); }
