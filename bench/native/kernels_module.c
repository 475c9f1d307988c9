/* bench.native._kernels: the Python entry points of the C matching/accumulation kernels.
 *
 * Each function takes a tuple of input arrays (any C-contiguous buffer), output arrays
 * preallocated by the caller, and a range of the work [lo, hi); it runs with the GIL released,
 * so Python threads can run ranges in parallel. bench/native/kernels.py checks dtypes, shapes
 * and index ranges before calling; this module only checks that each buffer's byte length is
 * what the sizes imply, so that a wrong call fails instead of reading out of bounds.
 * No numpy headers: arrays cross through the buffer protocol.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "kernels.h"

#define MAX_BUFFERS 24

/* The buffers of one call, released together. */
typedef struct {
    Py_buffer b[MAX_BUFFERS];
    int n;
} buffers_t;

static void release_all(buffers_t *bs)
{
    for (int i = 0; i < bs->n; i++)
        PyBuffer_Release(&bs->b[i]);
    bs->n = 0;
}

/* Acquire a C-contiguous (writable if asked) buffer of obj; NULL with an exception set on
 * failure. `what` names the argument in the error message. */
static Py_buffer *acquire(buffers_t *bs, PyObject *obj, int writable, const char *what)
{
    if (bs->n >= MAX_BUFFERS) {
        PyErr_SetString(PyExc_RuntimeError, "too many buffers");
        return NULL;
    }
    Py_buffer *b = &bs->b[bs->n];
    if (PyObject_GetBuffer(obj, b, PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0)) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: a C-contiguous%s buffer is required", what, writable ? " writable" : "");
        return NULL;
    }
    bs->n++;
    return b;
}

/* The tuple's buffers in order (writable if asked); 0, or -1 with an exception set. */
static int acquire_tuple(buffers_t *bs, PyObject *tuple, int writable, Py_ssize_t expected, const char *names[],
                         Py_buffer *out[])
{
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) != expected) {
        PyErr_Format(PyExc_TypeError, "expected a tuple of %zd arrays", expected);
        return -1;
    }
    for (Py_ssize_t i = 0; i < expected; i++)
        if ((out[i] = acquire(bs, PyTuple_GET_ITEM(tuple, i), writable, names[i])) == NULL)
            return -1;
    return 0;
}

typedef enum { KERNEL_MATCH, KERNEL_COCO, KERNEL_VOC } kernel_t;

/* Run kernel k on its arguments for the range [lo, hi) with the GIL released, then release
 * the buffers; MemoryError when the kernel could not allocate its scratch memory. */
static PyObject *run_released(buffers_t *bs, kernel_t k, const void *args, long long lo, long long hi)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = k == KERNEL_MATCH ? match_range(args, lo, hi)
       : k == KERNEL_COCO ? accumulate_coco_range(args, lo, hi)
       : accumulate_voc_range(args, lo, hi);
    Py_END_ALLOW_THREADS
    release_all(bs);
    if (rc < 0)
        return PyErr_NoMemory();
    Py_RETURN_NONE;
}

/* a * b for sizes, or -1 when either is negative or the product overflows 64 bits (the
 * caller's sizes are then impossible: check_len refuses -1; a wrapped product could instead
 * equal a small buffer's length and let the kernel write past it). */
static int64_t mul(int64_t a, int64_t b)
{
    if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
        return -1;
    return a * b;
}

/* 0 when a product of sizes (mul) is possible, else -1 with ValueError. */
static int check_size(int64_t product, const char *what)
{
    if (product < 0) {
        PyErr_Format(PyExc_ValueError, "%s: negative sizes or a product past 64 bits", what);
        return -1;
    }
    return 0;
}

/* 0 when buffer b holds exactly count items of item_size bytes, else -1 with ValueError. */
static int check_len(const Py_buffer *b, int64_t count, size_t item_size, const char *what)
{
    if (count < 0 || (uint64_t)count > (uint64_t)PY_SSIZE_T_MAX / item_size || (uint64_t)b->len != (uint64_t)count * item_size) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes, expected %lld items of %zu bytes", what, b->len,
                     (long long)count, item_size);
        return -1;
    }
    return 0;
}

/* 0 when 0 <= lo <= hi <= n, else -1 with ValueError. */
static int check_range(long long lo, long long hi, int64_t n)
{
    if (lo < 0 || lo > hi || hi > n) {
        PyErr_Format(PyExc_ValueError, "range [%lld, %lld) outside [0, %lld)", lo, hi, (long long)n);
        return -1;
    }
    return 0;
}

static const char *MATCH_NAMES[] = {
    "gt_xyxy", "gt_barea", "gt_area", "gt_crowd", "gt_ig", "gt_start", "gt_end",
    "dt_xyxy", "dt_barea", "dt_area", "dt_uig", "dt_start", "dt_end",
    "area_lo", "area_hi", "thrs", "pre_iou", "pre_off", "out_pos",
};

