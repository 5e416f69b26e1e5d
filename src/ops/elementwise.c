/*
 * elementwise.c - the public elementwise ops: validate, promote, node.
 *
 * Promotion: both operands go to kiln__dtype_promote_weak's dtype (weak
 * Python-style scalars defer to the other operand), then the primitive's
 * dtype rule (prim.h) adjusts: FLOAT sends integers and bool to float32,
 * BOOL casts to bool, INTEGER rejects floats, NUMERIC rejects bool.
 * Nothing here switches on a primitive: the rule is descriptor data.
 */
#include <math.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "ops.h"

void kiln__release_all(kiln_array **xs, int n)
{
    for (int i = 0; i < n; i++) {
        kiln_array_release(xs[i]);
    }
}

kiln_array *kiln__op_astype(kiln_array *x, kiln_dtype dt, const char *fn)
{
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!kiln__dtype_valid(dt)) {
        kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", fn, (int)dt);
        return NULL;
    }
    if (x->dtype == dt) {
        return kiln_array_retain(x);
    }
    if (x->weak && x->buf) {
        /* a weak scalar becomes the other operand's dtype from its exact
         * value (x_f64 + 0.1 adds the double 0.1, not the float 0.1f) */
        kiln_array *s = kiln__scalar(0.0, dt, false);
        const void *src = kiln__array_ptr(x);
        if (!s) {
            return NULL;
        }
        if (x->weak_exact && x->weak_is_int) {
            kiln__dtype_store_i64(kiln__array_ptr(s), dt, x->wint);
        } else if (x->weak_exact) {
            kiln__dtype_store_f64(kiln__array_ptr(s), dt, x->wfloat);
        } else if (kiln_dtype_is_float(x->dtype)) {
            /* a weak result of weak operands: its stored value */
            kiln__dtype_store_f64(kiln__array_ptr(s), dt,
                                  kiln__dtype_load_f64(src, x->dtype));
        } else {
            kiln__dtype_store_i64(kiln__array_ptr(s), dt,
                                  kiln__dtype_load_i64(src, x->dtype));
        }
        return s;
    }
    struct {
        kiln_dtype dtype;
    } params = {dt};
    return kiln__node_make1(&kiln__prim_astype, &params, &x, 1, fn);
}

/* The dtype an operand of `rule` must have, given the promoted dtype;
 * returns false (error recorded) when the rule rejects it. */
static bool rule_dtype(const kiln_prim *p, kiln_dtype promoted,
                       kiln_dtype *dt, const char *fn)
{
    switch (p->rule) {
    case KILN_RULE_FLOAT:
        *dt = kiln__dtype_to_float(promoted);
        return true;
    case KILN_RULE_BOOL:
        *dt = KILN_DTYPE_BOOL;
        return true;
    case KILN_RULE_INTEGER:
        if (kiln_dtype_is_float(promoted)) {
            kiln__err(KILN_ERR_TYPE, "[%s] needs integer or bool inputs, got %s",
                      fn, kiln_dtype_name(promoted));
            return false;
        }
        *dt = promoted;
        return true;
    case KILN_RULE_NUMERIC:
        if (promoted == KILN_DTYPE_BOOL) {
            kiln__err(KILN_ERR_TYPE, "[%s] not supported for dtype bool", fn);
            return false;
        }
        *dt = promoted;
        return true;
    default:
        *dt = promoted;
        return true;
    }
}

kiln_array *kiln__op_unary(const kiln_prim *p, kiln_array *x, const char *fn)
{
    kiln_dtype dt;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!rule_dtype(p, x->dtype, &dt, fn)) {
        return NULL;
    }
    kiln_array *xc = kiln__op_astype(x, dt, fn);
    if (!xc) {
        return NULL;
    }
    kiln_array *y = kiln__node_make1(p, NULL, &xc, 1, fn);
    kiln_array_release(xc);
    return y;
}

