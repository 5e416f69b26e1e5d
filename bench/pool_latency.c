/*
 * pool_latency.c - dispatch latency of kiln__pool_for.
 *
 * Times single calls of kiln__pool_for(2 * grain, grain, fn) with a range
 * function that does almost nothing, so what is measured is the cost of
 * handing a part to a worker and waiting for it. Prints the median (and the
 * 90th percentile) of per-call times, the clock's own cost subtracted:
 *   - 1 thread (the inline path),
 *   - 2 threads back to back (workers spinning),
 *   - 2 threads with a busy gap between calls, to show where the workers'
 *     spin window ends and a wake from sleep is paid.
 *
 * Build and run from the repository root:
 *   gcc -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
 *       -Isrc/runtime bench/pool_latency.c src/runtime/pool.c \
 *       src/runtime/env.c -lpthread -o /tmp/pool_latency && /tmp/pool_latency
 */
#include "pool.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GRAIN 1
#define NCALLS 20001
#define NCALLS_GAP 2001

static volatile int64_t sink[64];

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void touch_range(void *ctx, int64_t lo, int64_t hi)
{
    (void)ctx;
    sink[(lo & 7) * 8] = hi;
}

static int compare_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void busy_wait(int64_t ns)
{
    int64_t end = now_ns() + ns;
    while (now_ns() < end) {
        continue;
    }
}

/* Times `ncalls` calls with `gap_ns` of busy work before each; leaves the
   sorted per-call times in t. With run == 0 it times an empty interval. */
static void time_calls(int64_t *t, int ncalls, int64_t gap_ns, int run)
{
    for (int i = 0; i < ncalls; i++) {
        int64_t t0, t1;
        if (gap_ns > 0) {
            busy_wait(gap_ns);
        }
        t0 = now_ns();
        if (run) {
            kiln__pool_for(2 * GRAIN, GRAIN, touch_range, NULL);
        }
        t1 = now_ns();
        t[i] = t1 - t0;
    }
    qsort(t, (size_t)ncalls, sizeof t[0], compare_i64);
}

static void report(const char *what, const int64_t *t, int ncalls,
                   int64_t clock_ns)
{
    printf("%-30s median %6lld ns   p90 %6lld ns\n", what,
           (long long)(t[ncalls / 2] - clock_ns),
           (long long)(t[ncalls * 9 / 10] - clock_ns));
}

int main(void)
{
    static const int64_t gaps_us[] = {5, 15, 30, 100, 1000};
    int64_t *t = malloc(NCALLS * sizeof(int64_t));
    int64_t clock_ns;
    char what[64];
    if (t == NULL) {
        return 1;
    }
    time_calls(t, NCALLS, 0, 0);
    clock_ns = t[NCALLS / 2];
    printf("clock_gettime pair: %lld ns (subtracted below)\n",
           (long long)clock_ns);

    kiln__pool_set_nthreads(1);
    time_calls(t, NCALLS, 0, 1);
    report("1 thread (inline)", t, NCALLS, clock_ns);

    kiln__pool_set_nthreads(2);
    time_calls(t, NCALLS, 0, 1); /* warm-up: starts the worker */
    time_calls(t, NCALLS, 0, 1);
    report("2 threads, back to back", t, NCALLS, clock_ns);
    for (size_t i = 0; i < sizeof gaps_us / sizeof gaps_us[0]; i++) {
        snprintf(what, sizeof what, "2 threads, %lld us gap",
                 (long long)gaps_us[i]);
        time_calls(t, NCALLS_GAP, gaps_us[i] * 1000, 1);
        report(what, t, NCALLS_GAP, clock_ns);
    }
    free(t);
    return 0;
}
