/*
 * compiled.h - the fused region primitive's params (prim/compiled.c),
 * shared with compile (which makes them) and the cpu backend (which runs
 * them, backend/cpu/fused_cpu.c).
 *
 * A kiln_fused is counted: the compiled graph holding the step, and every
 * node made from it at replay, hold a reference (params_retain/release),
 * so a pending node survives the eviction of its cache entry.
 */
#ifndef KILN_PRIM_COMPILED_H
#define KILN_PRIM_COMPILED_H

#include <stdatomic.h>
#include <stdbool.h>

#include "../compile/region.h"

typedef struct kiln_fused {
    atomic_int rc;
    kiln_region *region; /* owned */
    /* NULL: the interpreter runs the region. Set once, by
     * kiln__fused_publish, possibly from a background build (compile/
     * jobs.c) while nodes run: read it with kiln__fused_kernel. */
    _Atomic(kiln_region_kernel) kernel;
    /* 1 while a background build may still publish a kernel */
    atomic_int pending;
    /* what keeps `kernel`'s code loaded (the JIT library), released with
     * the last reference; NULL when none; written before `kernel` */
    void *owner;
    void (*owner_release)(void *owner);
} kiln_fused;

typedef struct kiln_fused_params {
    kiln_fused *fused;
} kiln_fused_params;

/* A fused object owning region r (refcount 1); NULL when out of memory
 * (r is then freed). */
kiln_fused *kiln__fused_new(kiln_region *r);
void kiln__fused_retain(kiln_fused *f);
/* NULL is a no-op. */
void kiln__fused_release(kiln_fused *f);

/* The kernel to run now (acquire), or NULL for the interpreter. When a
 * background build is pending and `wait` is set, first waits for it to
 * finish (the caller judged the interpreter slower than the wait). */
kiln_region_kernel kiln__fused_kernel(kiln_fused *f, bool wait);

/* In a forked child (which has none of the build threads): fresh locks
 * for the waiters; compile/jobs.c then publishes NULL to what was
 * pending. */
void kiln__fused_after_fork(void);

/* Marks f as waiting for a background build (before the build starts). */
void kiln__fused_expect(kiln_fused *f);

/* Gives f its kernel (NULL: stays interpreted) and the owner keeping it
 * loaded, clears `pending` and wakes waiters. At most once per f. */
void kiln__fused_publish(kiln_fused *f, kiln_region_kernel k, void *owner,
                         void (*owner_release)(void *owner));

#endif
