/*
 * clock.h - the monotonic clock kiln times itself with (the pool's spin
 * limits, compile timings and waits).
 */
#ifndef KILN_RUNTIME_CLOCK_H
#define KILN_RUNTIME_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t kiln__clock_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline double kiln__clock_ms(void)
{
    return (double)kiln__clock_ns() * 1e-6;
}

#endif
