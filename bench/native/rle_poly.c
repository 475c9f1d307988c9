/* bench.native._rle, part: polygons (rleFrPoly) and their union (rleMerge). See rle.c. */
#include "rle.h"

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
PyObject *py_fr_polys(PyObject *self, PyObject *args)
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
PyObject *py_merge_groups(PyObject *self, PyObject *args)
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

