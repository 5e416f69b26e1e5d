/*
 * compare.c - whole-array comparisons written from elementwise ops and
 * reductions: isclose, allclose, array_equal. Being composites, they need
 * no kernels, and autodiff and compile see through them.
 *
 * isclose(a, b) = (|a - b| <= atol + rtol * |b|) & isfinite(a) & isfinite(b)
 *                 | (a == b)
 *                 | (equal_nan & isnan(a) & isnan(b))
 * numpy's formula, with two choices spelled out: equal values are always
 * close (numpy 2 does the same), so infinities are close exactly to an
 * infinity of the same sign; and an infinity is never close to a finite
 * value, even with atol = inf (as MLX). a and b broadcast. The distance is
 * computed in float32 for float16/bfloat16/float32 operands, float64 for
 * float64 and for integer and bool operands (so integer differences
 * cannot wrap); a == b is computed exactly in the promoted dtype.
 *
 * array_equal(a, b): false (a 0-d bool) unless the shapes match exactly;
 * then all(a == b), compared in the promoted dtype (dtypes may differ),
 * NaNs counting as equal to each other when equal_nan.
 * allclose(a, b) = all(isclose(a, b)).
 */
#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "ops.h"

/* The isclose mask (untracked new reference), NULL on error. */
static kiln_array *close_mask(kiln_array *a, kiln_array *b, double rtol,
                              double atol, bool equal_nan, const char *fn)
{
    enum { NT = 18 };
    kiln_array *t[NT] = {NULL};
    kiln_array *y = NULL;
    bool weak;
    int nd;
    int64_t shape[KILN_MAX_NDIM];
    if (!a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    /* checked here so that the error names the entry point */
    if (kiln__shape_broadcast(a->shape, a->ndim, b->shape, b->ndim, shape,
                              &nd, fn) != KILN_OK) {
        return NULL;
    }
    kiln_dtype pdt =
        kiln__dtype_promote_weak(a->dtype, a->weak, b->dtype, b->weak, &weak);
    kiln_dtype cdt = (pdt == KILN_DTYPE_FLOAT64 || !kiln_dtype_is_float(pdt))
                         ? KILN_DTYPE_FLOAT64
                         : KILN_DTYPE_FLOAT32;
    /* t0 = a, t1 = b in the compute dtype */
    if (!(t[0] = kiln__op_astype(a, cdt, fn)) ||
        !(t[1] = kiln__op_astype(b, cdt, fn)) ||
        !(t[2] = kiln__scalar(rtol, cdt, true)) ||
        !(t[3] = kiln__scalar(atol, cdt, true))) {
        goto done;
    }
    /* |a - b| <= atol + rtol * |b| */
    if (!(t[4] = kiln__op_binary(&kiln__prim_subtract, t[0], t[1], fn)) ||
        !(t[5] = kiln__op_unary(&kiln__prim_abs, t[4], fn)) ||
        !(t[6] = kiln__op_unary(&kiln__prim_abs, t[1], fn)) ||
        !(t[7] = kiln__op_binary(&kiln__prim_multiply, t[2], t[6], fn)) ||
        !(t[8] = kiln__op_binary(&kiln__prim_add, t[3], t[7], fn)) ||
        !(t[9] = kiln__op_binary(&kiln__prim_less_equal, t[5], t[8], fn))) {
        goto done;
    }
    /* ... where both are finite, or where they are equal */
    if (!(t[10] = kiln__op_unary(&kiln__prim_isfinite, t[0], fn)) ||
        !(t[11] = kiln__op_unary(&kiln__prim_isfinite, t[1], fn)) ||
        !(t[12] = kiln__op_binary(&kiln__prim_logical_and, t[10], t[11],
                                  fn)) ||
        !(t[13] =
              kiln__op_binary(&kiln__prim_logical_and, t[9], t[12], fn)) ||
        !(t[14] = kiln__op_binary(&kiln__prim_equal, a, b, fn)) ||
        !(y = kiln__op_binary(&kiln__prim_logical_or, t[13], t[14], fn))) {
        goto done;
    }
    if (equal_nan) {
        kiln_array *close = y;
        y = NULL;
        if ((t[15] = kiln__op_unary(&kiln__prim_isnan, t[0], fn)) &&
            (t[16] = kiln__op_unary(&kiln__prim_isnan, t[1], fn)) &&
            (t[17] = kiln__op_binary(&kiln__prim_logical_and, t[15], t[16],
                                     fn))) {
            y = kiln__op_binary(&kiln__prim_logical_or, close, t[17], fn);
        }
        kiln_array_release(close);
    }
done:
    kiln__release_all(t, NT);
    return y;
}

kiln_array *kiln_isclose(kiln_array *a, kiln_array *b, double rtol,
                         double atol, bool equal_nan)
{
    return kiln__ret(close_mask(a, b, rtol, atol, equal_nan, "isclose"));
}

kiln_array *kiln_allclose(kiln_array *a, kiln_array *b, double rtol,
                          double atol, bool equal_nan)
{
    kiln_array *m = close_mask(a, b, rtol, atol, equal_nan, "allclose");
    if (!m) {
        return NULL;
    }
    /* kiln_all hands its result to the caller's scope already */
    kiln_array *y = kiln_all(m, NULL, 0, false);
    kiln_array_release(m);
    return y;
}

kiln_array *kiln_array_equal(kiln_array *a, kiln_array *b, bool equal_nan)
{
    const char *fn = "array_equal";
    kiln_array *t[4] = {NULL};
    kiln_array *m = NULL;
    if (!a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!kiln__shape_equal(a->shape, a->ndim, b->shape, b->ndim)) {
        return kiln__ret(kiln__scalar(0.0, KILN_DTYPE_BOOL, false));
    }
    if (!(m = kiln__op_binary(&kiln__prim_equal, a, b, fn))) {
        return NULL;
    }
    if (equal_nan) {
        kiln_array *eq = m;
        m = NULL;
        if ((t[0] = kiln__op_unary(&kiln__prim_isnan, a, fn)) &&
            (t[1] = kiln__op_unary(&kiln__prim_isnan, b, fn)) &&
            (t[2] = kiln__op_binary(&kiln__prim_logical_and, t[0], t[1],
                                    fn))) {
            m = kiln__op_binary(&kiln__prim_logical_or, eq, t[2], fn);
        }
        kiln_array_release(eq);
        kiln__release_all(t, 4);
        if (!m) {
            return NULL;
        }
    }
    kiln_array *y = kiln_all(m, NULL, 0, false);
    kiln_array_release(m);
    return y;
}
