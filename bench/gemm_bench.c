/*
 * gemm_bench.c - kiln's own float32 GEMM against CBLAS, side by side.
 *
 * For each shape, kiln_matmul of an (m x k) by a (k x n) float32 array is
 * timed with KILN_GEMM=blas (OpenBLAS on kiln's tiles) and with the default
 * (kiln's GEMM where kiln__gemm_f32_worth takes the shape), the two
 * alternating call by call (which goes first alternates too); a pair's two
 * calls run back to back, so the machine's drift between pairs cancels.
 * Prints, per shape, whether kiln's GEMM takes it, GFLOP/s of both (median
 * times) and the median over the pairs of kiln's time / the BLAS time (below
 * 1: kiln's GEMM is faster). The shapes are the MLP step's (forward and
 * weight gradient, the short-k backward product), some inside and outside
 * kiln's envelope, and a batch of products (which kiln's GEMM splits by
 * product, BLAS by tiles of each product). Then bfloat16 vector-matrix
 * products, a decode step's Linear layers (x @ W.T, W given as its (n, k)
 * transpose, and W row-major): kiln's gemv.c, which reads W where it
 * lies, against KILN_GEMM=blas's widening of W to float32 for sgemv; these
 * rows also print the bytes of W read per second by kiln (memory bounds
 * them: compare bench_core's read bandwidth in the same `make bench`).
 * Records go to the JSON file named on the command line (default
 * build/bench.json), merged under "gemm_" (bfloat16 ones gemm_bf16_).
 *
 * Without CBLAS the other side is kiln's blocked loops (and kiln's GEMM
 * takes more shapes: gemm.c); without kiln's GEMM (a build for neither
 * AVX-512 nor AVX2) both sides are the same path and the ratio is about
 * 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/gemm.h"
#include "bench_util.h"
#include "bench_files.h"
#include "kiln.h"

/* Whether kiln's GEMM takes an m x n x k float32 product. */
static bool takes(int64_t m, int64_t n, int64_t k)
{
#ifdef KILN_GEMM_VW
    return kiln__gemm_f32_worth(m, n, k);
#else
    (void)m, (void)n, (void)k;
    return false;
#endif
}

#define PAIRS 101

typedef struct {
    int64_t batch, m, n, k; /* batch 1: a plain (m, k) @ (k, n) */
    const char *why;
    bool bf16; /* bfloat16 (else float32) */
    bool bt;   /* b given as the transpose of an (n, k) array */
} shape;

static const shape shapes[] = {
    {1, 256, 512, 784, "MLP forward", false, false},
    {1, 784, 512, 256, "MLP weight gradient", false, false},
    {1, 256, 512, 10, "MLP backward, short k: left to BLAS", false, false},
    {1, 1024, 1024, 1024, "inside", false, false},
    {1, 128, 512, 512, "inside", false, false},
    {24, 128, 768, 768, "a batch: kiln splits it by product", false, false},
    {1, 2048, 2048, 2048, "outside: n > 1024", false, false},
    {1, 4096, 64, 4096, "outside: n < 128", false, false},
    {1, 1, 4096, 4096, "bf16 x @ W.T (W 32 MB)", true, true},
    {1, 1, 11008, 4096, "bf16 x @ W.T (W 90 MB, past L3)", true, true},
    {1, 1, 4096, 11008, "bf16 x @ W, W row-major (90 MB)", true, false},
};

/* Whether kiln's own code takes the product: its GEMM (float32) or
 * gemv.c (bfloat16 with one row). */
static bool kiln_takes(const shape *sh)
{
    return sh->bf16 ? sh->m == 1 : takes(sh->m, sh->n, sh->k);
}

/* Seconds of one kiln_matmul(a, b), evaluated and released. */
static double one(kiln_array *a, kiln_array *b, bool *ok)
{
    int64_t t0 = bench_now_ns();
    kiln_array *y = kiln_matmul(a, b);
    *ok = *ok && y && kiln_array_eval(y) == KILN_OK;
    kiln_array_release(y);
    return (double)(bench_now_ns() - t0) * 1e-9;
}

