/*
 * gemv.h - matrix-vector products of float16/bfloat16 matrices, read
 * where they lie and widened on the fly, threaded over kiln's pool.
 *
 * A product with one row or one column of output ((1 x k) @ (k x n), or
 * (m x k) @ (k x 1)) reads each element of its matrix operand once, so
 * memory bounds it; widening the matrix into a float32 copy first (what a
 * float32 GEMM needs) moves five bytes for each two the product reads.
 * These kernels widen a vector of elements at a time in registers and use
 * it at once instead. A product with a few rows and a long enough k (x @
 * W.T for a few tokens) is read the same way, each widened vector of W
 * serving every row. Each element of y is summed by one thread in an
 * order fixed by the shape, so results do not depend on the thread count.
 */
#ifndef KILN_CPU_GEMV_H
#define KILN_CPU_GEMV_H

#include <stdbool.h>
#include <stdint.h>

#include "kiln.h"

/* Vectors one call multiplies at most (nx): the dot form reads M once
 * for all of them. With more than one, k (cols) should be at least
 * KILN_GEMV_MIN_K: each output element ends with a horizontal sum of a
 * vector, which short rows do not pay for ((4, 1) @ (1, 400000) in
 * bfloat16 took 12x the widening path's time; k = 64 was even). */
#define KILN_GEMV_MAX_X 4
#define KILN_GEMV_MIN_K 64

/* y = alpha * op(M) x + beta * y, M a rows x cols matrix of float16 or
 * bfloat16 (dt) with (i, j) at m[i * ld + j] (any ld, 0 included); op(M)
 * is M, or its transpose when trans. x and y are float32 with unit
 * stride: x has cols elements (rows when trans), y rows (cols when
 * trans). Without trans, nx (1 to KILN_GEMV_MAX_X) such products share
 * M: vector q at x + q * ldx, its result at y + q * ldy; with trans, nx
 * must be 1 (the caller's to keep: that form reads x alone). y is read
 * only when beta != 0. rows, cols >= 1. */
typedef struct kiln_gemv_half {
    bool trans;
    int64_t rows, cols, ld;
    const void *m;
    kiln_dtype dt;
    int nx;
    const float *x;
    float *y;
    int64_t ldx, ldy;
    float alpha, beta;
} kiln_gemv_half;

/* Computes the product over kiln's pool (inline inside a pool range). It
 * allocates nothing and cannot fail. */
void kiln__gemv_half(const kiln_gemv_half *p);

#endif
