/*
 * test_pool.c - the thread pool (src/runtime/pool.c) and the environment
 * knobs (src/runtime/env.c).
 *
 * Pool properties checked: every index of [0, n) is visited exactly once for
 * many (n, grain) pairs; every range is either the whole of [0, n) or at least
 * `grain` long; the number of chunks is min(n / grain, 4 * threads) and their
 * boundaries follow the documented formula whoever runs them; a participant
 * that stalls in its chunk leaves the other chunks to the rest; nested and
 * concurrent calls run and give correct results. Each test that changes the
 * pool's size or the environment restores it before returning.
 */
#include "harness.h"

#include "env.h"
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------------- */
/* A range function that records what it was given                        */

typedef struct cover {
    int64_t n;
    int64_t grain;
    atomic_int *hits; /* hits[i]: times index i was visited */
    atomic_int ncalls;
    atomic_int bad_ranges;
} cover;

static void cover_range(void *ctx, int64_t lo, int64_t hi)
{
    cover *c = ctx;
    atomic_fetch_add(&c->ncalls, 1);
    if (lo < 0 || hi > c->n || lo >= hi ||
        (hi - lo < c->grain && !(lo == 0 && hi == c->n))) {
        atomic_fetch_add(&c->bad_ranges, 1);
        return;
    }
    for (int64_t i = lo; i < hi; i++) {
        atomic_fetch_add_explicit(&c->hits[i], 1, memory_order_relaxed);
    }
}

/* Runs kiln__pool_for over n items and returns the number of calls made, or
   -1 when some index was not visited exactly once or a range was bad. */
static int run_cover(int64_t n, int64_t grain)
{
    cover c;
    int ok = 1;
    c.n = n;
    c.grain = grain < 1 ? 1 : grain;
    c.hits = calloc((size_t)(n > 0 ? n : 1), sizeof(atomic_int));
    atomic_init(&c.ncalls, 0);
    atomic_init(&c.bad_ranges, 0);
    if (c.hits == NULL) {
        return -1;
    }
    kiln__pool_for(n, grain, cover_range, &c);
    for (int64_t i = 0; i < n; i++) {
        if (atomic_load(&c.hits[i]) != 1) {
            ok = 0;
        }
    }
    if (atomic_load(&c.bad_ranges) != 0) {
        ok = 0;
    }
    free(c.hits);
    return ok ? atomic_load(&c.ncalls) : -1;
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---------------------------------------------------------------------- */
/* Coverage                                                                */

TEST(pool_covers_each_index_once)
{
    static const int64_t ns[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17,
                                 63, 64, 65, 100, 1000, 4097, 12345, 100000};
    static const int64_t grains[] = {-5, 0, 1, 2, 3, 4, 7, 16, 100, 1000,
                                     50000, (int64_t)1 << 30, INT64_MAX};
    for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++) {
        for (size_t j = 0; j < sizeof grains / sizeof grains[0]; j++) {
            int calls = run_cover(ns[i], grains[j]);
            CHECK_MSG(calls >= 0, "n=%lld grain=%lld: bad coverage",
                      (long long)ns[i], (long long)grains[j]);
            if (ns[i] == 0) {
                CHECK_MSG(calls == 0, "n=0 made %d calls", calls);
            }
        }
    }
}

TEST(pool_small_ranges_run_inline)
{
    int saved = kiln__pool_nthreads();
    CHECK(kiln__pool_set_nthreads(4) == 0);
    /* n < 2 * grain: one call with the whole range */
    CHECK(run_cover(1, 1) == 1);
    CHECK(run_cover(9, 5) == 1);
    CHECK(run_cover(1000, 501) == 1);
    CHECK(run_cover(1000, INT64_MAX) == 1);
    kiln__pool_set_nthreads(saved);
}

/* The number of calls kiln__pool_for(n, grain) makes with t threads. */
static int64_t want_calls(int t, int64_t n, int64_t grain)
{
    if (n < 2 * grain || t == 1) {
        return 1;
    }
    return min64(4 * (int64_t)t, n / grain);
}

TEST(pool_chunk_count_follows_nthreads)
{
    static const int sizes[] = {1, 3, 8, 2, 5, 1};
    int saved = kiln__pool_nthreads();
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int t = sizes[i];
        CHECK(kiln__pool_set_nthreads(t) == 0);
        CHECK(kiln__pool_nthreads() == t);
        for (int64_t n = 1; n <= 40; n++) {
            for (int64_t grain = 1; grain <= 6; grain++) {
                int64_t want = want_calls(t, n, grain);
                int calls = run_cover(n, grain);
                CHECK_MSG(calls == want,
                          "t=%d n=%lld grain=%lld: %d calls, want %lld", t,
                          (long long)n, (long long)grain, calls,
                          (long long)want);
            }
        }
        CHECK(run_cover(1000003, 1000) == want_calls(t, 1000003, 1000));
    }
    CHECK(kiln__pool_set_nthreads(saved) == 0);
    CHECK(kiln__pool_nthreads() == saved);
}

