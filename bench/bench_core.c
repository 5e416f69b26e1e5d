/*
 * bench_core.c - kiln's eager core against the machine's own limits.
 *
 * `make bench` runs `build/bench/bench_core build/bench.json`. In one run it
 * measures, with 1 thread and with all threads (kiln_num_threads() at start,
 * i.e. KILN_NUM_THREADS or the online cores):
 *   - STREAM-style loops on N = 64M float32 (256 MB per array): copy
 *     a = b, add a = b + c, triad a = b + s*c, add with non-temporal stores
 *     (information only), and a read-only sum with several accumulators,
 *     the read-bandwidth limit. They run through kiln's own thread pool
 *     (kiln__pool_for) split into one contiguous part per thread, as kiln's
 *     eager loops are.
 *   - kiln eager ops on the same N: kiln_add, kiln_exp, kiln_sum, each
 *     built, evaluated (kiln_array_eval) and released per repetition, so
 *     the buffer pool recycles the output as in a steady-state loop.
 *   - matmul 2048 x 2048 float32: kiln_matmul against a direct
 *     cblas_sgemm (when built with KILN_HAVE_CBLAS).
 * Each figure is the median of bench_reps() timed runs (MATMUL_REPS for
 * matmul) after a warm-up; the ratio table also shows the ratio of the
 * fastest runs, which is steadier when other processes share the cores.
 * Bytes are those read plus written (STREAM's convention: write-allocate
 * traffic not counted); matmul records 3 n^2 * 4 bytes and its flop count
 * in the note. The acceptance ratios (kiln against the reference in the
 * same run and thread count) are printed with PASS/BELOW and stored in the
 * notes. Timings never make the exit status nonzero; a wrong result does.
 *
 * Every input is written before timing starts, so no timed region takes
 * first-touch page faults. KILN_BENCH_N (elements) shrinks the streaming
 * size for a quick run; KILN_BENCH_REPS sets the repetitions (>= 5).
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__AVX__)
#include <immintrin.h>
#endif

#ifdef KILN_HAVE_CBLAS
#include <cblas.h>
#endif

#include "kiln.h"
#include "runtime/pool.h"

#include "bench_util.h"

#define DEFAULT_N ((int64_t)64 << 20)
#define MATMUL_N 2048
#define MATMUL_REPS 5 /* a 2048^3 sgemm is long enough to be steady */
#define MAX_PARTS 256
#define TRIAD_S 3.0f

/* Acceptance targets: kiln throughput / reference throughput. */
#define TARGET_ADD 0.70
#define TARGET_SUM 0.70
#define TARGET_EXP 0.60
#define TARGET_MATMUL 0.90

/* Keep gcc from turning the copy loop into a memcpy call: the point is
 * the plain loop a kernel would run. */
#if defined(__GNUC__) && !defined(__clang__)
#define PLAIN_LOOP                                                        \
    __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define PLAIN_LOOP
#endif

static bool g_failed; /* a result check failed */

/* ------------------------------------------------------------------ */
/* STREAM-style kernels                                               */
/* ------------------------------------------------------------------ */

PLAIN_LOOP static void copy_kernel(float *restrict a, const float *restrict b,
                                   int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        a[i] = b[i];
    }
}

static void add_kernel(float *restrict a, const float *restrict b,
                       const float *restrict c, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        a[i] = b[i] + c[i];
    }
}

static void triad_kernel(float *restrict a, const float *restrict b,
                         const float *restrict c, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        a[i] = b[i] + s * c[i];
    }
}

/* Non-temporal stores bypass the cache (no read-for-ownership of a). */
static void add_nt_kernel(float *restrict a, const float *restrict b,
                          const float *restrict c, int64_t n)
{
    int64_t i = 0;
#if defined(__AVX__)
    for (; i < n && ((uintptr_t)(a + i) & 31) != 0; i++) {
        a[i] = b[i] + c[i];
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_add_ps(_mm256_loadu_ps(b + i),
                                 _mm256_loadu_ps(c + i));
        _mm256_stream_ps(a + i, v);
    }
    _mm_sfence();
#endif
    for (; i < n; i++) {
        a[i] = b[i] + c[i];
    }
}

/* Sum with 64 independent float lanes (8 AVX registers): bound by reads,
 * not by the add latency chain. */