int main(int argc, char **argv)
{
    const char *out = argc > 1 ? argv[1] : "build/bench.json";
    bench_records rs;
    memset(&rs, 0, sizeof rs);
    (void)bench_alloc; /* bench_util.h helpers this benchmark needs not */
    (void)bench_free;
    (void)bench_run;
    printf("kiln gemm_bench: kiln_matmul, KILN_GEMM=blas against kiln's "
           "GEMM (float32) or gemv (bfloat16), %d threads, %d alternating "
           "pairs a shape\n",
           kiln_num_threads(), PAIRS);
    printf("  %-22s %-6s %10s %10s %10s  %s\n", "m x n x k", "kiln?",
           "blas GF/s", "kiln GF/s", "time ratio", "");
    kiln_array *key = kiln_random_key(1);
    bool ok = key != NULL;
    for (size_t s = 0; ok && s < sizeof shapes / sizeof *shapes; s++) {
        const shape *sh = &shapes[s];
        int64_t sa[3] = {sh->batch, sh->m, sh->k};
        int64_t sb[3] = {sh->batch, sh->k, sh->n};
        int64_t sbt[3] = {sh->batch, sh->n, sh->k};
        int nd = sh->batch > 1 ? 3 : 2, o = 3 - nd;
        kiln_dtype dt = sh->bf16 ? KILN_DTYPE_BFLOAT16 : KILN_DTYPE_FLOAT32;
        kiln_array *a = kiln_random_uniform(NULL, NULL, sa + o, nd, dt, key);
        kiln_array *b = kiln_random_uniform(NULL, NULL,
                                            (sh->bt ? sbt : sb) + o, nd, dt,
                                            key);
        if (b && sh->bt) {
            kiln_array *t = kiln_swapaxes(b, -1, -2);
            kiln_array_release(b);
            b = t;
        }
        ok = a && b && kiln_array_eval(a) == KILN_OK &&
             kiln_array_eval(b) == KILN_OK;
        double tb[PAIRS], tk[PAIRS], q[PAIRS];
        for (int i = -1; ok && i < PAIRS; i++) {
            double x, y;
            if (i % 2) {
                setenv("KILN_GEMM", "blas", 1);
                x = one(a, b, &ok);
                unsetenv("KILN_GEMM");
                y = one(a, b, &ok);
            } else {
                y = one(a, b, &ok);
                setenv("KILN_GEMM", "blas", 1);
                x = one(a, b, &ok);
                unsetenv("KILN_GEMM");
            }
            if (i >= 0) { /* i == -1 warms both up */
                tb[i] = x;
                tk[i] = y;
                q[i] = y / x;
            }
        }
        kiln_array_release(a);
        kiln_array_release(b);
        if (!ok) {
            break;
        }
        qsort(tb, PAIRS, sizeof *tb, bench_cmp_double);
        qsort(tk, PAIRS, sizeof *tk, bench_cmp_double);
        qsort(q, PAIRS, sizeof *q, bench_cmp_double);
        double gf = 2e-9 * (double)sh->batch * (double)sh->m *
                    (double)sh->n * (double)sh->k;
        char name[64];
        int at = sh->batch > 1 ? snprintf(name, sizeof name, "%lld x ",
                                          (long long)sh->batch)
                               : 0;
        snprintf(name + at, sizeof name - (size_t)at, "%lld x %lld x %lld",
                 (long long)sh->m, (long long)sh->n, (long long)sh->k);
        bool in = kiln_takes(sh);
        /* bytes of b a bfloat16 row reads: memory bounds those */
        double gbs = sh->bf16 ? 2e-9 * (double)sh->k * (double)sh->n /
                                    tk[PAIRS / 2]
                              : 0.0;
        printf("  %-22s %-6s %10.1f %10.1f %10.3f  %s", name,
               in ? "yes" : "no", gf / tb[PAIRS / 2],
               gf / tk[PAIRS / 2], q[PAIRS / 2], sh->why);
        printf(sh->bf16 ? ": W read at %.1f GB/s\n" : "\n", gbs);
        char rec[64];
        /* a batch's record names it first: gemm_24x128x768x768 */
        int rat = sh->batch > 1 ? snprintf(rec, sizeof rec, "gemm_%lldx",
                                           (long long)sh->batch)
                                : snprintf(rec, sizeof rec, "gemm_%s",
                                           sh->bf16 ? "bf16_" : "");
        snprintf(rec + rat, sizeof rec - (size_t)rat, "%lldx%lldx%lld",
                 (long long)sh->m, (long long)sh->n, (long long)sh->k);
        bench_record *r = bench_add(&rs, rec, 1e3 * tk[PAIRS / 2], 0);
        if (r) {
            snprintf(r->note, sizeof r->note,
                     "%s matmul, %s; kiln's %s %s; %.1f GFLOP/s, "
                     "%.3f of KILN_GEMM=blas's time (median of %d pairs)",
                     sh->bf16 ? "bfloat16" : "float32", sh->why,
                     sh->bf16 ? "gemv" : "GEMM",
                     in ? "takes it" : "passes it to BLAS",
                     gf / tk[PAIRS / 2], q[PAIRS / 2], PAIRS);
        }
    }
    kiln_array_release(key);
    if (!ok) {
        printf("  error: %s\n", kiln_errmsg());
        return 1;
    }
    if (bench_json_merge(&rs, out, "gemm_") != 0) {
        fprintf(stderr, "gemm_bench: cannot write %s\n", out);
        return 1;
    }
    printf("  wrote %d records to %s\n", rs.n, out);
    return 0;
}
