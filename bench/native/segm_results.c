/* bench.native._segm_results: the masks of a COCO results JSON file, found without building
 * Python objects.
 *
 * scan(data, starts, ends, sizes, escaped, cap) walks the top-level array of records and, in
 * each, the value of the key "segmentation", which must be exactly {"size": [h, w], "counts":
 * "..."} (both keys once, any order; h and w plain non-negative integers). It records where each
 * counts string's characters are in data ([starts[i], ends[i])), the size, and whether the
 * string holds the escape "\\" (the only escape accepted inside counts; the decoder in
 * rle.c reads it as one backslash). Every other value is skipped, and checked as JSON while
 * skipped (strings, escapes, numbers' characters, literals, nesting). Anything else declines
 * (status 0): a record without or with two "segmentation" keys, another shape of mask, an escape
 * in a key, a non-ASCII or control byte in counts, a syntax error. The general path (orjson and
 * Python) then reads the file and names any error; this reader never raises for the file's
 * content. The box columns come from bench.native._results, which skips "segmentation".
 * GIL released while scanning.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "json_plain.h"

typedef struct {
    const uint8_t *s;
    int64_t p, n;
} cur_t;

static inline void ws(cur_t *c)
{
    while (c->p < c->n && (c->s[c->p] == ' ' || c->s[c->p] == '\n' || c->s[c->p] == '\r' || c->s[c->p] == '\t'))
        c->p++;
}

static inline int hexd(uint8_t b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F');
}

/* Whether b is one of a JSON number's characters: digits, '.', 'e', 'E' and, with signs, '+' and
 * '-' (a class test in place of strchr on a set: ~2 % of the whole segm evaluation's CPU). */
static inline int number_char(uint8_t b, int signs)
{
    return (b >= '0' && b <= '9') || b == '.' || b == 'e' || b == 'E' || (signs && (b == '+' || b == '-'));
}

/* A JSON string at c->p (the opening quote): its content span; *escapes set when it holds any
 * escape. 0 on a syntax error (unterminated, control byte, bad escape). */
static int string_bits(cur_t *c, int64_t *start, int64_t *end, int *escapes, uint8_t *bits)
{
    if (c->p >= c->n || c->s[c->p] != '"')
        return 0;
    *start = ++c->p;
    *escapes = 0;
    uint8_t any = 0;
    while (c->p < c->n) {
        while (c->p + 8 <= c->n && json_plain8(c->s + c->p, 1))  /* 8 plain ASCII bytes: OR them in */
            c->p += 8;
        uint8_t b = c->s[c->p];
        any |= b;
        if (b == '"') {
            *end = c->p++;
            *bits = any;
            return 1;
        }
        if (b < 0x20)
            return 0;
        if (b == '\\') {
            *escapes = 1;
            if (c->p + 1 >= c->n)
                return 0;
            uint8_t e = c->s[c->p + 1];
            if (e == 'u') {
                if (c->p + 5 >= c->n || !hexd(c->s[c->p + 2]) || !hexd(c->s[c->p + 3]) || !hexd(c->s[c->p + 4]) ||
                    !hexd(c->s[c->p + 5]))
                    return 0;
                c->p += 6;
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't')
                return 0;
            c->p += 2;
            continue;
        }
        c->p++;
    }
    return 0;
}

/* string_bits without the OR of its bytes. */
static int string(cur_t *c, int64_t *start, int64_t *end, int *escapes)
{
    uint8_t bits;
    return string_bits(c, start, end, escapes, &bits);
}

/* Skip any JSON value; 0 on a syntax error. depth bounds the nesting. */
static int skip_value(cur_t *c, int depth)
{
    int64_t a, b;
    int e;
    ws(c);
    if (c->p >= c->n || depth > 64)
        return 0;
    uint8_t x = c->s[c->p];
    if (x == '"')
        return string(c, &a, &b, &e);
    if (x == '{' || x == '[') {
        uint8_t close = x == '{' ? '}' : ']';
        c->p++;
        ws(c);
        if (c->p < c->n && c->s[c->p] == close) {
            c->p++;
            return 1;
        }
        for (;;) {
            if (x == '{') {
                ws(c);
                if (!string(c, &a, &b, &e))
                    return 0;
                ws(c);
                if (c->p >= c->n || c->s[c->p] != ':')
                    return 0;
                c->p++;
            }
            if (!skip_value(c, depth + 1))
                return 0;
            ws(c);
            if (c->p >= c->n)
                return 0;
            if (c->s[c->p] == ',') {
                c->p++;
                continue;
            }
            if (c->s[c->p] == close) {
                c->p++;
                return 1;
            }
            return 0;
        }
    }
    static const char *lits[3] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t L = strlen(lits[i]);
        if (c->p + (int64_t)L <= c->n && memcmp(c->s + c->p, lits[i], L) == 0) {
            c->p += (int64_t)L;
            return 1;
        }
    }
    int64_t s0 = c->p;
    while (c->p < c->n && number_char(c->s[c->p], 1))
        c->p++;
    return c->p > s0;  /* a number's characters (orjson checks its grammar on the general path) */
}