TEST(pool_set_nthreads_rejects_below_one)
{
    int saved = kiln__pool_nthreads();
    CHECK(kiln__pool_set_nthreads(0) == -1);
    CHECK(kiln__pool_set_nthreads(-3) == -1);
    CHECK(kiln__pool_nthreads() == saved);
    CHECK(kiln__pool_set_nthreads(100000) == 0);
    CHECK(kiln__pool_nthreads() == 256);
    CHECK(kiln__pool_set_nthreads(saved) == 0);
}

/* ---------------------------------------------------------------------- */
/* Nested calls                                                            */

#define NEST_OUTER 16
#define NEST_INNER 1000

typedef struct nest {
    atomic_int hits[NEST_OUTER][NEST_INNER];
    atomic_int inner_calls[NEST_OUTER];
} nest;

typedef struct nest_row {
    nest *t;
    int64_t row;
} nest_row;

static void nest_inner(void *ctx, int64_t lo, int64_t hi)
{
    nest_row *r = ctx;
    atomic_fetch_add(&r->t->inner_calls[r->row], 1);
    for (int64_t i = lo; i < hi; i++) {
        atomic_fetch_add(&r->t->hits[r->row][i], 1);
    }
}

static void nest_outer(void *ctx, int64_t lo, int64_t hi)
{
    for (int64_t row = lo; row < hi; row++) {
        nest_row r = {ctx, row};
        kiln__pool_for(NEST_INNER, 1, nest_inner, &r);
    }
}

TEST(pool_nested_calls_run_inline)
{
    int saved = kiln__pool_nthreads();
    nest *t = calloc(1, sizeof *t);
    CHECK(t != NULL);
    if (t == NULL) {
        return;
    }
    kiln__pool_set_nthreads(4);
    kiln__pool_for(NEST_OUTER, 1, nest_outer, t);
    for (int row = 0; row < NEST_OUTER; row++) {
        /* inside a range the inner loop is one call over all of it */
        CHECK_MSG(atomic_load(&t->inner_calls[row]) == 1,
                  "row %d: %d inner calls", row,
                  atomic_load(&t->inner_calls[row]));
        for (int i = 0; i < NEST_INNER; i++) {
            CHECK(atomic_load(&t->hits[row][i]) == 1);
        }
    }
    kiln__pool_set_nthreads(saved);
    free(t);
}

/* ---------------------------------------------------------------------- */
/* Concurrent callers                                                      */

#define CALLER_N 20000
#define CALLER_ROUNDS 300

typedef struct caller {
    int64_t *out;
    int64_t add;
    int failures;
} caller;

static void add_range(void *ctx, int64_t lo, int64_t hi)
{
    caller *c = ctx;
    for (int64_t i = lo; i < hi; i++) {
        c->out[i] += i + c->add;
    }
}

static void *run_caller(void *arg)
{
    caller *c = arg;
    for (int round = 0; round < CALLER_ROUNDS; round++) {
        memset(c->out, 0, CALLER_N * sizeof(int64_t));
        c->add = round;
        kiln__pool_for(CALLER_N, 64, add_range, c);
        for (int64_t i = 0; i < CALLER_N; i++) {
            if (c->out[i] != i + round) {
                c->failures++;
                break;
            }
        }
    }
    return NULL;
}

TEST(pool_concurrent_callers_get_their_own_results)
{
    int saved = kiln__pool_nthreads();
    caller c[3];
    pthread_t tid[3];
    int started[3] = {0, 0, 0};
    kiln__pool_set_nthreads(3);
    for (int i = 0; i < 3; i++) {
        c[i].out = malloc(CALLER_N * sizeof(int64_t));
        c[i].add = 0;
        c[i].failures = 0;
        CHECK(c[i].out != NULL);
    }
    for (int i = 0; i < 3 && c[i].out != NULL; i++) {
        started[i] = pthread_create(&tid[i], NULL, run_caller, &c[i]) == 0;
        CHECK(started[i]);
    }
    for (int i = 0; i < 3; i++) {
        if (started[i]) {
            pthread_join(tid[i], NULL);
            CHECK_MSG(c[i].failures == 0, "caller %d: %d bad rounds", i,
                      c[i].failures);
        }
        free(c[i].out);
    }
    kiln__pool_set_nthreads(saved);
}

typedef struct resizer {
    atomic_int done;
} resizer;

