/*
 * compile_bench.c - kiln_compile against kiln eager, a hand-written fused C
 * loop and the machine's STREAM bandwidth, all measured in one run.
 *
 * `make bench` runs `build/bench/compile_bench build/bench.json` after
 * bench_core. With all threads (kiln_num_threads()) it measures:
 *   - STREAM copy a = b and triad a = b + s*c on float32 arrays larger than
 *     the caches, split over kiln's pool as bench_core does; copy (one read
 *     and one write stream) is the bandwidth the fused kernels below are
 *     judged against.
 *   - gelu x * (1 + erf(x / sqrt 2)) / 2 on (32, 1000, 4096) float32
 *     (512 MB): kiln eager, kiln compiled, and a fused C loop compiled into
 *     this program with kiln's own erf (vmath.h), split over the pool into
 *     one part per thread. Same input buffer, median of bench_reps() runs.
 *     Targets: compiled / hand-fused time <= 1.3, eager / compiled >= 5.
 *   - softmax and layer-norm over the last axis of (4096, 4096) float32,
 *     and layer-norm of (1000, 4096) float16 (MLX's compile benchmark),
 *     eager and compiled; GB/s counting each input and output once.
 *     Target: compiled GB/s >= 0.6 x STREAM copy.
 *   - compile latency of gelu on a (1, 1, 4096) input, each sample in a new
 *     process (this program re-executed with `--child latency`): cold, with
 *     KILN_CACHE_DIR a fresh empty folder (median of 3, target <= 300 ms),
 *     and with the disk cache a cold run filled (median of 5, target
 *     <= 5 ms); the child starts kiln with an eager op first, then times
 *     its first compiled call (kiln_fn_call + kiln_eval + release). And the
 *     per-call cost of an in-memory cache hit on a 1-element input (target
 *     <= 2 us).
 *   - shapeless: gelu on (n, 4096) float32 slices, n drawn in [1, 1000],
 *     compiled with shapeless = true: traces after the first call (target
 *     0) and elements per second against compiled gelu on a fixed
 *     (1000, 4096) (target >= 1.0x); a fixed-shape compile of the same
 *     sequence is shown for comparison: its first pass (it retraces per
 *     new shape) and its time once every shape is traced, which is what
 *     the sizes alone cost, apart from replaying shapeless.
 *   - memory: in a child process (`--child memory`, so nothing else here
 *     raises its high-water mark), compiled gelu on the 512 MB input:
 *     (peak RSS - RSS before the input existed) / (input + output bytes),
 *     target <= 1.05. The peak is reset (/proc/self/clear_refs) after the
 *     input is built, so the host copy it was made from does not count.
 *
 * Records go into the JSON list named on the command line (default
 * build/bench.json): the records already there (bench_core's) stay, those
 * of an earlier compile_bench run (names starting "compile_") are replaced.
 * Timings never fail the run: each target prints PASS or FAIL and the exit
 * status is 0; a wrong result or a kiln error makes it 1.
 *
 * KILN_BENCH_SMALL=1 shrinks gelu to (4, 1000, 4096) and the square arrays
 * to (1024, 4096) for a quick run; KILN_BENCH_REPS sets the repetitions.
 * Every compile uses a fresh KILN_CACHE_DIR under $TMPDIR (else /tmp),
 * removed at the end, so the user's kernel cache is neither read nor
 * written.
 */
#include <dirent.h>
#include <math.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/cpu/vmath.h"
#include "kiln.h"
#include "runtime/pool.h"

#include "bench_util.h"
#include "bench_files.h"

extern char **environ;

#define GELU_D0 32
#define GELU_D0_SMALL 4
#define GELU_D1 1000
#define COLS 4096
#define SQ_ROWS 4096
#define SQ_ROWS_SMALL 1024
#define LN16_ROWS 1000
#define STREAM_MIN_N ((int64_t)64 << 20) /* 256 MB per array at least */
#define TRIAD_S 3.0f
#define SMALL_REPS 41 /* for runs of a few milliseconds */
#define HIT_CALLS 10000
#define COLD_RUNS 3
#define WARM_RUNS 5
#define VAR_CALLS 64
#define VAR_ROWS 1000
#define LAT_SHAPE {1, 1, COLS}

/* Targets. */
#define T_FUSED 1.3     /* compiled / hand-fused time, at most */
#define T_EAGER 5.0     /* eager / compiled time, at least */
#define T_STREAM 0.6    /* compiled GB/s / STREAM copy GB/s, at least */
#define T_COLD_MS 300.0 /* first call, empty disk cache, at most */
#define T_WARM_MS 5.0   /* first call of a new process, warm disk cache */
#define T_HIT_US 2.0    /* in-memory hit, per call, at most */
#define T_SHAPELESS 1.0 /* shapeless / fixed elements per second */
#define T_MEM 1.05      /* (peak - baseline) / (input + output), at most */

#if defined(__GNUC__) && !defined(__clang__)
#define PLAIN_LOOP                                                        \
    __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define PLAIN_LOOP
#endif

static bool g_failed; /* a result check failed or kiln returned an error */
static int g_nt;      /* threads */
static bench_records g_rs;

/* ------------------------------------------------------------------ */
/* the functions compiled                                             */
/* ------------------------------------------------------------------ */

/* The status to return for a failed op (the error kiln recorded). */
static kiln_status fail_status(void)
{
    kiln_status s = kiln_errcode();
    return s != KILN_OK ? s : KILN_ERR_RUNTIME;
}

/* gelu(x) = x * (1 + erf(x / sqrt 2)) / 2, pushed onto results. */
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

/* softmax over the last axis. */
static kiln_status softmax_body(void *ctx, const kiln_list *args,
                                kiln_list *results)
{
    const int last = -1;
    kiln_status st;
    (void)ctx;
    kiln_scope_begin();
    kiln_array *y = kiln_softmax(kiln_list_get(args, 0), &last, 1, false);
    st = y ? kiln_list_push(results, y) : fail_status();
    kiln_scope_end(NULL);
    return st;
}

/* MLX's layer_norm(x, w, b, 1e-5) over the last axis, computed in float32
 * and returned in x's dtype. */
