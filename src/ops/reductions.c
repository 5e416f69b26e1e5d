/*
 * reductions.c - the public reductions and scans: validate axes, make the
 * node; and the composites mean, var, std, logsumexp and softmax, written
 * from primitives so that autodiff and compile see through them.
 *
 * Axes: NULL means every axis; negative axes count from the end; an axis
 * out of range is an index error, a repeated one a value error. An empty
 * list (axes != NULL, naxes == 0) reduces nothing: the result is the input
 * converted to the reduction's output dtype.
 *
 * dtypes (MLX): sum/prod of bool and int8-32 give int32, of uint8-32 give
 * uint32, others keep theirs; min/max keep the dtype; all/any give bool;
 * argmin/argmax give uint32; mean, var, std, logsumexp and softmax give the
 * input's float dtype (float32 for integers and bool). The composites
 * compute float16/bfloat16 inputs in float32 and round once at the end
 * (softmax only when `precise`, as MLX), so a half-precision mean or
 * logsumexp of many elements cannot overflow in an intermediate sum.
 *
 * Composite formulas (c = number of reduced elements, a number_of_elements
 * node on x's shape, so a shapeless compiled replay uses the new count):
 *   mean      = sum(x) / c                (c == 0 gives NaN)
 *   var       = sum((x - mean_keep(x))^2) / max(c - ddof, 0)
 *   std       = sqrt(var)
 *   logsumexp = where(isinf(m), m, log(sum(exp(x - m))) + m),
 *               m = stop_gradient(max(x)) (kept axes squeezed with a max
 *               over the size-1 axes, which is a copy)
 *   softmax   = e * reciprocal(sum_keep(e)), e = exp(x - stop_gradient(
 *               max_keep(x))) (one division per row, as MLX)
 */
#include <string.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/reduce.h"
#include "ops.h"

/* What every reduction over a list of axes starts from. */
typedef struct reduction {
    uint32_t mask;  /* reduced axes of x */
    kiln_dtype dt;  /* x's float dtype: the composites' result dtype */
    kiln_dtype ct;  /* the dtype the composites compute in: float32 for
                       half types (and non-floats), else dt */
} reduction;

/* Checks x and its axes and fills r; false (error recorded, naming fn) on
 * a NULL x or bad axes. */
static bool prologue(const kiln_array *x, const int *axes, int naxes,
                     reduction *r, const char *fn)
{
    bool m[KILN_MAX_NDIM];
    if (!x) {
        kiln__err_null(fn);
        return false;
    }
    if (kiln__shape_axes(axes, naxes, x->ndim, m, fn) != KILN_OK) {
        return false;
    }
    r->mask = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (m[i]) {
            r->mask |= 1u << i;
        }
    }
    r->dt = kiln__dtype_to_float(x->dtype);
    r->ct = r->dt == KILN_DTYPE_FLOAT64 ? r->dt : KILN_DTYPE_FLOAT32;
    return true;
}

/* A reduction node over the axes in mask (NULL when x is NULL). */
static kiln_array *reduce_mask(const kiln_prim *p, kiln_array *x,
                               uint32_t mask, bool keepdims, const char *fn)
{
    kiln_reduce_params rp;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    memset(&rp, 0, sizeof rp);
    rp.axes = mask;
    rp.keepdims = keepdims;
    return kiln__node_make1(p, &rp, &x, 1, fn);
}

/* The input of x's pending elementwise step whose shape is x's on every
 * replay, or NULL: its one array argument when each other argument is
 * that same array or has rank 0 (astype(a), a * a, a * 2, a ** 2), which
 * a shapeless replay keeps at rank 0, so the broadcast is that array's
 * shape whatever it becomes. */
static kiln_array *same_shape_input(const kiln_array *x)
{
    const kiln_node *n = x->buf ? NULL : x->node;
    kiln_array *a = NULL;
    if (!n || !(n->prim->flags & KILN_PRIM_ELEMENTWISE)) {
        return NULL;
    }
    for (int i = 0; i < n->nin; i++) {
        kiln_array *in = n->in[i];
        if (in->ndim == 0) {
            continue;
        }
        if (a && in != a) {
            return NULL;
        }
        a = in;
    }
    return a && kiln__shape_equal(a->shape, a->ndim, x->shape, x->ndim)
               ? a
               : NULL;
}

/* What a mean or var over mask divides by: max(count - ddof, 0) as a 0-d
 * ct array, a node reading x's shape (number_of_elements) rather than a
 * constant, so that a shapeless compiled replay divides by the new
 * count. */
static kiln_array *count_of(kiln_array *x, uint32_t mask, int64_t ddof,
                            kiln_dtype ct, const char *fn)
{
    /* counted on the first array up a chain of elementwise steps whose
     * shape always equals x's: a pending x then has no consumer outside a
     * fused region, which would make a shapeless compile store it (layer
     * norm's astype of its input, RMS norm's x * x) */
    for (kiln_array *up = x ? same_shape_input(x) : NULL; up;
         up = same_shape_input(up)) {
        x = up;
    }
    kiln_count_params cp;
    memset(&cp, 0, sizeof cp);
    cp.axes = mask;
    cp.dtype = (int32_t)ct;
    cp.ddof = ddof;
    return kiln__node_make1(&kiln__prim_number_of_elements, &cp, &x, 1, fn);
}

