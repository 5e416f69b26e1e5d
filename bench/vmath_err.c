/*
 * vmath_err.c - accuracy and throughput of src/backend/cpu/vmath.h.
 *
 * Standalone tool, not a test. For every function it sweeps the inputs of
 * the domain where docs/vmath.md states an error bound, compares against
 * libm one precision up (double for float32, long double for float64) and
 * prints the largest error in ulps, the input where it occurs, and the time
 * per element of a 16M-element loop, vmath against scalar libm.
 *
 *   gcc -std=c11 -O3 -march=native -fno-math-errno -Isrc/backend/cpu \
 *       bench/vmath_err.c -lm -o /tmp/vmath_err && /tmp/vmath_err
 *
 * Options: --stride N   float32: every N-th bit pattern (default 97; 1 is
 *                       exhaustive, about 30 minutes on one core)
 *          --samples N  float64: random inputs per function (default 2M)
 *          --no-speed   skip the throughput columns
 *          --only NAME  one function (e.g. --only sinf)
 *
 * Two error columns: "ulp" is |y - ref| over the float ulp at the exact
 * reference (0.5 is correctly rounded); "iulp" is the distance in
 * representable numbers between y and the reference rounded to the
 * result's precision (what tests/c/test_vmath.c bounds).
 */
#define _POSIX_C_SOURCE 199309L

#include "vmath.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 4096
#define NSPEED (16u << 20)

/* ------------------------------------------------------------------------ */
/* References                                                               */
/* ------------------------------------------------------------------------ */

static double ref_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static long double refl_sigmoid(long double x)
{
    return 1.0L / (1.0L + expl(-x));
}

/* erfinv(a) by Newton in long double from a close start y (the double
 * result, so three steps reach long double precision); erfc form for
 * a >= 1/2 so the residual keeps its relative accuracy near 1. */
static long double refl_erfinv(long double a, long double y)
{
    long double s = a < 0 ? -1.0L : 1.0L;
    a = fabsl(a);
    y = fabsl(y);
    if (a >= 1.0L || isnan(a)) {
        return a == 1.0L ? s * (long double)INFINITY : (long double)NAN;
    }
    if (!(y < 10.0L)) {
        y = 1.0L;
    }
    for (int i = 0; i < 3; i++) {
        long double d = 1.12837916709551257389615890312154517L * expl(-y * y);
        long double f = a < 0.5L ? erfl(y) - a : (1.0L - a) - erfcl(y);
        y -= f / d;
    }
    return s * y;
}

static double ref_erfinv(double x)
{
    return (double)refl_erfinv(x, (long double)kiln_verfinvd(x));
}

/* ------------------------------------------------------------------------ */
/* Function tables: one list, every loop and row stamped from it            */
/* ------------------------------------------------------------------------ */

static float libm_sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

static double libm_sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

/* X(name, vmath fn, double reference, libm float fn or 0, bound domain lo,
 * hi, throughput input lo, hi) */
