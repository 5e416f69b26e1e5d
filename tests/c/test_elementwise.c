/*
 * test_elementwise.c - numeric checks of every elementwise op (the unary
 * and binary lists of kiln.h, round, where, clip): float32/float64 against
 * libm in long double, integer and bool semantics written out by hand,
 * float16/bfloat16 arithmetic through float32, broadcasting, rule errors,
 * large (threaded) arrays, buffer donation and non-contiguous views.
 * Conversions (astype) and promotion are in test_dtype.c.
 *
 * Tolerances of the transcendental functions are the iulp bounds of
 * docs/vmath.md (distance in representable values from the correctly
 * rounded result, as tests/c/test_vmath.c checks them) inside the domain
 * where they hold; outside it only NaN and infinities must agree.
 * Everything else is exact. The file is long because it is the one test
 * file of the elementwise family (about 65 ops by 13 dtypes).
 */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "kiln.h"
#include "ref.h"

#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))
#define BIG_DIST ((int64_t)1 << 40)

typedef kiln_array *(*un_fn)(kiln_array *);
typedef kiln_array *(*bin_fn)(kiln_array *, kiln_array *);

static const kiln_dtype all_dtypes[KILN_DTYPE_COUNT] = {
    KILN_DTYPE_BOOL,    KILN_DTYPE_UINT8,    KILN_DTYPE_UINT16,
    KILN_DTYPE_UINT32,  KILN_DTYPE_UINT64,   KILN_DTYPE_INT8,
    KILN_DTYPE_INT16,   KILN_DTYPE_INT32,    KILN_DTYPE_INT64,
    KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16, KILN_DTYPE_FLOAT32,
    KILN_DTYPE_FLOAT64};

static const kiln_dtype int_dtypes[8] = {
    KILN_DTYPE_UINT8, KILN_DTYPE_UINT16, KILN_DTYPE_UINT32,
    KILN_DTYPE_UINT64, KILN_DTYPE_INT8, KILN_DTYPE_INT16,
    KILN_DTYPE_INT32, KILN_DTYPE_INT64};

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

static bool has_shape(kiln_array *a, const int64_t *shape, int ndim)
{
    if (!a || kiln_array_ndim(a) != ndim) {
        return false;
    }
    for (int i = 0; i < ndim; i++) {
        if (kiln_array_shape(a)[i] != shape[i]) {
            return false;
        }
    }
    return true;
}

/* Monotonic integer image of a float (both zeros map to 0). */
static int64_t ford(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u >> 31) ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
}

static int64_t dord(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return (u >> 63) ? -(int64_t)(u & 0x7fffffffffffffffull) : (int64_t)u;
}

/* Distance in floats between y and ref rounded (once) to float; NaN and
 * infinities must match exactly. */
static int64_t fdist(float y, long double ref)
{
    float rf = (float)ref;
    if (isnan(rf) || isnan(y)) {
        return isnan(rf) && isnan(y) ? 0 : BIG_DIST;
    }
    if (isinf(rf) || isinf(y)) {
        return rf == y ? 0 : BIG_DIST;
    }
    int64_t d = ford(y) - ford(rf);
    return d < 0 ? -d : d;
}

static int64_t ddist(double y, long double ref)
{
    double rd = (double)ref;
    if (isnan(rd) || isnan(y)) {
        return isnan(rd) && isnan(y) ? 0 : BIG_DIST;
    }
    if (isinf(rd) || isinf(y)) {
        return rd == y ? 0 : BIG_DIST;
    }
    int64_t d = dord(y) - dord(rd);
    return d < 0 ? -d : d;
}

/* every float16 / bfloat16 value, decoded once (the checks below decode
 * millions of them) */

/* ------------------------------------------------------------------ */
/* input grids                                                        */
/* ------------------------------------------------------------------ */

/* float32 specials, domain edges, a log-spaced sweep of both signs from
 * the smallest subnormal to the largest float, and a dense uniform grid. */
static int64_t grid_f32(float *x, int64_t cap)
{
    static const float spec[] = {
        NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, FLT_MIN, -FLT_MIN,
        FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MAX, -FLT_MAX, 1.0f, -1.0f, 0.5f,
        -0.5f, 2.0f, -2.0f, 0x1.fffffep-1f, -0x1.fffffep-1f, 0x1.000002p0f,
        -0x1.000002p0f, 88.72f, 89.0f, 89.5f, -87.33f, -103.9f, -104.0f,
        -104.5f, 1e-8f, -1e-8f, 1e-30f, 3.14159265f, -3.14159265f,
        1.57079632f, 0x1p28f, -0x1p28f, 1e30f, 90.0f, -90.0f, 0.75f,
        -0.9999f, 0.9999f, 9.0f, -9.0f, 4.0f, 1e10f, -1e10f};
    int64_t n = 0;
    for (int64_t i = 0; i < NELEM(spec) && n < cap; i++) {
        x[n++] = spec[i];
    }
    static const float mant[3] = {1.0f, 1.3125f, 1.7109375f};
    for (int e = -149; e <= 127; e++) {
        for (int m = 0; m < 3 && n + 2 <= cap; m++) {
            float v = ldexpf(mant[m], e);
            if (isfinite(v)) {
                x[n++] = v;
                x[n++] = -v;
            }
        }
    }
    for (int i = -1000; i <= 1000 && n < cap; i++) {
        x[n++] = (float)i * 0.0107f;
    }
    for (int i = 1; i <= 16 && n + 2 <= cap; i++) {
        x[n++] = 1.0f + (float)i * 0x1p-23f;
        x[n++] = 1.0f - (float)i * 0x1p-24f;
    }
    return n;
}