kiln_array *kiln__op_binary(const kiln_prim *p, kiln_array *a, kiln_array *b,
                            const char *fn)
{
    bool weak;
    kiln_dtype dt;
    if (!a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    kiln_dtype promoted =
        kiln__dtype_promote_weak(a->dtype, a->weak, b->dtype, b->weak, &weak);
    if (!rule_dtype(p, promoted, &dt, fn)) {
        return NULL;
    }
    kiln_array *in[2] = {kiln__op_astype(a, dt, fn), NULL};
    in[1] = in[0] ? kiln__op_astype(b, dt, fn) : NULL;
    kiln_array *y = in[1] ? kiln__node_make1(p, NULL, in, 2, fn) : NULL;
    if (y) {
        /* a bool or float result of weak ints is not a Python number */
        y->weak = weak && y->dtype == in[0]->dtype;
    }
    kiln__release_all(in, 2);
    return y;
}

#define KILN_X_(op)                                                       \
    kiln_array *kiln_##op(kiln_array *x)                                  \
    {                                                                     \
        return kiln__ret(kiln__op_unary(&kiln__prim_##op, x, #op));       \
    }
KILN_UNARY_OP_LIST(KILN_X_)
#undef KILN_X_

#define KILN_X_(op)                                                       \
    kiln_array *kiln_##op(kiln_array *a, kiln_array *b)                   \
    {                                                                     \
        return kiln__ret(kiln__op_binary(&kiln__prim_##op, a, b, #op));   \
    }
KILN_BINARY_OP_LIST(KILN_X_)
#undef KILN_X_

kiln_array *kiln_astype(kiln_array *x, kiln_dtype dt)
{
    return kiln__ret(kiln__op_astype(x, dt, "astype"));
}

kiln_array *kiln_round(kiln_array *x, int decimals)
{
    const char *fn = "round";
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (decimals == 0 || x->dtype == KILN_DTYPE_BOOL ||
        (!kiln_dtype_is_float(x->dtype) && decimals > 0)) {
        return kiln__ret(kiln__op_unary(&kiln__prim_round, x, fn));
    }
    /* numpy's recipe: scale by the exact power of ten (x * 10^d, or
     * x / 10^-d for negative d, where 10^d itself would be inexact), round
     * half to even, scale back. Integers (negative d only) go through
     * float64 and back, so round(25, -1) is 20. */
    kiln_dtype dt = x->dtype;
    kiln_dtype ct = kiln_dtype_is_float(dt) ? dt : KILN_DTYPE_FLOAT64;
    const kiln_prim *down =
        decimals > 0 ? &kiln__prim_multiply : &kiln__prim_divide;
    const kiln_prim *up =
        decimals > 0 ? &kiln__prim_divide : &kiln__prim_multiply;
    double p = pow(10.0, decimals > 0 ? decimals : -(double)decimals);
    kiln_array *t[6] = {kiln__scalar(p, ct, true), NULL, NULL, NULL, NULL,
                        NULL};
    t[1] = kiln__op_astype(x, ct, fn);
    t[2] = kiln__op_binary(down, t[1], t[0], fn);
    t[3] = kiln__op_unary(&kiln__prim_round, t[2], fn);
    t[4] = kiln__op_binary(up, t[3], t[0], fn);
    t[5] = kiln__op_astype(t[4], dt, fn);
    kiln_array *y = t[5];
    kiln__release_all(t, 5);
    return kiln__ret(y);
}

kiln_array *kiln_where(kiln_array *cond, kiln_array *a, kiln_array *b)
{
    const char *fn = "where";
    bool weak;
    if (!cond || !a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    kiln_dtype dt =
        kiln__dtype_promote_weak(a->dtype, a->weak, b->dtype, b->weak, &weak);
    kiln_array *in[3] = {kiln__op_astype(cond, KILN_DTYPE_BOOL, fn), NULL,
                         NULL};
    in[1] = in[0] ? kiln__op_astype(a, dt, fn) : NULL;
    in[2] = in[1] ? kiln__op_astype(b, dt, fn) : NULL;
    kiln_array *y =
        in[2] ? kiln__node_make1(&kiln__prim_where, NULL, in, 3, fn) : NULL;
    kiln__release_all(in, 3);
    return kiln__ret(y);
}

kiln_array *kiln_clip(kiln_array *x, kiln_array *lo, kiln_array *hi)
{
    const char *fn = "clip";
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__op_opt_failed(lo) || kiln__op_opt_failed(hi)) {
        return NULL;
    }
    if (!lo && !hi) {
        kiln__err(KILN_ERR_VALUE, "[%s] needs at least one of lo and hi", fn);
        return NULL;
    }
    kiln_array *t = kiln_array_retain(x);
    if (lo) {
        kiln_array *u = kiln__op_binary(&kiln__prim_maximum, t, lo, fn);
        kiln_array_release(t);
        t = u;
    }
    if (hi && t) {
        kiln_array *u = kiln__op_binary(&kiln__prim_minimum, t, hi, fn);
        kiln_array_release(t);
        t = u;
    }
    return kiln__ret(t);
}
