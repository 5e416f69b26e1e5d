/*
 * iter_bench.c - elementwise ops over strided views (the strided iterator's
 * loop order and tiling, iter.c) and over large contiguous arrays on 1 and
 * 2 threads (the pool's chunking, pool.c).
 *
 * Each case times `y = op(views...); eval(y); release(y)` with its inputs
 * evaluated beforehand (views are views, no copy), and prints the median
 * and the minimum of REPS timed runs in ms, and GB/s at the median counting
 * one read per input element and one write per output element. All data
 * are float32.
 *
 *   add/exp contig (2, 4M)       the reference: one contiguous row
 *   add/exp x_T    (4M, 2)       transpose of (2, 4M): inner dim of 2
 *   add x_T        (512K, 16)    transpose of (16, 512K)
 *   add/exp x_T    (4096, 4096)  square transpose
 *   add x[:, :2]   (4M, 2)       a slice of (4M, 8)
 *   add bcast      (4M,1)+(1,2)  broadcasts on both sides
 *   exp moveaxis   (2048,2048,2) (2, 2048, 2048) with axis 0 moved last
 *   add/exp 64M contig           1 and 2 threads (pool chunking)
 *
 * Usage: iter_bench [substring]  runs the cases whose name contains it;
 * KILN_NUM_THREADS sets the thread count of the strided cases (the 64M
 * cases always run 1 and 2 threads, interleaved).
 *
 * Build and run from the repository root (the Makefile's bench rule):
 *   make build/bench/iter_bench && build/bench/iter_bench
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln.h"

#define REPS 11

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct job {
    const char *name;
    int binary;      /* 1: y = a + b; 0: y = exp(a) */
    kiln_array *a;   /* evaluated views */
    kiln_array *b;
    double bytes;    /* bytes moved per call */
} job;

static void die(const char *what)
{
    fprintf(stderr, "iter_bench: %s failed: %s\n", what, kiln_errmsg());
    exit(1);
}

static void run_job(void *c)
{
    const job *j = c;
    kiln_array *y = j->binary ? kiln_add(j->a, j->b) : kiln_exp(j->a);
    if (!y || kiln_array_eval(y) != KILN_OK) {
        die(j->name);
    }
    kiln_array_release(y);
}

/* x of `shape` filled with small values, evaluated. */
static kiln_array *make(const int64_t *shape, int nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        n *= shape[i];
    }
    kiln_array *r = kiln_arange(0, (double)n, 1, KILN_DTYPE_FLOAT32);
    kiln_array *s = kiln_weak_f64(1.0 / (double)n);
    kiln_array *m = kiln_multiply(r, s);
    kiln_array *x = kiln_reshape(m, shape, nd);
    kiln_array_release(r);
    kiln_array_release(s);
    kiln_array_release(m);
    if (!x || kiln_array_eval(x) != KILN_OK) {
        die("make");
    }
    return x;
}

static kiln_array *evald(kiln_array *x, const char *what)
{
    if (!x || kiln_array_eval(x) != KILN_OK) {
        die(what);
    }
    return x;
}

