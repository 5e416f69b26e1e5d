/*
 * train_mlp.c - a 2-layer MLP trained by Adam with a compiled step:
 * forward, backward (kiln_value_and_grad) and the optimiser update in one
 * kiln_compile'd graph, with the parameters and the optimiser state as
 * captured state and dropout drawing from the captured global random key.
 *
 * Task: inputs x ~ N(0, 1) of IN features, labels argmax(x T) for a fixed
 * random linear "teacher" T (IN, CLASSES); NB fixed batches of BATCH
 * examples, used in turn. Model: logits = dropout(relu(x W1 + b1)) W2 + b2,
 * loss = mean(logsumexp(logits) - logits[label]) (cross-entropy; the label
 * logit is read with kiln_take_along_axis). Dropout keeps each hidden unit
 * with probability KEEP (kiln_random_bernoulli with key NULL, the global
 * key) and scales the kept ones by 1 / KEEP.
 *
 * The step: (loss, grads) = value_and_grad(loss_fn, params), then Adam
 * written here (not a library): t += 1, m = b1 m + (1 - b1) g,
 * v = b2 v + (1 - b2) g^2, p -= lr (m / (1 - b1^t)) /
 * (sqrt(v / (1 - b2^t)) + eps), with t a float32 array so the step has no
 * host-side state. The 13 arrays [W1 b1 W2 b2, m x 4, v x 4, t] live in
 * one kiln_list that is the compiled step's opts.inputs and opts.outputs;
 * opts.random_state captures the global key, so every call draws a new
 * dropout mask.
 *
 * Checks (exit 1 when one fails): the loss falls (the mean of the last
 * PRINT_EVERY losses below half the first); the compiled run equals an
 * uncompiled run of the same step from the same seed (kiln_random_seed
 * before each run) within a relative 1e-4 on every loss and on the final
 * parameters; the compiled step traced once and replayed N - 1 times.
 * Timing: each run's first step is shown on its own (for the compiled run
 * it includes the trace and, with a cold kernel cache, the C compiler:
 * seconds, which averaged into the steps would hide the step time), then
 * the median of the others.
 *
 * Usage: train_mlp [in hidden classes batch steps]; defaults 64 128 10
 * 128 200 keep `make demo` short; 784 512 10 256 is the benchmark's size
 * (bench/mlp_bench.c).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#define NB 4            /* fixed batches, used in turn */
#define NPARAM 4        /* W1 b1 W2 b2 */
#define NSTATE 13       /* params, m, v, t */
#define KEEP 0.9        /* dropout keep probability */
#define LR 1e-3
#define BETA1 0.9
#define BETA2 0.999
#define EPS 1e-8
#define SEED 1234
#define PRINT_EVERY 20
#define REL_TOL 1e-4

typedef struct {
    int64_t in, hidden, classes, batch;
    int steps;
} sizes;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The status a body returns when an op failed (the error kiln set). */
static kiln_status fail_status(void)
{
    kiln_status s = kiln_errcode();
    return s != KILN_OK ? s : KILN_ERR_RUNTIME;
}

/* ------------------------------------------------------------------ */
/* the model and its step                                             */
/* ------------------------------------------------------------------ */

/* loss_fn(W1, b1, W2, b2, x, labels) -> [loss]. labels are int32 (B). */
static kiln_status loss_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    kiln_array *w1 = kiln_list_get(args, 0), *b1 = kiln_list_get(args, 1);
    kiln_array *w2 = kiln_list_get(args, 2), *b2 = kiln_list_get(args, 3);
    kiln_array *x = kiln_list_get(args, 4), *lab = kiln_list_get(args, 5);
    const int last = -1;
    kiln_status st;
    (void)ctx;
    kiln_scope_begin();
    kiln_array *h = kiln_maximum(kiln_add(kiln_matmul(x, w1), b1),
                                 kiln_weak_f64(0.0));
    kiln_array *keep = kiln_random_bernoulli(
        kiln_scalar_f64(KEEP, KILN_DTYPE_FLOAT32), h ? kiln_array_shape(h)
                                                     : NULL,
        h ? kiln_array_ndim(h) : 0, NULL);
    kiln_array *hd = kiln_where(keep,
                                kiln_multiply(h, kiln_weak_f64(1.0 / KEEP)),
                                kiln_weak_f64(0.0));
    kiln_array *logits = kiln_add(kiln_matmul(hd, w2), b2);
    kiln_array *lse = kiln_logsumexp(logits, &last, 1, false);
    kiln_array *picked = kiln_squeeze(
        kiln_take_along_axis(logits, kiln_expand_dims(lab, &last, 1), -1,
                             false),
        &last, 1);
    kiln_array *loss = kiln_mean(kiln_subtract(lse, picked), NULL, 0,
                                 false);
    st = loss ? kiln_list_push(results, loss) : fail_status();
    kiln_scope_end(NULL);
    return st;
}

