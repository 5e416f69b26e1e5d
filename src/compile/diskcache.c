/*
 * diskcache.c - the verified on-disk cache of compiled kernels.
 *
 * See diskcache.h for the file format and the checks. The JIT (jit.c)
 * decides when to look here and when to store; this file only knows folders,
 * files, digests and dlopen.
 */
#include "diskcache.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "../runtime/env.h"

/* The cache layout version: part of the default folder's name, so a kiln
   whose cache format or ABI changes starts afresh. */
#define KILN_CACHE_VERSION "0.1"

/* No library kiln generates comes near this; a bigger file is refused. */
#define MAX_LIB_BYTES ((size_t)256 << 20)
#define SUM_CAP 128

/* ---------------------------------------------------------------------- */
/* Digest                                                                 */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

void kiln__diskcache_digest_hex(const kiln_digest *d,
                                char out[KILN_DIGEST_HEX])
{
    uint64_t a = mix64(d->a ^ kiln__diskcache_rotl(d->b, 17));
    uint64_t b = mix64(d->b + a);
    snprintf(out, KILN_DIGEST_HEX, "%016llx%016llx", (unsigned long long)a,
             (unsigned long long)b);
}

/* ---------------------------------------------------------------------- */
/* Folder                                                                 */

const char *kiln__diskcache_path(char *buf, size_t cap)
{
    const char *dir = kiln__env_str(KILN_ENV_CACHE_DIR);
    const char *xdg = kiln__env_get("XDG_CACHE_HOME");
    const char *home = kiln__env_get("HOME");
    int n = -1;
    if (dir[0] != '\0') {
        n = snprintf(buf, cap, "%s", dir);
    } else if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(buf, cap, "%s/kiln/%s", xdg, KILN_CACHE_VERSION);
    } else if (home != NULL && home[0] != '\0') {
        n = snprintf(buf, cap, "%s/.cache/kiln/%s", home, KILN_CACHE_VERSION);
    }
    if (n < 0 || (size_t)n >= cap) {
        buf[0] = '\0';
    }
    return buf;
}

/* mkdir -p with mode 0700 for what it creates; failures show when the
   folder is opened. */
static void make_parents(const char *path)
{
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (p == NULL) {
        return;
    }
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0700) != 0 && errno != EEXIST) {
                p[i] = c;
                break;
            }
            p[i] = c;
        }
    }
    free(p);
}

int kiln__diskcache_open(const char *path, char *why, size_t cap)
{
    struct stat st;
    int fd;
    if (path[0] == '\0') {
        snprintf(why, cap, "no cache folder (set KILN_CACHE_DIR or HOME)");
        return -1;
    }
    make_parents(path);
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, cap, "cannot open cache folder %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
        snprintf(why, cap, "cache folder %s is not a folder", path);
    } else if (st.st_uid != geteuid()) {
        snprintf(why, cap, "cache folder %s belongs to uid %ld, not to us",
                 path, (long)st.st_uid);
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        snprintf(why, cap, "cache folder %s is writable by others (mode %03o)",
                 path, (unsigned)(st.st_mode & 0777));
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Files                                                                  */

/* Opens name in dirfd for reading if it is a regular file of ours that
   others cannot write. Returns the descriptor (size in *size), -2 when it
   does not exist, -1 when refused (reason in why). */
static int open_checked(int dirfd, const char *name, size_t *size,
                        char *why, size_t cap)
{
    struct stat st;
    int fd = openat(dirfd, name,
                    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) {
            return -2;
        }
        snprintf(why, cap, "%s: cannot open: %s", name, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, cap, "%s: not a regular file", name);
    } else if (st.st_uid != geteuid()) {
        snprintf(why, cap, "%s: owned by uid %ld", name, (long)st.st_uid);
    } else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        snprintf(why, cap, "%s: writable by others (mode %03o)", name,
                 (unsigned)(st.st_mode & 0777));
    } else if ((uint64_t)st.st_size > MAX_LIB_BYTES) {
        snprintf(why, cap, "%s: too large", name);
    } else {
        *size = (size_t)st.st_size;
        return fd;
    }
    close(fd);
    return -1;
}

