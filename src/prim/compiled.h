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

#include "../compile/region.h"

typedef struct kiln_fused {
    atomic_int rc;
    kiln_region *region;       /* owned */
    kiln_region_kernel kernel; /* NULL: the interpreter runs the region */
    /* what keeps `kernel`'s code loaded (the JIT library), released with
     * the last reference; NULL when none */
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

#endif
