/*
 * jobs.c - kernel builds, in the caller's thread or in the background
 * (see jobs.h).
 *
 * kiln__jobs_build is the one place a trace's kernels are built and
 * handed to its regions: the caller's thread runs it when builds are
 * synchronous, a job thread otherwise. A region that gets no kernel (no
 * compiler, KILN_JIT=0) keeps the interpreter, after a one-time notice.
 *
 * Locks: `lock` guards the count of jobs in flight; nothing is held while
 * compiling. A forked child inherits the count but not the threads:
 * waiting checks the pid that started them.
 */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../runtime/env.h"
#include "cache.h"
#include "jit.h"

#define MAX_KERNELS 64
#define SYM_CAP 32

typedef struct job {
    kiln_fn *inner;
    int n;
    kiln_fused *fl[MAX_KERNELS];
    char names[MAX_KERNELS][SYM_CAP];
    size_t len;
    char *source; /* owned copy */
} job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static int inflight;
static pthread_once_t at_exit_once = PTHREAD_ONCE_INIT;
/* the process whose threads run the jobs: a forked child has none of
 * them, and must not wait for them at exit */
static _Atomic pid_t jobs_pid;

bool kiln__jobs_enabled(kiln_fused *const *fl, int n)
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

kiln_status kiln__jobs_build(kiln_fn *inner, kiln_fused **fl, int n,
                             const char *source, size_t len,
                             const char *const *syms)
{
    static atomic_int noticed;
    void *fns[MAX_KERNELS];
    int built = 0;
    kiln_jit_lib *lib = n <= MAX_KERNELS
                            ? kiln__jit_load(source, len, n, syms, fns,
                                             &built, "compile")
                            : NULL;
    if (lib) {
        kiln__cache_count(inner, built ? KILN_CC_BUILT : KILN_CC_LOADED, n);
        for (int i = 0; i < n; i++) {
            kiln_region_kernel k;
            memcpy(&k, &fns[i], sizeof k);
            kiln__fused_publish(fl[i], k, kiln__jit_retain(lib),
                                release_lib);
        }
        kiln__jit_release(lib);
        return KILN_OK;
    }
    kiln_status st = n <= MAX_KERNELS ? kiln_errcode() : KILN_OK;
    for (int i = 0; i < n; i++) {
        kiln__fused_publish(fl[i], NULL, NULL, NULL);
    }
    if (kiln__jit_mode() == KILN_JIT_MODE_REQUIRE && st != KILN_OK) {
        return st;
    }
    if (st != KILN_OK && !atomic_exchange(&noticed, 1)) {
        fprintf(stderr,
                "kiln: compiled kernels run in the interpreter (%s); set "
                "KILN_CC to a working C compiler for native speed\n",
                kiln_errmsg());
    }
    kiln_errclear();
    kiln__cache_count(inner, KILN_CC_INTERPRETED, n);
    return KILN_OK;
}

static void job_free(job *j)
{
    for (int i = 0; i < j->n; i++) {
        kiln__fused_release(j->fl[i]);
    }
    kiln_fn_release(j->inner);
    free(j->source);
    free(j);
}

static void *job_main(void *arg)
{
    job *j = arg;
    const char *syms[MAX_KERNELS];
    for (int i = 0; i < j->n; i++) {
        syms[i] = j->names[i];
    }
    (void)kiln__jobs_build(j->inner, j->fl, j->n, j->source, j->len, syms);
    kiln_errclear();
    job_free(j);
    pthread_mutex_lock(&lock);
    inflight--;
    pthread_cond_broadcast(&idle);
    pthread_mutex_unlock(&lock);
    return NULL;
}

void kiln__jobs_wait_all(void)
{
    if (atomic_load(&jobs_pid) != getpid()) {
        return;
    }
    pthread_mutex_lock(&lock);
    while (inflight > 0) {
        pthread_cond_wait(&idle, &lock);
    }
    pthread_mutex_unlock(&lock);
}

static void register_at_exit(void)
{
    (void)atexit(kiln__jobs_wait_all);
}

/* Waits until every region of j has its outcome or ms have passed. */
static void wait_published(kiln_fused *const *fl, int n, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n; i++) {
        while (atomic_load_explicit(&fl[i]->pending, memory_order_acquire)) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            double el = (double)(t.tv_sec - t0.tv_sec) * 1e3 +
                        (double)(t.tv_nsec - t0.tv_nsec) * 1e-6;
            if (el >= ms) {
                return;
            }
            struct timespec nap = {0, 100000}; /* 0.1 ms */
            nanosleep(&nap, NULL);
        }
    }
}

kiln_status kiln__jobs_start(kiln_fn *inner, kiln_fused **fl, int n,
                             const char *source, size_t len,
                             const char *const *syms, int wait_ms)
{
    if (n > MAX_KERNELS) {
        return kiln__err(KILN_ERR_VALUE, "[compile] %d kernels in one trace",
                         n);
    }
    job *j = calloc(1, sizeof *j);
    char *copy = malloc(len + 1);
    if (!j || !copy) {
        free(j);
        free(copy);
        return kiln__err_oom("compile", len);
    }
    memcpy(copy, source, len);
    copy[len] = '\0';
    j->source = copy;
    j->len = len;
    j->n = n;
    j->inner = kiln_fn_retain(inner);
    for (int i = 0; i < n; i++) {
        snprintf(j->names[i], SYM_CAP, "%s", syms[i]);
        kiln__fused_retain(fl[i]);
        kiln__fused_expect(fl[i]);
        j->fl[i] = fl[i];
    }
    pthread_once(&at_exit_once, register_at_exit);
    pthread_attr_t attr;
    pthread_t th;
    int rc = pthread_attr_init(&attr);
    if (rc == 0) {
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&lock);
        inflight++;
        atomic_store(&jobs_pid, getpid());
        pthread_mutex_unlock(&lock);
        rc = pthread_create(&th, &attr, job_main, j);
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            pthread_mutex_lock(&lock);
            inflight--;
            pthread_cond_broadcast(&idle);
            pthread_mutex_unlock(&lock);
        }
    }
    if (rc != 0) {
        for (int i = 0; i < n; i++) {
            atomic_store(&fl[i]->pending, 0);
        }
        job_free(j);
        return kiln__err(KILN_ERR_RUNTIME,
                         "[compile] no thread for a background build: %s",
                         strerror(rc));
    }
    wait_published(fl, n, wait_ms);
    return KILN_OK;
}