static void *run_resizer(void *arg)
{
    resizer *r = arg;
    int t = 1;
    while (!atomic_load(&r->done)) {
        kiln__pool_set_nthreads(t);
        t = t % 5 + 1;
    }
    return NULL;
}

TEST(pool_resize_while_dispatching)
{
    int saved = kiln__pool_nthreads();
    resizer r;
    pthread_t tid;
    int ok = 1;
    atomic_init(&r.done, 0);
    CHECK(pthread_create(&tid, NULL, run_resizer, &r) == 0);
    for (int i = 0; i < 2000 && ok; i++) {
        ok = run_cover(3000 + i, 7) > 0;
    }
    CHECK(ok);
    atomic_store(&r.done, 1);
    pthread_join(tid, NULL);
    kiln__pool_set_nthreads(saved);
}

/* Many calls back to back with gaps that cross the spin window, so the
   sleep/wake path runs as well as the spinning one. */
TEST(pool_wakes_sleeping_workers)
{
    int saved = kiln__pool_nthreads();
    kiln__pool_set_nthreads(2);
    for (int i = 0; i < 200; i++) {
        CHECK(run_cover(512, 1) == 8);
        if (i % 20 == 0) {
            struct timespec ts = {0, 200000}; /* 0.2 ms */
            nanosleep(&ts, NULL);
        }
    }
    kiln__pool_set_nthreads(saved);
}

/* ---------------------------------------------------------------------- */
/* Chunks                                                                  */

#define MAX_CHUNKS 64

typedef struct chunks {
    pthread_mutex_t mu;
    int64_t lo[MAX_CHUNKS], hi[MAX_CHUNKS];
    int n;
    pthread_t caller;
    int by_caller;
    atomic_int stalled; /* set once a non-caller thread has stalled */
    int64_t stall_ns;
} chunks;

static void record_chunk(void *ctx, int64_t lo, int64_t hi)
{
    chunks *c = ctx;
    int mine = pthread_equal(pthread_self(), c->caller);
    if (!mine && c->stall_ns > 0 && !atomic_exchange(&c->stalled, 1)) {
        struct timespec ts = {0, (long)c->stall_ns};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&c->mu);
    if (c->n < MAX_CHUNKS) {
        c->lo[c->n] = lo;
        c->hi[c->n] = hi;
        c->n++;
    }
    c->by_caller += mine;
    pthread_mutex_unlock(&c->mu);
}

static void run_chunks(chunks *c, int64_t n, int64_t grain, int64_t stall)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->caller = pthread_self();
    atomic_init(&c->stalled, 0);
    c->stall_ns = stall;
    kiln__pool_for(n, grain, record_chunk, c);
    pthread_mutex_destroy(&c->mu);
}

/* Chunk k of nchunks over [0, n) per pool.h: [k q + min(k, r), ...). */
static int64_t chunk_lo(int64_t n, int64_t nchunks, int64_t k)
{
    int64_t q = n / nchunks, r = n % nchunks;
    return k * q + (k < r ? k : r);
}

TEST(pool_chunk_boundaries_follow_the_formula)
{
    static const int64_t cases[][2] = {{1000, 1},   {1001, 7},  {99, 10},
                                       {64, 32},    {65, 32},   {100000, 3},
                                       {12345, 1000}, {17, 2}};
    int saved = kiln__pool_nthreads();
    for (int t = 2; t <= 5; t += 3) {
        kiln__pool_set_nthreads(t);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int64_t n = cases[i][0], grain = cases[i][1];
            int64_t want = want_calls(t, n, grain);
            chunks c;
            run_chunks(&c, n, grain, 0);
            CHECK_MSG(c.n == want, "t=%d n=%lld grain=%lld: %d chunks", t,
                      (long long)n, (long long)grain, c.n);
            /* every expected chunk was run once, as one call */
            for (int64_t k = 0; k < want && c.n == want; k++) {
                int64_t lo = chunk_lo(n, want, k);
                int64_t hi = chunk_lo(n, want, k + 1);
                int found = 0;
                for (int j = 0; j < c.n; j++) {
                    found += c.lo[j] == lo && c.hi[j] == hi;
                }
                CHECK_MSG(found == 1, "t=%d n=%lld: chunk %lld [%lld, %lld)",
                          t, (long long)n, (long long)k, (long long)lo,
                          (long long)hi);
            }
        }
    }
    kiln__pool_set_nthreads(saved);
}

/* A worker that stalls for 50 ms in its first chunk holds up only that
   chunk: the caller runs all the others meanwhile. */
