/*
 * index.c - the index family: gathers and sorts, whose outputs depend on
 * data (positions read from an array, or an order found by comparing).
 *
 * All five share the params struct kiln_index_params (index.h):
 * {axis (normalised), flat, k}. "flat" reads x as its row-major 1-D form
 * (MLX's axis=None). None of them is elementwise or fusable; their kernels
 * live in backend/cpu/index_cpu.c. Derivatives: the vjp of a gather is a
 * scatter-add of the cotangent into zeros, written (no scatter primitive
 * yet) as a product with a one-hot matrix, which costs indices x axis
 * length memory; sort routes the cotangent back through the inverse of
 * its argsort permutation (a gather); topk through its selected positions
 * (rebuilt from the k-th largest value and the kernel's tie rule);
 * argsort has none. jvp: the same gather of the tangent. vmap: batch axis
 * in front and axis + 1; take with batched indices becomes a
 * take_along_axis over (batch, pre, n, post).
 *
 * Index rule (take, take_along_axis): a negative index i means i + n (once),
 * then the result is CLAMPED into [0, n - 1], where n is the length of the
 * indexed axis. MLX does not check indices on the CPU; kiln never reads out
 * of bounds, and an error would need the data when the graph is built.
 */
#include "../backend/cpu/index_cpu.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "index.h"
#include "../core/array.h"
#include "autodiff.h"
#include "autodiff_shape.h"
#include "prim.h"

/* ------------------------------------------------------------------ */
/* shared checks                                                      */
/* ------------------------------------------------------------------ */

static int64_t meta_size(const kiln_meta *m)
{
    int64_t s = 1;
    for (int i = 0; i < m->ndim; i++) {
        s *= m->shape[i];
    }
    return s;
}

/* The length of the axis the primitive works along (the size when
 * flat); fails on an axis out of range. */
static kiln_status axis_len(const kiln_prim *p, const kiln_index_params *ip,
                            const kiln_meta *x, int64_t *n)
{
    if (ip->flat) {
        *n = meta_size(x);
        return KILN_OK;
    }
    if (ip->axis < 0 || ip->axis >= x->ndim) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] axis %d is out of bounds for array of ndim %d",
                         p->name, (int)ip->axis, x->ndim);
    }
    *n = x->shape[ip->axis];
    return KILN_OK;
}

