/*
 * reduce.c - reduction and scan primitives: descriptors and shape rules.
 *
 * Reductions: sum prod max min all any argmax argmin. One input; params
 * kiln_reduce_params {axes: bit mask of reduced axes, keepdims}. keepdims
 * lives in the primitive (the output either keeps reduced axes as size 1
 * or drops them; the memory layout is the same), so no reshape node
 * follows a reduction and the kernels never see a difference.
 *   shape: the input shape without the reduced axes (size 1 with keepdims);
 *          an empty mask is an elementwise conversion.
 *   dtype: from the kind's rule (kiln__reduce_out_dtype, below):
 *          sum, prod   bool, int8-32 -> int32; uint8-32 -> uint32;
 *                      64-bit ints and floats keep their dtype (as MLX)
 *          max, min    the input dtype
 *          all, any    bool
 *          argmax/min  uint32 (the flat index over the reduced axes in
 *                      row-major order)
 *   math:  sum = x0 + x1 + ... (0 when empty), prod (1 when empty),
 *          max/min propagate NaN (no identity: an empty reduced axis is
 *          a value error), all = and of (x != 0) (true when empty),
 *          any = or of (x != 0) (false when empty), argmax/argmin = first
 *          index of the extreme, or of the first NaN.
 *   derivatives (as MLX): sum spreads the cotangent over the reduced
 *          axes; prod multiplies it by the product of the other elements
 *          (two exclusive cumprods, so zeros are exact); max/min send it
 *          to the positions equal to the result, split evenly among ties
 *          (jvp: the mean of the tangent over those positions, so jvp and
 *          vjp are transposes); all/any/argmax/argmin have zero
 *          derivatives (integer and bool results). Integer inputs get
 *          gradients by the same rules. vmap: the batch axis goes to the front
 *          and the axes mask shifts by one.
 *
 * number_of_elements: the count a mean or var divides by, from x's shape
 * (see its descriptor below).
 *
 * Scans: cumsum cumprod cummax cummin. One input; params kiln_scan_params
 * {axis, reverse, inclusive, flat}.
 *   shape: the input shape, or (size) when flat.
 *   dtype: the input dtype, except cumsum of bool -> int32 (as MLX).
 *   math:  y[i] = x[0] op ... op x[i] along the axis (from the end when
 *          reverse); exclusive scans shift by one and start at the
 *          identity (0, 1, the lowest value, the highest value).
 *   derivatives: cumsum's vjp is the opposite-direction cumsum; cumprod's
 *          is MLX's (exact at zeros: the first zero along the scan gets
 *          the product with itself replaced by 1, later ones zero);
 *          cummax/cummin send each output's cotangent to the position
 *          whose value it holds (the first such, where that value was set
 *          as a new running extreme). jvp: cumsum of the tangent; cummax/
 *          cummin the tangent gathered from those positions; cumprod has
 *          none. vmap: batch axis in front, axis + 1 (flat scans reshape
 *          each batch item to 1-D first).
 */
#include <math.h>
#include <string.h>

#include "reduce.h"

#include "../backend/cpu/reduce_cpu.h"
#include "../backend/cpu/scan_cpu.h"
#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/array.h"
#include "../core/shape.h"
#include "autodiff_shape.h"
#include "prim.h"

kiln_dtype kiln__reduce_out_dtype(kiln_reduce_out out, kiln_dtype dt)
{
    switch (out) {
    case KILN_REDUCE_OUT_SUM:
        if (dt == KILN_DTYPE_UINT8 || dt == KILN_DTYPE_UINT16 ||
            dt == KILN_DTYPE_UINT32) {
            return KILN_DTYPE_UINT32;
        }
        if (dt == KILN_DTYPE_BOOL || dt == KILN_DTYPE_INT8 ||
            dt == KILN_DTYPE_INT16 || dt == KILN_DTYPE_INT32) {
            return KILN_DTYPE_INT32;
        }
        return dt;
    case KILN_REDUCE_OUT_BOOL:
        return KILN_DTYPE_BOOL;
    case KILN_REDUCE_OUT_UINT32:
        return KILN_DTYPE_UINT32;
    case KILN_REDUCE_OUT_CUMSUM:
        return dt == KILN_DTYPE_BOOL ? KILN_DTYPE_INT32 : dt;
    default:
        return dt;
    }
}

