/*
 * autodiff_shape.h - helpers the transform rules of the structural
 * families share (reduce.c, movement.c, index.c, matmul.c, random.c,
 * creation.c): rules for primitives with no derivative, applying a
 * primitive on new params, and moving batch axes for vmap.
 *
 * Like the rules, everything here runs inside a scope the transform
 * opened: results are owned by that scope (never release them) and NULL
 * means an error whose message the failing op set.
 */
#ifndef KILN_PRIM_AUTODIFF_SHAPE_H
#define KILN_PRIM_AUTODIFF_SHAPE_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"
#include "prim.h"

/* vjp of a primitive with a zero derivative (index outputs such as
 * argmax's, random bits, constants): every cotangent is zero (NULL). */
kiln_status kiln__autodiff_shape_vjp_zero(const kiln_prim *p,
                                          const void *params,
                                          kiln_array *const *in, int nin,
                                          kiln_array *const *out, int nout,
                                          kiln_array *const *cot_out,
                                          const bool *need,
                                          kiln_array **cot_in);
/* jvp of the same: every output tangent is zero (NULL). */
kiln_status kiln__autodiff_shape_jvp_zero(const kiln_prim *p,
                                          const void *params,
                                          kiln_array *const *in, int nin,
                                          kiln_array *const *out, int nout,
                                          kiln_array *const *tan_in,
                                          kiln_array **tan_out);

/* jvp of a primitive linear in its one input (sum, reshape, slice, ...):
 * the same primitive, same params, applied to the tangent. */
kiln_status kiln__autodiff_shape_jvp_linear(const kiln_prim *p,
                                            const void *params,
                                            kiln_array *const *in, int nin,
                                            kiln_array *const *out, int nout,
                                            kiln_array *const *tan_in,
                                            kiln_array **tan_out);

/* Primitive p applied to in[0..nin) with these params: the first output,
 * owned by the innermost scope; NULL on error (named after p). */
kiln_array *kiln__autodiff_shape_apply(const kiln_prim *p, const void *params,
                                       kiln_array *const *in, int nin);

/* The batch size: the length of the batch axis of the first batched
 * input (bdim[i] >= 0); 0 when none is batched. */
int64_t kiln__autodiff_shape_batch_size(kiln_array *const *in,
                                        const int *bdim, int nin);

/* x with its batch axis moved to the front; an unbatched x (bdim < 0)
 * gets a new leading axis of size 1 when `lead` is true (left to
 * broadcast), of size n (broadcast) when n >= 0 and lead is false, and is
 * returned as is otherwise (lead false, n < 0). */
kiln_array *kiln__autodiff_shape_front(kiln_array *x, int bdim, bool lead,
                                       int64_t n);

/* x (batch axis in front) with `count` size-1 axes inserted at `at`. */
kiln_array *kiln__autodiff_shape_ones_at(kiln_array *x, int at, int count);

/* The reduced axes of a bit mask over ndim axes into axes; their count. */
int kiln__autodiff_shape_mask_axes(uint32_t mask, int ndim, int *axes);

/* x[lo:hi] along axis ax (every other axis whole). */
kiln_array *kiln__autodiff_shape_slice_axis(kiln_array *x, int ax, int64_t lo,
                                            int64_t hi);

/* A zero array of a's shape and dtype. */
kiln_array *kiln__autodiff_shape_zeros(const kiln_array *a);

#endif