static double read_kernel(const float *restrict x, int64_t n)
{
    float acc[64] = {0};
    int64_t i = 0;
    double s = 0.0;
    for (; i + 64 <= n; i += 64) {
        for (int j = 0; j < 64; j++) {
            acc[j] += x[i + j];
        }
    }
    for (; i < n; i++) {
        acc[0] += x[i];
    }
    for (int j = 0; j < 64; j++) {
        s += acc[j];
    }
    return s;
}

typedef enum { K_COPY, K_ADD, K_TRIAD, K_ADD_NT, K_READ } stream_kind;

typedef struct {
    stream_kind kind;
    float *a;
    const float *b;
    const float *c;
    int64_t n;
    int nparts;
    double partial[MAX_PARTS];
} stream_job;

/* Start of part k of n elements cut into nparts, on a 64-byte boundary. */
static int64_t part_start(int64_t n, int nparts, int k)
{
    if (k >= nparts) {
        return n;
    }
    return (int64_t)((double)n * k / nparts) & ~(int64_t)15;
}

static void stream_range(void *ctx, int64_t lo, int64_t hi)
{
    stream_job *j = ctx;
    for (int64_t k = lo; k < hi; k++) {
        int64_t s = part_start(j->n, j->nparts, (int)k);
        int64_t e = part_start(j->n, j->nparts, (int)k + 1);
        switch (j->kind) {
        case K_COPY:
            copy_kernel(j->a + s, j->b + s, e - s);
            break;
        case K_ADD:
            add_kernel(j->a + s, j->b + s, j->c + s, e - s);
            break;
        case K_TRIAD:
            triad_kernel(j->a + s, j->b + s, j->c + s, TRIAD_S, e - s);
            break;
        case K_ADD_NT:
            add_nt_kernel(j->a + s, j->b + s, j->c + s, e - s);
            break;
        case K_READ:
            j->partial[k] = read_kernel(j->b + s, e - s);
            break;
        }
    }
}

static volatile double g_sink;

static void stream_call(void *ctx)
{
    stream_job *j = ctx;
    double s = 0.0;
    kiln__pool_for(j->nparts, 1, stream_range, j);
    if (j->kind == K_READ) {
        for (int k = 0; k < j->nparts; k++) {
            s += j->partial[k];
        }
        g_sink = s;
    }
}

/* ------------------------------------------------------------------ */
/* kiln calls                                                         */
/* ------------------------------------------------------------------ */

typedef enum { OP_ADD, OP_EXP, OP_SUM, OP_MATMUL } kiln_op;

typedef struct {
    kiln_op op;
    kiln_array *x;
    kiln_array *y;
} kiln_job;

/* One evaluated result of the job's op (new reference), NULL on error. */
static kiln_array *kiln_job_result(const kiln_job *j)
{
    kiln_array *r = NULL;
    switch (j->op) {
    case OP_ADD:
        r = kiln_add(j->x, j->y);
        break;
    case OP_EXP:
        r = kiln_exp(j->x);
        break;
    case OP_SUM:
        r = kiln_sum(j->x, NULL, 0, false);
        break;
    case OP_MATMUL:
        r = kiln_matmul(j->x, j->y);
        break;
    }
    if (r && kiln_array_eval(r) != KILN_OK) {
        kiln_array_release(r);
        r = NULL;
    }
    return r;
}

static void kiln_call(void *ctx)
{
    kiln_array *r = kiln_job_result(ctx);
    if (!r) {
        fprintf(stderr, "bench: kiln error: %s\n", kiln_errmsg());
        g_failed = true;
        return;
    }
    kiln_array_release(r);
}

/* ------------------------------------------------------------------ */
/* result checks (untimed)                                            */
/* ------------------------------------------------------------------ */

/* Reports a failed check; `err` < 0 means kiln returned an error. */
static void check_fail(const char *what, const char *measure, double err)
{
    if (err < 0) {
        printf("  CHECK FAILED %s: %s\n", what, kiln_errmsg());
    } else {
        printf("  CHECK FAILED %s: %s %.3g\n", what, measure, err);
    }
    g_failed = true;
}

/* Sampled elementwise check: add must be exact (same float addition),
 * exp within 1e-6 relative (about 8 ulp). */
