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
 * Reports ms and steps per second of both and their ratio; target:
 * compiled >= 1.5x eager (PASS/FAIL printed, never the exit status).
 * A kiln error, or compiled and eager losses that differ on the same
 * state and seed, makes the exit status 1.
 *
 * Records mlp_step_eager and mlp_step_compiled go into the JSON list
 * named on the command line (default build/bench.json); records of other
 * benchmarks stay, those of an earlier mlp_bench run ("mlp_...") are
 * replaced. The kernels go to a fresh KILN_CACHE_DIR removed at the end.
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
#include "kiln.h"

#define NB 4            /* fixed batches, used in turn */
#define NPARAM 4        /* W1 b1 W2 b2 */
#define NSTATE 13       /* params, m, v, t */
#define KEEP 0.9        /* dropout keep probability */
#define LR 1e-3
#define BETA1 0.9
#define BETA2 0.999
#define EPS 1e-8
#define WARMUP 3
#define MIN_REPS 21
#define TARGET 1.5

typedef struct {
    int64_t in, hidden, classes, batch;
    int steps;
} sizes;

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

/* reps steps of each runner, alternating (a then b, b then a, ...). */
static void run_pairs(runner *a, runner *b, int reps, bench_time *ta,
                      bench_time *tb)
{
    double xa[BENCH_MAX_REPS], xb[BENCH_MAX_REPS];
    for (int i = 0; i < reps; i++) {
        for (int k = 0; k < 2; k++) {
            bool first_a = (i + k) % 2 == 0;
            runner *r = first_a ? a : b;
            int64_t t0 = bench_now_ns();
            one_step(r);
            (first_a ? xa : xb)[i] = (double)(bench_now_ns() - t0) * 1e-6;
        }
    }
    *ta = summarise(xa, reps);
    *tb = summarise(xb, reps);
}

/* ------------------------------------------------------------------ */
/* JSON (as compile_bench: keep the other benchmarks' records)        */
/* ------------------------------------------------------------------ */

static int json_merge(const bench_records *rs, const char *path)
{
    char tmp[4200];
    FILE *in = fopen(path, "r"), *out;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    bool first = true;
    if (!in) {
        return bench_write_json(rs, path);
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    out = fopen(tmp, "w");
    if (!out) {
        fclose(in);
        return -1;
    }
    fputs("[\n", out);
    while ((len = getline(&line, &cap, in)) > 0) {
        const char *p = line;
        while (len > 0 && strchr("\r\n, ", line[len - 1])) {
            line[--len] = '\0';
        }
        while (*p == ' ') {
            p++;
        }
        if (strncmp(p, "{\"name\": \"", 10) != 0 ||
            strncmp(p + 10, "mlp_", 4) == 0) {
            continue;
        }
        fprintf(out, "%s  %s", first ? "" : ",\n", p);
        first = false;
    }
    free(line);
    fclose(in);
    for (int i = 0; i < rs->n; i++) {
        const bench_record *r = &rs->items[i];
        fputs(first ? "  {\"name\": " : ",\n  {\"name\": ", out);
        first = false;
        bench_json_string(out, r->name);
        fprintf(out, ", \"ms\": %.4f, \"bytes\": %.0f, \"note\": ", r->ms,
                r->bytes);
        bench_json_string(out, r->note);
        fputs("}", out);
    }
    fputs("\n]\n", out);
    if (fclose(out) != 0 || rename(tmp, path) != 0) {
        remove(tmp);
        return -1;
    }
    return 0;
}

/* Removes the flat cache folder dir and its files (links not followed). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4352];
    struct stat st;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(path);
        } else {
            remove(path);
        }
    }
    if (d) {
        closedir(d);
        rmdir(dir);
    }
}

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
    run_pairs(&re, &rc, reps, &te, &tc);
    if (!re.ok || !rc.ok) {
        printf("  error: %s\n", kiln_errmsg());
        goto cleanup;
    }
    memset(&cs, 0, sizeof cs);
    kiln_compile_stats_get(cf, &cs);
    double ratio = te.median_ms / tc.median_ms;
    bool pass = ratio >= TARGET;
    printf("  %-20s %10s %10s %10s %12s\n", "name", "median ms", "min ms",
           "max ms", "steps/s");
    printf("  %-20s %10.3f %10.3f %10.3f %12.1f\n", "mlp_step_eager",
           te.median_ms, te.min_ms, te.max_ms, 1e3 / te.median_ms);
    printf("  %-20s %10.3f %10.3f %10.3f %12.1f\n", "mlp_step_compiled",
           tc.median_ms, tc.min_ms, tc.max_ms, 1e3 / tc.median_ms);
    printf("  compiled / eager speed-up %.2fx (target >= %.1fx: %s)\n"
           "  compile counters: %lld calls, %lld traces, %lld cache hits, "
           "%lld kernels built, %lld interpreted, %.1f ms compiling\n",
           ratio, TARGET, pass ? "PASS" : "FAIL", (long long)cs.calls,
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
    if (json_merge(&rs, out) != 0) {
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
    remove_tree(cache_dir);
    return failed ? 1 : 0;
}