static kiln_status layer_norm_body(void *ctx, const kiln_list *args,
                                   kiln_list *results)
{
    const int last = -1;
    kiln_array *x = kiln_list_get(args, 0);
    kiln_status st;
    (void)ctx;
    kiln_scope_begin();
    kiln_array *xf = kiln_astype(x, KILN_DTYPE_FLOAT32);
    kiln_array *mu = kiln_mean(xf, &last, 1, true);
    kiln_array *var = kiln_var(xf, &last, 1, true, 0);
    kiln_array *n = kiln_multiply(
        kiln_subtract(xf, mu),
        kiln_rsqrt(kiln_add(var, kiln_weak_f64(1e-5))));
    kiln_array *y = kiln_add(kiln_multiply(n, kiln_list_get(args, 1)),
                             kiln_list_get(args, 2));
    y = x ? kiln_astype(y, kiln_array_dtype(x)) : NULL;
    st = y ? kiln_list_push(results, y) : fail_status();
    kiln_scope_end(NULL);
    return st;
}

/* ------------------------------------------------------------------ */
/* calling                                                            */
/* ------------------------------------------------------------------ */

/* A list holding the given arrays (retained); NULL on error. */
static kiln_list *list_of(kiln_array *const *xs, int n)
{
    kiln_list *l = kiln_list_new();
    for (int i = 0; l && i < n; i++) {
        if (kiln_list_push(l, xs[i]) != KILN_OK) {
            kiln_list_free(l);
            return NULL;
        }
    }
    return l;
}

static void report_error(const char *what)
{
    static int reported;
    if (reported++ < 8) {
        fprintf(stderr, "compile_bench: %s: %s\n", what, kiln_errmsg());
    }
    g_failed = true;
}

/* Calls f on args and evaluates every result; the results, or NULL. */
static kiln_list *call_eval(kiln_fn *f, const kiln_list *args)
{
    kiln_list *r = kiln_fn_call(f, args);
    kiln_array *xs[16];
    size_t n = r ? kiln_list_size(r) : 0;
    if (!r) {
        return NULL;
    }
    n = n > 16 ? 16 : n;
    for (size_t i = 0; i < n; i++) {
        xs[i] = kiln_list_get(r, i);
    }
    if (kiln_eval(xs, (int)n) != KILN_OK) {
        kiln_list_free(r);
        return NULL;
    }
    return r;
}

typedef struct {
    kiln_fn *f;
    kiln_list *args;
    int calls; /* calls per timed run (1 when 0) */
} call_job;

/* One timed unit: `calls` calls of f, each evaluated and released. */
static void call_run(void *ctx)
{
    call_job *j = ctx;
    int calls = j->calls > 0 ? j->calls : 1;
    for (int i = 0; i < calls; i++) {
        kiln_list *r = call_eval(j->f, j->args);
        if (!r) {
            report_error(kiln_fn_name(j->f));
            return;
        }
        kiln_list_free(r);
    }
}

/* A compiled function's counters (zeros on error). */
static kiln_compile_stats stats_of(const kiln_fn *cf)
{
    kiln_compile_stats s;
    memset(&s, 0, sizeof s);
    if (kiln_compile_stats_get(cf, &s) != KILN_OK) {
        report_error("kiln_compile_stats_get");
    }
    return s;
}

static kiln_fn *compile_with(kiln_fn *f, bool shapeless)
{
    kiln_compile_opts o;
    memset(&o, 0, sizeof o);
    o.shapeless = shapeless;
    kiln_fn *cf = kiln_compile(f, &o);
    if (!cf) {
        report_error("kiln_compile");
    }
    return cf;
}

/* ------------------------------------------------------------------ */
/* hand-written references                                            */
/* ------------------------------------------------------------------ */

/* The fused loop a code generator should reach: the ops of gelu_body in
 * the same order, with the same erf. */
static void gelu_loop(const float *restrict x, float *restrict y, int64_t n)
{
    const float s = (float)M_SQRT2;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v * (1.0f + kiln_verff(v / s)) / 2.0f;
    }
}

PLAIN_LOOP static void copy_loop(float *restrict a, const float *restrict b,
                                 int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        a[i] = b[i];
    }
}

static void triad_loop(float *restrict a, const float *restrict b,
                       const float *restrict c, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        a[i] = b[i] + TRIAD_S * c[i];
    }
}

typedef enum { K_COPY, K_TRIAD, K_GELU } loop_kind;

typedef struct {
    loop_kind kind;
    float *a;
    const float *b;
    const float *c;
    int64_t n;
    int nparts;
} loop_job;

/* Start of part k of n elements cut into nparts, on a 64-byte boundary. */
static int64_t part_start(int64_t n, int nparts, int k)
{
    if (k >= nparts) {
        return n;
    }
    return (int64_t)((double)n * k / nparts) & ~(int64_t)15;
}

static void loop_range(void *ctx, int64_t lo, int64_t hi)
{
    loop_job *j = ctx;
    for (int64_t k = lo; k < hi; k++) {
        int64_t s = part_start(j->n, j->nparts, (int)k);
        int64_t e = part_start(j->n, j->nparts, (int)k + 1);
        switch (j->kind) {
        case K_COPY:
            copy_loop(j->a + s, j->b + s, e - s);
            break;
        case K_TRIAD:
            triad_loop(j->a + s, j->b + s, j->c + s, e - s);
            break;
        case K_GELU:
            gelu_loop(j->b + s, j->a + s, e - s);
            break;
        }
    }
}

/* One part per thread, as kiln's eager loops split contiguous work. */
static void loop_run(void *ctx)
{
    loop_job *j = ctx;
    kiln__pool_for(j->nparts, 1, loop_range, j);
}

/* ------------------------------------------------------------------ */
/* records, rows and targets                                          */
/* ------------------------------------------------------------------ */

static double gbps(double bytes, double ms)
{
    return ms > 0 ? bytes / (ms * 1e-3) / 1e9 : 0.0;
}

/* Times fn, prints its row, records it as compile_<base>_t<threads>. */
static bench_record *measure(const char *base, void (*fn)(void *),
                             void *ctx, int reps, double bytes,
                             bench_time *out)
{
    char name[64];
    bench_time t = bench_run(fn, ctx, reps);
    bench_record *r;
    snprintf(name, sizeof name, "compile_%s_t%d", base, g_nt);
    printf("  %-30s %10.3f %10.3f %9.2f GB/s\n", base, t.median_ms,
           t.min_ms, gbps(bytes, t.median_ms));
    r = bench_add(&g_rs, name, t.median_ms, bytes);
    if (r) {
        r->min_ms = t.min_ms;
        snprintf(r->note, sizeof r->note,
                 "%.2f GB/s; %d reps, min %.3f max %.3f ms",
                 gbps(bytes, t.median_ms), t.reps, t.min_ms, t.max_ms);
    }
    if (out) {
        *out = t;
    }
    return r;
}