static int64_t grid_f64(double *x, int64_t cap)
{
    static const double spec[] = {
        NAN, -NAN, INFINITY, -INFINITY, 0.0, -0.0, DBL_MIN, -DBL_MIN,
        DBL_TRUE_MIN, -DBL_TRUE_MIN, DBL_MAX, -DBL_MAX, 1.0, -1.0, 0.5,
        -0.5, 2.0, -2.0, 0x1.fffffffffffffp-1, -0x1.fffffffffffffp-1,
        0x1.0000000000001p0, 709.7, 710.0, -745.0, -746.0, 1e-300, -50.0,
        30.0, -30.0, 6.9, -6.9, 7.0, 3.141592653589793, 1e15, -1e15, 1e100};
    int64_t n = 0;
    for (int64_t i = 0; i < NELEM(spec) && n < cap; i++) {
        x[n++] = spec[i];
    }
    static const double mant[2] = {1.0, 1.4142135623730951};
    for (int e = -1074; e <= 1023; e += 5) {
        for (int m = 0; m < 2 && n + 2 <= cap; m++) {
            double v = ldexp(mant[m], e);
            if (isfinite(v)) {
                x[n++] = v;
                x[n++] = -v;
            }
        }
    }
    for (int i = -800; i <= 800 && n < cap; i++) {
        x[n++] = (double)i * 0.0131;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* unary float ops against long double libm                           */
/* ------------------------------------------------------------------ */

static long double l_neg(long double x)
{
    return -x;
}
static long double l_sign(long double x)
{
    return x > 0 ? 1.0L : (x < 0 ? -1.0L : x);
}
static long double l_square(long double x)
{
    return x * x;
}
static long double l_rsqrt(long double x)
{
    return 1.0L / sqrtl(x);
}
static long double l_recip(long double x)
{
    return 1.0L / x;
}
static long double l_ident(long double x)
{
    return x;
}
static long double l_sigmoid(long double x)
{
    return 1.0L / (1.0L + expl(-x));
}

/* erfinv by Newton from Winitzki's closed form; the erfc residual for
 * |x| >= 1/2 keeps it accurate near 1. */
static long double l_erfinv(long double x)
{
    long double a = fabsl(x);
    if (isnan(x) || a == 0) {
        return x;
    }
    if (a > 1) {
        return NAN;
    }
    if (a == 1) {
        return copysignl(INFINITY, x);
    }
    long double w = logl((1 - a) * (1 + a));
    long double t = 2 / (3.14159265358979323846L * 0.147L) + w / 2;
    long double d2 = t * t - w / 0.147L;
    long double inner = sqrtl(d2 > 0 ? d2 : 0) - t;
    long double y = sqrtl(inner > 0 ? inner : 0);
    for (int i = 0; i < 8; i++) {
        long double d = 1.12837916709551257389615890312154517L * expl(-y * y);
        long double f = a < 0.5L ? erfl(y) - a : (1 - a) - erfcl(y);
        y -= f / d;
    }
    return copysignl(y, x);
}

static kiln_array *round0(kiln_array *x)
{
    return kiln_round(x, 0);
}

/* name, op, reference, float32 domain and bound, float64 domain and
 * bound (bounds from docs/vmath.md; exact operations have 0, or 1 in
 * float64 where the long double reference itself rounds twice) */
typedef struct {
    const char *name;
    un_fn f;
    long double (*ref)(long double);
    double lo, hi;
    int64_t b32;
    double lo64, hi64;
    int64_t b64;
} ucase;

#define ALL -INFINITY, INFINITY
static const ucase ucases[] = {
    {"abs", kiln_abs, fabsl, ALL, 0, ALL, 0},
    {"negative", kiln_negative, l_neg, ALL, 0, ALL, 0},
    {"sign", kiln_sign, l_sign, ALL, 0, ALL, 0},
    {"square", kiln_square, l_square, ALL, 0, ALL, 1},
    {"sqrt", kiln_sqrt, sqrtl, ALL, 0, ALL, 1},
    {"rsqrt", kiln_rsqrt, l_rsqrt, ALL, 2, ALL, 2},
    {"reciprocal", kiln_reciprocal, l_recip, ALL, 0, ALL, 1},
    {"exp", kiln_exp, expl, -104.0, 89.0, 1, -746.0, 710.0, 1},
    {"expm1", kiln_expm1, expm1l, -FLT_MAX, 89.0, 2, -50.0, 710.0, 2},
    {"log", kiln_log, logl, 0.0, FLT_MAX, 1, 0.0, DBL_MAX, 1},
    {"log1p", kiln_log1p, log1pl, -1.0, FLT_MAX, 1, -1.0, DBL_MAX, 1},
    {"log2", kiln_log2, log2l, 0.0, FLT_MAX, 1, 0.0, DBL_MAX, 2},
    {"log10", kiln_log10, log10l, 0.0, FLT_MAX, 1, 0.0, DBL_MAX, 2},
    {"sin", kiln_sin, sinl, -0x1p28, 0x1p28, 2, -0x1p28, 0x1p28, 2},
    {"cos", kiln_cos, cosl, -0x1p28, 0x1p28, 2, -0x1p28, 0x1p28, 2},
    {"tan", kiln_tan, tanl, -0x1p28, 0x1p28, 3, -0x1p28, 0x1p28, 2},
    {"arcsin", kiln_arcsin, asinl, -1.0, 1.0, 2, -1.0, 1.0, 2},
    {"arccos", kiln_arccos, acosl, -1.0, 1.0, 1, -1.0, 1.0, 2},
    {"arctan", kiln_arctan, atanl, -FLT_MAX, FLT_MAX, 2, -DBL_MAX, DBL_MAX,
     2},
    {"sinh", kiln_sinh, sinhl, -90.0, 90.0, 2, -711.0, 711.0, 2},
    {"cosh", kiln_cosh, coshl, -90.0, 90.0, 1, -711.0, 711.0, 1},
    {"tanh", kiln_tanh, tanhl, -FLT_MAX, FLT_MAX, 2, -30.0, 30.0, 2},
    {"arcsinh", kiln_arcsinh, asinhl, -FLT_MAX, FLT_MAX, 2, -DBL_MAX,
     DBL_MAX, 2},
    {"arccosh", kiln_arccosh, acoshl, 1.0, FLT_MAX, 2, 1.0, DBL_MAX, 2},
    {"arctanh", kiln_arctanh, atanhl, -1.0, 1.0, 2, -1.0, 1.0, 2},
    {"sigmoid", kiln_sigmoid, l_sigmoid, -FLT_MAX, FLT_MAX, 2, -750.0, 50.0,
     2},
    {"erf", kiln_erf, erfl, -FLT_MAX, FLT_MAX, 2, -7.0, 7.0, 1},
    {"erfinv", kiln_erfinv, l_erfinv, -1.0, 1.0, 3, -1.0, 1.0, 3},
    {"floor", kiln_floor, floorl, ALL, 0, ALL, 0},
    {"ceil", kiln_ceil, ceill, ALL, 0, ALL, 0},
    {"round", round0, rintl, ALL, 0, ALL, 0},
    {"stop_gradient", kiln_stop_gradient, l_ident, ALL, 0, ALL, 0},
};
#undef ALL

/* x is one of the values whose result C99 Annex F fixes exactly */
static bool is_special(double x)
{
    return x == 0 || isinf(x) || isnan(x);
}

TEST(ew_unary_float32_vs_libm)
{
    static float x[4000];
    int64_t n = grid_f32(x, NELEM(x));
    kiln_scope_begin();
    kiln_array *a = vec(x, n, KILN_DTYPE_FLOAT32);
    for (size_t k = 0; k < sizeof ucases / sizeof ucases[0]; k++) {
        const ucase *c = &ucases[k];
        kiln_array *y = c->f(a);
        CHECK_MSG(y && kiln_array_dtype(y) == KILN_DTYPE_FLOAT32,
                  "%s: no float32 result", c->name);
        float *p = fetch(y);
        if (!p) {
            CHECK_MSG(0, "%s(float32) failed: %s", c->name, kiln_errmsg());
            continue;
        }
        int64_t worst = 0, bad = 0;
        float at = 0, got = 0;
        for (int64_t i = 0; i < n; i++) {
            long double r = c->ref(x[i]);
            bool in = (x[i] >= c->lo && x[i] <= c->hi) || is_special(x[i]);
            int64_t d = fdist(p[i], r);
            if (!in) {
                /* outside the accurate domain: NaN and infinities only */
                d = (isnan(p[i]) != isnan((float)r) ||
                     (isinf((float)r) && p[i] != (float)r))
                        ? BIG_DIST
                        : 0;
            } else if (d <= c->b32 && p[i] == 0 && (float)r == 0 &&
                       !signbit(p[i]) != !signbit((float)r)) {
                d = BIG_DIST; /* wrong sign of zero */
            }
            if (d > c->b32) {
                bad++;
            }
            if (d > worst) {
                worst = d;
                at = x[i];
                got = p[i];
            }
        }
        CHECK_MSG(bad == 0,
                  "%s(float32): %lld inputs beyond %lld ulp, worst %lld at "
                  "%a: got %a want %a",
                  c->name, (long long)bad, (long long)c->b32,
                  (long long)worst, at, got, (float)c->ref(at));
        free(p);
    }
    kiln_scope_end(NULL);
}

TEST(ew_unary_float64_vs_libm)
{
    static double x[4000];
    int64_t n = grid_f64(x, NELEM(x));
    kiln_scope_begin();
    kiln_array *a = vec(x, n, KILN_DTYPE_FLOAT64);
    for (size_t k = 0; k < sizeof ucases / sizeof ucases[0]; k++) {
        const ucase *c = &ucases[k];
        kiln_array *y = c->f(a);
        CHECK_MSG(y && kiln_array_dtype(y) == KILN_DTYPE_FLOAT64,
                  "%s: no float64 result", c->name);
        double *p = fetch(y);
        if (!p) {
            CHECK_MSG(0, "%s(float64) failed: %s", c->name, kiln_errmsg());
            continue;
        }
        int64_t worst = 0, bad = 0;
        double at = 0, got = 0;
        for (int64_t i = 0; i < n; i++) {
            long double r = c->ref(x[i]);
            bool in =
                (x[i] >= c->lo64 && x[i] <= c->hi64) || is_special(x[i]);
            int64_t d = ddist(p[i], r);
            if (!in) {
                d = (isnan(p[i]) != isnan((double)r) ||
                     (isinf((double)r) && p[i] != (double)r))
                        ? BIG_DIST
                        : 0;
            } else if (d <= c->b64 && p[i] == 0 && (double)r == 0 &&
                       !signbit(p[i]) != !signbit((double)r)) {
                d = BIG_DIST;
            }
            if (d > c->b64) {
                bad++;
            }
            if (d > worst) {
                worst = d;
                at = x[i];
                got = p[i];
            }
        }
        CHECK_MSG(bad == 0,
                  "%s(float64): %lld inputs beyond %lld ulp, worst %lld at "
                  "%a: got %a want %a",
                  c->name, (long long)bad, (long long)c->b64,
                  (long long)worst, at, got, (double)c->ref(at));
        free(p);
    }
    kiln_scope_end(NULL);
}

/* predicates and logical_not on floats: exact, bool results */
TEST(ew_float_predicates)
{
    static const double v[] = {0.0,      -0.0,      1.0,     -2.5,
                               NAN,      -NAN,      INFINITY, -INFINITY,
                               DBL_MAX,  DBL_TRUE_MIN, 1e-40, 65504.0};
    const kiln_dtype fdt[4] = {KILN_DTYPE_FLOAT16, KILN_DTYPE_BFLOAT16,
                               KILN_DTYPE_FLOAT32, KILN_DTYPE_FLOAT64};
    kiln_scope_begin();
    kiln_array *x64 = vec(v, NELEM(v), KILN_DTYPE_FLOAT64);
    for (int k = 0; k < 4; k++) {
        kiln_array *x = kiln_astype(x64, fdt[k]);
        double *xv = fetch(kiln_astype(x, KILN_DTYPE_FLOAT64));
        struct {
            un_fn f;
            const char *name;
        } ops[6] = {{kiln_isnan, "isnan"},       {kiln_isinf, "isinf"},
                    {kiln_isfinite, "isfinite"}, {kiln_isposinf, "isposinf"},
                    {kiln_isneginf, "isneginf"}, {kiln_logical_not, "not"}};
        for (int o = 0; o < 6 && xv; o++) {
            kiln_array *y = ops[o].f(x);
            CHECK(y && kiln_array_dtype(y) == KILN_DTYPE_BOOL);
            uint8_t *p = fetch(y);
            for (int64_t i = 0; p && i < NELEM(v); i++) {
                double t = xv[i];
                bool want[6] = {isnan(t), isinf(t), isfinite(t),
                                t == INFINITY, t == -INFINITY, t == 0};
                CHECK_MSG(p[i] == want[o], "%s(%s %g) = %d", ops[o].name,
                          kiln_dtype_name(fdt[k]), t, p[i]);
            }
            CHECK(p != NULL);
            free(p);
        }
        free(xv);
    }
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* binary float ops                                                   */
/* ------------------------------------------------------------------ */

/* Python's remainder and MLX's floor_divide (floor of the quotient), in
 * the operands' own type: these are the specification. */
static float spec_remf(float a, float b)
{
    float r = fmodf(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) {
        r += b;
    }
    return r == 0 ? copysignf(0.0f, b) : r;
}

static double spec_rem(double a, double b)
{
    double r = fmod(a, b);
    if (r != 0 && ((r < 0) != (b < 0))) {
        r += b;
    }
    return r == 0 ? copysign(0.0, b) : r;
}

static long double l_logaddexp(long double a, long double b)
{
    if (isnan(a) || isnan(b)) {
        return NAN;
    }
    if (a == b) {
        return a + 0.693147180559945309417232121458176568L;
    }
    long double m = a > b ? a : b;
    return m + log1pl(expl(-fabsl(a - b)));
}

static long double l_max(long double a, long double b)
{
    return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b);
}

static long double l_min(long double a, long double b)
{
    return (isnan(a) || isnan(b)) ? NAN : (a < b ? a : b);
}

/* logaddexp(a, b) = m + log1p(exp(-|a - b|)) cancels when m < 0 and the
 * result is near 0 (numpy's formula does the same): there its error is a
 * few ulp of m, not of the result. */
static bool lae_close(double got, double a, double b, long double ref,
                      int mant_bits)
{
    double m = fmax(fabs(a), fabs(b));
    double r = (double)ref;
    if (!isfinite(got) || !isfinite(m) || !isfinite(r)) {
        return false;
    }
    double big = fmax(m, fabs(r));
    return big > 0 && fabs(got - r) <= ldexp(4.0, ilogb(big) - mant_bits);
}

enum { BF_ADD, BF_SUB, BF_MUL, BF_DIV, BF_FDIV, BF_REM, BF_POW, BF_MAX,
       BF_MIN, BF_ATAN2, BF_LAE, BF_COUNT };

static const struct {
    const char *name;
    bin_fn f;
    int64_t b32, b64; /* ulp bounds (exact ops: 0) */
} bfloat_ops[BF_COUNT] = {
    {"add", kiln_add, 0, 0},
    {"subtract", kiln_subtract, 0, 0},
    {"multiply", kiln_multiply, 0, 0},
    {"divide", kiln_divide, 0, 0},
    {"floor_divide", kiln_floor_divide, 0, 0},
    {"remainder", kiln_remainder, 0, 0},
    {"power", kiln_power, 1, 1},
    {"maximum", kiln_maximum, 0, 0},
    {"minimum", kiln_minimum, 0, 0},
    {"arctan2", kiln_arctan2, 2, 2},
    {"logaddexp", kiln_logaddexp, 3, 3},
};

static float spec_f32(int op, float a, float b)
{
    switch (op) {
    case BF_ADD:
        return a + b;
    case BF_SUB:
        return a - b;
    case BF_MUL:
        return a * b;
    case BF_DIV:
        return a / b;
    case BF_FDIV:
        return floorf(a / b);
    case BF_REM:
        return spec_remf(a, b);
    case BF_POW:
        return (float)powl(a, b);
    case BF_MAX:
        return (float)l_max(a, b);
    case BF_MIN:
        return (float)l_min(a, b);
    case BF_ATAN2:
        return (float)atan2l(a, b);
    default:
        return (float)l_logaddexp(a, b);
    }
}

static long double spec_f64(int op, double a, double b)
{
    switch (op) {
    case BF_ADD:
        return a + b;
    case BF_SUB:
        return a - b;
    case BF_MUL:
        return a * b;
    case BF_DIV:
        return a / b;
    case BF_FDIV:
        return floor(a / b);
    case BF_REM:
        return spec_rem(a, b);
    case BF_POW:
        return powl(a, b);
    case BF_MAX:
        return l_max(a, b);
    case BF_MIN:
        return l_min(a, b);
    case BF_ATAN2:
        return atan2l(a, b);
    default:
        return l_logaddexp(a, b);
    }
}

static const double bin_vals[] = {
    0.0,  -0.0, 1.0,  -1.0, 2.0,     -2.0,     0.5,       -0.5,
    3.0,  -7.0, 7.0,  5.5,  -5.5,    0.1,      1e-3,      -1e3,
    1e20, -1e20, 1e-40, 88.0, -100.0, 1e30,    INFINITY,  -INFINITY,
    NAN,  2.5,  -3.75, 1e-7, 33.0,    0.333,   -0.001,    100.0};

TEST(ew_binary_float_vs_reference)
{
    int64_t nv = NELEM(bin_vals), n = nv * nv;
    double *a64 = malloc(sizeof *a64 * (size_t)n);
    double *b64 = malloc(sizeof *b64 * (size_t)n);
    float *a32 = malloc(sizeof *a32 * (size_t)n);
    float *b32 = malloc(sizeof *b32 * (size_t)n);
    for (int64_t i = 0; i < nv; i++) {
        for (int64_t j = 0; j < nv; j++) {
            a64[i * nv + j] = bin_vals[i];
            b64[i * nv + j] = bin_vals[j];
            a32[i * nv + j] = (float)bin_vals[i];
            b32[i * nv + j] = (float)bin_vals[j];
        }
    }
    kiln_scope_begin();
    kiln_array *xa32 = vec(a32, n, KILN_DTYPE_FLOAT32);
    kiln_array *xb32 = vec(b32, n, KILN_DTYPE_FLOAT32);
    kiln_array *xa64 = vec(a64, n, KILN_DTYPE_FLOAT64);
    kiln_array *xb64 = vec(b64, n, KILN_DTYPE_FLOAT64);
    for (int op = 0; op < BF_COUNT; op++) {
        kiln_array *y32 = bfloat_ops[op].f(xa32, xb32);
        kiln_array *y64 = bfloat_ops[op].f(xa64, xb64);
        CHECK(y32 && kiln_array_dtype(y32) == KILN_DTYPE_FLOAT32);
        CHECK(y64 && kiln_array_dtype(y64) == KILN_DTYPE_FLOAT64);
        float *p32 = fetch(y32);
        double *p64 = fetch(y64);
        int64_t bad32 = 0, bad64 = 0, w32 = -1, w64 = -1;
        for (int64_t i = 0; p32 && p64 && i < n; i++) {
            float e32 = spec_f32(op, a32[i], b32[i]);
            long double e64 = spec_f64(op, a64[i], b64[i]);
            int64_t d32 = fdist(p32[i], e32), d64 = ddist(p64[i], e64);
            bool zero_sign = op != BF_MAX && op != BF_MIN;
            if (zero_sign && d32 == 0 && e32 == 0 &&
                !signbit(p32[i]) != !signbit(e32)) {
                d32 = BIG_DIST;
            }
            if (zero_sign && d64 == 0 && (double)e64 == 0 &&
                !signbit(p64[i]) != !signbit((double)e64)) {
                d64 = BIG_DIST;
            }
            if (op == BF_LAE && d32 > bfloat_ops[op].b32 &&
                lae_close(p32[i], a32[i], b32[i], e32, 23)) {
                d32 = 0;
            }
            if (op == BF_LAE && d64 > bfloat_ops[op].b64 &&
                lae_close(p64[i], a64[i], b64[i], e64, 52)) {
                d64 = 0;
            }
            if (d32 > bfloat_ops[op].b32) {
                bad32++;
                w32 = i;
            }
            if (d64 > bfloat_ops[op].b64) {
                bad64++;
                w64 = i;
            }
        }
        CHECK_MSG(p32 && p64, "%s failed: %s", bfloat_ops[op].name,
                  kiln_errmsg());
        CHECK_MSG(bad32 == 0, "%s(float32): %lld bad, e.g. (%a, %a) -> %a "
                  "want %a", bfloat_ops[op].name, (long long)bad32,
                  w32 >= 0 ? a32[w32] : 0, w32 >= 0 ? b32[w32] : 0,
                  w32 >= 0 && p32 ? p32[w32] : 0,
                  w32 >= 0 ? spec_f32(op, a32[w32], b32[w32]) : 0);
        CHECK_MSG(bad64 == 0, "%s(float64): %lld bad, e.g. (%a, %a) -> %a "
                  "want %a", bfloat_ops[op].name, (long long)bad64,
                  w64 >= 0 ? a64[w64] : 0, w64 >= 0 ? b64[w64] : 0,
                  w64 >= 0 && p64 ? p64[w64] : 0,
                  w64 >= 0 ? (double)spec_f64(op, a64[w64], b64[w64]) : 0);
        free(p32);
        free(p64);
    }
    /* comparisons and logical ops: bool results, NaN compares false */
    struct {
        bin_fn f;
        const char *name;
    } cmp[8] = {{kiln_equal, "equal"},
                {kiln_not_equal, "not_equal"},
                {kiln_less, "less"},
                {kiln_less_equal, "less_equal"},
                {kiln_greater, "greater"},
                {kiln_greater_equal, "greater_equal"},
                {kiln_logical_and, "logical_and"},
                {kiln_logical_or, "logical_or"}};
    for (int k = 0; k < 8; k++) {
        kiln_array *y32 = cmp[k].f(xa32, xb32);
        kiln_array *y64 = cmp[k].f(xa64, xb64);
        CHECK(y32 && kiln_array_dtype(y32) == KILN_DTYPE_BOOL);
        uint8_t *p32 = fetch(y32), *p64 = fetch(y64);
        int64_t bad = 0;
        for (int64_t i = 0; p32 && p64 && i < n; i++) {
            double a = a64[i], b = b64[i];
            bool w[8] = {a == b, a != b, a < b, a <= b, a > b, a >= b,
                         a != 0 && b != 0, a != 0 || b != 0};
            bad += p32[i] != w[k];
            bad += p64[i] != w[k];
        }
        CHECK_MSG(p32 && p64 && bad == 0, "%s: %lld wrong", cmp[k].name,
                  (long long)bad);
        free(p32);
        free(p64);
    }
    kiln_scope_end(NULL);
    free(a64);
    free(b64);
    free(a32);
    free(b32);
}

TEST(ew_float_floor_divide_remainder_cases)
{
    static const double a[] = {-7, 7, -7, 7, 5.5, -0.0, 4, -4, 1, 1, -1, 0,
                               INFINITY, 3, -3, 1.0};
    static const double b[] = {2, -2, -2, 2, 2, 5, -2, 2, 0, INFINITY,
                               INFINITY, 0, 2, -INFINITY, INFINITY, 0.1};
    /* Python's % (result has the divisor's sign; zero too), floor of the
     * quotient for // as MLX computes it */
    static const double rem[] = {1,   -1,  -1,       1,   1.5, 0.0,
                                 -0.0, 0.0, NAN,      1,   INFINITY, NAN,
                                 NAN, -INFINITY, INFINITY, 0};
    static const double fdiv[] = {-4,   -4, 3,   3,        2,    -0.0,
                                  -2,   -2, INFINITY, 0,   -0.0, NAN,
                                  INFINITY, -0.0, -0.0, 10};
    kiln_scope_begin();
    kiln_array *xa = vec(a, NELEM(a), KILN_DTYPE_FLOAT64);
    kiln_array *xb = vec(b, NELEM(b), KILN_DTYPE_FLOAT64);
    double *r = fetch(kiln_remainder(xa, xb));
    double *q = fetch(kiln_floor_divide(xa, xb));
    for (int64_t i = 0; r && q && i < NELEM(a); i++) {
        double want_r = i == NELEM(a) - 1 ? spec_rem(1.0, 0.1) : rem[i];
        CHECK_MSG(same_f64(r[i], want_r), "%g %% %g = %g, want %g", a[i],
                  b[i], r[i], want_r);
        CHECK_MSG(same_f64(q[i], fdiv[i]), "%g // %g = %g, want %g", a[i],
                  b[i], q[i], fdiv[i]);
    }
    CHECK(r && q);
    free(r);
    free(q);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* integer semantics                                                  */
/* ------------------------------------------------------------------ */

/* Python floor division and remainder of signed values (b != 0, not
 * MIN / -1): the defining formula, in int64. */
static void floordiv_s(int64_t a, int64_t b, int64_t *q, int64_t *r)
{
    *q = a / b;
    *r = a % b;
    if (*r != 0 && ((*r < 0) != (b < 0))) {
        *q -= 1;
        *r += b;
    }
}

static uint64_t ipow_wrap(uint64_t a, uint64_t e)
{
    uint64_t r = 1;
    while (e) {
        if (e & 1) {
            r *= a;
        }
        a *= a;
        e >>= 1;
    }
    return r;
}

enum { IB_ADD, IB_SUB, IB_MUL, IB_FDIV, IB_REM, IB_POW, IB_MAX, IB_MIN,
       IB_AND, IB_OR, IB_XOR, IB_SHL, IB_SHR, IB_COUNT };

static const struct {
    const char *name;
    bin_fn f;
} int_ops[IB_COUNT] = {
    {"add", kiln_add},           {"subtract", kiln_subtract},
    {"multiply", kiln_multiply}, {"floor_divide", kiln_floor_divide},
    {"remainder", kiln_remainder}, {"power", kiln_power},
    {"maximum", kiln_maximum},   {"minimum", kiln_minimum},
    {"bitwise_and", kiln_bitwise_and}, {"bitwise_or", kiln_bitwise_or},
    {"bitwise_xor", kiln_bitwise_xor}, {"left_shift", kiln_left_shift},
    {"right_shift", kiln_right_shift}};

/* The expected result bits (sign-extended) of op on a, b in dt. */
static uint64_t int_expect(int op, uint64_t a, uint64_t b, kiln_dtype dt)
{
    bool u = is_uint(dt);
    int bits = int_bits(dt);
    int64_t sa = (int64_t)a, sb = (int64_t)b;
    int64_t q, r;
    switch (op) {
    case IB_ADD:
        return wrap_bits(a + b, dt);
    case IB_SUB:
        return wrap_bits(a - b, dt);
    case IB_MUL:
        return wrap_bits(a * b, dt);
    case IB_FDIV:
    case IB_REM:
        if (b == 0) {
            return 0;
        }
        if (u) {
            return op == IB_FDIV ? a / b : a % b;
        }
        if (sb == -1) {
            return op == IB_FDIV ? wrap_bits(0 - a, dt) : 0;
        }
        floordiv_s(sa, sb, &q, &r);
        return wrap_bits((uint64_t)(op == IB_FDIV ? q : r), dt);
    case IB_POW:
        if (!u && sb < 0) {
            /* truncated 1 / a^|b| */
            if (sa == 1) {
                return 1;
            }
            return sa == -1 ? ((sb & 1) ? a : 1) : 0;
        }
        return wrap_bits(ipow_wrap(a, b), dt);
    case IB_MAX:
        return (u ? a > b : sa > sb) ? a : b;
    case IB_MIN:
        return (u ? a < b : sa < sb) ? a : b;
    case IB_AND:
        return a & b;
    case IB_OR:
        return a | b;
    case IB_XOR:
        return a ^ b;
    case IB_SHL:
        if (u ? b >= (uint64_t)bits : (sb < 0 || sb >= bits)) {
            return 0;
        }
        return wrap_bits(a << b, dt);
    default:
        if (u) {
            return b >= (uint64_t)bits ? 0 : a >> b;
        }
        if (sb < 0 || sb >= bits) {
            return sa < 0 ? UINT64_MAX : 0;
        }
        /* arithmetic shift = floor(a / 2^b) */
        return sa < 0 ? ~(~a >> b) : a >> b;
    }
}

/* representative values of an integer dtype, as sign-extended bits */
static int64_t int_values(kiln_dtype dt, uint64_t *v, int64_t cap)
{
    int bits = int_bits(dt);
    int64_t base[] = {0,   1,   -1,  2,   -2,  3,  -3,  5,   -5,   7,
                      -7,  100, -100, 0x55, 200, 63, 64,  -64, bits - 1,
                      bits, bits + 1};
    int64_t n = 0;
    for (int64_t i = 0; i < NELEM(base) && n < cap; i++) {
        v[n++] = wrap_bits((uint64_t)base[i], dt);
    }
    uint64_t mx = int_max_bits(dt), mn = int_min_bits(dt);
    uint64_t ext[4] = {mx, mn, wrap_bits(mx - 1, dt), wrap_bits(mn + 1, dt)};
    for (int i = 0; i < 4 && n < cap; i++) {
        v[n++] = ext[i];
    }
    return n;
}

TEST(ew_integer_binary_all_pairs)
{
    for (int d = 0; d < 8; d++) {
        kiln_dtype dt = int_dtypes[d];
        uint64_t v[32];
        int64_t nv = int_values(dt, v, 32), n = nv * nv;
        size_t isz = kiln_dtype_size(dt);
        void *pa = malloc(isz * (size_t)n), *pb = malloc(isz * (size_t)n);
        for (int64_t i = 0; i < nv; i++) {
            for (int64_t j = 0; j < nv; j++) {
                put_bits(pa, i * nv + j, dt, v[i]);
                put_bits(pb, i * nv + j, dt, v[j]);
            }
        }
        kiln_scope_begin();
        kiln_array *a = vec(pa, n, dt), *b = vec(pb, n, dt);
        for (int op = 0; op < IB_COUNT; op++) {
            kiln_array *y = int_ops[op].f(a, b);
            CHECK_MSG(y && kiln_array_dtype(y) == dt, "%s(%s) dtype",
                      int_ops[op].name, kiln_dtype_name(dt));
            void *py = fetch(y);
            int64_t bad = 0, at = -1;
            for (int64_t i = 0; py && i < n; i++) {
                uint64_t ai = get_bits(pa, i, dt), bi = get_bits(pb, i, dt);
                if (get_bits(py, i, dt) != int_expect(op, ai, bi, dt)) {
                    bad++;
                    at = i;
                }
            }
            CHECK_MSG(py && bad == 0,
                      "%s(%s): %lld wrong, e.g. (%lld, %lld) -> %lld want "
                      "%lld",
                      int_ops[op].name, kiln_dtype_name(dt), (long long)bad,
                      at >= 0 ? (long long)get_bits(pa, at, dt) : 0,
                      at >= 0 ? (long long)get_bits(pb, at, dt) : 0,
                      at >= 0 && py ? (long long)get_bits(py, at, dt) : 0,
                      at >= 0 ? (long long)int_expect(op, get_bits(pa, at, dt),
                                                      get_bits(pb, at, dt), dt)
                              : 0);
            /* floor_divide and remainder agree: a == q * b + r */
            free(py);
        }
        kiln_array *q = kiln_floor_divide(a, b), *r = kiln_remainder(a, b);
        void *pq = fetch(q), *pr = fetch(r);
        int64_t bad = 0;
        for (int64_t i = 0; pq && pr && i < n; i++) {
            uint64_t ai = get_bits(pa, i, dt), bi = get_bits(pb, i, dt);
            uint64_t qi = get_bits(pq, i, dt), ri = get_bits(pr, i, dt);
            if (bi == 0) {
                bad += qi != 0 || ri != 0;
                continue;
            }
            bad += wrap_bits(qi * bi + ri, dt) != ai;
            if (is_uint(dt)) {
                bad += !(ri < bi);
            } else if ((int64_t)bi > 0) {
                bad += !((int64_t)ri >= 0 && (int64_t)ri < (int64_t)bi);
            } else {
                bad += !((int64_t)ri <= 0 && (int64_t)ri > (int64_t)bi);
            }
        }
        CHECK_MSG(pq && pr && bad == 0, "divmod identity (%s): %lld bad",
                  kiln_dtype_name(dt), (long long)bad);
        free(pq);
        free(pr);
        /* comparisons and logical ops */
        bin_fn cmp[8] = {kiln_equal,   kiln_not_equal,    kiln_less,
                         kiln_less_equal, kiln_greater, kiln_greater_equal,
                         kiln_logical_and, kiln_logical_or};
        for (int k = 0; k < 8; k++) {
            kiln_array *y = cmp[k](a, b);
            uint8_t *py = fetch(y);
            CHECK(y && kiln_array_dtype(y) == KILN_DTYPE_BOOL && py);
            int64_t nbad = 0;
            for (int64_t i = 0; py && i < n; i++) {
                uint64_t ai = get_bits(pa, i, dt), bi = get_bits(pb, i, dt);
                bool lt = is_uint(dt) ? ai < bi : (int64_t)ai < (int64_t)bi;
                bool w[8] = {ai == bi,  ai != bi, lt,       lt || ai == bi,
                             !lt && ai != bi, !lt, ai && bi, ai || bi};
                nbad += py[i] != w[k];
            }
            CHECK_MSG(nbad == 0, "comparison %d (%s): %lld wrong", k,
                      kiln_dtype_name(dt), (long long)nbad);
            free(py);
        }
        /* float-valued ops compute in float32 */
        bin_fn fops[3] = {kiln_divide, kiln_arctan2, kiln_logaddexp};
        kiln_array *fa = kiln_astype(a, KILN_DTYPE_FLOAT32);
        kiln_array *fb = kiln_astype(b, KILN_DTYPE_FLOAT32);
        for (int k = 0; k < 3; k++) {
            kiln_array *y = fops[k](a, b), *z = fops[k](fa, fb);
            CHECK(y && kiln_array_dtype(y) == KILN_DTYPE_FLOAT32);
            float *py = fetch(y), *pz = fetch(z);
            for (int64_t i = 0; py && pz && i < n; i++) {
                if (!same_f64(py[i], pz[i])) {
                    CHECK_MSG(0, "float op %d on %s differs at %lld", k,
                              kiln_dtype_name(dt), (long long)i);
                    break;
                }
            }
            CHECK(py && pz);
            free(py);
            free(pz);
        }
        kiln_scope_end(NULL);
        free(pa);
        free(pb);
    }
}

/* The cases everyone gets wrong, spelled out. */
TEST(ew_integer_hand_cases)
{
    kiln_scope_begin();
    /* Python signs of // and % */
    int32_t a[] = {-7, 7, -7, 7, 0, 5, -5, INT32_MIN, INT32_MIN, 1, -1};
    int32_t b[] = {2, -2, -2, 2, 3, 0, 0, -1, 1, -3, 3};
    int32_t q[] = {-4, -4, 3, 3, 0, 0, 0, INT32_MIN, INT32_MIN, -1, -1};
    int32_t r[] = {1, -1, -1, 1, 0, 0, 0, 0, 0, -2, 2};
    kiln_array *xa = vec(a, NELEM(a), KILN_DTYPE_INT32);
    kiln_array *xb = vec(b, NELEM(b), KILN_DTYPE_INT32);
    int32_t *pq = fetch(kiln_floor_divide(xa, xb));
    int32_t *pr = fetch(kiln_remainder(xa, xb));
    for (int64_t i = 0; pq && pr && i < NELEM(a); i++) {
        CHECK_MSG(pq[i] == q[i], "%d // %d = %d want %d", a[i], b[i], pq[i],
                  q[i]);
        CHECK_MSG(pr[i] == r[i], "%d %% %d = %d want %d", a[i], b[i], pr[i],
                  r[i]);
    }
    CHECK(pq && pr);
    free(pq);
    free(pr);

    /* wrapping arithmetic */
    int8_t i8a[] = {127, -128, -128, 100, 64};
    int8_t i8b[] = {1, -1, -1, 100, 2};
    int8_t *s = fetch(kiln_add(vec(i8a, 5, KILN_DTYPE_INT8),
                               vec(i8b, 5, KILN_DTYPE_INT8)));
    int8_t *m = fetch(kiln_multiply(vec(i8a, 5, KILN_DTYPE_INT8),
                                    vec(i8b, 5, KILN_DTYPE_INT8)));
    CHECK(s && s[0] == -128 && s[1] == 127 && s[3] == -56);
    CHECK(m && m[1] == -128 && m[3] == 16 && m[4] == -128);
    free(s);
    free(m);
    uint8_t u8a[] = {255, 16, 0}, u8b[] = {1, 16, 1};
    uint8_t *us = fetch(kiln_add(vec(u8a, 3, KILN_DTYPE_UINT8),
                                 vec(u8b, 3, KILN_DTYPE_UINT8)));
    uint8_t *um = fetch(kiln_multiply(vec(u8a, 3, KILN_DTYPE_UINT8),
                                      vec(u8b, 3, KILN_DTYPE_UINT8)));
    uint8_t *ud = fetch(kiln_subtract(vec(u8a + 2, 1, KILN_DTYPE_UINT8),
                                      vec(u8b + 2, 1, KILN_DTYPE_UINT8)));
    CHECK(us && us[0] == 0 && um && um[1] == 0 && ud && ud[0] == 255);
    free(us);
    free(um);
    free(ud);
    int32_t i32[] = {INT32_MAX};
    int32_t *p32 = fetch(kiln_multiply(vec(i32, 1, KILN_DTYPE_INT32),
                                       kiln_weak_i64(2)));
    CHECK(p32 && p32[0] == -2);
    free(p32);
    int64_t i64[] = {INT64_MAX, INT64_MIN};
    int64_t one64[] = {1, 1};
    int64_t *p64 = fetch(kiln_add(vec(i64, 2, KILN_DTYPE_INT64),
                                  vec(one64, 2, KILN_DTYPE_INT64)));
    CHECK(p64 && p64[0] == INT64_MIN && p64[1] == INT64_MIN + 1);
    free(p64);
    p64 = fetch(kiln_floor_divide(vec(i64 + 1, 1, KILN_DTYPE_INT64),
                                  kiln_scalar_i64(-1, KILN_DTYPE_INT64)));
    CHECK(p64 && p64[0] == INT64_MIN);
    free(p64);

    /* shifts by >= bits and by negative counts */
    int8_t sv[] = {1, 1, 1, -8, -8, -8, -8, 64, 1};
    int8_t sc[] = {7, 8, -1, 1, 8, -1, 100, 1, 9};
    kiln_array *xs = vec(sv, 9, KILN_DTYPE_INT8);
    kiln_array *xc = vec(sc, 9, KILN_DTYPE_INT8);
    int8_t *shl = fetch(kiln_left_shift(xs, xc));
    int8_t *shr = fetch(kiln_right_shift(xs, xc));
    int8_t wl[] = {-128, 0, 0, -16, 0, 0, 0, -128, 0};
    int8_t wr[] = {0, 0, 0, -4, -1, -1, -1, 32, 0};
    for (int i = 0; shl && shr && i < 9; i++) {
        CHECK_MSG(shl[i] == wl[i], "%d << %d = %d want %d", sv[i], sc[i],
                  shl[i], wl[i]);
        CHECK_MSG(shr[i] == wr[i], "%d >> %d = %d want %d", sv[i], sc[i],
                  shr[i], wr[i]);
    }
    CHECK(shl && shr);
    free(shl);
    free(shr);
    uint32_t uv[] = {0x80000000u, 1, 1}, uc[] = {31, 32, 33};
    uint32_t *ush = fetch(kiln_right_shift(vec(uv, 3, KILN_DTYPE_UINT32),
                                           vec(uc, 3, KILN_DTYPE_UINT32)));
    CHECK(ush && ush[0] == 1 && ush[1] == 0 && ush[2] == 0);
    free(ush);

    /* power with negative exponents: truncated 1 / a^|b| */
    int32_t pe[] = {-1, -1, 1, -3, -2, -1, 0, 4, 1};
    int32_t pa_[] = {2, 1, -5, -1, -1, 0, 0, 3, 31};
    int32_t pw[] = {0, 1, -5, -1, 1, 0, 1, 81, 31};
    int32_t *pp = fetch(kiln_power(vec(pa_, 9, KILN_DTYPE_INT32),
                                   vec(pe, 9, KILN_DTYPE_INT32)));
    for (int i = 0; pp && i < 9; i++) {
        CHECK_MSG(pp[i] == pw[i], "%d ** %d = %d want %d", pa_[i], pe[i],
                  pp[i], pw[i]);
    }
    CHECK(pp != NULL);
    free(pp);

    /* abs, negative, sign at the edges */
    int32_t ev[] = {INT32_MIN, -1, 0, 1, INT32_MAX};
    kiln_array *xe = vec(ev, 5, KILN_DTYPE_INT32);
    int32_t *pabs = fetch(kiln_abs(xe)), *pneg = fetch(kiln_negative(xe));
    int32_t *psg = fetch(kiln_sign(xe)), *pinv = fetch(kiln_bitwise_invert(xe));
    int32_t wabs[] = {INT32_MIN, 1, 0, 1, INT32_MAX};
    int32_t wneg[] = {INT32_MIN, 1, 0, -1, -INT32_MAX};
    int32_t wsg[] = {-1, -1, 0, 1, 1};
    for (int i = 0; pabs && pneg && psg && pinv && i < 5; i++) {
        CHECK(pabs[i] == wabs[i] && pneg[i] == wneg[i] && psg[i] == wsg[i]);
        CHECK(pinv[i] == ~ev[i]);
    }
    CHECK(pabs && pneg && psg && pinv);
    free(pabs);
    free(pneg);
    free(psg);
    free(pinv);
    uint8_t uu[] = {0, 5, 255};
    uint8_t *un = fetch(kiln_negative(vec(uu, 3, KILN_DTYPE_UINT8)));
    uint8_t *usg = fetch(kiln_sign(vec(uu, 3, KILN_DTYPE_UINT8)));
    CHECK(un && un[0] == 0 && un[1] == 251 && un[2] == 1);
    CHECK(usg && usg[0] == 0 && usg[1] == 1 && usg[2] == 1);
    free(un);
    free(usg);
    kiln_scope_end(NULL);
}

/* every unary op on every integer dtype */
TEST(ew_integer_unary)
{
    for (int d = 0; d < 8; d++) {
        kiln_dtype dt = int_dtypes[d];
        uint64_t v[32];
        int64_t n = int_values(dt, v, 32);
        void *pv = malloc(kiln_dtype_size(dt) * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            put_bits(pv, i, dt, v[i]);
        }
        kiln_scope_begin();
        kiln_array *x = vec(pv, n, dt);
        /* same-dtype integer ops */
        struct {
            un_fn f;
            const char *name;
        } same[8] = {{kiln_abs, "abs"},       {kiln_negative, "negative"},
                     {kiln_sign, "sign"},     {kiln_square, "square"},
                     {kiln_floor, "floor"},   {kiln_ceil, "ceil"},
                     {round0, "round"},       {kiln_bitwise_invert, "inv"}};
        for (int k = 0; k < 8; k++) {
            kiln_array *y = same[k].f(x);
            CHECK_MSG(y && kiln_array_dtype(y) == dt, "%s(%s) dtype",
                      same[k].name, kiln_dtype_name(dt));
            void *py = fetch(y);
            for (int64_t i = 0; py && i < n; i++) {
                uint64_t a = v[i];
                int64_t sa = (int64_t)a;
                bool neg = !is_uint(dt) && sa < 0;
                uint64_t w[8] = {neg ? wrap_bits(0 - a, dt) : a,
                                 wrap_bits(0 - a, dt),
                                 neg ? UINT64_MAX : (a != 0),
                                 wrap_bits(a * a, dt),
                                 a,
                                 a,
                                 a,
                                 wrap_bits(~a, dt)};
                CHECK_MSG(get_bits(py, i, dt) == w[k],
                          "%s(%s %lld) = %lld want %lld", same[k].name,
                          kiln_dtype_name(dt), (long long)sa,
                          (long long)get_bits(py, i, dt), (long long)w[k]);
            }
            CHECK(py != NULL);
            free(py);
        }
        /* predicates: integers are finite, never NaN */
        un_fn preds[6] = {kiln_isnan,    kiln_isinf,    kiln_isfinite,
                          kiln_isposinf, kiln_isneginf, kiln_logical_not};
        for (int k = 0; k < 6; k++) {
            kiln_array *y = preds[k](x);
            uint8_t *py = fetch(y);
            CHECK(y && kiln_array_dtype(y) == KILN_DTYPE_BOOL && py);
            for (int64_t i = 0; py && i < n; i++) {
                bool w = k == 2 ? true : (k == 5 ? v[i] == 0 : false);
                CHECK_MSG(py[i] == w, "pred %d(%s %lld) = %d", k,
                          kiln_dtype_name(dt), (long long)v[i], py[i]);
            }
            free(py);
        }
        /* float ops compute in float32 */
        kiln_array *xf = kiln_astype(x, KILN_DTYPE_FLOAT32);
        for (size_t k = 0; k < sizeof ucases / sizeof ucases[0]; k++) {
            const ucase *c = &ucases[k];
            kiln_array *y = c->f(x);
            if (c->f == kiln_abs || c->f == kiln_negative ||
                c->f == kiln_sign || c->f == kiln_square ||
                c->f == kiln_floor || c->f == kiln_ceil || c->f == round0 ||
                c->f == kiln_stop_gradient) {
                CHECK(y && kiln_array_dtype(y) == dt);
                continue;
            }
            kiln_array *z = c->f(xf);
            CHECK_MSG(y && kiln_array_dtype(y) == KILN_DTYPE_FLOAT32,
                      "%s(%s) should be float32", c->name,
                      kiln_dtype_name(dt));
            float *py = fetch(y), *pz = fetch(z);
            for (int64_t i = 0; py && pz && i < n; i++) {
                CHECK_MSG(same_f64(py[i], pz[i]), "%s(%s) at %lld", c->name,
                          kiln_dtype_name(dt), (long long)i);
            }
            CHECK(py && pz);
            free(py);
            free(pz);
        }
        kiln_scope_end(NULL);
        free(pv);
    }
}

TEST(ew_bool_semantics)
{
    uint8_t a[4] = {0, 0, 1, 1}, b[4] = {0, 1, 0, 1};
    kiln_scope_begin();
    kiln_array *x = vec(a, 4, KILN_DTYPE_BOOL), *y = vec(b, 4, KILN_DTYPE_BOOL);
    struct {
        bin_fn f;
        uint8_t want[4];
    } ok[] = {{kiln_add, {0, 1, 1, 1}},
              {kiln_multiply, {0, 0, 0, 1}},
              {kiln_maximum, {0, 1, 1, 1}},
              {kiln_minimum, {0, 0, 0, 1}},
              {kiln_equal, {1, 0, 0, 1}},
              {kiln_not_equal, {0, 1, 1, 0}},
              {kiln_less, {0, 1, 0, 0}},
              {kiln_greater_equal, {1, 0, 1, 1}},
              {kiln_logical_and, {0, 0, 0, 1}},
              {kiln_logical_or, {0, 1, 1, 1}},
              {kiln_bitwise_and, {0, 0, 0, 1}},
              {kiln_bitwise_or, {0, 1, 1, 1}},
              {kiln_bitwise_xor, {0, 1, 1, 0}}};
    for (int64_t k = 0; k < NELEM(ok); k++) {
        kiln_array *z = ok[k].f(x, y);
        CHECK_MSG(z && kiln_array_dtype(z) == KILN_DTYPE_BOOL, "bool op %lld",
                  (long long)k);
        uint8_t *p = fetch(z);
        CHECK(p && memcmp(p, ok[k].want, 4) == 0);
        free(p);
    }
    /* ops without a bool meaning are type errors, as in numpy */
    bin_fn bad[] = {kiln_subtract, kiln_floor_divide, kiln_remainder,
                    kiln_power, kiln_left_shift, kiln_right_shift};
    for (int64_t k = 0; k < NELEM(bad); k++) {
        kiln_errclear();
        CHECK(bad[k](x, y) == NULL);
        CHECK(kiln_errcode() == KILN_ERR_TYPE);
    }
    un_fn ubad[] = {kiln_negative, kiln_sign, kiln_floor, kiln_ceil, round0};
    for (int64_t k = 0; k < NELEM(ubad); k++) {
        kiln_errclear();
        CHECK(ubad[k](x) == NULL);
        CHECK(kiln_errcode() == KILN_ERR_TYPE);
    }
    kiln_errclear();
    un_fn uok[] = {kiln_abs, kiln_square, kiln_bitwise_invert,
                   kiln_logical_not, kiln_stop_gradient};
    uint8_t uwant[5][4] = {{0, 0, 1, 1}, {0, 0, 1, 1}, {1, 1, 0, 0},
                           {1, 1, 0, 0}, {0, 0, 1, 1}};
    for (int64_t k = 0; k < NELEM(uok); k++) {
        kiln_array *z = uok[k](x);
        uint8_t *p = fetch(z);
        CHECK(z && kiln_array_dtype(z) == KILN_DTYPE_BOOL && p &&
              memcmp(p, uwant[k], 4) == 0);
        free(p);
    }
    /* float ops: bool -> float32 */
    float *e = fetch(kiln_exp(x));
    float *dv = fetch(kiln_divide(x, y));
    CHECK(e && e[0] == 1.0f && fabsf(e[2] - 2.7182817f) < 1e-6f);
    CHECK(dv && isnan(dv[0]) && dv[1] == 0 && isinf(dv[2]) && dv[3] == 1);
    free(e);
    free(dv);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* float16 and bfloat16                                               */
/* ------------------------------------------------------------------ */

static uint16_t all_halves[65536];

static void fill_all_halves(void)
{
    for (int i = 0; i < 65536; i++) {
        all_halves[i] = (uint16_t)i;
    }
}

/* Ops on float16/bfloat16 compute in float32 and round once: equal to
 * astype(op(astype(x, float32)), half) on every bit pattern. */
TEST(ew_half_ops_through_float32)
{
    fill_all_halves();
    for (int f = 0; f < 2; f++) {
        kiln_dtype hdt = f ? KILN_DTYPE_BFLOAT16 : KILN_DTYPE_FLOAT16;
        kiln_scope_begin();
        kiln_array *h = vec(all_halves, 65536, hdt);
        kiln_array *h32 = kiln_astype(h, KILN_DTYPE_FLOAT32);
        for (size_t k = 0; k < sizeof ucases / sizeof ucases[0]; k++) {
            const ucase *c = &ucases[k];
            kiln_array *y = c->f(h);
            kiln_array *z = kiln_astype(c->f(h32), hdt);
            CHECK_MSG(y && kiln_array_dtype(y) == hdt, "%s(%s) dtype",
                      c->name, kiln_dtype_name(hdt));
            uint16_t *py = fetch(y), *pz = fetch(z);
            int64_t bad = 0, at = 0;
            for (int i = 0; py && pz && i < 65536; i++) {
                if (!same_half(py[i], pz[i], f)) {
                    bad++;
                    at = i;
                }
            }
            CHECK_MSG(py && pz && bad == 0, "%s(%s): %lld differ, e.g. %#x",
                      c->name, kiln_dtype_name(hdt), (long long)bad,
                      (unsigned)at);
            free(py);
            free(pz);
        }
        un_fn preds[6] = {kiln_isnan,    kiln_isinf,    kiln_isfinite,
                          kiln_isposinf, kiln_isneginf, kiln_logical_not};
        for (int k = 0; k < 6; k++) {
            uint8_t *py = fetch(preds[k](h)), *pz = fetch(preds[k](h32));
            CHECK(py && pz && memcmp(py, pz, 65536) == 0);
            free(py);
            free(pz);
        }
        /* binary ops over 256 x 256 values */
        uint16_t *ha = malloc(2 * 65536), *hb = malloc(2 * 65536);
        for (int i = 0; i < 65536; i++) {
            /* spread over every exponent, both signs, specials */
            ha[i] = (uint16_t)(((i >> 8) * 257u) ^ 0x1234u);
            hb[i] = (uint16_t)(((i & 255) * 257u) ^ 0x0420u);
        }
        kiln_array *a = vec(ha, 65536, hdt), *b = vec(hb, 65536, hdt);
        kiln_array *a32 = kiln_astype(a, KILN_DTYPE_FLOAT32);
        kiln_array *b32 = kiln_astype(b, KILN_DTYPE_FLOAT32);
        for (int op = 0; op < BF_COUNT; op++) {
            kiln_array *y = bfloat_ops[op].f(a, b);
            kiln_array *z = kiln_astype(bfloat_ops[op].f(a32, b32), hdt);
            CHECK(y && kiln_array_dtype(y) == hdt);
            uint16_t *py = fetch(y), *pz = fetch(z);
            int64_t bad = 0;
            for (int i = 0; py && pz && i < 65536; i++) {
                bad += !same_half(py[i], pz[i], f);
            }
            CHECK_MSG(py && pz && bad == 0, "%s(%s): %lld differ",
                      bfloat_ops[op].name, kiln_dtype_name(hdt),
                      (long long)bad);
            free(py);
            free(pz);
        }
        bin_fn cmp[6] = {kiln_equal,   kiln_not_equal, kiln_less,
                         kiln_less_equal, kiln_greater, kiln_greater_equal};
        for (int k = 0; k < 6; k++) {
            uint8_t *py = fetch(cmp[k](a, b)), *pz = fetch(cmp[k](a32, b32));
            CHECK(py && pz && memcmp(py, pz, 65536) == 0);
            free(py);
            free(pz);
        }
        free(ha);
        free(hb);
        kiln_scope_end(NULL);
    }
}

static kiln_dtype dt_of(kiln_array *a)
{
    return a ? kiln_array_dtype(a) : (kiln_dtype)-1;
}

/* ------------------------------------------------------------------ */
/* broadcasting                                                       */
/* ------------------------------------------------------------------ */

/* a - b over the broadcast of two int32 arrays holding 1.. and 100.. */
static void check_bcast(const int64_t *sa, int na, const int64_t *sb, int nb,
                        const int64_t *want, int nw)
{
    int64_t size_a = 1, size_b = 1, size = 1;
    for (int i = 0; i < na; i++) {
        size_a *= sa[i];
    }
    for (int i = 0; i < nb; i++) {
        size_b *= sb[i];
    }
    for (int i = 0; i < nw; i++) {
        size *= want[i];
    }
    int32_t *da = malloc(sizeof *da * (size_t)(size_a + 1));
    int32_t *db = malloc(sizeof *db * (size_t)(size_b + 1));
    for (int64_t i = 0; i < size_a; i++) {
        da[i] = (int32_t)(i + 1);
    }
    for (int64_t i = 0; i < size_b; i++) {
        db[i] = (int32_t)(100 * (i + 1));
    }
    kiln_scope_begin();
    kiln_array *a = kiln_array_from_data(da, sa, na, KILN_DTYPE_INT32);
    kiln_array *b = kiln_array_from_data(db, sb, nb, KILN_DTYPE_INT32);
    kiln_array *y = kiln_subtract(a, b);
    CHECK_MSG(has_shape(y, want, nw), "broadcast shape (ndim %d)", nw);
    int32_t *p = fetch(y);
    CHECK(p != NULL);
    /* reference: walk the output index, map to each input (right-aligned,
     * size-1 dims read index 0) */
    for (int64_t flat = 0; p && flat < size; flat++) {
        int64_t idx[KILN_MAX_NDIM], r = flat;
        for (int d = nw - 1; d >= 0; d--) {
            idx[d] = r % want[d];
            r /= want[d];
        }
        int64_t ia = 0, ib = 0;
        for (int d = 0; d < na; d++) {
            int od = d + nw - na;
            ia = ia * sa[d] + (sa[d] == 1 ? 0 : idx[od]);
        }
        for (int d = 0; d < nb; d++) {
            int od = d + nw - nb;
            ib = ib * sb[d] + (sb[d] == 1 ? 0 : idx[od]);
        }
        if (p[flat] != da[ia] - db[ib]) {
            CHECK_MSG(0, "broadcast value at %lld: %d want %d",
                      (long long)flat, p[flat], da[ia] - db[ib]);
            break;
        }
    }
    free(p);
    kiln_scope_end(NULL);
    free(da);
    free(db);
}

TEST(ew_broadcasting)
{
    {
        int64_t a[2] = {3, 1}, b[2] = {1, 4}, w[2] = {3, 4};
        check_bcast(a, 2, b, 2, w, 2);
    }
    {
        int64_t a[3] = {2, 3, 4}, b[1] = {4}, w[3] = {2, 3, 4};
        check_bcast(a, 3, b, 1, w, 3);
        check_bcast(b, 1, a, 3, w, 3);
    }
    {
        int64_t b[1] = {5};
        check_bcast(NULL, 0, b, 1, b, 1);
        check_bcast(b, 1, NULL, 0, b, 1);
        check_bcast(NULL, 0, NULL, 0, NULL, 0);
    }
    {
        int64_t a[2] = {0, 3}, b[2] = {1, 3}, w[2] = {0, 3};
        check_bcast(a, 2, b, 2, w, 2);
        int64_t c[2] = {1, 0}, d[2] = {5, 1}, w2[2] = {5, 0};
        check_bcast(c, 2, d, 2, w2, 2);
        int64_t e[1] = {0}, f[1] = {1};
        check_bcast(e, 1, f, 1, e, 1);
    }
    {
        int64_t a[3] = {2, 1, 3}, b[2] = {4, 1}, w[3] = {2, 4, 3};
        check_bcast(a, 3, b, 2, w, 3);
        int64_t c[4] = {4, 1, 1, 2}, d[2] = {3, 1}, w2[4] = {4, 1, 3, 2};
        check_bcast(c, 4, d, 2, w2, 4);
        int64_t e[2] = {2, 3};
        check_bcast(e, 2, e, 2, e, 2);
    }
    /* mismatches: a ValueError naming the op and both shapes */
    kiln_scope_begin();
    float z[12] = {0};
    int64_t s23[2] = {2, 3}, s4[1] = {4}, s3[1] = {3}, s20[2] = {2, 0};
    kiln_array *a = kiln_array_from_data(z, s23, 2, KILN_DTYPE_FLOAT32);
    kiln_array *b = kiln_array_from_data(z, s4, 1, KILN_DTYPE_FLOAT32);
    kiln_errclear();
    CHECK(kiln_add(a, b) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
    CHECK_MSG(strcmp(kiln_errmsg(),
                     "[add] shapes (2,3) and (4) cannot be broadcast") == 0,
              "message: %s", kiln_errmsg());
    kiln_errclear();
    CHECK(kiln_less(b, a) == NULL);
    CHECK(strcmp(kiln_errmsg(),
                 "[less] shapes (4) and (2,3) cannot be broadcast") == 0);
    kiln_errclear();
    kiln_array *c = kiln_array_from_data(z, s3, 1, KILN_DTYPE_FLOAT32);
    kiln_array *e = kiln_array_from_data(z, s20, 2, KILN_DTYPE_FLOAT32);
    CHECK(kiln_multiply(b, c) == NULL && kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_multiply(e, c) == NULL && kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    CHECK(kiln_where(kiln_scalar_bool(true), a, b) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE &&
          strstr(kiln_errmsg(), "[where]") != NULL);
    kiln_errclear();
    CHECK(kiln_clip(a, b, NULL) == NULL && kiln_errcode() == KILN_ERR_VALUE);
    kiln_errclear();
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* rule errors and argument checks                                    */
/* ------------------------------------------------------------------ */

static void expect_err(kiln_array *y, kiln_status code, const char *prefix)
{
    CHECK_MSG(y == NULL, "expected an error %s", prefix);
    CHECK_MSG(kiln_errcode() == code, "%s: code %d (%s)", prefix,
              (int)kiln_errcode(), kiln_errmsg());
    CHECK_MSG(strncmp(kiln_errmsg(), prefix, strlen(prefix)) == 0,
              "message '%s' should start with '%s'", kiln_errmsg(), prefix);
    kiln_errclear();
}

TEST(ew_rule_errors)
{
    kiln_scope_begin();
    float f[2] = {1, 2};
    int64_t n = 2;
    kiln_array *x = kiln_array_from_data(f, &n, 1, KILN_DTYPE_FLOAT32);
    kiln_array *xh = kiln_astype(x, KILN_DTYPE_FLOAT16);
    kiln_array *xi = kiln_astype(x, KILN_DTYPE_INT32);
    kiln_array *xb = kiln_astype(x, KILN_DTYPE_BOOL);
    kiln_errclear();
    expect_err(kiln_bitwise_and(x, x), KILN_ERR_TYPE, "[bitwise_and]");
    expect_err(kiln_bitwise_or(xh, xh), KILN_ERR_TYPE, "[bitwise_or]");
    expect_err(kiln_bitwise_xor(xi, x), KILN_ERR_TYPE, "[bitwise_xor]");
    expect_err(kiln_left_shift(x, xi), KILN_ERR_TYPE, "[left_shift]");
    expect_err(kiln_right_shift(xi, kiln_weak_f64(1.5)), KILN_ERR_TYPE,
               "[right_shift]");
    expect_err(kiln_bitwise_invert(x), KILN_ERR_TYPE, "[bitwise_invert]");
    expect_err(kiln_negative(xb), KILN_ERR_TYPE, "[negative]");
    expect_err(kiln_subtract(xb, xb), KILN_ERR_TYPE, "[subtract]");

    /* NULL arguments: ValueError naming the op */
    expect_err(kiln_exp(NULL), KILN_ERR_VALUE, "[exp]");
    expect_err(kiln_add(NULL, x), KILN_ERR_VALUE, "[add]");
    expect_err(kiln_add(x, NULL), KILN_ERR_VALUE, "[add]");
    expect_err(kiln_where(NULL, x, x), KILN_ERR_VALUE, "[where]");
    expect_err(kiln_where(xb, x, NULL), KILN_ERR_VALUE, "[where]");
    expect_err(kiln_clip(NULL, x, x), KILN_ERR_VALUE, "[clip]");
    expect_err(kiln_clip(x, NULL, NULL), KILN_ERR_VALUE, "[clip]");
    expect_err(kiln_round(NULL, 2), KILN_ERR_VALUE, "[round]");
    expect_err(kiln_astype(NULL, KILN_DTYPE_INT8), KILN_ERR_VALUE,
               "[astype]");
    /* a NULL from an earlier failure keeps the first error */
    kiln_array *bad = kiln_bitwise_and(x, x);
    CHECK(bad == NULL);
    CHECK(kiln_sin(kiln_add(bad, x)) == NULL);
    CHECK(kiln_errcode() == KILN_ERR_TYPE &&
          strncmp(kiln_errmsg(), "[bitwise_and]", 13) == 0);
    kiln_errclear();
    /* clip's optional bounds: NULL means "no bound" only while no error
     * is pending */
    expect_err(kiln_clip(x, kiln_bitwise_and(x, x), x), KILN_ERR_TYPE,
               "[bitwise_and]");
    expect_err(kiln_clip(x, x, kiln_bitwise_and(x, x)), KILN_ERR_TYPE,
               "[bitwise_and]");
    bad = kiln_bitwise_and(x, x);
    expect_err(kiln_clip(x, bad, NULL), KILN_ERR_TYPE, "[bitwise_and]");
#define KILN_X_(name)                                                     \
    CHECK(kiln_##name(NULL) == NULL && kiln_errcode() == KILN_ERR_VALUE); \
    kiln_errclear();
    KILN_UNARY_OP_LIST(KILN_X_)
#undef KILN_X_
#define KILN_X_(name)                                                     \
    CHECK(kiln_##name(x, NULL) == NULL && kiln_errcode() != KILN_OK);     \
    kiln_errclear();                                                      \
    CHECK(kiln_##name(NULL, x) == NULL && kiln_errcode() != KILN_OK);     \
    kiln_errclear();
    KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_
    /* invalid dtype enumerators */
    expect_err(kiln_astype(x, (kiln_dtype)99), KILN_ERR_TYPE, "[astype]");
    expect_err(kiln_astype(x, (kiln_dtype)-1), KILN_ERR_TYPE, "[astype]");
    expect_err(kiln_astype(x, KILN_DTYPE_COUNT), KILN_ERR_TYPE, "[astype]");
    expect_err(kiln_array_from_data(f, &n, 1, (kiln_dtype)42), KILN_ERR_TYPE,
               "[array_from_data]");
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* round, clip, where, stop_gradient                                  */
/* ------------------------------------------------------------------ */

TEST(ew_round_decimals)
{
    kiln_scope_begin();
    float v[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.7f, -3.7f, 1e10f,
                 NAN, INFINITY, -0.0f, 1.234f, 1.235f, -1.005f, 123.456f,
                 1234.5f, 1250.0f, 1350.0f, -1250.0f, 0.125f};
    int64_t n = NELEM(v);
    kiln_array *x = vec(v, n, KILN_DTYPE_FLOAT32);
    kiln_array *x64 = kiln_astype(x, KILN_DTYPE_FLOAT64);
    int decs[] = {0, 2, -2, 1};
    for (int k = 0; k < 4; k++) {
        int d = decs[k];
        float *p = fetch(kiln_round(x, d));
        double *p64 = fetch(kiln_round(x64, d));
        for (int64_t i = 0; p && p64 && i < n; i++) {
            float w;
            double w64, xv = (double)v[i];
            if (d == 0) {
                w = rintf(v[i]);
                w64 = rint(xv);
            } else if (d > 0) {
                float s = d == 2 ? 100.0f : 10.0f;
                w = rintf(v[i] * s) / s;
                w64 = rint(xv * (double)s) / (double)s;
            } else {
                /* numpy: divide by the exact 10^-d, round, multiply */
                w = rintf(v[i] / 100.0f) * 100.0f;
                w64 = rint(xv / 100.0) * 100.0;
            }
            CHECK_MSG(same_f64(p[i], w), "round(%a, %d) = %a want %a",
                      (double)v[i], d, (double)p[i], (double)w);
            CHECK_MSG(same_f64(p64[i], w64), "round(%a, %d) f64 = %a want %a",
                      xv, d, p64[i], w64);
        }
        CHECK(p && p64);
        free(p);
        free(p64);
    }
    /* half to even at 0 decimals, float16 too */
    uint16_t *ph = fetch(kiln_round(kiln_astype(x, KILN_DTYPE_FLOAT16), 0));
    CHECK(ph && f16_value(ph[0]) == 0 && f16_value(ph[1]) == 2 &&
          f16_value(ph[2]) == 2 && f16_value(ph[5]) == -2);
    free(ph);
    /* integers: unchanged for decimals >= 0, rounded to tens (half to
     * even) for negative decimals, as numpy */
    int32_t iv[] = {15, 25, -15, -25, 14, 1234567, 0, 1999999995};
    int32_t w1[] = {20, 20, -20, -20, 10, 1234570, 0, 2000000000};
    kiln_array *xi = vec(iv, NELEM(iv), KILN_DTYPE_INT32);
    int32_t *p0 = fetch(kiln_round(xi, 0)), *p2 = fetch(kiln_round(xi, 2));
    int32_t *pm = fetch(kiln_round(xi, -1));
    CHECK(p0 && memcmp(p0, iv, sizeof iv) == 0);
    CHECK(p2 && memcmp(p2, iv, sizeof iv) == 0);
    for (int64_t i = 0; pm && i < NELEM(iv); i++) {
        CHECK_MSG(pm[i] == w1[i], "round(%d, -1) = %d want %d", iv[i], pm[i],
                  w1[i]);
    }
    CHECK(pm && dt_of(kiln_round(xi, -1)) == KILN_DTYPE_INT32);
    free(p0);
    free(p2);
    free(pm);
    kiln_scope_end(NULL);
}

TEST(ew_clip)
{
    kiln_scope_begin();
    float v[] = {-2, -1, 0, 1, 2, NAN, -INFINITY, INFINITY};
    int64_t n = NELEM(v);
    kiln_array *x = vec(v, n, KILN_DTYPE_FLOAT32);
    kiln_array *lo = kiln_scalar_f64(-1, KILN_DTYPE_FLOAT32);
    kiln_array *hi = kiln_scalar_f64(1, KILN_DTYPE_FLOAT32);
    float *p = fetch(kiln_clip(x, lo, hi));
    float *pl = fetch(kiln_clip(x, lo, NULL));
    float *ph = fetch(kiln_clip(x, NULL, hi));
    float *pinv = fetch(kiln_clip(x, hi, lo)); /* lo > hi: hi wins */
    for (int64_t i = 0; p && pl && ph && pinv && i < n; i++) {
        double want =
            isnan(v[i]) ? NAN : (v[i] < -1 ? -1 : (v[i] > 1 ? 1 : v[i]));
        double wl = isnan(v[i]) ? NAN : (v[i] < -1 ? -1 : v[i]);
        double wh = isnan(v[i]) ? NAN : (v[i] > 1 ? 1 : v[i]);
        CHECK_MSG(same_f64(p[i], want), "clip(%g) = %g", v[i], p[i]);
        CHECK(same_f64(pl[i], wl));
        CHECK(same_f64(ph[i], wh));
        CHECK(same_f64(pinv[i], isnan(v[i]) ? NAN : -1.0));
    }
    CHECK(p && pl && ph && pinv);
    free(p);
    free(pl);
    free(ph);
    free(pinv);
    /* integers with weak bounds stay integers; a weak float bound makes
     * float32 */
    int32_t iv[] = {-5, 0, 5, 100};
    kiln_array *xi = vec(iv, 4, KILN_DTYPE_INT32);
    kiln_array *yi = kiln_clip(xi, kiln_weak_i64(0), kiln_weak_i64(10));
    int32_t *pi = fetch(yi);
    CHECK(dt_of(yi) == KILN_DTYPE_INT32 && pi && pi[0] == 0 && pi[1] == 0 &&
          pi[2] == 5 && pi[3] == 10);
    free(pi);
    CHECK(dt_of(kiln_clip(xi, kiln_weak_f64(0.5), NULL)) ==
          KILN_DTYPE_FLOAT32);
    /* array bounds broadcast: x (2,3), lo (3), hi (2,1) */
    float xv[6] = {0, 5, 10, 0, 5, 10}, lov[3] = {1, 2, 3}, hiv[2] = {4, 8};
    int64_t s23[2] = {2, 3}, s3 = 3, s21[2] = {2, 1};
    kiln_array *y = kiln_clip(kiln_array_from_data(xv, s23, 2,
                                                   KILN_DTYPE_FLOAT32),
                              kiln_array_from_data(lov, &s3, 1,
                                                   KILN_DTYPE_FLOAT32),
                              kiln_array_from_data(hiv, s21, 2,
                                                   KILN_DTYPE_FLOAT32));
    CHECK(has_shape(y, s23, 2));
    float *py = fetch(y);
    float want[6] = {1, 4, 4, 1, 5, 8};
    CHECK(py && memcmp(py, want, sizeof want) == 0);
    free(py);
    kiln_scope_end(NULL);
}

TEST(ew_where)
{
    kiln_scope_begin();
    uint8_t c[3] = {1, 0, 1};
    int32_t a[3] = {1, 2, 3}, b[3] = {10, 20, 30};
    int32_t *p = fetch(kiln_where(vec(c, 3, KILN_DTYPE_BOOL),
                                  vec(a, 3, KILN_DTYPE_INT32),
                                  vec(b, 3, KILN_DTYPE_INT32)));
    CHECK(p && p[0] == 1 && p[1] == 20 && p[2] == 3);
    free(p);
    /* a non-bool condition is cast (NaN is true, -0.0 false) */
    float cf[4] = {0.0f, NAN, -0.0f, 2.0f};
    int32_t a4[4] = {1, 2, 3, 4}, b4[4] = {-1, -2, -3, -4};
    p = fetch(kiln_where(vec(cf, 4, KILN_DTYPE_FLOAT32),
                         vec(a4, 4, KILN_DTYPE_INT32),
                         vec(b4, 4, KILN_DTYPE_INT32)));
    CHECK(p && p[0] == -1 && p[1] == 2 && p[2] == -3 && p[3] == 4);
    free(p);
    /* three-way broadcast: cond (3,1), a (1,4), b () */
    uint8_t c3[3] = {1, 0, 1};
    float a14[4] = {1, 2, 3, 4};
    int64_t s31[2] = {3, 1}, s14[2] = {1, 4}, w[2] = {3, 4};
    kiln_array *y = kiln_where(
        kiln_array_from_data(c3, s31, 2, KILN_DTYPE_BOOL),
        kiln_array_from_data(a14, s14, 2, KILN_DTYPE_FLOAT32),
        kiln_weak_f64(-1));
    CHECK(has_shape(y, w, 2) && dt_of(y) == KILN_DTYPE_FLOAT32);
    float *pf = fetch(y);
    for (int i = 0; pf && i < 12; i++) {
        CHECK(pf[i] == (c3[i / 4] ? a14[i % 4] : -1.0f));
    }
    CHECK(pf != NULL);
    free(pf);
    /* promotion of the two value operands */
    int8_t i8[1] = {1};
    uint32_t u32[1] = {2};
    y = kiln_where(kiln_scalar_bool(false), vec(i8, 1, KILN_DTYPE_INT8),
                   vec(u32, 1, KILN_DTYPE_UINT32));
    double v;
    CHECK(dt_of(y) == KILN_DTYPE_INT64);
    CHECK(kiln_array_item_f64(y, &v) == KILN_OK && v == 2);
    CHECK(dt_of(kiln_where(kiln_scalar_bool(true),
                           vec(i8, 1, KILN_DTYPE_INT8),
                           kiln_weak_f64(0.5))) == KILN_DTYPE_FLOAT32);
    /* every dtype (1, 2, 4 and 8 byte selections) */
    uint8_t cc[4] = {0, 1, 1, 0};
    kiln_array *cond = vec(cc, 4, KILN_DTYPE_BOOL);
    double av[4] = {1, 2, 3, 4}, bv[4] = {5, 6, 7, 0};
    kiln_array *a64 = vec(av, 4, KILN_DTYPE_FLOAT64);
    kiln_array *b64 = vec(bv, 4, KILN_DTYPE_FLOAT64);
    for (int d = 0; d < KILN_DTYPE_COUNT; d++) {
        kiln_dtype dt = all_dtypes[d];
        kiln_array *yy = kiln_where(cond, kiln_astype(a64, dt),
                                    kiln_astype(b64, dt));
        double *pd = fetch(kiln_astype(yy, KILN_DTYPE_FLOAT64));
        CHECK_MSG(dt_of(yy) == dt && pd, "where(%s)", kiln_dtype_name(dt));
        for (int i = 0; pd && i < 4; i++) {
            double want = cc[i] ? av[i] : bv[i];
            if (dt == KILN_DTYPE_BOOL) {
                want = want != 0;
            }
            CHECK_MSG(pd[i] == want, "where(%s)[%d] = %g want %g",
                      kiln_dtype_name(dt), i, pd[i], want);
        }
        free(pd);
    }
    kiln_scope_end(NULL);
}

TEST(ew_stop_gradient_and_empty)
{
    kiln_scope_begin();
    float v[3] = {1, -2, 3};
    kiln_array *x = vec(v, 3, KILN_DTYPE_FLOAT32);
    float *p = fetch(kiln_stop_gradient(x));
    CHECK(p && memcmp(p, v, sizeof v) == 0);
    free(p);
    /* size-0 and 0-d inputs */
    int64_t z[2] = {0, 3};
    kiln_array *e = kiln_array_from_data(NULL, z, 2, KILN_DTYPE_FLOAT32);
    kiln_array *ye = kiln_exp(e);
    CHECK(has_shape(ye, z, 2) && kiln_array_eval(ye) == KILN_OK);
    kiln_array *ye2 = kiln_add(e, x);
    CHECK(has_shape(ye2, z, 2) && kiln_array_eval(ye2) == KILN_OK);
    kiln_array *ye3 = kiln_where(e, e, x);
    CHECK(has_shape(ye3, z, 2) && kiln_array_eval(ye3) == KILN_OK);
    kiln_array *ye4 = kiln_astype(e, KILN_DTYPE_FLOAT16);
    CHECK(has_shape(ye4, z, 2) && kiln_array_eval(ye4) == KILN_OK);
    kiln_array *s = kiln_scalar_f64(2.0, KILN_DTYPE_FLOAT32);
    kiln_array *y0 = kiln_multiply(s, s);
    double d;
    CHECK(kiln_array_ndim(y0) == 0 && kiln_array_item_f64(y0, &d) == KILN_OK
          && d == 4.0);
    kiln_scope_end(NULL);
}

/* ------------------------------------------------------------------ */
/* large arrays: the threaded path                                    */
/* ------------------------------------------------------------------ */

#define LARGE (1 << 20)
#define CHUNK (1 << 12)

/* y = f(x) computed on CHUNK-sized pieces (below the threading
 * threshold), to compare a large threaded run against */
static float *chunked_unary(un_fn f, const float *x, int64_t n)
{
    float *out = malloc(sizeof *out * (size_t)n);
    for (int64_t i = 0; i < n; i += CHUNK) {
        kiln_scope_begin();
        float *p = fetch(f(vec(x + i, CHUNK, KILN_DTYPE_FLOAT32)));
        if (p) {
            memcpy(out + i, p, sizeof *p * CHUNK);
        }
        free(p);
        kiln_scope_end(NULL);
    }
    return out;
}

TEST(ew_large_threaded)
{
    float *a = malloc(sizeof *a * LARGE), *b = malloc(sizeof *b * LARGE);
    int32_t *ia = malloc(sizeof *ia * LARGE);
    for (int64_t i = 0; i < LARGE; i++) {
        a[i] = (float)((int64_t)(rnd() % 20001) - 10000) * 0.001f;
        b[i] = (float)((int64_t)(rnd() % 2001) - 1000) * 0.01f;
        ia[i] = (int32_t)(rnd() & 0xffffffu) - 0x800000;
        if (i % 997 == 0) {
            a[i] = NAN;
        }
    }
    kiln_scope_begin();
    kiln_array *xa = vec(a, LARGE, KILN_DTYPE_FLOAT32);
    kiln_array *xb = vec(b, LARGE, KILN_DTYPE_FLOAT32);
    kiln_array *xi = vec(ia, LARGE, KILN_DTYPE_INT32);
    float *pad = fetch(kiln_add(xa, xb)), *pmx = fetch(kiln_maximum(xa, xb));
    uint8_t *plt = fetch(kiln_less(xa, xb));
    float *pw = fetch(kiln_where(kiln_less(xa, xb), xa, xb));
    int32_t *pfd = fetch(kiln_floor_divide(xi, kiln_weak_i64(7)));
    int64_t bad = 0;
    for (int64_t i = 0; pad && pmx && plt && pw && pfd && i < LARGE; i++) {
        float s = a[i] + b[i];
        float mx = isnan(a[i]) ? a[i] : (a[i] > b[i] ? a[i] : b[i]);
        bad += !same_f64(pad[i], s);
        bad += !same_f64(pmx[i], mx);
        bad += plt[i] != (a[i] < b[i]);
        bad += !same_f64(pw[i], a[i] < b[i] ? a[i] : b[i]);
        int32_t q = ia[i] / 7;
        q -= (ia[i] % 7 != 0) && (ia[i] < 0);
        bad += pfd[i] != q;
    }
    CHECK(pad && pmx && plt && pw && pfd);
    CHECK_MSG(bad == 0, "large binary: %lld wrong", (long long)bad);
    free(pad);
    free(pmx);
    free(plt);
    free(pw);
    free(pfd);
    /* transcendental and conversion kernels: threaded == unthreaded */
    un_fn fs[4] = {kiln_exp, kiln_tanh, kiln_erf, kiln_sqrt};
    for (int k = 0; k < 4; k++) {
        float *big = fetch(fs[k](xa));
        float *ref = chunked_unary(fs[k], a, LARGE);
        bad = 0;
        for (int64_t i = 0; big && i < LARGE; i++) {
            bad += !same_f64(big[i], ref[i]);
        }
        CHECK_MSG(big && bad == 0, "large unary %d: %lld differ", k,
                  (long long)bad);
        free(big);
        free(ref);
    }
    uint16_t *ph = fetch(kiln_astype(xa, KILN_DTYPE_FLOAT16));
    bad = 0;
    for (int64_t i = 0; ph && i < LARGE; i += 7) {
        bad += !same_half(ph[i], nearest_half(a[i], false), false);
    }
    CHECK(ph && bad == 0);
    free(ph);
    /* broadcast (1024, 1024) + (1024) and a transposed (strided) input */
    int64_t sq[2] = {1024, 1024}, row = 1024;
    kiln_array *m = kiln_array_from_data(a, sq, 2, KILN_DTYPE_FLOAT32);
    kiln_array *r = kiln_array_from_data(b, &row, 1, KILN_DTYPE_FLOAT32);
    float *pbc = fetch(kiln_multiply(m, r));
    float *ptr = fetch(kiln_subtract(kiln_transpose(m, NULL, 0), m));
    bad = 0;
    for (int64_t i = 0; pbc && ptr && i < 1024; i++) {
        for (int64_t j = 0; j < 1024; j++) {
            bad += !same_f64(pbc[i * 1024 + j], a[i * 1024 + j] * b[j]);
            bad += !same_f64(ptr[i * 1024 + j],
                             a[j * 1024 + i] - a[i * 1024 + j]);
        }
    }
    CHECK(pbc && ptr);
    CHECK_MSG(bad == 0, "large broadcast/strided: %lld wrong",
              (long long)bad);
    free(pbc);
    free(ptr);
    kiln_scope_end(NULL);
    free(a);
    free(b);
    free(ia);
}

/* ------------------------------------------------------------------ */
/* donation                                                           */
/* ------------------------------------------------------------------ */

TEST(ew_donation_safety)
{
    int64_t n = LARGE;
    float *a = malloc(sizeof *a * (size_t)n);
    float *b = malloc(sizeof *b * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        a[i] = (float)(i % 1000) * 0.001f;
        b[i] = (float)(i % 7) * 0.25f;
    }
    kiln_array *xa = vec(a, n, KILN_DTYPE_FLOAT32);
    kiln_array *xb = vec(b, n, KILN_DTYPE_FLOAT32);

    /* inside a scope: the scope holds the intermediate */
    kiln_scope_begin();
    float *p = fetch(kiln_exp(kiln_add(xa, xb)));
    kiln_scope_end(NULL);
    int64_t bad = 0;
    for (int64_t i = 0; p && i < n; i += 13) {
        bad += fabsf(p[i] - expf(a[i] + b[i])) > 1e-6f * expf(a[i] + b[i]);
    }
    CHECK(p && bad == 0);
    free(p);

    /* the intermediate released before eval: exp may (and should) reuse
     * its buffer; the user's inputs must not change */
    size_t nb = sizeof(float) * (size_t)n;
    size_t before = kiln_memory_active();
    kiln_memory_reset_peak();
    kiln_array *t = kiln_add(xa, xb);
    kiln_array *y = kiln_exp(t);
    kiln_array_release(t);
    CHECK(kiln_array_eval(y) == KILN_OK);
    size_t peak = kiln_memory_peak();
    CHECK_MSG(peak - before < 2 * nb,
              "exp(add(a, b)) peaked at %zu extra bytes; a donated "
              "intermediate needs one buffer of %zu",
              peak - before, nb);
    float *py = fetch(y);
    float *pa = fetch(xa), *pb = fetch(xb);
    bad = 0;
    for (int64_t i = 0; py && pa && pb && i < n; i++) {
        bad += pa[i] != a[i] || pb[i] != b[i];
        bad += fabsf(py[i] - expf(a[i] + b[i])) >
               1e-6f * expf(a[i] + b[i]);
    }
    CHECK(py && pa && pb);
    CHECK_MSG(bad == 0, "donation broke values: %lld", (long long)bad);
    free(py);
    kiln_array_release(y);

    /* an intermediate the user still holds keeps its values */
    t = kiln_add(xa, xb);
    y = kiln_negative(t);
    CHECK(kiln_array_eval(y) == KILN_OK);
    float *pt = fetch(t);
    py = fetch(y);
    bad = 0;
    for (int64_t i = 0; pt && py && i < n; i++) {
        bad += pt[i] != a[i] + b[i] || py[i] != -(a[i] + b[i]);
    }
    CHECK(pt && py && bad == 0);
    free(pt);
    free(py);
    kiln_array_release(t);
    kiln_array_release(y);

    /* one intermediate read by two consumers evaluated together, and by
     * one consumer twice */
    t = kiln_add(xa, xb);
    kiln_array *y1 = kiln_exp(t), *y2 = kiln_negative(t);
    kiln_array *y3 = kiln_multiply(t, t);
    kiln_array *st = kiln_sqrt(t);
    kiln_array *y4 = kiln_multiply(t, st);
    kiln_array_release(st);
    kiln_array_release(t);
    kiln_array *ys[4] = {y1, y2, y3, y4};
    CHECK(kiln_eval(ys, 4) == KILN_OK);
    float *p1 = fetch(y1), *p2 = fetch(y2), *p3 = fetch(y3), *p4 = fetch(y4);
    bad = 0;
    for (int64_t i = 0; p1 && p2 && p3 && p4 && i < n; i++) {
        float s = a[i] + b[i];
        bad += fabsf(p1[i] - expf(s)) > 1e-6f * expf(s);
        bad += p2[i] != -s || p3[i] != s * s;
        bad += fabsf(p4[i] - s * sqrtf(s)) > 1e-6f * (1 + s * sqrtf(s));
    }
    CHECK(p1 && p2 && p3 && p4);
    CHECK_MSG(bad == 0, "shared intermediate: %lld wrong", (long long)bad);
    free(p1);
    free(p2);
    free(p3);
    free(p4);
    for (int i = 0; i < 4; i++) {
        kiln_array_release(ys[i]);
    }

    /* a user-held input of a unary op is never overwritten, even of a
     * dtype the op could write in place */
    y = kiln_astype(xa, KILN_DTYPE_INT32);
    kiln_array *y5 = kiln_sin(xa);
    CHECK(kiln_array_eval(y) == KILN_OK && kiln_array_eval(y5) == KILN_OK);
    free(pa);
    pa = fetch(xa);
    bad = 0;
    for (int64_t i = 0; pa && i < n; i++) {
        bad += pa[i] != a[i];
    }
    CHECK(pa && bad == 0);
    kiln_array_release(y);
    kiln_array_release(y5);
    free(pa);
    free(pb);
    kiln_array_release(xa);
    kiln_array_release(xb);
    free(a);
    free(b);
}

/* ------------------------------------------------------------------ */
/* non-contiguous inputs                                              */
/* ------------------------------------------------------------------ */

TEST(ew_views)
{
    kiln_scope_begin();
    float v[12];
    for (int i = 0; i < 12; i++) {
        v[i] = (float)(i * i) - 20.0f;
    }
    int64_t s34[2] = {3, 4}, s43[2] = {4, 3};
    kiln_array *x = kiln_array_from_data(v, s34, 2, KILN_DTYPE_FLOAT32);
    /* transposed view op contiguous */
    kiln_array *xt = kiln_transpose(x, NULL, 0);
    CHECK(has_shape(xt, s43, 2));
    float w43[12];
    for (int i = 0; i < 12; i++) {
        w43[i] = (float)i;
    }
    kiln_array *c = kiln_array_from_data(w43, s43, 2, KILN_DTYPE_FLOAT32);
    float *p = fetch(kiln_add(xt, c));
    for (int i = 0; p && i < 4; i++) {
        for (int j = 0; j < 3; j++) {
            CHECK(p[i * 3 + j] == v[j * 4 + i] + w43[i * 3 + j]);
        }
    }
    CHECK(p != NULL);
    free(p);
    p = fetch(kiln_abs(xt));
    for (int i = 0; p && i < 4; i++) {
        for (int j = 0; j < 3; j++) {
            CHECK(p[i * 3 + j] == fabsf(v[j * 4 + i]));
        }
    }
    free(p);
    /* negatively strided: x[::-1, ::2] */
    int64_t st[2] = {KILN_SLICE_BEGIN, KILN_SLICE_BEGIN};
    int64_t sp[2] = {KILN_SLICE_END, KILN_SLICE_END}, step[2] = {-1, 2};
    kiln_array *r = kiln_slice(x, st, sp, step);
    int64_t s32[2] = {3, 2};
    CHECK(has_shape(r, s32, 2));
    float *pr = fetch(kiln_multiply(r, kiln_weak_f64(2.0)));
    int32_t *pi = fetch(kiln_astype(r, KILN_DTYPE_INT32));
    uint8_t *pg = fetch(kiln_greater(r, kiln_negative(r)));
    for (int i = 0; pr && pi && pg && i < 3; i++) {
        for (int j = 0; j < 2; j++) {
            float src = v[(2 - i) * 4 + 2 * j];
            CHECK(pr[i * 2 + j] == 2 * src);
            CHECK(pi[i * 2 + j] == (int32_t)src);
            CHECK(pg[i * 2 + j] == (src > -src));
        }
    }
    CHECK(pr && pi && pg);
    free(pr);
    free(pi);
    free(pg);
    /* two views of the same buffer in one op: x[::-1] - x */
    int64_t st1[2] = {KILN_SLICE_BEGIN, 0}, sp1[2] = {KILN_SLICE_END, 4};
    int64_t step1[2] = {-1, 1};
    kiln_array *xr = kiln_slice(x, st1, sp1, step1);
    float *pd = fetch(kiln_subtract(xr, x));
    for (int i = 0; pd && i < 3; i++) {
        for (int j = 0; j < 4; j++) {
            CHECK(pd[i * 4 + j] == v[(2 - i) * 4 + j] - v[i * 4 + j]);
        }
    }
    CHECK(pd != NULL);
    free(pd);
    /* broadcast view (stride 0) in unary, binary and where */
    float row[4] = {1, -2, 3, -4};
    int64_t n4 = 4;
    kiln_array *rv = kiln_array_from_data(row, &n4, 1, KILN_DTYPE_FLOAT32);
    kiln_array *bc = kiln_broadcast_to(rv, s34, 2);
    CHECK(has_shape(bc, s34, 2));
    float *pe = fetch(kiln_exp(bc));
    float *pm = fetch(kiln_minimum(bc, xt ? kiln_transpose(xt, NULL, 0) : x));
    float *pw = fetch(kiln_where(kiln_greater(bc, kiln_weak_f64(0)), bc, x));
    for (int i = 0; pe && pm && pw && i < 3; i++) {
        for (int j = 0; j < 4; j++) {
            float b0 = row[j], xv = v[i * 4 + j];
            CHECK(pe[i * 4 + j] == pe[j]);
            CHECK(pm[i * 4 + j] == (b0 < xv ? b0 : xv));
            CHECK(pw[i * 4 + j] == (b0 > 0 ? b0 : xv));
        }
    }
    CHECK(pe && pm && pw);
    free(pe);
    free(pm);
    free(pw);
    /* the source array is unchanged by all of the above */
    float *px = fetch(x);
    CHECK(px && memcmp(px, v, sizeof v) == 0);
    free(px);
    kiln_scope_end(NULL);
}