static kiln_status check_indices(const kiln_prim *p, const kiln_meta *idx,
                                 int64_t n)
{
    if (!kiln_dtype_is_integer(idx->dtype)) {
        return kiln__err(KILN_ERR_TYPE,
                         "[%s] indices must be integers, got %s", p->name,
                         kiln_dtype_name(idx->dtype));
    }
    if (n == 0 && meta_size(idx) > 0) {
        return kiln__err(KILN_ERR_INDEX,
                         "[%s] cannot take non-empty indices from an empty "
                         "axis", p->name);
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* transform rules                                                    */
/* ------------------------------------------------------------------ */

static kiln_status done(kiln_array *a)
{
    return a ? KILN_OK : kiln_errcode();
}

/* x as the primitive reads it: 1-D when flat. */
static kiln_array *index_view(const kiln_index_params *ip, kiln_array *x)
{
    int64_t n = -1;
    return ip->flat && x ? kiln_reshape(x, &n, 1) : x;
}

/* r back in x's shape when the primitive read x flat. */
static kiln_array *index_unview(const kiln_index_params *ip, kiln_array *r,
                                const kiln_array *x)
{
    return ip->flat && r ? kiln_reshape(r, x->shape, x->ndim) : r;
}

/* Indices as the kernels apply them: int64, i + n once when negative,
 * then clamped into [0, n - 1]. */
static kiln_array *norm_indices(kiln_array *idx, int64_t n)
{
    kiln_array *i = kiln_astype(idx, KILN_DTYPE_INT64);
    kiln_array *z = kiln_scalar_i64(0, KILN_DTYPE_INT64);
    kiln_array *wrap = kiln_add(i, kiln_scalar_i64(n, KILN_DTYPE_INT64));
    kiln_array *w = kiln_where(kiln_less(i, z), wrap, i);
    return kiln_clip(w, z, kiln_scalar_i64(n - 1, KILN_DTYPE_INT64));
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

/*
 * take's vjp: a scatter-add of g into zeros, written as a product with a
 * one-hot matrix (J indices by n positions): kiln has no scatter
 * primitive yet, so this costs J * n memory and J * n * (the rest) work.
 */
static kiln_status vjp_take(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin,
                            kiln_array *const *out, int nout,
                            kiln_array *const *cot_out, const bool *need,
                            kiln_array **cot_in)
{
    const kiln_index_params *ip = params;
    kiln_array *x = in[0], *idx = in[1], *g = cot_out[0];
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = cot_in[1] = NULL;
    if (!need[0] || !g || x->size == 0) {
        return KILN_OK;
    }
    int ax = ip->flat ? 0 : ip->axis;
    int64_t pre = 1, post = 1, n = ip->flat ? x->size : x->shape[ax];
    for (int i = 0; i < ax && !ip->flat; i++) {
        pre *= x->shape[i];
    }
    for (int i = ax + 1; i < x->ndim && !ip->flat; i++) {
        post *= x->shape[i];
    }
    int64_t g3[3] = {pre, idx->size, post}, col[2] = {idx->size, 1};
    kiln_array *ii = kiln_reshape(norm_indices(idx, n), col, 2);
    kiln_array *hot = kiln_astype(kiln_equal(ii, positions(n, 1, 2)),
                                  x->dtype);
    kiln_array *r = kiln_matmul(kiln_transpose(hot, NULL, 0),
                                kiln_reshape(g, g3, 3));
    cot_in[0] = r ? kiln_reshape(r, x->shape, x->ndim) : NULL;
    return done(cot_in[0]);
}

/* jvp of take and take_along_axis: the same gather of the tangent. */
static kiln_status jvp_gather(const kiln_prim *p, const void *params,
                              kiln_array *const *in, int nin,
                              kiln_array *const *out, int nout,
                              kiln_array *const *tan_in,
                              kiln_array **tan_out)
{
    (void)nin;
    (void)out;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    kiln_array *t[2] = {tan_in[0], in[1]};
    tan_out[0] = kiln__autodiff_shape_apply(p, params, t, 2);
    return done(tan_out[0]);
}

/* take batched: x as (B or 1, pre, n, post), indices as (B or 1, 1, J, 1)
 * and take_along_axis does each item's gather; the result is reshaped to
 * (B, pre..., indices..., post...). */
static kiln_status vmap_take(const kiln_prim *p, const void *params,
                             kiln_array *const *in, const int *bdim, int nin,
                             kiln_array **out, int *out_bdim, int *nout)
{
    const kiln_index_params *ip = params;
    *nout = 1;
    if (bdim[0] < 0 && bdim[1] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    out_bdim[0] = 0;
    int64_t b = kiln__autodiff_shape_batch_size(in, bdim, nin);
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], true, 0);
    kiln_array *idx = kiln__autodiff_shape_front(in[1], bdim[1], true, 0);
    if (!x || !idx) {
        return kiln_errcode();
    }
    /* x's shape without the batch axis: xs0[0..xnd) */
    const int64_t *xs0 = x->shape + 1;
    int xnd = x->ndim - 1, ax = ip->flat ? 0 : ip->axis;
    int64_t pre = 1, post = 1, n = 1;
    for (int i = 0; i < xnd; i++) {
        if (ip->flat || i == ax) {
            n *= xs0[i];
        } else if (i < ax) {
            pre *= xs0[i];
        } else {
            post *= xs0[i];
        }
    }
    int64_t jsz = 1;
    for (int i = 1; i < idx->ndim; i++) {
        jsz *= idx->shape[i];
    }
    int64_t xs[4] = {x->shape[0], pre, n, post};
    int64_t is[4] = {idx->shape[0], 1, jsz, 1};
    kiln_array *r = kiln_take_along_axis(kiln_reshape(x, xs, 4),
                                         kiln_reshape(idx, is, 4), 2, false);
    /* (B, pre..., indices..., post...) */
    int64_t shape[KILN_MAX_NDIM];
    int nd = 0;
    shape[nd++] = b;
    for (int i = 0; i < ax && !ip->flat; i++) {
        shape[nd++] = xs0[i];
    }
    for (int i = 1; i < idx->ndim; i++) {
        if (nd >= KILN_MAX_NDIM) {
            return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                             "more than %d dims", p->name, KILN_MAX_NDIM);
        }
        shape[nd++] = idx->shape[i];
    }
    for (int i = ax + 1; i < xnd && !ip->flat; i++) {
        if (nd >= KILN_MAX_NDIM) {
            return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                             "more than %d dims", p->name, KILN_MAX_NDIM);
        }
        shape[nd++] = xs0[i];
    }
    out[0] = r ? kiln_reshape(r, shape, nd) : NULL;
    return done(out[0]);
}