/* A record of a single figure (latencies, ratios); none for NAN (not
 * measured), so the JSON holds numbers only. */
static bench_record *record_value(const char *base, double ms,
                                  const char *note)
{
    char name[64];
    bench_record *r;
    if (isnan(ms)) {
        return NULL;
    }
    snprintf(name, sizeof name, "compile_%s_t%d", base, g_nt);
    r = bench_add(&g_rs, name, ms, 0);
    if (r) {
        snprintf(r->note, sizeof r->note, "%s", note);
    }
    return r;
}

static void note_append(bench_record *r, const char *s)
{
    if (r) {
        strncat(r->note, s, sizeof r->note - strlen(r->note) - 1);
    }
}

#define MAX_TARGETS 24

typedef struct {
    char label[64];
    double value; /* NAN: not measured */
    double limit;
    bool at_most;
    char unit[8];
} target;

static target g_targets[MAX_TARGETS];
static int g_ntargets;

/* Records a target verdict (shown in the summary and in r's note). */
static void target_add(const char *label, double value, bool at_most,
                       double limit, const char *unit, bench_record *r)
{
    target *t;
    char buf[160];
    bool ok = at_most ? value <= limit : value >= limit;
    if (g_ntargets < MAX_TARGETS) {
        t = &g_targets[g_ntargets++];
        snprintf(t->label, sizeof t->label, "%s", label);
        t->value = value;
        t->limit = limit;
        t->at_most = at_most;
        snprintf(t->unit, sizeof t->unit, "%s", unit);
    }
    snprintf(buf, sizeof buf, "; %s %.3g%s (target %s %.3g: %s)", label,
             value, unit, at_most ? "<=" : ">=", limit,
             isnan(value) ? "n/a" : ok ? "PASS" : "FAIL");
    note_append(r, buf);
}

static void print_targets(void)
{
    int pass = 0, fail = 0, na = 0;
    printf("\n  %-40s %12s %14s  %s\n", "target", "measured", "limit",
           "verdict");
    for (int i = 0; i < g_ntargets; i++) {
        const target *t = &g_targets[i];
        bool ok = t->at_most ? t->value <= t->limit : t->value >= t->limit;
        const char *v = isnan(t->value) ? "n/a" : ok ? "PASS" : "FAIL";
        char lim[32];
        snprintf(lim, sizeof lim, "%s %.3g%s", t->at_most ? "<=" : ">=",
                 t->limit, t->unit);
        printf("  %-40s %10.3g%-2s %14s  %s\n", t->label, t->value, t->unit,
               lim, v);
        pass += !isnan(t->value) && ok;
        fail += !isnan(t->value) && !ok;
        na += isnan(t->value);
    }
    printf("  %d PASS, %d FAIL, %d not measured (timings never fail the "
           "run)\n", pass, fail, na);
}

/* ------------------------------------------------------------------ */
/* result checks (untimed)                                            */
/* ------------------------------------------------------------------ */

/* Compares a with b (as float32): prints the max abs difference and
 * whether allclose(rtol, atol) holds; a failure marks the run failed. */
static void check_close(const char *what, kiln_array *a, kiln_array *b,
                        double rtol, double atol)
{
    double d = NAN, close = 0.0;
    kiln_scope_begin();
    kiln_array *fa = kiln_astype(a, KILN_DTYPE_FLOAT32);
    kiln_array *fb = kiln_astype(b, KILN_DTYPE_FLOAT32);
    kiln_array *m = kiln_max(kiln_abs(kiln_subtract(fa, fb)), NULL, 0,
                             false);
    kiln_array *c = kiln_allclose(fa, fb, rtol, atol, false);
    if (!m || !c || kiln_array_item_f64(m, &d) != KILN_OK ||
        kiln_array_item_f64(c, &close) != KILN_OK) {
        report_error(what);
    }
    kiln_scope_end(NULL);
    printf("  check %-36s max abs diff %.3g (rtol %.0e atol %.0e) %s\n",
           what, d, rtol, atol, close != 0.0 ? "ok" : "FAILED");
    if (close == 0.0) {
        g_failed = true;
    }
}

/* Fills x with pseudo-random values in [lo, hi). */
static void fill(float *x, int64_t n, uint32_t seed, float lo, float hi)
{
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

/* A float32 array of the given shape with values in [lo, hi), evaluated,
 * built through a temporary host buffer; NULL on error. */
static kiln_array *random_array(const int64_t *shape, int ndim,
                                kiln_dtype dt, uint32_t seed, float lo,
                                float hi)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    size_t nb = (size_t)n * sizeof(float);
    float *h = bench_alloc(nb);
    kiln_array *x = NULL, *y = NULL;
    if (!h) {
        fprintf(stderr, "compile_bench: cannot allocate %zu bytes\n", nb);
        g_failed = true;
        return NULL;
    }
    fill(h, n, seed, lo, hi);
    x = kiln_array_from_data(h, shape, ndim, KILN_DTYPE_FLOAT32);
    bench_free(h, nb);
    y = x && dt != KILN_DTYPE_FLOAT32 ? kiln_astype(x, dt)
                                      : kiln_array_retain(x);
    kiln_array_release(x);
    if (!y || kiln_array_eval(y) != KILN_OK) {
        report_error("input");
        kiln_array_release(y);
        return NULL;
    }
    return y;
}

/* ------------------------------------------------------------------ */
/* child processes                                                    */
/* ------------------------------------------------------------------ */

static char g_exe[4096];

/* Runs this program again as `exe --child mode` with KILN_CACHE_DIR=dir,
 * its stdout captured into out; returns its exit status, -1 when it could
 * not run. */
