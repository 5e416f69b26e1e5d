/*
 * copy_cpu.h - strided block copies and fills, any dtype.
 *
 * The loops behind the movement primitives that copy (reshape of a strided
 * input, concatenate, pad, slice_update), the creation primitives, and
 * every kernel that first makes a strided input contiguous (scans, sorts,
 * kiln_array_data). A copy moves bits: items are 1, 2, 4 or 8 bytes and are
 * never converted.
 */
#ifndef KILN_CPU_COPY_CPU_H
#define KILN_CPU_COPY_CPU_H

#include <stddef.h>
#include <stdint.h>

#include "kiln.h"

/* Copies a block of `shape` (ndim dims) of items of isz bytes (1, 2, 4 or
 * 8) from src to dst, each walked with its own byte strides. Source strides
 * may be 0 (a broadcast source, or a fill from one item); the regions must
 * not overlap. Large blocks are split over the thread pool. */
void kiln__cpu_copy(int ndim, const int64_t *shape, size_t isz, char *dst,
                    const int64_t *dst_strides, const char *src,
                    const int64_t *src_strides);

/* Copies the evaluated array src into contiguous row-major memory at dst
 * (src->size * itemsize bytes, not overlapping src), in parallel when
 * large. */
void kiln__cpu_copy_contig(const kiln_array *src, void *dst);

#endif
