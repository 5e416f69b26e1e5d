/*
 * gelu_loop.c - the cost of kiln_verff inside the gelu loop.
 *
 * One thread, a 4096-element float32 array (L1-resident), the loop
 * y = x (1 + erf(x / sqrt2)) / 2 as bench/compile_bench.c writes it, best
 * of 20 rounds of 2000 passes, in ns per element. The same loop with erf
 * replaced by the identity and with x * (1/sqrt2) instead of the division
 * is timed too, so what erf itself costs shows as the difference. The
 * machine is noisy: run it a few times and keep the best.
 *
 * Build and run from the repository root:
 *   gcc -std=c11 -O3 -march=native -fno-math-errno -Isrc/backend/cpu \
 *       bench/gelu_loop.c -lm -o /tmp/gelu_loop && /tmp/gelu_loop
 */
#define _POSIX_C_SOURCE 199309L

#include "vmath.h"

#include <stdio.h>
#include <time.h>

#define N 4096

static float xs[N], ys[N];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static float ident(float x)
{
    return x;
}

/* The loops, noinline so each is compiled (and vectorised) on its own. */
#define GELU_LOOP(name, erf, arg)                                              \
    __attribute__((noinline)) static void name(const float *restrict a,       \
                                               float *restrict b, long n)     \
    {                                                                          \
        for (long i = 0; i < n; i++) {                                         \
            float v = a[i];                                                    \
            b[i] = v * (1.0f + erf(arg)) / 2.0f;                               \
        }                                                                      \
    }
GELU_LOOP(gelu_div, kiln_verff, v / 1.41421356f)
GELU_LOOP(gelu_mul, kiln_verff, v * 0.70710678f)
GELU_LOOP(ident_div, ident, v / 1.41421356f)
GELU_LOOP(ident_mul, ident, v * 0.70710678f)

static double best(void (*f)(const float *restrict, float *restrict, long))
{
    double b = 1e9;
    for (int r = 0; r < 20; r++) {
        double t = now();
        for (int j = 0; j < 2000; j++) {
            f(xs, ys, N);
        }
        t = now() - t;
        b = t < b ? t : b;
    }
    return b / (2000.0 * N) * 1e9;
}

int main(void)
{
    for (int i = 0; i < N; i++) {
        xs[i] = (float)(i - N / 2) / 500.0f;
    }
    printf("ns/element    x / sqrt2   x * (1/sqrt2)\n");
    printf("gelu (erf)    %9.3f   %13.3f\n", best(gelu_div), best(gelu_mul));
    printf("erf = ident   %9.3f   %13.3f\n", best(ident_div),
           best(ident_mul));
    return 0;
}