/* take_along_axis's vjp: each g element added at its index, as a sum of
 * g times a one-hot axis (out shape with n inserted after the axis),
 * then reduced to x's shape where x was broadcast. Memory: out size * n
 * (no scatter primitive yet). */
static kiln_status vjp_take_along(const kiln_prim *p, const void *params,
                                  kiln_array *const *in, int nin,
                                  kiln_array *const *out, int nout,
                                  kiln_array *const *cot_out,
                                  const bool *need, kiln_array **cot_in)
{
    const kiln_index_params *ip = params;
    kiln_array *g = cot_out[0];
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = cot_in[1] = NULL;
    if (!need[0] || !g || in[0]->size == 0) {
        return KILN_OK;
    }
    kiln_array *x = index_view(ip, in[0]);
    if (!x) {
        return kiln_errcode();
    }
    int ax = ip->flat ? 0 : ip->axis, nd = x->ndim;
    if (nd + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] gradient needs more than %d "
                         "dims", p->name, KILN_MAX_NDIM);
    }
    int64_t n = x->shape[ax];
    int at = ax + 1;
    kiln_array *ii = kiln_expand_dims(norm_indices(in[1], n), &at, 1);
    kiln_array *hot = kiln_astype(kiln_equal(ii, positions(n, at, nd + 1)),
                                  g->dtype);
    kiln_array *r = kiln_sum(kiln_multiply(hot, kiln_expand_dims(g, &at, 1)),
                             &ax, 1, false);
    r = kiln__autodiff_unbroadcast(r, x);
    cot_in[0] = index_unview(ip, r, in[0]);
    return done(cot_in[0]);
}

/* take_along_axis batched: both inputs with a leading axis (size 1 when
 * unbatched, broadcast by the primitive), axis + 1. */
static kiln_status vmap_take_along(const kiln_prim *p, const void *params,
                                   kiln_array *const *in, const int *bdim,
                                   int nin, kiln_array **out, int *out_bdim,
                                   int *nout)
{
    kiln_index_params bp = *(const kiln_index_params *)params;
    *nout = 1;
    if (bdim[0] < 0 && bdim[1] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    kiln_array *b[2];
    for (int i = 0; i < 2; i++) {
        b[i] = kiln__autodiff_shape_front(in[i], bdim[i], true, 0);
    }
    if (bp.flat && b[0]) {
        int64_t shape[2] = {b[0]->shape[0], -1};
        b[0] = kiln_reshape(b[0], shape, 2);
        bp.flat = 0;
        bp.axis = 0;
    }
    bp.axis += 1;
    out_bdim[0] = 0;
    out[0] = kiln__autodiff_shape_apply(p, &bp, b, 2);
    return done(out[0]);
}

/* sort's vjp: g sent back through the inverse of argsort's permutation
 * (a gather, argsort of the argsort). */
static kiln_status vjp_sort(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin,
                            kiln_array *const *out, int nout,
                            kiln_array *const *cot_out, const bool *need,
                            kiln_array **cot_in)
{
    const kiln_index_params *ip = params;
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0]) {
        return KILN_OK;
    }
    int ax = ip->flat ? 0 : ip->axis;
    kiln_array *perm = kiln__autodiff_shape_apply(&kiln__prim_argsort, params,
                                                  in, 1);
    kiln_array *inv = perm ? kiln_argsort(perm, ax, false) : NULL;
    kiln_array *r = inv ? kiln_take_along_axis(cot_out[0], inv, ax, false)
                        : NULL;
    cot_in[0] = index_unview(ip, r, in[0]);
    return done(cot_in[0]);
}

static kiln_status jvp_sort(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin,
                            kiln_array *const *out, int nout,
                            kiln_array *const *tan_in, kiln_array **tan_out)
{
    const kiln_index_params *ip = params;
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    kiln_array *perm = kiln__autodiff_shape_apply(&kiln__prim_argsort, params,
                                                  in, 1);
    kiln_array *t = index_view(ip, tan_in[0]);
    tan_out[0] = perm && t ? kiln_take_along_axis(t, perm,
                                                  ip->flat ? 0 : ip->axis,
                                                  false)
                           : NULL;
    return done(tan_out[0]);
}

