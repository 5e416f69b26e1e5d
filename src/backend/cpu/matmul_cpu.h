/*
 * matmul_cpu.h - eager CPU kernels for matmul and addmm (addmm's params
 * live in prim/matmul.h).
 *
 * Both kernels see inputs of one dtype (the ops layer promotes) whose
 * shapes passed the matmul shape rule in prim/matmul.c, and an output with
 * its shape set. They give the output a fresh contiguous buffer and fill
 * it: big float32 products through kiln's own GEMM (gemm.h), other
 * float32/float64 ones through CBLAS when the build has it
 * (KILN_HAVE_CBLAS), float16/bfloat16 through float32, everything else
 * (and every dtype without CBLAS) through kiln's own blocked loops.
 */
#ifndef KILN_CPU_MATMUL_H
#define KILN_CPU_MATMUL_H

#include "../../core/array.h"
#include "../../prim/matmul.h"

/* eval_cpu of matmul (inputs a, b) and addmm (inputs c, a, b). */
kiln_status kiln__cpu_eval_matmul(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out);
kiln_status kiln__cpu_eval_addmm(const kiln_node *n, kiln_array *const *in,
                                 kiln_array *const *out);

#endif
