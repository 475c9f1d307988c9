/* bench.native._rle, part: compressed counts strings (rleFrString) and per-RLE reductions
 * (rleArea, pixel totals, rleToBbox, take). See rle.c. */
#include "rle.h"

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
 * e - p runs. sums (not NULL): the runs at even and at odd positions added to sums[0], sums[1].
 *
 * Most characters of a mask's string are numbers of one character ('0'..'O', about 9 in 10 at
 * COCO scale, in long stretches): 8 such bytes at once are checked with one word and decoded
 * without the per-character branches (runs m > 2, so each adds run m - 2). `keep` and `sum` are
 * constants in each caller of decode_body, so each gets its own loop. */
static inline int64_t decode_body(const uint8_t *s, int64_t p, int64_t e, int json_escapes, uint32_t *cnts, int64_t *sums,
                                  const int keep, const int sum);

/* Whether the 8 bytes at s are all in '0'..'O' (48..79: a one-character number each, no
 * continuation bit, no backslash); *w their little-endian word. */
static inline int one_char_runs(const uint8_t *s, uint64_t *w)
{
    uint64_t x = 0;
    for (int j = 0; j < 8; j++)
        x |= (uint64_t)s[j] << (8 * j);
    *w = x;
    const uint64_t hi = 0x8080808080808080ULL;
    /* bytes below 0x80 (no carries below); then b + 0x50 has its top bit iff b >= 48, b + 0x30 iff b >= 80 */
    return (x & hi) == 0 && ((x + 0x5050505050505050ULL) & ~(x + 0x3030303030303030ULL) & hi) == hi;
}

static inline int64_t decode_body(const uint8_t *s, int64_t p, int64_t e, int json_escapes, uint32_t *cnts, int64_t *sums,
                                  const int keep, const int sum)
{
    int64_t m = 0, x = 0, k = 0, prev1 = 0, prev2 = 0, base = 0; /* base: run m - 2 where m > 2, else 0 */
    int64_t cur = 0, other = 0;                                    /* sums of runs of m's parity, of the other */
    while (p < e) {
        uint64_t w8;
        if (k == 0 && m > 2 && e - p >= 8 && one_char_runs(s + p, &w8)) { /* 8 one-character runs */
            int64_t a = prev2, b = prev1, v[8];
            for (int j = 0; j < 8; j++) {
                int64_t c = (int64_t)((w8 >> (8 * j)) & 0xFF) - 48;  /* 0..31: the sign bit is 0x10 */
                v[j] = (((c ^ 16) - 16) + a) & U32;
                a = b;
                b = v[j];
                if (keep)
                    cnts[m + j] = (uint32_t)v[j];
            }
            if (sum) { /* 8 runs: the parity is back where it was */
                cur += v[0] + v[2] + v[4] + v[6];
                other += v[1] + v[3] + v[5] + v[7];
            }
            prev2 = a;
            prev1 = b;
            base = a;
            m += 8;
            p += 8;
            continue;
        }
        int64_t c = (int64_t)s[p++] - 48;
        if (json_escapes && c == 44)
            p++;
        if ((uint64_t)c > 63 || k >= 35)
            return -1;
        x |= (c & 0x1F) << k;
        k += 5;
        if (c & 0x20)
            continue;
        if (c & 0x10)
            x |= (int64_t)(UINT64_MAX << k);
        int64_t v = (x + base) & U32;
        if (keep)
            cnts[m] = (uint32_t)v;
        if (sum) {
            int64_t t = cur + v;
            cur = other;
            other = t;
        }
        prev2 = prev1;
        prev1 = v;
        m++;
        base = m > 2 ? prev2 : 0;
        x = 0;
        k = 0;
    }
    if (k != 0)
        return -1; /* a number cut off by the end */
    if (sum) {
        sums[m & 1] += cur;
        sums[(m & 1) ^ 1] += other;
    }
    return m;
}

int64_t decode_one(const uint8_t *s, int64_t p, int64_t e, int json_escapes, uint32_t *cnts, int64_t *sums)
{
    if (cnts != NULL && sums != NULL)
        return decode_body(s, p, e, json_escapes, cnts, sums, 1, 1);
    if (cnts != NULL)
        return decode_body(s, p, e, json_escapes, cnts, NULL, 1, 0);
    if (sums != NULL)
        return decode_body(s, p, e, json_escapes, NULL, sums, 0, 1);
    return decode_body(s, p, e, json_escapes, NULL, NULL, 0, 0);
}

static void decode_strings(const uint8_t *s, const int64_t *starts, const int64_t *ends, int json_escapes,
                           const int64_t *offs, uint32_t *cnts, uint8_t *bad, int64_t lo, int64_t hi)
{
    for (int64_t r = lo; r < hi; r++)
        bad[r] = decode_one(s, starts[r], ends[r], json_escapes, cnts + offs[r], NULL) < 0;
}

/* count_runs(buf, starts, ends, json_escapes, out, lo, hi) */
PyObject *py_count_runs(PyObject *self, PyObject *args)
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
PyObject *py_decode_strings(PyObject *self, PyObject *args)
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

/* rleArea (*area), the pixel total of all runs (*total) and, b not NULL, rleToBbox (b[4]) of one
 * RLE of m runs at height h, width w. */
void stats_one(const uint32_t *cn, int64_t runs, int64_t h, int64_t w, uint32_t *area, int64_t *total, double *b)
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
PyObject *py_string_stats(PyObject *self, PyObject *args)
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

PyObject *py_stats(PyObject *self, PyObject *args)
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
PyObject *py_take(PyObject *self, PyObject *args)
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