/* Reads exactly n bytes at offset 0. Returns 0, or -1. */
static int read_all(int fd, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, (char *)buf + done, n - done, (off_t)done);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

/* Writes name in dirfd atomically: a fresh temporary file, fsync, rename.
   Returns 0, or -1 (the temporary file removed). */
static int write_atomic(int dirfd, const char *name, const void *bytes,
                        size_t n)
{
    static atomic_uint counter;
    char tmp[256];
    int fd = -1;
    for (int tries = 0; tries < 8 && fd < 0; tries++) {
        unsigned c = atomic_fetch_add(&counter, 1);
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", name, (long)getpid(), c);
        fd = openat(dirfd, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    0600);
        if (fd < 0 && errno != EEXIST) {
            return -1;
        }
    }
    if (fd < 0) {
        return -1;
    }
    if (write_all(fd, bytes, n) != 0 || fsync(fd) != 0) {
        goto fail_open;
    }
    if (close(fd) != 0) {
        goto fail_closed;
    }
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        goto fail_closed;
    }
    return 0;
fail_open:
    close(fd);
fail_closed:
    unlinkat(dirfd, tmp, 0);
    return -1;
}

int kiln__diskcache_store(int dirfd, const char *key, const void *bytes,
                          size_t n)
{
    char name[64], sum[SUM_CAP], hex[KILN_DIGEST_HEX];
    kiln_digest d;
    int len;
    kiln__diskcache_digest_init(&d);
    kiln__diskcache_digest_add(&d, bytes, n);
    kiln__diskcache_digest_hex(&d, hex);
    len = snprintf(sum, sizeof sum, "%zu %s\n", n, hex);
    snprintf(name, sizeof name, "%s.so", key);
    if (write_atomic(dirfd, name, bytes, n) != 0) {
        return -1;
    }
    snprintf(name, sizeof name, "%s.sum", key);
    return write_atomic(dirfd, name, sum, (size_t)len);
}

/* ---------------------------------------------------------------------- */
/* Loading                                                                */

/* 1 when keysym in h holds key. */
static int key_matches(void *h, const char *key, const char *keysym)
{
    const char *k = dlsym(h, keysym);
    return k != NULL && strcmp(k, key) == 0;
}

static void set_dlerror(char *why, size_t cap, const char *what)
{
    const char *e = dlerror();
    snprintf(why, cap, "%s: %s", what, e != NULL ? e : "unknown error");
}

/* Without /proc: copies the library into a private folder and loads it
   from there (the path is fresh, so it names no other live library). */
static void *dlopen_copy(int fd, char *why, size_t cap)
{
    static const char *const names[] = {"lib.so", NULL};
    char dir[512], path[600];
    struct stat st;
    void *h = NULL, *bytes;
    int out;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > MAX_LIB_BYTES) {
        snprintf(why, cap, "cannot read the library");
        return NULL;
    }
    bytes = malloc((size_t)st.st_size + 1);
    if (bytes == NULL || read_all(fd, bytes, (size_t)st.st_size) != 0) {
        snprintf(why, cap, "cannot read the library");
        free(bytes);
        return NULL;
    }
    if (kiln__diskcache_mktemp(dir, sizeof dir, why, cap) != 0) {
        free(bytes);
        return NULL;
    }
    snprintf(path, sizeof path, "%s/lib.so", dir);
    out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0 || write_all(out, bytes, (size_t)st.st_size) != 0) {
        snprintf(why, cap, "cannot copy the library to %s", path);
    } else {
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            set_dlerror(why, cap, "dlopen");
        }
    }
    if (out >= 0) {
        close(out);
    }
    kiln__diskcache_rmtemp(dir, names);
    free(bytes);
    return h;
}

void *kiln__diskcache_dlopen(int fd, const char *key, const char *keysym,
                             char *why, size_t cap)
{
    char path[64];
    struct stat st;
    void *h;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (stat(path, &st) == 0) {
        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            set_dlerror(why, cap, "dlopen");
        }
    } else {
        h = dlopen_copy(fd, why, cap);
    }
    if (h != NULL && !key_matches(h, key, keysym)) {
        snprintf(why, cap, "the loaded library is not the one for key %s",
                 key);
        dlclose(h);
        h = NULL;
    }
    return h;
}

