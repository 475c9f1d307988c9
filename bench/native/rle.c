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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define U32 0xFFFFFFFFLL

/* ------------------------------------------------------------------ buffers */

typedef struct {
    Py_buffer b[24];
    int n;
} bufs_t;

static void release(bufs_t *bs)
{
    for (int i = 0; i < bs->n; i++)
        PyBuffer_Release(&bs->b[i]);
    bs->n = 0;
}

/* A C-contiguous buffer of obj with at least min_bytes bytes; NULL with an exception set. */
static void *get(bufs_t *bs, PyObject *obj, int writable, Py_ssize_t min_bytes, const char *what)
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

/* The end of a range entry point: check [lo, hi) against n, run the call with the GIL released,
 * release the buffers; the `fail` label releases them after an error. */
#define RUN_RANGE(n, call)                                                  \
    if (lo < 0 || hi > (n) || lo > hi) {                                    \
        PyErr_SetString(PyExc_ValueError, "range out of bounds");           \
        goto fail;                                                          \
    }                                                                       \
    Py_BEGIN_ALLOW_THREADS call; Py_END_ALLOW_THREADS release(&bs);         \
    Py_RETURN_NONE;                                                         \
fail:                                                                       \
    release(&bs);                                                           \
    return NULL

/* As RUN_RANGE for a call returning a status: -1 out of memory, -2 a malformed counts string. */
#define RUN_RANGE_RC(n, call)                                                                 \
    int rc_ = 0;                                                                              \
    if (lo < 0 || hi > (n) || lo > hi) {                                                      \
        PyErr_SetString(PyExc_ValueError, "range out of bounds");                             \
        goto fail;                                                                            \
    }                                                                                         \
    Py_BEGIN_ALLOW_THREADS rc_ = call; Py_END_ALLOW_THREADS release(&bs);                     \
    if (rc_ == -1)                                                                            \
        return PyErr_NoMemory();                                                              \
    if (rc_ == -2) {                                                                          \
        PyErr_SetString(PyExc_ValueError, "malformed compressed counts string");              \
        return NULL;                                                                          \
    }                                                                                         \
    Py_RETURN_NONE;                                                                           \
fail:                                                                                         \
    release(&bs);                                                                             \
    return NULL

#define GET(var, type, obj, wr, count, name)                                         \
    type *var = (type *)get(&bs, obj, wr, (Py_ssize_t)(count) * (Py_ssize_t)sizeof(type), name); \
    if (var == NULL) goto fail

/* ------------------------------------------------------------------ strings */

/* Runs in each string [starts[i], ends[i]): the bytes without the continuation bit (0x20 after
 * subtracting 48). A JSON "\\" pair is two bytes 92, which have it: the count needs no unescaping. */
static void count_runs(const uint8_t *s, const int64_t *starts, const int64_t *ends, int json_escapes, int64_t *out,
                       int64_t lo, int64_t hi)
{
    (void)json_escapes;
    for (int64_t i = lo; i < hi; i++) {
        int64_t m = 0;
        for (int64_t p = starts[i]; p < ends[i]; p++)
            m += !(((int)s[p] - 48) & 0x20);
        out[i] = m;
    }
}

/* rleFrString of one string s[p:e] into cnts (from its first run; NULL: not kept): the number of
 * runs, or -1 when malformed (a byte outside 48..111, a number cut off by the end, or one longer
 * than 7 characters). With json_escapes the pair "\\" is one backslash. cnts needs room for
 * e - p runs. sums (not NULL): the runs at even and at odd positions added to sums[0], sums[1]. */
static int64_t decode_one(const uint8_t *s, int64_t p, int64_t e, int json_escapes, uint32_t *cnts, int64_t *sums)
{
    int64_t m = 0, x = 0, prev1 = 0, prev2 = 0;  /* runs m - 1 and m - 2 */
    int k = 0;
    while (p < e) {
        int64_t c = (int64_t)s[p++] - 48;
        if (json_escapes && c == 44)
            p++;
        if ((uint64_t)c > 63 || k >= 7)
            return -1;
        x |= (c & 0x1F) << (5 * k);
        k++;
        if (c & 0x20)
            continue;
        if (c & 0x10)
            x |= (int64_t)(UINT64_MAX << (5 * k));
        if (m > 2)
            x += prev2;
        uint32_t v = (uint32_t)(x & U32);
        if (cnts != NULL)
            cnts[m] = v;
        if (sums != NULL)
            sums[m & 1] += v;
        prev2 = prev1;
        prev1 = v;
        m++;
        x = 0;
        k = 0;
    }
    return k != 0 ? -1 : m;  /* k: a number cut off by the end */
}