TEST(pool_stalled_worker_leaves_its_share)
{
    int saved = kiln__pool_nthreads();
    kiln__pool_set_nthreads(2);
    for (int round = 0; round < 3; round++) {
        chunks c;
        run_chunks(&c, 8000, 1000, 50000000);
        CHECK(c.n == 8);
        /* the worker ran at most its one stalled chunk */
        CHECK_MSG(c.by_caller >= 7, "caller ran %d of 8 chunks",
                  c.by_caller);
    }
    kiln__pool_set_nthreads(saved);
}

/* ---------------------------------------------------------------------- */
/* Environment knobs                                                       */

/* Saves a variable's value so the test can restore it. */
typedef struct saved_env {
    const char *name;
    char *value; /* NULL: was unset */
} saved_env;

static saved_env save_env(const char *name)
{
    saved_env s = {name, NULL};
    const char *v = getenv(name);
    if (v != NULL) {
        s.value = malloc(strlen(v) + 1);
        if (s.value != NULL) {
            strcpy(s.value, v);
        }
    }
    return s;
}

static void restore_env(saved_env s)
{
    if (s.value != NULL) {
        setenv(s.name, s.value, 1);
        free(s.value);
    } else {
        unsetenv(s.name);
    }
}

TEST(env_str_reads_value_or_default)
{
    saved_env cc = save_env("KILN_CC");
    saved_env jit = save_env("KILN_JIT");
    unsetenv("KILN_CC");
    CHECK(strcmp(kiln__env_str(KILN_ENV_CC), "cc") == 0);
    setenv("KILN_CC", "gcc-12", 1);
    CHECK(strcmp(kiln__env_str(KILN_ENV_CC), "gcc-12") == 0);
    setenv("KILN_CC", "", 1);
    CHECK(strcmp(kiln__env_str(KILN_ENV_CC), "cc") == 0);
    unsetenv("KILN_JIT");
    CHECK(strcmp(kiln__env_str(KILN_ENV_JIT), "1") == 0);
    setenv("KILN_JIT", "require", 1);
    CHECK(strcmp(kiln__env_str(KILN_ENV_JIT), "require") == 0);
    CHECK(strcmp(kiln__env_str((kiln_env_knob)-1), "") == 0);
    CHECK(strcmp(kiln__env_str(KILN_ENV_COUNT), "") == 0);
    restore_env(cc);
    restore_env(jit);
}

TEST(env_int_parses_or_falls_back)
{
    static const struct {
        const char *text;
        long long want;
    } cases[] = {
        {"42", 42},
        {"  17 ", 17},
        {"-3", -3},
        {"+8", 8},
        {"0", 0},
        {"9223372036854775807", 9223372036854775807LL},
        {"99999999999999999999", -1},
        {"12abc", -1},
        {"abc", -1},
        {"1.5", -1},
        {"   ", -1},
        {"", -1},
    };
    saved_env nt = save_env("KILN_NUM_THREADS");
    saved_env dc = save_env("KILN_DISABLE_COMPILE");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("KILN_NUM_THREADS", cases[i].text, 1);
        CHECK_MSG(kiln__env_int(KILN_ENV_NUM_THREADS, -1) == cases[i].want,
                  "\"%s\": got %lld, want %lld", cases[i].text,
                  kiln__env_int(KILN_ENV_NUM_THREADS, -1), cases[i].want);
    }
    /* unset: the list's default is parsed; "" gives the caller's default */
    unsetenv("KILN_NUM_THREADS");
    CHECK(kiln__env_int(KILN_ENV_NUM_THREADS, 7) == 7);
    unsetenv("KILN_DISABLE_COMPILE");
    CHECK(kiln__env_int(KILN_ENV_DISABLE_COMPILE, 5) == 0);
    setenv("KILN_DISABLE_COMPILE", "1", 1);
    CHECK(kiln__env_int(KILN_ENV_DISABLE_COMPILE, 5) == 1);
    restore_env(nt);
    restore_env(dc);
}

TEST(env_list_names_and_docs)
{
    CHECK(strcmp(kiln__env_name(KILN_ENV_NUM_THREADS), "KILN_NUM_THREADS") ==
          0);
    CHECK(strcmp(kiln__env_name(KILN_ENV_POOL_LIMIT), "KILN_POOL_LIMIT") ==
          0);
    for (int k = 0; k < KILN_ENV_COUNT; k++) {
        const char *name = kiln__env_name((kiln_env_knob)k);
        CHECK(strncmp(name, "KILN_", 5) == 0);
        CHECK(kiln__env_doc((kiln_env_knob)k)[0] != '\0');
    }
    CHECK(strcmp(kiln__env_name(KILN_ENV_COUNT), "") == 0);
    CHECK(strcmp(kiln__env_doc(KILN_ENV_COUNT), "") == 0);
}
