/*
 * compile_demo.c - kiln_compile from C: a compiled gelu, and a training
 * step whose parameters are captured state.
 *
 * 1. gelu(x) = x * (1 + erf(x / sqrt 2)) / 2 on (4, 1000, 4096) float32,
 *    called eagerly and compiled (the first compiled call traces the body
 *    and builds a fused kernel; later calls replay it). Prints the time per
 *    call of both and their largest difference.
 * 2. Linear regression y = X w by gradient descent, X (256, 16), w (16, 1).
 *    One step computes the loss mean((X w - y)^2) and its gradient
 *    2/N X^T (X w - y) by hand, and stores w - lr * grad in a state list
 *    that is both the compiled function's captured inputs (read at every
 *    call) and its captured outputs (replaced after every call), as MLX's
 *    `@partial(mx.compile, inputs=state, outputs=state)`. 50 compiled steps,
 *    the loss printed every 10; the same step run uncompiled alongside must
 *    give the same loss at every step within 1e-5 (relative to 1 + |loss|).
 *
 * Every array a kiln op returns inside kiln_scope_begin/kiln_scope_end
 * belongs to the scope, so the nested expressions below leak nothing;
 * lists and functions are freed explicitly. `make demo` runs it; it exits
 * 0 only when every check passes.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#define CALLS 5 /* timed calls of gelu, eager and compiled */
