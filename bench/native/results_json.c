/* bench.native._results: the COCO-results JSON fast path in C (a port of the numba
 * bench/data/fast_results.py + bench/data/json_scan.py; same accept/decline decisions).
 *
 * A file is accepted when it is a top-level list of objects, each with image_id and
 * category_id (JSON integers of at most 18 digits), bbox (4 numbers) and score (a number),
 * every known key spelled without escapes and given once. Values of other keys are skipped
 * but fully validated (strings with escapes and UTF-8, no raw control bytes, the number
 * grammar, nesting up to MAX_DEPTH). Anything else makes span() return 0 ("decline") and the
 * caller takes the general path.
 *
 * Numbers equal Python's float() of the token bit for bit (results_number.c); a token only
 * Python can convert goes on a "slow" list of positions that the Python wrapper reads.
 *
 * Arrays cross as plain buffers (no numpy headers); the scanning runs with the GIL released so
 * that two Python threads can read the two halves of a file at once (see results.py).
 * Every read of the input is preceded by a bounds check against its length n.
 */
#include "results_json.h"
#include "json_plain.h"

typedef struct {
    const uint8_t *buf; /* the whole file */
    Py_ssize_t n;
    int64_t *img, *cat; /* [row_cap] */
    double *xywh;       /* [row_cap, 4] */
    double *score;      /* [row_cap] */
    Py_ssize_t row_cap;
    SlowList slow; /* (start, end, row * 5 + column) for Python's float() */
    uint8_t stack[MAX_DEPTH]; /* open brackets of a skipped value */
} Scan;

/* ---- bytes --------------------------------------------------------------------------------- */

static inline int is_hex(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* Length of the well-formed UTF-8 sequence whose lead byte (>= 0x80) is at p, or -1.
 * Overlong forms, encoded surrogates and code points past U+10FFFF are refused (Unicode
 * Table 3-7); Python's json takes encoded surrogates, so refusing them only declines. */
static Py_ssize_t utf8_len(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    uint8_t c = b[p], lo = 0x80, hi = 0xBF;
    Py_ssize_t k;
    if (c >= 0xC2 && c <= 0xDF)
        k = 1;
    else if (c == 0xE0)
        k = 2, lo = 0xA0;
    else if (c == 0xED)
        k = 2, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF)
        k = 2;
    else if (c == 0xF0)
        k = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        k = 3;
    else if (c == 0xF4)
        k = 3, hi = 0x8F;
    else
        return -1;
    if (p + k >= n || b[p + 1] < lo || b[p + 1] > hi)
        return -1;
    for (Py_ssize_t j = 2; j <= k; j++)
        if (b[p + j] < 0x80 || b[p + j] > 0xBF)
            return -1;
    return k + 1;
}

/* Past the character at p (a plain byte, or a well-formed UTF-8 sequence), or -1. */
static inline Py_ssize_t next_char(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    if (b[p] < 128)
        return p + 1;
    Py_ssize_t k = utf8_len(b, n, p);
    return k < 0 ? -1 : p + k;
}

int json_put(const uint8_t *buf, SlowList *q, const Num *x, Py_ssize_t start, Py_ssize_t end, double *dst, Py_ssize_t flat)
{
    if (results_to_double(buf, x, start, end, q->use_strtod, dst))
        return 1;
    if (q->n >= q->cap)
        return 0;
    int64_t *e = q->at + 3 * q->n++;
    e[0] = start, e[1] = end, e[2] = flat;
    *dst = 0.0;
    return 1;
}

/* ---- strings, literals, skipped values ----------------------------------------------------- */

/* The JSON string whose opening quote is at p: the position after its closing quote, or -1
 * (a raw control byte, a bad escape, malformed UTF-8, no closing quote). */
static Py_ssize_t skip_string(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    p++;
    while (p < n) {
        while (p + 8 <= n && json_plain8(b + p, 1))  /* 8 plain ASCII bytes */
            p += 8;
        if (p >= n)
            break;
        uint8_t c = b[p];
        if (c == '"')
            return p + 1;
        if (c < 32)
            return -1;
        if (c == '\\') {
            if (p + 1 >= n)
                return -1;
            uint8_t e = b[p + 1];
            if (e == 'u') {
                if (p + 5 >= n)
                    return -1;
                for (int j = 2; j < 6; j++)
                    if (!is_hex(b[p + j]))
                        return -1;
                p += 6;
            } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
                p += 2;
            } else {
                return -1;
            }
        } else if ((p = next_char(b, n, p)) < 0) {
            return -1;
        }
    }
    return -1;
}

