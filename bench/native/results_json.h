/* Shared by the two C files of bench.native._results (results_json.c: scanning and the
 * Python API; results_number.c: exact number conversion): the number token scanner, inline
 * because it is the innermost loop. All reads are bounds-checked against n. */
#ifndef DETBENCH_RESULTS_JSON_H
#define DETBENCH_RESULTS_JSON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#define MAX_SIG 18 /* significant digits kept in a mantissa (< 2^63) */

/* A number token: its value is (-1)^neg * m * 10^e10 unless big (more than MAX_SIG
 * significant digits, m then holds only the first ones). */
typedef struct {
    uint64_t m;
    int64_t e10;
    int neg, big, is_int;
} Num;

/* Python's float() of the token [start, end) of buf whose digits are x: 1 with *v set,
 * or 0 when only Python can say (the caller queues it). use_strtod: may call strtod_l. */
int results_to_double(const uint8_t *buf, const Num *x, Py_ssize_t start, Py_ssize_t end, int use_strtod, double *v);

#define MAX_DEPTH 256 /* nesting within a skipped value; deeper declines */

/* Validate and skip any JSON value at p: the position after it, or -1 (results_json.c). */
Py_ssize_t json_skip_value(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, uint8_t *stack);

/* The key whose opening quote is at p, spelled without escapes: the position after its
 * closing quote, or -1 (an escape, a raw control byte, bad UTF-8, no closing quote). */
Py_ssize_t json_plain_key(const uint8_t *b, Py_ssize_t n, Py_ssize_t p);

/* Numbers only Python's float() can convert, queued as (start, end, flat index) triples. */
typedef struct {
    int64_t *at; /* [cap, 3] */
    Py_ssize_t n, cap;
    int use_strtod;
} SlowList;

/* Store the number token [start, end) of buf into *dst, or queue it on q with flat index
 * `flat` (*dst set to 0); 0 when q is full (results_json.c). */
int json_put(const uint8_t *buf, SlowList *q, const Num *x, Py_ssize_t start, Py_ssize_t end, double *dst, Py_ssize_t flat);

/* gt_json.c: the ground-truth annotations reader, methods of the same module. */
extern const char gt_top_doc[], gt_span_doc[];
PyObject *gt_py_top(PyObject *self, PyObject *args);
PyObject *gt_py_span(PyObject *self, PyObject *args);

/* Made once at import: 1 when results_to_double can use strtod_l (glibc, "C" locale). */
int results_number_init(void);

static inline Py_ssize_t ws(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    if (p < n && b[p] > ' ')
        return p; /* the common case: no whitespace */
    while (p < n && (b[p] == ' ' || b[p] == '\n' || b[p] == '\r' || b[p] == '\t'))
        p++;
    return p;
}

static inline int is_digit(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    return p < n && b[p] >= '0' && b[p] <= '9';
}

#if defined(__GNUC__)
#define HOT_INLINE static inline __attribute__((always_inline))
#else
#define HOT_INLINE static inline
#endif

/* The 8 bytes at p (p + 8 <= n) as the value of 8 ASCII digits in *v, or 0 when they are not
 * all digits (SWAR: the first byte goes in the low bits whatever the machine's byte order). */
static inline int eight_digits(const uint8_t *b, Py_ssize_t p, uint64_t *v)
{
    uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(&w, b + p, 8);
#else
    for (int i = 7; i >= 0; i--)
        w = w << 8 | b[p + i];
#endif
    if (((w & 0xF0F0F0F0F0F0F0F0ULL) | (((w + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) != 0x3333333333333333ULL)
        return 0;
    w -= 0x3030303030303030ULL;
    w = w * 10 + (w >> 8); /* pairs of digits */
    w = (((w & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
         (((w >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
    *v = (uint32_t)w;
    return 1;
}

/* A run of digits into mantissa *m (the first MAX_SIG significant digits; more set *big)
 * and the power of ten *e10; fraction: the digits after '.'. */
HOT_INLINE Py_ssize_t digits(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, uint64_t *m, int *sig, int *big,
                                int64_t *e10, int fraction)
{
    Py_ssize_t q, limit;
    uint64_t v = *m, eight;
    if (*sig == 0) /* leading zeros are not significant (but move the point) */
        for (; p < n && b[p] == '0'; p++)
            *e10 -= fraction;
    /* significant digits, as many as fit in MAX_SIG: 8 at once, then one by one */
    limit = n - p > MAX_SIG - *sig ? p + (MAX_SIG - *sig) : n;
    for (q = p; limit - q >= 8 && eight_digits(b, q, &eight); q += 8)
        v = v * 100000000 + eight;
    for (; q < limit && b[q] >= '0' && b[q] <= '9'; q++)
        v = v * 10 + (uint64_t)(b[q] - '0');
    *m = v;
    *sig += (int)(q - p);
    *e10 -= fraction ? q - p : 0;
    /* digits past MAX_SIG: only their count matters, and only before the point */
    for (p = q; p < n && b[p] >= '0' && b[p] <= '9'; p++)
        ;
    if (p > q) {
        *big = 1;
        *e10 += fraction ? 0 : p - q;
    }
    return p;
}

/* The JSON number at p into x: the position after it, or -1 on a syntax error. */
HOT_INLINE Py_ssize_t scan_number(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, Num *x)
{
    uint64_t m = 0; /* locals, not x's fields: stores through x could alias b */
    int64_t e10 = 0;
    int sig = 0, big = 0, neg = 0, is_int = 1;
    if (p < n && b[p] == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(b, n, p) || (b[p] == '0' && is_digit(b, n, p + 1)))
        return -1; /* no digit, or a leading zero */
    p = digits(b, n, p, &m, &sig, &big, &e10, 0);
    if (p < n && b[p] == '.') {
        is_int = 0;
        if (!is_digit(b, n, p + 1))
            return -1;
        p = digits(b, n, p + 1, &m, &sig, &big, &e10, 1);
    }
    if (p < n && (b[p] == 'e' || b[p] == 'E')) {
        int eneg = 0;
        int64_t ex = 0;
        is_int = 0;
        p++;
        if (p < n && (b[p] == '+' || b[p] == '-')) {
            eneg = b[p] == '-';
            p++;
        }
        if (!is_digit(b, n, p))
            return -1;
        while (is_digit(b, n, p)) {
            if (ex < 10000)
                ex = ex * 10 + (b[p] - '0');
            p++;
        }
        e10 += eneg ? -ex : ex;
    }
    x->m = m, x->e10 = e10, x->neg = neg, x->big = big, x->is_int = is_int;
    return p;
}

/* After a member's key (p just past its closing quote): whitespace, ':' and whitespace; the
 * value's position, or -1. */
static inline Py_ssize_t json_colon(const uint8_t *b, Py_ssize_t n, Py_ssize_t p)
{
    p = ws(b, n, p);
    if (p >= n || b[p] != ':')
        return -1;
    p = ws(b, n, p + 1);
    return p < n ? p : -1;
}

/* After a member or element: the position past the separator with *kind 0 for ',' or 1 for
 * close; *kind -1 for anything else. */
static inline Py_ssize_t json_next_sep(const uint8_t *b, Py_ssize_t n, Py_ssize_t p, uint8_t close, int *kind)
{
    p = ws(b, n, p);
    *kind = p < n && b[p] == ',' ? 0 : p < n && b[p] == close ? 1 : -1;
    return *kind < 0 ? p : p + 1;
}

#endif
