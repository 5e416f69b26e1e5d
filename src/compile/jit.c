/*
 * jit.c - turns generated C into loaded machine code (DESIGN.md 5.2 step 5).
 *
 * kiln__jit_load reads as: mode -> compiler -> key -> memory cache -> disk
 * cache (diskcache.c) -> compiler -> load. The compiled file is the
 * preamble, a `#line 1 "kernel.c"` marker (so diagnostics point into the
 * caller's source), the source, and a symbol holding the key, which every
 * load checks (a library found under a key must say it is that key's).
 *
 * Compilers: one record per distinct $KILN_CC value (the text, split on
 * spaces into program and arguments), made on first use from the program
 * file's path and stat (probe_version), part of the key. A compiler that
 * cannot be found is broken at once. When a compile fails and this compiler has
 * never compiled anything, a probe (the preamble and an empty kernel) tells
 * "the compiler does not work" (broken: remembered, later calls report
 * KILN_ERR_UNSUPPORTED, or KILN_ERR_RUNTIME under KILN_JIT=require, without
 * running it) from "the compiler rejects this source" (KILN_ERR_RUNTIME with
 * its messages).
 *
 * Memory cache: entries keyed by the key, refcounted; the map holds them
 * weakly (the last kiln__jit_release removes the entry and dlcloses). An
 * entry being built is in the map in state BUILDING; other threads wanting
 * it wait on `built` and share the result, success or failure.
 *
 * Stats: builds counts successful kernel compiles, failures failed kernel
 * compiles (the probe is in neither), compile_ms every compiler run
 * (`--version` excluded).
 *
 * Locks: `lock` guards the map, the entries' refs/state and the stats;
 * `cc_lock` guards the compiler records. Neither is held while compiling or
 * touching the disk, except `cc_lock` around the one-time `--version`. A
 * forked child makes its locks fresh and drops the entries the parent's
 * threads were building (after_fork_child).
 */
#include "jit.h"

#include <errno.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../core/error.h"
#include "../runtime/clock.h"
#include "../runtime/env.h"
#include "diskcache.h"

#define KEYSYM "kiln__jit_key"
#define OUT_CAP 4096 /* compiler output kept for messages */
#define WHY_CAP 1024
#define MAX_CC_WORDS 32
#define NBUCKETS 64

/* The library's own flags for the math (-std=c11 keeps gcc from fusing
 * a multiply and an add of separate ops into an FMA, which eager never
 * does: compiled and eager results stay equal bit for bit). They follow
 * the words of $KILN_CC, so they win over its flags: -fno-fast-math
 * undoes a -ffast-math there, under which kernels would reassociate and
 * lose NaN (half.h's rounding refuses to compile under it). */
static const char *const cc_flags[] = {"-std=c11", "-ffp-contract=off",
                                       "-fno-fast-math", "-O3",
                                       "-march=native", "-fno-math-errno",
                                       "-fPIC", "-shared"};
#define NFLAGS ((int)(sizeof cc_flags / sizeof cc_flags[0]))

/* ---------------------------------------------------------------------- */
/* Mode                                                                   */

kiln_jit_mode kiln__jit_mode(void)
{
    const char *v = kiln__env_str(KILN_ENV_JIT);
    if (strcmp(v, "0") == 0) {
        return KILN_JIT_MODE_OFF;
    }
    if (strcmp(v, "require") == 0) {
        return KILN_JIT_MODE_REQUIRE;
    }
    return KILN_JIT_MODE_AUTO;
}

/* ---------------------------------------------------------------------- */
/* Running the compiler                                                   */

/* snprintf through a va_list: messages embed compiler output and are
   truncated on purpose. */
