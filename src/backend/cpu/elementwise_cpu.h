/*
 * elementwise_cpu.h - eager CPU loops for elementwise primitives.
 *
 * A kernel handles one row of n elements with byte strides; inside, it
 * picks a contiguous loop (which the compiler vectorises), a loop with a
 * broadcast scalar operand, or a generic strided loop. The strided
 * iterator (iter.h) calls it once per row. Tables are indexed by the input
 * dtype (the ops layer has already promoted inputs to one dtype); a NULL
 * entry means the primitive does not support that dtype.
 *
 * Operand order in the iterator: output first, then inputs.
 */
#ifndef KILN_CPU_ELEMENTWISE_CPU_H
#define KILN_CPU_ELEMENTWISE_CPU_H

#include <stdint.h>

#include "../../core/array.h"

typedef void (*kiln_unary_kernel)(int64_t n, const char *x, int64_t sx,
                                  char *y, int64_t sy);
typedef void (*kiln_binary_kernel)(int64_t n, const char *a, int64_t sa,
                                   const char *b, int64_t sb, char *y,
                                   int64_t sy);
typedef void (*kiln_ternary_kernel)(int64_t n, const char *c, int64_t sc,
                                    const char *a, int64_t sa, const char *b,
                                    int64_t sb, char *y, int64_t sy);

/* kiln__cpu_unary_<op>[dtype] for every unary op. */
#define KILN_X_(op) extern const kiln_unary_kernel kiln__cpu_unary_##op[];
KILN_UNARY_OP_LIST(KILN_X_)
KILN_X_(round)
#undef KILN_X_
#define KILN_X_(op) extern const kiln_binary_kernel kiln__cpu_binary_##op[];
KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_
/* where, by item size index: [0] 1 byte, [1] 2, [2] 4, [3] 8 */
extern const kiln_ternary_kernel kiln__cpu_where[4];
/* astype: [src dtype][dst dtype] */
extern const kiln_unary_kernel kiln__cpu_astype[KILN_DTYPE_COUNT]
                                                [KILN_DTYPE_COUNT];

/* eval_cpu facets shared by the elementwise families; each reads its
 * kernel table from n->prim->kernels. */
kiln_status kiln__cpu_eval_unary(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out);
kiln_status kiln__cpu_eval_binary(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out);
kiln_status kiln__cpu_eval_where(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out);
kiln_status kiln__cpu_eval_astype(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out);

/* kiln_chunk_fn facets (prim.h) for the fused-region interpreter: the
 * same row kernels as eager, on n elements. */
void kiln__cpu_chunk_unary(const kiln_prim *p, const void *params,
                           kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                           const char *const *in, const int64_t *in_strides,
                           char *y);
void kiln__cpu_chunk_binary(const kiln_prim *p, const void *params,
                            kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                            const char *const *in,
                            const int64_t *in_strides, char *y);
void kiln__cpu_chunk_where(const kiln_prim *p, const void *params,
                           kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                           const char *const *in, const int64_t *in_strides,
                           char *y);
void kiln__cpu_chunk_astype(const kiln_prim *p, const void *params,
                            kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                            const char *const *in,
                            const int64_t *in_strides, char *y);
/* The identity (stop_gradient, broadcast_to): copies n elements. */
void kiln__cpu_chunk_copy(const kiln_prim *p, const void *params,
                          kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                          const char *const *in, const int64_t *in_strides,
                          char *y);

#endif
