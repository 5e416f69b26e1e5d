/*
 * fn.h - functions as values (kiln_fn): the object every transform takes
 * and returns.
 *
 * Invariants: a kiln_fn is immutable after creation except for its
 * compile cache pointer, which compile/cache.c creates once (under its
 * lock) and frees when the function dies; the body may run on any thread.
 */
#ifndef KILN_TRANSFORMS_FN_H
#define KILN_TRANSFORMS_FN_H

#include <stdatomic.h>

#include "kiln.h"

struct kiln_fcache; /* compile/cache.c */

struct kiln_fn {
    atomic_int rc;
    kiln_fn_body body;
    void *ctx;
    void (*dtor)(void *ctx);
    char *name;
    struct kiln_fcache *_Atomic cache;
};

/* Runs f's body on args into a new list (no compile logic): the raw call
 * every transform uses. NULL with an error on failure. */
kiln_list *kiln__fn_run(kiln_fn *f, const kiln_list *args);

/* Set by compile/cache.c: frees a function's compile cache. */
extern void (*kiln__fn_cache_free)(struct kiln_fcache *c);

#endif
