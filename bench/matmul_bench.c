/*
 * matmul_bench.c - kiln_matmul against a direct cblas_sgemm call, and the
 * speed of kiln_random_uniform.
 *
 * Build by hand with the flags of the Makefile's bench rule:
 *   cc -std=c11 -O3 -march=native -fno-math-errno -D_POSIX_C_SOURCE=200809L \
 *      -D_DEFAULT_SOURCE -Iinclude -Isrc $(sh scripts/deps.sh cflags) \
 *      bench/matmul_bench.c -o build/bench/matmul_bench build/libkiln.a \
 *      $(sh scripts/deps.sh libs) -lpthread -lm -ldl
 *   build/bench/matmul_bench [n] [reps]
 *
 * matmul: n x n float32 (default 2048), the two timed alternately, best
 * and median of `reps` after one warm-up each. kiln's time covers making
 * the node, evaluating it (output buffer from the pool) and releasing it.
 * uniform: 64M float32 values (256 MB written), best of 5, next to a
 * memset of the same 256 MB into a reused buffer as the machine's write
 * bandwidth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef KILN_HAVE_CBLAS
#include <cblas.h>
#endif

#include "kiln.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(const char *what, double *t, int n, double work,
                   const char *unit)
{
    qsort(t, (size_t)n, sizeof *t, cmp);
    printf("%-28s best %8.2f %s  median %8.2f %s  (%.3f ms best)\n", what,
           work / t[0], unit, work / t[n / 2], unit, 1e3 * t[0]);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? atoll(argv[1]) : 2048;
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    if (n < 1 || reps < 1 || reps > 1000) {
        fprintf(stderr, "usage: matmul_bench [n] [reps]\n");
        return 2;
    }
    int64_t shape[2] = {n, n};
    kiln_array *key = kiln_random_key(0);
    kiln_array *a = kiln_random_uniform(NULL, NULL, shape, 2,
                                        KILN_DTYPE_FLOAT32, key);
    kiln_array *b = kiln_random_normal(shape, 2, KILN_DTYPE_FLOAT32, 0, 1,
                                       key);
    const float *pa = kiln_array_data(a), *pb = kiln_array_data(b);
    if (!pa || !pb) {
        fprintf(stderr, "setup failed: %s\n", kiln_errmsg());
        return 1;
    }
    double flops = 2.0 * (double)n * (double)n * (double)n * 1e-9;
    double *tk = calloc((size_t)reps, sizeof *tk);
    double *tb = calloc((size_t)reps, sizeof *tb);
    printf("threads: %d, n = %lld\n", kiln_num_threads(), (long long)n);
#ifdef KILN_HAVE_CBLAS
    float *c = malloc(sizeof *c * (size_t)(n * n));
    memset(c, 0, sizeof *c * (size_t)(n * n));
#endif
    for (int r = -1; r < reps; r++) {
        double t0 = now();
        kiln_array *y = kiln_matmul(a, b);
        if (kiln_array_eval(y) != KILN_OK) {
            fprintf(stderr, "matmul failed: %s\n", kiln_errmsg());
            return 1;
        }
        kiln_array_release(y);
        double t1 = now();
#ifdef KILN_HAVE_CBLAS
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n,
                    (int)n, (int)n, 1.0f, pa, (int)n, pb, (int)n, 0.0f, c,
                    (int)n);
#endif
        double t2 = now();
        if (r >= 0) {
            tk[r] = t1 - t0;
            tb[r] = t2 - t1;
        }
    }
    report("kiln_matmul float32", tk, reps, flops, "GFLOP/s");
#ifdef KILN_HAVE_CBLAS
    report("cblas_sgemm float32", tb, reps, flops, "GFLOP/s");
    free(c);
#endif

    /* uniform float32, 64M values */
    int64_t m = INT64_C(64) << 20;
    double bytes = 4.0 * (double)m * 1e-9;
    double tu[5], tm[5];
    char *buf = malloc((size_t)m * 4);
    memset(buf, 1, (size_t)m * 4);
    for (int r = -1; r < 5; r++) {
        double t0 = now();
        kiln_array *u = kiln_random_uniform(NULL, NULL, &m, 1,
                                            KILN_DTYPE_FLOAT32, key);
        if (kiln_array_eval(u) != KILN_OK) {
            fprintf(stderr, "uniform failed: %s\n", kiln_errmsg());
            return 1;
        }
        kiln_array_release(u);
        double t1 = now();
        memset(buf, r & 0xff, (size_t)m * 4);
        double t2 = now();
        if (r >= 0) {
            tu[r] = t1 - t0;
            tm[r] = t2 - t1;
        }
    }
    report("random_uniform float32 64M", tu, 5, bytes, "GB/s");
    report("memset 256 MB", tm, 5, bytes, "GB/s");
    free(buf);
    free(tk);
    free(tb);
    kiln_array_release(a);
    kiln_array_release(b);
    kiln_array_release(key);
    return 0;
}
