/* Shared by the C files of bench.native._rle (rle.c: buffers, the module and IoU; rle_decode.c:
 * counts strings and per-RLE reductions; rle_poly.c: polygons and merging). See rle.c. */
#ifndef DETBENCH_RLE_H
#define DETBENCH_RLE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define U32 0xFFFFFFFFLL

/* ------------------------------------------------------------------ buffers (rle.c) */

typedef struct {
    Py_buffer b[24];
    int n;
} bufs_t;

void release(bufs_t *bs);

/* A C-contiguous buffer of obj with at least min_bytes bytes; NULL with an exception set. */
void *get(bufs_t *bs, PyObject *obj, int writable, Py_ssize_t min_bytes, const char *what);

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

/* A growable uint32 array (also the per-call scratch buffer of decoded runs, n kept 0). */
typedef struct {
    uint32_t *v;
    int64_t n, cap;
} vec_t;

int vec_reserve(vec_t *v, int64_t extra);

/* The run walk's step in maskApi.c: when the current run is used up (*left 0) and runs remain,
 * take the next one and flip the value. */
static inline void advance(int64_t *left, const uint32_t *cnts, int64_t *i, int64_t m, int *v)
{
    if (*left == 0 && *i < m) {
        *left = cnts[(*i)++];
        *v = !*v;
    }
}

/* ------------------------------------------------------------------ rle_decode.c */

/* rleFrString of one string (see rle_decode.c): the number of runs, or -1 when malformed. */
int64_t decode_one(const uint8_t *s, int64_t p, int64_t e, int json_escapes, uint32_t *cnts, int64_t *sums);

/* rleArea, pixel total and (b not NULL) rleToBbox of one RLE of `runs` runs. */
void stats_one(const uint32_t *cn, int64_t runs, int64_t h, int64_t w, uint32_t *area, int64_t *total, double *b);

PyObject *py_count_runs(PyObject *self, PyObject *args);
PyObject *py_decode_strings(PyObject *self, PyObject *args);
PyObject *py_string_stats(PyObject *self, PyObject *args);
PyObject *py_stats(PyObject *self, PyObject *args);
PyObject *py_take(PyObject *self, PyObject *args);

/* ------------------------------------------------------------------ rle_poly.c */

PyObject *py_fr_polys(PyObject *self, PyObject *args);
PyObject *py_merge_groups(PyObject *self, PyObject *args);

#endif