static void decode_strings(const uint8_t *s, const int64_t *starts, const int64_t *ends, int json_escapes,
                           const int64_t *offs, uint32_t *cnts, uint8_t *bad, int64_t lo, int64_t hi)
{
    for (int64_t r = lo; r < hi; r++)
        bad[r] = decode_one(s, starts[r], ends[r], json_escapes, cnts + offs[r], NULL) < 0;
}

/* count_runs(buf, starts, ends, json_escapes, out, lo, hi) */
static PyObject *py_count_runs(PyObject *self, PyObject *args)
{
    PyObject *o[4];
    long long n, lo, hi;
    int esc;
    bufs_t bs = {.n = 0};
    if (!PyArg_ParseTuple(args, "OOOpOLLL", &o[0], &o[1], &o[2], &esc, &o[3], &n, &lo, &hi))
        return NULL;
    GET(s, uint8_t, o[0], 0, 0, "buf");
    GET(st, int64_t, o[1], 0, n, "starts");
    GET(en, int64_t, o[2], 0, n, "ends");
    GET(out, int64_t, o[3], 1, n, "out");
    RUN_RANGE(n, count_runs(s, st, en, esc, out, lo, hi));
}

/* decode_strings(buf, starts, ends, json_escapes, offs, cnts, bad, n, lo, hi) */
static PyObject *py_decode_strings(PyObject *self, PyObject *args)
{
    PyObject *o[6];
    long long n, lo, hi;
    int esc;
    bufs_t bs = {.n = 0};
    if (!PyArg_ParseTuple(args, "OOOpOOOLLL", &o[0], &o[1], &o[2], &esc, &o[3], &o[4], &o[5], &n, &lo, &hi))
        return NULL;
    GET(s, uint8_t, o[0], 0, 0, "buf");
    GET(st, int64_t, o[1], 0, n, "starts");
    GET(en, int64_t, o[2], 0, n, "ends");
    GET(offs, int64_t, o[3], 0, n + 1, "offs");
    GET(cnts, uint32_t, o[4], 1, offs[n], "cnts");
    GET(bad, uint8_t, o[5], 1, n, "bad");
    RUN_RANGE(n, decode_strings(s, st, en, esc, offs, cnts, bad, lo, hi));
}

/* ------------------------------------------------------------------ per-RLE reductions */

/* floor(a / h) and a % h for 0 <= a < 2^32 and 0 < h < 2^32, with inv = 1.0 / h: a multiply and
 * one correction step in place of a division (the estimate is off by at most one). */
static inline void divmod_h(int64_t a, int64_t h, double inv, int64_t *q, int64_t *r)
{
    int64_t qq = (int64_t)((double)a * inv), rr = a - qq * h;
    if (rr < 0) {
        qq--;
        rr += h;
    } else if (rr >= h) {
        qq++;
        rr -= h;
    }
    *q = qq;
    *r = rr;
}

/* A growable uint32 array (also the per-call scratch buffer of decoded runs, n kept 0). */
typedef struct {
    uint32_t *v;
    int64_t n, cap;
} vec_t;

static int vec_reserve(vec_t *v, int64_t extra)
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

/* rleArea (*area), the pixel total of all runs (*total) and, b not NULL, rleToBbox (b[4]) of one
 * RLE of m runs at height h, width w. */
