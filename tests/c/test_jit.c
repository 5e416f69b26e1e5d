/*
 * test_jit.c - the JIT (src/compile/jit.c) and its disk cache
 * (src/compile/diskcache.c).
 *
 * Checked: a kernel compiles, loads and computes what a reference loop
 * computes; the same source again is a memory hit (the compiler ran once);
 * after kiln__jit_forget_memory (a fresh process, as far as the JIT knows)
 * it is a disk hit; a flipped byte, a truncated file or a group-writable
 * file is rejected, rebuilt and rewritten; a cache folder writable by others
 * or owned by someone else is not used; missing compilers, KILN_JIT=0 and
 * =require, a syntax error (the message carries the compiler's diagnostic)
 * and a missing symbol give the documented statuses; threads loading one
 * source together build it once; background builds (compile/jobs.c) give
 * the same results as eager before and after their kernel arrives, a big
 * call waits for the kernel, and a missing compiler leaves the interpreter.
 *
 * Every test points KILN_CACHE_DIR at a fresh temporary folder and restores
 * the environment. Each compile costs ~0.1-0.3 s, so the number of builds is
 * kept small (about ten in all). Without any C compiler the tests that need
 * one say so and return.
 */
#include "harness.h"

#include "compile/jit.h"
#include "compile/cache.h"
#include "compile/graph.h"
#include "compile/jobs.h"
#include "prim/compiled.h"
#include "prim/prim.h"
#include "runtime/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*kfn)(void *, char *const *, const int64_t *, int64_t);

static const char *const ksyms[] = {"k"};

/* ---------------------------------------------------------------------- */
/* Environment and folders                                                */

static const char *const env_names[] = {"KILN_CACHE_DIR", "KILN_CC",
                                        "KILN_JIT", "KILN_JIT_ASYNC"};
#define NENV 4

typedef struct saved_env {
    char *v[NENV];
    char dir[256]; /* the temporary folder made for this test */
} saved_env;

static void env_save(saved_env *e)
{
    for (int i = 0; i < NENV; i++) {
        const char *v = getenv(env_names[i]);
        e->v[i] = v != NULL ? strdup(v) : NULL;
        unsetenv(env_names[i]);
    }
    snprintf(e->dir, sizeof e->dir, "/tmp/kiln-test-jit-XXXXXX");
    if (mkdtemp(e->dir) == NULL) {
        e->dir[0] = '\0';
    }
    setenv("KILN_CACHE_DIR", e->dir, 1);
}

