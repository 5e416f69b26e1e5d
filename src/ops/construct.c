/*
 * construct.c - the public creation ops: zeros, ones, full, their _like
 * forms, arange, linspace, eye and identity.
 *
 * zeros/ones/full are a 0-d scalar broadcast to the shape: a zero-stride
 * view, so no buffer of the full size exists until something writes one
 * (kiln_array_data, or an op whose output cannot be a view). arange,
 * linspace and eye are nodes of the creation primitives (prim/creation.c),
 * filled when evaluated. Arguments are checked here, under the op's name.
 */
#include <math.h>
#include <string.h>

#include "../compile/trace.h"
#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/creation.h"
#include "ops.h"

static bool check_dtype(kiln_dtype dt, const char *fn)
{
    if (!kiln__dtype_valid(dt)) {
        kiln__err(KILN_ERR_TYPE, "[%s] invalid dtype %d", fn, (int)dt);
        return false;
    }
    return true;
}

/* v as dt broadcast to shape. */
static kiln_array *fill(const int64_t *shape, int ndim, double v,
                        kiln_dtype dt, const char *fn)
{
    int64_t size;
    if (!check_dtype(dt, fn) ||
        kiln__shape_size(shape, ndim, kiln_dtype_size(dt), &size, fn)) {
        return NULL;
    }
    kiln_array *s = kiln__scalar(v, dt, false);
    kiln_array *y = kiln__op_broadcast(s, shape, ndim, fn);
    kiln_array_release(s);
    return y;
}

kiln_array *kiln_zeros(const int64_t *shape, int ndim, kiln_dtype dt)
{
    return kiln__ret(fill(shape, ndim, 0.0, dt, "zeros"));
}

kiln_array *kiln_ones(const int64_t *shape, int ndim, kiln_dtype dt)
{
    return kiln__ret(fill(shape, ndim, 1.0, dt, "ones"));
}

kiln_array *kiln_full(const int64_t *shape, int ndim, double v,
                      kiln_dtype dt)
{
    return kiln__ret(fill(shape, ndim, v, dt, "full"));
}

kiln_array *kiln_full_array(const int64_t *shape, int ndim, kiln_array *v,
                            kiln_dtype dt)
{
    const char *fn = "full_array";
    int64_t size;
    if (!v) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!check_dtype(dt, fn) ||
        kiln__shape_size(shape, ndim, kiln_dtype_size(dt), &size, fn)) {
        return NULL;
    }
    /* cast first: the cast then runs over v's elements, not shape's */
    kiln_array *c = kiln__op_astype(v, dt, fn);
    kiln_array *y = c ? kiln__op_broadcast(c, shape, ndim, fn) : NULL;
    kiln_array_release(c);
    return kiln__ret(y);
}

/* v as a's dtype in a's shape: a constant fill (it never computes a),
 * except for a pending a inside a trace (a placeholder or work on one),
 * where v is broadcast like a (broadcast_like), so that a shapeless
 * compiled replay gives the new shape rather than the traced one. */
static kiln_array *fill_like(kiln_array *a, double v, const char *fn)
{
    if (!a) {
        kiln__err_null(fn);
        return NULL;
    }
    if (a->buf || a->ndim == 0 || kiln__trace_depth() == 0) {
        return fill(a->shape, a->ndim, v, a->dtype, fn);
    }
    kiln_array *in[2] = {kiln__scalar(v, a->dtype, false), a};
    kiln_array *y = in[0] ? kiln__node_make1(&kiln__prim_broadcast_like,
                                             NULL, in, 2, fn)
                          : NULL;
    kiln_array_release(in[0]);
    return y;
}

kiln_array *kiln_zeros_like(kiln_array *a)
{
    return kiln__ret(fill_like(a, 0.0, "zeros_like"));
}

kiln_array *kiln_ones_like(kiln_array *a)
{
    return kiln__ret(fill_like(a, 1.0, "ones_like"));
}

kiln_array *kiln_arange(double start, double stop, double step,
                        kiln_dtype dt)
{
    const char *fn = "arange";
    kiln_range_params rp;
    memset(&rp, 0, sizeof rp); /* padding too: params are compared as bytes */
    if (!check_dtype(dt, fn)) {
        return NULL;
    }
    if (dt == KILN_DTYPE_BOOL) {
        kiln__err(KILN_ERR_VALUE, "[%s] cannot use dtype bool", fn);
        return NULL;
    }
    if (step == 0.0) {
        kiln__err(KILN_ERR_VALUE, "[%s] step cannot be zero", fn);
        return NULL;
    }
    double n = ceil((stop - start) / step);
    if (isnan(n) || n >= 0x1p62) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] cannot make a range from %g to %g by %g (length "
                  "%g)",
                  fn, start, stop, step, n);
        return NULL;
    }
    rp.start = start;
    rp.stop = stop;
    rp.step = step;
    rp.size = n > 0 ? (int64_t)n : 0;
    rp.dtype = dt;
    return kiln__ret(kiln__node_make1(&kiln__prim_arange, &rp, NULL, 0, fn));
}

kiln_array *kiln_linspace(double start, double stop, int64_t num,
                          kiln_dtype dt)
{
    const char *fn = "linspace";
    kiln_range_params rp;
    memset(&rp, 0, sizeof rp); /* padding too: params are compared as bytes */
    if (!check_dtype(dt, fn)) {
        return NULL;
    }
    if (num < 0) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] number of samples must be non-negative, got %lld",
                  fn, (long long)num);
        return NULL;
    }
    rp.start = start;
    rp.stop = stop;
    rp.step = num > 1 ? (stop - start) / (double)(num - 1) : 0.0;
    rp.size = num;
    rp.dtype = dt;
    return kiln__ret(
        kiln__node_make1(&kiln__prim_linspace, &rp, NULL, 0, fn));
}

/* An eye node (untracked); errors name fn. */
static kiln_array *eye(int64_t n, int64_t m, int64_t k, kiln_dtype dt,
                       const char *fn)
{
    kiln_eye_params ep;
    memset(&ep, 0, sizeof ep); /* padding too: params are compared as bytes */
    if (!check_dtype(dt, fn)) {
        return NULL;
    }
    if (n < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] n must be non-negative, got %lld", fn,
                  (long long)n);
        return NULL;
    }
    ep.n = n;
    ep.m = m < 0 ? n : m;
    ep.k = k;
    ep.dtype = dt;
    return kiln__node_make1(&kiln__prim_eye, &ep, NULL, 0, fn);
}

kiln_array *kiln_eye(int64_t n, int64_t m, int64_t k, kiln_dtype dt)
{
    return kiln__ret(eye(n, m, k, dt, "eye"));
}

kiln_array *kiln_identity(int64_t n, kiln_dtype dt)
{
    return kiln__ret(eye(n, n, 0, dt, "identity"));
}