static int run_child(const char *mode, const char *dir, char *out,
                     size_t cap)
{
    size_t nenv = 0, k = 0, len = 0;
    char **envp, *cache_var;
    int fd[2], status = -1;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char *argv[4] = {g_exe, "--child", (char *)mode, NULL};

    out[0] = '\0';
    while (environ[nenv]) {
        nenv++;
    }
    envp = malloc((nenv + 2) * sizeof *envp);
    cache_var = malloc(strlen(dir) + sizeof "KILN_CACHE_DIR=");
    if (!envp || !cache_var || pipe(fd) != 0) {
        free(envp);
        free(cache_var);
        return -1;
    }
    sprintf(cache_var, "KILN_CACHE_DIR=%s", dir);
    for (size_t i = 0; i < nenv; i++) {
        if (strncmp(environ[i], "KILN_CACHE_DIR=", 15) != 0) {
            envp[k++] = environ[i];
        }
    }
    envp[k++] = cache_var;
    envp[k] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    posix_spawn_file_actions_addclose(&fa, fd[1]);
    if (posix_spawn(&pid, g_exe, &fa, NULL, argv, envp) == 0) {
        close(fd[1]);
        for (;;) {
            ssize_t got = read(fd[0], out + len, cap - 1 - len);
            if (got <= 0) {
                break;
            }
            len += (size_t)got;
            if (len + 1 >= cap) {
                break;
            }
        }
        out[len] = '\0';
        close(fd[0]);
        if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
            status = WEXITSTATUS(status);
        } else {
            status = -1;
        }
    } else {
        close(fd[0]);
        close(fd[1]);
    }
    posix_spawn_file_actions_destroy(&fa);
    free(envp);
    free(cache_var);
    return status;
}

/* The number after "key=" in s, NAN when absent. */
static double field(const char *s, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = strstr(s, key); p; p = strstr(p + 1, key)) {
        if ((p == s || p[-1] == ' ' || p[-1] == '\n') && p[kl] == '=') {
            return strtod(p + kl + 1, NULL);
        }
    }
    return NAN;
}

/* Resident set size now, or its high-water mark, in kB (-1: unknown). */
static long proc_status_kb(const char *key)
{
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = atol(line + kl + 1);
        }
    }
    fclose(f);
    return v;
}

/* Resets VmHWM to the current RSS; false where the kernel does not let
 * us. */
static bool reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    bool ok = f && fputs("5", f) >= 0;
    if (f) {
        ok = fclose(f) == 0 && ok;
    }
    return ok;
}

static bool small_sizes(void)
{
    const char *s = getenv("KILN_BENCH_SMALL");
    return s && *s && strcmp(s, "0") != 0;
}

/* Child: start kiln with an eager op, then time the first compiled call
 * of gelu (call, evaluate, release) on LAT_SHAPE. */
static int child_latency(void)
{
    const int64_t shape[3] = LAT_SHAPE;
    kiln_array *x = random_array(shape, 3, KILN_DTYPE_FLOAT32, 7, -4, 4);
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cf = f ? kiln_compile(f, NULL) : NULL;
    kiln_list *args = x ? list_of(&x, 1) : NULL;
    kiln_list *r;
    kiln_compile_stats st;
    int64_t t0;
    double ms;
    if (!cf || !args) {
        printf("error=1 %s\n", kiln_errmsg());
        return 1;
    }
    r = call_eval(f, args); /* eager warm-up of kiln itself */
    kiln_list_free(r);
    t0 = bench_now_ns();
    r = call_eval(cf, args);
    kiln_list_free(r);
    ms = (double)(bench_now_ns() - t0) * 1e-6;
    if (!r) {
        printf("error=1 %s\n", kiln_errmsg());
        return 1;
    }
    memset(&st, 0, sizeof st);
    kiln_compile_stats_get(cf, &st);
    printf("ms=%.4f built=%lld loaded=%lld interpreted=%lld "
           "compile_ms=%.4f\n",
           ms, (long long)st.kernels_built, (long long)st.kernels_loaded,
           (long long)st.interpreted, st.compile_ms);
    kiln_list_free(args);
    kiln_array_release(x);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    return 0;
}

/* Child: peak RSS of compiled gelu on the big input. The kernel is built
 * (or loaded) on a small input first, so the measured call replays. */
static int child_memory(void)
{
    const int64_t small[3] = LAT_SHAPE;
    const int64_t big[3] = {small_sizes() ? GELU_D0_SMALL : GELU_D0,
                            GELU_D1, COLS};
    kiln_array *xs = random_array(small, 3, KILN_DTYPE_FLOAT32, 7, -4, 4);
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cf = f ? kiln_compile(f, NULL) : NULL;
    kiln_list *args = xs ? list_of(&xs, 1) : NULL;
    kiln_list *r = cf && args ? call_eval(cf, args) : NULL;
    kiln_array *x;
    long base_kb, peak_kb;
    bool reset;
    size_t in_b, out_b;
    int64_t t0;
    if (!r) {
        printf("error=1 %s\n", kiln_errmsg());
        return 1;
    }
    kiln_list_free(r);
    kiln_list_free(args);
    kiln_array_release(xs);
    base_kb = proc_status_kb("VmRSS");
    x = random_array(big, 3, KILN_DTYPE_FLOAT32, 1, -4, 4);
    reset = reset_peak_rss();
    args = x ? list_of(&x, 1) : NULL;
    t0 = bench_now_ns();
    r = args ? call_eval(cf, args) : NULL;
    t0 = bench_now_ns() - t0;
    peak_kb = proc_status_kb("VmHWM");
    if (!r) {
        printf("error=1 %s\n", kiln_errmsg());
        return 1;
    }
    in_b = kiln_array_nbytes(x);
    out_b = kiln_array_nbytes(kiln_list_get(r, 0));
    printf("base_kb=%ld peak_kb=%ld in=%zu out=%zu reset=%d ms=%.4f\n",
           base_kb, peak_kb, in_b, out_b, reset ? 1 : 0, (double)t0 * 1e-6);
    kiln_list_free(r);
    kiln_list_free(args);
    kiln_array_release(x);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    return 0;
}

/* ------------------------------------------------------------------ */
/* the benchmarks                                                     */
/* ------------------------------------------------------------------ */

static double g_copy_gbps, g_triad_gbps;

static void bench_stream(int64_t n)
{
    size_t nb = (size_t)n * sizeof(float);
    float *a = bench_alloc(nb), *b = bench_alloc(nb), *c = bench_alloc(nb);
    bench_time t;
    if (!a || !b || !c) {
        printf("  stream: cannot allocate 3 x %zu bytes\n", nb);
        g_failed = true;
    } else {
        fill(b, n, 2, 0.0f, 1.0f);
        fill(c, n, 3, 0.0f, 1.0f);
        loop_job j = {K_COPY, a, b, c, n, g_nt};
        measure("stream_copy", loop_run, &j, 0, 2.0 * (double)nb, &t);
        g_copy_gbps = gbps(2.0 * (double)nb, t.median_ms);
        j.kind = K_TRIAD;
        measure("stream_triad", loop_run, &j, 0, 3.0 * (double)nb, &t);
        g_triad_gbps = gbps(3.0 * (double)nb, t.median_ms);
    }
    bench_free(a, nb);
    bench_free(b, nb);
    bench_free(c, nb);
}

