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
#include "mlp_model.h"

#define SEED 1234
#define PRINT_EVERY 20
#define REL_TOL 1e-4

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
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
