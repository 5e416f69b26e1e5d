/*
 * codegen.h - turns a fused region (region.h) into the C source of one
 * kernel with the region kernel ABI (DESIGN.md 5.2 step 4).
 *
 * The source relies on the JIT preamble (half.h, vmath.h, scalar.h), which
 * jit.c puts in front of it; it names no primitive itself: every operation
 * comes from a primitive's emit facet (prim.h), so eager and compiled code
 * share one scalar meaning.
 */
#ifndef KILN_COMPILE_CODEGEN_H
#define KILN_COMPILE_CODEGEN_H

#include "kiln.h"
#include "region.h"
#include "text.h"

/* Appends to `out` the definition of
 *     void <symbol>(void *ctx, char *const *p, const int64_t *s, int64_t n)
 * implementing region r (external linkage, default visibility). symbol
 * must be a C identifier. Fails with KILN_ERR_VALUE when r breaks an
 * invariant of region.h (naming the value), KILN_ERR_UNSUPPORTED when a
 * primitive has no emit facet, KILN_ERR_MEMORY when `out` could not grow;
 * on failure `out` may hold a partial function (callers discard it). */
kiln_status kiln__codegen_region(const kiln_region *r, const char *symbol,
                                 kiln_text *out);

#endif
