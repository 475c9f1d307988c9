/* bench.native._sort: a stable descending argsort of float64 values by LSD radix sort, and the
 * metric core's two detection orders built from it and counting sorts (coco_orders).
 *
 * argsort_desc(values, out): out (int64 [N], preallocated) receives the permutation that
 * np.argsort(-values, kind="stable") gives for finite values: larger values first, equal
 * values (0.0 and -0.0 included) in their input order. The caller checks that values are
 * finite; NaN has no place in this order.
 *
 * Each double maps to a uint64 key whose unsigned order is the descending order of the
 * values; six stable counting passes over 11-bit digits sort the keys (a pass is skipped
 * when every key has the same digit there, as for scores in [0, 1], which share their top
 * bits). Linear time, against the comparison sort numpy uses for stable float sorts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BITS 11 /* 2,048 buckets: the histogram and the write heads stay in L1 */
#define DIGITS 6 /* 6 x 11 >= 64 */
#define BUCKETS (1 << BITS)
#define DIGIT(k, d) (((k) >> (BITS * (d))) & (BUCKETS - 1))

static uint64_t desc_key(double v)
{
    uint64_t b;
    v = v + 0.0; /* -0.0 becomes +0.0: equal values, equal keys */
    memcpy(&b, &v, sizeof b);
    /* ascending order of v: flip every bit of negatives, only the sign bit of the rest */
    b = (b >> 63) ? ~b : (b | 0x8000000000000000ULL);
    return ~b; /* descending */
}

/* Returns 0, or -1 when out of memory. */
static int radix_argsort_desc(const double *values, Py_ssize_t n, int64_t *out)
{
    uint64_t *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    uint64_t *keys2 = malloc((size_t)(n ? n : 1) * sizeof *keys2);
    int64_t *idx2 = malloc((size_t)(n ? n : 1) * sizeof *idx2);
    Py_ssize_t *count = malloc((size_t)DIGITS * BUCKETS * sizeof *count);
    if (!keys || !keys2 || !idx2 || !count) {
        free(keys); free(keys2); free(idx2); free(count);
        return -1;
    }
    memset(count, 0, (size_t)DIGITS * BUCKETS * sizeof *count);
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t k = desc_key(values[i]);
        keys[i] = k;
        out[i] = i;
        for (int d = 0; d < DIGITS; d++)
            count[d * BUCKETS + DIGIT(k, d)]++;
    }
    uint64_t *src_k = keys, *dst_k = keys2;
    int64_t *src_i = out, *dst_i = idx2;
    for (int d = 0; d < DIGITS; d++) {
        Py_ssize_t *c = count + (size_t)d * BUCKETS;
        if (n == 0 || c[DIGIT(keys[0], d)] == n)
            continue; /* one digit value everywhere: this pass would not move anything */
        Py_ssize_t total = 0;
        for (int b = 0; b < BUCKETS; b++) { /* counts -> first slot of each bucket */
            Py_ssize_t t = c[b];
            c[b] = total;
            total += t;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t k = src_k[i];
            Py_ssize_t slot = c[DIGIT(k, d)]++;
            dst_k[slot] = k;
            dst_i[slot] = src_i[i];
        }
        uint64_t *tk = src_k; src_k = dst_k; dst_k = tk;
        int64_t *ti = src_i; src_i = dst_i; dst_i = ti;
    }
    if (src_i != out)
        memcpy(out, src_i, (size_t)n * sizeof *out);
    free(keys); free(keys2); free(idx2); free(count);
    return 0;
}

static PyObject *argsort_desc(PyObject *self, PyObject *args)
{
    Py_buffer values, out;
    if (!PyArg_ParseTuple(args, "y*w*", &values, &out))
        return NULL;
    Py_ssize_t n = values.len / (Py_ssize_t)sizeof(double);
    int rc = -2;
    if (values.len % (Py_ssize_t)sizeof(double) == 0 && out.len == n * (Py_ssize_t)sizeof(int64_t)) {
        Py_BEGIN_ALLOW_THREADS
        rc = radix_argsort_desc((const double *)values.buf, n, (int64_t *)out.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&values);
    PyBuffer_Release(&out);
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "argsort_desc: values must be float64 [N] and out int64 [N]");
        return NULL;
    }
    if (rc == -1)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* Stable counting sort of the permutation src [n] by key[src[i]] in [0, k): into dst. ``kv``
 * [n] is scratch: the keys are gathered once, in src order, so both passes read them in sequence. */