/* true / false / null at p: the position after it, or -1. */
static Py_ssize_t literal(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    static const char *const words[3] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        Py_ssize_t k = (Py_ssize_t)strlen(words[i]);
        if (p + k <= n && memcmp(b + p, words[i], (size_t)k) == 0)
            return p + k;
    }
    return -1;
}

/* Inside an object, at p a key, whitespace, ':' and whitespace: the value's position, or -1. */
static Py_ssize_t member_key(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    if (p >= n || b[p] != '"')
        return -1;
    p = skip_string(b, n, p);
    if (p < 0)
        return -1;
    p = ws(b, n, p);
    if (p >= n || b[p] != ':')
        return -1;
    return ws(b, n, p + 1);
}

/* Validate and skip any JSON value at p (past whitespace): the position after it, or -1 for
 * anything Python's json would refuse (or nesting deeper than MAX_DEPTH). Iterative: the
 * open brackets are kept on stack. */
Py_ssize_t json_skip_value(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, uint8_t *stack)
{
    int depth = 0;
    Num x;
    for (;;) {
        /* a value starts at p */
        if (p >= n)
            return -1;
        uint8_t c = b[p];
        if (c == '[' || c == '{') {
            if (depth >= MAX_DEPTH)
                return -1;
            stack[depth++] = c;
            p = ws(b, n, p + 1);
            if (p >= n)
                return -1;
            if (b[p] == c + 2) { /* '[' + 2 == ']', '{' + 2 == '}': empty */
                depth--;
                p++;
            } else {
                if (c == '{' && (p = member_key(b, n, p)) < 0)
                    return -1;
                continue; /* the first element or member value */
            }
        } else if (c == '"') {
            p = skip_string(b, n, p);
        } else if (c == 't' || c == 'f' || c == 'n') {
            p = literal(b, n, p);
        } else {
            p = scan_number(b, n, p, &x);
        }
        if (p < 0)
            return -1;
        /* a value ended at p: close containers until a ',' starts the next value */
        for (;;) {
            if (depth == 0)
                return p;
            p = ws(b, n, p);
            if (p >= n)
                return -1;
            uint8_t top = stack[depth - 1];
            c = b[p];
            if (c == ',') {
                p = ws(b, n, p + 1);
                if (top == '{' && (p = member_key(b, n, p)) < 0)
                    return -1;
                break;
            }
            if (c != top + 2)
                return -1;
            depth--;
            p++;
        }
    }
}

/* ---- records ------------------------------------------------------------------------------- */

enum { K_IMAGE, K_CATEGORY, K_BBOX, K_SCORE, K_OTHER };

/* The key whose opening quote is at p: the position after its closing quote with *code, or
 * -1 (an escape, which might spell a known key; a raw control byte; bad UTF-8; no quote). */
static Py_ssize_t key(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, int *code)
{
    static const char *const names[4] = {"image_id", "category_id", "bbox", "score"};
    static const Py_ssize_t lengths[4] = {8, 11, 4, 5};
    /* the known keys, spelled plainly, at once (any other spelling of them is found below) */
    for (int i = 0; i < 4; i++) {
        if (n - p >= lengths[i] + 2 && b[p + 1] == (uint8_t)names[i][0] && b[p + 1 + lengths[i]] == '"' &&
            memcmp(b + p + 1, names[i], (size_t)lengths[i]) == 0) {
            *code = i;
            return p + 2 + lengths[i];
        }
    }
    Py_ssize_t s = p + 1;
    if ((p = json_plain_key(b, n, p)) < 0)
        return -1;
    p--; /* at the closing quote */
    *code = K_OTHER;
    for (int i = 0; i < 4; i++) {
        if (p - s == lengths[i] && memcmp(b + s, names[i], (size_t)lengths[i]) == 0) {
            *code = i;
            break;
        }
    }
    return p + 1;
}

Py_ssize_t json_plain_key(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    p++;
    while (p < n && b[p] != '"') {
        uint8_t c = b[p];
        if (c < 32 || c == '\\' || (p = next_char(b, n, p)) < 0)
            return -1;
    }
    return p < n ? p + 1 : -1;
}