#define VF_LIST(X)                                                             \
    X(expf, kiln_vexpf, exp, expf, -104.0, 89.0, -10.0, 10.0)                  \
    X(expm1f, kiln_vexpm1f, expm1, expm1f, -FLT_MAX, 89.0, -10.0, 10.0)        \
    X(logf, kiln_vlogf, log, logf, 0.0, FLT_MAX, 0.0, 100.0)                   \
    X(log1pf, kiln_vlog1pf, log1p, log1pf, -1.0, FLT_MAX, -0.9, 100.0)         \
    X(log2f, kiln_vlog2f, log2, log2f, 0.0, FLT_MAX, 0.0, 100.0)               \
    X(log10f, kiln_vlog10f, log10, log10f, 0.0, FLT_MAX, 0.0, 100.0)           \
    X(sinf, kiln_vsinf, sin, sinf, -0x1p28, 0x1p28, -10.0, 10.0)               \
    X(cosf, kiln_vcosf, cos, cosf, -0x1p28, 0x1p28, -10.0, 10.0)               \
    X(tanf, kiln_vtanf, tan, tanf, -0x1p28, 0x1p28, -10.0, 10.0)               \
    X(asinf, kiln_vasinf, asin, asinf, -1.0, 1.0, -1.0, 1.0)                   \
    X(acosf, kiln_vacosf, acos, acosf, -1.0, 1.0, -1.0, 1.0)                   \
    X(atanf, kiln_vatanf, atan, atanf, -FLT_MAX, FLT_MAX, -10.0, 10.0)         \
    X(sinhf, kiln_vsinhf, sinh, sinhf, -90.0, 90.0, -10.0, 10.0)               \
    X(coshf, kiln_vcoshf, cosh, coshf, -90.0, 90.0, -10.0, 10.0)               \
    X(tanhf, kiln_vtanhf, tanh, tanhf, -FLT_MAX, FLT_MAX, -10.0, 10.0)         \
    X(asinhf, kiln_vasinhf, asinh, asinhf, -FLT_MAX, FLT_MAX, -10.0, 10.0)     \
    X(acoshf, kiln_vacoshf, acosh, acoshf, 1.0, FLT_MAX, 1.0, 100.0)           \
    X(atanhf, kiln_vatanhf, atanh, atanhf, -1.0, 1.0, -1.0, 1.0)               \
    X(sigmoidf, kiln_vsigmoidf, ref_sigmoid, libm_sigmoidf, -FLT_MAX, FLT_MAX, \
      -10.0, 10.0)                                                             \
    X(erff, kiln_verff, erf, erff, -FLT_MAX, FLT_MAX, -3.0, 3.0)               \
    X(erfinvf, kiln_verfinvf, ref_erfinv, 0, -1.0, 1.0, -1.0, 1.0)

/* float64: only the functions with their own code (the others are libm). */
#define VD_LIST(X)                                                             \
    X(expd, kiln_vexpd, expl, exp, -746.0, 710.0, -10.0, 10.0)                 \
    X(expm1d, kiln_vexpm1d, expm1l, expm1, -50.0, 710.0, -10.0, 10.0)          \
    X(logd, kiln_vlogd, logl, log, 0.0, DBL_MAX, 0.0, 100.0)                   \
    X(log1pd, kiln_vlog1pd, log1pl, log1p, -1.0, DBL_MAX, -0.9, 100.0)         \
    X(sinhd, kiln_vsinhd, sinhl, sinh, -711.0, 711.0, -10.0, 10.0)             \
    X(coshd, kiln_vcoshd, coshl, cosh, -711.0, 711.0, -10.0, 10.0)             \
    X(tanhd, kiln_vtanhd, tanhl, tanh, -30.0, 30.0, -10.0, 10.0)               \
    X(sigmoidd, kiln_vsigmoidd, refl_sigmoid, libm_sigmoid, -750.0, 50.0,      \
      -10.0, 10.0)                                                             \
    X(erfd, kiln_verfd, erfl, erf, -7.0, 7.0, -3.0, 3.0)                       \
    X(erfinvd, kiln_verfinvd, 0, 0, -1.0, 1.0, -1.0, 1.0)

/* One expansion: static void run_expf(const float *x, float *y, size_t n)
 * { for (i) y[i] = kiln_vexpf(x[i]); } and libm_run_expf likewise. */
#define VF_LOOPS(name, fn, ref, lm, lo, hi, slo, shi)                          \
    static void run_##name(const float *x, float *y, size_t n)                 \
    {                                                                          \
        for (size_t i = 0; i < n; i++) {                                       \
            y[i] = fn(x[i]);                                                   \
        }                                                                      \
    }                                                                          \
    static double ref1_##name(double x)                                        \
    {                                                                          \
        return ref(x);                                                         \
    }
VF_LIST(VF_LOOPS)

#define VD_LOOPS(name, fn, ref, lm, lo, hi, slo, shi)                          \
    static void run_##name(const float *xf, float *yf, size_t n)               \
    {                                                                          \
        const double *x = (const double *)(const void *)xf;                    \
        double *y = (double *)(void *)yf;                                      \
        for (size_t i = 0; i < n; i++) {                                       \
            y[i] = fn(x[i]);                                                   \
        }                                                                      \
    }
VD_LIST(VD_LOOPS)