static kiln_array *reduce_axes(const kiln_prim *p, kiln_array *x,
                               const int *axes, int naxes, bool keepdims,
                               const char *fn)
{
    reduction r;
    if (!prologue(x, axes, naxes, &r, fn)) {
        return NULL;
    }
    return reduce_mask(p, x, r.mask, keepdims, fn);
}

#define KILN_X_(name)                                                        \
    kiln_array *kiln_##name(kiln_array *x, const int *axes, int naxes,       \
                            bool keepdims)                                   \
    {                                                                        \
        return kiln__ret(                                                    \
            reduce_axes(&kiln__prim_##name, x, axes, naxes, keepdims,        \
                        #name));                                             \
    }
KILN_X_(sum)
KILN_X_(prod)
KILN_X_(min)
KILN_X_(max)
KILN_X_(all)
KILN_X_(any)
#undef KILN_X_

kiln_array *kiln_mean(kiln_array *x, const int *axes, int naxes,
                      bool keepdims)
{
    const char *fn = "mean";
    reduction r;
    if (!prologue(x, axes, naxes, &r, fn)) {
        return NULL;
    }
    kiln_array *t[4];
    t[0] = kiln__op_astype(x, r.ct, fn);
    t[1] = reduce_mask(&kiln__prim_sum, t[0], r.mask, keepdims, fn);
    t[2] = count_of(x, r.mask, 0, r.ct, fn);
    t[3] = kiln__op_binary(&kiln__prim_divide, t[1], t[2], fn);
    kiln_array *y = kiln__op_astype(t[3], r.dt, fn);
    kiln__release_all(t, 4);
    return kiln__ret(y);
}

/* var in the compute dtype (not yet rounded to x's float dtype). */
static kiln_array *variance(kiln_array *x, const int *axes, int naxes,
                            bool keepdims, int ddof, const char *fn)
{
    reduction r;
    if (!prologue(x, axes, naxes, &r, fn)) {
        return NULL;
    }
    kiln_dtype ct = r.ct;
    uint32_t mask = r.mask;
    kiln_array *t[8];
    t[0] = kiln__op_astype(x, ct, fn);
    t[1] = reduce_mask(&kiln__prim_sum, t[0], mask, true, fn);
    t[2] = count_of(x, mask, 0, ct, fn);
    t[3] = kiln__op_binary(&kiln__prim_divide, t[1], t[2], fn);
    t[4] = kiln__op_binary(&kiln__prim_subtract, t[0], t[3], fn);
    t[5] = kiln__op_unary(&kiln__prim_square, t[4], fn);
    t[6] = reduce_mask(&kiln__prim_sum, t[5], mask, keepdims, fn);
    t[7] = count_of(x, mask, ddof, ct, fn);
    kiln_array *v = kiln__op_binary(&kiln__prim_divide, t[6], t[7], fn);
    kiln__release_all(t, 8);
    return v;
}

kiln_array *kiln_var(kiln_array *x, const int *axes, int naxes,
                     bool keepdims, int ddof)
{
    const char *fn = "var";
    kiln_array *v = variance(x, axes, naxes, keepdims, ddof, fn);
    kiln_array *y =
        v ? kiln__op_astype(v, kiln__dtype_to_float(x->dtype), fn) : NULL;
    kiln_array_release(v);
    return kiln__ret(y);
}

kiln_array *kiln_std(kiln_array *x, const int *axes, int naxes,
                     bool keepdims, int ddof)
{
    const char *fn = "std";
    kiln_array *v = variance(x, axes, naxes, keepdims, ddof, fn);
    kiln_array *s = v ? kiln__op_unary(&kiln__prim_sqrt, v, fn) : NULL;
    kiln_array *y =
        s ? kiln__op_astype(s, kiln__dtype_to_float(x->dtype), fn) : NULL;
    kiln_array_release(v);
    kiln_array_release(s);
    return kiln__ret(y);
}

kiln_array *kiln_logsumexp(kiln_array *x, const int *axes, int naxes,
                           bool keepdims)
{
    const char *fn = "logsumexp";
    reduction r;
    if (!prologue(x, axes, naxes, &r, fn)) {
        return NULL;
    }
    kiln_dtype dt = r.dt, ct = r.ct;
    uint32_t mask = r.mask;
    kiln_array *t[11];
    t[0] = kiln__op_astype(x, ct, fn);
    t[1] = reduce_mask(&kiln__prim_max, t[0], mask, true, fn);
    t[2] = t[1] ? kiln__op_unary(&kiln__prim_stop_gradient, t[1], fn) : NULL;
    t[3] = kiln__op_binary(&kiln__prim_subtract, t[0], t[2], fn);
    t[4] = t[3] ? kiln__op_unary(&kiln__prim_exp, t[3], fn) : NULL;
    t[5] = reduce_mask(&kiln__prim_sum, t[4], mask, keepdims, fn);
    t[6] = t[5] ? kiln__op_unary(&kiln__prim_log, t[5], fn) : NULL;
    /* the max in the result's shape: a max over the size-1 kept axes
     * drops them */
    t[7] = keepdims ? kiln_array_retain(t[2])
                    : reduce_mask(&kiln__prim_max, t[2], mask, false, fn);
    t[8] = kiln__op_binary(&kiln__prim_add, t[6], t[7], fn);
    t[9] = t[7] ? kiln__op_unary(&kiln__prim_isinf, t[7], fn) : NULL;
    kiln_array *w[3] = {t[9], t[7], t[8]};
    t[10] = t[9] && t[8] ? kiln__node_make1(&kiln__prim_where, NULL, w, 3,
                                            fn)
                         : NULL;
    kiln_array *y = t[10] ? kiln__op_astype(t[10], dt, fn) : NULL;
    kiln__release_all(t, 11);
    return kiln__ret(y);
}

kiln_array *kiln_softmax(kiln_array *x, const int *axes, int naxes,
                         bool precise)
{
    const char *fn = "softmax";
    reduction r;
    if (!prologue(x, axes, naxes, &r, fn)) {
        return NULL;
    }
    kiln_dtype dt = r.dt;
    uint32_t mask = r.mask;
    if (x->size == 0) {
        return kiln__ret(kiln__op_astype(x, dt, fn));
    }
    bool half = dt == KILN_DTYPE_FLOAT16 || dt == KILN_DTYPE_BFLOAT16;
    kiln_dtype ct = precise && half ? KILN_DTYPE_FLOAT32 : dt;
    kiln_array *t[8];
    t[0] = kiln__op_astype(x, ct, fn);
    t[1] = reduce_mask(&kiln__prim_max, t[0], mask, true, fn);
    t[2] = t[1] ? kiln__op_unary(&kiln__prim_stop_gradient, t[1], fn) : NULL;
    t[3] = kiln__op_binary(&kiln__prim_subtract, t[0], t[2], fn);
    t[4] = t[3] ? kiln__op_unary(&kiln__prim_exp, t[3], fn) : NULL;
    t[5] = reduce_mask(&kiln__prim_sum, t[4], mask, true, fn);
    /* one reciprocal per row and a multiply per element, as MLX */
    t[6] = t[5] ? kiln__op_unary(&kiln__prim_reciprocal, t[5], fn) : NULL;
    t[7] = kiln__op_binary(&kiln__prim_multiply, t[4], t[6], fn);
    kiln_array *y = kiln__op_astype(t[7], dt, fn);
    kiln__release_all(t, 8);
    return kiln__ret(y);
}

/* argmin/argmax: one axis, or every axis of the flattened array. */
static kiln_array *arg_reduce(const kiln_prim *p, kiln_array *x, int axis,
                              bool flat, bool keepdims, const char *fn)
{
    int ax;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (flat) {
        uint32_t all = x->ndim ? (uint32_t)((1ull << x->ndim) - 1) : 0;
        return reduce_mask(p, x, all, keepdims, fn);
    }
    if (kiln__shape_axis(axis, x->ndim, &ax, fn) != KILN_OK) {
        return NULL;
    }
    return reduce_mask(p, x, 1u << ax, keepdims, fn);
}

kiln_array *kiln_argmin(kiln_array *x, int axis, bool flat, bool keepdims)
{
    return kiln__ret(
        arg_reduce(&kiln__prim_argmin, x, axis, flat, keepdims, "argmin"));
}

kiln_array *kiln_argmax(kiln_array *x, int axis, bool flat, bool keepdims)
{
    return kiln__ret(
        arg_reduce(&kiln__prim_argmax, x, axis, flat, keepdims, "argmax"));
}

static kiln_array *scan(const kiln_prim *p, kiln_array *x, int axis,
                        bool flat, bool reverse, bool inclusive,
                        const char *fn)
{
    kiln_scan_params sp;
    int ax = 0;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!flat && kiln__shape_axis(axis, x->ndim, &ax, fn) != KILN_OK) {
        return NULL;
    }
    memset(&sp, 0, sizeof sp);
    sp.axis = ax;
    sp.reverse = reverse;
    sp.inclusive = inclusive;
    sp.flat = flat;
    return kiln__node_make1(p, &sp, &x, 1, fn);
}

#define KILN_X_(name)                                                        \
    kiln_array *kiln_##name(kiln_array *x, int axis, bool flat,              \
                            bool reverse, bool inclusive)                    \
    {                                                                        \
        return kiln__ret(scan(&kiln__prim_##name, x, axis, flat, reverse,    \
                              inclusive, #name));                            \
    }
KILN_SCAN_OP_LIST(KILN_X_)
#undef KILN_X_