/* One untimed call, then REPS timed ones; prints median and min. */
static void report(const job *j)
{
    double t[REPS];
    run_job((void *)j);
    for (int r = 0; r < REPS; r++) {
        int64_t t0 = now_ns();
        run_job((void *)j);
        t[r] = (double)(now_ns() - t0) * 1e-6;
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    printf("%-34s %9.2f ms (min %8.2f)  %6.2f GB/s\n", j->name, t[REPS / 2],
           t[0], j->bytes / (t[REPS / 2] * 1e6));
    fflush(stdout);
}

static int wanted(const char *name, const char *filter)
{
    return filter == NULL || strstr(name, filter) != NULL;
}

static void strided_cases(const char *filter)
{
    int64_t s2[2] = {2, (int64_t)1 << 22};
    int64_t s16[2] = {16, (int64_t)1 << 19};
    int64_t sq[2] = {4096, 4096};
    int64_t s8[2] = {(int64_t)1 << 22, 8};
    int64_t s3[3] = {2, 2048, 2048};
    int64_t col[2] = {(int64_t)1 << 22, 1}, row[2] = {1, 2};
    double n4m = (double)((int64_t)1 << 23);
    kiln_array *x2 = make(s2, 2);
    kiln_array *x2t = evald(kiln_transpose(x2, NULL, 0), "transpose");
    kiln_array *x16 = make(s16, 2);
    kiln_array *x16t = evald(kiln_transpose(x16, NULL, 0), "transpose");
    kiln_array *xsq = make(sq, 2);
    kiln_array *xsqt = evald(kiln_transpose(xsq, NULL, 0), "transpose");
    kiln_array *x8 = make(s8, 2);
    int64_t lo[2] = {0, 0}, hi[2] = {KILN_SLICE_END, 2}, st[2] = {1, 1};
    kiln_array *x8s = evald(kiln_slice(x8, lo, hi, st), "slice");
    kiln_array *bc = make(col, 2), *br = make(row, 2);
    kiln_array *x3 = make(s3, 3);
    kiln_array *x3m = evald(kiln_moveaxis(x3, 0, -1), "moveaxis");
    double nsq = 4096.0 * 4096.0, n3 = 2.0 * 2048 * 2048;
    job jobs[] = {
        {"add contig (2,4M)", 1, x2, x2, n4m * 12},
        {"add x_T (4M,2)", 1, x2t, x2t, n4m * 12},
        {"exp contig (2,4M)", 0, x2, NULL, n4m * 8},
        {"exp x_T (4M,2)", 0, x2t, NULL, n4m * 8},
        {"add x_T (512K,16)", 1, x16t, x16t, n4m * 12},
        {"exp x_T (512K,16)", 0, x16t, NULL, n4m * 8},
        {"add contig (4096,4096)", 1, xsq, xsq, nsq * 12},
        {"add x_T (4096,4096)", 1, xsqt, xsqt, nsq * 12},
        {"exp x_T (4096,4096)", 0, xsqt, NULL, nsq * 8},
        {"add x[:, :2] (4M,2)", 1, x8s, x8s, n4m * 12},
        {"add bcast (4M,1)+(1,2)", 1, bc, br, n4m * 4 + 4 * 4194306.0},
        {"exp moveaxis (2048,2048,2)", 0, x3m, NULL, n3 * 8},
    };
    printf("strided views, float32, %d threads, median of %d\n",
           kiln_num_threads(), REPS);
    for (size_t i = 0; i < sizeof jobs / sizeof jobs[0]; i++) {
        if (wanted(jobs[i].name, filter)) {
            report(&jobs[i]);
        }
    }
    kiln_array *all[] = {x2, x2t, x16, x16t, xsq, xsqt, x8, x8s, bc, br,
                         x3, x3m};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        kiln_array_release(all[i]);
    }
}

/* 64M float32 contiguous, 1 and 2 threads, interleaved rep by rep. */
static void pool_cases(const char *filter)
{
    int64_t n = (int64_t)1 << 26;
    kiln_array *x = make(&n, 1);
    double gb = (double)n * 4;
    job jobs[2] = {{"add 64M", 1, x, x, gb * 3}, {"exp 64M", 0, x, NULL,
                                                   gb * 2}};
    for (int k = 0; k < 2; k++) {
        double t[2][REPS];
        if (!wanted(jobs[k].name, filter)) {
            continue;
        }
        for (int nt = 1; nt <= 2; nt++) {
            kiln_set_num_threads(nt);
            run_job(&jobs[k]); /* warm-up */
        }
        for (int r = 0; r < REPS; r++) {
            for (int nt = 1; nt <= 2; nt++) {
                kiln_set_num_threads(nt);
                int64_t t0 = now_ns();
                run_job(&jobs[k]);
                t[nt - 1][r] = (double)(now_ns() - t0) * 1e-6;
            }
        }
        for (int nt = 1; nt <= 2; nt++) {
            qsort(t[nt - 1], REPS, sizeof(double), cmp_double);
            printf("%-13s %d thread%s %9.2f ms (min %8.2f)  %6.2f GB/s\n",
                   jobs[k].name, nt, nt > 1 ? "s" : " ",
                   t[nt - 1][REPS / 2], t[nt - 1][0],
                   jobs[k].bytes / (t[nt - 1][REPS / 2] * 1e6));
        }
    }
    kiln_array_release(x);
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    int saved = kiln_num_threads();
    strided_cases(filter);
    pool_cases(filter);
    kiln_set_num_threads(saved);
    return 0;
}