typedef void (*run_fn)(const float *, float *, size_t);
typedef double (*ref_fn)(double);
typedef float (*libmf_fn)(float);
typedef double (*libmd_fn)(double);
typedef long double (*refl_fn)(long double);

struct row {
    const char *name;
    run_fn run;
    ref_fn ref;   /* float32 rows */
    refl_fn refl; /* float64 rows; 0 for erfinvd */
    libmf_fn libmf;
    libmd_fn libmd;
    double lo, hi, slo, shi;
};

#define VF_ROW(name, fn, ref, lm, lo, hi, slo, shi)                            \
    {#name, run_##name, ref1_##name, 0, lm, 0, lo, hi, slo, shi},
#define VD_ROW(name, fn, ref, lm, lo, hi, slo, shi)                            \
    {#name, run_##name, 0, ref, 0, lm, lo, hi, slo, shi},

static const struct row frows[] = {VF_LIST(VF_ROW)};
static const struct row drows[] = {VD_LIST(VD_ROW)};

/* ------------------------------------------------------------------------ */
/* Error measures                                                           */
/* ------------------------------------------------------------------------ */

struct err {
    double ulp, iulp;
    double at_ulp, at_iulp;
};

/* Monotonic integer image of a float (both zeros map to 0). */
static int64_t ford(float f)
{
    uint32_t u = kiln__vmath_fbits(f);
    return (u >> 31) ? -(int64_t)(u & 0x7fffffffu) : (int64_t)u;
}

static int64_t dord(double d)
{
    uint64_t u = kiln__vmath_dbits(d);
    return (u >> 63) ? -(int64_t)(u & 0x7fffffffffffffffull) : (int64_t)u;
}

static void note(struct err *e, double ulp, double iulp, double x)
{
    if (ulp > e->ulp) {
        e->ulp = ulp;
        e->at_ulp = x;
    }
    if (iulp > e->iulp) {
        e->iulp = iulp;
        e->at_iulp = x;
    }
}

/* A special-value mismatch counts as 1e9 ulp. */
static void measure_f(struct err *e, float y, double ref, double x)
{
    float rf = (float)ref;
    if (isnan(ref) || isnan(y) || isinf(rf) || isinf(y)) {
        int same = (isnan(ref) && isnan(y)) || y == rf;
        note(e, same ? 0.0 : 1e9, same ? 0.0 : 1e9, x);
        return;
    }
    int ex;
    frexp(ref, &ex);
    double ulp = ldexp(1.0, ex - 24 < -149 ? -149 : ex - 24);
    double di = (double)llabs(ford(y) - ford(rf));
    note(e, fabs((double)y - ref) / ulp, di, x);
}

static void measure_d(struct err *e, double y, long double ref, double x)
{
    double rd = (double)ref;
    if (isnan(ref) || isnan(y) || isinf(rd) || isinf(y)) {
        int same = (isnan(ref) && isnan(y)) || y == rd;
        note(e, same ? 0.0 : 1e9, same ? 0.0 : 1e9, x);
        return;
    }
    int ex;
    frexpl(ref, &ex);
    long double ulp = ldexpl(1.0L, ex - 53 < -1074 ? -1074 : ex - 53);
    double di = (double)llabs(dord(y) - dord(rd));
    note(e, (double)(fabsl((long double)y - ref) / ulp), di, x);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Every stride-th float bit pattern inside [lo, hi] (an odd stride reaches
 * both signs), plus a uniform grid over the finite part of the domain. */
static struct err sweep_f(const struct row *r, uint32_t stride)
{
    static float xs[BATCH], ys[BATCH];
    struct err e = {0, 0, 0, 0};
    size_t n = 0;
    double glo = r->lo < -1e4 ? -1e4 : r->lo;
    double ghi = r->hi > 1e4 ? 1e4 : r->hi;
    uint64_t ngrid = 1u << 20;
    uint64_t total = 0x100000000ull / stride + ngrid;
    for (uint64_t i = 0; i < total; i++) {
        float x;
        if (i < 0x100000000ull / stride) {
            x = kiln__vmath_ffrom((uint32_t)(i * stride));
        } else {
            x = (float)(glo + (ghi - glo) * (double)(i - total + ngrid) /
                                  (double)ngrid);
        }
        if (!(x >= r->lo && x <= r->hi)) {
            continue;
        }
        xs[n++] = x;
        if (n == BATCH || i + 1 == total) {
            r->run(xs, ys, n);
            for (size_t k = 0; k < n; k++) {
                measure_f(&e, ys[k], r->ref(xs[k]), xs[k]);
            }
            n = 0;
        }
    }
    if (n) {
        r->run(xs, ys, n);
        for (size_t k = 0; k < n; k++) {
            measure_f(&e, ys[k], r->ref(xs[k]), xs[k]);
        }
    }
    return e;
}

/* Random doubles: half uniform over [lo, hi] (clipped to +-1e4), half with
 * a uniformly random exponent, so tiny and huge inputs are covered. */
static double rand_in(double lo, double hi)
{
    for (;;) {
        double x;
        if (next_rand() & 1) {
            double l = lo < -1e4 ? -1e4 : lo, h = hi > 1e4 ? 1e4 : hi;
            x = l + (h - l) * (double)(next_rand() >> 11) * 0x1p-53;
        } else {
            double m = 1.0 + (double)(next_rand() >> 12) * 0x1p-52;
            x = ldexp(m, (int)(next_rand() % 2100) - 1074);
            x = (next_rand() & 1) ? -x : x;
        }
        if (x >= lo && x <= hi) {
            return x;
        }
    }
}

static struct err sweep_d(const struct row *r, long nsamples)
{
    static double xs[BATCH], ys[BATCH];
    struct err e = {0, 0, 0, 0};
    for (long done = 0; done < nsamples; done += BATCH) {
        for (size_t k = 0; k < BATCH; k++) {
            xs[k] = rand_in(r->lo, r->hi);
            /* erfinv near +-1, where the tail polynomial works */
            if (!r->refl && (k & 3) == 0) {
                xs[k] = 1.0 - ldexp((double)(next_rand() >> 11) * 0x1p-53,
                                    -(int)(next_rand() % 50));
            }
        }
        r->run((const float *)(const void *)xs, (float *)(void *)ys, BATCH);
        for (size_t k = 0; k < BATCH; k++) {
            long double ref =
                r->refl ? r->refl(xs[k]) : refl_erfinv(xs[k], ys[k]);
            measure_d(&e, ys[k], ref, xs[k]);
        }
    }
    return e;
}

/* atan2 over random pairs of float bit patterns, both finite. */
static struct err sweep_atan2(uint32_t stride)
{
    struct err e = {0, 0, 0, 0};
    uint64_t n = 0x100000000ull / stride;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = next_rand();
        float y = kiln__vmath_ffrom((uint32_t)b);
        float x = kiln__vmath_ffrom((uint32_t)(b >> 32));
        if (!isfinite(x) || !isfinite(y)) {
            continue;
        }
        measure_f(&e, kiln_vatan2f(y, x), atan2((double)y, (double)x), x);
    }
    return e;
}

/* ------------------------------------------------------------------------ */
/* Throughput                                                               */
/* ------------------------------------------------------------------------ */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *bufx, *bufy;

/* Best of three runs, ns per element. */
static double time_run(run_fn run)
{
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t0 = now();
        run(bufx, bufy, NSPEED);
        double t = now() - t0;
        best = t < best ? t : best;
    }
    return best * 1e9 / NSPEED;
}

static double time_libmf(libmf_fn f)
{
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t0 = now();
        for (size_t i = 0; i < NSPEED; i++) {
            bufy[i] = f(bufx[i]);
        }
        double t = now() - t0;
        best = t < best ? t : best;
    }
    return best * 1e9 / NSPEED;
}

