/*
 * jobs.c - kernel builds, in the caller's thread or in the background
 * (see jobs.h).
 *
 * build() is the one place a trace's kernels are built and handed to its
 * regions: the caller's thread runs it when builds are synchronous, a job
 * thread otherwise. A region that gets no kernel (no compiler, KILN_JIT=0)
 * keeps the interpreter, after a one-time notice.
 *
 * Locks: `lock` guards the list of jobs in flight; nothing is held while
 * compiling. At fork the child gets the list but not the threads: its
 * handler makes fresh locks, empties the list and publishes "no kernel" to
 * every region those jobs would have served.
 */
#include "jobs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../runtime/clock.h"
#include "../runtime/env.h"
#include "cache.h"
#include "jit.h"

#define NK KILN_JOBS_MAX_KERNELS

typedef struct job {
    struct kiln_fcache *stats; /* the function's counters, held */
    int n;
    kiln_fused *fl[NK];
    char names[NK][KILN_JOBS_SYM_CAP];
    size_t len;
    char *source; /* owned copy */
    kiln_env_copy *env; /* the starting thread's environment: the job
                           reads this, never the live one, which that
                           thread's program may change meanwhile */
    struct job *next, *prev; /* in `running` */
} job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static job *running;
static pthread_once_t once = PTHREAD_ONCE_INIT;

bool kiln__jobs_is_enabled(kiln_fused *const *fl, int n)
{
    if (strcmp(kiln__env_str(KILN_ENV_JIT_ASYNC), "0") == 0 ||
        kiln__jit_mode() != KILN_JIT_MODE_AUTO) {
        return false;
    }
    /* the interpreter folds in blocks of its own: a fold that depends on
     * the order would change bits when the kernel arrives */
    for (int i = 0; i < n; i++) {
        const kiln_region *r = fl[i]->region;
        for (int v = 0; v < r->nvals; v++) {
            const kiln_rval *x = &r->vals[v];
            if (x->kind == KILN_RVAL_REDUCE &&
                !kiln_dtype_is_integer(x->dtype) &&
                x->dtype != KILN_DTYPE_BOOL && !x->prim->emit->order_free) {
                return false;
            }
        }
    }
    return true;
}

static void release_lib(void *lib)
{
    kiln__jit_release(lib);
}

/* kiln__jobs_build with the counters already held (c may be NULL). */
static kiln_status build(struct kiln_fcache *c, kiln_fused **fl, int n,
                         const char *source, size_t len,
                         const char *const *syms)
{
    static atomic_int noticed;
    void *fns[NK];
    int built = 0;
    kiln_jit_lib *lib =
        kiln__jit_load(source, len, n, syms, fns, &built, "compile");
    kiln_status st = lib ? KILN_OK : kiln_errcode();
    if (lib) {
        kiln__cache_count_held(c, built ? KILN_CC_BUILT : KILN_CC_LOADED, n);
        for (int i = 0; i < n; i++) {
            kiln_region_kernel k;
            memcpy(&k, &fns[i], sizeof k);
            kiln__fused_publish(fl[i], k, kiln__jit_retain(lib),
                                release_lib);
        }
        kiln__jit_release(lib);
        return KILN_OK;
    }
    for (int i = 0; i < n; i++) {
        kiln__fused_publish(fl[i], NULL, NULL, NULL);
    }
    if (kiln__jit_mode() == KILN_JIT_MODE_REQUIRE) {
        return st;
    }
    if (!atomic_exchange(&noticed, 1)) {
        fprintf(stderr,
                "kiln: compiled kernels run in the interpreter (%s); set "
                "KILN_CC to a working C compiler for native speed\n",
                kiln_errmsg());
    }
    kiln_errclear();
    kiln__cache_count_held(c, KILN_CC_INTERPRETED, n);
    return KILN_OK;
}

kiln_status kiln__jobs_build(kiln_fn *inner, kiln_fused **fl, int n,
                             const char *source, size_t len,
                             const char *const *syms)
{
    struct kiln_fcache *c = kiln__cache_hold(inner);
    kiln_status st = build(c, fl, n, source, len, syms);
    kiln__cache_unhold(c);
    return st;
}

static void job_free(job *j)
{
    for (int i = 0; i < j->n; i++) {
        kiln__fused_release(j->fl[i]);
    }
    kiln__cache_unhold(j->stats);
    kiln__env_copy_free(j->env);
    free(j->source);
    free(j);
}

