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
 *   summed over broadcast batch dims (1-D operands as rows/columns whose
 *   added axis g gets back), integer products included (as in MLX).
 *   vmap: both operands get a leading batch axis (size 1 when unbatched)
 *   and size-1 batch dims up to a common count, so the broadcasting
 *   product does every item at once.
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
#include "../core/array.h"
#include "autodiff.h"
#include "autodiff_shape.h"
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

/* ------------------------------------------------------------------ */
/* transform rules                                                    */
/* ------------------------------------------------------------------ */

static kiln_status done(kiln_array *a)
{
    return a ? KILN_OK : kiln_errcode();
}

/* The last two axes swapped. */
static kiln_array *mT(kiln_array *x)
{
    return x ? kiln_swapaxes(x, -1, -2) : NULL;
}

/* The cotangents of a @ b for g (either may be skipped): a 1-D a is read
 * as (1, K) and a 1-D b as (K, 1), g gets the dropped axes back, and each
 * cotangent is summed over the batch dims its operand was broadcast on. */
static kiln_status product_vjp(kiln_array *a, kiln_array *b, kiln_array *g,
                               bool need_a, bool need_b, kiln_array **ga,
                               kiln_array **gb)
{
    int64_t s2[2];
    kiln_array *a2 = a, *b2 = b, *g2 = g;
    *ga = *gb = NULL;
    if (a->ndim == 1) {
        s2[0] = 1;
        s2[1] = a->shape[0];
        a2 = kiln_reshape(a, s2, 2);
        g2 = kiln_expand_dims(g2, (int[]){g2 ? g2->ndim - (b->ndim > 1) : 0},
                              1);
    }
    if (b->ndim == 1) {
        s2[0] = b->shape[0];
        s2[1] = 1;
        b2 = kiln_reshape(b, s2, 2);
        g2 = g2 ? kiln_expand_dims(g2, (int[]){g2->ndim}, 1) : NULL;
    }
    if (!a2 || !b2 || !g2) {
        return kiln_errcode();
    }
    if (need_a) {
        kiln_array *r = kiln__autodiff_unbroadcast(kiln_matmul(g2, mT(b2)),
                                                   a2);
        *ga = r ? kiln_reshape(r, a->shape, a->ndim) : NULL;
        if (!*ga) {
            return kiln_errcode();
        }
    }
    if (need_b) {
        kiln_array *r = kiln__autodiff_unbroadcast(kiln_matmul(mT(a2), g2),
                                                   b2);
        *gb = r ? kiln_reshape(r, b->shape, b->ndim) : NULL;
        if (!*gb) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

static kiln_status vjp_matmul(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *cot_out, const bool *need,
                              kiln_array **cot_in)
{
    (void)p;
    (void)params;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = cot_in[1] = NULL;
    if (!cot_out[0]) {
        return KILN_OK;
    }
    return product_vjp(in[0], in[1], cot_out[0], need[0], need[1],
                       &cot_in[0], &cot_in[1]);
}

/* d(a @ b) = da @ b + a @ db (NULL when both are zero). */
static kiln_array *product_jvp(kiln_array *a, kiln_array *b, kiln_array *ta,
                               kiln_array *tb, bool *failed)
{
    kiln_array *r = NULL;
    *failed = false;
    if (ta) {
        r = kiln_matmul(ta, b);
        *failed = !r;
    }
    if (tb && !*failed) {
        kiln_array *s = kiln_matmul(a, tb);
        r = r && s ? kiln_add(r, s) : s;
        *failed = !r;
    }
    return r;
}

static kiln_status jvp_matmul(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *tan_in,
                              kiln_array **tan_out)
{
    bool failed;
    (void)p;
    (void)params;
    (void)nin;
    (void)out;
    (void)nout;
    tan_out[0] = product_jvp(in[0], in[1], tan_in[0], tan_in[1], &failed);
    return failed ? kiln_errcode() : KILN_OK;
}

/* One operand of a batched product, as (B or 1, 1..., batch..., rows,
 * cols) with `nbatch` batch dims after the leading axis; a 1-D operand
 * becomes a row (a) or a column (b). */
static kiln_array *batch_operand(kiln_array *x, int bdim, bool is_a,
                                 int nbatch)
{
    kiln_array *f = kiln__autodiff_shape_front(x, bdim, true, 0);
    if (!f) {
        return NULL;
    }
    if (f->ndim == 2) {
        int at = is_a ? 1 : 2;
        f = kiln_expand_dims(f, &at, 1);
        if (!f) {
            return NULL;
        }
    }
    return kiln__autodiff_shape_ones_at(f, 1, nbatch - (f->ndim - 3));
}

/* The batch dims of an operand of unbatched ndim nd. */
static int batch_dims(int nd)
{
    return nd > 2 ? nd - 2 : 0;
}

/* a @ b over a batch: (B, broadcast batch..., [M], [N]). */
static kiln_array *batched_product(kiln_array *a, int abd, kiln_array *b,
                                   int bbd)
{
    int na = a->ndim - (abd >= 0), nb = b->ndim - (bbd >= 0);
    int nbatch = batch_dims(na) > batch_dims(nb) ? batch_dims(na)
                                                 : batch_dims(nb);
    kiln_array *y = kiln_matmul(batch_operand(a, abd, true, nbatch),
                                batch_operand(b, bbd, false, nbatch));
    if (y && nb == 1) {
        y = kiln_squeeze(y, (int[]){-1}, 1);
    }
    if (y && na == 1) {
        y = kiln_squeeze(y, (int[]){nb == 1 ? -1 : -2}, 1);
    }
    return y;
}

static kiln_status vmap_matmul(const kiln_prim *p, const void *params,
                               kiln_array *const *in, const int *bdim,
                               int nin, kiln_array **out, int *out_bdim,
                               int *nout)
{
    *nout = 1;
    if (bdim[0] < 0 && bdim[1] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    out_bdim[0] = 0;
    out[0] = batched_product(in[0], bdim[0], in[1], bdim[1]);
    return done(out[0]);
}

/* addmm(c, a, b) = alpha * (a @ b) + beta * c */
static kiln_status vjp_addmm(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin,
                             kiln_array *const *out, int nout,
                             kiln_array *const *cot_out, const bool *need,
                             kiln_array **cot_in)
{
    const kiln_addmm_params *ap = params;
    kiln_array *g = cot_out[0];
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = cot_in[1] = cot_in[2] = NULL;
    if (!g) {
        return KILN_OK;
    }
    kiln_dtype dt = in[0]->dtype;
    if (need[0] && ap->beta != 0.0) {
        cot_in[0] = kiln__autodiff_unbroadcast(
            kiln_multiply(g, kiln_scalar_f64(ap->beta, dt)), in[0]);
        if (!cot_in[0]) {
            return kiln_errcode();
        }
    }
    if (!need[1] && !need[2]) {
        return KILN_OK;
    }
    kiln_array *ga = kiln_multiply(g, kiln_scalar_f64(ap->alpha, dt));
    if (!ga) {
        return kiln_errcode();
    }
    return product_vjp(in[1], in[2], ga, need[1], need[2], &cot_in[1],
                       &cot_in[2]);
}

static kiln_status jvp_addmm(const kiln_prim *p, const void *params,
                             kiln_array *const *in, int nin,
                             kiln_array *const *out, int nout,
                             kiln_array *const *tan_in, kiln_array **tan_out)
{
    const kiln_addmm_params *ap = params;
    bool failed;
    kiln_dtype dt = in[0]->dtype;
    (void)p;
    (void)nin;
    (void)nout;
    tan_out[0] = NULL;
    kiln_array *r = product_jvp(in[1], in[2], tan_in[1], tan_in[2], &failed);
    if (failed) {
        return kiln_errcode();
    }
    if (r) {
        r = kiln_multiply(r, kiln_scalar_f64(ap->alpha, dt));
    }
    if (tan_in[0] && ap->beta != 0.0) {
        kiln_array *c = kiln_multiply(tan_in[0],
                                      kiln_scalar_f64(ap->beta, dt));
        r = r ? kiln_add(r, c)
              : kiln__autodiff_broadcast(c, out[0]->shape, out[0]->ndim);
        if (!r) {
            return kiln_errcode();
        }
    }
    tan_out[0] = r;
    return KILN_OK;
}

static kiln_status vmap_addmm(const kiln_prim *p, const void *params,
                              kiln_array *const *in, const int *bdim, int nin,
                              kiln_array **out, int *out_bdim, int *nout)
{
    const kiln_addmm_params *ap = params;
    *nout = 1;
    if (bdim[0] < 0 && bdim[1] < 0 && bdim[2] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    kiln_dtype dt = in[0]->dtype;
    bool prod_batched = bdim[1] >= 0 || bdim[2] >= 0;
    kiln_array *y = prod_batched
                        ? batched_product(in[1], bdim[1], in[2], bdim[2])
                        : kiln_matmul(in[1], in[2]);
    if (!y) {
        return kiln_errcode();
    }
    int out_nd = y->ndim - prod_batched;
    y = kiln_multiply(y, kiln_scalar_f64(ap->alpha, dt));
    out_bdim[0] = prod_batched ? 0 : -1;
    if (ap->beta != 0.0 && y) {
        kiln_array *c = in[0];
        if (bdim[0] >= 0) {
            /* (B, 1..., c...) lined up with the product's trailing dims */
            int c_nd = in[0]->ndim - 1;
            c = kiln__autodiff_shape_front(c, bdim[0], false, 0);
            c = kiln__autodiff_shape_ones_at(c, 1, out_nd - c_nd);
            out_bdim[0] = 0;
        }
        y = c ? kiln_add(y, kiln_multiply(c, kiln_scalar_f64(ap->beta, dt)))
              : NULL;
    }
    out[0] = y;
    return done(y);
}

const kiln_prim kiln__prim_matmul = {
    .name = "matmul",
    .nin = 2,
    .infer = infer_matmul,
    .eval_cpu = kiln__cpu_eval_matmul,
    .vjp = vjp_matmul,
    .jvp = jvp_matmul,
    .vmap = vmap_matmul,
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
    .vjp = vjp_addmm,
    .jvp = jvp_addmm,
    .vmap = vmap_addmm,
};