/* One results record (its opening brace at p) into row: the position after its closing
 * brace, or -1 when it is not in the fast path's shape. */
static Py_ssize_t record(Scan *s, Py_ssize_t p, Py_ssize_t row)
{
    const uint8_t *b = s->buf;
    Py_ssize_t n = s->n, end;
    unsigned seen = 0;
    int code, kind;
    Num x;
    if (p >= n || b[p] != '{')
        return -1;
    p++;
    do {
        p = ws(b, n, p);
        if (p >= n || b[p] != '"' || (p = key(b, n, p, &code)) < 0 || (p = json_colon(b, n, p)) < 0)
            return -1;
        if (code == K_OTHER) {
            if ((p = json_skip_value(b, n, p, s->stack)) < 0)
                return -1;
        } else {
            if (seen & (1u << code))
                return -1; /* a repeated key: let the general path decide */
            seen |= 1u << code;
            if (code == K_IMAGE || code == K_CATEGORY) {
                if ((end = scan_number(b, n, p, &x)) < 0 || !x.is_int || x.big)
                    return -1;
                int64_t v = x.neg ? -(int64_t)x.m : (int64_t)x.m;
                (code == K_IMAGE ? s->img : s->cat)[row] = v;
                p = end;
            } else if (code == K_SCORE) {
                if ((end = scan_number(b, n, p, &x)) < 0 || !json_put(b, &s->slow, &x, p, end, s->score + row, row * 5 + 4))
                    return -1;
                p = end;
            } else { /* bbox: '[' and four numbers */
                if (b[p] != '[')
                    return -1;
                p++;
                for (int j = 0; j < 4; j++) {
                    p = ws(b, n, p);
                    if (p >= n)
                        return -1;
                    if ((end = scan_number(b, n, p, &x)) < 0 || !json_put(b, &s->slow, &x, p, end, s->xywh + 4 * row + j, row * 5 + j))
                        return -1;
                    p = ws(b, n, end);
                    if (p >= n || b[p] != (j < 3 ? ',' : ']'))
                        return -1;
                    p++;
                }
            }
        }
        p = json_next_sep(b, n, p, '}', &kind);
        if (kind < 0)
            return -1;
    } while (kind == 0);
    return seen == 15 ? p : -1;
}

/* Records from p (an opening brace) up to stop: the span must end exactly there after a
 * comma (or, last, at the closing bracket and the end of the file). 1 when it does (rows
 * parsed in *rows), else 0. */
static int span(Scan *s, Py_ssize_t p, Py_ssize_t stop, int last, Py_ssize_t *rows)
{
    const uint8_t *b = s->buf;
    Py_ssize_t n = s->n;
    int kind;
    for (*rows = 0;; ) {
        /* a record here has its own '{' before stop, counted in row_cap; so running out of
         * rows means no record here: the same decline as record()'s */
        if (*rows >= s->row_cap || (p = record(s, p, *rows)) < 0)
            return 0;
        ++*rows;
        p = json_next_sep(b, n, p, ']', &kind);
        if (kind < 0)
            return 0;
        p = ws(b, n, p);
        if (kind == 1)
            return last && p == n;
        if (p >= stop)
            return !last && p == stop;
    }
}

/* The first '{' at or after p whose previous non-space byte is ',' (a plausible record start;
 * the caller proves it by parsing up to it), or n. */
static Py_ssize_t record_start_after(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    for (; p < n; p++) {
        if (b[p] != '{' || p == 0)
            continue;
        Py_ssize_t q = p - 1;
        while (q > 0 && (b[q] == ' ' || b[q] == '\n' || b[q] == '\r' || b[q] == '\t'))
            q--;
        if (b[q] == ',')
            return p;
    }
    return n;
}

static Py_ssize_t count_braces(const uint8_t *b, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t k = 0, i = from;
    while (to - i >= 255) { /* a byte-wide count per block cannot overflow: the loop vectorizes */
        uint8_t c = 0;
        for (int j = 0; j < 255; j++)
            c += b[i + j] == '{';
        k += c;
        i += 255;
    }
    for (; i < to; i++)
        k += b[i] == '{';
    return k;
}

/* ---- Python API ---------------------------------------------------------------------------- */