static kiln_status infer_reduce(const kiln_prim *p, const void *params,
                                const kiln_meta *in, int nin, kiln_meta *out,
                                int *nout)
{
    const kiln_reduce_kind *k = p->kernels;
    const kiln_reduce_params *rp = params;
    int nd = 0;
    bool empty = false;
    (void)nin;
    if ((uint64_t)rp->axes >> in[0].ndim != 0) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] reduced axes out of range for ndim %d",
                         p->name, in[0].ndim);
    }
    for (int i = 0; i < in[0].ndim; i++) {
        if (rp->axes & (1u << i)) {
            empty = empty || in[0].shape[i] == 0;
            if (rp->keepdims) {
                out[0].shape[nd++] = 1;
            }
        } else {
            out[0].shape[nd++] = in[0].shape[i];
        }
    }
    if (k->nonempty && empty) {
        char buf[128];
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] cannot reduce over an empty axis (shape %s): "
                         "the reduction has no identity",
                         p->name,
                         kiln__shape_str(in[0].shape, in[0].ndim, buf,
                                         sizeof buf));
    }
    out[0].ndim = nd;
    out[0].dtype = kiln__reduce_out_dtype(k->out, in[0].dtype);
    *nout = 1;
    return KILN_OK;
}

/* Each kind: its dtype rule and flags, and the backend's loops. */
static const kiln_reduce_kind kind_sum = {KILN_REDUCE_OUT_SUM, false, false,
                                          kiln__cpu_reduce_sum};
static const kiln_reduce_kind kind_prod = {KILN_REDUCE_OUT_SUM, false,
                                           false, kiln__cpu_reduce_prod};
static const kiln_reduce_kind kind_max = {KILN_REDUCE_OUT_SAME, false, true,
                                          kiln__cpu_reduce_max};
static const kiln_reduce_kind kind_min = {KILN_REDUCE_OUT_SAME, false, true,
                                          kiln__cpu_reduce_min};
static const kiln_reduce_kind kind_all = {KILN_REDUCE_OUT_BOOL, false, false,
                                          kiln__cpu_reduce_all};
static const kiln_reduce_kind kind_any = {KILN_REDUCE_OUT_BOOL, false, false,
                                          kiln__cpu_reduce_any};
static const kiln_reduce_kind kind_argmax = {KILN_REDUCE_OUT_UINT32, true,
                                             true, kiln__cpu_reduce_argmax};
static const kiln_reduce_kind kind_argmin = {KILN_REDUCE_OUT_UINT32, true,
                                             true, kiln__cpu_reduce_argmin};

/* How each fusable reduction folds a value into its accumulator (see
 * kiln_emit in prim.h); argmax/argmin have none and are never fused. */
static const kiln_emit emit_sum = {.combine = &kiln__prim_add,
                                   .identity = 0.0};
static const kiln_emit emit_prod = {.combine = &kiln__prim_multiply,
                                    .identity = 1.0};
static const kiln_emit emit_max = {.combine = &kiln__prim_maximum,
                                   .identity = -INFINITY, .nonempty = true};
static const kiln_emit emit_min = {.combine = &kiln__prim_minimum,
                                   .identity = INFINITY, .nonempty = true};
static const kiln_emit emit_all = {.combine = &kiln__prim_logical_and,
                                   .identity = 1.0, .order_free = true};
static const kiln_emit emit_any = {.combine = &kiln__prim_logical_or,
                                   .identity = 0.0, .order_free = true};
#define EMIT_sum (&emit_sum)
#define EMIT_prod (&emit_prod)
#define EMIT_max (&emit_max)
#define EMIT_min (&emit_min)
#define EMIT_all (&emit_all)
#define EMIT_any (&emit_any)
#define EMIT_argmax NULL
#define EMIT_argmin NULL

