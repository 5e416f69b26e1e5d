/*
 * creation_cpu.h - eager fills of arange, linspace and eye (their params
 * live in prim/creation.h). Each gives its output a fresh contiguous
 * buffer; the only failure is running out of memory.
 */
#ifndef KILN_CPU_CREATION_CPU_H
#define KILN_CPU_CREATION_CPU_H

#include "../../core/array.h"
#include "../../prim/creation.h"

/* eval_cpu facets (see prim.h for the contract). */
kiln_status kiln__cpu_eval_arange(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out);
kiln_status kiln__cpu_eval_linspace(const kiln_node *n,
                                    kiln_array *const *in,
                                    kiln_array *const *out);
kiln_status kiln__cpu_eval_eye(const kiln_node *n, kiln_array *const *in,
                               kiln_array *const *out);

#endif