/* Bytes of every array in the lists. */
static double list_bytes(const kiln_list *a, const kiln_list *b)
{
    double s = 0.0;
    for (size_t i = 0; a && i < kiln_list_size(a); i++) {
        s += (double)kiln_array_nbytes(kiln_list_get(a, i));
    }
    for (size_t i = 0; b && i < kiln_list_size(b); i++) {
        s += (double)kiln_array_nbytes(kiln_list_get(b, i));
    }
    return s;
}

static void bench_gelu(void)
{
    const int64_t shape[3] = {small_sizes() ? GELU_D0_SMALL : GELU_D0,
                              GELU_D1, COLS};
    const int64_t n = shape[0] * shape[1] * shape[2];
    const size_t nb = (size_t)n * sizeof(float);
    float *h = bench_alloc(nb); /* the input's host copy, then hand's y */
    kiln_array *x = NULL;
    kiln_list *args = NULL, *rc = NULL, *re = NULL;
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu");
    kiln_fn *cf = f ? compile_with(f, false) : NULL;
    bench_time te, tc, th;
    bench_record *re_rec, *rc_rec, *rh_rec;
    double bytes = 2.0 * (double)nb, worst = 0.0;
    char buf[160];

    printf("\ngelu x * (1 + erf(x / sqrt 2)) / 2, (%lld, %lld, %lld) "
           "float32, %.0f MB in + %.0f MB out:\n",
           (long long)shape[0], (long long)shape[1], (long long)shape[2],
           (double)nb / 1e6, (double)nb / 1e6);
    if (!h || !cf) {
        printf("  skipped: %s\n", h ? kiln_errmsg() : "out of memory");
        g_failed = true;
        goto cleanup;
    }
    fill(h, n, 1, -4.0f, 4.0f);
    x = kiln_array_from_data(h, shape, 3, KILN_DTYPE_FLOAT32);
    args = x ? list_of(&x, 1) : NULL;
    const float *xd = x ? kiln_array_data(x) : NULL;
    if (!args || !xd) {
        report_error("gelu input");
        goto cleanup;
    }

    /* results first (the compiled call traces here), then timings */
    rc = call_eval(cf, args);
    re = call_eval(f, args);
    loop_job hj = {K_GELU, h, xd, NULL, n, g_nt};
    loop_run(&hj);
    if (!rc || !re) {
        report_error("gelu");
        goto cleanup;
    }
    const float *yc = kiln_array_data(kiln_list_get(rc, 0));
    for (int64_t i = 0; yc && i < n; i++) {
        double d = fabs((double)yc[i] - (double)h[i]);
        if (!(d <= worst)) {
            worst = d;
        }
    }
    printf("  check %-36s max abs diff %.3g %s\n",
           "gelu compiled vs hand-fused C", worst,
           worst <= 1e-6 ? "ok" : "FAILED");
    if (!(worst <= 1e-6)) {
        g_failed = true;
    }
    check_close("gelu compiled vs eager", kiln_list_get(rc, 0),
                kiln_list_get(re, 0), 1e-6, 1e-7);
    kiln_list_free(rc);
    kiln_list_free(re);
    rc = re = NULL;

    printf("\n  %-30s %10s %10s %14s\n", "name", "median ms", "min ms",
           "throughput");
    call_job ej = {f, args, 1}, cj = {cf, args, 1};
    re_rec = measure("gelu_eager", call_run, &ej, 0, bytes, &te);
    rc_rec = measure("gelu_compiled", call_run, &cj, 0, bytes, &tc);
    rh_rec = measure("gelu_hand_fused", loop_run, &hj, 0, bytes, &th);
    (void)re_rec;
    printf("  compiled / hand-fused time %.2f (min %.2f), eager / compiled "
           "%.2f, GB/s: compiled %.2f hand %.2f = %.2f and %.2f x STREAM "
           "copy\n",
           tc.median_ms / th.median_ms, tc.min_ms / th.min_ms,
           te.median_ms / tc.median_ms, gbps(bytes, tc.median_ms),
           gbps(bytes, th.median_ms),
           gbps(bytes, tc.median_ms) / g_copy_gbps,
           gbps(bytes, th.median_ms) / g_copy_gbps);
    target_add("gelu compiled / hand-fused time", tc.median_ms / th.median_ms,
               true, T_FUSED, "x", rc_rec);
    target_add("gelu eager / compiled time", te.median_ms / tc.median_ms,
               false, T_EAGER, "x", rc_rec);
    snprintf(buf, sizeof buf, "; %.2f x stream_copy",
             gbps(bytes, tc.median_ms) / g_copy_gbps);
    note_append(rc_rec, buf);
    snprintf(buf, sizeof buf, "; %.2f x stream_copy",
             gbps(bytes, th.median_ms) / g_copy_gbps);
    note_append(rh_rec, buf);
cleanup:
    kiln_list_free(rc);
    kiln_list_free(re);
    kiln_list_free(args);
    kiln_array_release(x);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    bench_free(h, nb);
}

/* One row-wise benchmark: eager and compiled, checked, GB/s vs STREAM. */
static void bench_rows(const char *base, kiln_fn_body body,
                       kiln_array *const *in, int nin, int reps,
                       double rtol, double atol, bool stream_target)
{
    char name[64], label[64];
    kiln_fn *f = kiln_fn_new(body, NULL, NULL, base);
    kiln_fn *cf = f ? compile_with(f, false) : NULL;
    kiln_list *args = list_of(in, nin);
    kiln_list *rc = cf && args ? call_eval(cf, args) : NULL;
    kiln_list *re = rc ? call_eval(f, args) : NULL;
    bench_time te, tc;
    bench_record *r;
    double bytes;
    if (!rc || !re) {
        report_error(base);
        goto cleanup;
    }
    snprintf(label, sizeof label, "%s compiled vs eager", base);
    check_close(label, kiln_list_get(rc, 0), kiln_list_get(re, 0), rtol,
                atol);
    bytes = list_bytes(args, rc);
    kiln_list_free(rc);
    kiln_list_free(re);
    rc = re = NULL;
    call_job ej = {f, args, 1}, cj = {cf, args, 1};
    snprintf(name, sizeof name, "%s_eager", base);
    measure(name, call_run, &ej, reps, bytes, &te);
    snprintf(name, sizeof name, "%s_compiled", base);
    r = measure(name, call_run, &cj, reps, bytes, &tc);
    snprintf(label, sizeof label, "%s compiled / STREAM copy", base);
    if (stream_target) {
        target_add(label, gbps(bytes, tc.median_ms) / g_copy_gbps, false,
                   T_STREAM, "x", r);
    }
    printf("  %-30s eager / compiled %.2f, compiled %.2f x STREAM copy, "
           "%.2f x triad\n", base, te.median_ms / tc.median_ms,
           gbps(bytes, tc.median_ms) / g_copy_gbps,
           gbps(bytes, tc.median_ms) / g_triad_gbps);
cleanup:
    kiln_list_free(rc);
    kiln_list_free(re);
    kiln_list_free(args);
    kiln_fn_release(cf);
    kiln_fn_release(f);
}