/* sort, argsort, topk batched: batch axis in front, axis + 1 (flat: each
 * item flattened). */
static kiln_status vmap_rows(const kiln_prim *p, const void *params,
                             kiln_array *const *in, const int *bdim, int nin,
                             kiln_array **out, int *out_bdim, int *nout)
{
    kiln_index_params bp = *(const kiln_index_params *)params;
    (void)nin;
    *nout = 1;
    if (bdim[0] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, 1);
        return done(out[0]);
    }
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], false, 0);
    if (bp.flat && x) {
        int64_t shape[2] = {x->shape[0], -1};
        x = kiln_reshape(x, shape, 2);
        bp.flat = 0;
        bp.axis = 0;
    }
    bp.axis += 1;
    out_bdim[0] = 0;
    out[0] = kiln__autodiff_shape_apply(p, &bp, &x, 1);
    return done(out[0]);
}

/* topk's selection, as the kernel makes it: the values after the k-th
 * largest in sort's order (NaN largest), plus, among the values equal to
 * it, the first ones along the axis; bool of x's (view's) shape. */
static kiln_array *topk_selected(const kiln_index_params *ip, kiln_array *x)
{
    int ax = ip->flat ? 0 : ip->axis;
    int64_t k = ip->k;
    kiln_array *s = kiln_sort(x, ax, false);
    /* the k-th largest counted from the end of the sorted axis, so a
     * shapeless replay of the gradient takes it on the new length */
    kiln_array *t = kiln__autodiff_shape_slice_axis(
        s, ax, -k, k == 1 ? KILN_SLICE_END : -k + 1);
    kiln_array *tnan = kiln_isnan(t);
    kiln_array *gt = kiln_logical_and(
        kiln_logical_not(tnan),
        kiln_logical_or(kiln_greater(x, t), kiln_isnan(x)));
    kiln_array *eq = kiln_logical_or(kiln_equal(x, t),
                                     kiln_logical_and(kiln_isnan(x), tnan));
    kiln_array *room = kiln_subtract(
        kiln_scalar_i64(k, KILN_DTYPE_INT64),
        kiln_sum(kiln_astype(gt, KILN_DTYPE_INT64), &ax, 1, true));
    kiln_array *rank = kiln_cumsum(kiln_astype(eq, KILN_DTYPE_INT64), ax,
                                   false, false, true);
    return kiln_logical_or(gt,
                           kiln_logical_and(eq, kiln_less_equal(rank, room)));
}

/* topk keeps its values in their order along the axis: the j-th output
 * is the j-th selected position. */
static kiln_status vjp_topk(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin,
                            kiln_array *const *out, int nout,
                            kiln_array *const *cot_out, const bool *need,
                            kiln_array **cot_in)
{
    const kiln_index_params *ip = params;
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!need[0] || !cot_out[0] || ip->k == 0) {
        return KILN_OK;
    }
    int ax = ip->flat ? 0 : ip->axis;
    kiln_array *x = index_view(ip, in[0]);
    kiln_array *sel = x ? topk_selected(ip, x) : NULL;
    kiln_array *rank = kiln_cumsum(kiln_astype(sel, KILN_DTYPE_INT64), ax,
                                   false, false, false);
    rank = kiln_minimum(rank, kiln_scalar_i64(ip->k - 1, KILN_DTYPE_INT64));
    kiln_array *r = kiln_where(
        sel, kiln_take_along_axis(cot_out[0], rank, ax, false),
        kiln_scalar_f64(0.0, in[0]->dtype));
    cot_in[0] = index_unview(ip, r, in[0]);
    return done(cot_in[0]);
}

static kiln_status jvp_topk(const kiln_prim *p, const void *params,
                            kiln_array *const *in, int nin,
                            kiln_array *const *out, int nout,
                            kiln_array *const *tan_in, kiln_array **tan_out)
{
    const kiln_index_params *ip = params;
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0] || ip->k == 0) {
        return KILN_OK;
    }
    int ax = ip->flat ? 0 : ip->axis;
    kiln_array *x = index_view(ip, in[0]);
    kiln_array *sel = x ? topk_selected(ip, x) : NULL;
    /* the selected positions first, in order (stable sort of !sel) */
    kiln_array *order = kiln_argsort(
        kiln_astype(kiln_logical_not(sel), KILN_DTYPE_INT32), ax, false);
    kiln_array *pos = kiln__autodiff_shape_slice_axis(order, ax, 0, ip->k);
    tan_out[0] = kiln_take_along_axis(index_view(ip, tan_in[0]), pos, ax,
                                      false);
    return done(tan_out[0]);
}