/* Removes every file in dir (one level of subfolders too), then dir. */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    char path[1024];
    if (d == NULL) {
        return;
    }
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (unlink(path) != 0) {
            remove_tree(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static void env_restore(saved_env *e)
{
    for (int i = 0; i < NENV; i++) {
        if (e->v[i] != NULL) {
            setenv(env_names[i], e->v[i], 1);
        } else {
            unsetenv(env_names[i]);
        }
        free(e->v[i]);
    }
    if (e->dir[0] != '\0') {
        chmod(e->dir, 0700);
        remove_tree(e->dir);
    }
}

/* The number of entries in dir; with ext, only names ending in ext (and
   the first such path goes to found). */
static int count_files(const char *dir, const char *ext, char *found,
                       size_t cap)
{
    DIR *d = opendir(dir);
    struct dirent *ent;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((ent = readdir(d)) != NULL) {
        size_t len = strlen(ent->d_name), el = ext ? strlen(ext) : 0;
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        if (ext != NULL &&
            (len < el || strcmp(ent->d_name + len - el, ext) != 0)) {
            continue;
        }
        if (n == 0 && found != NULL) {
            snprintf(found, cap, "%s/%s", dir, ent->d_name);
        }
        n++;
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------------- */
/* Kernels                                                                */

/* A kernel y = exp(x) * 2 + tag: the tag makes each test's source (and so
   its key) its own. */
static size_t kernel_source(char *buf, size_t cap, int tag)
{
    int n = snprintf(buf, cap,
                     "void k(void *c, char *const *p, const int64_t *s, "
                     "int64_t n)\n"
                     "{\n"
                     "    const float *x = (const float *)p[0];\n"
                     "    float *y = (float *)p[1];\n"
                     "    (void)c;\n"
                     "    (void)s;\n"
                     "    for (int64_t i = 0; i < n; i++) {\n"
                     "        y[i] = kiln_s_exp_f32(x[i]) * 2.0f + %d.0f;\n"
                     "    }\n"
                     "}\n",
                     tag);
    return (size_t)n;
}

/* Runs the kernel in fns[0] and compares with a reference loop. */
static int kernel_ok(void *sym, int tag)
{
    float x[37], y[37];
    char *ptrs[2] = {(char *)x, (char *)y};
    int64_t strides[2] = {4, 4};
    kfn f;
    int ok = 1;
    if (sym == NULL) {
        return 0;
    }
    memcpy(&f, &sym, sizeof f);
    for (int i = 0; i < 37; i++) {
        x[i] = (float)(i - 18) * 0.37f;
        y[i] = -1.0f;
    }
    f(NULL, ptrs, strides, 37);
    for (int i = 0; i < 37; i++) {
        double want = exp((double)x[i]) * 2.0 + tag;
        if (fabs(y[i] - want) > 1e-5 * fabs(want) + 1e-6) {
            ok = 0;
        }
    }
    return ok;
}

/* Loads the kernel with the given tag; NULL on failure. */
static kiln_jit_lib *load_tag(int tag, void **sym, int *built)
{
    char src[1024];
    size_t n = kernel_source(src, sizeof src, tag);
    *sym = NULL;
    return kiln__jit_load(src, n, 1, ksyms, sym, built, "test_jit");
}

/* 1 when a compiler works here (else the caller skips). */
static int have_compiler(kiln_jit_lib *lib)
{
    if (lib == NULL && kiln_errcode() == KILN_ERR_UNSUPPORTED) {
        printf("  (skipped: no working C compiler: %s)\n", kiln_errmsg());
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                  */

TEST(jit_build_memory_then_disk)
{
    saved_env env;
    kiln_jit_stats s0, s1;
    kiln_jit_lib *a, *b;
    char sub[400], so[600];
    void *sym, *fns[2];
    const char *const two[] = {"k", "no_such_fn"};
    struct stat st;
    int built = -1;
    env_save(&env);
    /* a folder that does not exist yet: made with mode 0700 */
    snprintf(sub, sizeof sub, "%s/a/b", env.dir);
    setenv("KILN_CACHE_DIR", sub, 1);
    CHECK(strcmp(kiln__jit_cache_dir(), sub) == 0);
    kiln__jit_forget_memory();
    kiln__jit_stats(&s0);

    a = load_tag(101, &sym, &built);
    if (!have_compiler(a)) {
        goto done;
    }
    CHECK_MSG(a != NULL, "load failed: %s", kiln_errmsg());
    CHECK(built == 1);
    CHECK(kernel_ok(sym, 101));
    CHECK(stat(sub, &st) == 0 && (st.st_mode & 0777) == 0700);
    snprintf(so, sizeof so, "%s/a", env.dir);
    CHECK(stat(so, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK(count_files(sub, ".so", so, sizeof so) == 1);
    CHECK(count_files(sub, ".sum", NULL, 0) == 1);
    CHECK(count_files(sub, NULL, NULL, 0) == 2); /* no temporaries left */
    CHECK(stat(so, &st) == 0 && (st.st_mode & 022) == 0);

    /* the same source again: found in memory, the compiler not run */
    b = load_tag(101, &sym, &built);
    CHECK(b == a);
    CHECK(built == 0);
    CHECK(kernel_ok(sym, 101));
    kiln__jit_stats(&s1);
    CHECK(s1.builds == s0.builds + 1);
    CHECK(s1.memory_hits == s0.memory_hits + 1);
    CHECK(s1.disk_hits == s0.disk_hits);
    CHECK(s1.compile_ms > s0.compile_ms);
    kiln__jit_release(b);
    kiln__jit_release(a);

    /* a fresh process: found on disk */
    kiln__jit_forget_memory();
    a = load_tag(101, &sym, &built);
    CHECK_MSG(a != NULL, "load failed: %s", kiln_errmsg());
    CHECK(built == 0);
    CHECK(kernel_ok(sym, 101));
    kiln__jit_stats(&s1);
    CHECK(s1.builds == s0.builds + 1);
    CHECK(s1.disk_hits == s0.disk_hits + 1);
    CHECK(s1.rejected == s0.rejected);

    /* a symbol the library lacks */
    fns[0] = fns[1] = NULL;
    {
        char src[1024];
        size_t n = kernel_source(src, sizeof src, 101);
        b = kiln__jit_load(src, n, 2, two, fns, NULL, "test_jit");
    }
    CHECK(b == NULL);
    CHECK(kiln_errcode() == KILN_ERR_RUNTIME);
    CHECK(strstr(kiln_errmsg(), "no_such_fn") != NULL);
    CHECK(strstr(kiln_errmsg(), "[test_jit]") != NULL);
    kiln__jit_release(a);
    kiln__jit_release(NULL);

    /* bad arguments */
    CHECK(kiln__jit_load(NULL, 0, 0, NULL, NULL, NULL, "test_jit") == NULL);
    CHECK(kiln_errcode() == KILN_ERR_VALUE);
done:
    env_restore(&env);
}

/* Breaks the cached library with `how`, then checks that a fresh load
   rejects it, rebuilds, and computes right. */
static void check_rejected(const char *dir, int tag, const char *how)
{
    kiln_jit_stats s0, s1;
    kiln_jit_lib *lib;
    char so[600];
    void *sym;
    int built = 0;
    CHECK(count_files(dir, ".so", so, sizeof so) == 1);
    if (strcmp(how, "flip") == 0) {
        int fd = open(so, O_RDWR);
        unsigned char byte = 0;
        struct stat st;
        CHECK(fd >= 0 && fstat(fd, &st) == 0);
        CHECK(pread(fd, &byte, 1, st.st_size / 2) == 1);
        byte ^= 0x10;
        CHECK(pwrite(fd, &byte, 1, st.st_size / 2) == 1);
        close(fd);
    } else if (strcmp(how, "truncate") == 0) {
        struct stat st;
        CHECK(stat(so, &st) == 0 && truncate(so, st.st_size / 2) == 0);
    } else {
        CHECK(chmod(so, 0664) == 0);
    }
    kiln__jit_forget_memory();
    kiln__jit_stats(&s0);
    lib = load_tag(tag, &sym, &built);
    CHECK_MSG(lib != NULL, "%s: load failed: %s", how, kiln_errmsg());
    CHECK_MSG(built == 1, "%s: not rebuilt", how);
    CHECK(kernel_ok(sym, tag));
    kiln__jit_stats(&s1);
    CHECK_MSG(s1.rejected == s0.rejected + 1, "%s: not rejected", how);
    CHECK(s1.builds == s0.builds + 1);
    CHECK(s1.disk_hits == s0.disk_hits);
    kiln__jit_release(lib);
}

TEST(jit_rejects_corrupt_cache_files)
{
    saved_env env;
    kiln_jit_stats s0, s1;
    kiln_jit_lib *lib;
    void *sym;
    int built = 0;
    env_save(&env);
    kiln__jit_forget_memory();
    lib = load_tag(202, &sym, &built);
    if (!have_compiler(lib)) {
        goto done;
    }
    CHECK(kernel_ok(sym, 202));
    kiln__jit_release(lib);
    check_rejected(env.dir, 202, "flip");
    check_rejected(env.dir, 202, "truncate");
    check_rejected(env.dir, 202, "mode");
    /* the rewritten file is good again: a disk hit */
    kiln__jit_forget_memory();
    kiln__jit_stats(&s0);
    lib = load_tag(202, &sym, &built);
    CHECK(lib != NULL && built == 0);
    CHECK(kernel_ok(sym, 202));
    kiln__jit_stats(&s1);
    CHECK(s1.disk_hits == s0.disk_hits + 1);
    kiln__jit_release(lib);
done:
    env_restore(&env);
}

TEST(jit_refuses_unsafe_cache_dir)
{
    saved_env env;
    kiln_jit_stats s0, s1;
    kiln_jit_lib *lib;
    void *sym;
    int built = 0;
    env_save(&env);
    kiln__jit_forget_memory();
    CHECK(chmod(env.dir, 0777) == 0);
    kiln__jit_stats(&s0);
    lib = load_tag(303, &sym, &built);
    if (!have_compiler(lib)) {
        goto done;
    }
    CHECK(lib != NULL && built == 1);
    CHECK(kernel_ok(sym, 303));
    CHECK(count_files(env.dir, NULL, NULL, 0) == 0);
    kiln__jit_release(lib);
    kiln__jit_stats(&s1);
    CHECK(s1.builds == s0.builds + 1);

    /* owned by someone else (only root can arrange that) */
    if (geteuid() == 0 && chmod(env.dir, 0700) == 0 &&
        chown(env.dir, 65534, 65534) == 0) {
        kiln__jit_forget_memory();
        lib = load_tag(303, &sym, &built);
        CHECK(lib != NULL && built == 1);
        CHECK(kernel_ok(sym, 303));
        CHECK(count_files(env.dir, NULL, NULL, 0) == 0);
        kiln__jit_release(lib);
        CHECK(chown(env.dir, 0, 0) == 0);
    }
done:
    env_restore(&env);
}

TEST(jit_without_compiler)
{
    saved_env env;
    kiln_jit_stats s0, s1;
    kiln_jit_lib *lib;
    void *sym;
    int built = -1;
    env_save(&env);
    kiln__jit_forget_memory();

    /* KILN_JIT=0: not even a spawn (stats unchanged) */
    setenv("KILN_JIT", "0", 1);
    CHECK(kiln__jit_mode() == KILN_JIT_MODE_OFF);
    kiln__jit_stats(&s0);
    lib = load_tag(404, &sym, &built);
    CHECK(lib == NULL && built == 0);
    CHECK(kiln_errcode() == KILN_ERR_UNSUPPORTED);
    CHECK(strstr(kiln_errmsg(), "KILN_JIT=0") != NULL);
    kiln__jit_stats(&s1);
    CHECK(memcmp(&s0, &s1, sizeof s0) == 0);
    unsetenv("KILN_JIT");
    CHECK(kiln__jit_mode() == KILN_JIT_MODE_AUTO);

    /* a compiler that runs and always fails: found broken once */
    setenv("KILN_CC", "false", 1);
    lib = load_tag(404, &sym, &built);
    CHECK(lib == NULL);
    CHECK(kiln_errcode() == KILN_ERR_UNSUPPORTED);
    CHECK(strstr(kiln_errmsg(), "KILN_CC=false") != NULL);
    kiln__jit_stats(&s0);
    lib = load_tag(405, &sym, &built);
    CHECK(lib == NULL && kiln_errcode() == KILN_ERR_UNSUPPORTED);
    setenv("KILN_JIT", "require", 1);
    CHECK(kiln__jit_mode() == KILN_JIT_MODE_REQUIRE);
    lib = load_tag(404, &sym, &built);
    CHECK(lib == NULL && kiln_errcode() == KILN_ERR_RUNTIME);
    CHECK(strstr(kiln_errmsg(), "require") != NULL);
    kiln__jit_stats(&s1);
    CHECK(memcmp(&s0, &s1, sizeof s0) == 0); /* remembered: no new runs */

    /* a compiler that does not exist */
    setenv("KILN_CC", "/nonexistent/kiln-cc", 1);
    lib = load_tag(404, &sym, &built);
    CHECK(lib == NULL && kiln_errcode() == KILN_ERR_RUNTIME);
    CHECK(strstr(kiln_errmsg(), "cannot run") != NULL);
    unsetenv("KILN_JIT");
    lib = load_tag(404, &sym, &built);
    CHECK(lib == NULL && kiln_errcode() == KILN_ERR_UNSUPPORTED);
    CHECK(count_files(env.dir, NULL, NULL, 0) == 0);
    env_restore(&env);
}

TEST(jit_syntax_error_reports_diagnostic)
{
    static const char bad[] = "void k(void)\n{\n    int x = ;\n}\n";
    saved_env env;
    kiln_jit_stats s0, s1;
    kiln_jit_lib *lib;
    void *sym = NULL;
    env_save(&env);
    kiln__jit_stats(&s0);
    lib = kiln__jit_load(bad, sizeof bad - 1, 1, ksyms, &sym, NULL,
                         "test_jit");
    CHECK(lib == NULL);
    if (kiln_errcode() == KILN_ERR_UNSUPPORTED) {
        printf("  (skipped: no working C compiler: %s)\n", kiln_errmsg());
        goto done;
    }
    CHECK(kiln_errcode() == KILN_ERR_RUNTIME);
    CHECK_MSG(strstr(kiln_errmsg(), "kernel.c:3") != NULL &&
                  strstr(kiln_errmsg(), "error") != NULL,
              "message: %s", kiln_errmsg());
    kiln__jit_stats(&s1);
    CHECK(s1.failures >= s0.failures + 1);
    CHECK(s1.builds == s0.builds);
    CHECK(count_files(env.dir, NULL, NULL, 0) == 0);
done:
    env_restore(&env);
}

/* ---------------------------------------------------------------------- */
/* Threads                                                                */

#define NTHREADS 4

typedef struct racer {
    pthread_barrier_t *go;
    kiln_jit_lib *lib;
    void *sym;
    int built;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    pthread_barrier_wait(r->go);
    r->lib = load_tag(505, &r->sym, &r->built);
    return NULL;
}

TEST(jit_threads_build_once)
{
    saved_env env;
    kiln_jit_stats s0, s1;
    pthread_barrier_t go;
    pthread_t th[NTHREADS];
    racer r[NTHREADS];
    int nbuilt = 0, nok = 0, nunsupported = 0;
    env_save(&env);
    kiln__jit_forget_memory();
    kiln__jit_stats(&s0);
    pthread_barrier_init(&go, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++) {
        memset(&r[i], 0, sizeof r[i]);
        r[i].go = &go;
        pthread_create(&th[i], NULL, race, &r[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
    }
    pthread_barrier_destroy(&go);
    for (int i = 0; i < NTHREADS; i++) {
        if (r[i].lib != NULL) {
            nok++;
            nbuilt += r[i].built;
            CHECK(r[i].lib == r[0].lib);
            CHECK(kernel_ok(r[i].sym, 505));
        } else {
            nunsupported++;
        }
    }
    kiln__jit_stats(&s1);
    if (nunsupported == NTHREADS) {
        printf("  (skipped: no working C compiler)\n");
    } else {
        CHECK(nok == NTHREADS);
        CHECK(nbuilt == 1);
        CHECK(s1.builds == s0.builds + 1);
        CHECK(s1.memory_hits == s0.memory_hits + NTHREADS - 1);
    }
    for (int i = 0; i < NTHREADS; i++) {
        kiln__jit_release(r[i].lib);
    }
    env_restore(&env);
}

/* ---------------------------------------------------------------------- */
/* Background builds                                                      */

/* y = (x * c + 1) * x - c, with c from the context (a fresh constant makes
 * a kernel no cache holds). */
static kiln_status poly_body(void *ctx, const kiln_list *args,
                             kiln_list *res)
{
    double c = *(const double *)ctx;
    kiln_scope_begin();
    kiln_array *x = kiln_list_get(args, 0);
    kiln_array *y = kiln_subtract(
        kiln_multiply(kiln_add(kiln_multiply(x, kiln_weak_f64(c)),
                               kiln_weak_f64(1)),
                      x),
        kiln_weak_f64(c));
    kiln_status st = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return st;
}

/* y = sum(x * c) over the last axis: a float fold. */
static kiln_status sum_body(void *ctx, const kiln_list *args, kiln_list *res)
{
    double c = *(const double *)ctx;
    int last = -1;
    kiln_scope_begin();
    kiln_array *y = kiln_sum(
        kiln_multiply(kiln_list_get(args, 0), kiln_weak_f64(c)), &last, 1,
        false);
    kiln_status st = y ? kiln_list_push(res, y) : kiln_errcode();
    kiln_scope_end(NULL);
    return st;
}

/* f and its compiled form on x agree bit for bit. */
static bool same_bits(kiln_fn *f, kiln_fn *cf, kiln_array *x)
{
    kiln_list *in = kiln_list_new();
    bool ok = in && kiln_list_push(in, x) == KILN_OK;
    kiln_list *e = ok ? kiln_fn_call(f, in) : NULL;
    kiln_list *c = ok ? kiln_fn_call(cf, in) : NULL;
    ok = e && c;
    if (!ok) {
        fprintf(stderr, "  same_bits: e=%p c=%p code=%d %s\n", (void *)e, (void *)c, (int)kiln_errcode(), kiln_errmsg());
    }
    if (ok) {
        kiln_array *a = kiln_list_get(e, 0), *b = kiln_list_get(c, 0);
        const float *pa = kiln_array_data(a), *pb = kiln_array_data(b);
        int64_t n = kiln_array_size(a);
        ok = pa && pb && n == kiln_array_size(b) &&
             memcmp(pa, pb, (size_t)n * sizeof *pa) == 0;
    }
    kiln_list_free(e);
    kiln_list_free(c);
    kiln_list_free(in);
    return ok;
}

/* How many fused regions of cf's last replayed graph run a kernel now
 * (the rest run in the interpreter). */
static int regions_with_kernel(const kiln_fn *cf)
{
    int n = 0;
    kiln_centry *e = kiln__compile_last_entry(cf);
    for (int i = 0; e && e->fused && i < e->fused->nsteps; i++) {
        const kiln_gstep *st = &e->fused->steps[i];
        if (st->prim == &kiln__prim_fused &&
            kiln__fused_kernel(((kiln_fused_params *)st->params)->fused,
                               false)) {
            n++;
        }
    }
    kiln__centry_release(e);
    return n;
}

static kiln_compile_stats cstats(const kiln_fn *f)
{
    kiln_compile_stats s;
    memset(&s, 0, sizeof s);
    kiln_compile_stats_get(f, &s);
    return s;
}

/* KILN_CC: a script in the test's folder running cc half a second late. */
static void use_slow_cc(const saved_env *env)
{
    char slow[300];
    snprintf(slow, sizeof slow, "%s/slowcc", env->dir);
    FILE *sf = fopen(slow, "w");
    if (sf) {
        fputs("#!/bin/sh\nsleep 0.5\nexec cc \"$@\"\n", sf);
        fclose(sf);
        chmod(slow, 0700);
        setenv("KILN_CC", slow, 1);
    }
}

static bool call_ok(kiln_fn *cf, kiln_array *x)
{
    kiln_list *in = kiln_list_new();
    bool ok = in && kiln_list_push(in, x) == KILN_OK;
    kiln_list *out = ok ? kiln_fn_call(cf, in) : NULL;
    kiln_array *y = out ? kiln_list_get(out, 0) : NULL;
    ok = y && kiln_eval(&y, 1) == KILN_OK;
    kiln_list_free(out);
    kiln_list_free(in);
    return ok;
}

/* Background builds on, with a compiler half a second slower (so the
 * order of calls and builds is known), and two evaluated inputs: *xs small
 * enough for the interpreter, *xb big enough that a call waits for its
 * kernel. */
static void background_setup(saved_env *env, kiln_array **xs,
                             kiln_array **xb)
{
    int64_t small[1] = {1000}, big[1] = {(int64_t)1 << 24};
    kiln_errclear();
    env_save(env);
    setenv("KILN_JIT_ASYNC", "1", 1);
    use_slow_cc(env);
    *xs = kiln_random_normal(small, 1, KILN_DTYPE_FLOAT32, 0, 1, NULL);
    *xb = kiln_random_normal(big, 1, KILN_DTYPE_FLOAT32, 0, 1, NULL);
    kiln_array *both[2] = {*xs, *xb};
    kiln_eval(both, 2);
}

/* A fork while a build runs in the parent: the child has no build thread,
 * so it must neither wait for that build (a big call, a retrace of the
 * same kernel source) nor for the parent's jobs at exit. */
TEST(jit_background_fork)
{
    saved_env env;
    kiln_array *xs, *xb;
    background_setup(&env, &xs, &xb);
    double c = 0.2718281;
    kiln_fn *f = kiln_fn_new(poly_body, &c, NULL, "poly");
    kiln_fn *cf = kiln_compile(f, NULL);
    CHECK(call_ok(cf, xs)); /* its build is now in flight */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        bool ok = call_ok(cf, xb); /* retrace: the same kernel source */
        double c2 = 0.1414213;
        kiln_fn *g = kiln_fn_new(poly_body, &c2, NULL, "poly2");
        kiln_fn *cg = kiln_compile(g, NULL);
        ok = ok && call_ok(cg, xs); /* a job of the child's own */
        kiln__jobs_wait_all();      /* what exit does */
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child status %d (a hang ends in SIGALRM)", status);
    kiln__jobs_wait_all();
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_array_release(xs);
    kiln_array_release(xb);
    kiln_errclear();
    env_restore(&env);
}

/* KILN_CC as a bare name is found on PATH as execvp finds it: an empty
 * entry (here the leading one) is the current folder. */
TEST(jit_cc_on_path_empty_entry)
{
    saved_env env;
    char cwd[1024], script[400];
    const char *old_path = getenv("PATH");
    char *saved_path = old_path ? strdup(old_path) : NULL;
    env_save(&env);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    snprintf(script, sizeof script, "%s/kiln_test_cc_here", env.dir);
    FILE *sf = fopen(script, "w");
    if (sf) {
        fputs("#!/bin/sh\nexec cc \"$@\"\n", sf);
        fclose(sf);
        chmod(script, 0700);
    }
    char path[1200];
    snprintf(path, sizeof path, ":%s", saved_path ? saved_path : "/usr/bin");
    setenv("PATH", path, 1);
    setenv("KILN_CC", "kiln_test_cc_here", 1);
    CHECK(chdir(env.dir) == 0);
    void *sym;
    int built = -1;
    kiln_jit_lib *a = load_tag(321, &sym, &built);
    bool ok = a != NULL || kiln_errcode() != KILN_ERR_UNSUPPORTED ||
              strstr(kiln_errmsg(), "not found") == NULL;
    CHECK_MSG(ok, "%s", kiln_errmsg());
    if (a) {
        CHECK(built == 1 && kernel_ok(sym, 321));
        kiln__jit_release(a);
    }
    kiln_errclear();
    CHECK(chdir(cwd) == 0);
    if (saved_path) {
        setenv("PATH", saved_path, 1);
    } else {
        unsetenv("PATH");
    }
    free(saved_path);
    env_restore(&env);
}

/* A background build reads a copy of the environment taken by the thread
 * that started it (jobs.c): a thread using a copy sees the values of the
 * moment it was taken, in knobs, plain variables and the block a child
 * process gets, while the live environment changes. */
TEST(jit_env_copy)
{
    saved_env env;
    env_save(&env);
    setenv("KILN_CC", "cc-before", 1);
    setenv("KILN_TEST_MARK", "before", 1);
    kiln_env_copy *c = kiln__env_copy();
    CHECK(c != NULL);
    setenv("KILN_CC", "cc-after", 1);
    setenv("KILN_TEST_MARK", "after-and-longer", 1);
    kiln__env_use(c);
    CHECK(strcmp(kiln__env_str(KILN_ENV_CC), "cc-before") == 0);
    const char *m = kiln__env_get("KILN_TEST_MARK");
    CHECK(m && strcmp(m, "before") == 0);
    CHECK(kiln__env_get("KILN_TEST_NOT_SET_ANYWHERE") == NULL);
    bool in_block = false;
    for (char *const *e = kiln__env_block(); *e; e++) {
        in_block = in_block || strcmp(*e, "KILN_TEST_MARK=before") == 0;
    }
    CHECK(in_block);
    kiln__env_use(NULL);
    CHECK(strcmp(kiln__env_str(KILN_ENV_CC), "cc-after") == 0);
    m = kiln__env_get("KILN_TEST_MARK");
    CHECK(m && strcmp(m, "after-and-longer") == 0);
    kiln__env_copy_free(c);
    unsetenv("KILN_TEST_MARK");
    env_restore(&env);
}

TEST(jit_background_builds)
{
    saved_env env;
    kiln_array *xs, *xb;
    background_setup(&env, &xs, &xb);
    /* a small call runs before or after the kernel arrives: the same bits
     * either way; once the job is done the kernel is counted */
    double c1 = 0.123456789;
    kiln_fn *f = kiln_fn_new(poly_body, &c1, NULL, "poly");
    kiln_fn *cf = kiln_compile(f, NULL);
    CHECK(same_bits(f, cf, xs));
    kiln_compile_stats s = cstats(cf);
    CHECK(s.kernels_built == 0); /* ran in the interpreter */
    CHECK(regions_with_kernel(cf) == 0);
    CHECK_MSG(s.compile_ms < 400, "trace %.1f ms", s.compile_ms);
    kiln__jobs_wait_all();
    s = cstats(cf);
    bool have_cc = s.kernels_built + s.kernels_loaded == 1;
    /* the build's compiler time (half a second at least) counts */
    CHECK_MSG(s.kernels_built == 0 || s.compile_ms >= 500,
              "compile_ms %.1f after a background build", s.compile_ms);
    CHECK(have_cc || s.interpreted == 1);
    CHECK(same_bits(f, cf, xs));
    CHECK(cstats(cf).traces == 1);
    if (have_cc) {
        CHECK(regions_with_kernel(cf) == 1); /* switched to the kernel */
    }
    /* a call too big for the interpreter waits for its kernel: counted by
     * the time the call returns */
    double c2 = 0.987654321;
    kiln_fn *g = kiln_fn_new(poly_body, &c2, NULL, "poly2");
    kiln_fn *cg = kiln_compile(g, NULL);
    CHECK(same_bits(g, cg, xb));
    s = cstats(cg);
    if (have_cc) {
        CHECK(s.kernels_built + s.kernels_loaded == 1);
    }
    /* a float fold builds before the first call returns: the interpreter
     * folds in another order, and results must not change later */
    double c4 = 0.3141593;
    kiln_fn *q = kiln_fn_new(sum_body, &c4, NULL, "sum");
    kiln_fn *cq = kiln_compile(q, NULL);
    kiln_array *xr = kiln_reshape(xs, (int64_t[]){10, 100}, 2);
    CHECK(call_ok(cq, xr));
    s = cstats(cq);
    if (have_cc) {
        CHECK(s.kernels_built + s.kernels_loaded == 1);
    }
    kiln_array_release(xr);
    kiln_fn_release(cq);
    kiln_fn_release(q);
    /* no compiler: the job fails, the regions stay interpreted */
    setenv("KILN_CC", "false", 1);
    double c3 = 0.5550555;
    kiln_fn *h = kiln_fn_new(poly_body, &c3, NULL, "poly3");
    kiln_fn *ch = kiln_compile(h, NULL);
    CHECK(same_bits(h, ch, xs));
    kiln__jobs_wait_all();
    s = cstats(ch);
    CHECK(s.interpreted == 1 && s.kernels_built == 0);
    CHECK(same_bits(h, ch, xs));
    kiln_fn_release(ch);
    kiln_fn_release(h);
    kiln_fn_release(cg);
    kiln_fn_release(g);
    kiln_fn_release(cf);
    kiln_fn_release(f);
    kiln_array_release(xs);
    kiln_array_release(xb);
    kiln_errclear();
    env_restore(&env);
}