PyDoc_STRVAR(plan_doc,
    "plan(data, min_split) -> (status, start, mid, braces0, braces1)\n\n"
    "status 0: not a list (decline); 1: an empty list, nothing else (accept, no rows); 2: records\n"
    "from start. mid: where the second half starts (a plausible record start), len(data) for one\n"
    "pass (always when fewer than min_split bytes follow start). braces0 / braces1: the '{' count\n"
    "in [start, mid) / [mid, len): row capacities of the halves.");

static PyObject *py_plan(PyObject *self, PyObject *args)
{
    Py_buffer d;
    Py_ssize_t min_split, p, mid, c0 = 0, c1 = 0;
    int status = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &d, &min_split))
        return NULL;
    const uint8_t *b = d.buf;
    Py_ssize_t n = d.len;
    mid = n;
    Py_BEGIN_ALLOW_THREADS
    p = ws(b, n, 0);
    if (p < n && b[p] == '[') {
        p = ws(b, n, p + 1);
        if (p < n && b[p] == ']') {
            status = ws(b, n, p + 1) == n;
        } else {
            status = 2;
            if (n - p >= min_split)
                mid = record_start_after(b, n, p + (n - p) / 2);
            c0 = count_braces(b, p, mid);
            c1 = count_braces(b, mid, n);
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&d);
    return Py_BuildValue("innnn", status, p, mid, c0, c1);
}

PyDoc_STRVAR(span_doc,
    "span(data, start, stop, last, img, cat, xywh, score, slow, use_strtod) -> (ok, rows, n_slow)\n\n"
    "Parse the records from start (an opening brace) up to stop into row 0.. of the writable\n"
    "buffers img / cat (int64), xywh (float64 [rows, 4]), score (float64); numbers that need\n"
    "Python's float() leave (start, end, row * 5 + column) triples in slow (int64 [k, 3]).\n"
    "ok: the records end exactly at stop after a comma (last: at the closing bracket and the\n"
    "end of data). Runs without the GIL.");

static PyObject *py_span(PyObject *self, PyObject *args)
{
    Py_buffer d, img, cat, xywh, score, slow;
    Py_ssize_t start, stop, rows = 0;
    int last, use_strtod, ok = 0;
    Scan *s;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnpw*w*w*w*w*p", &d, &start, &stop, &last, &img, &cat, &xywh, &score, &slow, &use_strtod))
        return NULL;
    s = PyMem_RawMalloc(sizeof(Scan));
    if (s == NULL) {
        PyErr_NoMemory();
    } else if (start < 0 || stop < start || stop > d.len) {
        PyErr_SetString(PyExc_ValueError, "span: start/stop outside the data");
    } else {
        s->buf = d.buf, s->n = d.len;
        s->img = img.buf, s->cat = cat.buf, s->xywh = xywh.buf, s->score = score.buf, s->slow.at = slow.buf;
        s->row_cap = img.len / 8;
        if (cat.len / 8 < s->row_cap)
            s->row_cap = cat.len / 8;
        if (xywh.len / 32 < s->row_cap)
            s->row_cap = xywh.len / 32;
        if (score.len / 8 < s->row_cap)
            s->row_cap = score.len / 8;
        s->slow.n = 0, s->slow.cap = slow.len / 24, s->slow.use_strtod = use_strtod;
        Py_BEGIN_ALLOW_THREADS
        ok = span(s, start, stop, last, &rows);
        Py_END_ALLOW_THREADS
    }
    Py_ssize_t ns = s ? s->slow.n : 0;
    PyMem_RawFree(s);
    PyBuffer_Release(&d), PyBuffer_Release(&img), PyBuffer_Release(&cat);
    PyBuffer_Release(&xywh), PyBuffer_Release(&score), PyBuffer_Release(&slow);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("Onn", ok ? Py_True : Py_False, rows, ns);
}

static PyMethodDef methods[] = {
    {"plan", py_plan, METH_VARARGS, plan_doc},
    {"span", py_span, METH_VARARGS, span_doc},
    {"gt_top", gt_py_top, METH_VARARGS, gt_top_doc},
    {"gt_span", gt_py_span, METH_VARARGS, gt_span_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_results",
    "COCO results JSON -> columns (C port of bench.data.fast_results; see results_json.c).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__results(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    int have_strtod = results_number_init();
    if (PyModule_AddIntConstant(m, "HAVE_STRTOD", have_strtod) < 0 || PyModule_AddIntConstant(m, "MAX_DEPTH", MAX_DEPTH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
