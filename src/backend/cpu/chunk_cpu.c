/*
 * chunk_cpu.c - the interpreter's view of the elementwise primitives: each
 * kiln_chunk_fn applies one primitive to n elements with the same row
 * kernels the eager loops use (elementwise_cpu.h), so a fused region run by
 * the interpreter gives eager's results bit for bit.
 *
 * Invariants: the output is contiguous; an input stride is its element size
 * or 0 (a broadcast scalar); dtypes were checked by the primitive's infer
 * when the traced node was made, so every table entry used here exists.
 */
#include <string.h>

#include "../../core/dtype.h"
#include "elementwise_cpu.h"

void kiln__cpu_chunk_unary(const kiln_prim *p, const void *params,
                           kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                           const char *const *in, const int64_t *in_strides,
                           char *y)
{
    const kiln_unary_kernel *table = p->kernels;
    (void)params;
    table[in_dt](n, in[0], in_strides[0], y, kiln_dtype_size(out_dt));
}

void kiln__cpu_chunk_binary(const kiln_prim *p, const void *params,
                            kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                            const char *const *in,
                            const int64_t *in_strides, char *y)
{
    const kiln_binary_kernel *table = p->kernels;
    (void)params;
    table[in_dt](n, in[0], in_strides[0], in[1], in_strides[1], y,
                 kiln_dtype_size(out_dt));
}

void kiln__cpu_chunk_where(const kiln_prim *p, const void *params,
                           kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                           const char *const *in, const int64_t *in_strides,
                           char *y)
{
    static const int size_index[9] = {0, 0, 1, 0, 2, 0, 0, 0, 3};
    (void)p;
    (void)params;
    (void)in_dt;
    kiln__cpu_where[size_index[kiln_dtype_size(out_dt)]](
        n, in[0], in_strides[0], in[1], in_strides[1], in[2], in_strides[2],
        y, kiln_dtype_size(out_dt));
}

void kiln__cpu_chunk_astype(const kiln_prim *p, const void *params,
                            kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                            const char *const *in,
                            const int64_t *in_strides, char *y)
{
    kiln_unary_kernel k = kiln__cpu_astype[in_dt][out_dt];
    if (!k) {
        kiln__cpu_chunk_copy(p, params, in_dt, out_dt, n, in, in_strides, y);
        return;
    }
    k(n, in[0], in_strides[0], y, kiln_dtype_size(out_dt));
}

void kiln__cpu_chunk_copy(const kiln_prim *p, const void *params,
                          kiln_dtype in_dt, kiln_dtype out_dt, int64_t n,
                          const char *const *in, const int64_t *in_strides,
                          char *y)
{
    size_t es = kiln_dtype_size(out_dt);
    (void)p;
    (void)params;
    (void)in_dt;
    if (in_strides[0] == (int64_t)es) {
        memcpy(y, in[0], (size_t)n * es);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(y + (size_t)i * es, in[0] + i * in_strides[0], es);
    }
}