typedef struct {
    kiln_list *state; /* [W1 b1 W2 b2, m x 4, v x 4, t]: read, replaced */
    kiln_fn *vg;      /* value_and_grad(loss_fn) over arguments 0..3 */
} step_ctx;

/* step(x, labels) -> [loss]; stores the new parameters and Adam state
 * in c->state. */
static kiln_status step_body(void *ctx, const kiln_list *args,
                             kiln_list *results)
{
    step_ctx *c = ctx;
    kiln_list *vargs = kiln_list_new(), *r = NULL;
    kiln_array *next[NSTATE] = {NULL};
    kiln_status st = vargs ? KILN_OK : fail_status();
    for (int i = 0; i < NPARAM && st == KILN_OK; i++) {
        st = kiln_list_push(vargs, kiln_list_get(c->state, (size_t)i));
    }
    for (int i = 0; i < 2 && st == KILN_OK; i++) {
        st = kiln_list_push(vargs, kiln_list_get(args, (size_t)i));
    }
    if (st == KILN_OK) {
        r = kiln_fn_call(c->vg, vargs); /* [loss, g1 .. g4] */
        st = r && kiln_list_size(r) == 1 + NPARAM ? KILN_OK : fail_status();
    }
    kiln_scope_begin();
    if (st == KILN_OK) {
        kiln_array *t = kiln_add(kiln_list_get(c->state, NSTATE - 1),
                                 kiln_weak_f64(1.0));
        /* bias corrections 1 - beta^t, as float32 0-d arrays */
        kiln_array *c1 = kiln_subtract(kiln_weak_f64(1.0),
                                       kiln_power(kiln_weak_f64(BETA1), t));
        kiln_array *c2 = kiln_subtract(kiln_weak_f64(1.0),
                                       kiln_power(kiln_weak_f64(BETA2), t));
        for (int i = 0; i < NPARAM; i++) {
            kiln_array *p = kiln_list_get(c->state, (size_t)i);
            kiln_array *m = kiln_list_get(c->state, (size_t)(NPARAM + i));
            kiln_array *v = kiln_list_get(c->state,
                                          (size_t)(2 * NPARAM + i));
            kiln_array *g = kiln_list_get(r, (size_t)(1 + i));
            kiln_array *m1 = kiln_add(
                kiln_multiply(kiln_weak_f64(BETA1), m),
                kiln_multiply(kiln_weak_f64(1.0 - BETA1), g));
            kiln_array *v1 = kiln_add(
                kiln_multiply(kiln_weak_f64(BETA2), v),
                kiln_multiply(kiln_weak_f64(1.0 - BETA2), kiln_square(g)));
            kiln_array *upd = kiln_divide(
                kiln_divide(m1, c1),
                kiln_add(kiln_sqrt(kiln_divide(v1, c2)),
                         kiln_weak_f64(EPS)));
            next[i] = kiln_subtract(p, kiln_multiply(kiln_weak_f64(LR),
                                                     upd));
            next[NPARAM + i] = m1;
            next[2 * NPARAM + i] = v1;
        }
        next[NSTATE - 1] = t;
        for (int i = 0; i < NSTATE && st == KILN_OK; i++) {
            st = next[i] ? kiln_list_set(c->state, (size_t)i, next[i])
                         : fail_status();
        }
        if (st == KILN_OK) {
            st = kiln_list_push(results, kiln_list_get(r, 0));
        }
    }
    kiln_scope_end(NULL);
    kiln_list_free(r);
    kiln_list_free(vargs);
    return st;
}

/* ------------------------------------------------------------------ */
/* data and state                                                     */
/* ------------------------------------------------------------------ */