/* ------------------------------------------------------------------ */
/* transform rules of the reductions                                  */
/* ------------------------------------------------------------------ */

/* g, of a reduction's output shape, reshaped so the reduced axes of x
 * are size-1 axes (g itself with keepdims). */
static kiln_array *keep_axes(kiln_array *g, const kiln_array *x,
                             const kiln_reduce_params *rp)
{
    int axes[KILN_MAX_NDIM], n = 0;
    if (!g || rp->keepdims) {
        return g;
    }
    /* expand_dims, not a reshape to x's shape: it bakes no size, so a
     * shapeless replay of the gradient still fits */
    for (int i = 0; i < x->ndim; i++) {
        if (rp->axes >> i & 1u) {
            axes[n++] = i;
        }
    }
    return kiln_expand_dims(g, axes, n);
}

/* The sum over the reduced axes of t, shaped like the reduction's
 * output. */
static kiln_array *sum_like(const kiln_reduce_params *rp, kiln_array *t)
{
    return kiln__autodiff_shape_apply(&kiln__prim_sum, rp, &t, 1);
}

static kiln_status done(kiln_array *a)
{
    return a ? KILN_OK : kiln_errcode();
}

static kiln_status vjp_sum(const kiln_prim *p, const void *params,
                           kiln_array *const *in, int nin,
                           kiln_array *const *out, int nout,
                           kiln_array *const *cot_out, const bool *need,
                           kiln_array **cot_in)
{
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    kiln_array *g = keep_axes(cot_out[0], in[0], params);
    cot_in[0] = g ? kiln__autodiff_shape_apply(&kiln__prim_broadcast_like,
                                               NULL,
                                               (kiln_array *[]){g, in[0]}, 2)
                  : NULL;
    return done(cot_in[0]);
}

/* max/min: 1/count at the positions of x equal to the result (count of
 * them in each reduced group), 0 elsewhere; x's shape and dtype. */
static kiln_array *extreme_weights(const kiln_reduce_params *rp,
                                   kiln_array *x, kiln_array *y)
{
    kiln_reduce_params kp = *rp;
    kp.keepdims = 1;
    kiln_array *m = kiln_astype(kiln_equal(x, keep_axes(y, x, rp)),
                                x->dtype);
    kiln_array *c = m ? kiln__autodiff_shape_apply(&kiln__prim_sum, &kp, &m,
                                                   1)
                      : NULL;
    return c ? kiln_divide(m, c) : NULL;
}

/* prod: the product of the other elements of each reduced group, at each
 * position (x's shape), from two exclusive cumprods over the group laid
 * out as one last axis (as MLX). */
static kiln_array *others_product(const kiln_reduce_params *rp,
                                  kiln_array *x)
{
    int nd = x->ndim, perm[KILN_MAX_NDIM], inv[KILN_MAX_NDIM], k = 0;
    int64_t ts[KILN_MAX_NDIM], flat[KILN_MAX_NDIM], r = 1;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < nd; i++) {
            if ((bool)(rp->axes >> i & 1u) == (bool)pass) {
                perm[k++] = i;
            }
        }
    }
    int nkeep = 0;
    for (int i = 0; i < nd; i++) {
        inv[perm[i]] = i;
        ts[i] = x->shape[perm[i]];
        if (rp->axes >> perm[i] & 1u) {
            r *= ts[i];
        } else {
            flat[nkeep++] = ts[i];
        }
    }
    flat[nkeep] = r;
    kiln_array *xt = nd ? kiln_transpose(x, perm, nd) : x;
    kiln_array *x2 = kiln_reshape(xt, flat, nkeep + 1);
    kiln_array *e = kiln_multiply(kiln_cumprod(x2, -1, false, false, false),
                                  kiln_cumprod(x2, -1, false, true, false));
    e = kiln_reshape(e, ts, nd);
    return nd && e ? kiln_transpose(e, inv, nd) : e;
}