static void bench_norms(void)
{
    const int64_t sq[2] = {small_sizes() ? SQ_ROWS_SMALL : SQ_ROWS, COLS};
    const int64_t s16[2] = {LN16_ROWS, COLS}, wv[1] = {COLS};
    kiln_array *x = random_array(sq, 2, KILN_DTYPE_FLOAT32, 4, -4, 4);
    kiln_array *w = random_array(wv, 1, KILN_DTYPE_FLOAT32, 5, 0.5f, 1.5f);
    kiln_array *b = random_array(wv, 1, KILN_DTYPE_FLOAT32, 6, -1, 1);
    kiln_array *x16 = random_array(s16, 2, KILN_DTYPE_FLOAT16, 7, -4, 4);
    kiln_array *w16 = random_array(wv, 1, KILN_DTYPE_FLOAT16, 8, 0.5f, 1.5f);
    kiln_array *b16 = random_array(wv, 1, KILN_DTYPE_FLOAT16, 9, -1, 1);
    printf("\nrow-wise over the last axis: softmax and layer_norm of "
           "(%lld, %d) float32, layer_norm of (%d, %d) float16; then gelu "
           "of the same float16 array\n"
           "(bytes: each input and output once):\n",
           (long long)sq[0], COLS, LN16_ROWS, COLS);
    if (x && w && b && x16 && w16 && b16) {
        kiln_array *ln[3] = {x, w, b}, *ln16[3] = {x16, w16, b16};
        bench_rows("softmax_f32", softmax_body, &x, 1, 0, 1e-5, 1e-9, true);
        bench_rows("layer_norm_f32", layer_norm_body, ln, 3, 0, 1e-4, 1e-5,
                   true);
        bench_rows("layer_norm_f16", layer_norm_body, ln16, 3, SMALL_REPS,
                   2e-3, 2e-3, true);
        /* float16 elementwise: every op rounded, those read by later ops
         * a block at a time (codegen_loop.c plan_round); compute-bound
         * (erf), so no STREAM target: eager / compiled is the figure */
        bench_rows("gelu_f16", gelu_body, &x16, 1, SMALL_REPS, 0, 0,
                   false);
    }
    kiln_array_release(x);
    kiln_array_release(w);
    kiln_array_release(b);
    kiln_array_release(x16);
    kiln_array_release(w16);
    kiln_array_release(b16);
}

/* Compile latency: cold and warm disk cache in new processes, then the
 * in-memory hit in this one. */
static char g_cold_dirs[COLD_RUNS][4096]; /* removed at the end */

static void bench_latency(const char *tmpbase)
{
    char (*dirs)[4096] = g_cold_dirs, out[1024], note[256];
    double cold[COLD_RUNS], warm[WARM_RUNS];
    int ncold = 0, nwarm = 0;
    double built = NAN, loaded = NAN, cms = NAN, med;
    bench_record *r;

    printf("\ncompile latency of gelu on (1, 1, %d) float32, first call "
           "(call + eval + release) of a new process:\n", COLS);
    for (int i = 0; i < COLD_RUNS; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/kiln-bench-cold-XXXXXX",
                 tmpbase);
        if (!mkdtemp(dirs[i])) {
            dirs[i][0] = '\0';
            continue;
        }
        if (run_child("latency", dirs[i], out, sizeof out) == 0 &&
            !isnan(field(out, "ms"))) {
            cold[ncold++] = field(out, "ms");
            built = field(out, "built");
            cms = field(out, "compile_ms");
        } else {
            printf("  cold child failed: %s", out[0] ? out : "(no output)\n");
        }
    }
    qsort(cold, (size_t)ncold, sizeof cold[0], bench_cmp_double);
    med = ncold ? cold[ncold / 2] : NAN;
    printf("  %-44s %9.2f ms  (kernels built %.0f, compile %.1f ms)\n",
           "cold: empty KILN_CACHE_DIR, median of 3", med, built, cms);
    snprintf(note, sizeof note, "median of %d new processes, empty disk "
             "cache, kernel built in the background (default); kernels "
             "built %.0f", ncold, built);
    r = record_value("gelu_latency_cold", med, note);
    target_add("compile latency cold", med, true, T_COLD_MS, "ms", r);

    /* the same with the first call waiting for its kernel */
    double sync[COLD_RUNS];
    int nsync = 0;
    setenv("KILN_JIT_ASYNC", "0", 1);
    for (int i = 0; i < COLD_RUNS; i++) {
        char d[4096];
        snprintf(d, sizeof d, "%s/kiln-bench-cold-XXXXXX", tmpbase);
        if (!mkdtemp(d)) {
            continue;
        }
        if (run_child("latency", d, out, sizeof out) == 0 &&
            !isnan(field(out, "ms"))) {
            sync[nsync++] = field(out, "ms");
        }
        bench_remove_tree(d);
    }
    unsetenv("KILN_JIT_ASYNC");
    qsort(sync, (size_t)nsync, sizeof sync[0], bench_cmp_double);
    med = nsync ? sync[nsync / 2] : NAN;
    printf("  %-44s %9.2f ms\n",
           "cold, waiting for the kernel (KILN_JIT_ASYNC=0)", med);
    record_value("gelu_latency_cold_sync", med,
                 "as gelu_latency_cold with KILN_JIT_ASYNC=0: the first "
                 "call waits for the compiler");

    for (int i = 0; i < WARM_RUNS && dirs[0][0]; i++) {
        if (run_child("latency", dirs[0], out, sizeof out) == 0 &&
            !isnan(field(out, "ms"))) {
            warm[nwarm++] = field(out, "ms");
            built = field(out, "built");
            loaded = field(out, "loaded");
        } else {
            printf("  warm child failed: %s", out[0] ? out : "(no output)\n");
        }
    }
    qsort(warm, (size_t)nwarm, sizeof warm[0], bench_cmp_double);
    med = nwarm ? warm[nwarm / 2] : NAN;
    printf("  %-44s %9.2f ms  (kernels built %.0f, loaded %.0f)\n",
           "warm disk cache, new process, median of 5", med, built, loaded);
    snprintf(note, sizeof note, "median of %d new processes, disk cache "
             "filled by a cold run; kernels built %.0f loaded %.0f", nwarm,
             built, loaded);
    r = record_value("gelu_latency_warm_disk", med, note);
    target_add("compile latency warm disk, new process", med, true,
               T_WARM_MS, "ms", r);

    /* in-memory hit */
    const int64_t one[1] = {1};
    const float v = 0.5f;
    kiln_array *x = kiln_array_from_data(&v, one, 1, KILN_DTYPE_FLOAT32);
    kiln_fn *f = kiln_fn_new(gelu_body, NULL, NULL, "gelu_hit");
    kiln_fn *cf = f ? compile_with(f, false) : NULL;
    kiln_list *args = x ? list_of(&x, 1) : NULL;
    call_job j = {cf, args, HIT_CALLS};
    kiln_list *r1 = cf && args ? call_eval(cf, args) : NULL;
    if (r1) {
        kiln_compile_stats s0 = stats_of(cf), s1;
        bench_time t = bench_run(call_run, &j, 0);
        double us = t.median_ms * 1e3 / HIT_CALLS;
        s1 = stats_of(cf);
        printf("  %-44s %9.3f us  (min %.3f; traces during the loop %lld, "
               "hits %lld)\n", "in-memory hit, 1 element, per call", us,
               t.min_ms * 1e3 / HIT_CALLS,
               (long long)(s1.traces - s0.traces),
               (long long)(s1.cache_hits - s0.cache_hits));
        snprintf(note, sizeof note, "ms of %d calls (kiln_fn_call + "
                 "kiln_eval + release each), median of %d: %.3f us per "
                 "call, min %.3f", HIT_CALLS, t.reps, us,
                 t.min_ms * 1e3 / HIT_CALLS);
        r = record_value("gelu_hit_10000_calls", t.median_ms, note);
        target_add("in-memory hit per call", us, true, T_HIT_US, "us", r);
    } else {
        report_error("in-memory hit");
    }
    kiln_list_free(r1);
    kiln_list_free(args);
    kiln_array_release(x);
    kiln_fn_release(cf);
    kiln_fn_release(f);
}

