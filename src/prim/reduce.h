/*
 * reduce.h - the reduce family's params and per-kind data (prim/reduce.c),
 * shared with the ops that build its nodes (ops/reductions.c) and the cpu
 * loops (backend/cpu/reduce_cpu.c, scan_cpu.c).
 *
 * A reduction's or scan's `kernels` field points at its kind: the shape
 * and dtype facts infer needs (output dtype rule, whether it is an index
 * reduction, whether it has an identity), plus the backend's table of
 * loops, one per input dtype, which only the backend reads.
 *
 * Params are plain bytes, zero-initialised before filling: CSE and the
 * compile cache compare and hash them as bytes.
 */
#ifndef KILN_PRIM_REDUCE_H
#define KILN_PRIM_REDUCE_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"

/* X(name) for every reduction kind and every scan kind. */
#define KILN_REDUCE_KIND_LIST(X)                                             \
    X(sum) X(prod) X(max) X(min) X(all) X(any) X(argmax) X(argmin)
#define KILN_SCAN_KIND_LIST(X) X(cumsum) X(cumprod) X(cummax) X(cummin)

/* Params of every reduction primitive. */
typedef struct kiln_reduce_params {
    uint32_t axes;     /* bit i set: input axis i is reduced */
    uint32_t keepdims; /* 1: reduced axes stay as size-1 axes */
} kiln_reduce_params;

/* Params of every scan primitive. */
typedef struct kiln_scan_params {
    int32_t axis;      /* normalised, in [0, ndim); unused when flat */
    uint8_t reverse;   /* scan from the end */
    uint8_t inclusive; /* element i includes x[i] (else starts at the
                          identity) */
    uint8_t flat;      /* scan the row-major flattened array; 1-d result */
    uint8_t pad;
} kiln_scan_params;

/* number_of_elements: max(product of the sizes of the axes in the mask -
 * ddof, 0) as a 0-d array of dtype. */
typedef struct kiln_count_params {
    uint32_t axes;  /* bit i set: input axis i counts */
    int32_t dtype;  /* kiln_dtype of the 0-d result */
    int64_t ddof;   /* subtracted from the count (var's ddof) */
} kiln_count_params;

/* How the output dtype follows from the input dtype (as MLX). */
typedef enum kiln_reduce_out {
    KILN_REDUCE_OUT_SAME,   /* the input dtype */
    KILN_REDUCE_OUT_SUM,    /* bool, int8-32 -> int32; uint8-32 -> uint32;
                               64-bit ints and floats keep theirs */
    KILN_REDUCE_OUT_BOOL,   /* all, any */
    KILN_REDUCE_OUT_UINT32, /* argmax, argmin: flat indices */
    KILN_REDUCE_OUT_CUMSUM  /* bool -> int32, the rest keep theirs */
} kiln_reduce_out;

/* The cpu backend's loops (reduce_cpu.h, scan_cpu.h); opaque here. */
struct kiln_reduce_fns;
struct kiln_scan_fns;

typedef struct kiln_reduce_kind {
    kiln_reduce_out out;
    bool arg;      /* the result is an index (argmin/argmax) */
    bool nonempty; /* no identity: reducing an empty axis is an error */
    const struct kiln_reduce_fns *cpu; /* [KILN_DTYPE_COUNT] */
} kiln_reduce_kind;

typedef struct kiln_scan_kind {
    kiln_reduce_out out;
    const struct kiln_scan_fns *cpu; /* [KILN_DTYPE_COUNT] */
} kiln_scan_kind;

/* The output dtype of rule `out` for input dtype dt. */
kiln_dtype kiln__reduce_out_dtype(kiln_reduce_out out, kiln_dtype dt);

#endif
