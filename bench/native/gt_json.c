/* The ground-truth fast path of bench.native._results: the "annotations" array of a COCO /
 * LVIS file into columns, for box scoring (bench/data/fast_gt.py is its Python side).
 *
 * gt_top walks the top-level object's members (keys spelled without escapes; values skipped
 * with full validation) and stops at the "annotations" member; gt_span reads that array. An
 * annotation is accepted when it is an object whose id, image_id and category_id are JSON
 * integers of at most 18 digits, bbox is 4 numbers, area (optional) a number, iscrowd and
 * ignore (optional) integers, each known key spelled without escapes and given once; other
 * keys (segmentation, ...) are skipped but validated. Anything else declines (the caller then
 * reads the file with the general path, which names the offending record). Numbers equal
 * Python's float() bit for bit (results_number.c); a token only Python can convert is queued
 * as (start, end, row * 5 + column) on the slow list, columns 0-3 bbox and 4 area.
 * Runs with the GIL released. Every read of the input is bounds-checked against n.
 */
#include "results_json.h"

enum { G_ID, G_IMAGE, G_CATEGORY, G_BBOX, G_AREA, G_CROWD, G_IGNORE, G_OTHER, G_KNOWN = G_OTHER };
#define G_REQUIRED ((1u << G_ID) | (1u << G_IMAGE) | (1u << G_CATEGORY) | (1u << G_BBOX))

static const char *const gt_names[G_KNOWN] = {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "ignore"};

typedef struct {
    const uint8_t *buf;
    Py_ssize_t n;
    int64_t *id, *img, *cat; /* [row_cap] */
    double *xywh;            /* [row_cap, 4] */
    double *area;            /* [row_cap] (0 where missing) */
    uint8_t *crowd, *ignore; /* [row_cap] 0 / 1 */
    uint8_t *seen;           /* [row_cap] bit 0: area given, bit 1: iscrowd given */
    Py_ssize_t row_cap;
    SlowList slow;
    uint8_t stack[MAX_DEPTH];
} GtScan;

/* The key at p (its opening quote): the position after it with *code, or -1. */
static Py_ssize_t gt_key(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, int *code)
{
    Py_ssize_t s = p + 1;
    if ((p = json_plain_key(b, n, p)) < 0)
        return -1;
    *code = G_OTHER;
    for (int i = 0; i < G_KNOWN; i++) {
        size_t k = strlen(gt_names[i]);
        if ((size_t)(p - 1 - s) == k && memcmp(b + s, gt_names[i], k) == 0) {
            *code = i;
            break;
        }
    }
    return p;
}

/* An integer token at p into *v: the position after it, or -1. */
static Py_ssize_t gt_int(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, int64_t *v)
{
    Num x;
    Py_ssize_t end = scan_number(b, n, p, &x);
    if (end < 0 || !x.is_int || x.big)
        return -1;
    *v = x.neg ? -(int64_t)x.m : (int64_t)x.m;
    return end;
}

/* One annotation (its opening brace at p) into row: the position after it, or -1. */
static Py_ssize_t gt_record(GtScan *s, Py_ssize_t p, Py_ssize_t row)
{
    const uint8_t *b = s->buf;
    Py_ssize_t n = s->n, end;
    unsigned seen = 0;
    int code, kind;
    int64_t v;
    Num x;
    if (p >= n || b[p] != '{')
        return -1;
    s->area[row] = 0.0, s->crowd[row] = 0, s->ignore[row] = 0;
    p++;
    do {
        p = ws(b, n, p);
        if (p >= n || b[p] != '"' || (p = gt_key(b, n, p, &code)) < 0 || (p = json_colon(b, n, p)) < 0)
            return -1;
        if (code == G_OTHER) {
            if ((p = json_skip_value(b, n, p, s->stack)) < 0)
                return -1;
        } else if (seen & (1u << code)) {
            return -1; /* a repeated key: the general path decides */
        } else if (code == G_BBOX) {
            seen |= 1u << code;
            if (b[p] != '[')
                return -1;
            p++;
            for (int j = 0; j < 4; j++) {
                p = ws(b, n, p);
                if (p >= n || (end = scan_number(b, n, p, &x)) < 0 || !json_put(b, &s->slow, &x, p, end, s->xywh + 4 * row + j, row * 5 + j))
                    return -1;
                p = ws(b, n, end);
                if (p >= n || b[p] != (j < 3 ? ',' : ']'))
                    return -1;
                p++;
            }
        } else if (code == G_AREA) {
            seen |= 1u << code;
            if ((end = scan_number(b, n, p, &x)) < 0 || !json_put(b, &s->slow, &x, p, end, s->area + row, row * 5 + 4))
                return -1;
            p = end;
        } else {
            seen |= 1u << code;
            if ((p = gt_int(b, n, p, &v)) < 0)
                return -1;
            if (code == G_ID)
                s->id[row] = v;
            else if (code == G_IMAGE)
                s->img[row] = v;
            else if (code == G_CATEGORY)
                s->cat[row] = v;
            else
                (code == G_CROWD ? s->crowd : s->ignore)[row] = v != 0;
        }
        p = json_next_sep(b, n, p, '}', &kind);
        if (kind < 0)
            return -1;
    } while (kind == 0);
    s->seen[row] = (uint8_t)(((seen >> G_AREA) & 1) | (((seen >> G_CROWD) & 1) << 1));
    return (seen & G_REQUIRED) == G_REQUIRED ? p : -1;
}

