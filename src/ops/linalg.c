/*
 * linalg.c - the public linear algebra ops: matmul, addmm, inner, outer.
 *
 * matmul and addmm validate, promote and make one node of their primitive
 * (prim/matmul.c holds the shape rule, including numpy's handling of 1-D
 * operands). inner and outer are composites of views and products, as in
 * MLX, so autodiff and compile see through them.
 *
 * dtypes: matmul promotes its operands to one dtype and keeps it, integers
 * and bool included (numpy's behaviour; MLX accepts floats only). addmm
 * computes in the promoted float dtype: integer and bool operands go to
 * float32, as `alpha * (a @ b)` with a Python float alpha would.
 */
#include <string.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/matmul.h"
#include "ops.h"

/* a @ b with both already of dtype dt: an untracked new reference. */
static kiln_array *product(kiln_array *a, kiln_array *b, kiln_dtype dt,
                           const char *fn)
{
    kiln_array *in[2] = {kiln__op_astype(a, dt, fn), NULL};
    in[1] = in[0] ? kiln__op_astype(b, dt, fn) : NULL;
    kiln_array *y =
        in[1] ? kiln__node_make1(&kiln__prim_matmul, NULL, in, 2, fn) : NULL;
    kiln__release_all(in, 2);
    return y;
}

kiln_array *kiln_matmul(kiln_array *a, kiln_array *b)
{
    const char *fn = "matmul";
    if (!a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    kiln_dtype dt = kiln_promote_types(a->dtype, b->dtype);
    return kiln__ret(product(a, b, dt, fn));
}

kiln_array *kiln_addmm(kiln_array *c, kiln_array *a, kiln_array *b,
                       double alpha, double beta)
{
    const char *fn = "addmm";
    bool weak;
    if (!c || !a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    kiln_dtype ab = kiln_promote_types(a->dtype, b->dtype);
    kiln_dtype dt = kiln__dtype_to_float(
        kiln__dtype_promote_weak(c->dtype, c->weak, ab, false, &weak));
    kiln_addmm_params p;
    memset(&p, 0, sizeof p);
    p.alpha = alpha;
    p.beta = beta;
    kiln_array *in[3] = {kiln__op_astype(c, dt, fn), NULL, NULL};
    in[1] = in[0] ? kiln__op_astype(a, dt, fn) : NULL;
    in[2] = in[1] ? kiln__op_astype(b, dt, fn) : NULL;
    kiln_array *y =
        in[2] ? kiln__node_make1(&kiln__prim_addmm, &p, in, 3, fn) : NULL;
    kiln__release_all(in, 3);
    return kiln__ret(y);
}

/* numpy.inner: a sum product over the last axes; the result's shape is
 * a.shape[:-1] + b.shape[:-1]. A 0-d operand multiplies. */
kiln_array *kiln_inner(kiln_array *a, kiln_array *b)
{
    const char *fn = "inner";
    char sa[256], sb[256];
    if (!a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    if (a->ndim == 0 || b->ndim == 0) {
        return kiln__ret(kiln__op_binary(&kiln__prim_multiply, a, b, fn));
    }
    int64_t k = a->shape[a->ndim - 1];
    if (b->shape[b->ndim - 1] != k) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] shapes %s and %s do not match along the last axis",
                  fn, kiln__shape_str(a->shape, a->ndim, sa, sizeof sa),
                  kiln__shape_str(b->shape, b->ndim, sb, sizeof sb));
        return NULL;
    }
    kiln_dtype dt = kiln_promote_types(a->dtype, b->dtype);
    /* a vector side needs no reshaping: matmul's 1-D rule is inner's */
    if (b->ndim == 1) {
        return kiln__ret(product(a, b, dt, fn));
    }
    if (a->ndim == 1) {
        return kiln__ret(product(b, a, dt, fn));
    }
    /* (M, K) @ (K, N) with M, N the flattened leading dims */
    int64_t shape[KILN_MAX_NDIM];
    int nd = a->ndim + b->ndim - 2;
    if (nd > KILN_MAX_NDIM) {
        kiln__err(KILN_ERR_VALUE, "[%s] result of %s and %s has too many "
                  "dims", fn, kiln__shape_str(a->shape, a->ndim, sa, sizeof sa),
                  kiln__shape_str(b->shape, b->ndim, sb, sizeof sb));
        return NULL;
    }
    memcpy(shape, a->shape, sizeof *shape * (size_t)(a->ndim - 1));
    memcpy(shape + a->ndim - 1, b->shape,
           sizeof *shape * (size_t)(b->ndim - 1));
    /* explicit sizes, not -1: k may be 0 */
    int64_t fa[2] = {1, k}, fb[2] = {1, k};
    for (int i = 0; i < a->ndim - 1; i++) {
        fa[0] *= a->shape[i];
    }
    for (int i = 0; i < b->ndim - 1; i++) {
        fb[0] *= b->shape[i];
    }
    kiln_scope_begin();
    kiln_array *a2 = kiln_reshape(a, fa, 2);
    kiln_array *bt = kiln_transpose(kiln_reshape(b, fb, 2), NULL, 0);
    kiln_array *y = bt ? kiln__ret(product(a2, bt, dt, fn)) : NULL;
    return kiln_scope_end(kiln_reshape(y, shape, nd));
}

/* numpy.outer: both operands flattened, result (a.size, b.size) with
 * multiply's dtype promotion. */
kiln_array *kiln_outer(kiln_array *a, kiln_array *b)
{
    const char *fn = "outer";
    if (!a || !b) {
        kiln__err_null(fn);
        return NULL;
    }
    int64_t col[2] = {a->size, 1}, row[2] = {1, b->size};
    kiln_scope_begin();
    kiln_array *ac = kiln_reshape(a, col, 2);
    kiln_array *br = kiln_reshape(b, row, 2);
    kiln_array *y = ac && br
                        ? kiln__ret(kiln__op_binary(&kiln__prim_multiply, ac,
                                                    br, fn))
                        : NULL;
    return kiln_scope_end(y);
}