static void check_elementwise(const kiln_job *j, const float *b,
                              const float *c, int64_t n)
{
    kiln_array *r = kiln_job_result(j);
    const float *y = r ? kiln_array_data(r) : NULL;
    double worst = 0.0;
    if (!y) {
        check_fail(j->op == OP_ADD ? "kiln_add" : "kiln_exp", "", -1.0);
        kiln_array_release(r);
        return;
    }
    for (int64_t i = 0; i < n; i += n / 4099 + 1) {
        double want = j->op == OP_ADD ? (double)(b[i] + c[i])
                                      : exp((double)b[i]);
        double err = fabs((double)y[i] - want) / (fabs(want) + 1e-30);
        worst = err > worst ? err : worst;
    }
    if (worst > (j->op == OP_ADD ? 0.0 : 1e-6)) {
        check_fail(j->op == OP_ADD ? "kiln_add" : "kiln_exp",
                   "max relative error", worst);
    }
    kiln_array_release(r);
}

static void check_sum(const kiln_job *j, const float *x, int64_t n,
                      char *note, size_t cap)
{
    kiln_array *r = kiln_job_result(j);
    double got = 0.0, want = 0.0, rel;
    if (!r || kiln_array_item_f64(r, &got) != KILN_OK) {
        check_fail("kiln_sum", "", -1.0);
        kiln_array_release(r);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        want += x[i];
    }
    rel = fabs(got - want) / fabs(want);
    snprintf(note, cap, "sum rel err %.2g", rel);
    if (rel > 1e-4) {
        check_fail("kiln_sum", "relative error", rel);
    }
    kiln_array_release(r);
}

/* ------------------------------------------------------------------ */
/* reporting                                                          */
/* ------------------------------------------------------------------ */

static double gbps(double bytes, double ms)
{
    return bytes / (ms * 1e-3) / 1e9;
}

static void print_row(const char *name, int nt, bench_time t, double bytes,
                      double flops)
{
    if (flops > 0) {
        printf("  %-22s %3d %10.2f %10.2f %8.1f GFLOP/s\n", name, nt,
               t.median_ms, t.min_ms, flops / (t.median_ms * 1e-3) / 1e9);
    } else {
        printf("  %-22s %3d %10.2f %10.2f %8.2f GB/s\n", name, nt,
               t.median_ms, t.min_ms, gbps(bytes, t.median_ms));
    }
}

/* Times one job, prints its row and records it; returns the median. */
static double measure(bench_records *rs, const char *base, int nt,
                      void (*fn)(void *), void *ctx, double bytes,
                      double flops)
{
    char name[64];
    bench_time t;
    bench_record *r;
    snprintf(name, sizeof name, "%s_t%d", base, nt);
    t = bench_run(fn, ctx, flops > 0 ? MATMUL_REPS : 0);
    print_row(name, nt, t, bytes, flops);
    r = bench_add(rs, name, t.median_ms, bytes);
    if (r) {
        r->min_ms = t.min_ms;
        if (flops > 0) {
            snprintf(r->note, sizeof r->note,
                     "flops=%.4g, %.1f GFLOP/s; %d reps, min %.3f max %.3f "
                     "ms",
                     flops, flops / (t.median_ms * 1e-3) / 1e9, t.reps,
                     t.min_ms, t.max_ms);
        } else {
            snprintf(r->note, sizeof r->note,
                     "%.2f GB/s; %d reps, min %.3f max %.3f ms",
                     gbps(bytes, t.median_ms), t.reps, t.min_ms, t.max_ms);
        }
    }
    return t.median_ms;
}

static bench_record *find_record(bench_records *rs, const char *base,
                                 int nt)
{
    char name[64];
    snprintf(name, sizeof name, "%s_t%d", base, nt);
    for (int i = 0; i < rs->n; i++) {
        if (strcmp(rs->items[i].name, name) == 0) {
            return &rs->items[i];
        }
    }
    return NULL;
}

/* Prints and records kiln `what` against `ref` at nt threads. Throughput
 * ratio = ref time / kiln time scaled by their bytes (or flops). */
