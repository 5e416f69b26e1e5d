/*
 * pool.c - the process-wide thread pool behind kiln__pool_for.
 *
 * Kernels and eager loops hand the pool a range [0, n) and a range function;
 * the pool cuts the range into chunks, about KILN_POOL_CHUNKS_PER_THREAD a
 * thread, which the calling thread and the workers claim one at a time from a
 * shared counter until none is left; the call returns when all are done. A
 * thread that is slow to start or is preempted (a shared 2-core machine) thus
 * only delays the chunk it holds, never a fixed share of the work: the others
 * take the rest. Chunk boundaries depend only on n, grain and the thread
 * count, never on who ran what; results that combine per-range partials stay
 * reproducible as long as kernels cut their own tasks by shape (as the
 * reductions do) rather than by the ranges they are given.
 *
 * Dispatch latency is the cost users see on mid-sized arrays, so the hand-off
 * avoids locks on the hot path. Each worker owns a cache-line-aligned mailbox
 * (a sequence number); the caller writes the job, then bumps the numbers. A
 * worker that has just finished spins on its number for SPIN_NS with a pause
 * instruction, then sleeps on its own condition variable; the caller signals
 * only workers that say they sleep. Completion is a count of finished chunks
 * that the caller spins on the same way.
 *
 * A woken worker only tries to claim chunks; when none is left (the caller
 * and the others took them all while it was waking, tens of microseconds
 * from sleep) it goes straight back to wait, and the caller never waits for
 * it. Only the threads running chunks are waited for.
 *
 * Invariants:
 * - One dispatcher at a time: `pool.use` is held from writing the job until
 *   every chunk has finished. Any other thread that calls in, and any nested
 *   call (`inside`), runs its range inline instead of waiting, so no call
 *   can deadlock.
 * - `left` counts the chunks not yet handed out; it is positive only while
 *   a job is being dispatched (the dispatcher sets it with release after
 *   writing the job; it reaches zero before the job can finish). Chunk 0 is
 *   the dispatcher's own (left starts at nchunks - 1); any other chunk is
 *   claimed by a CAS from left to left - 1 (acquire) and is chunk
 *   nchunks - left. So a claim succeeds only on the current job, whatever
 *   job woke the claimer, and the claimer reads the job's fields only after
 *   its claim, while its chunk keeps the job from finishing.
 * - `done` counts finished chunks: each thread adds the number it ran once
 *   it finds none left (release). The dispatcher returns when it reaches
 *   nchunks (acquire), after which no thread reads the job.
 * - Sleep/wake races are closed Dekker-style with sequentially consistent
 *   atomics: a sleeper stores `sleeping` then loads the sequence number; the
 *   caller stores the number then loads `sleeping`. At least one side sees
 *   the other, and a signal is sent under the sleeper's mutex.
 * - Workers exist only while `pool.built` names the size they were made for;
 *   resizing (set_nthreads, or a changed size at the next split) stops and
 *   joins them all, then starts the new set. At exit they are stopped and
 *   joined unless a dispatch is running then; after exit everything runs
 *   inline. A forked child forgets the parent's workers and starts afresh.
 * - A failed thread start is not an error: the pool runs with the workers it
 *   got, inline when it got none.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "pool.h"

#include "clock.h"
#include "env.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Threads, caller included; a guard against typos like 10000. */
#define MAX_THREADS 256

/* How long a worker waits for the next task, and the caller for the last
   part, before going to sleep. Calls that come within this window cost a
   fraction of a microsecond; waking a sleeper costs the caller a futex call
   (1-4 us measured) and the sleeper itself up to tens of microseconds. */
#define SPIN_NS 20000

/* Pause-loop iterations between clock reads while spinning. */
#define SPIN_BATCH 16

#define CACHE_LINE 64

typedef struct worker {
    /* Hot line: bumped by the caller per job, read by the worker. */
    _Alignas(CACHE_LINE) atomic_uint seq;
    atomic_int sleeping;
    atomic_int stop;
    /* Cold: only touched to sleep, wake, start and stop. */
    _Alignas(CACHE_LINE) pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t tid;
} worker;

static struct {
    pthread_mutex_t use;  /* held by the one dispatching thread */
    atomic_int want;      /* configured threads; 0 until first read */
    int built;            /* the `want` the workers were made for; 0: none */
    int closed;           /* set at exit: run everything inline */
    int nworkers;         /* workers actually running */
    worker *workers;
    pthread_mutex_t done_mu;
    pthread_cond_t done_cv;
    /* The job: written by the dispatcher before it publishes `left`, read
       by a thread only while it holds a chunk. Chunk c is
       [c * q + min(c, r), (c + 1) * q + min(c + 1, r)), q = n / nchunks,
       r = n % nchunks. */
    kiln_range_fn fn;
    void *ctx;
    int64_t q, r;
    int nchunks;
    /* Own line, touched once or twice per chunk by whoever runs it. */
    _Alignas(CACHE_LINE) atomic_int left; /* chunks not handed out yet */
    atomic_int done;                      /* chunks finished */
    atomic_int caller_sleeping;
} pool = {
    .use = PTHREAD_MUTEX_INITIALIZER,
    .done_mu = PTHREAD_MUTEX_INITIALIZER,
    .done_cv = PTHREAD_COND_INITIALIZER,
};