/* NB batches [x0 y0 x1 y1 ...] from a fixed teacher, explicit keys (the
 * global key is left alone). */
static kiln_list *make_data(const sizes *z)
{
    kiln_list *d = kiln_list_new();
    const int64_t ts[2] = {z->in, z->classes}, xs[2] = {z->batch, z->in};
    bool ok = d != NULL;
    kiln_scope_begin();
    kiln_array *teacher = kiln_random_normal(ts, 2, KILN_DTYPE_FLOAT32,
                                             0.0, 1.0,
                                             kiln_random_key(7));
    for (int b = 0; b < NB && ok; b++) {
        kiln_array *x = kiln_random_normal(xs, 2, KILN_DTYPE_FLOAT32, 0.0,
                                           1.0,
                                           kiln_random_key(100 + b));
        kiln_array *y = kiln_astype(
            kiln_argmax(kiln_matmul(x, teacher), -1, false, false),
            KILN_DTYPE_INT32);
        ok = y && kiln_array_eval(x) == KILN_OK &&
             kiln_array_eval(y) == KILN_OK &&
             kiln_list_push(d, x) == KILN_OK &&
             kiln_list_push(d, y) == KILN_OK;
    }
    kiln_scope_end(NULL);
    if (!ok) {
        kiln_list_free(d);
        return NULL;
    }
    return d;
}

/* The initial state: He-initialised weights, zero biases, zero moments,
 * t = 0. Explicit keys; evaluated. */
