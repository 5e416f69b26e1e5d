/*
 * fused_cpu.h - evaluation of the fused region primitive (prim/compiled.c).
 */
#ifndef KILN_CPU_FUSED_CPU_H
#define KILN_CPU_FUSED_CPU_H

#include "../../core/array.h"

struct kiln_region;

kiln_status kiln__cpu_eval_fused(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out);

/* The pool's grain (elements, or rows) for region r, from the grain that
 * suits one cheap op: finer in proportion to the work r does per element
 * (kiln_emit.cost summed over its ops); at least 1. */
int64_t kiln__fused_grain(const struct kiln_region *r, int64_t grain);

#endif
