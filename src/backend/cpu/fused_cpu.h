/*
 * fused_cpu.h - evaluation of the fused region primitive (prim/compiled.c).
 */
#ifndef KILN_CPU_FUSED_CPU_H
#define KILN_CPU_FUSED_CPU_H

#include "../../core/array.h"

kiln_status kiln__cpu_eval_fused(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out);

#endif