static void unlink_job(job *j)
{
    if (j->prev) {
        j->prev->next = j->next;
    } else {
        running = j->next;
    }
    if (j->next) {
        j->next->prev = j->prev;
    }
}

static void *job_main(void *arg)
{
    job *j = arg;
    const char *syms[NK];
    for (int i = 0; i < j->n; i++) {
        syms[i] = j->names[i];
    }
    double t0 = kiln__clock_ms();
    kiln__env_use(j->env);
    (void)build(j->stats, j->fl, j->n, j->source, j->len, syms);
    kiln__env_use(NULL);
    kiln__cache_add_ms_held(j->stats, kiln__clock_ms() - t0);
    kiln_errclear();
    pthread_mutex_lock(&lock);
    unlink_job(j);
    pthread_cond_broadcast(&idle);
    pthread_mutex_unlock(&lock);
    job_free(j);
    return NULL;
}

void kiln__jobs_wait_all(void)
{
    pthread_mutex_lock(&lock);
    while (running) {
        pthread_cond_wait(&idle, &lock);
    }
    pthread_mutex_unlock(&lock);
}

/* The child of a fork: no job thread came along. Their regions run
 * interpreted from now on; the jobs' memory is left (their threads'
 * state in the parent is unknowable here). */
static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&idle, NULL);
    kiln__fused_after_fork();
    for (job *j = running; j; j = j->next) {
        for (int i = 0; i < j->n; i++) {
            kiln__fused_publish(j->fl[i], NULL, NULL, NULL);
        }
    }
    running = NULL;
}

static void setup(void)
{
    (void)atexit(kiln__jobs_wait_all);
    (void)pthread_atfork(NULL, NULL, after_fork_child);
}

/* Waits until every region fl[i] has its outcome or ms have passed;
 * returns the milliseconds waited. */
static double wait_published(kiln_fused *const *fl, int n, int ms)
{
    double t0 = kiln__clock_ms(), el = 0.0;
    for (int i = 0; i < n; i++) {
        while (atomic_load_explicit(&fl[i]->pending, memory_order_acquire)) {
            el = kiln__clock_ms() - t0;
            if (el >= ms) {
                return el;
            }
            struct timespec nap = {0, 100000}; /* 0.1 ms */
            nanosleep(&nap, NULL);
        }
    }
    return kiln__clock_ms() - t0;
}

kiln_status kiln__jobs_start(kiln_fn *inner, kiln_fused **fl, int n,
                             const char *source, size_t len,
                             const char *const *syms, int wait_ms,
                             double *waited)
{
    kiln_status st = KILN_OK;
    *waited = 0.0;
    pthread_attr_t attr;
    pthread_t th;
    job *j = calloc(1, sizeof *j);
    char *copy = j ? malloc(len + 1) : NULL;
    kiln_env_copy *env = copy ? kiln__env_copy() : NULL;
    if (!env) {
        free(copy);
        free(j);
        return kiln__err_oom("compile", len);
    }
    j->env = env;
    memcpy(copy, source, len);
    copy[len] = '\0';
    j->source = copy;
    j->len = len;
    j->n = n;
    j->stats = kiln__cache_hold(inner);
    for (int i = 0; i < n; i++) {
        snprintf(j->names[i], KILN_JOBS_SYM_CAP, "%s", syms[i]);
        kiln__fused_retain(fl[i]);
        kiln__fused_expect(fl[i]);
        j->fl[i] = fl[i];
    }
    pthread_once(&once, setup);
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&lock);
        j->next = running;
        if (running) {
            running->prev = j;
        }
        running = j;
        rc = pthread_create(&th, &attr, job_main, j);
        if (rc != 0) {
            unlink_job(j);
        }
        pthread_mutex_unlock(&lock);
        pthread_attr_destroy(&attr);
    }
    if (rc != 0) {
        for (int i = 0; i < n; i++) {
            kiln__fused_publish(fl[i], NULL, NULL, NULL);
        }
        job_free(j);
        st = kiln__err(KILN_ERR_RUNTIME,
                       "[compile] no thread for a background build: %s",
                       strerror(rc));
    } else {
        *waited = wait_published(fl, n, wait_ms);
    }
    return st;
}