/* d(reduction)/dx as weights of x's shape (max, min, prod). */
static kiln_array *reduce_weights(const kiln_prim *p,
                                  const kiln_reduce_params *rp,
                                  kiln_array *x, kiln_array *y)
{
    return p == &kiln__prim_prod ? others_product(rp, x)
                                 : extreme_weights(rp, x, y);
}

static kiln_status vjp_weighted(const kiln_prim *p, const void *params,
                                kiln_array *const *in, int nin,
                                kiln_array *const *out, int nout,
                                kiln_array *const *cot_out, const bool *need,
                                kiln_array **cot_in)
{
    (void)nin;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    kiln_array *w = reduce_weights(p, params, in[0], out[0]);
    kiln_array *g = keep_axes(cot_out[0], in[0], params);
    cot_in[0] = w && g ? kiln_multiply(w, g) : NULL;
    return done(cot_in[0]);
}

static kiln_status jvp_weighted(const kiln_prim *p, const void *params,
                                kiln_array *const *in, int nin,
                                kiln_array *const *out, int nout,
                                kiln_array *const *tan_in,
                                kiln_array **tan_out)
{
    (void)nin;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    kiln_array *w = reduce_weights(p, params, in[0], out[0]);
    tan_out[0] = w ? sum_like(params, kiln_multiply(w, tan_in[0])) : NULL;
    return done(tan_out[0]);
}

/* Every reduction: the batch axis in front, the mask shifted by one. */
static kiln_status vmap_reduce(const kiln_prim *p, const void *params,
                               kiln_array *const *in, const int *bdim,
                               int nin, kiln_array **out, int *out_bdim,
                               int *nout)
{
    kiln_reduce_params rp = *(const kiln_reduce_params *)params;
    (void)nin;
    *nout = 1;
    if (bdim[0] < 0) {
        out[0] = kiln__autodiff_shape_apply(p, params, in, 1);
        out_bdim[0] = -1;
        return done(out[0]);
    }
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], false, 0);
    rp.axes <<= 1;
    out[0] = kiln__autodiff_shape_apply(p, &rp, &x, 1);
    out_bdim[0] = 0;
    return done(out[0]);
}

#define VJP_sum vjp_sum
#define VJP_prod vjp_weighted
#define VJP_max vjp_weighted
#define VJP_min vjp_weighted
#define VJP_all kiln__autodiff_shape_vjp_zero
#define VJP_any kiln__autodiff_shape_vjp_zero
#define VJP_argmax kiln__autodiff_shape_vjp_zero
#define VJP_argmin kiln__autodiff_shape_vjp_zero
#define JVP_sum kiln__autodiff_shape_jvp_linear
#define JVP_prod jvp_weighted
#define JVP_max jvp_weighted
#define JVP_min jvp_weighted
#define JVP_all kiln__autodiff_shape_jvp_zero
#define JVP_any kiln__autodiff_shape_jvp_zero
#define JVP_argmax kiln__autodiff_shape_jvp_zero
#define JVP_argmin kiln__autodiff_shape_jvp_zero

#define REDUCE(kind)                                                         \
    const kiln_prim kiln__prim_##kind = {                                    \
        .name = #kind,                                                       \
        .flags = KILN_PRIM_REDUCTION,                                        \
        .nin = 1,                                                            \
        .params_size = sizeof(kiln_reduce_params),                           \
        .infer = infer_reduce,                                               \
        .eval_cpu = kiln__cpu_eval_reduce,                                   \
        .vjp = VJP_##kind,                                                   \
        .jvp = JVP_##kind,                                                   \
        .vmap = vmap_reduce,                                                 \
        .emit = EMIT_##kind,                                                 \
        .kernels = &kind_##kind,                                             \
    };
KILN_REDUCE_KIND_LIST(REDUCE)

/* ------------------------------------------------------------------ */
/* number_of_elements                                                 */
/* ------------------------------------------------------------------ */

static double count_value(const void *params, const kiln_meta *in)
{
    const kiln_count_params *cp = params;
    double c = 1.0;
    for (int i = 0; i < in[0].ndim; i++) {
        if (cp->axes >> i & 1u) {
            c *= (double)in[0].shape[i];
        }
    }
    c -= (double)cp->ddof;
    return c > 0 ? c : 0.0;
}

