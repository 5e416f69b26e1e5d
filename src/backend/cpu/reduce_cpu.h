/*
 * reduce_cpu.h - eager CPU loops for reductions and scans, and the data the
 * reduce family's descriptors (prim/reduce.c) point at.
 *
 * A reduction primitive's `kernels` field points at a kiln_reduce_kind: its
 * output dtype per input dtype and, per input dtype, five small loops over
 * typed accumulators (init, rows, cols, merge, store). The driver
 * (kiln__cpu_eval_reduce) is the same for every kind; it never asks which
 * kind it runs. Likewise a scan's `kernels` is a kiln_scan_kind.
 *
 * Accumulators: an array of `acc_size`-byte values (float for float16,
 * bfloat16 and float32; double for float64; the output's unsigned type for
 * integer sums and products, so they wrap like the output type; the input's
 * compute type for min/max; uint8 for all/any), plus, for argmin/argmax, an
 * int64 index per accumulator (-1: nothing seen yet).
 */
#ifndef KILN_CPU_REDUCE_CPU_H
#define KILN_CPU_REDUCE_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "../../core/array.h"

/* Params of every reduction primitive (zero-initialise before filling). */
typedef struct kiln_reduce_params {
    uint32_t axes;     /* bit i set: input axis i is reduced */
    uint32_t keepdims; /* 1: reduced axes stay as size-1 axes */
} kiln_reduce_params;

/* Params of every scan primitive (zero-initialise before filling). */
typedef struct kiln_scan_params {
    int32_t axis;      /* normalised, in [0, ndim); unused when flat */
    uint8_t reverse;   /* scan from the end */
    uint8_t inclusive; /* element i includes x[i] (else starts at the
                          identity) */
    uint8_t flat;      /* scan the row-major flattened array; 1-d result */
    uint8_t pad;
} kiln_scan_params;

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

typedef struct kiln_reduce_kind {
    bool arg;      /* the result is an index (argmin/argmax) */
    bool nonempty; /* no identity: reducing an empty axis is an error */
    kiln_dtype out[KILN_DTYPE_COUNT];
    kiln_reduce_fns fns[KILN_DTYPE_COUNT];
} kiln_reduce_kind;

/* Loops of one (scan kind, input dtype); strides in bytes, negative for
 * reverse scans; x and y may be the same memory (each loop reads an element
 * before it writes its result).
 *   line: y[i] = x[0] op ... op x[i] (inclusive) or op over i' < i
 *         (exclusive: the identity first), for i < n.
 *   cols: the same down nrows rows of n <= 256 contiguous columns, row r
 *         at x + r * sxr and y + r * syr, one accumulator per column. */
typedef struct kiln_scan_fns {
    void (*line)(const char *x, int64_t sx, char *y, int64_t sy, int64_t n,
                 bool inclusive);
    void (*cols)(const char *x, int64_t sxr, char *y, int64_t syr,
                 int64_t n, int64_t nrows, bool inclusive);
} kiln_scan_fns;

typedef struct kiln_scan_kind {
    kiln_dtype out[KILN_DTYPE_COUNT];
    kiln_scan_fns fns[KILN_DTYPE_COUNT];
} kiln_scan_kind;

/* X(name) for every reduction and scan kind. */
#define KILN_REDUCE_KIND_LIST(X)                                             \
    X(sum) X(prod) X(max) X(min) X(all) X(any) X(argmax) X(argmin)
#define KILN_SCAN_KIND_LIST(X) X(cumsum) X(cumprod) X(cummax) X(cummin)

#define KILN_X_(k) extern const kiln_reduce_kind kiln__cpu_reduce_##k;
KILN_REDUCE_KIND_LIST(KILN_X_)
#undef KILN_X_
#define KILN_X_(k) extern const kiln_scan_kind kiln__cpu_scan_##k;
KILN_SCAN_KIND_LIST(KILN_X_)
#undef KILN_X_

/* eval_cpu of every reduction (params kiln_reduce_params) and every scan
 * (params kiln_scan_params); the kind comes from n->prim->kernels. */
kiln_status kiln__cpu_eval_reduce(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out);
kiln_status kiln__cpu_eval_scan(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out);

#endif