#define NS 256  /* samples */
#define NF 16   /* features */
#define STEPS 50
#define LR 0.3
#define LOSS_TOL 1e-5

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Pseudo-random values in [lo, hi). */
static void fill(float *v, int64_t n, uint32_t seed, float lo, float hi)
{
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        v[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

/* The status a body returns when an op failed (the error kiln set). */
static kiln_status fail_status(void)
{
    kiln_status s = kiln_errcode();
    return s != KILN_OK ? s : KILN_ERR_RUNTIME;
}

/* Calls f and evaluates its results; the results, or NULL on error. */
static kiln_list *call_eval(kiln_fn *f, const kiln_list *args)
{
    kiln_list *r = kiln_fn_call(f, args);
    for (size_t i = 0; r && i < kiln_list_size(r); i++) {
        if (kiln_array_eval(kiln_list_get(r, i)) != KILN_OK) {
            kiln_list_free(r);
            return NULL;
        }
    }
    return r;
}

/* ------------------------------------------------------------------ */
/* 1. gelu                                                            */
/* ------------------------------------------------------------------ */

/* The body of a kiln_fn: reads args, pushes its results. Its arrays belong
 * to its own scope; kiln_list_push keeps the result alive. */
static kiln_status gelu_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    kiln_array *x = kiln_list_get(args, 0);
    kiln_status st;
    (void)ctx;
    kiln_scope_begin();
    kiln_array *e = kiln_erf(kiln_divide(x, kiln_weak_f64(M_SQRT2)));
    kiln_array *y = kiln_divide(
        kiln_multiply(x, kiln_add(kiln_weak_f64(1.0), e)),
        kiln_weak_f64(2.0));
    st = y ? kiln_list_push(results, y) : fail_status();
    kiln_scope_end(NULL);
    return st;
}

/* Median ms per call of f (call, evaluate, release) over CALLS calls; the
 * last result is handed out in *keep. NAN on error. */
static double time_calls(kiln_fn *f, const kiln_list *args,
                         kiln_list **keep)
{
    double t[CALLS];
    for (int i = 0; i < CALLS; i++) {
        double t0 = now_ms();
        kiln_list *r = call_eval(f, args);
        t[i] = now_ms() - t0;
        if (!r) {
            return NAN;
        }
        if (i + 1 < CALLS) {
            kiln_list_free(r);
        } else {
            *keep = r;
        }
    }
    qsort(t, CALLS, sizeof t[0], cmp_double);
    return t[CALLS / 2];
}

static bool demo_gelu(void)
{
    const int64_t shape[3] = {4, 1000, 4096};
    const int64_t n = shape[0] * shape[1] * shape[2];
    float *h = malloc(sizeof *h * (size_t)n);
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cf = f ? kiln_compile(f, NULL) : NULL;
    kiln_list *args = kiln_list_new(), *re = NULL, *rc = NULL, *r1 = NULL;
    kiln_compile_stats st;
    double t_first = NAN, t_eager, t_comp, diff = NAN;
    bool ok = false;

    printf("1. gelu(x) = x * (1 + erf(x / sqrt 2)) / 2, x (%lld, %lld, "
           "%lld) float32\n",
           (long long)shape[0], (long long)shape[1], (long long)shape[2]);
    if (!h || !cf || !args) {
        printf("   error: %s\n", h ? kiln_errmsg() : "out of memory");
        goto cleanup;
    }
    fill(h, n, 1, -4.0f, 4.0f);
    kiln_scope_begin();
    kiln_array *x = kiln_array_from_data(h, shape, 3, KILN_DTYPE_FLOAT32);
    if (kiln_list_push(args, x) == KILN_OK) {
        double t0 = now_ms();
        r1 = call_eval(cf, args); /* traces, fuses, builds the kernel */
        t_first = now_ms() - t0;
    }
    kiln_scope_end(NULL);
    if (!r1) {
        printf("   error: %s\n", kiln_errmsg());
        goto cleanup;
    }
    t_eager = time_calls(f, args, &re);
    t_comp = time_calls(cf, args, &rc);
    if (!re || !rc) {
        printf("   error: %s\n", kiln_errmsg());
        goto cleanup;
    }
    kiln_scope_begin();
    kiln_array *d = kiln_max(kiln_abs(kiln_subtract(kiln_list_get(re, 0),
                                                    kiln_list_get(rc, 0))),
                             NULL, 0, false);
    if (!d || kiln_array_item_f64(d, &diff) != KILN_OK) {
        printf("   error: %s\n", kiln_errmsg());
    }
    kiln_scope_end(NULL);
    memset(&st, 0, sizeof st);
    kiln_compile_stats_get(cf, &st);
    ok = diff <= 1e-6;
    printf("   first compiled call (trace, fuse, build): %8.2f ms\n"
           "   eager:    %8.2f ms per call (median of %d)\n"
           "   compiled: %8.2f ms per call (median of %d), %.1fx faster\n"
           "   max |eager - compiled| = %.3g %s\n"
           "   counters: %lld calls, %lld traces, %lld cache hits, %lld "
           "kernels built, %lld loaded from cache, %lld interpreted\n",
           t_first, t_eager, CALLS, t_comp, CALLS, t_eager / t_comp, diff,
           ok ? "ok" : "FAILED (tolerance 1e-6)", (long long)st.calls,
           (long long)st.traces, (long long)st.cache_hits,
           (long long)st.kernels_built, (long long)st.kernels_loaded,
           (long long)st.interpreted);
cleanup:
    kiln_list_free(r1);
    kiln_list_free(re);
    kiln_list_free(rc);
    kiln_list_free(args);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    free(h);
    return ok;
}

/* ------------------------------------------------------------------ */
/* 2. a training step with captured state                             */
/* ------------------------------------------------------------------ */

typedef struct {
    kiln_list *state; /* [w]: read, then replaced by the step */
} step_ctx;

/* loss = mean((X w - y)^2); w <- w - lr * 2/N X^T (X w - y). Pushes the
 * loss (computed with the w it read) and stores the new w in the state. */
static kiln_status step_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    step_ctx *c = ctx;
    kiln_array *X = kiln_list_get(args, 0), *y = kiln_list_get(args, 1);
    kiln_array *w = kiln_list_get(c->state, 0);
    kiln_status st;
    kiln_scope_begin();
    kiln_array *r = kiln_subtract(kiln_matmul(X, w), y);
    kiln_array *loss = kiln_mean(kiln_square(r), NULL, 0, false);
    kiln_array *grad = kiln_multiply(
        kiln_matmul(kiln_transpose(X, NULL, 0), r),
        kiln_weak_f64(2.0 / NS));
    kiln_array *w_new = kiln_subtract(
        w, kiln_multiply(kiln_weak_f64(LR), grad));
    if (!loss || !w_new) {
        st = fail_status();
    } else {
        st = kiln_list_set(c->state, 0, w_new);
        st = st == KILN_OK ? kiln_list_push(results, loss) : st;
    }
    kiln_scope_end(NULL);
    return st;
}

/* Evaluates the loss of a step and its new state; the loss, NAN on
 * error. */
static double settle(kiln_list *res, kiln_list *state)
{
    kiln_array *xs[2] = {kiln_list_get(res, 0), kiln_list_get(state, 0)};
    double loss = NAN;
    if (kiln_eval(xs, 2) != KILN_OK ||
        kiln_array_item_f64(xs[0], &loss) != KILN_OK) {
        return NAN;
    }
    return loss;
}