typedef struct {
    kiln_fn *f;
    kiln_list *args[VAR_CALLS];
    int n;
} seq_job;

static void seq_run(void *ctx)
{
    seq_job *j = ctx;
    for (int i = 0; i < j->n; i++) {
        kiln_list *r = call_eval(j->f, j->args[i]);
        if (!r) {
            report_error(kiln_fn_name(j->f));
            return;
        }
        kiln_list_free(r);
    }
}

static void bench_shapeless(void)
{
    const int64_t shape[2] = {VAR_ROWS, COLS};
    kiln_array *x = random_array(shape, 2, KILN_DTYPE_FLOAT32, 10, -4, 4);
    kiln_fn *fs = kiln_fn_new(gelu_body, NULL, NULL, "gelu_shapeless");
    kiln_fn *ff = kiln_fn_new(gelu_body, NULL, NULL, "gelu_fixed");
    kiln_fn *fv = kiln_fn_new(gelu_body, NULL, NULL, "gelu_fixed_var");
    kiln_fn *cs = fs ? compile_with(fs, true) : NULL;
    kiln_fn *cfx = ff ? compile_with(ff, false) : NULL;
    kiln_fn *cv = fv ? compile_with(fv, false) : NULL;
    seq_job sj = {cs, {NULL}, 0}, fj = {cfx, {NULL}, 0};
    double elems = 0.0;
    uint32_t s = 12345;
    char note[256];
    bench_record *r;

    printf("\nshapeless gelu on (n, %d) float32, n random in [1, %d], %d "
           "calls per run:\n", COLS, VAR_ROWS, VAR_CALLS);
    if (!x || !cs || !cfx || !cv) {
        report_error("shapeless setup");
        goto cleanup;
    }
    for (int i = 0; i < VAR_CALLS; i++) {
        const int64_t start[2] = {0, 0};
        int64_t stop[2] = {0, KILN_SLICE_END};
        s = s * 1664525u + 1013904223u;
        stop[0] = 1 + (int64_t)((s >> 8) % VAR_ROWS);
        kiln_array *v = kiln_slice(x, start, stop, NULL);
        if (!v || kiln_array_eval(v) != KILN_OK) {
            report_error("slice");
            kiln_array_release(v);
            goto cleanup;
        }
        sj.args[i] = list_of(&v, 1);
        fj.args[i] = list_of(&x, 1);
        kiln_array_release(v);
        sj.n = fj.n = i + 1;
        if (!sj.args[i] || !fj.args[i]) {
            report_error("list");
            goto cleanup;
        }
        elems += (double)stop[0] * COLS;
    }

    /* the fixed-shape compile on the same sequence retraces: once, timed */
    {
        seq_job vj = {cv, {NULL}, VAR_CALLS};
        memcpy(vj.args, sj.args, sizeof vj.args);
        int64_t t0 = bench_now_ns();
        seq_run(&vj);
        double ms = (double)(bench_now_ns() - t0) * 1e-6;
        kiln_compile_stats st = stats_of(cv);
        printf("  %-30s %10.3f ms  %8.3g elements/s  traces %lld "
               "(first pass)\n", "fixed-shape compile, same seq", ms,
               elems / (ms * 1e-3), (long long)st.traces);
    }

    /* the same sequence once every shape is traced: what the sizes alone
     * cost, apart from replaying shapeless */
    {
        seq_job vj = {cv, {NULL}, VAR_CALLS};
        memcpy(vj.args, sj.args, sizeof vj.args);
        long long before = (long long)stats_of(cv).traces;
        bench_time tv = bench_run(seq_run, &vj, 0);
        printf("  %-30s %10.3f ms  %8.3g elements/s  (every shape traced: "
               "%lld traces while timed)\n",
               "fixed-shape compile, same seq", tv.median_ms,
               elems / (tv.median_ms * 1e-3),
               (long long)stats_of(cv).traces - before);
    }

    kiln_list *r1 = call_eval(cs, sj.args[0]);
    kiln_list_free(r1);
    kiln_compile_stats s0 = stats_of(cs);
    bench_time ts = bench_run(seq_run, &sj, 0);
    kiln_compile_stats s1 = stats_of(cs);
    r1 = call_eval(cfx, fj.args[0]);
    kiln_list_free(r1);
    bench_time tf = bench_run(seq_run, &fj, 0);
    double eps_s = elems / (ts.median_ms * 1e-3);
    double eps_f = (double)VAR_CALLS * VAR_ROWS * COLS / (tf.median_ms * 1e-3);
    long long after = (long long)(s1.traces - s0.traces);
    printf("  %-30s %10.3f ms  %8.3g elements/s  traces after the first "
           "call: %lld (total %lld, hits %lld)\n", "shapeless, random n",
           ts.median_ms, eps_s, after, (long long)s1.traces,
           (long long)s1.cache_hits);
    printf("  %-30s %10.3f ms  %8.3g elements/s\n",
           "fixed (1000, 4096)", tf.median_ms, eps_f);
    snprintf(note, sizeof note, "%d calls, %.4g elements/s; fixed (%d, %d) "
             "%.4g elements/s; traces after the first call %lld",
             VAR_CALLS, eps_s, VAR_ROWS, COLS, eps_f, after);
    r = record_value("gelu_shapeless", ts.median_ms, note);
    if (r) {
        r->bytes = elems * 8.0;
    }
    target_add("shapeless traces after the first call", (double)after,
               true, 0.0, "", r);
    target_add("shapeless / fixed elements per second", eps_s / eps_f,
               false, T_SHAPELESS, "x", r);
cleanup:
    for (int i = 0; i < VAR_CALLS; i++) {
        kiln_list_free(sj.args[i]);
        kiln_list_free(fj.args[i]);
    }
    kiln_array_release(x);
    kiln_fn_release(cs);
    kiln_fn_release(cfx);
    kiln_fn_release(cv);
    kiln_fn_release(fs);
    kiln_fn_release(ff);
    kiln_fn_release(fv);
}