static void stats_one(const uint32_t *cn, int64_t runs, int64_t h, int64_t w, uint32_t *area, int64_t *total, double *b)
{
    int64_t a = 0, t = 0;
    for (int64_t j = 0; j < runs; j++) {
        t += cn[j];
        if (j & 1)
            a += cn[j];
    }
    *area = (uint32_t)(a & U32);
    *total = t;
    if (b == NULL)
        return;
    b[0] = b[1] = b[2] = b[3] = 0.0;
    int64_t m = (runs / 2) * 2;
    if (m == 0 || h == 0)
        return;
    int64_t xs = w, ys = h, xe = 0, ye = 0, cc = 0;
    int small = h > 0 && h <= 0xFFFFFFFFLL;  /* start and cc are below 2^32: the multiply works */
    double inv = 1.0 / (double)h;
    for (int64_t j = 0; j < m; j++) {
        int64_t start = cc, c = cn[j];
        cc = (cc + c) & U32;
        if (j % 2 == 0 || c == 0)
            continue;
        int64_t y_start, x_start, y_end, x_end, last = (cc - 1) & U32;
        if (small) {
            divmod_h(start, h, inv, &x_start, &y_start);
            divmod_h(last, h, inv, &x_end, &y_end);
        } else {  /* Python's modulo (the numba port's), for any sign of h */
            y_start = start % h;
            if (y_start != 0 && ((y_start < 0) != (h < 0)))
                y_start += h;
            x_start = (start - y_start) / h;
            y_end = last % h;
            if (y_end != 0 && ((y_end < 0) != (h < 0)))
                y_end += h;
            x_end = (last - y_end) / h;
        }
        if (x_start < xs)
            xs = x_start;
        if (x_end > xe)
            xe = x_end;
        if (x_start < x_end) {
            ys = 0;
            ye = h - 1;
        } else {
            if (y_start < ys)
                ys = y_start;
            if (y_end > ye)
                ye = y_end;
        }
    }
    b[0] = (double)xs;
    b[2] = (double)((xe - xs + 1) & U32);
    b[1] = (double)ys;
    b[3] = (double)((ye - ys + 1) & U32);
}

/* stats(cnts, offs, heights, widths, area u32 out, totals i64 out, bbox f64 [n,4] out or None, n, lo, hi):
 * stats_one of RLEs [lo, hi). */
static void stats_range(const uint32_t *cnts, const int64_t *offs, const int64_t *hs, const int64_t *ws, uint32_t *area,
                        int64_t *totals, double *bb, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        stats_one(cnts + offs[i], offs[i + 1] - offs[i], hs[i], ws[i], area + i, totals + i, bb == NULL ? NULL : bb + 4 * i);
}

/* stats_one of each string buf[starts[i]:ends[i]]: bad[i] 1 when malformed (its outputs then 0).
 * Without bb (NULL) the runs are added up while decoding; with it, decoded into a scratch buffer
 * (the runs are not kept either way). -1 without memory. */
static int string_stats_range(const uint8_t *s, const int64_t *st, const int64_t *en, int esc, const int64_t *hs,
                              const int64_t *ws, uint32_t *area, int64_t *totals, double *bb, uint8_t *bad, int64_t lo,
                              int64_t hi)
{
    vec_t sc = {NULL, 0, 0};
    int rc = 0;
    for (int64_t i = lo; i < hi; i++) {
        int64_t sums[2] = {0, 0}, m;
        if (bb == NULL) {
            m = decode_one(s, st[i], en[i], esc, NULL, sums);
        } else if (vec_reserve(&sc, en[i] - st[i] + 1) < 0) {
            rc = -1;
            break;
        } else {
            m = decode_one(s, st[i], en[i], esc, sc.v, NULL);
        }
        bad[i] = m < 0;
        if (m >= 0 && bb != NULL) {
            stats_one(sc.v, m, hs[i], ws[i], area + i, totals + i, bb + 4 * i);
            continue;
        }
        area[i] = m < 0 ? 0 : (uint32_t)(sums[1] & U32);
        totals[i] = m < 0 ? 0 : sums[0] + sums[1];
        if (bb != NULL)
            memset(bb + 4 * i, 0, 4 * sizeof(double));
    }
    free(sc.v);
    return rc;
}

/* What stats and string_stats share: heights, widths int64 [n] in; area uint32 [n], totals int64
 * [n] and bbox float64 [n, 4] (None: not wanted) out. */
typedef struct {
    const int64_t *h, *w;
    uint32_t *area;
    int64_t *tot;
    double *bb;
} stats_io_t;