/* The array at p: its annotations into rows; the position after ']' (*rows set), or -1. */
static Py_ssize_t gt_array(GtScan *s, Py_ssize_t p, Py_ssize_t *rows)
{
    const uint8_t *b = s->buf;
    Py_ssize_t n = s->n;
    int kind;
    *rows = 0;
    if (p >= n || b[p] != '[')
        return -1;
    p = ws(b, n, p + 1);
    if (p < n && b[p] == ']')
        return p + 1;
    for (;;) {
        if (*rows >= s->row_cap || (p = gt_record(s, p, *rows)) < 0)
            return -1;
        ++*rows;
        p = json_next_sep(b, n, p, ']', &kind);
        if (kind < 0)
            return -1;
        if (kind == 1)
            return p;
        p = ws(b, n, p);
    }
}

/* Top-level members from p: at the start of the file (first) or just after a member's value.
 * 1 with *at the "annotations" value's position; 2 when the object closes and only whitespace
 * follows; 0 to decline (not an object, an escaped key, invalid JSON). */
static int gt_members(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, int first, Py_ssize_t *at, uint8_t *stack)
{
    int kind;
    if (first) {
        p = ws(b, n, p);
        if (p >= n || b[p] != '{')
            return 0;
        p = ws(b, n, p + 1);
        if (p < n && b[p] == '}')
            return ws(b, n, p + 1) == n ? 2 : 0;
    }
    for (;; first = 0) {
        if (!first) { /* after a member's value: a ',' and the next member, or the end */
            p = json_next_sep(b, n, p, '}', &kind);
            if (kind < 0)
                return 0;
            if (kind == 1)
                return ws(b, n, p) == n ? 2 : 0;
            p = ws(b, n, p);
        }
        Py_ssize_t s = p + 1;
        if (p >= n || b[p] != '"' || (p = json_plain_key(b, n, p)) < 0)
            return 0;
        int is_ann = p - 1 - s == 11 && memcmp(b + s, "annotations", 11) == 0;
        if ((p = json_colon(b, n, p)) < 0)
            return 0;
        if (is_ann) {
            *at = p;
            return 1;
        }
        if ((p = json_skip_value(b, n, p, stack)) < 0)
            return 0;
    }
}

const char gt_top_doc[] =
    "gt_top(data, start, first) -> (status, at)\n\n"
    "Walk the top-level object's members from start (first: the file's start; else just after a\n"
    "member's value). status 1: the \"annotations\" member's value is at `at`; 2: the object\n"
    "ended (no such member); 0: decline. Runs without the GIL.";

PyObject *gt_py_top(PyObject *self, PyObject *args)
{
    Py_buffer d;
    Py_ssize_t start, at = -1;
    int first, status = 0;
    uint8_t *stack;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*np", &d, &start, &first))
        return NULL;
    stack = PyMem_RawMalloc(MAX_DEPTH);
    if (stack == NULL) {
        PyBuffer_Release(&d);
        return PyErr_NoMemory();
    }
    if (start >= 0 && start <= d.len) {
        Py_BEGIN_ALLOW_THREADS
        status = gt_members(d.buf, d.len, start, first, &at, stack);
        Py_END_ALLOW_THREADS
    }
    PyMem_RawFree(stack);
    PyBuffer_Release(&d);
    return Py_BuildValue("in", status, at);
}

const char gt_span_doc[] =
    "gt_span(data, start, ids, img, cat, xywh, area, crowd, ignore, seen, slow, use_strtod)\n"
    "-> (end, rows, n_slow)\n\n"
    "Read the annotations array at start into the writable buffers (int64 ids / img / cat,\n"
    "float64 xywh [rows, 4] and area, uint8 crowd / ignore / seen); end: the position after\n"
    "']', or -1 to decline. Runs without the GIL.";

PyObject *gt_py_span(PyObject *self, PyObject *args)
{
    Py_buffer d, bufs[9];
    Py_ssize_t start, end = -1, rows = 0;
    int use_strtod;
    GtScan *s;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nw*w*w*w*w*w*w*w*w*p", &d, &start, &bufs[0], &bufs[1], &bufs[2], &bufs[3], &bufs[4],
                          &bufs[5], &bufs[6], &bufs[7], &bufs[8], &use_strtod))
        return NULL;
    s = PyMem_RawMalloc(sizeof(GtScan));
    if (s == NULL) {
        PyErr_NoMemory();
    } else if (start < 0 || start > d.len) {
        PyErr_SetString(PyExc_ValueError, "gt_span: start outside the data");
    } else {
        s->buf = d.buf, s->n = d.len;
        s->id = bufs[0].buf, s->img = bufs[1].buf, s->cat = bufs[2].buf, s->xywh = bufs[3].buf, s->area = bufs[4].buf;
        s->crowd = bufs[5].buf, s->ignore = bufs[6].buf, s->seen = bufs[7].buf, s->slow.at = bufs[8].buf;
        Py_ssize_t caps[8] = {bufs[0].len / 8, bufs[1].len / 8, bufs[2].len / 8, bufs[3].len / 32,
                              bufs[4].len / 8, bufs[5].len, bufs[6].len, bufs[7].len};
        s->row_cap = caps[0];
        for (int i = 1; i < 8; i++)
            if (caps[i] < s->row_cap)
                s->row_cap = caps[i];
        s->slow.n = 0, s->slow.cap = bufs[8].len / 24, s->slow.use_strtod = use_strtod;
        Py_BEGIN_ALLOW_THREADS
        end = gt_array(s, start, &rows);
        Py_END_ALLOW_THREADS
    }
    Py_ssize_t ns = s ? s->slow.n : 0;
    PyMem_RawFree(s);
    PyBuffer_Release(&d);
    for (int i = 0; i < 9; i++)
        PyBuffer_Release(&bufs[i]);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("nnn", end, rows, ns);
}
