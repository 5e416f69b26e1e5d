/*
 * reduce_cpu.h - eager CPU loops for reductions, the tables the reduce
 * family's kinds (prim/reduce.c) point at, and the one driver.
 *
 * A reduction primitive's `kernels` field points at a kiln_reduce_kind
 * (prim/reduce.h): its dtype rule and flags, and `cpu`, a table defined
 * here with, per input dtype, five small loops over typed accumulators
 * (init, rows, cols, merge, store). The driver (kiln__cpu_eval_reduce) is
 * the same for every kind; it never asks which kind it runs.
 *
 * Accumulators: an array of `acc_size`-byte values (float for float16,
 * bfloat16 and float32; double for float64; the output's unsigned type for
 * integer sums and products, so they wrap like the output type; the input's
 * compute type for min/max; uint8 for all/any), plus, for argmin/argmax, an
 * int64 index per accumulator (-1: nothing seen yet). The store loops write
 * the dtype the kind's rule gives (kiln__reduce_out_dtype).
 */
#ifndef KILN_CPU_REDUCE_CPU_H
#define KILN_CPU_REDUCE_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/array.h"
#include "../../prim/reduce.h"

/* Loops of one (reduction kind, input dtype). Byte strides throughout.
 *   init:  n accumulators to the identity (index -1).
 *   rows:  for r < nrows: acc[r] op= x[r*rs + i*s] over i < n
 *          (the reduced run is along i; pos = flat reduced index of i = 0).
 *   cols:  for r < nrows, j < n: acc[j] op= x[r*rs + j*s]
 *          (the reduced run is along r; pos = flat reduced index of r = 0).
 *   merge: acc[j] op= b[j] for j < n; b holds later elements than acc.
 *   store: out[j] (contiguous, output dtype) = acc[j] for j < n. */
typedef struct kiln_reduce_fns {
    size_t acc_size;
    void (*init)(void *acc, int64_t *idx, int64_t n);
    void (*rows)(void *acc, int64_t *idx, const char *x, int64_t s,
                 int64_t n, int64_t rs, int64_t nrows, int64_t pos);
    void (*cols)(void *acc, int64_t *idx, const char *x, int64_t s,
                 int64_t n, int64_t rs, int64_t nrows, int64_t pos);
    void (*merge)(void *acc, int64_t *idx, const void *b,
                  const int64_t *bidx, int64_t n);
    void (*store)(char *out, const void *acc, const int64_t *idx,
                  int64_t n);
} kiln_reduce_fns;

/* kiln__cpu_reduce_<kind>[input dtype] for every reduction kind. */
#define KILN_X_(k)                                                           \
    extern const kiln_reduce_fns kiln__cpu_reduce_##k[KILN_DTYPE_COUNT];
KILN_REDUCE_KIND_LIST(KILN_X_)
#undef KILN_X_

/* eval_cpu of every reduction (params kiln_reduce_params); the kind comes
 * from n->prim->kernels. */
kiln_status kiln__cpu_eval_reduce(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out);

#endif