/* Reads and parses <key>.sum: "<size> <hex>\n". Returns 0, -2 absent, -1
   refused or malformed. */
static int read_sum(int dirfd, const char *key, size_t *size,
                    char hex[KILN_DIGEST_HEX], char *why, size_t cap)
{
    char name[64], text[SUM_CAP];
    unsigned long long sz;
    size_t n = 0;
    int fd, pos = 0;
    snprintf(name, sizeof name, "%s.sum", key);
    fd = open_checked(dirfd, name, &n, why, cap);
    if (fd < 0) {
        return fd;
    }
    if (n >= sizeof text || read_all(fd, text, n) != 0) {
        close(fd);
        snprintf(why, cap, "%s: unreadable", name);
        return -1;
    }
    close(fd);
    text[n] = '\0';
    if (sscanf(text, "%llu %32[0-9a-f]%n", &sz, hex, &pos) != 2 ||
        strlen(hex) != KILN_DIGEST_HEX - 1 || text[pos] != '\n' ||
        (size_t)pos + 1 != n) {
        snprintf(why, cap, "%s: malformed", name);
        return -1;
    }
    *size = (size_t)sz;
    return 0;
}

kiln_diskcache_result kiln__diskcache_load(int dirfd, const char *key,
                                           const char *keysym, void **handle,
                                           int *libfd, char *why, size_t cap)
{
    char name[64], want[KILN_DIGEST_HEX], got[KILN_DIGEST_HEX];
    size_t size = 0, sumsize = 0;
    unsigned char *bytes;
    kiln_digest d;
    void *h;
    int fd, rc;
    snprintf(name, sizeof name, "%s.so", key);
    fd = open_checked(dirfd, name, &size, why, cap);
    if (fd == -2) {
        return KILN_DISKCACHE_ABSENT;
    }
    if (fd < 0) {
        return KILN_DISKCACHE_REJECTED;
    }
    rc = read_sum(dirfd, key, &sumsize, want, why, cap);
    if (rc != 0) {
        if (rc == -2) {
            snprintf(why, cap, "%s: no checksum file", name);
        }
        goto rejected;
    }
    if (sumsize != size) {
        snprintf(why, cap, "%s: %zu bytes, checksum says %zu", name, size,
                 sumsize);
        goto rejected;
    }
    bytes = malloc(size + 1);
    if (bytes == NULL || read_all(fd, bytes, size) != 0) {
        free(bytes);
        snprintf(why, cap, "%s: unreadable", name);
        goto rejected;
    }
    kiln__diskcache_digest_init(&d);
    kiln__diskcache_digest_add(&d, bytes, size);
    kiln__diskcache_digest_hex(&d, got);
    free(bytes);
    if (strcmp(got, want) != 0) {
        snprintf(why, cap, "%s: checksum mismatch", name);
        goto rejected;
    }
    h = kiln__diskcache_dlopen(fd, key, keysym, why, cap);
    if (h == NULL) {
        goto rejected;
    }
    *handle = h;
    *libfd = fd;
    return KILN_DISKCACHE_LOADED;
rejected:
    close(fd);
    return KILN_DISKCACHE_REJECTED;
}

/* ---------------------------------------------------------------------- */
/* Private temporary folders                                              */

int kiln__diskcache_mktemp(char *buf, size_t cap, char *why, size_t wcap)
{
    const char *t = kiln__env_get("TMPDIR");
    int n;
    if (t == NULL || t[0] == '\0') {
        t = "/tmp";
    }
    n = snprintf(buf, cap, "%s/kiln-jit-XXXXXX", t);
    if (n < 0 || (size_t)n >= cap) {
        snprintf(why, wcap, "temporary folder path too long");
        return -1;
    }
    if (mkdtemp(buf) == NULL) {
        snprintf(why, wcap, "cannot make a temporary folder in %s: %s", t,
                 strerror(errno));
        return -1;
    }
    return 0;
}

void kiln__diskcache_rmtemp(const char *dir, const char *const *names)
{
    char path[1024];
    for (int i = 0; names[i] != NULL; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}
