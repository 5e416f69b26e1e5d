/*
 * pool.h - the process-wide thread pool: parallel-for over index ranges.
 *
 * Kernels receive half-open ranges, never thread ids, and must not make
 * results depend on where those ranges are cut (cut tasks by shape instead,
 * as the reductions do). There is one pool per process, started on the
 * first call that is worth splitting, sized by KILN_NUM_THREADS (default:
 * online cores) and resizable at run time. One thread at a time dispatches
 * through it; any other caller, and any call made from inside a running
 * range, runs inline, so no call can deadlock.
 */
#ifndef KILN_RUNTIME_POOL_H
#define KILN_RUNTIME_POOL_H

#include <stdint.h>

/* Chunks a thread at most: enough that a late or preempted thread's share
   is small, few enough that each stays at least `grain` items and costs
   one claim. Callers that size their items for the pool read it. */
#define KILN_POOL_CHUNKS_PER_THREAD 4

/* Runs items [lo, hi) of some job; ctx is the caller's, passed through. */
typedef void (*kiln_range_fn)(void *ctx, int64_t lo, int64_t hi);

/* Runs fn over [0, n) and returns when every item is done. The range is cut
   into nchunks = min(n / grain, KILN_POOL_CHUNKS_PER_THREAD * nthreads)
   contiguous, near-equal chunks (chunk c is [c * q + min(c, r), (c + 1) * q +
   min(c + 1, r)) with q = n / nchunks, r = n % nchunks), each at least
   `grain` items (a grain below 1 counts as 1) and each one call of fn. The
   boundaries depend only on n, grain and the configured thread count; which
   thread runs a chunk, and in what order, is not fixed: the calling thread
   runs chunk 0, then it and the workers claim the others one at a time until
   none is left, so a slow thread delays only the chunk it holds. Runs inline
   as one call fn(ctx, 0, n) when n < 2 * grain, when the pool has one thread,
   when called from inside a range (nested), when another thread is
   dispatching, or when no worker could be started. Does nothing when n <= 0.
   Cannot fail; fn must not longjmp out. */
void kiln__pool_for(int64_t n, int64_t grain, kiln_range_fn fn, void *ctx);

/* The configured number of threads, the caller included (>= 1). The first
   call reads KILN_NUM_THREADS. */
int kiln__pool_nthreads(void);

/* Sets the number of threads, the caller included; values above 256 are
   clamped to 256. Returns 0, or -1 (nothing changed) for n < 1. Workers are
   started or stopped by the next kiln__pool_for that splits its range. */
int kiln__pool_set_nthreads(int n);

#endif
