/*
 * index_cpu.h - eager CPU kernels of the index family: gather (take,
 * take_along_axis), sort, argsort and topk.
 *
 * The family's params struct, kiln_index_params, lives in prim/index.h.
 *
 * Invariants the kernels rely on (checked by infer before a node exists):
 * - indices are an integer dtype; the axis is normalised into [0, ndim)
 *   (ignored when flat);
 * - a gather from an empty axis has no indices;
 * - a sort axis has at most UINT32_MAX elements (indices are uint32);
 * - topk's k lies in [0, axis length].
 */
#ifndef KILN_CPU_INDEX_CPU_H
#define KILN_CPU_INDEX_CPU_H

#include <stdint.h>

#include "../../core/array.h"
#include "../../prim/index.h"

/* eval_cpu facets (see prim.h for the contract). */
kiln_status kiln__cpu_eval_take(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out);
kiln_status kiln__cpu_eval_take_along(const kiln_node *n,
                                      kiln_array *const *in,
                                      kiln_array *const *out);
kiln_status kiln__cpu_eval_sort(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out);
kiln_status kiln__cpu_eval_argsort(const kiln_node *n, kiln_array *const *in,
                                   kiln_array *const *out);
kiln_status kiln__cpu_eval_topk(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out);

#endif