/* ------------------------------------------------------------------ */
/* take                                                               */
/* ------------------------------------------------------------------ */

/*
 * take(x, indices): y[pre, j..., post] = x[pre, idx[j...], post].
 * Shape: x.shape[:axis] + indices.shape + x.shape[axis+1:]; when flat,
 * indices.shape (x read as 1-D). Dtypes: x any, indices any integer type,
 * y x's dtype. Indices wrap once when negative, then clamp (see above).
 */
static kiln_status infer_take(const kiln_prim *p, const void *params,
                              const kiln_meta *in, int nin, kiln_meta *out,
                              int *nout)
{
    const kiln_index_params *ip = params;
    const kiln_meta *x = &in[0], *idx = &in[1];
    int64_t n = 0;
    (void)nin;
    if (axis_len(p, ip, x, &n) != KILN_OK ||
        check_indices(p, idx, n) != KILN_OK) {
        return kiln_errcode();
    }
    int ax = ip->axis;
    int pre = ip->flat ? 0 : ax;
    int post = ip->flat ? 0 : x->ndim - ax - 1;
    int nd = pre + idx->ndim + post;
    if (nd > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] result would have %d dims (at most %d)",
                         p->name, nd, KILN_MAX_NDIM);
    }
    out->dtype = x->dtype;
    out->ndim = nd;
    for (int i = 0; i < pre; i++) {
        out->shape[i] = x->shape[i];
    }
    for (int i = 0; i < idx->ndim; i++) {
        out->shape[pre + i] = idx->shape[i];
    }
    for (int i = 0; i < post; i++) {
        out->shape[pre + idx->ndim + i] = x->shape[ax + 1 + i];
    }
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_take = {
    .name = "take",
    .nin = 2,
    .params_size = sizeof(kiln_index_params),
    .infer = infer_take,
    .eval_cpu = kiln__cpu_eval_take,
    .vjp = vjp_take,
    .jvp = jvp_gather,
    .vmap = vmap_take,
};

/*
 * take_along_axis(x, indices): numpy's. y[m] = x[m with m[axis] replaced
 * by idx[m]], x and indices broadcast against each other on every axis
 * but `axis`. Shape: that broadcast shape, with indices' length along
 * axis. indices must have x's ndim (1 when flat; then y has indices'
 * shape). Dtypes as take.
 */
static kiln_status infer_take_along(const kiln_prim *p, const void *params,
                                    const kiln_meta *in, int nin,
                                    kiln_meta *out, int *nout)
{
    const kiln_index_params *ip = params;
    const kiln_meta *x = &in[0], *idx = &in[1];
    int64_t n = 0;
    (void)nin;
    if (axis_len(p, ip, x, &n) != KILN_OK ||
        check_indices(p, idx, n) != KILN_OK) {
        return kiln_errcode();
    }
    int want = ip->flat ? 1 : x->ndim;
    if (idx->ndim != want) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] indices have %d dims, expected %d", p->name,
                         idx->ndim, want);
    }
    *out = *idx;
    out->dtype = x->dtype;
    for (int d = 0; d < want && !ip->flat; d++) {
        int64_t a = x->shape[d], b = idx->shape[d];
        if (d == ip->axis || a == b || a == 1) {
            continue;
        }
        if (b != 1) {
            char sa[160], sb[160];
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] array %s and indices %s do not broadcast "
                             "outside axis %d", p->name,
                             kiln__shape_str(x->shape, x->ndim, sa, sizeof sa),
                             kiln__shape_str(idx->shape, idx->ndim, sb,
                                             sizeof sb),
                             (int)ip->axis);
        }
        out->shape[d] = a;
    }
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_take_along_axis = {
    .name = "take_along_axis",
    .nin = 2,
    .params_size = sizeof(kiln_index_params),
    .infer = infer_take_along,
    .eval_cpu = kiln__cpu_eval_take_along,
    .vjp = vjp_take_along,
    .jvp = jvp_gather,
    .vmap = vmap_take_along,
};

