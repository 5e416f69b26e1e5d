/*
 * demo.c - kiln's headline example, eager core: a small model step
 *
 *     h = gelu(x) = x * (1 + erf(x / sqrt 2)) / 2     x: (1000, 4096) f32
 *     z = h @ w                                        w: (4096, 256)  f32
 *     p = softmax(z, axis=-1)
 *
 * built from kiln ops inside scopes (so nested calls like
 * kiln_multiply(x, kiln_add(...)) leak nothing), evaluated lazily, timed
 * per call, and checked against plain C loops. `make demo` builds and runs
 * it; it exits 0 only when every check passes.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#define ROWS 1000
#define COLS 4096
#define OUT 256
#define CALLS 5
#define STEP 8 /* matmul and softmax are checked on every STEP-th row */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* the model, in kiln                                                 */
/* ------------------------------------------------------------------ */

/* gelu(x) = x * (1 + erf(x / sqrt 2)) / 2. Every intermediate belongs to
 * the scope; kiln_scope_end hands the result out (a new reference). */
static kiln_array *gelu(kiln_array *x)
{
    kiln_scope_begin();
    kiln_array *e = kiln_erf(kiln_divide(x, kiln_weak_f64(M_SQRT2)));
    kiln_array *y = kiln_multiply(kiln_multiply(x, kiln_add(e,
                                                  kiln_weak_f64(1.0))),
                                  kiln_weak_f64(0.5));
    return kiln_scope_end(y);
}

/* softmax(gelu(x) @ w) over the last axis; also hands out h and z when
 * asked (new references), so the demo can check each stage. */
static kiln_array *model(kiln_array *x, kiln_array *w, kiln_array **h_out,
                         kiln_array **z_out)
{
    const int last = -1;
    kiln_scope_begin();
    kiln_array *h = gelu(x); /* owned by this scope from here on */
    kiln_array *z = kiln_matmul(h, w);
    kiln_array *p = kiln_softmax(z, &last, 1, false);
    if (h_out) {
        *h_out = kiln_array_retain(h);
    }
    if (z_out) {
        *z_out = kiln_array_retain(z);
    }
    return kiln_scope_end(p);
}

/* ------------------------------------------------------------------ */
/* the same in plain C                                                */
/* ------------------------------------------------------------------ */

static void ref_gelu(const float *x, float *h, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        h[i] = (float)(v * (1.0 + erf(v / M_SQRT2)) * 0.5);
    }
}

/* z = h @ w on every STEP-th row, accumulated in double. */
static void ref_matmul(const float *h, const float *w, float *z)
{
    double *acc = malloc(sizeof *acc * OUT);
    if (!acc) {
        return;
    }
    for (int i = 0; i < ROWS; i += STEP) {
        memset(acc, 0, sizeof *acc * OUT);
        for (int k = 0; k < COLS; k++) {
            double a = h[(int64_t)i * COLS + k];
            const float *wr = w + (int64_t)k * OUT;
            for (int j = 0; j < OUT; j++) {
                acc[j] += a * wr[j];
            }
        }
        for (int j = 0; j < OUT; j++) {
            z[(int64_t)i * OUT + j] = (float)acc[j];
        }
    }
    free(acc);
}

/* softmax over each STEP-th row of z. */
static void ref_softmax(const float *z, float *p)
{
    for (int i = 0; i < ROWS; i += STEP) {
        const float *zr = z + (int64_t)i * OUT;
        double m = zr[0], s = 0.0;
        for (int j = 1; j < OUT; j++) {
            m = zr[j] > m ? zr[j] : m;
        }
        for (int j = 0; j < OUT; j++) {
            s += exp(zr[j] - m);
        }
        for (int j = 0; j < OUT; j++) {
            p[(int64_t)i * OUT + j] = (float)(exp(zr[j] - m) / s);
        }
    }
}

/* ------------------------------------------------------------------ */
/* checks and printing                                                */
/* ------------------------------------------------------------------ */

/* Largest |a - ref| over every step-th row of a (rows x cols). */
static double max_abs_diff(kiln_array *a, const float *ref, int64_t rows,
                           int64_t cols, int step)
{
    const float *v = kiln_array_data(a);
    double worst = 0.0;
    if (!v) {
        return INFINITY;
    }
    for (int64_t r = 0; r < rows; r += step) {
        for (int64_t i = r * cols; i < (r + 1) * cols; i++) {
            double d = fabs((double)v[i] - ref[i]);
            if (!(d <= worst)) { /* catches NaN too */
                worst = d;
            }
        }
    }
    return worst;
}

static bool check(const char *what, kiln_array *a, const float *ref,
                  int step, double tol)
{
    const int64_t *sh = kiln_array_shape(a);
    double d = max_abs_diff(a, ref, sh[0], sh[1], step);
    bool ok = d <= tol;
    printf("  %-8s max abs diff vs plain C: %.3g (tolerance %.0e, %s) %s\n",
           what, d, tol, step == 1 ? "all rows" : "every 8th row",
           ok ? "ok" : "FAILED");
    return ok;
}

