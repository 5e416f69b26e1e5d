/*
 * diskcache.h - the verified on-disk cache of compiled kernels (DESIGN.md
 * 5.2 step 5), and the 128-bit digest that names and checks its files.
 *
 * A cache entry is two files in the cache folder, both named by the key
 * (32 hex digits): <key>.so, the shared library, and <key>.sum, one line
 * "<size> <digest of the .so bytes>". Both are written under a temporary
 * name (<name>.tmp.<pid>.<n>), fsynced and renamed, so a reader sees a
 * whole file or none; the .so is renamed before the .sum, so a reader that
 * sees the two from different writers finds a mismatch and rebuilds.
 *
 * Invariants:
 * - the folder is used only when, opened, it is a directory owned by
 *   geteuid() and not writable by group or others; every file operation then
 *   goes through that descriptor (openat/renameat), so swapping the path
 *   afterwards changes nothing;
 * - a file is loaded only after it was opened with O_NOFOLLOW, found to be
 *   a regular file owned by geteuid() without group/other write, read whole
 *   through that descriptor and matched against its .sum; dlopen then goes
 *   through /proc/self/fd/<that descriptor>, so nothing can be swapped in
 *   between; without /proc, the verified bytes are copied into a private
 *   temporary folder and loaded from there;
 * - the descriptor behind a loaded library stays open while the library is
 *   loaded (glibc identifies loaded objects by path, and /proc/self/fd/<n>
 *   must not name two live libraries);
 * - nothing here aborts: every failure is a return value.
 *
 * The digest is not cryptographic: it detects corruption and keys the cache;
 * the ownership and mode checks are what keep other users out.
 */
#ifndef KILN_COMPILE_DISKCACHE_H
#define KILN_COMPILE_DISKCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* The digest: two independent 64-bit multiply-rotate lanes                */

typedef struct kiln_digest {
    uint64_t a, b;
} kiln_digest;

#define KILN_DIGEST_HEX 33 /* 32 hex digits and the NUL */

static inline uint64_t kiln__diskcache_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline void kiln__diskcache_digest_word(kiln_digest *d, uint64_t w)
{
    d->a = (d->a ^ w) * 0x100000001b3ULL;
    d->a ^= d->a >> 29;
    d->b = kiln__diskcache_rotl(d->b ^ (w * 0x9e3779b97f4a7c15ULL), 31);
    d->b = d->b * 0xc2b2ae3d27d4eb4fULL + 0x165667b19e3779f9ULL;
}

static inline void kiln__diskcache_digest_init(kiln_digest *d)
{
    d->a = 0xcbf29ce484222325ULL;
    d->b = 0x27d4eb2f165667c5ULL;
}

/* Adds one field: its length, then its bytes, so that a sequence of fields
   has one digest whatever their contents. */
static inline void kiln__diskcache_digest_add(kiln_digest *d, const void *p,
                                              size_t n)
{
    const unsigned char *s = p;
    uint64_t w;
    kiln__diskcache_digest_word(d, (uint64_t)n);
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        kiln__diskcache_digest_word(d, w);
    }
    w = 0;
    for (size_t i = 0; i < n; i++) {
        w |= (uint64_t)s[i] << (8 * i);
    }
    kiln__diskcache_digest_word(d, w ^ 0x8000000000000000ULL);
}

/* Writes the final 32 hex digits of d (finished with a mix) into out. */
void kiln__diskcache_digest_hex(const kiln_digest *d,
                                char out[KILN_DIGEST_HEX]);

/* ---------------------------------------------------------------------- */
/* The folder                                                             */

/* Writes the cache folder to use now into buf: $KILN_CACHE_DIR, else
   $XDG_CACHE_HOME/kiln/<version> (when absolute), else
   $HOME/.cache/kiln/<version>; "" when none applies or it does not fit.
   Returns buf. */
const char *kiln__diskcache_path(char *buf, size_t cap);

/* Creates the folder path (missing parts with mode 0700) and opens it.
   Returns a descriptor, or -1 with the reason in why when the folder cannot
   be made or must not be used (foreign owner, writable by group/others). */
int kiln__diskcache_open(const char *path, char *why, size_t cap);

/* ---------------------------------------------------------------------- */
/* Entries                                                                */

/* The outcome of kiln__diskcache_load. */
typedef enum kiln_diskcache_result {
    KILN_DISKCACHE_LOADED,  /* *handle and *libfd are set */
    KILN_DISKCACHE_ABSENT,  /* no <key>.so */
    KILN_DISKCACHE_REJECTED /* present but refused; why says why */
} kiln_diskcache_result;

/* Looks for key in the folder open on dirfd, verifies it as described
   above, dlopens it (RTLD_NOW | RTLD_LOCAL) and checks that the symbol
   keysym holds the string key (so the file is the library it claims to
   be). On success the caller owns *handle (dlclose) and *libfd (close after
   dlclose). */
kiln_diskcache_result kiln__diskcache_load(int dirfd, const char *key,
                                           const char *keysym, void **handle,
                                           int *libfd, char *why, size_t cap);

/* Stores n bytes as the library for key (and its .sum), atomically. Returns
   0, or -1 when something failed (the cache is then simply not filled). */
int kiln__diskcache_store(int dirfd, const char *key, const void *bytes,
                          size_t n);

/* dlopens the library open on fd (owned by the caller, kept open while the
   library is loaded) and checks keysym as kiln__diskcache_load does. Returns
   the handle, or NULL with the reason in why. */
void *kiln__diskcache_dlopen(int fd, const char *key, const char *keysym,
                             char *why, size_t cap);

/* ---------------------------------------------------------------------- */
/* Private temporary folders                                              */

/* Makes a fresh folder only this user can enter ($TMPDIR, else /tmp), its
   path written into buf. Returns 0, or -1 with the reason in why. */
int kiln__diskcache_mktemp(char *buf, size_t cap, char *why, size_t wcap);

/* Removes the named files (NULL-terminated list) from the folder made by
   kiln__diskcache_mktemp, then the folder. */
void kiln__diskcache_rmtemp(const char *dir, const char *const *names);

#endif
