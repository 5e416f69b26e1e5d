/*
 * env.h - the environment knobs: one list, read through one door.
 *
 * Every KILN_* environment variable the library honours is one entry of
 * KILN_ENV_LIST; the enum, the variable names, the defaults and the docs are
 * all generated from it, so a knob cannot exist without a default and a line
 * of documentation. Entries are X(NAME, "KILN_NAME", default, "doc").
 *
 * Invariants: nothing is cached; every read calls getenv (or, on a thread
 * that uses a copy of the environment, kiln__env_use, reads that copy), so
 * a test may setenv/unsetenv between calls. A variable set to the empty string counts as
 * unset (its default applies). Callers that need a value to stay fixed for the
 * life of an object (the pool's size) read it once themselves.
 */
#ifndef KILN_RUNTIME_ENV_H
#define KILN_RUNTIME_ENV_H

#define KILN_ENV_LIST(X)                                                  \
    X(NUM_THREADS, "KILN_NUM_THREADS", "",                                \
      "threads in the pool; empty means one per online core")             \
    X(JIT, "KILN_JIT", "1",                                               \
      "1 compiles kernels with the C compiler, 0 never, require fails "   \
      "without one")                                                      \
    X(JIT_ASYNC, "KILN_JIT_ASYNC", "1",                                   \
      "1 compiles kernels in the background while the first calls run "   \
      "in the interpreter, 0 waits for the compiler")                     \
    X(CC, "KILN_CC", "cc", "the C compiler used by the JIT")              \
    X(CACHE_DIR, "KILN_CACHE_DIR", "",                                    \
      "kernel cache folder; empty means $XDG_CACHE_HOME/kiln/<version>")  \
    X(LOG, "KILN_LOG", "",                                                \
      "comma-separated log topics, e.g. compile")                         \
    X(DISABLE_COMPILE, "KILN_DISABLE_COMPILE", "0",                       \
      "1 makes every compiled function call its body directly")           \
    X(GEMM, "KILN_GEMM", "kiln",                                          \
      "kiln: float32 products in its measured envelope use kiln's own "   \
      "GEMM, float16/bfloat16 ones with one row or column its gemv; "     \
      "always: every float32 product takes the GEMM; blas: none of them " \
      "(CBLAS where built with it, else kiln's loops)")                   \
    X(POOL_LIMIT, "KILN_POOL_LIMIT", "",                                  \
      "bytes of idle buffers the recycling pool may keep; empty means a " \
      "quarter of physical memory (read by core/buffer.c itself)")

typedef enum kiln_env_knob {
#define KILN_ENV_ENUM(name, var, dflt, doc) KILN_ENV_##name,
    KILN_ENV_LIST(KILN_ENV_ENUM)
#undef KILN_ENV_ENUM
    KILN_ENV_COUNT
} kiln_env_knob;

/* The knob's value: the variable's text when it is set and not empty, else
   the default from the list. Never NULL; "" for an out-of-range k. The string
   belongs to the environment or to static storage: copy it before the next
   setenv. */
const char *kiln__env_str(kiln_env_knob k);

/* The knob's value as a base-10 integer (surrounding blanks allowed). Returns
   dflt when the value (or, when unset, the default) is empty, has any other
   characters, or overflows long long. */
long long kiln__env_int(kiln_env_knob k, long long dflt);

/* The variable's name ("KILN_CC") and its one-line doc; "" when out of
   range. Static strings. */
const char *kiln__env_name(kiln_env_knob k);
const char *kiln__env_doc(kiln_env_knob k);

/* A copy of the whole environment, for a thread that must not read the
 * live one: a background build runs while the caller's other threads may
 * call setenv, and getenv/setenv (or a spawn reading environ) are not
 * safe together. Taken on the thread that starts the work. */
typedef struct kiln_env_copy kiln_env_copy;
/* The current environment copied; NULL when out of memory. */
kiln_env_copy *kiln__env_copy(void);
void kiln__env_copy_free(kiln_env_copy *c);
/* Makes the calling thread read c from now on (NULL: the live environment
 * again); c must outlive that use. */
void kiln__env_use(const kiln_env_copy *c);
/* getenv(name), from the thread's copy when it uses one. */
const char *kiln__env_get(const char *name);
/* The environment to give a child process: the thread's copy, or the
 * live one. */
char *const *kiln__env_block(void);

#endif