static kiln_list *make_state(const sizes *z)
{
    const int64_t s1[2] = {z->in, z->hidden}, s2[2] = {z->hidden, z->classes};
    const int64_t sb1[1] = {z->hidden}, sb2[1] = {z->classes};
    kiln_list *s = kiln_list_new();
    bool ok = s != NULL;
    kiln_scope_begin();
    kiln_array *p[NPARAM] = {
        kiln_random_normal(s1, 2, KILN_DTYPE_FLOAT32, 0.0,
                           sqrt(2.0 / (double)z->in), kiln_random_key(1)),
        kiln_zeros(sb1, 1, KILN_DTYPE_FLOAT32),
        kiln_random_normal(s2, 2, KILN_DTYPE_FLOAT32, 0.0,
                           sqrt(2.0 / (double)z->hidden),
                           kiln_random_key(2)),
        kiln_zeros(sb2, 1, KILN_DTYPE_FLOAT32)};
    for (int k = 0; k < 3 && ok; k++) { /* params, m, v */
        for (int i = 0; i < NPARAM && ok; i++) {
            kiln_array *a = k == 0 ? p[i] : kiln_zeros_like(p[i]);
            ok = a && kiln_array_eval(a) == KILN_OK &&
                 kiln_list_push(s, a) == KILN_OK;
        }
    }
    kiln_array *t = kiln_scalar_f64(0.0, KILN_DTYPE_FLOAT32);
    ok = ok && t && kiln_list_push(s, t) == KILN_OK;
    kiln_scope_end(NULL);
    if (!ok) {
        kiln_list_free(s);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------------ */
/* a training run                                                     */
/* ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Runs z->steps steps of `step` (updating state) from kiln_random_seed
 * (SEED); losses[i] receives step i's loss, *median_ms the median time of
 * the steps after the first (the first step of a compiled function
 * traces it and builds its kernels: seconds with a cold kernel cache, so
 * it is reported on its own). false on error. */
static bool run(kiln_fn *step, kiln_list *state, const kiln_list *data,
                int steps, double *losses, const char *label,
                double *median_ms)
{
    kiln_list *args = kiln_list_new();
    double *ms = calloc((size_t)steps, sizeof *ms);
    bool ok = args && ms && kiln_random_seed(SEED) == KILN_OK;
    for (int s = 0; s < steps && ok; s++) {
        double t0 = now_ms();
        int b = s % NB;
        kiln_list *r = NULL;
        ok = kiln_list_size(args) == 0
                 ? kiln_list_push(args, kiln_list_get(data, 2 * b)) ==
                           KILN_OK &&
                       kiln_list_push(args, kiln_list_get(data, 2 * b + 1)) ==
                           KILN_OK
                 : kiln_list_set(args, 0, kiln_list_get(data, 2 * b)) ==
                           KILN_OK &&
                       kiln_list_set(args, 1, kiln_list_get(data, 2 * b + 1)) ==
                           KILN_OK;
        r = ok ? kiln_fn_call(step, args) : NULL;
        ok = r != NULL;
        if (ok) {
            /* evaluate the loss and the whole new state together */
            kiln_array *xs[NSTATE + 1];
            xs[0] = kiln_list_get(r, 0);
            for (int i = 0; i < NSTATE; i++) {
                xs[1 + i] = kiln_list_get(state, (size_t)i);
            }
            ok = kiln_eval(xs, NSTATE + 1) == KILN_OK &&
                 kiln_array_item_f64(xs[0], &losses[s]) == KILN_OK;
        }
        kiln_list_free(r);
        ms[s] = now_ms() - t0;
    }
    if (!ok) {
        printf("   %s run: error: %s\n", label, kiln_errmsg());
    } else {
        double first = ms[0], total = 0.0;
        for (int s = 0; s < steps; s++) {
            total += ms[s];
        }
        qsort(ms + 1, (size_t)(steps - 1), sizeof *ms, cmp_double);
        *median_ms = steps % 2 ? 0.5 * (ms[steps / 2] + ms[steps / 2 + 1])
                               : ms[steps / 2];
        printf("   %s: first step %.1f ms, then %.3f ms per step (median "
               "of %d; %.1f ms in all)\n",
               label, first, *median_ms, steps - 1, total);
    }
    free(ms);
    kiln_list_free(args);
    return ok;
}

/* max |a - b| / max(max |b|, 1e-30) over the parameters of two states. */
static double param_rel_diff(const kiln_list *a, const kiln_list *b)
{
    double worst = 0.0;
    for (int i = 0; i < NPARAM; i++) {
        double d = NAN, m = NAN;
        kiln_scope_begin();
        kiln_array *pa = kiln_list_get(a, (size_t)i);
        kiln_array *pb = kiln_list_get(b, (size_t)i);
        kiln_array *dd = kiln_max(kiln_abs(kiln_subtract(pa, pb)), NULL, 0,
                                  false);
        kiln_array *mm = kiln_max(kiln_abs(pb), NULL, 0, false);
        if (!dd || !mm || kiln_array_item_f64(dd, &d) != KILN_OK ||
            kiln_array_item_f64(mm, &m) != KILN_OK) {
            d = NAN;
        }
        kiln_scope_end(NULL);
        if (isnan(d)) {
            return NAN;
        }
        d = m > 0 ? d / m : d;
        worst = d > worst ? d : worst;
    }
    return worst;
}

static bool parse_sizes(int argc, char **argv, sizes *z)
{
    int64_t v[5] = {64, 128, 10, 128, 200};
    if (argc != 1 && argc != 6) {
        return false;
    }
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        long long x = strtoll(argv[i], &end, 10);
        if (!end || *end || x < 1 || x > (i == 5 ? 100000 : 1 << 16)) {
            return false;
        }
        v[i - 1] = x;
    }
    z->in = v[0];
    z->hidden = v[1];
    z->classes = v[2];
    z->batch = v[3];
    z->steps = (int)v[4];
    return z->classes >= 2 && z->steps >= 2;
}

int main(int argc, char **argv)
{
    sizes z;
    const int argnums[NPARAM] = {0, 1, 2, 3};
    kiln_list *data = NULL, *state_c = NULL, *state_u = NULL;
    kiln_fn *loss_fn = NULL, *vg = NULL, *fc = NULL, *fu = NULL;
    kiln_fn *step = NULL;
    step_ctx ctx_c = {NULL, NULL}, ctx_u = {NULL, NULL};
    kiln_compile_opts opts;
    kiln_compile_stats cs;
    double *loss_c = NULL, *loss_u = NULL;
    double worst = 0.0, pdiff = NAN, tail = 0.0, med_c = NAN, med_u = NAN;
    bool ok = false;

    if (!parse_sizes(argc, argv, &z)) {
        fprintf(stderr, "usage: %s [in hidden classes batch steps]\n"
                        "  (classes >= 2, steps >= 2)\n",
                argv[0]);
        return 2;
    }
    printf("kiln train_mlp: %lld-%lld-%lld MLP, batch %lld, %d Adam steps "
           "(lr %g), dropout keep %.2f, %d threads\n",
           (long long)z.in, (long long)z.hidden, (long long)z.classes,
           (long long)z.batch, z.steps, LR, KEEP, kiln_num_threads());

    loss_c = calloc((size_t)z.steps, sizeof *loss_c);
    loss_u = calloc((size_t)z.steps, sizeof *loss_u);
    data = make_data(&z);
    state_c = make_state(&z);
    state_u = make_state(&z);
    loss_fn = kiln_fn_new(loss_body, NULL, NULL, "mlp_loss");
    vg = loss_fn ? kiln_value_and_grad(loss_fn, argnums, NPARAM) : NULL;
    ctx_c.state = state_c;
    ctx_c.vg = vg;
    ctx_u.state = state_u;
    ctx_u.vg = vg;
    fc = kiln_fn_new(step_body, &ctx_c, NULL, "mlp_step");
    fu = kiln_fn_new(step_body, &ctx_u, NULL, "mlp_step_uncompiled");
    memset(&opts, 0, sizeof opts);
    opts.inputs = state_c;
    opts.outputs = state_c;
    opts.random_state = true;
    step = fc ? kiln_compile(fc, &opts) : NULL;
    if (!loss_c || !loss_u || !data || !state_c || !state_u || !step ||
        !fu) {
        printf("   setup error: %s\n", kiln_errmsg());
        goto cleanup;
    }

    /* the same seed before each run, so both draw the same masks */
    if (!run(step, state_c, data, z.steps, loss_c, "compiled  ", &med_c) ||
        !run(fu, state_u, data, z.steps, loss_u, "uncompiled", &med_u)) {
        goto cleanup;
    }
    printf("   compiled step %.2fx faster than uncompiled (medians; on a "
           "busy machine see bench/mlp_bench.c, which alternates them)\n",
           med_u / med_c);
    ok = true;
    printf("\n   step  loss (compiled)  loss (uncompiled)\n");
    for (int s = 0; s < z.steps; s++) {
        double d = fabs(loss_c[s] - loss_u[s]) / fabs(loss_u[s]);
        worst = d > worst || isnan(d) ? d : worst;
        if (s % PRINT_EVERY == 0 || s == z.steps - 1) {
            printf("   %4d  %.7f        %.7f\n", s, loss_c[s], loss_u[s]);
        }
    }
    int ntail = z.steps < PRINT_EVERY ? z.steps : PRINT_EVERY;
    for (int s = z.steps - ntail; s < z.steps; s++) {
        tail += loss_c[s] / ntail;
    }
    pdiff = param_rel_diff(state_c, state_u);
    memset(&cs, 0, sizeof cs);
    kiln_compile_stats_get(step, &cs);
    printf("\n   loss %.4f -> %.4f (mean of the last %d)\n"
           "   compiled vs uncompiled: largest relative loss difference "
           "%.2g, parameters %.2g (tolerance %.0e)\n"
           "   counters: %lld calls, %lld traces, %lld cache hits, %lld "
           "kernels built, %lld loaded, %.1f ms compiling\n",
           loss_c[0], tail, ntail, worst, pdiff, REL_TOL,
           (long long)cs.calls, (long long)cs.traces,
           (long long)cs.cache_hits, (long long)cs.kernels_built,
           (long long)cs.kernels_loaded, cs.compile_ms);
    if (!(tail < 0.5 * loss_c[0])) {
        printf("   FAILED: the loss did not fall to half its first "
               "value\n");
        ok = false;
    }
    if (!(worst <= REL_TOL) || !(pdiff <= REL_TOL)) {
        printf("   FAILED: the compiled step differs from the uncompiled "
               "one\n");
        ok = false;
    }
    if (cs.traces != 1 || cs.cache_hits != z.steps - 1) {
        printf("   FAILED: expected 1 trace and %d cache hits\n",
               z.steps - 1);
        ok = false;
    }
cleanup:
    kiln_fn_release(step);
    kiln_fn_release(fc);
    kiln_fn_release(fu);
    kiln_fn_release(vg);
    kiln_fn_release(loss_fn);
    kiln_list_free(data);
    kiln_list_free(state_c);
    kiln_list_free(state_u);
    free(loss_c);
    free(loss_u);
    printf("\n%s\n", ok ? "train_mlp: all checks passed"
                        : "train_mlp: CHECK FAILED");
    return ok ? 0 : 1;
}