static void bench_memory(const char *cache_dir)
{
    char out[1024], note[256];
    bench_record *r;
    double ratio = NAN, ms = NAN;
    printf("\nmemory: compiled gelu on the gelu input, in a child "
           "process:\n");
    if (run_child("memory", cache_dir, out, sizeof out) != 0) {
        printf("  child failed: %s", out[0] ? out : "(no output)\n");
        g_failed = true;
    } else if (field(out, "reset") != 1.0) {
        printf("  peak RSS cannot be reset here (/proc/self/clear_refs): "
               "not measured\n");
    } else {
        double base = field(out, "base_kb") * 1024.0;
        double peak = field(out, "peak_kb") * 1024.0;
        double io = field(out, "in") + field(out, "out");
        ratio = (peak - base) / io;
        ms = field(out, "ms");
        printf("  RSS before the input %.1f MB, peak %.1f MB, input + "
               "output %.1f MB: (peak - before) / (input + output) = "
               "%.3f\n", base / 1e6, peak / 1e6, io / 1e6, ratio);
    }
    snprintf(note, sizeof note, "ms of that call (trace included); (peak "
             "RSS - RSS before the input) / (input + output) = %.4f", ratio);
    r = record_value("gelu_memory", ms, note);
    target_add("peak memory / (input + output)", ratio, true, T_MEM, "x",
               r);
}

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *out = "build/bench.json";
    const char *tmpbase = getenv("TMPDIR");
    char cache_dir[4096];
    int64_t t_start = bench_now_ns();
    ssize_t el;

    if (argc > 2 && strcmp(argv[1], "--child") == 0) {
        return strcmp(argv[2], "memory") == 0 ? child_memory()
                                              : child_latency();
    }
    if (argc > 1) {
        out = argv[1];
    }
    el = readlink("/proc/self/exe", g_exe, sizeof g_exe - 1);
    if (el <= 0) {
        snprintf(g_exe, sizeof g_exe, "%s", argv[0]);
    } else {
        g_exe[el] = '\0';
    }
    if (!tmpbase || !*tmpbase) {
        tmpbase = "/tmp";
    }
    /* This process's own kernel cache: fresh, removed at the end. */
    snprintf(cache_dir, sizeof cache_dir, "%s/kiln-bench-XXXXXX", tmpbase);
    if (!mkdtemp(cache_dir) || setenv("KILN_CACHE_DIR", cache_dir, 1)) {
        fprintf(stderr, "compile_bench: cannot make a cache folder in %s\n",
                tmpbase);
        return 1;
    }
    g_nt = kiln_num_threads();
    printf("kiln compile_bench: %d threads, median of %d after a warm-up%s\n"
           "kernel cache: %s (fresh)\n", g_nt, bench_reps(),
           small_sizes() ? ", KILN_BENCH_SMALL sizes" : "", cache_dir);

    bench_latency(tmpbase);
    /* from here on: steady state, every kernel built before it runs */
    setenv("KILN_JIT_ASYNC", "0", 1);
    bench_memory(g_cold_dirs[0][0] ? g_cold_dirs[0] : cache_dir);

    int64_t gn = (int64_t)(small_sizes() ? GELU_D0_SMALL : GELU_D0) *
                 GELU_D1 * COLS;
    printf("\nSTREAM on %lld float32 per array, %d parts:\n",
           (long long)(gn > STREAM_MIN_N ? gn : STREAM_MIN_N), g_nt);
    printf("  %-30s %10s %10s %14s\n", "name", "median ms", "min ms",
           "throughput");
    bench_stream(gn > STREAM_MIN_N ? gn : STREAM_MIN_N);
    bench_gelu();
    bench_norms();
    bench_shapeless();

    print_targets();
    if (bench_json_merge(&g_rs, out, "compile_") != 0) {
        fprintf(stderr, "compile_bench: cannot write %s\n", out);
        g_failed = true;
    } else {
        printf("\nwrote %d records to %s in %.1f s\n", g_rs.n, out,
               (double)(bench_now_ns() - t_start) * 1e-9);
    }
    bench_remove_tree(cache_dir);
    for (int i = 0; i < COLD_RUNS; i++) {
        bench_remove_tree(g_cold_dirs[i]);
    }
    if (g_failed) {
        printf("compile_bench: a result check FAILED or kiln returned an "
               "error (see above)\n");
    }
    return g_failed ? 1 : 0;
}