/* The buffers of o[0:5] (heights, widths, area, totals, bbox or None); 0, or -1 with an exception set. */
static int get_stats_io(bufs_t *bs, PyObject **o, long long n, stats_io_t *x)
{
    if ((x->h = get(bs, o[0], 0, n * 8, "heights")) == NULL || (x->w = get(bs, o[1], 0, n * 8, "widths")) == NULL ||
        (x->area = get(bs, o[2], 1, n * 4, "area")) == NULL || (x->tot = get(bs, o[3], 1, n * 8, "totals")) == NULL)
        return -1;
    x->bb = NULL;
    if (o[4] != Py_None && (x->bb = get(bs, o[4], 1, 4 * n * 8, "bbox")) == NULL)
        return -1;
    return 0;
}

/* string_stats(buf, starts, ends, json_escapes, heights, widths, area, totals, bbox or None, bad, n, lo, hi) */
static PyObject *py_string_stats(PyObject *self, PyObject *args)
{
    PyObject *o[9];
    long long n, lo, hi;
    int esc;
    bufs_t bs = {.n = 0};
    if (!PyArg_ParseTuple(args, "OOOpOOOOOOLLL", &o[0], &o[1], &o[2], &esc, &o[3], &o[4], &o[5], &o[6], &o[7], &o[8], &n,
                          &lo, &hi))
        return NULL;
    stats_io_t io;
    GET(s, uint8_t, o[0], 0, 0, "buf");
    GET(st, int64_t, o[1], 0, n, "starts");
    GET(en, int64_t, o[2], 0, n, "ends");
    if (get_stats_io(&bs, o + 3, n, &io) < 0)
        goto fail;
    GET(bad, uint8_t, o[8], 1, n, "bad");
    RUN_RANGE_RC(n, string_stats_range(s, st, en, esc, io.h, io.w, io.area, io.tot, io.bb, bad, lo, hi));
}

static PyObject *py_stats(PyObject *self, PyObject *args)
{
    PyObject *o[7];
    long long n, lo, hi;
    bufs_t bs = {.n = 0};
    if (!PyArg_ParseTuple(args, "OOOOOOOLLL", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &n, &lo, &hi))
        return NULL;
    stats_io_t io;
    GET(offs, int64_t, o[1], 0, n + 1, "offs");
    GET(cnts, uint32_t, o[0], 0, offs[n], "cnts");
    if (get_stats_io(&bs, o + 2, n, &io) < 0)
        goto fail;
    RUN_RANGE(n, stats_range(cnts, offs, io.h, io.w, io.area, io.tot, io.bb, lo, hi));
}

static void take_range(const uint32_t *cnts, const int64_t *offs, const int64_t *rows, const int64_t *out_offs,
                       uint32_t *out, int64_t lo, int64_t hi)
{
    for (int64_t i = lo; i < hi; i++)
        memcpy(out + out_offs[i], cnts + offs[rows[i]], (size_t)(out_offs[i + 1] - out_offs[i]) * sizeof(uint32_t));
}

/* take(cnts, offs, rows, out_offs, out, n, n_rows, lo, hi): the runs of RLEs rows[lo:hi] copied to
 * out[out_offs[i]:out_offs[i+1]] (rows checked by the caller). */
