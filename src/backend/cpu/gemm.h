/*
 * gemm.h - kiln's own float32 matrix product, threaded over kiln's pool.
 *
 * Y = alpha * A B + beta * C for strided A, B and C (any element strides,
 * so transposed, sliced and broadcast views need no copy) into a Y whose
 * rows are ldy elements apart with unit column stride. B's panels are
 * read where B lies when its layout allows, else packed once per product
 * and shared by every thread; each thread packs only the rows of A it
 * computes. Every element of Y is summed by one thread in an order
 * fixed by k alone, so results do not depend on the thread count.
 *
 * KILN_GEMM (read on each product): blas sends every product to CBLAS
 * (or kiln's loops, in a build without it), always every float32 one to
 * kiln's GEMM, for side-by-side measurement.
 *
 * Built only where the compiler targets AVX-512 or AVX2 with FMA
 * (KILN_GEMM_VW, the vector width in floats, is then defined); elsewhere
 * matmul_cpu.c uses CBLAS or its loops.
 */
#ifndef KILN_CPU_GEMM_H
#define KILN_CPU_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__GNUC__) && defined(__AVX512F__)
#define KILN_GEMM_VW 16
#elif defined(__GNUC__) && defined(__AVX2__) && defined(__FMA__)
#define KILN_GEMM_VW 8
#endif

#ifdef KILN_GEMM_VW

/* Whether the product is one kiln__gemm_f32 was measured to run at least
 * as fast as what this build has besides (gemm.c lists the shapes): with
 * CBLAS, n from 128 to 1024 and enough work to amortise the packing;
 * without, all but tiny products, k = 1 and outputs of few elements. */
bool kiln__gemm_f32_worth(int64_t m, int64_t n, int64_t k);

/* One product Y = alpha * A B + beta * C, every operand float32 and
 * addressed through element strides: A is m x k with (i, p) at
 * a[i * ars + p * acs], B is k x n with (p, j) at b[p * brs + j * bcs],
 * C is m x n with (i, j) at c[i * crs + j * ccs] (zero strides broadcast;
 * C is read only when beta != 0, and may be Y itself), Y is m x n with
 * (i, j) at y[i * ldy + j]. m, n, k >= 1. */
typedef struct kiln_gemm_f32 {
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b, *c;
    int64_t ars, acs, brs, bcs, crs, ccs;
    float *y;
    int64_t ldy;
} kiln_gemm_f32;

/* Computes the product over kiln's pool. Returns false, with Y partly
 * written, when scratch memory ran out. */
bool kiln__gemm_f32(const kiln_gemm_f32 *p);

#endif

#endif