static void say(char *dst, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

/* With "compile" among the KILN_LOG topics, prints one line to stderr. */
static void log_compile(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void log_compile(const char *fmt, ...)
{
    const char *t = kiln__env_str(KILN_ENV_LOG);
    va_list ap;
    while (*t != '\0') {
        size_t n = strcspn(t, ",");
        if (n == 7 && strncmp(t, "compile", 7) == 0) {
            break;
        }
        t += n + (t[n] == ',');
    }
    if (*t == '\0') {
        return;
    }
    va_start(ap, fmt);
    fputs("kiln: jit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* The program `name` is found at: name itself when it has a '/', else the
 * first regular executable file of that name in the directories of PATH
 * (the thread's environment: kiln__env_get; an empty entry is the current
 * folder), as posix_spawnp searches. Fills path and *st; false when there
 * is none. */
static bool find_program(const char *name, char *path, size_t cap,
                         struct stat *st)
{
    if (strchr(name, '/')) {
        snprintf(path, cap, "%s", name);
        return stat(path, st) == 0 && S_ISREG(st->st_mode);
    }
    const char *dirs = kiln__env_get("PATH");
    if (!dirs || !*dirs) {
        dirs = "/usr/local/bin:/usr/bin:/bin";
    }
    for (;;) {
        size_t len = strcspn(dirs, ":");
        /* an empty entry (also a leading or trailing ':') is the current
         * folder, as for execvp */
        snprintf(path, cap, "%.*s/%s", len ? (int)len : 1,
                 len ? dirs : ".", name);
        if (stat(path, st) == 0 && S_ISREG(st->st_mode) &&
            access(path, X_OK) == 0) {
            return true;
        }
        if (dirs[len] != ':') {
            return false;
        }
        dirs += len + 1;
    }
}

/* Serialises making the pipe and spawning, so that a child of ours never
   inherits another compile's pipe (which would delay its end of file). */
static pthread_mutex_t spawn_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs argv (found through PATH: find_program) with stdin from /dev/null
   and stdout and stderr into out (the first cap - 1 bytes kept,
   NUL-terminated; the rest drained), in the thread's environment
   (kiln__env_block). Returns the exit status, -1 when it died of a signal
   or could not be waited for, -2 when it could not be started (reason in
   why). */
static int run_capture(char *const *argv, char *out, size_t cap, char *why,
                       size_t wcap)
{
    posix_spawn_file_actions_t fa;
    size_t kept = 0;
    pid_t pid;
    int p[2], rc, st;
    char drain[512], prog[PATH_MAX];
    struct stat pst;
    out[0] = '\0';
    if (!find_program(argv[0], prog, sizeof prog, &pst)) {
        snprintf(why, wcap, "cannot run '%s': not found", argv[0]);
        return -2;
    }
    pthread_mutex_lock(&spawn_lock);
    if (pipe(p) != 0) {
        pthread_mutex_unlock(&spawn_lock);
        snprintf(why, wcap, "pipe: %s", strerror(errno));
        return -2;
    }
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    rc = posix_spawn(&pid, prog, &fa, NULL, argv, kiln__env_block());
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    pthread_mutex_unlock(&spawn_lock);
    if (rc != 0) {
        close(p[0]);
        snprintf(why, wcap, "cannot run '%s': %s", argv[0], strerror(rc));
        return -2;
    }
    for (;;) {
        ssize_t r;
        if (kept + 1 < cap) {
            r = read(p[0], out + kept, cap - 1 - kept);
        } else {
            r = read(p[0], drain, sizeof drain);
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        if (kept + 1 < cap) {
            kept += (size_t)r;
        }
    }
    out[kept] = '\0';
    close(p[0]);
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            snprintf(why, wcap, "waiting for '%s': %s", argv[0],
                     strerror(errno));
            return -1;
        }
    }
    if (!WIFEXITED(st)) {
        snprintf(why, wcap, "'%s' was killed by signal %d", argv[0],
                 WIFSIGNALED(st) ? WTERMSIG(st) : 0);
        return -1;
    }
    return WEXITSTATUS(st);
}

/* ---------------------------------------------------------------------- */
/* Compiler records                                                       */

enum { CC_UNTRIED, CC_WORKS, CC_BROKEN };

typedef struct compiler {
    struct compiler *next;
    char cc[256];     /* the $KILN_CC text */
    int state;        /* CC_* */
    char path[PATH_MAX]; /* its first word resolved: what is run */
    char ident[512];  /* program path and stat: part of the key */
    char why[WHY_CAP]; /* CC_BROKEN: why */
} compiler;

static pthread_mutex_t cc_lock = PTHREAD_MUTEX_INITIALIZER;
static compiler *compilers;

/* Splits text on spaces into argv (pointers into buf). Returns the count. */
static int split_words(const char *text, char *buf, size_t cap, char **argv,
                       int max)
{
    int n = 0;
    char *s;
    snprintf(buf, cap, "%s", text);
    s = buf;
    while (*s != '\0' && n < max) {
        while (*s == ' ') {
            *s++ = '\0';
        }
        if (*s == '\0') {
            break;
        }
        argv[n++] = s;
        while (*s != '\0' && *s != ' ') {
            s++;
        }
    }
    return n;
}

/* Fills c's ident from the compiler program itself, without running it:
 * its resolved path (PATH searched as posix_spawnp does) and the device,
 * inode, size and modification time of the file, so an upgraded compiler
 * gets new keys. Running `<cc> --version` instead cost 2-4 ms in every new
 * process, which alone would exceed the warm-start budget. A program not
 * found is broken at once. */
static void probe_version(compiler *c)
{
    char words[256], path[PATH_MAX];
    char *argv[MAX_CC_WORDS + 2];
    int n = split_words(c->cc, words, sizeof words, argv, MAX_CC_WORDS);
    struct stat st;
    if (n == 0) {
        c->state = CC_BROKEN;
        snprintf(c->why, sizeof c->why, "KILN_CC is blank");
        return;
    }
    if (!find_program(argv[0], path, sizeof path, &st)) {
        c->state = CC_BROKEN;
        snprintf(c->why, sizeof c->why,
                 "cannot run C compiler %s: not found", argv[0]);
        return;
    }
    snprintf(c->path, sizeof c->path, "%s", path);
    say(c->ident, sizeof c->ident, "%s:%llu:%llu:%lld:%lld.%09ld", path,
        (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
        (long long)st.st_size, (long long)st.st_mtim.tv_sec,
        (long)st.st_mtim.tv_nsec);
    c->state = CC_UNTRIED;
}

/* Copies the record for the current $KILN_CC into *out, making it first. */
static void compiler_get(compiler *out)
{
    const char *cc = kiln__env_str(KILN_ENV_CC);
    compiler *c;
    pthread_mutex_lock(&cc_lock);
    for (c = compilers; c != NULL; c = c->next) {
        if (strcmp(c->cc, cc) == 0) {
            break;
        }
    }
    if (c == NULL && (c = calloc(1, sizeof *c)) != NULL) {
        snprintf(c->cc, sizeof c->cc, "%s", cc);
        if (strlen(cc) >= sizeof c->cc) {
            c->state = CC_BROKEN;
            snprintf(c->why, sizeof c->why, "KILN_CC is too long");
        } else {
            probe_version(c);
        }
        c->next = compilers;
        compilers = c;
    }
    if (c != NULL) {
        *out = *c;
    } else {
        memset(out, 0, sizeof *out);
        out->state = CC_BROKEN;
        snprintf(out->why, sizeof out->why, "out of memory");
    }
    pthread_mutex_unlock(&cc_lock);
}

static void compiler_set(const char *cc, int state, const char *why)
{
    pthread_mutex_lock(&cc_lock);
    for (compiler *c = compilers; c != NULL; c = c->next) {
        if (strcmp(c->cc, cc) == 0) {
            c->state = state;
            snprintf(c->why, sizeof c->why, "%s", why);
        }
    }
    pthread_mutex_unlock(&cc_lock);
}

/* ---------------------------------------------------------------------- */
/* The key                                                                */

static kiln_digest base_digest;
static pthread_once_t base_once = PTHREAD_ONCE_INIT;

/* The CPU's feature list (x86 "flags", ARM "Features"), hashed into d. */
static void add_cpu_features(kiln_digest *d)
{
    char line[8192];
    FILE *f = fopen("/proc/cpuinfo", "r");
    int found = 0;
    if (f != NULL) {
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "flags", 5) == 0 ||
                strncmp(line, "Features", 8) == 0) {
                kiln__diskcache_digest_add(d, line, strlen(line));
                found = 1;
                break;
            }
        }
        fclose(f);
    }
    if (!found) {
        kiln__diskcache_digest_add(d, "unknown cpu", 11);
    }
}

static void make_base_digest(void)
{
    kiln__diskcache_digest_init(&base_digest);
    kiln__diskcache_digest_add(&base_digest, "kiln-jit 1", 10);
    kiln__diskcache_digest_add(&base_digest, kiln__preamble,
                               (size_t)kiln__preamble_len);
    for (int i = 0; i < NFLAGS; i++) {
        kiln__diskcache_digest_add(&base_digest, cc_flags[i],
                                   strlen(cc_flags[i]));
    }
    add_cpu_features(&base_digest);
}

static void make_key(const compiler *c, const char *source, size_t len,
                     char key[KILN_DIGEST_HEX])
{
    kiln_digest d;
    pthread_once(&base_once, make_base_digest);
    d = base_digest;
    kiln__diskcache_digest_add(&d, c->cc, strlen(c->cc));
    kiln__diskcache_digest_add(&d, c->ident, strlen(c->ident));
    kiln__diskcache_digest_add(&d, source, len);
    kiln__diskcache_digest_hex(&d, key);
}

/* ---------------------------------------------------------------------- */
/* Memory cache and stats                                                 */

enum { LIB_BUILDING, LIB_READY, LIB_FAILED };

struct kiln_jit_lib {
    kiln_jit_lib *next; /* in its bucket, while in_map */
    char key[KILN_DIGEST_HEX];
    int refs;
    int state; /* LIB_* */
    int in_map;
    void *handle;
    int fd; /* the descriptor handle was loaded through, or -1 */
    kiln_status err; /* LIB_FAILED: for the threads that waited */
    char *msg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t built = PTHREAD_COND_INITIALIZER;
static kiln_jit_lib *buckets[NBUCKETS];
static kiln_jit_stats stats;

static kiln_jit_lib **bucket_of(const char *key)
{
    /* the key is hex digits from a mixed digest: any two will do */
    return &buckets[((unsigned char)key[0] * 31u + (unsigned char)key[1]) %
                    NBUCKETS];
}

/* Unlinks lib from the map (lock held). */
static void unmap(kiln_jit_lib *lib)
{
    kiln_jit_lib **p = bucket_of(lib->key);
    while (*p != NULL && *p != lib) {
        p = &(*p)->next;
    }
    if (*p == lib) {
        *p = lib->next;
    }
    lib->in_map = 0;
}

static void count(int64_t *field)
{
    pthread_mutex_lock(&lock);
    (*field)++;
    pthread_mutex_unlock(&lock);
}

void kiln__jit_stats(kiln_jit_stats *out)
{
    if (out == NULL) {
        return;
    }
    pthread_mutex_lock(&lock);
    *out = stats;
    pthread_mutex_unlock(&lock);
}

kiln_jit_lib *kiln__jit_retain(kiln_jit_lib *lib)
{
    if (lib != NULL) {
        pthread_mutex_lock(&lock);
        lib->refs++;
        pthread_mutex_unlock(&lock);
    }
    return lib;
}

void kiln__jit_release(kiln_jit_lib *lib)
{
    if (lib == NULL) {
        return;
    }
    pthread_mutex_lock(&lock);
    if (--lib->refs > 0) {
        pthread_mutex_unlock(&lock);
        return;
    }
    if (lib->in_map) {
        unmap(lib);
    }
    pthread_mutex_unlock(&lock);
    if (lib->handle != NULL) {
        dlclose(lib->handle);
    }
    if (lib->fd >= 0) {
        close(lib->fd);
    }
    free(lib->msg);
    free(lib);
}

/* Takes every entry in `state` out of the map (lock held, or no other
 * thread); their holders keep them. */
static void unmap_state(int state)
{
    for (int i = 0; i < NBUCKETS; i++) {
        kiln_jit_lib **p = &buckets[i];
        while (*p != NULL) {
            kiln_jit_lib *lib = *p;
            if ((int)lib->state == state) {
                *p = lib->next;
                lib->in_map = 0;
            } else {
                p = &lib->next;
            }
        }
    }
}

/* The child of a fork: the threads that were building (in the parent)
 * are not here, so their entries would never finish; the child forgets
 * them and builds again if it needs them. Locks are made fresh, as
 * another thread may have held one at the fork. */
static void after_fork_child(void)
{
    pthread_mutex_init(&spawn_lock, NULL);
    pthread_mutex_init(&cc_lock, NULL);
    pthread_mutex_init(&lock, NULL);
    pthread_cond_init(&built, NULL);
    unmap_state(LIB_BUILDING);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void register_fork(void)
{
    (void)pthread_atfork(NULL, NULL, after_fork_child);
}

void kiln__jit_forget_memory(void)
{
    pthread_mutex_lock(&lock);
    unmap_state(LIB_READY);
    pthread_mutex_unlock(&lock);
    pthread_mutex_lock(&cc_lock);
    while (compilers != NULL) {
        compiler *c = compilers;
        compilers = c->next;
        free(c);
    }
    pthread_mutex_unlock(&cc_lock);
}

const char *kiln__jit_cache_dir(void)
{
    static _Thread_local char buf[4096];
    return kiln__diskcache_path(buf, sizeof buf);
}

/* ---------------------------------------------------------------------- */
/* Building                                                               */

/* The outcome of one build, filled for the caller and the waiters. */
typedef struct outcome {
    kiln_status err;
    char msg[WHY_CAP];
} outcome;

static int write_file(const char *path, const char *const *parts,
                      const size_t *lens, int nparts)
{
    FILE *f = fopen(path, "wbx");
    int ok = f != NULL;
    for (int i = 0; ok && i < nparts; i++) {
        ok = fwrite(parts[i], 1, lens[i], f) == lens[i];
    }
    if (f != NULL && fclose(f) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

/* Compiles preamble + source (+ the key symbol) in a private folder. On
   success (returns 0) the library is stored in the disk cache when dirfd
   >= 0 and loaded into lib; else returns the compiler's exit status (-1, -2
   as run_capture) with its output in out, or -3 with a reason in out for a
   failure of kiln's own. */
static int compile(const compiler *c, const char *source, size_t len,
                   kiln_jit_lib *lib, int dirfd, char *out, size_t cap)
{
    static const char *const names[] = {"kernel.c", "kernel.so", NULL};
    char dir[1024], src[1100], so[1100], words[256], keyline[128];
    char *argv[MAX_CC_WORDS + NFLAGS + 5];
    const char *parts[5];
    size_t lens[5];
    unsigned char *bytes = NULL;
    double t0;
    int n, rc = -3, fd;
    if (kiln__diskcache_mktemp(dir, sizeof dir, out, cap) != 0) {
        return -3;
    }
    snprintf(src, sizeof src, "%s/kernel.c", dir);
    snprintf(so, sizeof so, "%s/kernel.so", dir);
    snprintf(keyline, sizeof keyline,
             "\n__attribute__((visibility(\"default\"))) const char "
             "%s[] = \"%s\";\n", KEYSYM, lib->key);
    parts[0] = kiln__preamble;
    lens[0] = (size_t)kiln__preamble_len;
    parts[1] = "\n#line 1 \"kernel.c\"\n";
    lens[1] = strlen(parts[1]);
    parts[2] = source;
    lens[2] = len;
    parts[3] = keyline;
    lens[3] = strlen(keyline);
    if (write_file(src, parts, lens, 4) != 0) {
        snprintf(out, cap, "cannot write %s", src);
        goto done;
    }
    n = split_words(c->cc, words, sizeof words, argv, MAX_CC_WORDS);
    if (n > 0) {
        argv[0] = (char *)c->path; /* the program the key names */
    }
    for (int i = 0; i < NFLAGS; i++) {
        argv[n++] = (char *)cc_flags[i];
    }
    argv[n++] = "-o";
    argv[n++] = so;
    argv[n++] = src;
    argv[n] = NULL;
    t0 = kiln__clock_ms();
    rc = run_capture(argv, out, cap, out, cap);
    pthread_mutex_lock(&lock);
    stats.compile_ms += kiln__clock_ms() - t0;
    pthread_mutex_unlock(&lock);
    if (rc != 0) {
        goto done;
    }
    rc = -3;
    fd = open(so, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(out, cap, "the compiler wrote no %s", so);
        goto done;
    }
    if (dirfd >= 0) {
        off_t size = lseek(fd, 0, SEEK_END);
        if (size > 0 && (bytes = malloc((size_t)size)) != NULL &&
            pread(fd, bytes, (size_t)size, 0) == (ssize_t)size) {
            kiln__diskcache_store(dirfd, lib->key, bytes, (size_t)size);
        }
        free(bytes);
    }
    lib->handle = kiln__diskcache_dlopen(fd, lib->key, KEYSYM, out, cap);
    if (lib->handle == NULL) {
        close(fd);
        goto done;
    }
    lib->fd = fd;
    rc = 0;
done:
    kiln__diskcache_rmtemp(dir, names);
    return rc;
}

static void no_compiler(outcome *o, kiln_jit_mode mode, const char *fn,
                        const compiler *c)
{
    if (mode == KILN_JIT_MODE_REQUIRE) {
        o->err = KILN_ERR_RUNTIME;
        say(o->msg, sizeof o->msg,
            "[%s] KILN_JIT=require but no working C compiler "
            "(KILN_CC=%s): %s",
            fn, c->cc, c->why);
    } else {
        o->err = KILN_ERR_UNSUPPORTED;
        say(o->msg, sizeof o->msg,
            "[%s] no working C compiler (KILN_CC=%s): %s", fn, c->cc,
            c->why);
    }
}

/* Loads lib from the disk cache open on dirfd. Returns 1 when found and
   verified; a refused file is counted and left to be rebuilt. */
static int load_disk(kiln_jit_lib *lib, int dirfd)
{
    char why[WHY_CAP];
    kiln_diskcache_result r = kiln__diskcache_load(
        dirfd, lib->key, KEYSYM, &lib->handle, &lib->fd, why, sizeof why);
    if (r == KILN_DISKCACHE_LOADED) {
        count(&stats.disk_hits);
        return 1;
    }
    if (r == KILN_DISKCACHE_REJECTED) {
        count(&stats.rejected);
        log_compile("rejected cached kernel, rebuilding: %s", why);
    }
    return 0;
}

/* 1 when the compiler c compiles the preamble with an empty kernel; else 0
   with the reason in why. */
static int compiler_works(const compiler *c, char *why, size_t cap)
{
    kiln_jit_lib probe;
    char out[OUT_CAP];
    int rc;
    memset(&probe, 0, sizeof probe);
    probe.fd = -1;
    snprintf(probe.key, sizeof probe.key, "probe");
    rc = compile(c, "", 0, &probe, -1, out, sizeof out);
    if (probe.handle != NULL) {
        dlclose(probe.handle);
        close(probe.fd);
    }
    if (rc != 0) {
        say(why, cap, "it fails on an empty kernel (status %d): %s", rc, out);
    }
    return rc == 0;
}

/* Compiles and loads lib, storing it on disk when dirfd >= 0. Returns 0,
   or -1 with o filled: the compiler's own failure (cannot start, or fails
   on the probe) is "no compiler" and remembered in its record; a failure on
   this source only is KILN_ERR_RUNTIME with the compiler's messages. */
static int compile_kernel(kiln_jit_lib *lib, compiler *c, const char *source,
                          size_t len, kiln_jit_mode mode, const char *fn,
                          int dirfd, outcome *o)
{
    char out[OUT_CAP];
    int rc = compile(c, source, len, lib, dirfd, out, sizeof out);
    if (rc == 0) {
        count(&stats.builds);
        if (c->state == CC_UNTRIED) {
            compiler_set(c->cc, CC_WORKS, "");
        }
        return 0;
    }
    if (rc == -3) {
        /* kiln's own trouble (temporary folder, dlopen): neither the
           compiler's fault nor the source's */
        o->err = mode == KILN_JIT_MODE_REQUIRE ? KILN_ERR_RUNTIME
                                               : KILN_ERR_UNSUPPORTED;
        say(o->msg, sizeof o->msg, "[%s] cannot load compiled kernel: %s",
            fn, out);
        return -1;
    }
    count(&stats.failures);
    if (rc == -2 || (c->state == CC_UNTRIED &&
                     !compiler_works(c, out, sizeof out))) {
        say(c->why, sizeof c->why, "%s", out);
        compiler_set(c->cc, CC_BROKEN, c->why);
        no_compiler(o, mode, fn, c);
        return -1;
    }
    compiler_set(c->cc, CC_WORKS, "");
    o->err = KILN_ERR_RUNTIME;
    say(o->msg, sizeof o->msg,
        "[%s] the C compiler (%s) rejected the kernel (status %d):\n%s", fn,
        c->cc, rc, out);
    return -1;
}

/* Fills lib (handle, fd) from the disk cache or the compiler; *did_build
   says whether the compiler produced it. Returns 0, or -1 with o filled. */
static int build(kiln_jit_lib *lib, compiler *c, const char *source,
                 size_t len, kiln_jit_mode mode, const char *fn,
                 int *did_build, outcome *o)
{
    char path[4096], why[WHY_CAP];
    int dirfd, rc = 0;
    dirfd = kiln__diskcache_open(kiln__diskcache_path(path, sizeof path), why,
                                 sizeof why);
    if (dirfd < 0) {
        log_compile("not using the disk cache: %s", why);
    }
    if (dirfd < 0 || !load_disk(lib, dirfd)) {
        double t0 = kiln__clock_ms();
        rc = compile_kernel(lib, c, source, len, mode, fn, dirfd, o);
        *did_build = rc == 0;
        log_compile("compiled kernel %s in %.1f ms%s", lib->key,
                    kiln__clock_ms() - t0, rc == 0 ? "" : " (failed)");
    }
    if (dirfd >= 0) {
        close(dirfd);
    }
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                */

kiln_jit_lib *kiln__jit_load(const char *source, size_t len, int nsyms,
                             const char *const *syms, void **fns,
                             int *built_out, const char *fn)
{
    kiln_jit_mode mode = kiln__jit_mode();
    compiler c;
    outcome o;
    kiln_jit_lib *lib, **b;
    char key[KILN_DIGEST_HEX];
    int did_build = 0, rc;
    if (built_out != NULL) {
        *built_out = 0;
    }
    if (source == NULL || nsyms < 0 || (nsyms > 0 && (syms == NULL ||
                                                      fns == NULL))) {
        kiln__err(KILN_ERR_VALUE, "[%s] bad arguments to the JIT", fn);
        return NULL;
    }
    if (mode == KILN_JIT_MODE_OFF) {
        kiln__err(KILN_ERR_UNSUPPORTED, "[%s] compiling is off (KILN_JIT=0)",
                  fn);
        return NULL;
    }
    pthread_once(&fork_once, register_fork);
    compiler_get(&c);
    if (c.state == CC_BROKEN) {
        no_compiler(&o, mode, fn, &c);
        kiln__err(o.err, "%s", o.msg);
        return NULL;
    }
    make_key(&c, source, len, key);

    pthread_mutex_lock(&lock);
    b = bucket_of(key);
    for (lib = *b; lib != NULL && strcmp(lib->key, key) != 0;
         lib = lib->next) {
    }
    if (lib != NULL) {
        lib->refs++;
        while (lib->state == LIB_BUILDING) {
            pthread_cond_wait(&built, &lock);
        }
        if (lib->state == LIB_FAILED) {
            kiln__err(lib->err, "%s", lib->msg != NULL ? lib->msg : "");
            pthread_mutex_unlock(&lock);
            kiln__jit_release(lib);
            return NULL;
        }
        stats.memory_hits++;
        pthread_mutex_unlock(&lock);
        goto resolve;
    }
    lib = calloc(1, sizeof *lib);
    if (lib == NULL) {
        pthread_mutex_unlock(&lock);
        kiln__err_oom(fn, sizeof *lib);
        return NULL;
    }
    memcpy(lib->key, key, sizeof key);
    lib->refs = 1;
    lib->state = LIB_BUILDING;
    lib->fd = -1;
    lib->in_map = 1;
    lib->next = *b;
    *b = lib;
    pthread_mutex_unlock(&lock);

    rc = build(lib, &c, source, len, mode, fn, &did_build, &o);

    pthread_mutex_lock(&lock);
    if (rc == 0) {
        lib->state = LIB_READY;
    } else {
        lib->state = LIB_FAILED;
        lib->err = o.err;
        lib->msg = strdup(o.msg);
        unmap(lib);
    }
    pthread_cond_broadcast(&built);
    pthread_mutex_unlock(&lock);
    if (rc != 0) {
        kiln__err(o.err, "%s", o.msg);
        kiln__jit_release(lib);
        return NULL;
    }

resolve:
    for (int i = 0; i < nsyms; i++) {
        fns[i] = dlsym(lib->handle, syms[i]);
        if (fns[i] == NULL) {
            kiln__err(KILN_ERR_RUNTIME,
                      "[%s] the compiled kernel has no symbol '%s'", fn,
                      syms[i]);
            kiln__jit_release(lib);
            return NULL;
        }
    }
    if (built_out != NULL) {
        *built_out = did_build;
    }
    return lib;
}