static kiln_status infer_count(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    const kiln_count_params *cp = params;
    (void)nin;
    if (!kiln__dtype_valid((kiln_dtype)cp->dtype)) {
        return kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", p->name,
                         (int)cp->dtype);
    }
    if (in[0].ndim < 32 && cp->axes >> in[0].ndim) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] axes mask 0x%x beyond the input's %d axes",
                         p->name, (unsigned)cp->axes, in[0].ndim);
    }
    memset(&out[0], 0, sizeof out[0]);
    out[0].dtype = (kiln_dtype)cp->dtype;
    out[0].ndim = 0;
    *nout = 1;
    return KILN_OK;
}

/* Reads in[0]'s shape only, never its data. */
static kiln_status eval_count(const kiln_node *n, kiln_array *const *in,
                              kiln_array *const *out)
{
    kiln_meta m;
    m.dtype = in[0]->dtype;
    m.ndim = in[0]->ndim;
    memcpy(m.shape, in[0]->shape, sizeof(int64_t) * (size_t)m.ndim);
    if (kiln__array_alloc(out[0], n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    kiln__dtype_store_f64(kiln__array_ptr(out[0]), out[0]->dtype,
                          count_value(n->params, &m));
    return KILN_OK;
}

/* The same count over the unbatched axes (the mask skips the batch
 * axis); the result does not vary over the batch. */
static kiln_status vmap_count(const kiln_prim *p, const void *params,
                              kiln_array *const *in, const int *bdim,
                              int nin, kiln_array **out, int *out_bdim,
                              int *nout)
{
    kiln_count_params cp = *(const kiln_count_params *)params;
    int b = bdim[0];
    (void)nin;
    *nout = 1;
    if (b >= 0) {
        uint32_t low = cp.axes & ((1u << b) - 1u);
        cp.axes = low | (cp.axes >> b << (b + 1));
    }
    out[0] = kiln__autodiff_shape_apply(p, &cp, in, 1);
    out_bdim[0] = -1;
    return out[0] ? KILN_OK : kiln_errcode();
}

/*
 * number_of_elements: what mean and var divide by, max(the product of
 * x's sizes along the axes in the mask - ddof, 0), as a 0-d array of the
 * params' dtype (as MLX's NumberOfElements). It reads x's shape only, so
 * a shapeless replay computes it for the new shape where a constant
 * baked at trace time would be wrong; with fixed shapes compile's
 * simplify folds it into a constant (shape_value). No derivative (it
 * does not depend on x's values).
 */
const kiln_prim kiln__prim_number_of_elements = {
    .name = "number_of_elements",
    .nin = 1,
    .params_size = sizeof(kiln_count_params),
    .infer = infer_count,
    .eval_cpu = eval_count,
    .shape_value = count_value,
    .vjp = kiln__autodiff_shape_vjp_zero,
    .jvp = kiln__autodiff_shape_jvp_zero,
    .vmap = vmap_count,
};

static kiln_status infer_scan(const kiln_prim *p, const void *params,
                              const kiln_meta *in, int nin, kiln_meta *out,
                              int *nout)
{
    const kiln_scan_kind *k = p->kernels;
    const kiln_scan_params *sp = params;
    (void)nin;
    out[0] = in[0];
    if (sp->flat) {
        int64_t size = 1;
        for (int i = 0; i < in[0].ndim; i++) {
            size *= in[0].shape[i];
        }
        out[0].ndim = 1;
        out[0].shape[0] = size;
    } else if (sp->axis < 0 || sp->axis >= in[0].ndim) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] axis %d is out of bounds for array of ndim "
                         "%d",
                         p->name, (int)sp->axis, in[0].ndim);
    }
    out[0].dtype = kiln__reduce_out_dtype(k->out, in[0].dtype);
    *nout = 1;
    return KILN_OK;
}

static const kiln_scan_kind kind_cumsum = {KILN_REDUCE_OUT_CUMSUM,
                                           kiln__cpu_scan_cumsum};
