/*
 * shape.h - shapes, strides, axes and broadcasting.
 *
 * Shapes are int64_t[ndim] with 0 <= ndim <= KILN_MAX_NDIM; strides are in
 * elements. Every function that can fail takes the public entry point's name
 * `fn` for its message and returns a status.
 */
#ifndef KILN_CORE_SHAPE_H
#define KILN_CORE_SHAPE_H

#include "kiln.h"

/* Product of the dims into *size; fails on negative dims, ndim out of
 * range, or a product that overflows int64 (or size_t bytes when
 * itemsize > 0). */
kiln_status kiln__shape_size(const int64_t *shape, int ndim, size_t itemsize,
                             int64_t *size, const char *fn);
/* Row-major strides (elements) of a contiguous array. */
void kiln__shape_strides(const int64_t *shape, int ndim, int64_t *strides);
/* numpy broadcasting of two shapes into out (capacity KILN_MAX_NDIM). */
kiln_status kiln__shape_broadcast(const int64_t *a, int na, const int64_t *b,
                                  int nb, int64_t *out, int *nout,
                                  const char *fn);
/* Normalises a possibly negative axis into [0, ndim). */
kiln_status kiln__shape_axis(int axis, int ndim, int *out, const char *fn);
/* Normalises a list of axes into a mask of ndim flags; NULL axes means
 * all. Duplicates are an error. */
kiln_status kiln__shape_axes(const int *axes, int naxes, int ndim,
                             bool *mask, const char *fn);
/* Strides (elements) with which an array of shape `in` is read when
 * broadcast to `out` (zero on broadcast dims). */
void kiln__shape_bcast_strides(const int64_t *in, const int64_t *in_strides,
                               int nin, int nout, const int64_t *out,
                               int64_t *strides);
/* Whether shapes a (na dims) and b (nb dims) are the same: same ndim and
 * the same dims. Never fails. */
bool kiln__shape_equal(const int64_t *a, int na, const int64_t *b, int nb);
/* "(2,3)" into buf; returns buf. */
char *kiln__shape_str(const int64_t *shape, int ndim, char *buf, size_t cap);

#endif
