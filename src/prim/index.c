/*
 * index.c - the index family: gathers and sorts, whose outputs depend on
 * data (positions read from an array, or an order found by comparing).
 *
 * All five share the params struct kiln_index_params (index.h):
 * {axis (normalised), flat, k}. "flat" reads x as its row-major 1-D form
 * (MLX's axis=None). None of them is elementwise or fusable; their kernels
 * live in backend/cpu/index_cpu.c. Derivatives are added by the transforms
 * work (vjp of a gather is a scatter-add of the cotangent into zeros; sort
 * and topk route the cotangent back through their argsort positions;
 * argsort has none).
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
};

const kiln_prim kiln__prim_argsort = {
    .name = "argsort",
    .nin = 1,
    .params_size = sizeof(kiln_index_params),
    .infer = infer_argsort,
    .eval_cpu = kiln__cpu_eval_argsort,
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
};