static const kiln_scan_kind kind_cumprod = {KILN_REDUCE_OUT_SAME,
                                            kiln__cpu_scan_cumprod};
static const kiln_scan_kind kind_cummax = {KILN_REDUCE_OUT_SAME,
                                           kiln__cpu_scan_cummax};
static const kiln_scan_kind kind_cummin = {KILN_REDUCE_OUT_SAME,
                                           kiln__cpu_scan_cummin};

/* ------------------------------------------------------------------ */
/* transform rules of the scans                                       */
/* ------------------------------------------------------------------ */

/* A scan of kind p over x along ax (never flat). */
static kiln_array *scan_on(const kiln_prim *p, kiln_array *x, int ax,
                           bool reverse, bool inclusive)
{
    kiln_scan_params sp;
    memset(&sp, 0, sizeof sp);
    sp.axis = ax;
    sp.reverse = reverse;
    sp.inclusive = inclusive;
    return kiln__autodiff_shape_apply(p, &sp, &x, 1);
}

/* x as the scan sees it: 1-D when flat. */
static kiln_array *scan_view(const kiln_scan_params *sp, kiln_array *x)
{
    int64_t n = -1;
    return sp->flat && x ? kiln_reshape(x, &n, 1) : x;
}

/* r (the scan's view of x) back in x's shape. */
static kiln_array *scan_unview(const kiln_scan_params *sp, kiln_array *r,
                               const kiln_array *x)
{
    return sp->flat && r ? kiln_reshape(r, x->shape, x->ndim) : r;
}

static kiln_status vjp_cumsum(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *cot_out, const bool *need,
                              kiln_array **cot_in)
{
    const kiln_scan_params *sp = params;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    int ax = sp->flat ? 0 : sp->axis;
    kiln_array *c = scan_on(p, cot_out[0], ax, !sp->reverse, sp->inclusive);
    cot_in[0] = scan_unview(sp, c, in[0]);
    return done(cot_in[0]);
}

/* cumprod's vjp, as MLX: exact where x has zeros. */
static kiln_status vjp_cumprod(const kiln_prim *p, const void *params,
                               kiln_array *const *in, int nin,
                               kiln_array *const *out, int nout,
                               kiln_array *const *cot_out, const bool *need,
                               kiln_array **cot_in)
{
    const kiln_scan_params *sp = params;
    (void)nin;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    int ax = sp->flat ? 0 : sp->axis;
    bool rev = sp->reverse, inc = sp->inclusive;
    kiln_array *x = scan_view(sp, in[0]), *y = out[0], *g = cot_out[0];
    kiln_array *other = scan_on(p, x, ax, rev, !inc);
    kiln_array *ex = inc ? other : y, *incl = inc ? y : other;
    kiln_array *z = kiln_scalar_f64(0.0, in[0]->dtype);
    kiln_array *one = kiln_scalar_f64(1.0, in[0]->dtype);
    kiln_array *eq_zero = kiln_equal(incl, z);
    kiln_array *first = kiln_logical_and(eq_zero, kiln_not_equal(ex, z));
    kiln_array *with_one = scan_on(p, kiln_where(first, one, x), ax, rev,
                                   inc);
    kiln_array *grad_one = scan_on(&kiln__prim_cumsum,
                                   kiln_multiply(with_one, g), ax, !rev, inc);
    kiln_array *grad = kiln_divide(
        scan_on(&kiln__prim_cumsum, kiln_multiply(y, g), ax, !rev, inc), x);
    kiln_array *r = kiln_where(first, grad_one,
                               kiln_where(eq_zero, z, grad));
    cot_in[0] = scan_unview(sp, r, in[0]);
    return done(cot_in[0]);
}

/* x shifted by one place along ax, a zero entering: toward the end
 * (y[i] = x[i - 1]) or toward the start (y[i] = x[i + 1]). */
