/*
 * matmul.c - matrix products: matmul and addmm.
 *
 * matmul(a, b): numpy's matmul. a (..., M, K) and b (..., K, N) give
 *   (..., M, N); the batch dims (...) broadcast. A 1-D a is read as (1, K)
 *   and a 1-D b as (K, 1), and the added dim is dropped from the result:
 *   (K) @ (K) is 0-d, (K) @ (..., K, N) is (..., N) and (..., M, K) @ (K)
 *   is (..., M). 0-d operands and mismatched inner dims are ValueErrors.
 *   dtypes: both inputs have one dtype (the ops layer promotes), which the
 *   result keeps. Every dtype works: float32/float64 go to BLAS when the
 *   build has it, float16/bfloat16 accumulate in float32, integers wrap in
 *   their own width, bool is the "or" of "and"s (as numpy).
 *   Derivative: d(a @ b) = da @ b + a @ db; vjp ga = g @ b^T, gb = a^T @ g,
 *   summed over broadcast batch dims (added by the transforms issue).
 *
 * addmm(c, a, b) params {alpha, beta}: alpha * (a @ b) + beta * c, with
 *   a @ b as above and c broadcast to its shape (c never widens the
 *   result; as in MLX). All three share one float dtype (the ops layer
 *   sends integers and bool to float32). beta == 0 ignores c, so NaN or
 *   Inf in c does not propagate (the BLAS and PyTorch convention).
 *   Derivative: vjp gc = beta * g (reduced to c's shape), ga = alpha *
 *   g @ b^T, gb = alpha * a^T @ g.
 */

#include "../backend/cpu/matmul_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "matmul.h"
#include "prim.h"

/* The shape of a @ b into out (dtype included); errors name p. */
static kiln_status infer_product(const kiln_prim *p, const kiln_meta *a,
                                 const kiln_meta *b, kiln_meta *out)
{
    char sa[256], sb[256];
    int64_t bshape[KILN_MAX_NDIM];
    int nb = 0;
    if (a->dtype != b->dtype) {
        return kiln__err(KILN_ERR_TYPE,
                         "[%s] inputs must share a dtype (%s, %s)", p->name,
                         kiln_dtype_name(a->dtype),
                         kiln_dtype_name(b->dtype));
    }
    kiln__shape_str(a->shape, a->ndim, sa, sizeof sa);
    kiln__shape_str(b->shape, b->ndim, sb, sizeof sb);
    if (a->ndim == 0 || b->ndim == 0) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] operands must have at least one dim, got "
                         "shapes %s and %s", p->name, sa, sb);
    }
    int64_t ka = a->shape[a->ndim - 1];
    int64_t kb = b->ndim == 1 ? b->shape[0] : b->shape[b->ndim - 2];
    if (ka != kb) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] shapes %s and %s do not match: inner dims "
                         "%lld and %lld differ", p->name, sa, sb,
                         (long long)ka, (long long)kb);
    }
    int na = a->ndim > 2 ? a->ndim - 2 : 0;
    int nbb = b->ndim > 2 ? b->ndim - 2 : 0;
    if (kiln__shape_broadcast(a->shape, na, b->shape, nbb, bshape, &nb,
                              p->name) != KILN_OK) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] batch dims of shapes %s and %s cannot be "
                         "broadcast", p->name, sa, sb);
    }
    int nd = nb + (a->ndim > 1) + (b->ndim > 1);
    if (nd > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] result of %s and %s has too "
                         "many dims", p->name, sa, sb);
    }
    out->dtype = a->dtype;
    out->ndim = nd;
    for (int i = 0; i < nb; i++) {
        out->shape[i] = bshape[i];
    }
    if (a->ndim > 1) {
        out->shape[nb] = a->shape[a->ndim - 2];
    }
    if (b->ndim > 1) {
        out->shape[nd - 1] = b->shape[b->ndim - 1];
    }
    return KILN_OK;
}

static kiln_status infer_matmul(const kiln_prim *p, const void *params,
                                const kiln_meta *in, int nin, kiln_meta *out,
                                int *nout)
{
    (void)params;
    (void)nin;
    if (infer_product(p, &in[0], &in[1], out) != KILN_OK) {
        return kiln_errcode();
    }
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_matmul = {
    .name = "matmul",
    .nin = 2,
    .infer = infer_matmul,
    .eval_cpu = kiln__cpu_eval_matmul,
};

static kiln_status infer_addmm(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    const kiln_meta *c = &in[0];
    char sc[256], so[256];
    (void)params;
    (void)nin;
    if (infer_product(p, &in[1], &in[2], out) != KILN_OK) {
        return kiln_errcode();
    }
    if (c->dtype != out->dtype || !kiln_dtype_is_float(c->dtype)) {
        return kiln__err(KILN_ERR_TYPE,
                         "[%s] inputs must share one float dtype (%s, %s)",
                         p->name, kiln_dtype_name(c->dtype),
                         kiln_dtype_name(out->dtype));
    }
    bool fits = c->ndim <= out->ndim;
    for (int i = 0; fits && i < c->ndim; i++) {
        int64_t d = c->shape[c->ndim - 1 - i];
        fits = d == 1 || d == out->shape[out->ndim - 1 - i];
    }
    if (!fits) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] c of shape %s cannot be broadcast to the "
                         "product's shape %s", p->name,
                         kiln__shape_str(c->shape, c->ndim, sc, sizeof sc),
                         kiln__shape_str(out->shape, out->ndim, so,
                                         sizeof so));
    }
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_addmm = {
    .name = "addmm",
    .nin = 3,
    .params_size = sizeof(kiln_addmm_params),
    .infer = infer_addmm,
    .eval_cpu = kiln__cpu_eval_addmm,
};