static double time_libmd(libmd_fn f)
{
    const double *x = (const double *)(const void *)bufx;
    double *y = (double *)(void *)bufy;
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t0 = now();
        for (size_t i = 0; i < NSPEED; i++) {
            y[i] = f(x[i]);
        }
        double t = now() - t0;
        best = t < best ? t : best;
    }
    return best * 1e9 / NSPEED;
}

/* atan2f over y, x in [-10, 10]: the y half of the buffer is bufy, the
 * result goes to bufx's second half. */
static double time_atan2(int libm)
{
    size_t n = NSPEED / 2;
    float *y = bufy, *x = bufx, *out = bufx + n;
    for (size_t i = 0; i < n; i++) {
        x[i] = (float)(20.0 * (double)(next_rand() >> 11) * 0x1p-53 - 10.0);
        y[i] = (float)(20.0 * (double)(next_rand() >> 11) * 0x1p-53 - 10.0);
    }
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t0 = now();
        if (libm) {
            for (size_t i = 0; i < n; i++) {
                out[i] = atan2f(y[i], x[i]);
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                out[i] = kiln_vatan2f(y[i], x[i]);
            }
        }
        double t = now() - t0;
        best = t < best ? t : best;
    }
    return best * 1e9 / (double)n;
}

static void fill(const struct row *r, int dbl)
{
    for (size_t i = 0; i < NSPEED; i++) {
        double u = (double)(next_rand() >> 11) * 0x1p-53;
        double x = r->slo + (r->shi - r->slo) * u;
        if (dbl) {
            ((double *)(void *)bufx)[i] = x;
        } else {
            bufx[i] = (float)x;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Main                                                                     */
/* ------------------------------------------------------------------------ */

static void print_row(const char *name, double lo, double hi, struct err e,
                      double tv, double tl)
{
    printf("%-9s [%10.3g, %10.3g] %8.3f %5.0f  %-14.8g", name, lo, hi, e.ulp,
           e.iulp, e.at_ulp);
    if (tv > 0) {
        printf(" %6.2f", tv);
        if (tl > 0) {
            printf(" %6.2f", tl);
        } else {
            printf("      -");
        }
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    uint32_t stride = 97;
    long nsamples = 2000000;
    int speed = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--stride") && i + 1 < argc) {
            stride = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--samples") && i + 1 < argc) {
            nsamples = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--no-speed")) {
            speed = 0;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr,
                    "usage: %s [--stride N] [--samples N] "
                    "[--no-speed] [--only NAME]\n",
                    argv[0]);
            return 2;
        }
    }
    if (stride == 0) {
        stride = 1;
    }
    if (speed) {
        bufx = malloc(NSPEED * sizeof(double));
        bufy = malloc(NSPEED * sizeof(double));
        if (!bufx || !bufy) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
    }
    printf("float32: every %u-th bit pattern in the domain + 1M-point grid; "
           "float64: %ld random inputs\n",
           stride, nsamples);
    printf("%-9s %-25s %8s %5s  %-14s %6s %6s\n", "function", "domain", "ulp",
           "iulp", "max ulp at", "ns/el", "libm");
    for (size_t k = 0; k < sizeof frows / sizeof frows[0]; k++) {
        const struct row *r = &frows[k];
        if (only && strcmp(only, r->name)) {
            continue;
        }
        struct err e = sweep_f(r, stride);
        double tv = 0, tl = 0;
        if (speed) {
            fill(r, 0);
            tv = time_run(r->run);
            tl = r->libmf ? time_libmf(r->libmf) : 0;
        }
        print_row(r->name, r->lo, r->hi, e, tv, tl);
    }
    if (!only || !strcmp(only, "atan2f")) {
        struct err e = sweep_atan2(stride);
        double tv = speed ? time_atan2(0) : 0;
        double tl = speed ? time_atan2(1) : 0;
        print_row("atan2f", -FLT_MAX, FLT_MAX, e, tv, tl);
    }
    for (size_t k = 0; k < sizeof drows / sizeof drows[0]; k++) {
        const struct row *r = &drows[k];
        if (only && strcmp(only, r->name)) {
            continue;
        }
        struct err e = sweep_d(r, nsamples);
        double tv = 0, tl = 0;
        if (speed) {
            fill(r, 1);
            tv = time_run(r->run);
            tl = r->libmd ? time_libmd(r->libmd) : 0;
        }
        print_row(r->name, r->lo, r->hi, e, tv, tl);
    }
    free(bufx);
    free(bufy);
    return 0;
}