static void ratio_line(bench_records *rs, const char *label,
                       const char *what, const char *ref, int nt,
                       double target)
{
    bench_record *k = find_record(rs, what, nt);
    bench_record *r = find_record(rs, ref, nt);
    char buf[128];
    double ratio, rmin;
    const char *verdict;
    if (!k || !r || k->ms <= 0 || r->ms <= 0) {
        printf("  %-28s %3d %s\n", label, nt,
               k ? "n/a (no reference)" : "n/a (not measured)");
        return;
    }
    ratio = (k->bytes / k->ms) / (r->bytes / r->ms);
    rmin = (k->bytes / k->min_ms) / (r->bytes / r->min_ms);
    verdict = ratio >= target ? "PASS" : "BELOW";
    printf("  %-28s %3d %8.2f %9.2f   >= %.2f  %s\n", label, nt, ratio,
           rmin, target, verdict);
    snprintf(buf, sizeof buf, "; %.2fx %s_t%d (target %.2f: %s)", ratio,
             ref, nt, target, verdict);
    strncat(k->note, buf, sizeof k->note - strlen(k->note) - 1);
}

/* ------------------------------------------------------------------ */
/* main                                                               */
/* ------------------------------------------------------------------ */

static void fill(float *x, int64_t n, uint32_t seed, float lo, float hi)
{
    uint32_t s = seed;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)(s >> 8) * (1.0f / 16777216.0f);
    }
}

static int64_t stream_n(void)
{
    const char *s = getenv("KILN_BENCH_N");
    if (s && *s) {
        long long v = atoll(s);
        if (v >= 1024) {
            return (int64_t)v;
        }
    }
    return DEFAULT_N;
}

static void set_threads(int nt)
{
    kiln_set_num_threads(nt);
#if defined(KILN_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    openblas_set_num_threads(nt);
#endif
}

static void bench_streaming(bench_records *rs, int nt, float *a, float *b,
                            float *c, int64_t n, kiln_array *ka,
                            kiln_array *kb, kiln_array *kx)
{
    double fb = (double)n * sizeof(float);
    stream_job sj = {.a = a, .b = b, .c = c, .n = n, .nparts = nt};
    kiln_job kj = {0};
    static const struct {
        stream_kind kind;
        const char *name;
        double arrays;
    } streams[] = {
        {K_COPY, "stream_copy", 2}, {K_ADD, "stream_add", 3},
        {K_TRIAD, "stream_triad", 3}, {K_ADD_NT, "stream_add_nt", 3},
        {K_READ, "read_sum", 1},
    };
    set_threads(nt);
    for (size_t i = 0; i < sizeof streams / sizeof streams[0]; i++) {
        sj.kind = streams[i].kind;
        measure(rs, streams[i].name, nt, stream_call, &sj,
                streams[i].arrays * fb, 0);
    }
    kj = (kiln_job){OP_ADD, ka, kb};
    measure(rs, "kiln_add", nt, kiln_call, &kj, 3 * fb, 0);
    kj = (kiln_job){OP_EXP, kx, NULL};
    measure(rs, "kiln_exp", nt, kiln_call, &kj, 2 * fb, 0);
    kj = (kiln_job){OP_SUM, ka, NULL};
    measure(rs, "kiln_sum", nt, kiln_call, &kj, fb, 0);
}

#ifdef KILN_HAVE_CBLAS
typedef struct {
    const float *a;
    const float *b;
    float *c;
    int n;
} sgemm_job;

static void sgemm_call(void *ctx)
{
    sgemm_job *j = ctx;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, j->n, j->n, j->n,
                1.0f, j->a, j->n, j->b, j->n, 0.0f, j->c, j->n);
}
#endif

/* Checks kiln_matmul on sampled entries against a double-precision dot
 * product (and, with CBLAS, every entry against sgemm's). */
static void check_matmul(kiln_job *kj, const float *a, const float *b,
                         const float *ref, int n)
{
    kiln_array *r = kiln_job_result(kj);
    const float *y = r ? kiln_array_data(r) : NULL;
    double worst = 0.0;
    if (!y) {
        check_fail("kiln_matmul", "", -1.0);
        kiln_array_release(r);
        return;
    }
    for (int s = 0; s < 97; s++) {
        int i = (s * 733) % n, jc = (s * 1543 + 7) % n;
        double want = 0.0;
        for (int k = 0; k < n; k++) {
            want += (double)a[(int64_t)i * n + k] * b[(int64_t)k * n + jc];
        }
        double err = fabs(y[(int64_t)i * n + jc] - want);
        worst = err > worst ? err : worst;
    }
    if (ref) {
        for (int64_t i = 0; i < (int64_t)n * n; i++) {
            double err = fabs((double)y[i] - ref[i]);
            worst = err > worst ? err : worst;
        }
    }
    printf("  kiln_matmul max abs diff %.3g%s\n", worst,
           ref ? " (vs sgemm and exact samples)" : " (vs exact samples)");
    if (worst > 1e-2) {
        check_fail("kiln_matmul", "max abs diff", worst);
    }
    kiln_array_release(r);
}