PyDoc_STRVAR(match_doc,
"match(inputs, status, mode, lo, hi)\n\n"
"Match groups [lo, hi) of match_groups; inputs is the tuple (gt_xyxy, gt_barea, gt_area,\n"
"gt_crowd, gt_ig, gt_start, gt_end, dt_xyxy, dt_barea, dt_area, dt_uig, dt_start, dt_end,\n"
"area_lo, area_hi, thrs, pre_iou, pre_off, out_pos); status int8 [D, A, T] is written.");

static PyObject *py_match(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *inputs, *status_obj;
    int mode;
    long long lo, hi;
    if (!PyArg_ParseTuple(args, "OOiLL", &inputs, &status_obj, &mode, &lo, &hi))
        return NULL;
    buffers_t bs = {.n = 0};
    Py_buffer *in[19], *status;
    if (acquire_tuple(&bs, inputs, 0, 19, MATCH_NAMES, in) < 0 || (status = acquire(&bs, status_obj, 1, "status")) == NULL)
        goto fail;
    const int64_t n_gt = in[1]->len / 8, n_dt = in[8]->len / 8, n_grp = in[5]->len / 8;
    const int64_t n_area = in[13]->len / 8, n_thr = in[15]->len / 8;
    const int has_pre = in[17]->len > 0;
    if (check_len(in[0], mul(4, n_gt), 8, "gt_xyxy") || check_len(in[1], n_gt, 8, "gt_barea")
        || check_len(in[2], n_gt, 8, "gt_area") || check_len(in[3], n_gt, 1, "gt_crowd")
        || check_len(in[4], n_gt, 1, "gt_ig") || check_len(in[5], n_grp, 8, "gt_start")
        || check_len(in[6], n_grp, 8, "gt_end") || check_len(in[7], mul(4, n_dt), 8, "dt_xyxy")
        || check_len(in[8], n_dt, 8, "dt_barea") || check_len(in[9], n_dt, 8, "dt_area")
        || check_len(in[10], n_dt, 1, "dt_uig") || check_len(in[11], n_grp, 8, "dt_start")
        || check_len(in[12], n_grp, 8, "dt_end") || check_len(in[13], n_area, 8, "area_lo")
        || check_len(in[14], n_area, 8, "area_hi") || check_len(in[15], n_thr, 8, "thrs")
        || (has_pre && check_len(in[17], n_grp + 1, 8, "pre_off")) || check_len(in[18], n_dt, 8, "out_pos")
        || check_len(status, mul(mul(n_dt, n_area), n_thr), 1, "status") || check_range(lo, hi, n_grp))
        goto fail;
    if (mode < 0 || mode > 2) {
        PyErr_Format(PyExc_ValueError, "mode must be 0, 1 or 2, got %d", mode);
        goto fail;
    }
    match_args a = {
        .gt_xyxy = in[0]->buf, .gt_barea = in[1]->buf, .gt_area = in[2]->buf, .gt_crowd = in[3]->buf,
        .gt_ig = in[4]->buf, .gt_start = in[5]->buf, .gt_end = in[6]->buf,
        .dt_xyxy = in[7]->buf, .dt_barea = in[8]->buf, .dt_area = in[9]->buf, .dt_uig = in[10]->buf,
        .dt_start = in[11]->buf, .dt_end = in[12]->buf,
        .area_lo = in[13]->buf, .area_hi = in[14]->buf, .thrs = in[15]->buf, .n_area = n_area, .n_thr = n_thr,
        .mode = mode, .pre_iou = has_pre ? in[16]->buf : NULL, .pre_off = has_pre ? in[17]->buf : NULL,
        .out_pos = in[18]->buf, .status = status->buf,
    };
    return run_released(&bs, KERNEL_MATCH, &a, lo, hi);
fail:
    release_all(&bs);
    return NULL;
}

static const char *COCO_NAMES[] = {"status", "rank", "cat_start", "cat_end", "npos", "max_dets", "rec_thrs"};
static const char *COCO_OUT_NAMES[] = {"precision", "recall", "mean"};

PyDoc_STRVAR(coco_doc,
"accumulate_coco(inputs, outputs, n_area, n_thr, lo, hi)\n\n"
"Categories [lo, hi) of accumulate_coco; inputs is (status, rank, cat_start, cat_end, npos,\n"
"max_dets, rec_thrs), outputs (precision [K,A,M,T,R] filled with -1, recall [K,A,M,T] filled\n"
"with -1, mean [K,A,M,T] filled with NaN).");

