/* bench.native._curves: the best-F1 operating point of every category, in one pass.
 *
 * best_f1(status, scores, cat_start, cat_end, npos, has, f1, precision, recall, score)
 *   status int8 [D] (0 FP, 1 TP, 2 ignored), scores float64 [D] (non-increasing inside a
 *   category), cat_start/cat_end/npos int64 [K]; outputs per category: has int8 [K] and
 *   float64 [K] f1, precision, recall, score.
 *
 * Equal to bench.metrics.curves.best_f1_per_category: ignored detections are dropped; a
 * point is taken at the last counted detection of each run of equal scores; recall tp / n,
 * precision tp / (tp + fp), F1 2 * p * r / (p + r) (0 where p + r is 0), the same IEEE
 * operations in the same order; the first point reaching the maximum F1 wins; categories
 * with no ground truth to find get none (has = 0).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

typedef struct {
    const int8_t *status;
    const double *scores;
    const int64_t *start, *end, *npos;
    int64_t n_cat;
    int8_t *has;
    double *f1, *prec, *rec, *score;
} f1_args;

static void consider(const f1_args *a, int64_t k, double tp, double fp, double s, double *best)
{
    double n = (double)a->npos[k];
    double r = tp / n;
    double p = tp / (tp + fp);
    double denom = p + r;
    double f = denom > 0 ? 2.0 * p * r / denom : 0.0;
    if (!a->has[k] || f > *best) {
        a->has[k] = 1;
        *best = f;
        a->f1[k] = f;
        a->prec[k] = p;
        a->rec[k] = r;
        a->score[k] = s;
    }
}

static void run(const f1_args *a)
{
    for (int64_t k = 0; k < a->n_cat; k++) {
        a->has[k] = 0;
        if (a->npos[k] <= 0)
            continue;
        double tp = 0.0, fp = 0.0, best = 0.0;
        double last_tp = 0.0, last_fp = 0.0, last_s = 0.0;
        int pending = 0; /* a counted detection whose run may still continue */
        for (int64_t j = a->start[k]; j < a->end[k]; j++) {
            int8_t st = a->status[j];
            if (st == 2)
                continue;
            double s = a->scores[j];
            if (pending && s != last_s) /* the previous counted detection ended its run */
                consider(a, k, last_tp, last_fp, last_s, &best);
            if (st == 1)
                tp += 1.0;
            else
                fp += 1.0;
            last_tp = tp;
            last_fp = fp;
            last_s = s;
            pending = 1;
        }
        if (pending)
            consider(a, k, last_tp, last_fp, last_s, &best);
    }
}

static PyObject *best_f1(PyObject *self, PyObject *args)
{
    (void)self;
    Py_buffer b[10];
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*w*w*w*w*w*", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &b[6], &b[7], &b[8], &b[9]))
        return NULL;
    Py_ssize_t d = b[0].len, k = b[2].len / 8;
    int ok = b[1].len == d * 8 && b[2].len == k * 8 && b[3].len == k * 8 && b[4].len == k * 8 && b[5].len == k
             && b[6].len == k * 8 && b[7].len == k * 8 && b[8].len == k * 8 && b[9].len == k * 8;
    const int64_t *start = b[2].buf, *end = b[3].buf;
    for (Py_ssize_t i = 0; ok && i < k; i++)
        ok = start[i] >= 0 && start[i] <= end[i] && end[i] <= d;
    if (ok) {
        f1_args a = {b[0].buf, b[1].buf, start, end, b[4].buf, k, b[5].buf, b[6].buf, b[7].buf, b[8].buf, b[9].buf};
        Py_BEGIN_ALLOW_THREADS
        run(&a);
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < 10; i++)
        PyBuffer_Release(&b[i]);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "best_f1: buffers of the wrong sizes or category spans outside the detections");
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"best_f1", best_f1, METH_VARARGS,
     "best_f1(status, scores, cat_start, cat_end, npos, has, f1, precision, recall, score)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_curves", "Best-F1 operating points per category.", -1, methods};

PyMODINIT_FUNC PyInit__curves(void) { return PyModule_Create(&module); }