/* Other processes running during the bench skew the multi-threaded
 * figures most (a static split waits for its slowest part); says so. */
static void report_load(void)
{
    double l1 = 0.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (!f) {
        return;
    }
    if (fscanf(f, "%lf", &l1) == 1 && l1 > 0.5) {
        printf("note: load average %.2f before the bench: other processes "
               "compete for the cores, timings are noisy.\n", l1);
    }
    fclose(f);
}

/* OpenBLAS picks its kernels by CPU model at load time; a model it does
 * not know falls back to old SSE kernels (4-6x slower). Says so. */
static void report_blas(void)
{
#if defined(KILN_HAVE_CBLAS) && defined(OPENBLAS_VERSION)
    const char *core = openblas_get_corename();
    printf("OpenBLAS: %s\n", openblas_get_config());
    if (core && (strcmp(core, "Prescott") == 0 ||
                 strcmp(core, "Core2") == 0 ||
                 strcmp(core, "Nehalem") == 0 ||
                 strcmp(core, "Generic") == 0)) {
        printf("  note: OpenBLAS chose %s kernels for this CPU (not "
               "recognised?); sgemm and kiln_matmul are slow. Try "
               "OPENBLAS_CORETYPE=SkylakeX (AVX-512) or Haswell (AVX2).\n",
               core);
    }
#elif defined(KILN_HAVE_CBLAS)
    printf("CBLAS: present\n");
#else
    printf("CBLAS: absent (no sgemm reference)\n");
#endif
}

