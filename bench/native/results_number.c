/* bench.native._results, part 2: a number token's digits -> the double Python's float() gives
 * for it, bit for bit (see results_json.c for the whole; results_json.h for the scanner).
 *
 * Clinger's fast path where one IEEE operation is exact (<= 2^53 as digits, |exponent| <= 22);
 * else an exact 128-bit integer computation for up to 18 digits and |exponent| <= 27 (the
 * 17-digit repr() floats of json.dump); else glibc's correctly rounded strtod_l in the "C"
 * locale; else 0, and the caller queues the token for Python's float().
 */
#include "results_json.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#if defined(__GLIBC__)
#include <locale.h>
#define HAVE_STRTOD_L 1
static locale_t c_locale = (locale_t)0; /* "C" numeric locale for strtod_l, made at import */
#endif

#if defined(__SIZEOF_INT128__)
#define HAVE_U128 1
__extension__ typedef unsigned __int128 u128; /* GCC, Clang */
#endif

#define MAX_EXACT (1ULL << 53)
#define MAX_STRTOD 128 /* longer tokens go to Python's float() */

#ifdef HAVE_U128
static const uint64_t POW5[28] = {
    1ULL, 5ULL, 25ULL, 125ULL, 625ULL, 3125ULL, 15625ULL, 78125ULL, 390625ULL, 1953125ULL,
    9765625ULL, 48828125ULL, 244140625ULL, 1220703125ULL, 6103515625ULL, 30517578125ULL,
    152587890625ULL, 762939453125ULL, 3814697265625ULL, 19073486328125ULL, 95367431640625ULL,
    476837158203125ULL, 2384185791015625ULL, 11920928955078125ULL, 59604644775390625ULL,
    298023223876953125ULL, 1490116119384765625ULL, 7450580596923828125ULL,
};

static inline int bit_length(u128 q)
{
    uint64_t hi = (uint64_t)(q >> 64), lo = (uint64_t)q;
    return hi ? 128 - __builtin_clzll(hi) : lo ? 64 - __builtin_clzll(lo) : 0;
}

/* q * 2^e2 rounded to the nearest double, ties to even; sticky: the true value lies a
 * little above q (a non-zero remainder below q's last bit, which must then be past bit 54).
 * The caller keeps the result in the normal range, so ldexp is exact. */
static double round_u128(u128 q, int sticky, int e2)
{
    int b = bit_length(q);
    if (b <= 53)
        return ldexp((double)(uint64_t)q, e2);
    int shift = b - 53;
    uint64_t mant = (uint64_t)(q >> shift);
    u128 rem = q & (((u128)1 << shift) - 1), half = (u128)1 << (shift - 1);
    if (rem > half || (rem == half && (sticky || (mant & 1))))
        mant++; /* 2^53 is still exact */
    return ldexp((double)mant, e2 + shift);
}

/* m * 10^e10 for 0 < m < 10^18, |e10| <= 27, correctly rounded: m * 5^e10 is an exact
 * 128-bit integer; for e10 < 0 the quotient m * 2^s / 5^k has >= 64 bits plus a sticky
 * remainder. The result lies in [1e-27, 1e46]: no overflow, no subnormals. */
static double exact_u128(uint64_t m, int e10)
{
    if (e10 >= 0)
        return round_u128((u128)m * POW5[e10], 0, e10);
    int k = -e10, s = 128 - bit_length(m);
    u128 num = (u128)m << s;
    u128 q = num / POW5[k];
    return round_u128(q, num % POW5[k] != 0, -s - k);
}
#endif

int results_to_double(const uint8_t *buf, const Num *x, Py_ssize_t start, Py_ssize_t end, int use_strtod, double *v)
{
    if (!x->big) {
        if (x->m == 0) { /* all digits zero: whatever the exponent */
            *v = x->neg ? -0.0 : 0.0;
            return 1;
        }
#if FLT_EVAL_METHOD == 0 /* doubles are rounded as doubles (not x87 extended) */
        static const double POW10[23] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                         1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
        if (x->m <= MAX_EXACT && x->e10 >= -22 && x->e10 <= 22) { /* Clinger's fast path */
            double d = (double)x->m;
            d = x->e10 >= 0 ? d * POW10[x->e10] : d / POW10[-x->e10];
            *v = x->neg ? -d : d;
            return 1;
        }
#endif
#ifdef HAVE_U128
        if (x->e10 >= -27 && x->e10 <= 27) {
            double d = exact_u128(x->m, (int)x->e10);
            *v = x->neg ? -d : d;
            return 1;
        }
#endif
    }
#ifdef HAVE_STRTOD_L
    if (use_strtod && c_locale != (locale_t)0 && end - start < MAX_STRTOD) {
        char tok[MAX_STRTOD];
        char *stop = NULL;
        memcpy(tok, buf + start, (size_t)(end - start));
        tok[end - start] = '\0';
        double d = strtod_l(tok, &stop, c_locale); /* overflow: +-inf, as Python's float() */
        if (stop == tok + (end - start)) {
            *v = d;
            return 1;
        }
    }
#else
    (void)buf, (void)start, (void)end, (void)use_strtod;
#endif
    return 0;
}

int results_number_init(void)
{
#ifdef HAVE_STRTOD_L
    if (c_locale == (locale_t)0)
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return c_locale != (locale_t)0;
#else
    return 0;
#endif
}
