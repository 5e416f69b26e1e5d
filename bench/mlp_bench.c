/*
 * mlp_bench.c - one training step of a 784-512-10 MLP (batch 256,
 * float32), eager against compiled: the same kiln_fn (forward,
 * value_and_grad over the parameters, Adam, dropout from the global key;
 * the model of examples/train_mlp.c) called directly and through
 * kiln_compile with the parameters and Adam state as captured inputs and
 * outputs and the random key captured.
 *
 * A step is: call, then evaluate the loss and the 13 state arrays
 * together. Warm-up steps first (the compiled one traces and builds its
 * kernels there), then the median of at least MIN_REPS steps each
 * (bench_reps(), KILN_BENCH_REPS, when larger), eager and compiled steps
 * alternating (which goes first alternates too), so both see the same
 * machine: on a shared machine the load changes within a second, and
 * timing one run after the other would compare two different loads.
 * Reports ms and steps per second of both and the speed-up, the median
 * of the per-pair ratios (the ratio of the medians beside it); target:
 * compiled >= 1.5x eager (PASS/FAIL printed, never the exit status).
 * A kiln error, or compiled and eager losses that differ on the same
 * state and seed, makes the exit status 1.
 *
 * Records mlp_step_eager and mlp_step_compiled go into the JSON list
 * named on the command line (default build/bench.json); records of other
 * benchmarks stay, those of an earlier mlp_bench run ("mlp_...") are
 * replaced. The kernels go to a fresh KILN_CACHE_DIR removed at the end.
 *
 * KILN_MLP_PROFILE=compiled (or eager) runs, after the warm-up, only that
 * side's steps (ten times the repetitions) and prints their mean, for a
 * profiler (perf record); nothing is recorded then.
 */
#include <dirent.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "bench_util.h"
#include "bench_files.h"
#include "kiln.h"
#include "../examples/mlp_model.h"

#define WARMUP 3
#define MIN_REPS 41
#define TARGET 1.5

/* ------------------------------------------------------------------ */
/* timing                                                             */
/* ------------------------------------------------------------------ */

typedef struct {
    kiln_fn *step;
    kiln_list *state;
    const kiln_list *data;
    kiln_list *args;
    int next;   /* next batch */
    bool ok;    /* false after the first error */
    double loss; /* of the last step */
} runner;

/* One step on the next batch: call, evaluate the loss and the state. */
static void one_step(void *p)
{
    runner *r = p;
    int b = r->next++ % NB;
    kiln_list *res = NULL;
    if (!r->ok) {
        return;
    }
    r->ok = kiln_list_set(r->args, 0, kiln_list_get(r->data, 2 * b)) ==
                KILN_OK &&
            kiln_list_set(r->args, 1, kiln_list_get(r->data, 2 * b + 1)) ==
                KILN_OK;
    res = r->ok ? kiln_fn_call(r->step, r->args) : NULL;
    r->ok = res != NULL;
    if (r->ok) {
        kiln_array *xs[NSTATE + 1];
        xs[0] = kiln_list_get(res, 0);
        for (int i = 0; i < NSTATE; i++) {
            xs[1 + i] = kiln_list_get(r->state, (size_t)i);
        }
        r->ok = kiln_eval(xs, NSTATE + 1) == KILN_OK &&
                kiln_array_item_f64(xs[0], &r->loss) == KILN_OK;
    }
    kiln_list_free(res);
}

/* The median, min and max of n times (sorted in place). */
static bench_time summarise(double *t, int n)
{
    bench_time r;
    qsort(t, (size_t)n, sizeof *t, bench_cmp_double);
    r.median_ms = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
    r.min_ms = t[0];
    r.max_ms = t[n - 1];
    r.reps = n;
    return r;
}

/* reps steps of each runner, alternating (a then b, b then a, ...).
 * Returns the median over the pairs of a's time / b's time: the two steps
 * of a pair run back to back, so a change of the machine's speed between
 * pairs cancels, which the ratio of the two medians does not. */