static PyObject *py_take(PyObject *self, PyObject *args)
{
    PyObject *o[5];
    long long n, nr, lo, hi;
    bufs_t bs = {.n = 0};
    if (!PyArg_ParseTuple(args, "OOOOOLLLL", &o[0], &o[1], &o[2], &o[3], &o[4], &n, &nr, &lo, &hi))
        return NULL;
    GET(offs, int64_t, o[1], 0, n + 1, "offs");
    GET(cnts, uint32_t, o[0], 0, offs[n], "cnts");
    GET(rows, int64_t, o[2], 0, nr, "rows");
    GET(out_offs, int64_t, o[3], 0, nr + 1, "out_offs");
    GET(out, uint32_t, o[4], 1, out_offs[nr], "out");
    RUN_RANGE(nr, take_range(cnts, offs, rows, out_offs, out, lo, hi));
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

/* The run walk's step in maskApi.c: when the current run is used up (*left 0) and runs remain,
 * take the next one and flip the value. */
static inline void advance(int64_t *left, const uint32_t *cnts, int64_t *i, int64_t m, int *v)
{
    if (*left == 0 && *i < m) {
        *left = cnts[(*i)++];
        *v = !*v;
    }
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

/* ------------------------------------------------------------------ polygons and merging */

/* C's (int) cast of a double as x86 performs it: truncation; INT_MIN out of range or NaN. */
static inline int64_t c_int(double v)
{
    if (v >= -2147483648.0 && v < 2147483648.0)
        return (int64_t)v;
    return -2147483648LL;
}

/* Sorts v[0:n] (n >= 1, values in [0, 2^32)) ascending with tmp[n]: insertion sort when short,
 * else a least-significant-byte-first radix sort, the four bytes' counts taken in one pass; a
 * byte equal in every value costs no pass. */
static void radix_sort_u32(int64_t *v, int64_t *tmp, int64_t n)
{
    if (n <= 24) {
        for (int64_t i = 1; i < n; i++) {
            int64_t x = v[i], j = i;
            for (; j > 0 && v[j - 1] > x; j--)
                v[j] = v[j - 1];
            v[j] = x;
        }
        return;
    }
    uint32_t cnt[4][256];
    memset(cnt, 0, sizeof(cnt));
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = (uint64_t)v[i];
        cnt[0][x & 255]++;
        cnt[1][(x >> 8) & 255]++;
        cnt[2][(x >> 16) & 255]++;
        cnt[3][(x >> 24) & 255]++;
    }
    int64_t *src = v, *dst = tmp;
    for (int k = 0; k < 4; k++) {
        int shift = 8 * k;
        if (cnt[k][((uint64_t)src[0] >> shift) & 255] == (uint32_t)n)
            continue;
        uint32_t sum = 0;
        for (int b = 0; b < 256; b++) {
            uint32_t c = cnt[k][b];
            cnt[k][b] = sum;
            sum += c;
        }
        for (int64_t i = 0; i < n; i++)
            dst[cnt[k][((uint64_t)src[i] >> shift) & 255]++] = src[i];
        int64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, (size_t)n * sizeof(int64_t));
}

/* rleFrPoly of polygon xy (k vertices) at h x w, appended to out; as bench/masks/poly.py. */
static int fr_poly(const double *xy, int64_t k, int64_t h, int64_t w, vec_t *out)
{
    const double scale = 5.0;
    int rc = -1;
    int64_t *x = malloc((size_t)(k + 1) * sizeof(int64_t)), *y = malloc((size_t)(k + 1) * sizeof(int64_t));
    int64_t *u = NULL, *v = NULL, *a = NULL, m = 0, j;
    if (x == NULL || y == NULL)
        goto done;
    for (j = 0; j < k; j++) {
        x[j] = c_int(scale * xy[j * 2] + 0.5);
        y[j] = c_int(scale * xy[j * 2 + 1] + 0.5);
    }
    if (k > 0) {
        x[k] = x[0];
        y[k] = y[0];
    }
    for (j = 0; j < k; j++) {
        int64_t dx = llabs(x[j] - x[j + 1]), dy = llabs(y[j] - y[j + 1]);
        m += (dx > dy ? dx : dy) + 1;
    }
    u = malloc((size_t)(m + 1) * sizeof(int64_t));
    v = malloc((size_t)(m + 1) * sizeof(int64_t));
    if (u == NULL || v == NULL)
        goto done;
    m = 0;
    for (j = 0; j < k; j++) {
        int64_t xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1], t;
        int64_t dx = llabs(xe - xs), dy = llabs(ys - ye);
        int flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if (flip) {
            t = xs; xs = xe; xe = t;
            t = ys; ys = ye; ye = t;
        }
        if (dx >= dy) {
            double s = dx != 0 ? (double)(ye - ys) / (double)dx : NAN;
            for (int64_t d = 0; d <= dx; d++) {
                t = flip ? dx - d : d;
                u[m] = t + xs;
                v[m] = c_int((double)ys + s * (double)t + 0.5);
                m++;
            }
        } else {
            double s = (double)(xe - xs) / (double)dy;
            for (int64_t d = 0; d <= dy; d++) {
                t = flip ? dy - d : d;
                v[m] = t + ys;
                u[m] = c_int((double)xs + s * (double)t + 0.5);
                m++;
            }
        }
    }
    int64_t kk = m;
    a = malloc((size_t)(kk + 1) * 2 * sizeof(int64_t));  /* the points, then the sort's scratch */
    if (a == NULL)
        goto done;
    m = 0;
    double wm1 = w > 0 ? (double)(w - 1) : 18446744073709551615.0;
    for (j = 1; j < kk; j++) {
        if (u[j] == u[j - 1])
            continue;
        int64_t xu = u[j] < u[j - 1] ? u[j] : u[j] - 1;
        /* xd below is a whole number exactly when xu = 2 (mod 5): then (xu + 0.5) / 5 is k + 0.5,
         * exact; otherwise it is k + 0.1, 0.3, 0.7 or 0.9 within 2^-20 (|xu| < 2^33). So the
         * other four in five points skip the division. */
        if ((xu - 2) % 5 != 0)
            continue;
        double xd = ((double)xu + 0.5) / scale - 0.5;
        if (floor(xd) != xd || xd < 0 || xd > wm1)
            continue;
        double yd = (double)(v[j] < v[j - 1] ? v[j] : v[j - 1]);
        yd = (yd + 0.5) / scale - 0.5;
        if (yd < 0)
            yd = 0.0;
        else if (yd > (double)h)
            yd = (double)h;
        yd = ceil(yd);
        a[m] = (c_int(xd) * h + c_int(yd)) & U32;
        m++;
    }
    a[m] = (h * w) & U32;
    radix_sort_u32(a, a + kk + 1, m + 1);
    int64_t p = 0;
    for (j = 0; j < m + 1; j++) {
        int64_t t = a[j];
        a[j] = (a[j] - p) & U32;
        p = t;
    }
    if (vec_reserve(out, m + 1) < 0)
        goto done;
    uint32_t *b = out->v + out->n;
    int64_t nb = 0;
    j = 0;
    b[nb++] = (uint32_t)a[j++];
    while (j < m + 1) {
        if (a[j] > 0) {
            b[nb++] = (uint32_t)a[j++];
        } else {
            j++;
            if (j < m + 1) {
                b[nb - 1] = (uint32_t)(((int64_t)b[nb - 1] + a[j]) & U32);
                j++;
            }
        }
    }
    out->n += nb;
    rc = 0;
done:
    free(x);
    free(y);
    free(u);
    free(v);
    free(a);
    return rc;
}