static PyObject *py_accumulate_coco(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *inputs, *outputs;
    long long n_area, n_thr, lo, hi;
    if (!PyArg_ParseTuple(args, "OOLLLL", &inputs, &outputs, &n_area, &n_thr, &lo, &hi))
        return NULL;
    buffers_t bs = {.n = 0};
    Py_buffer *in[7], *out[3];
    if (acquire_tuple(&bs, inputs, 0, 7, COCO_NAMES, in) < 0 || acquire_tuple(&bs, outputs, 1, 3, COCO_OUT_NAMES, out) < 0)
        goto fail;
    const int64_t n_det = in[1]->len / 8, n_cat = in[2]->len / 8, n_m = in[5]->len / 8, n_r = in[6]->len / 8;
    const int64_t cells = mul(mul(mul(n_cat, n_area), n_m), n_thr);
    if (check_size(mul(n_area, n_thr), "n_area * n_thr") || check_len(in[0], mul(mul(n_det, n_area), n_thr), 1, "status")
        || check_len(in[1], n_det, 8, "rank") || check_len(in[2], n_cat, 8, "cat_start")
        || check_len(in[3], n_cat, 8, "cat_end") || check_len(in[4], mul(n_cat, n_area), 8, "npos")
        || check_len(in[5], n_m, 8, "max_dets") || check_len(in[6], n_r, 8, "rec_thrs")
        || check_len(out[0], mul(cells, n_r), 8, "precision") || check_len(out[1], cells, 8, "recall")
        || check_len(out[2], cells, 8, "mean") || check_range(lo, hi, n_cat))
        goto fail;
    coco_args a = {
        .status = in[0]->buf, .rank = in[1]->buf, .cat_start = in[2]->buf, .cat_end = in[3]->buf,
        .npos = in[4]->buf, .max_dets = in[5]->buf, .rec_thrs = in[6]->buf,
        .n_area = n_area, .n_thr = n_thr, .n_m = n_m, .n_r = n_r,
        .prec = out[0]->buf, .rec = out[1]->buf, .mean = out[2]->buf,
    };
    return run_released(&bs, KERNEL_COCO, &a, lo, hi);
fail:
    release_all(&bs);
    return NULL;
}

static const char *VOC_NAMES[] = {"status", "cat_start", "cat_end", "npos", "points11"};
static const char *VOC_OUT_NAMES[] = {"ap", "recall"};

PyDoc_STRVAR(voc_doc,
"accumulate_voc(inputs, outputs, n_area, n_thr, all_point, lo, hi)\n\n"
"Categories [lo, hi) of accumulate_voc; inputs is (status [A,T,D], cat_start, cat_end, npos,\n"
"points11), outputs (ap [T,K,A], recall [T,K,A], both filled with NaN).");

static PyObject *py_accumulate_voc(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *inputs, *outputs;
    long long n_area, n_thr, lo, hi;
    int all_point;
    if (!PyArg_ParseTuple(args, "OOLLpLL", &inputs, &outputs, &n_area, &n_thr,
                          &all_point, &lo, &hi))
        return NULL;
    buffers_t bs = {.n = 0};
    Py_buffer *in[5], *out[2];
    if (acquire_tuple(&bs, inputs, 0, 5, VOC_NAMES, in) < 0 || acquire_tuple(&bs, outputs, 1, 2, VOC_OUT_NAMES, out) < 0)
        goto fail;
    const int64_t n_cat = in[1]->len / 8, n_points = in[4]->len / 8;
    const int64_t n_at = mul(n_area, n_thr); /* -1: impossible sizes, refused below */
    const int64_t n_det = n_at > 0 ? in[0]->len / n_at : 0;
    if (check_size(n_at, "n_area * n_thr") || check_len(in[0], mul(n_at, n_det), 1, "status")
        || check_len(in[2], n_cat, 8, "cat_end") || check_len(in[3], mul(n_cat, n_area), 8, "npos")
        || check_len(out[0], mul(n_thr, mul(n_cat, n_area)), 8, "ap") || check_len(out[1], mul(n_thr, mul(n_cat, n_area)), 8, "recall")
        || check_range(lo, hi, n_cat))
        goto fail;
    voc_args a = {
        .status = in[0]->buf, .cat_start = in[1]->buf, .cat_end = in[2]->buf, .npos = in[3]->buf,
        .points11 = in[4]->buf, .n_area = n_area, .n_thr = n_thr, .n_det = n_det, .n_cat = n_cat,
        .n_points = n_points, .all_point = all_point, .ap = out[0]->buf, .recall = out[1]->buf,
    };
    return run_released(&bs, KERNEL_VOC, &a, lo, hi);
fail:
    release_all(&bs);
    return NULL;
}

static PyMethodDef methods[] = {
    {"match", py_match, METH_VARARGS, match_doc},
    {"accumulate_coco", py_accumulate_coco, METH_VARARGS, coco_doc},
    {"accumulate_voc", py_accumulate_voc, METH_VARARGS, voc_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "C ports of bench.metrics.kernels (match_groups, accumulate_coco, accumulate_voc); "
    "use them through bench.native.kernels.",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
