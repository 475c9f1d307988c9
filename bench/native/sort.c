/* bench.native._sort: a stable descending argsort of float64 values by LSD radix sort.
 *
 * argsort_desc(values, out): out (int64 [N], preallocated) receives the permutation that
 * np.argsort(-values, kind="stable") gives for finite values: larger values first, equal
 * values (0.0 and -0.0 included) in their input order. The caller checks that values are
 * finite; NaN has no place in this order.
 *
 * Each double maps to a uint64 key whose unsigned order is the descending order of the
 * values; four stable counting passes over 16-bit digits sort the keys (a pass is skipped
 * when every key has the same digit there, as for scores in [0, 1], which share their top
 * bits). Linear time, against the comparison sort numpy uses for stable float sorts.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DIGITS 4
#define BUCKETS 65536

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
            count[d * BUCKETS + ((k >> (16 * d)) & 0xFFFF)]++;
    }
    uint64_t *src_k = keys, *dst_k = keys2;
    int64_t *src_i = out, *dst_i = idx2;
    for (int d = 0; d < DIGITS; d++) {
        Py_ssize_t *c = count + (size_t)d * BUCKETS;
        if (n == 0 || c[(keys[0] >> (16 * d)) & 0xFFFF] == n)
            continue; /* one digit value everywhere: this pass would not move anything */
        Py_ssize_t total = 0;
        for (int b = 0; b < BUCKETS; b++) { /* counts -> first slot of each bucket */
            Py_ssize_t t = c[b];
            c[b] = total;
            total += t;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            uint64_t k = src_k[i];
            Py_ssize_t slot = c[(k >> (16 * d)) & 0xFFFF]++;
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

static PyMethodDef methods[] = {
    {"argsort_desc", argsort_desc, METH_VARARGS, "argsort_desc(values: float64 buffer, out: int64 buffer)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sort", "Stable descending radix argsort.", -1, methods};

PyMODINIT_FUNC PyInit__sort(void) { return PyModule_Create(&module); }