/* name: shape dtype, then the first values of the first and last rows. */
static void show(const char *name, kiln_array *a)
{
    const float *v = kiln_array_data(a);
    const int64_t *sh = kiln_array_shape(a);
    int64_t rows = sh[0], cols = sh[1];
    if (!v) {
        printf("  %s: <error: %s>\n", name, kiln_errmsg());
        return;
    }
    printf("  %-2s (%lld, %lld) %s:", name, (long long)rows,
           (long long)cols, kiln_dtype_name(kiln_array_dtype(a)));
    for (int64_t r = 0; r < rows; r += rows - 1) {
        printf("  [%lld, :3] =", (long long)r);
        for (int64_t j = 0; j < 3; j++) {
            printf(" %+.4g", v[r * cols + j]);
        }
    }
    printf("\n");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void fill(float *v, int64_t n, uint32_t seed, float lo, float hi)
{
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

int main(void)
{
    const int64_t xs[2] = {ROWS, COLS}, ws[2] = {COLS, OUT};
    const int64_t nx = (int64_t)ROWS * COLS, nz = (int64_t)ROWS * OUT;
    float *xv = malloc(sizeof *xv * (size_t)nx);
    float *wv = malloc(sizeof *wv * (size_t)COLS * OUT);
    float *hr = malloc(sizeof *hr * (size_t)nx);
    float *zr = malloc(sizeof *zr * (size_t)nz);
    float *pr = malloc(sizeof *pr * (size_t)nz);
    kiln_array *x = NULL, *w = NULL, *h = NULL, *z = NULL, *p = NULL;
    bool ok = false;
    double t0, t_kiln, times[CALLS];

    if (!xv || !wv || !hr || !zr || !pr) {
        fprintf(stderr, "demo: out of memory\n");
        goto cleanup;
    }
    fill(xv, nx, 1, -4.0f, 4.0f);
    fill(wv, (int64_t)COLS * OUT, 2, -0.05f, 0.05f);
    x = kiln_array_from_data(xv, xs, 2, KILN_DTYPE_FLOAT32);
    w = kiln_array_from_data(wv, ws, 2, KILN_DTYPE_FLOAT32);
    if (!x || !w) {
        fprintf(stderr, "demo: %s\n", kiln_errmsg());
        goto cleanup;
    }
    printf("kiln demo: p = softmax(gelu(x) @ w, axis=-1), %d threads\n",
           kiln_num_threads());

    /* one call, keeping every stage for the checks */
    p = model(x, w, &h, &z);
    if (!p || kiln_array_eval(p) != KILN_OK) {
        fprintf(stderr, "demo: %s\n", kiln_errmsg());
        goto cleanup;
    }
    show("x", x);
    show("w", w);
    show("h", h);
    show("z", z);
    show("p", p);

    /* time per call: build the graph, evaluate, release (the median of
     * CALLS calls; the call above warmed the buffer pool up) */
    for (int i = 0; i < CALLS; i++) {
        kiln_array *q;
        t0 = now_s();
        q = model(x, w, NULL, NULL);
        if (!q || kiln_array_eval(q) != KILN_OK) {
            fprintf(stderr, "demo: %s\n", kiln_errmsg());
            kiln_array_release(q);
            goto cleanup;
        }
        kiln_array_release(q);
        times[i] = now_s() - t0;
    }
    qsort(times, CALLS, sizeof times[0], cmp_double);
    t_kiln = times[CALLS / 2];
    printf("time per call (build, evaluate, release): %.2f ms, median of "
           "%d\n", t_kiln * 1e3, CALLS);
    ref_gelu(xv, hr, nx);
    ref_matmul(hr, wv, zr);
    ref_softmax(zr, pr);

    /* gelu, matmul and the whole chain against the C chain; softmax
     * against C softmax of kiln's own z, so an error points at a stage */
    printf("checks:\n");
    ok = check("gelu", h, hr, 1, 1e-5);
    ok = check("matmul", z, zr, STEP, 1e-3) && ok;
    ok = check("chain", p, pr, STEP, 1e-4) && ok;
    ref_softmax(kiln_array_data(z), pr);
    ok = check("softmax", p, pr, STEP, 1e-6) && ok;
    printf("%s\n", ok ? "demo: all checks passed" : "demo: CHECK FAILED");

cleanup:
    kiln_array_release(p);
    kiln_array_release(z);
    kiln_array_release(h);
    kiln_array_release(w);
    kiln_array_release(x);
    free(xv);
    free(wv);
    free(hr);
    free(zr);
    free(pr);
    return ok ? 0 : 1;
}
