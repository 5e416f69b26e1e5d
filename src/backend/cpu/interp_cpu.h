/*
 * interp_cpu.h - the fused-region interpreter: runs a kiln_region (see
 * compile/region.h) when no C compiler works, behind the same kernel ABI as
 * the compiled kernels, so the runtime (fused_cpu.c) cannot tell the two
 * apart.
 *
 * Layering: the cpu backend includes compile/region.h, which is a plain
 * data header (the region IR and the kernel ABI), not compiler code.
 */
#ifndef KILN_CPU_INTERP_CPU_H
#define KILN_CPU_INTERP_CPU_H

#include <stdint.h>

#include "../../compile/region.h"

/* What kiln__interp_run needs beyond the operands: the region, and for a
 * reduction region (nreduce > 0) the per-row layout (NULL for an
 * elementwise region). Read only; one context may serve many threads. */
typedef struct kiln_interp_ctx {
    const kiln_region *region;
    const kiln_region_inner *inner;
} kiln_interp_ctx;

/* A kiln_region_kernel (region.h) for any region: ctx is a
 * kiln_interp_ctx *. Elementwise results equal eager's bit for bit (the
 * same row kernels through each primitive's emit->chunk); reductions fold
 * in another order than eager (equal within rounding). Thread-safe: all
 * state lives in the call (scratch on the stack, or malloc'ed for large
 * regions). Cannot fail except by running out of memory, in which case
 * it writes nothing (the caller sees untouched outputs). */
void kiln__interp_run(void *ctx, char *const *p, const int64_t *s,
                      int64_t n);

#endif
