/*
 * matmul.h - params of addmm (prim/matmul.c), shared with the op that
 * builds its node (ops/linalg.c) and the kernel (backend/cpu/matmul_cpu.c).
 * matmul itself has no params.
 *
 * Plain bytes, zero-initialised before filling (CSE compares params
 * bytes).
 */
#ifndef KILN_PRIM_MATMUL_H
#define KILN_PRIM_MATMUL_H

/* addmm: out = alpha * (a @ b) + beta * c */
typedef struct kiln_addmm_params {
    double alpha;
    double beta;
} kiln_addmm_params;

#endif