/* Nonzero on pool workers, and on a caller while it dispatches. */
static _Thread_local int inside;

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                           */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#endif
}

static int clamp_threads(long long n)
{
    if (n < 1) {
        return 1;
    }
    return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

static int count_cores(void)
{
    return clamp_threads(sysconf(_SC_NPROCESSORS_ONLN));
}

/* The configured size; the first call settles it from KILN_NUM_THREADS. */
static int resolve_nthreads(void)
{
    int n = atomic_load_explicit(&pool.want, memory_order_relaxed);
    long long env;
    int expect = 0;
    if (n != 0) {
        return n;
    }
    env = kiln__env_int(KILN_ENV_NUM_THREADS, 0);
    n = env >= 1 ? clamp_threads(env) : count_cores();
    if (!atomic_compare_exchange_strong(&pool.want, &expect, n)) {
        n = expect; /* a concurrent set_nthreads won */
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* Workers                                                                 */

/* Returns the worker's next sequence number once it differs from `seen`. */
static unsigned wait_for_task(worker *w, unsigned seen)
{
    int64_t start = kiln__clock_ns();
    unsigned s;
    for (;;) {
        for (int i = 0; i < SPIN_BATCH; i++) {
            s = atomic_load_explicit(&w->seq, memory_order_acquire);
            if (s != seen) {
                return s;
            }
            cpu_relax();
        }
        if (kiln__clock_ns() - start > SPIN_NS) {
            break;
        }
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->sleeping, 1);
    while ((s = atomic_load(&w->seq)) == seen) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    atomic_store(&w->sleeping, 0);
    pthread_mutex_unlock(&w->mu);
    return s;
}

/* Runs chunk c of the current job. */
static void run_chunk(int64_t c)
{
    int64_t lo = c * pool.q + (c < pool.r ? c : pool.r);
    pool.fn(pool.ctx, lo, lo + pool.q + (c < pool.r));
}

/* Claims and runs chunks of the current job until none is left, then adds
   how many it ran, plus `ran` run before, to `done`: one count per
   participant, not per chunk, so the caller's chunks cost one shared write
   in all. */
static void run_chunks(int ran)
{
    int left = atomic_load_explicit(&pool.left, memory_order_relaxed);
    int nchunks = ran > 0 ? pool.nchunks : 0;
    while (left > 0) {
        if (!atomic_compare_exchange_weak_explicit(
                &pool.left, &left, left - 1, memory_order_acquire,
                memory_order_relaxed)) {
            continue; /* left now holds the fresh count */
        }
        nchunks = pool.nchunks;
        run_chunk(nchunks - left);
        ran++;
        left = atomic_load_explicit(&pool.left, memory_order_relaxed);
    }
    /* the count that completes the job wakes a sleeping caller; after it
       the job may be gone, so nothing of it is read below */
    if (ran > 0 && atomic_fetch_add(&pool.done, ran) == nchunks - ran &&
        atomic_load(&pool.caller_sleeping)) {
        pthread_mutex_lock(&pool.done_mu);
        pthread_cond_signal(&pool.done_cv);
        pthread_mutex_unlock(&pool.done_mu);
    }
}

static void *run_worker(void *arg)
{
    worker *w = arg;
    unsigned seen = 0;
    inside = 1;
    for (;;) {
        seen = wait_for_task(w, seen);
        if (atomic_load_explicit(&w->stop, memory_order_relaxed)) {
            break;
        }
        run_chunks(0);
    }
    return NULL;
}

/* Tells a worker that a job is posted, waking it if it sleeps. */
static void post(worker *w)
{
    atomic_fetch_add(&w->seq, 1);
    if (atomic_load(&w->sleeping)) {
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
}

/* Returns when all nchunks chunks of the job have finished. */
static void wait_for_chunks(int nchunks)
{
    int64_t start = kiln__clock_ns();
    for (;;) {
        for (int i = 0; i < SPIN_BATCH; i++) {
            if (atomic_load_explicit(&pool.done, memory_order_acquire) ==
                nchunks) {
                return;
            }
            cpu_relax();
        }
        if (kiln__clock_ns() - start > SPIN_NS) {
            break;
        }
    }
    pthread_mutex_lock(&pool.done_mu);
    atomic_store(&pool.caller_sleeping, 1);
    while (atomic_load(&pool.done) != nchunks) {
        pthread_cond_wait(&pool.done_cv, &pool.done_mu);
    }
    atomic_store(&pool.caller_sleeping, 0);
    pthread_mutex_unlock(&pool.done_mu);
}

/* Stops and joins every worker. Caller holds pool.use (or is the only
   thread, in a forked child). */
static void stop_workers(void)
{
    for (int i = 0; i < pool.nworkers; i++) {
        worker *w = &pool.workers[i];
        atomic_store(&w->stop, 1);
        atomic_fetch_add(&w->seq, 1);
        pthread_mutex_lock(&w->mu);
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
    }
    for (int i = 0; i < pool.nworkers; i++) {
        worker *w = &pool.workers[i];
        pthread_join(w->tid, NULL);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
    free(pool.workers);
    pool.workers = NULL;
    pool.nworkers = 0;
    pool.built = 0;
}

static void stop_at_exit(void)
{
    /* exit() from inside a range, or while another thread dispatches: the
       workers may be busy, so leave them to end with the process. */
    if (inside || pthread_mutex_trylock(&pool.use) != 0) {
        return;
    }
    stop_workers();
    pool.closed = 1;
    pthread_mutex_unlock(&pool.use);
}

/* The child of fork has only the forking thread: drop the parent's workers
   without joining them and start from scratch. */
static void reset_in_child(void)
{
    free(pool.workers);
    pool.workers = NULL;
    pool.nworkers = 0;
    pool.built = 0;
    atomic_store(&pool.left, 0);
    atomic_store(&pool.done, 0);
    atomic_store(&pool.caller_sleeping, 0);
    pthread_mutex_init(&pool.use, NULL);
    pthread_mutex_init(&pool.done_mu, NULL);
    pthread_cond_init(&pool.done_cv, NULL);
}

static void register_hooks(void)
{
    atexit(stop_at_exit);
    pthread_atfork(NULL, NULL, reset_in_child);
}

/* Starts up to n workers; keeps however many start. Caller holds pool.use. */
static void start_workers(int n)
{
    sigset_t all, old;
    int started = 0;
    if (n < 1) {
        return;
    }
    pthread_once(&hooks_once, register_hooks);
    pool.workers = aligned_alloc(CACHE_LINE, (size_t)n * sizeof(worker));
    if (pool.workers == NULL) {
        return;
    }
    memset(pool.workers, 0, (size_t)n * sizeof(worker));
    /* Workers inherit a full signal mask: signals go to user threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; started < n; started++) {
        worker *w = &pool.workers[started];
        atomic_init(&w->seq, 0);
        atomic_init(&w->sleeping, 0);
        atomic_init(&w->stop, 0);
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->cv, NULL);
        if (pthread_create(&w->tid, NULL, run_worker, w) != 0) {
            pthread_cond_destroy(&w->cv);
            pthread_mutex_destroy(&w->mu);
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pool.nworkers = started;
    if (started == 0) {
        free(pool.workers);
        pool.workers = NULL;
    }
}

/* Makes the running workers match `want` threads. Caller holds pool.use. */
static void resize(int want)
{
    if (want == pool.built) {
        return;
    }
    stop_workers();
    start_workers(want - 1);
    pool.built = want;
}

/* ---------------------------------------------------------------------- */
/* API                                                                     */

void kiln__pool_for(int64_t n, int64_t grain, kiln_range_fn fn, void *ctx)
{
    int nthreads, nposted;
    int64_t nchunks;
    if (n <= 0) {
        return;
    }
    if (grain < 1) {
        grain = 1;
    }
    /* n < 2 * grain, written so it cannot overflow */
    if (n / 2 < grain || inside || resolve_nthreads() == 1) {
        goto run_inline;
    }
    if (pthread_mutex_trylock(&pool.use) != 0) {
        goto run_inline;
    }
    if (!pool.closed) {
        resize(resolve_nthreads());
    }
    if (pool.closed || pool.nworkers == 0) {
        goto unlock_use;
    }

    /* Chunks of at least grain items, KILN_POOL_CHUNKS_PER_THREAD a thread
       at most; their number depends on n, grain and the thread count only. */
    nthreads = pool.built;
    nchunks = n / grain;
    if (nchunks > (int64_t)KILN_POOL_CHUNKS_PER_THREAD * nthreads) {
        nchunks = (int64_t)KILN_POOL_CHUNKS_PER_THREAD * nthreads;
    }
    nposted = pool.nworkers;
    if (nposted > nchunks - 1) {
        nposted = (int)(nchunks - 1);
    }
    inside = 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.q = n / nchunks;
    pool.r = n % nchunks;
    pool.nchunks = (int)nchunks;
    /* chunk 0 is the caller's: no claim needed */
    atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.left, (int)nchunks - 1, memory_order_release);
    for (int k = 0; k < nposted; k++) {
        post(&pool.workers[k]);
    }
    run_chunk(0);
    run_chunks(1);
    wait_for_chunks((int)nchunks);
    inside = 0;
    pthread_mutex_unlock(&pool.use);
    return;

unlock_use:
    pthread_mutex_unlock(&pool.use);
run_inline:
    fn(ctx, 0, n);
}

int kiln__pool_nthreads(void)
{
    return resolve_nthreads();
}

int kiln__pool_set_nthreads(int n)
{
    if (n < 1) {
        return -1;
    }
    atomic_store(&pool.want, clamp_threads(n));
    /* Running workers follow now when that is free; else the next split. */
    if (!inside && pthread_mutex_trylock(&pool.use) == 0) {
        if (pool.built != 0 && !pool.closed) {
            resize(atomic_load(&pool.want));
        }
        pthread_mutex_unlock(&pool.use);
    }
    return 0;
}
