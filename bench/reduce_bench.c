/*
 * reduce_bench.c - read bandwidth of kiln_sum against a plain vectorised
 * sum loop written here, on 1 and 2 threads.
 *
 * For 64M float32 (256 MiB, far beyond the caches) it prints, per thread
 * count, the best of REPS runs in GB/s (1e9 bytes read per second):
 *   - "loop": a 32-lane float sum over the same buffer kiln reads (so the
 *     same pages, huge or not), split evenly across pthreads: the
 *     practical read bandwidth of this machine;
 *   - "kiln_sum (all axes)": kiln_sum over the whole array, graph building
 *     and the scalar read-back included;
 *   - "kiln_sum axis 0" and "axis 1" of the same data seen as
 *     (8192, 8192): the column-mode and row-mode kernels.
 *
 * Build and run from the repository root (the Makefile's bench flags):
 *   make build/libkiln.a && cc -std=c11 -O3 -march=native -fno-math-errno \
 *       -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Isrc \
 *       bench/reduce_bench.c -o build/reduce_bench build/libkiln.a \
 *       -lopenblas -lpthread -lm -ldl && build/reduce_bench
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "kiln.h"

#define N ((int64_t)1 << 26)
#define REPS 11
#define LANES 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct part {
    const float *p;
    int64_t n;
    float sum;
} part;

/* 32 independent lanes: the compiler vectorises this without
 * -ffast-math. */
static void *sum_part(void *c)
{
    part *pt = c;
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= pt->n; i += LANES) {
        for (int l = 0; l < LANES; l++) {
            acc[l] += pt->p[i + l];
        }
    }
    float t = 0;
    for (; i < pt->n; i++) {
        t += pt->p[i];
    }
    for (int l = 0; l < LANES; l++) {
        t += acc[l];
    }
    pt->sum = t;
    return NULL;
}

static double loop_sum(const float *p, int nthreads, float *out)
{
    pthread_t th[2];
    part parts[2];
    int64_t chunk = N / nthreads;
    double t0 = now_s();
    for (int k = 0; k < nthreads; k++) {
        parts[k].p = p + k * chunk;
        parts[k].n = k == nthreads - 1 ? N - k * chunk : chunk;
        if (k > 0) {
            pthread_create(&th[k], NULL, sum_part, &parts[k]);
        }
    }
    sum_part(&parts[0]);
    for (int k = 1; k < nthreads; k++) {
        pthread_join(th[k], NULL);
    }
    double t = now_s() - t0;
    *out = 0;
    for (int k = 0; k < nthreads; k++) {
        *out += parts[k].sum;
    }
    return t;
}

/* Best time of reps kiln_sum calls over axes (NULL: all). */
static double kiln_time(kiln_array *x, const int *axes, int naxes,
                        double *check, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        kiln_array *s = kiln_sum(x, axes, naxes, false);
        if (kiln_array_eval(s) != KILN_OK) {
            fprintf(stderr, "kiln_sum failed: %s\n", kiln_errmsg());
            exit(1);
        }
        double t = now_s() - t0;
        const float *p = kiln_array_data(s);
        *check = p[0];
        kiln_array_release(s);
        best = t < best ? t : best;
    }
    return best;
}

int main(void)
{
    float *data = malloc((size_t)N * sizeof *data);
    if (!data) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < N; i++) {
        data[i] = (float)(i % 1000) * 1e-3f;
    }
    int64_t n = N, sq[2] = {8192, 8192};
    kiln_array *x = kiln_array_from_data(data, &n, 1, KILN_DTYPE_FLOAT32);
    kiln_array *x2 = kiln_array_from_data(data, sq, 2, KILN_DTYPE_FLOAT32);
    double gb = (double)N * sizeof(float) / 1e9;
    printf("sum of %lld float32 (%.0f MiB), best of %d, GB/s read\n",
           (long long)N, (double)N * 4 / (1 << 20), REPS);
    for (int nt = 1; nt <= 2; nt++) {
        float ls = 0;
        double lbest = 1e30, kall = 1e30, check = 0, dummy;
        const float *buf = kiln_array_data(x);
        kiln_set_num_threads(nt);
        /* interleaved, so that load from other processes hits both */
        for (int r = 0; r < REPS; r++) {
            double t = loop_sum(buf, nt, &ls);
            lbest = t < lbest ? t : lbest;
            t = kiln_time(x, NULL, 0, &check, 1);
            kall = t < kall ? t : kall;
        }
        int ax0 = 0, ax1 = 1;
        double k0 = kiln_time(x2, &ax0, 1, &dummy, REPS);
        double k1 = kiln_time(x2, &ax1, 1, &dummy, REPS);
        printf("threads %d: loop %6.2f  kiln_sum (all axes) %6.2f (%3.0f%%)"
               "  axis 0 %6.2f  axis 1 %6.2f   [sums %.6g %.6g]\n",
               nt, gb / lbest, gb / kall, 100 * lbest / kall, gb / k0,
               gb / k1, (double)ls, check);
    }
    kiln_array_release(x);
    kiln_array_release(x2);
    free(data);
    return 0;
}