static void bench_matmul(bench_records *rs, int nt)
{
    const int n = MATMUL_N;
    const int64_t shape[2] = {n, n};
    size_t nb = (size_t)n * n * sizeof(float);
    double flops = 2.0 * n * n * (double)n;
    double bytes = 3.0 * (double)nb;
    float *a = bench_alloc(nb), *b = bench_alloc(nb), *c = bench_alloc(nb);
    kiln_array *ka = NULL, *kb = NULL;
    if (!a || !b || !c) {
        printf("  matmul: out of memory\n");
        goto cleanup;
    }
    fill(a, (int64_t)n * n, 11, -1.0f, 1.0f);
    fill(b, (int64_t)n * n, 12, -1.0f, 1.0f);
    set_threads(nt);
#ifdef KILN_HAVE_CBLAS
    sgemm_job sj = {a, b, c, n};
    measure(rs, "cblas_sgemm", nt, sgemm_call, &sj, bytes, flops);
#endif
    ka = kiln_array_from_data(a, shape, 2, KILN_DTYPE_FLOAT32);
    kb = kiln_array_from_data(b, shape, 2, KILN_DTYPE_FLOAT32);
    if (!ka || !kb) {
        printf("  matmul: %s\n", kiln_errmsg());
        g_failed = true;
        goto cleanup;
    }
    kiln_job kj = {OP_MATMUL, ka, kb};
    measure(rs, "kiln_matmul", nt, kiln_call, &kj, bytes, flops);
#ifdef KILN_HAVE_CBLAS
    check_matmul(&kj, a, b, c, n);
#else
    check_matmul(&kj, a, b, NULL, n);
#endif
cleanup:
    kiln_array_release(ka);
    kiln_array_release(kb);
    bench_free(a, nb);
    bench_free(b, nb);
    bench_free(c, nb);
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "build/bench.json";
    static bench_records rs;
    int64_t n = stream_n();
    size_t nb = (size_t)n * sizeof(float);
    int nt_all = kiln_num_threads();
    int nts[2] = {1, nt_all};
    int nnt = nt_all > 1 ? 2 : 1;
    int64_t t_start = bench_now_ns();
    float *a = bench_alloc(nb), *b = bench_alloc(nb), *c = bench_alloc(nb);
    kiln_array *ka = NULL, *kb = NULL, *kx = NULL;
    char sum_note[64] = "";
    int status = 0;

    if (!a || !b || !c) {
        fprintf(stderr, "bench: cannot allocate 3 x %zu bytes\n", nb);
        return 1;
    }
    printf("kiln bench_core: N = %lld float32 (%.0f MB per array), "
           "threads 1 and %d, median of %d after a warm-up\n",
           (long long)n, (double)nb / 1e6, nt_all, bench_reps());

    /* kiln inputs: ka, kb in [0, 1) for add and sum; kx in [-10, 10) for
     * exp, staged through a (overwritten by the STREAM runs later). */
    fill(b, n, 1, 0.0f, 1.0f);
    fill(c, n, 2, 0.0f, 1.0f);
    fill(a, n, 3, -10.0f, 10.0f);
    const int64_t shape[1] = {n};
    ka = kiln_array_from_data(b, shape, 1, KILN_DTYPE_FLOAT32);
    kb = kiln_array_from_data(c, shape, 1, KILN_DTYPE_FLOAT32);
    kx = kiln_array_from_data(a, shape, 1, KILN_DTYPE_FLOAT32);
    if (!ka || !kb || !kx) {
        fprintf(stderr, "bench: %s\n", kiln_errmsg());
        status = 1;
        goto cleanup;
    }

    report_load();
    report_blas();
    printf("checks:\n");
    kiln_job chk = {OP_ADD, ka, kb};
    check_elementwise(&chk, b, c, n);
    chk = (kiln_job){OP_EXP, kx, NULL};
    check_elementwise(&chk, a, NULL, n);
    chk = (kiln_job){OP_SUM, ka, NULL};
    check_sum(&chk, b, n, sum_note, sizeof sum_note);
    printf("  kiln_sum %s\n", sum_note);
    printf("  add/exp/sum checks %s\n", g_failed ? "FAILED" : "ok");

    printf("\n  %-22s %3s %10s %10s %13s\n", "name", "thr", "median ms",
           "min ms", "throughput");
    for (int i = 0; i < nnt; i++) {
        bench_streaming(&rs, nts[i], a, b, c, n, ka, kb, kx);
    }
    for (int i = 0; i < nnt; i++) {
        bench_matmul(&rs, nts[i]);
    }

    printf("\n  %-28s %3s %8s %9s   %-7s  %s\n", "throughput ratio", "thr",
           "median", "(min)", "target", "verdict (on median)");
    for (int i = 0; i < nnt; i++) {
        int nt = nts[i];
        ratio_line(&rs, "kiln_add / stream_add", "kiln_add", "stream_add",
                   nt, TARGET_ADD);
        ratio_line(&rs, "kiln_add / stream_triad", "kiln_add",
                   "stream_triad", nt, TARGET_ADD);
        ratio_line(&rs, "kiln_sum / read_sum", "kiln_sum", "read_sum", nt,
                   TARGET_SUM);
        ratio_line(&rs, "kiln_exp / stream_triad", "kiln_exp",
                   "stream_triad", nt, TARGET_EXP);
        ratio_line(&rs, "kiln_matmul / cblas_sgemm", "kiln_matmul",
                   "cblas_sgemm", nt, TARGET_MATMUL);
    }
    if (sum_note[0]) {
        for (int i = 0; i < nnt; i++) {
            bench_record *r = find_record(&rs, "kiln_sum", nts[i]);
            if (r) {
                strncat(r->note, "; ", sizeof r->note - strlen(r->note) - 1);
                strncat(r->note, sum_note,
                        sizeof r->note - strlen(r->note) - 1);
            }
        }
    }

    if (bench_write_json(&rs, out) != 0) {
        fprintf(stderr, "bench: cannot write %s\n", out);
        status = 1;
    } else {
        printf("\nwrote %d records to %s in %.1f s\n", rs.n, out,
               (double)(bench_now_ns() - t_start) * 1e-9);
    }
    if (g_failed) {
        printf("bench: a result check FAILED (see above)\n");
        status = 1;
    }
cleanup:
    kiln_array_release(ka);
    kiln_array_release(kb);
    kiln_array_release(kx);
    bench_free(a, nb);
    bench_free(b, nb);
    bench_free(c, nb);
    return status;
}
