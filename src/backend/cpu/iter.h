/*
 * iter.h - the one strided iterator, shared by every kernel family.
 *
 * An iterator walks up to KILN_ITER_MAX_OPS operands of a common shape, each
 * with its own byte strides (zero on broadcast dims). kiln__iter_init drops
 * size-1 dims and merges dims that are contiguous for every operand, so a
 * contiguous or broadcast-free case becomes a single row. kiln__iter_run
 * splits the flat index range [0, size) into ranges for the thread pool and
 * calls a row function once per (partial) row: at most one indirect call
 * per row, never per element.
 */
#ifndef KILN_CPU_ITER_H
#define KILN_CPU_ITER_H

#include <stdint.h>

#include "kiln.h"

#define KILN_ITER_MAX_OPS 4

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
/* Runs fn over every element; ranges of at least `grain` elements go to
 * the pool (grain <= 0 means inline). */
void kiln__iter_run(const kiln_iter *it, int64_t grain, kiln_row_fn fn,
                    void *ctx);
/* Runs fn over elements [lo, hi) only, on the calling thread. */
void kiln__iter_range(const kiln_iter *it, int64_t lo, int64_t hi,
                      kiln_row_fn fn, void *ctx);

/* Default grain (elements per range) for cheap elementwise kernels. */
#define KILN_GRAIN_ELEMENTWISE (1 << 15)

#endif