static kiln_array *shift(kiln_array *x, int ax, bool toward_end)
{
    int64_t n = x->shape[ax], zs[KILN_MAX_NDIM];
    for (int i = 0; i < x->ndim; i++) {
        zs[i] = i == ax ? 1 : x->shape[i];
    }
    kiln_array *z = kiln_zeros(zs, x->ndim, x->dtype);
    kiln_array *parts[2];
    if (toward_end) {
        parts[0] = z;
        parts[1] = kiln__autodiff_shape_slice_axis(x, ax, 0, n - 1);
    } else {
        parts[0] = kiln__autodiff_shape_slice_axis(x, ax, 1, n);
        parts[1] = z;
    }
    return parts[0] && parts[1] ? kiln_concatenate(parts, 2, ax) : NULL;
}

/* 0 .. n-1 along axis ax of an nd-dim array (size 1 elsewhere), int64. */
static kiln_array *positions(int64_t n, int ax, int nd)
{
    int64_t shape[KILN_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
        shape[i] = i == ax ? n : 1;
    }
    return kiln_reshape(kiln_arange(0, (double)n, 1, KILN_DTYPE_INT64), shape,
                        nd);
}

/* cummax/cummin, inclusive, on the scan's view x with result y: where
 * each y[j] takes its value from (src, the position of the last new
 * running extreme up to j in the scan's direction), and which positions
 * set one (rec). */
typedef struct extreme_src {
    kiln_array *pos, *rec, *src;
} extreme_src;

static bool find_sources(const kiln_prim *p, kiln_array *x, kiln_array *y,
                         int ax, bool rev, extreme_src *s)
{
    int64_t n = x->shape[ax];
    s->pos = positions(n, ax, x->ndim);
    kiln_array *ex = scan_on(p, x, ax, rev, false);
    kiln_array *edge = kiln_equal(s->pos, kiln_scalar_i64(rev ? n - 1 : 0,
                                                          KILN_DTYPE_INT64));
    s->rec = kiln_logical_or(kiln_not_equal(ex, y), edge);
    kiln_array *none = kiln_scalar_i64(rev ? n : -1, KILN_DTYPE_INT64);
    kiln_array *idx = kiln_where(s->rec, s->pos, none);
    s->src = rev ? kiln_cummin(idx, ax, false, true, true)
                 : kiln_cummax(idx, ax, false, false, true);
    return s->src != NULL;
}

static kiln_status vjp_cumext(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *cot_out, const bool *need,
                              kiln_array **cot_in)
{
    const kiln_scan_params *sp = params;
    extreme_src s;
    (void)nin;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0] || in[0]->size == 0) {
        return KILN_OK;
    }
    int ax = sp->flat ? 0 : sp->axis;
    bool rev = sp->reverse;
    kiln_array *x = scan_view(sp, in[0]), *y = out[0], *g = cot_out[0];
    if (!sp->inclusive) {
        /* y_excl[j] = y_incl[j - 1] in the scan's direction */
        y = scan_on(p, x, ax, rev, true);
        g = y ? shift(g, ax, rev) : NULL;
    }
    if (!g || !find_sources(p, x, y, ax, rev, &s)) {
        return kiln_errcode();
    }
    /* each record receives the cotangents of its run: a suffix sum (in
     * the scan's direction) at it minus the one at the next record */
    int64_t n = x->shape[ax];
    kiln_array *suf = scan_on(&kiln__prim_cumsum, g, ax, !rev, true);
    kiln_array *big = kiln_scalar_i64(rev ? -1 : n, KILN_DTYPE_INT64);
    kiln_array *idx = kiln_where(s.rec, s.pos, big);
    kiln_array *next = rev ? kiln_cummax(idx, ax, false, false, false)
                           : kiln_cummin(idx, ax, false, true, false);
    /* exclusive scans start at the type's extreme: clamp into [-1, n] */
    next = kiln_clip(next, kiln_scalar_i64(-1, KILN_DTYPE_INT64),
                     kiln_scalar_i64(n, KILN_DTYPE_INT64));
    kiln_array *parts[2], *zero = NULL;
    if (suf) {
        int64_t zs[KILN_MAX_NDIM];
        for (int i = 0; i < suf->ndim; i++) {
            zs[i] = i == ax ? 1 : suf->shape[i];
        }
        zero = kiln_zeros(zs, suf->ndim, suf->dtype);
    }
    parts[rev ? 1 : 0] = suf;
    parts[rev ? 0 : 1] = zero;
    kiln_array *padded = suf && zero ? kiln_concatenate(parts, 2, ax) : NULL;
    if (rev && next) {
        next = kiln_add(next, kiln_scalar_i64(1, KILN_DTYPE_INT64));
    }
    kiln_array *after = padded && next
                            ? kiln_take_along_axis(
                                  padded,
                                  kiln_broadcast_to(next, suf->shape,
                                                    suf->ndim),
                                  ax, false)
                            : NULL;
    kiln_array *r = after ? kiln_where(s.rec, kiln_subtract(suf, after),
                                       kiln_scalar_f64(0.0, suf->dtype))
                          : NULL;
    cot_in[0] = scan_unview(sp, r, in[0]);
    return done(cot_in[0]);
}