/* fr_polys(coords f64, coord_offs i64 [n+1], heights, widths, n, lo, hi) -> (counts bytes, offs bytes):
 * polygons [lo, hi), offsets from 0 ([hi - lo + 1]). */
static PyObject *py_fr_polys(PyObject *self, PyObject *args)
{
    PyObject *o[4], *res = NULL;
    long long n, lo, hi;
    bufs_t bs = {.n = 0};
    vec_t out = {NULL, 0, 0};
    int64_t *offs = NULL;
    int rc = 0;
    if (!PyArg_ParseTuple(args, "OOOOLLL", &o[0], &o[1], &o[2], &o[3], &n, &lo, &hi))
        return NULL;
    GET(coffs, int64_t, o[1], 0, n + 1, "coord_offs");
    GET(xy, double, o[0], 0, coffs[n], "coords");
    GET(hs, int64_t, o[2], 0, n, "heights");
    GET(ws, int64_t, o[3], 0, n, "widths");
    if (lo < 0 || hi > n || lo > hi) {
        PyErr_SetString(PyExc_ValueError, "range out of bounds");
        goto fail;
    }
    offs = malloc((size_t)(hi - lo + 1) * sizeof(int64_t));
    if (offs == NULL || vec_reserve(&out, 1) < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    offs[0] = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = lo; i < hi && rc == 0; i++) {
        rc = fr_poly(xy + coffs[i], (coffs[i + 1] - coffs[i]) / 2, hs[i], ws[i], &out);
        offs[i - lo + 1] = out.n;
    }
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    res = Py_BuildValue("(y#y#)", (const char *)out.v, (Py_ssize_t)(out.n * 4), (const char *)offs,
                        (Py_ssize_t)((hi - lo + 1) * 8));
fail:
    release(&bs);
    free(out.v);
    free(offs);
    return res;
}