static bool demo_training(void)
{
    const int64_t xs[2] = {NS, NF}, ys[2] = {NS, 1}, ws[2] = {NF, 1};
    float X[NS * NF], y[NS], noise[NS];
    kiln_list *state_c = kiln_list_new(), *state_e = kiln_list_new();
    kiln_list *args = kiln_list_new();
    step_ctx ctx_c = {state_c}, ctx_e = {state_e};
    kiln_fn *fc = kiln_fn_new(step_body, &ctx_c, NULL, "step");
    kiln_fn *fe = kiln_fn_new(step_body, &ctx_e, NULL, "step_uncompiled");
    kiln_fn *step = NULL;
    kiln_compile_opts opts;
    kiln_compile_stats st;
    double first = NAN, prev = INFINITY, loss_c = NAN, worst = 0.0;
    double wdiff = NAN;
    bool ok = true;

    printf("\n2. linear regression y = X w, X (%d, %d), w (%d, 1): %d "
           "gradient steps, lr %.2f,\n   w captured as state "
           "(opts.inputs = opts.outputs = [w])\n",
           NS, NF, NF, STEPS, LR);
    /* y = X w_true + small noise, w_true[j] = (j - 7.5) / 4 */
    fill(X, NS * NF, 3, -1.0f, 1.0f);
    fill(noise, NS, 4, -0.01f, 0.01f);
    for (int i = 0; i < NS; i++) {
        double s = noise[i];
        for (int j = 0; j < NF; j++) {
            s += (double)X[i * NF + j] * ((j - 7.5) / 4.0);
        }
        y[i] = (float)s;
    }
    memset(&opts, 0, sizeof opts);
    opts.inputs = state_c;
    opts.outputs = state_c;
    step = fc ? kiln_compile(fc, &opts) : NULL;

    kiln_scope_begin();
    kiln_array *kx = kiln_array_from_data(X, xs, 2, KILN_DTYPE_FLOAT32);
    kiln_array *ky = kiln_array_from_data(y, ys, 2, KILN_DTYPE_FLOAT32);
    kiln_array *w0 = kiln_zeros(ws, 2, KILN_DTYPE_FLOAT32);
    bool built = step && fe && args && state_c && state_e &&
                 kiln_list_push(args, kx) == KILN_OK &&
                 kiln_list_push(args, ky) == KILN_OK &&
                 kiln_list_push(state_c, w0) == KILN_OK &&
                 kiln_list_push(state_e, w0) == KILN_OK;
    kiln_scope_end(NULL);
    if (!built) {
        printf("   error: %s\n", kiln_errmsg());
        ok = false;
        goto cleanup;
    }

    for (int s = 0; s < STEPS; s++) {
        kiln_list *rc = kiln_fn_call(step, args); /* compiled */
        kiln_list *re = kiln_fn_call(fe, args);   /* uncompiled */
        double le = NAN;
        loss_c = rc ? settle(rc, state_c) : NAN;
        le = re ? settle(re, state_e) : NAN;
        kiln_list_free(rc);
        kiln_list_free(re);
        if (isnan(loss_c) || isnan(le)) {
            printf("   step %d: error: %s\n", s, kiln_errmsg());
            ok = false;
            goto cleanup;
        }
        double d = fabs(loss_c - le) / (1.0 + fabs(le));
        worst = d > worst ? d : worst;
        if (s == 0) {
            first = loss_c;
        }
        if (s % 10 == 0 || s == STEPS - 1) {
            printf("   step %2d  loss %.6e  (uncompiled %.6e)%s\n", s,
                   loss_c, le, loss_c < prev ? "" : "  NOT FALLING");
            ok = ok && loss_c < prev;
            prev = loss_c;
        }
    }

    kiln_scope_begin();
    kiln_array *dw = kiln_max(
        kiln_abs(kiln_subtract(kiln_list_get(state_c, 0),
                               kiln_list_get(state_e, 0))),
        NULL, 0, false);
    if (!dw || kiln_array_item_f64(dw, &wdiff) != KILN_OK) {
        ok = false;
    }
    kiln_scope_end(NULL);
    memset(&st, 0, sizeof st);
    kiln_compile_stats_get(step, &st);
    printf("   loss %.3e -> %.3e; compiled vs uncompiled: largest loss "
           "difference %.2g (tolerance %.0e), max |w_c - w_u| %.2g\n"
           "   counters: %lld calls, %lld traces, %lld cache hits\n",
           first, loss_c, worst, LOSS_TOL, wdiff, (long long)st.calls,
           (long long)st.traces, (long long)st.cache_hits);
    if (!(worst <= LOSS_TOL) || !(wdiff <= 1e-4)) {
        printf("   FAILED: the compiled step differs from the uncompiled "
               "one\n");
        ok = false;
    }
    if (!(loss_c < 1e-2 * first)) {
        printf("   FAILED: the loss did not fall\n");
        ok = false;
    }
cleanup:
    kiln_fn_release(step);
    kiln_fn_release(fc);
    kiln_fn_release(fe);
    kiln_list_free(args);
    kiln_list_free(state_c);
    kiln_list_free(state_e);
    return ok;
}

int main(void)
{
    printf("kiln compile demo, %d threads\n\n", kiln_num_threads());
    bool ok = demo_gelu();
    ok = demo_training() && ok;
    printf("\n%s\n", ok ? "compile_demo: all checks passed"
                        : "compile_demo: CHECK FAILED");
    return ok ? 0 : 1;
}
