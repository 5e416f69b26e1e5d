/*
 * jit.h - turns generated C into loaded machine code (DESIGN.md 5.2 step 5).
 *
 * The source given to kiln__jit_load holds only the kernels; the JIT puts
 * the preamble (kiln__preamble: half.h, vmath.h and scalar.h, embedded at
 * build time) in front of it, compiles with the system C compiler through
 * posix_spawn ($KILN_CC, else cc; flags fixed here: -O3 -march=native
 * -fno-math-errno -fPIC -shared, never -ffast-math), and dlopens the result.
 *
 * Caches, consulted in this order:
 * - in memory: a loaded library per key, shared by every caller;
 * - on disk: per user ($KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln/<version>,
 *   else $HOME/.cache/kiln/<version>), folders made with mode 0700; a file
 *   is named by the key, a hash of (preamble, source, compiler identity,
 *   flags, CPU features); it is written under a temporary name and renamed;
 *   before loading, the folder and the file must be owned by this user and
 *   not writable by group or others, and the file's content must match the
 *   checksum recorded when it was written; anything else is rebuilt, never
 *   loaded. Loading goes through the verified open descriptor, so the file
 *   cannot be swapped between the check and dlopen.
 *
 * Modes ($KILN_JIT, read at each call): "1" (default) compiles, and when no
 * compiler works reports KILN_ERR_UNSUPPORTED so the caller falls back to
 * the interpreter; "0" never compiles (same status, without trying);
 * "require" makes a missing or failing compiler a KILN_ERR_RUNTIME error.
 *
 * Thread safety: every function may be called from any thread; two threads
 * loading the same key build it once.
 */
#ifndef KILN_COMPILE_JIT_H
#define KILN_COMPILE_JIT_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

typedef struct kiln_jit_lib kiln_jit_lib;

typedef enum kiln_jit_mode {
    KILN_JIT_MODE_OFF,     /* KILN_JIT=0 */
    KILN_JIT_MODE_AUTO,    /* KILN_JIT=1 (default) */
    KILN_JIT_MODE_REQUIRE  /* KILN_JIT=require */
} kiln_jit_mode;

kiln_jit_mode kiln__jit_mode(void);

/* Compiles (or finds in a cache) `source` of `len` bytes and resolves the
 * nsyms symbols syms[] into fns[]. Returns a new reference to the loaded
 * library (the functions stay valid while a reference is held), or NULL
 * with an error named after fn: KILN_ERR_UNSUPPORTED when compiling is off
 * or no compiler works (mode 1/0: the caller interprets instead), else
 * KILN_ERR_RUNTIME with the compiler's messages (mode require, or a
 * compiler that runs but rejects the source). *built, when not NULL, is set
 * to 1 when this call ran the compiler, else 0. */
kiln_jit_lib *kiln__jit_load(const char *source, size_t len, int nsyms,
                             const char *const *syms, void **fns,
                             int *built, const char *fn);
kiln_jit_lib *kiln__jit_retain(kiln_jit_lib *lib);
/* The last reference dlcloses the library (NULL is a no-op). */
void kiln__jit_release(kiln_jit_lib *lib);

/* Figures since the process started. */
typedef struct kiln_jit_stats {
    int64_t builds;       /* compiler runs that succeeded */
    int64_t failures;     /* compiler runs that failed */
    int64_t disk_hits;    /* loaded from the verified disk cache */
    int64_t memory_hits;  /* found already loaded */
    int64_t rejected;     /* disk files refused (foreign, bad mode, bad
                             checksum) and rebuilt */
    double compile_ms;    /* wall time spent in the compiler */
} kiln_jit_stats;

void kiln__jit_stats(kiln_jit_stats *out);

/* The folder the disk cache uses now (for tests and messages); "" when none
 * can be determined. Static storage, overwritten by the next call. */
const char *kiln__jit_cache_dir(void);

/* Tests only: forgets the in-memory cache (libraries still referenced stay
 * valid until released) and the compiler probes, as a fresh process would;
 * the disk cache and the stats stay. */
void kiln__jit_forget_memory(void);

/* The preamble (build/gen/preamble.c). */
extern const char kiln__preamble[];
extern const unsigned long kiln__preamble_len;

#endif