static kiln_status jvp_cumext(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *tan_in,
                              kiln_array **tan_out)
{
    const kiln_scan_params *sp = params;
    extreme_src s;
    (void)nin;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0] || in[0]->size == 0) {
        return KILN_OK;
    }
    int ax = sp->flat ? 0 : sp->axis;
    bool rev = sp->reverse;
    kiln_array *x = scan_view(sp, in[0]), *y = out[0];
    kiln_array *t = scan_view(sp, tan_in[0]);
    if (!sp->inclusive) {
        y = scan_on(p, x, ax, rev, true);
    }
    if (!y || !t || !find_sources(p, x, y, ax, rev, &s)) {
        return kiln_errcode();
    }
    kiln_array *r = kiln_take_along_axis(
        t, kiln_broadcast_to(s.src, x->shape, x->ndim), ax, false);
    if (r && !sp->inclusive) {
        r = shift(r, ax, !rev);
    }
    tan_out[0] = r;
    return done(r);
}

/* Every scan: the batch axis in front, axis + 1 (a flat scan scans each
 * batch item flattened). */
static kiln_status vmap_scan(const kiln_prim *p, const void *params,
                             kiln_array *const *in, const int *bdim, int nin,
                             kiln_array **out, int *out_bdim, int *nout)
{
    kiln_scan_params sp = *(const kiln_scan_params *)params;
    (void)nin;
    *nout = 1;
    if (bdim[0] < 0) {
        out[0] = kiln__autodiff_shape_apply(p, params, in, 1);
        out_bdim[0] = -1;
        return done(out[0]);
    }
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], false, 0);
    if (sp.flat && x) {
        int64_t shape[2] = {x->shape[0], -1};
        x = kiln_reshape(x, shape, 2);
        sp.flat = 0;
        sp.axis = 0;
    }
    sp.axis += 1;
    out[0] = kiln__autodiff_shape_apply(p, &sp, &x, 1);
    out_bdim[0] = 0;
    return done(out[0]);
}

#define VJP_cumsum vjp_cumsum
#define VJP_cumprod vjp_cumprod
#define VJP_cummax vjp_cumext
#define VJP_cummin vjp_cumext
#define JVP_cumsum kiln__autodiff_shape_jvp_linear
#define JVP_cumprod NULL
#define JVP_cummax jvp_cumext
#define JVP_cummin jvp_cumext

#define SCAN(kind)                                                           \
    const kiln_prim kiln__prim_##kind = {                                    \
        .name = #kind,                                                       \
        .nin = 1,                                                            \
        .params_size = sizeof(kiln_scan_params),                             \
        .infer = infer_scan,                                                 \
        .eval_cpu = kiln__cpu_eval_scan,                                     \
        .vjp = VJP_##kind,                                                   \
        .jvp = JVP_##kind,                                                   \
        .vmap = vmap_scan,                                                   \
        .kernels = &kind_##kind,                                             \
    };
KILN_SCAN_KIND_LIST(SCAN)