/* rleMerge (union) of RLEs [first, last) into out; -1 without memory, -2 when their pixel totals
 * differ (sizes are checked by the caller), as bench/masks/kernels.py merge. */
static int merge_union(const uint32_t *cnts, const int64_t *offs, int64_t first, int64_t last, vec_t *out, vec_t *tmp)
{
    tmp->n = 0;
    int64_t am = offs[first + 1] - offs[first];
    if (vec_reserve(tmp, am) < 0)
        return -1;
    memcpy(tmp->v, cnts + offs[first], (size_t)am * sizeof(uint32_t));
    tmp->n = am;
    for (int64_t i = first + 1; i < last; i++) {
        const uint32_t *cb_ = cnts + offs[i], *ca_ = tmp->v;
        int64_t bm = offs[i + 1] - offs[i];
        am = tmp->n;
        uint32_t *next = malloc((size_t)(am + bm + 1) * sizeof(uint32_t));
        if (next == NULL)
            return -1;
        int64_t ca = ca_[0], cb = cb_[0], a = 1, b = 1, cc = 0, ct = 1, m = 0;
        int v = 0, va = 0, vb = 0;
        while (ct > 0) {
            int64_t c = ca < cb ? ca : cb;
            cc += c;
            ca -= c;
            cb -= c;
            advance(&ca, ca_, &a, am, &va);
            advance(&cb, cb_, &b, bm, &vb);
            ct = ca + cb;
            int vp = v;
            v = va || vb;
            if (v != vp || ct == 0) {
                next[m++] = (uint32_t)cc;
                cc = 0;
            }
            if (c == 0 && ct > 0 && ((ca == 0 && a >= am) || (cb == 0 && b >= bm))) {
                free(next);
                return -2;
            }
        }
        free(tmp->v);
        tmp->v = next;
        tmp->n = m;
        tmp->cap = am + bm + 1;
    }
    if (vec_reserve(out, tmp->n) < 0)
        return -1;
    memcpy(out->v + out->n, tmp->v, (size_t)tmp->n * sizeof(uint32_t));
    out->n += tmp->n;
    return 0;
}

/* merge_groups(cnts, offs, bounds i64 [g+1], n, g) -> (counts bytes, offs bytes): the union of RLEs
 * bounds[i]:bounds[i+1] for every group (non-empty groups, one size each: checked by the caller). */
static PyObject *py_merge_groups(PyObject *self, PyObject *args)
{
    PyObject *o[3], *res = NULL;
    long long n, g;
    bufs_t bs = {.n = 0};
    vec_t out = {NULL, 0, 0}, tmp = {NULL, 0, 0};
    int64_t *offs = NULL;
    int rc = 0;
    if (!PyArg_ParseTuple(args, "OOOLL", &o[0], &o[1], &o[2], &n, &g))
        return NULL;
    GET(roffs, int64_t, o[1], 0, n + 1, "offs");
    GET(cnts, uint32_t, o[0], 0, roffs[n], "cnts");
    GET(bounds, int64_t, o[2], 0, g + 1, "bounds");
    offs = malloc((size_t)(g + 1) * sizeof(int64_t));
    if (offs == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    offs[0] = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < g && rc == 0; i++) {
        rc = merge_union(cnts, roffs, bounds[i], bounds[i + 1], &out, &tmp);
        offs[i + 1] = out.n;
    }
    Py_END_ALLOW_THREADS
    if (rc == -1) {
        PyErr_NoMemory();
        goto fail;
    }
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "RLEs of different pixel totals cannot be merged");
        goto fail;
    }
    res = Py_BuildValue("(y#y#)", (const char *)(out.v ? out.v : (uint32_t *)offs), (Py_ssize_t)(out.n * 4),
                        (const char *)offs, (Py_ssize_t)((g + 1) * 8));
fail:
    release(&bs);
    free(out.v);
    free(tmp.v);
    free(offs);
    return res;
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
