/* bench.native._nms: greedy NMS over boxes already in score order, stopping at max_keep.
 *
 * greedy(boxes, out, iou, max_keep) -> count
 *   boxes float32 [N, 4] XYXY (class offsets already added, rows sorted by descending score),
 *   out int64 [N]: the kept row positions, in order; returns how many were kept.
 *
 * Equal to detectors.yolo_decode.nms_numpy on finite boxes: the same float32 operations in the
 * same order (inter = w * h; union = (area_i + area_j) - inter, at least 1e-12f; iou = inter /
 * union), a row is dropped when !(iou <= thr) with thr the float32 threshold (numpy compares a
 * float32 array with a Python float in float32), and the loop stops once max_keep rows are kept.
 * Built with -ffp-contract=off so no fused multiply-add changes a rounding. Each kept box tests
 * only the rows it can intersect (buckets of x1, see run), so the cost is about
 * kept x neighbours, not kept x N.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>

static float fmax2(float a, float b) { return a > b ? a : b; }
static float fmin2(float a, float b) { return a < b ? a : b; }

/* IoU test of kept row i against row j: 1 when j is dropped, numpy's float32 arithmetic. */
static int overlaps(const float *p, float area, const float *q, float thr)
{
    float iw = fmin2(p[2], q[2]) - fmax2(p[0], q[0]);
    float ih = fmin2(p[3], q[3]) - fmax2(p[1], q[1]);
    iw = iw < 0.0f ? 0.0f : iw;
    ih = ih < 0.0f ? 0.0f : ih;
    float inter = iw * ih;
    float other = (q[2] - q[0]) * (q[3] - q[1]);
    float uni = (area + other) - inter;
    uni = uni < 1e-12f ? 1e-12f : uni;
    float iou = inter / uni;
    return !(iou <= thr);
}

/* Greedy NMS. With thr >= 0 a row can only be dropped by a box it intersects. Rows are put in
 * buckets of x1 (width >= the widest box, a counting sort: linear time), so a kept box with
 * x1_i, x2_i only tests the rows of the buckets that can hold an x1 in (x1_i - widest, x2_i):
 * for any other row the intersection width is <= 0, the IoU 0, and the row stays.
 * thr < 0 drops every later row and takes the plain scan. */
static int64_t run(const float *b, int64_t n, float thr, int64_t max_keep, int64_t *out, uint8_t *dropped,
                   int64_t *start, int64_t *rows)
{
    int64_t kept = 0, nb = 1;
    double lo_x = 0.0, hi_x = 0.0, widest = 0.0, cell = 1.0;
    for (int64_t j = 0; j < n; j++) {
        double x1 = b[4 * j], w = (double)b[4 * j + 2] - x1;
        lo_x = (j == 0 || x1 < lo_x) ? x1 : lo_x;
        hi_x = (j == 0 || x1 > hi_x) ? x1 : hi_x;
        widest = w > widest ? w : widest;
    }
    if (thr >= 0.0f && n > 0) {
        cell = widest > (hi_x - lo_x) / (double)n ? widest : (hi_x - lo_x) / (double)n; /* at most n + 1 buckets */
        cell = cell > 0.0 ? cell : 1.0;
        nb = (int64_t)((hi_x - lo_x) / cell) + 1;
        for (int64_t k = 0; k <= nb; k++)
            start[k] = 0;
        for (int64_t j = 0; j < n; j++)
            start[(int64_t)(((double)b[4 * j] - lo_x) / cell) + 1]++;
        for (int64_t k = 0; k < nb; k++)
            start[k + 1] += start[k];
        for (int64_t j = 0; j < n; j++) /* rows of a bucket in row order; start[k] ends as bucket k + 1's start */
            rows[start[(int64_t)(((double)b[4 * j] - lo_x) / cell)]++] = j;
        for (int64_t k = nb; k > 0; k--)
            start[k] = start[k - 1];
        start[0] = 0;
    }
    for (int64_t i = 0; i < n && kept < max_keep; i++) {
        if (dropped[i])
            continue;
        out[kept++] = i;
        const float *p = b + 4 * i;
        float area = (p[2] - p[0]) * (p[3] - p[1]);
        if (!(thr >= 0.0f)) {
            for (int64_t j = i + 1; j < n; j++)
                if (!dropped[j] && overlaps(p, area, b + 4 * j, thr))
                    dropped[j] = 1;
            continue;
        }
        double from = ((double)p[0] - widest - lo_x) / cell - 1.0, to = ((double)p[2] - lo_x) / cell + 1.0; /* one bucket of slack for rounding */
        int64_t k0 = from < 0.0 ? 0 : (int64_t)from, k1 = to >= (double)(nb - 1) ? nb - 1 : (int64_t)to;
        for (int64_t k = start[k0]; k < start[k1 + 1]; k++) {
            int64_t j = rows[k];
            if (j > i && !dropped[j] && overlaps(p, area, b + 4 * j, thr))
                dropped[j] = 1;
        }
    }
    return kept;
}

static PyObject *greedy(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer boxes, out;
    double iou;
    long long max_keep;
    if (!PyArg_ParseTuple(args, "y*w*dL", &boxes, &out, &iou, &max_keep))
        return NULL;
    int64_t n = (int64_t)(out.len / 8);
    if (boxes.len != n * 16 || out.len != n * 8 || max_keep < 0) {
        PyBuffer_Release(&boxes);
        PyBuffer_Release(&out);
        PyErr_SetString(PyExc_ValueError, "greedy: boxes must be float32 [N, 4], out int64 [N], max_keep >= 0");
        return NULL;
    }
    uint8_t *dropped = calloc(n > 0 ? (size_t)n : 1, 1);
    int64_t *start = malloc(((size_t)n + 2) * sizeof(int64_t)), *rows = malloc(((size_t)n + 1) * sizeof(int64_t));
    int64_t kept = 0;
    int ok = dropped && start && rows;
    if (ok) {
        Py_BEGIN_ALLOW_THREADS
        kept = run(boxes.buf, n, (float)iou, (int64_t)max_keep, out.buf, dropped, start, rows);
        Py_END_ALLOW_THREADS
    }
    free(dropped);
    free(start);
    free(rows);
    PyBuffer_Release(&boxes);
    PyBuffer_Release(&out);
    if (!ok)
        return PyErr_NoMemory();
    return PyLong_FromLongLong(kept);
}

static PyMethodDef methods[] = {
    {"greedy", greedy, METH_VARARGS, "greedy(boxes, out, iou, max_keep) -> count"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_nms", "Greedy NMS over score-ordered boxes.", -1, methods};

PyMODINIT_FUNC PyInit__nms(void) { return PyModule_Create(&module); }
