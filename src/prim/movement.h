/*
 * movement.h - params of the movement primitives (prim/movement.c and
 * movement_copy.c), and the slice helpers the two share; shared with the ops
 * that build their nodes (ops/layout.c).
 *
 * Every struct is plain data of fixed size (no pointers) and must be
 * zero-initialised before it is filled: CSE and the compile cache compare
 * and hash params as bytes. Shapes and axes are stored as the user meant
 * them where that lets a shapeless replay reuse the node (a -1 in a reshape
 * target, raw Python-style slice bounds); `infer` resolves them against
 * the actual input shape every time.
 */
#ifndef KILN_PRIM_MOVEMENT_H
#define KILN_PRIM_MOVEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"
#include "prim.h"

/* reshape (shape may hold one -1) and broadcast_to (explicit shape) */
typedef struct kiln_shape_params {
    int ndim;
    int64_t shape[KILN_MAX_NDIM];
} kiln_shape_params;

/* In a reshape target, KILN__SHAPE_AXIS(j) stands for the size of input
 * axis j: flatten keeps the axes around the merged ones this way, so a
 * shapeless replay follows the input's dims (MLX's flatten fix). Only
 * flatten makes these; kiln_reshape rejects user dims below -1 first. */
#define KILN__SHAPE_AXIS(j) (INT64_MIN + (int64_t)(j))
#define KILN__SHAPE_IS_AXIS(d) ((d) < INT64_MIN + KILN_MAX_NDIM)

/* transpose: output axis i is input axis perm[i] (normalised) */
typedef struct kiln_perm_params {
    int ndim;
    int perm[KILN_MAX_NDIM];
} kiln_perm_params;

/* expand_dims: ndim is the output ndim and axes[i] marks an inserted
 * output axis; squeeze: ndim is the input ndim and axes[i] marks a removed
 * input axis (which must have size 1) */
typedef struct kiln_axes_params {
    int ndim;
    bool axes[KILN_MAX_NDIM];
} kiln_axes_params;

/* slice and slice_update: Python slice bounds per input axis, with
 * KILN_SLICE_BEGIN / KILN_SLICE_END standing for an omitted start / stop
 * (None); steps are never 0. Bounds mean what Python's mean at any axis
 * length, except on the axes in `fixed`, whose bounds were computed from
 * the axis length len[i] (split into sections): there any other length
 * is an error, so a shapeless replay fails clearly instead of cutting the
 * new axis where the old one was cut. */
typedef struct kiln_slice_params {
    int ndim;
    uint32_t fixed;
    int64_t start[KILN_MAX_NDIM];
    int64_t stop[KILN_MAX_NDIM];
    int64_t step[KILN_MAX_NDIM];
    int64_t len[KILN_MAX_NDIM]; /* where fixed; 0 elsewhere */
} kiln_slice_params;

/* concatenate: the axis, normalised */
typedef struct kiln_axis_params {
    int axis;
} kiln_axis_params;

/* pad: widths before (lo) and after (hi) each axis, >= 0 */
typedef struct kiln_pad_params {
    int ndim;
    int64_t lo[KILN_MAX_NDIM];
    int64_t hi[KILN_MAX_NDIM];
} kiln_pad_params;

/* Python's slice.indices for one axis of length len: the first index and
 * the number of elements selected (0 when empty). */
void kiln__movement_slice_axis(int64_t len, int64_t start, int64_t stop,
                               int64_t step, int64_t *first, int64_t *count);

/* The element offset of the region sp selects in an array of ndim dims
 * with shape, strides and offset (elements), and the region's strides
 * in st. Needs bounds infer has checked against shape. */
int64_t kiln__movement_slice_region(const kiln_slice_params *sp, int ndim,
                                    const int64_t *shape,
                                    const int64_t *strides, int64_t offset,
                                    int64_t *st);

/* Fills bp with sp and a whole leading axis before it (a batch axis for
 * vmap). Returns KILN_OK, or a value error naming p when that makes more
 * than KILN_MAX_NDIM dims. */
kiln_status kiln__movement_batch_slice(const kiln_prim *p,
                                       const kiln_slice_params *sp,
                                       kiln_slice_params *bp);

/* A reshape target with its -1 (at most one) resolved for an array of
 * `size` elements, into out; a ValueError naming fn when no such shape
 * exists (several -1, other negative dims, a size mismatch). */
kiln_status kiln__movement_resolve_shape(const char *fn, int64_t size,
                                        const int64_t *shape, int ndim,
                                        int64_t *out);

#endif