static double run_pairs(runner *a, runner *b, int reps, bench_time *ta,
                        bench_time *tb)
{
    double xa[BENCH_MAX_REPS], xb[BENCH_MAX_REPS], q[BENCH_MAX_REPS];
    for (int i = 0; i < reps; i++) {
        for (int k = 0; k < 2; k++) {
            bool first_a = (i + k) % 2 == 0;
            runner *r = first_a ? a : b;
            int64_t t0 = bench_now_ns();
            one_step(r);
            (first_a ? xa : xb)[i] = (double)(bench_now_ns() - t0) * 1e-6;
        }
    }
    for (int i = 0; i < reps; i++) {
        q[i] = xa[i] / xb[i];
    }
    *ta = summarise(xa, reps);
    *tb = summarise(xb, reps);
    return summarise(q, reps).median_ms;
}

/* Removes the flat cache folder dir and its files (links not followed). */

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "build/bench.json";
    const char *tmpbase = getenv("TMPDIR");
    const sizes z = {784, 512, 10, 256, 0};
    const int argnums[NPARAM] = {0, 1, 2, 3};
    char cache_dir[4096];
    kiln_list *data = NULL, *state = NULL, *args = kiln_list_new();
    kiln_fn *loss_fn = NULL, *vg = NULL, *f = NULL, *cf = NULL;
    step_ctx ctx = {NULL, NULL};
    kiln_compile_opts opts;
    kiln_compile_stats cs;
    bench_records rs;
    bench_time te, tc;
    runner re, rc;
    double le = NAN, lc = NAN;
    bool failed = true;
    const int reps = bench_reps() > MIN_REPS ? bench_reps() : MIN_REPS;

    (void)bench_alloc; /* bench_util.h helpers this benchmark needs not */
    (void)bench_free;
    (void)bench_run;
    if (!tmpbase || !*tmpbase) {
        tmpbase = "/tmp";
    }
    /* steady state: the first compiled step waits for its kernels rather
     * than running in the interpreter while they build */
    setenv("KILN_JIT_ASYNC", "0", 1);
    snprintf(cache_dir, sizeof cache_dir, "%s/kiln-mlp-XXXXXX", tmpbase);
    if (!mkdtemp(cache_dir) || setenv("KILN_CACHE_DIR", cache_dir, 1)) {
        fprintf(stderr, "mlp_bench: cannot make a cache folder in %s\n",
                tmpbase);
        return 1;
    }
    memset(&rs, 0, sizeof rs);
    printf("kiln mlp_bench: %lld-%lld-%lld MLP step (value_and_grad, Adam, "
           "dropout), batch %lld, float32, %d threads, median of %d "
           "alternating steps each after %d warm-up steps\n",
           (long long)z.in, (long long)z.hidden, (long long)z.classes,
           (long long)z.batch, kiln_num_threads(), reps, WARMUP);
    data = make_data(&z);
    state = make_state(&z);
    loss_fn = kiln_fn_new(loss_body, NULL, NULL, "mlp_loss");
    vg = loss_fn ? kiln_value_and_grad(loss_fn, argnums, NPARAM) : NULL;
    ctx.state = state;
    ctx.vg = vg;
    f = kiln_fn_new(step_body, &ctx, NULL, "mlp_step");
    memset(&opts, 0, sizeof opts);
    opts.inputs = state;
    opts.outputs = state;
    opts.random_state = true;
    cf = f ? kiln_compile(f, &opts) : NULL;
    if (!data || !state || !cf || !args ||
        kiln_list_push(args, kiln_list_get(data, 0)) != KILN_OK ||
        kiln_list_push(args, kiln_list_get(data, 1)) != KILN_OK) {
        printf("  setup error: %s\n", kiln_errmsg());
        goto cleanup;
    }

    /* One step each from the same state and seed must agree (the state
     * list is shared, so it is saved and restored around the check). */
    {
        kiln_list *saved = kiln_list_new();
        for (int i = 0; saved && i < NSTATE; i++) {
            kiln_list_push(saved, kiln_list_get(state, (size_t)i));
        }
        re = (runner){f, state, data, args, 0, true, NAN};
        rc = (runner){cf, state, data, args, 0, true, NAN};
        kiln_random_seed(99);
        one_step(&re);
        le = re.loss;
        for (int i = 0; saved && i < NSTATE; i++) {
            kiln_list_set(state, (size_t)i, kiln_list_get(saved, (size_t)i));
        }
        kiln_random_seed(99);
        one_step(&rc); /* traces and builds the kernels */
        lc = rc.loss;
        kiln_list_free(saved);
    }
    if (!re.ok || !rc.ok || !(fabs(le - lc) <= 1e-4 * fabs(le))) {
        printf("  check FAILED: eager loss %.7g, compiled %.7g (%s)\n", le,
               lc, kiln_errmsg());
        goto cleanup;
    }
    printf("  first step: eager loss %.7f, compiled %.7f (agree)\n", le,
           lc);
    for (int i = 0; i < WARMUP; i++) {
        one_step(&re);
        one_step(&rc);
    }
    const char *prof = getenv("KILN_MLP_PROFILE");
    if (prof && (!strcmp(prof, "eager") || !strcmp(prof, "compiled"))) {
        /* for a profiler: only the named side's steps from here on */
        runner *p = strcmp(prof, "eager") ? &rc : &re;
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < 10 * reps && p->ok; i++) {
            one_step(p);
        }
        printf("  %s: %.3f ms a step\n", p == &rc ? "compiled" : "eager",
               (double)(bench_now_ns() - t0) * 1e-6 / (10 * reps));
        goto cleanup;
    }
    double ratio = run_pairs(&re, &rc, reps, &te, &tc);
    if (!re.ok || !rc.ok) {
        printf("  error: %s\n", kiln_errmsg());
        goto cleanup;
    }
    memset(&cs, 0, sizeof cs);
    kiln_compile_stats_get(cf, &cs);
    bool pass = ratio >= TARGET;
    printf("  %-20s %10s %10s %10s %12s\n", "name", "median ms", "min ms",
           "max ms", "steps/s");
    printf("  %-20s %10.3f %10.3f %10.3f %12.1f\n", "mlp_step_eager",
           te.median_ms, te.min_ms, te.max_ms, 1e3 / te.median_ms);
    printf("  %-20s %10.3f %10.3f %10.3f %12.1f\n", "mlp_step_compiled",
           tc.median_ms, tc.min_ms, tc.max_ms, 1e3 / tc.median_ms);
    printf("  compiled / eager speed-up %.2fx, median of %d paired ratios "
           "(target >= %.1fx: %s); ratio of the medians %.2fx\n"
           "  compile counters: %lld calls, %lld traces, %lld cache hits, "
           "%lld kernels built, %lld interpreted, %.1f ms compiling\n",
           ratio, reps, TARGET, pass ? "PASS" : "FAIL",
           te.median_ms / tc.median_ms, (long long)cs.calls,
           (long long)cs.traces, (long long)cs.cache_hits,
           (long long)cs.kernels_built, (long long)cs.interpreted,
           cs.compile_ms);
    bench_record *r = bench_add(&rs, "mlp_step_eager", te.median_ms, 0);
    if (r) {
        snprintf(r->note, sizeof r->note,
                 "784-512-10 batch 256 f32 train step, %d threads, min "
                 "%.3f ms, %.1f steps/s",
                 kiln_num_threads(), te.min_ms, 1e3 / te.median_ms);
    }
    r = bench_add(&rs, "mlp_step_compiled", tc.median_ms, 0);
    if (r) {
        snprintf(r->note, sizeof r->note,
                 "784-512-10 batch 256 f32 train step, %d threads, min "
                 "%.3f ms, %.1f steps/s; %.2fx eager (target >= %.1fx: "
                 "%s)",
                 kiln_num_threads(), tc.min_ms, 1e3 / tc.median_ms, ratio,
                 TARGET, pass ? "PASS" : "FAIL");
    }
    if (bench_json_merge(&rs, out, "mlp_") != 0) {
        fprintf(stderr, "mlp_bench: cannot write %s\n", out);
        goto cleanup;
    }
    printf("  wrote %d records to %s\n", rs.n, out);
    failed = false;
cleanup:
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_fn_release(vg);
    kiln_fn_release(loss_fn);
    kiln_list_free(args);
    kiln_list_free(data);
    kiln_list_free(state);
    bench_remove_tree(cache_dir);
    return failed ? 1 : 0;
}
