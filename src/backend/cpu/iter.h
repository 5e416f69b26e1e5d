/*
 * iter.h - the one strided iterator, shared by every kernel family.
 *
 * An iterator walks up to KILN_ITER_MAX_OPS operands of a common shape, each
 * with its own byte strides (zero on broadcast dims, negative allowed).
 * kiln__iter_init drops size-1 dims and merges dims that are contiguous for
 * every operand, so a contiguous or broadcast-free case becomes a single
 * row; it keeps the caller's dim order, so flat index i always means the
 * i-th element in row-major order of the given shape. A row function is
 * called once per (partial) row: at most one indirect call per row, never
 * per element.
 *
 * Two ways to walk:
 * - kiln__iter_range(lo, hi) visits flat indices [lo, hi) in that row-major
 *   order, on the calling thread; for kernels whose results depend on the
 *   order or on which index is which (reductions, arg kinds, sorts).
 * - kiln__iter_run visits every element once in an order of its choosing,
 *   split over the pool: it may reorder dims (smallest strides inside, a
 *   long dim instead of a short inner one) and walk two dims in tiles
 *   (transposes). For elementwise kernels, where each element is computed
 *   on its own. Rows may then have any stride for any operand, output
 *   included; a row function must handle non-unit and negative strides.
 */
#ifndef KILN_CPU_ITER_H
#define KILN_CPU_ITER_H

#include <stdint.h>

#include "kiln.h"

#define KILN_ITER_MAX_OPS 16

typedef struct kiln_iter {
    int nd;   /* collapsed dims, >= 1 */
    int nops;
    int64_t size;
    int64_t shape[KILN_MAX_NDIM];
    int64_t strides[KILN_ITER_MAX_OPS][KILN_MAX_NDIM]; /* bytes */
    char *base[KILN_ITER_MAX_OPS];
} kiln_iter;

/* Row function: n elements; ptrs[k] is operand k's first element, and
 * strides[k] its byte stride along the row. */
typedef void (*kiln_row_fn)(void *ctx, char *const *ptrs,
                            const int64_t *strides, int64_t n);

/* strides[k] points at ndim byte strides for operand k. */
void kiln__iter_init(kiln_iter *it, int ndim, const int64_t *shape, int nops,
                     char *const *base, const int64_t *const *strides);
/* Runs fn over every element exactly once, in an order (and with rows)
 * of its choosing; ranges of at least `grain` elements go to the pool
 * (grain <= 0 means inline). Elements must not depend on one another: no
 * operand may be written at an address another element reads. */
void kiln__iter_run(const kiln_iter *it, int64_t grain, kiln_row_fn fn,
                    void *ctx);
/* Runs fn over flat indices [lo, hi) only, in row-major order of the shape
 * given to kiln__iter_init, on the calling thread. */
void kiln__iter_range(const kiln_iter *it, int64_t lo, int64_t hi,
                      kiln_row_fn fn, void *ctx);

/* Default grain (elements per range) for cheap elementwise kernels. */
#define KILN_GRAIN_ELEMENTWISE (1 << 15)

/* grain, which suits one cheap op (and its loads and stores, worth about
 * three more), for work `cost` times that per element (kiln_emit.cost, or
 * its sum over a fused region): finer in proportion; at least 1. */
static inline int64_t kiln__iter_grain_for_cost(int64_t grain, int64_t cost)
{
    grain = grain * 4 / (3 + (cost > 1 ? cost : 1));
    return grain > 1 ? grain : 1;
}

#endif