/* A plain non-negative integer (digits only, at most 18). */
static int uint_value(cur_t *c, int64_t *out)
{
    ws(c);
    int64_t v = 0, s0 = c->p;
    while (c->p < c->n && c->s[c->p] >= '0' && c->s[c->p] <= '9' && c->p - s0 < 18)
        v = v * 10 + (c->s[c->p++] - '0');
    if (c->p == s0 || (c->p < c->n && number_char(c->s[c->p], 0)))
        return 0;
    if (c->p - s0 > 1 && c->s[s0] == '0')
        return 0;  /* a leading zero: not JSON */
    *out = v;
    return 1;
}

static int expect(cur_t *c, uint8_t b)
{
    ws(c);
    if (c->p < c->n && c->s[c->p] == b) {
        c->p++;
        return 1;
    }
    return 0;
}

static int key_is(const cur_t *c, int64_t a, int64_t b, const char *k)
{
    return (size_t)(b - a) == strlen(k) && memcmp(c->s + a, k, (size_t)(b - a)) == 0;
}

/* {"size": [h, w], "counts": "..."}; 0 when the mask has another shape. */
static int mask(cur_t *c, int64_t *start, int64_t *end, int64_t *h, int64_t *w, uint8_t *escaped)
{
    int have_size = 0, have_counts = 0;
    if (!expect(c, '{'))
        return 0;
    for (int i = 0; i < 2; i++) {
        int64_t a, b;
        int e;
        ws(c);
        if (!string(c, &a, &b, &e) || e || !expect(c, ':'))
            return 0;
        if (key_is(c, a, b, "size") && !have_size) {
            have_size = 1;
            if (!expect(c, '[') || !uint_value(c, h) || !expect(c, ',') || !uint_value(c, w) || !expect(c, ']'))
                return 0;
        } else if (key_is(c, a, b, "counts") && !have_counts) {
            have_counts = 1;
            uint8_t bits;
            ws(c);
            if (!string_bits(c, start, end, &e, &bits) || (bits & 0x80))
                return 0;  /* non-ASCII: the general path's reading of it decides */
            for (int64_t p = *start; e && p < *end; p++) {
                if (c->s[p] == '\\') {
                    if (c->s[p + 1] != '\\')
                        return 0;
                    p++;
                }
            }
            *escaped = (uint8_t)e;
        } else {
            return 0;
        }
        if (i == 0 && !expect(c, ','))
            return 0;
    }
    return expect(c, '}');
}

/* The scan itself: 1 and *rows, or 0 (decline). */
static int scan(const uint8_t *s, int64_t n, int64_t *starts, int64_t *ends, int64_t *sizes, uint8_t *escaped,
                int64_t cap, int64_t *rows)
{
    cur_t c = {s, 0, n};
    int64_t r = 0;
    if (!expect(&c, '['))
        return 0;
    ws(&c);
    if (c.p < n && s[c.p] == ']') {
        c.p++;
    } else {
        for (;;) {
            if (!expect(&c, '{') || r >= cap)
                return 0;
            int found = 0;
            ws(&c);
            if (c.p < n && s[c.p] == '}') {
                return 0;  /* a record without a mask */
            }
            for (;;) {
                int64_t a, b;
                int e;
                ws(&c);
                if (!string(&c, &a, &b, &e) || e || !expect(&c, ':'))
                    return 0;
                if (key_is(&c, a, b, "segmentation")) {
                    if (found || !mask(&c, starts + r, ends + r, sizes + 2 * r, sizes + 2 * r + 1, escaped + r))
                        return 0;
                    found = 1;
                } else if (!skip_value(&c, 1)) {
                    return 0;
                }
                if (expect(&c, ','))
                    continue;
                if (expect(&c, '}'))
                    break;
                return 0;
            }
            if (!found)
                return 0;
            r++;
            if (expect(&c, ','))
                continue;
            if (expect(&c, ']'))
                break;
            return 0;
        }
    }
    ws(&c);
    if (c.p != n)
        return 0;
    *rows = r;
    return 1;
}

/* scan(data, starts i64 [cap], ends i64 [cap], sizes i64 [2 cap], escaped u8 [cap], cap) -> (ok, rows) */
static PyObject *py_scan(PyObject *self, PyObject *args)
{
    Py_buffer d, b[4];
    PyObject *o[4];
    long long cap;
    int ok = 0, nb = 0;
    int64_t rows = 0;
    if (!PyArg_ParseTuple(args, "y*OOOOL", &d, &o[0], &o[1], &o[2], &o[3], &cap))
        return NULL;
    const Py_ssize_t need[4] = {cap * 8, cap * 8, cap * 16, cap};
    for (; nb < 4; nb++) {
        if (PyObject_GetBuffer(o[nb], &b[nb], PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0)
            goto done;
        if (b[nb].len < need[nb]) {
            nb++;
            PyErr_SetString(PyExc_ValueError, "an output buffer is shorter than cap");
            goto done;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    ok = scan((const uint8_t *)d.buf, (int64_t)d.len, b[0].buf, b[1].buf, b[2].buf, b[3].buf, cap, &rows);
    Py_END_ALLOW_THREADS
done:
    for (int i = 0; i < nb; i++)
        PyBuffer_Release(&b[i]);
    PyBuffer_Release(&d);
    if (PyErr_Occurred())
        return NULL;
    return Py_BuildValue("(iL)", ok, (long long)rows);
}

static PyMethodDef methods[] = {
    {"scan", py_scan, METH_VARARGS, "Find each record's compressed RLE in a results JSON file (GIL released)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_segm_results", "The masks of a COCO results JSON file.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__segm_results(void) { return PyModule_Create(&module); }