static int counting_pass(const int64_t *key, int64_t k, const int64_t *src, int64_t *dst, int64_t *kv, Py_ssize_t n)
{
    Py_ssize_t *slot = calloc((size_t)k + 1, sizeof *slot);
    if (!slot)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        kv[i] = key[src[i]];
        slot[kv[i] + 1]++;
    }
    for (int64_t b = 0; b < k; b++)
        slot[b + 1] += slot[b];
    for (Py_ssize_t i = 0; i < n; i++)
        dst[slot[kv[i]]++] = src[i];
    free(slot);
    return 0;
}

/* The core's two orders of N detections (see coco_orders below). Returns 0 or -1 (memory). */
static int orders(const int64_t *image, const int64_t *cat, const double *score, Py_ssize_t n,
                  int64_t n_img, int64_t n_cat, int64_t *order, int64_t *by_cat)
{
    size_t m = (size_t)(n ? n : 1);
    int64_t *a = calloc(m, sizeof *a), *b = calloc(m, sizeof *b), *perm = calloc(m, sizeof *perm);
    double *v = calloc(m, sizeof *v);
    int rc = -1;
    if (!a || !b || !perm || !v)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++)
        b[i] = i;
    if (counting_pass(image, n_img, b, a, perm, n) < 0) /* a: (image, position) */
        goto done;
    for (Py_ssize_t i = 0; i < n; i++)
        v[i] = score[a[i]];
    if (radix_argsort_desc(v, n, perm) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < n; i++) /* b: (-score, image, position) */
        b[i] = a[perm[i]];
    if (counting_pass(cat, n_cat, b, by_cat, perm, n) < 0) /* (category, -score, image, position) */
        goto done;
    rc = counting_pass(image, n_img, by_cat, order, perm, n); /* (image, category, -score, position) */
done:
    free(a); free(b); free(perm); free(v);
    return rc;
}

static PyObject *coco_orders(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer image, cat, score, order, by_cat;
    long long n_img, n_cat;
    if (!PyArg_ParseTuple(args, "y*y*y*LLw*w*", &image, &cat, &score, &n_img, &n_cat, &order, &by_cat))
        return NULL;
    Py_ssize_t n = image.len / 8;
    int rc = -2;
    int ok = image.len == n * 8 && cat.len == n * 8 && score.len == n * 8 && order.len == n * 8 && by_cat.len == n * 8
             && n_img >= 0 && n_cat >= 0;
    const int64_t *im = image.buf, *ca = cat.buf;
    for (Py_ssize_t i = 0; ok && i < n; i++)
        ok = im[i] >= 0 && im[i] < n_img && ca[i] >= 0 && ca[i] < n_cat;
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        rc = orders(im, ca, score.buf, n, n_img, n_cat, order.buf, by_cat.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&image); PyBuffer_Release(&cat); PyBuffer_Release(&score);
    PyBuffer_Release(&order); PyBuffer_Release(&by_cat);
    if (rc == -2) {
        PyErr_SetString(PyExc_ValueError, "coco_orders: int64 image/category indices inside [0, n), float64 scores, int64 outputs, all [N]");
        return NULL;
    }
    if (rc == -1)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"argsort_desc", argsort_desc, METH_VARARGS, "argsort_desc(values: float64 buffer, out: int64 buffer)"},
    {"coco_orders", coco_orders, METH_VARARGS,
     "coco_orders(image, category, score, n_img, n_cat, order, by_cat): order = (image, category, -score, position),\n"
     "by_cat = (category, -score, image, position), both stable permutations of [0, N)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sort", "Stable descending radix argsort.", -1, methods};

PyMODINIT_FUNC PyInit__sort(void) { return PyModule_Create(&module); }