/* ------------------------------------------------------------------ */
/* sort, argsort, topk                                                */
/* ------------------------------------------------------------------ */

/*
 * The order: ascending by value; -0.0 equals 0.0; NaNs (any sign or
 * payload) come after everything, as in numpy; float16/bfloat16 order as
 * their float32 values; bool false < true. Sorts are stable: equal values
 * keep their order (argsort shows it).
 *
 * sort(x): y = x's values along axis in that order. Shape: x's (1-D of
 * x.size when flat). Dtypes: any, y x's dtype.
 * argsort(x): y[j] = position along axis of the j-th value in that order.
 * Shape as sort. y uint32 (as MLX), so an axis has at most UINT32_MAX
 * elements.
 */
static kiln_status infer_sort_shape(const kiln_prim *p,
                                    const kiln_index_params *ip,
                                    const kiln_meta *x, kiln_meta *out)
{
    int64_t n = 0;
    if (axis_len(p, ip, x, &n) != KILN_OK) {
        return kiln_errcode();
    }
    if ((uint64_t)n > UINT32_MAX) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] axis of length %lld exceeds the uint32 "
                         "positions it sorts with", p->name, (long long)n);
    }
    *out = *x;
    if (ip->flat) {
        out->ndim = 1;
        out->shape[0] = n;
    }
    return KILN_OK;
}

static kiln_status infer_sort(const kiln_prim *p, const void *params,
                              const kiln_meta *in, int nin, kiln_meta *out,
                              int *nout)
{
    (void)nin;
    if (infer_sort_shape(p, params, &in[0], out) != KILN_OK) {
        return kiln_errcode();
    }
    *nout = 1;
    return KILN_OK;
}

static kiln_status infer_argsort(const kiln_prim *p, const void *params,
                                 const kiln_meta *in, int nin, kiln_meta *out,
                                 int *nout)
{
    (void)nin;
    if (infer_sort_shape(p, params, &in[0], out) != KILN_OK) {
        return kiln_errcode();
    }
    out->dtype = KILN_DTYPE_UINT32;
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_sort = {
    .name = "sort",
    .nin = 1,
    .params_size = sizeof(kiln_index_params),
    .infer = infer_sort,
    .eval_cpu = kiln__cpu_eval_sort,
    .vjp = vjp_sort,
    .jvp = jvp_sort,
    .vmap = vmap_rows,
};

const kiln_prim kiln__prim_argsort = {
    .name = "argsort",
    .nin = 1,
    .params_size = sizeof(kiln_index_params),
    .infer = infer_argsort,
    .eval_cpu = kiln__cpu_eval_argsort,
    .vjp = kiln__autodiff_shape_vjp_zero,
    .jvp = kiln__autodiff_shape_jvp_zero,
    .vmap = vmap_rows,
};

/*
 * topk(x): the k largest values along axis (in sort's order, so NaNs
 * count as largest), as a multiset. Their order in y is unspecified, as
 * in MLX; this kernel happens to keep their original order along the
 * axis, and among equal values at the threshold it takes the first ones.
 * Shape: x's with the axis length replaced by k ((k) when flat). Dtypes:
 * any, y x's dtype. 0 <= k <= axis length.
 */
static kiln_status infer_topk(const kiln_prim *p, const void *params,
                              const kiln_meta *in, int nin, kiln_meta *out,
                              int *nout)
{
    const kiln_index_params *ip = params;
    (void)nin;
    if (infer_sort_shape(p, ip, &in[0], out) != KILN_OK) {
        return kiln_errcode();
    }
    int ax = ip->flat ? 0 : ip->axis;
    if (ip->k < 0 || ip->k > out->shape[ax]) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] k = %lld is outside [0, %lld], the axis "
                         "length", p->name, (long long)ip->k,
                         (long long)out->shape[ax]);
    }
    out->shape[ax] = ip->k;
    *nout = 1;
    return KILN_OK;
}

const kiln_prim kiln__prim_topk = {
    .name = "topk",
    .nin = 1,
    .params_size = sizeof(kiln_index_params),
    .infer = infer_topk,
    .eval_cpu = kiln__cpu_eval_topk,
    .vjp = vjp_topk,
    .jvp = jvp_topk,
    .vmap = vmap_rows,
};
