/*
 * movement_copy.c - the movement primitives that copy: slice_update,
 * concatenate and pad (the views are in movement.c).
 *
 * Copies walk strided regions through the shared iterator
 * (backend/cpu/copy_cpu.c). Params are in movement.h and are resolved
 * against the actual input shapes by every infer, as the views' are.
 *
 * Invariants: outputs are fresh contiguous buffers (or, for slice_update,
 * its donated input); inputs of concatenate and slice_update already share
 * the output dtype (the ops layer casts), and slice_update's update
 * already has the slice's shape (the ops layer broadcasts it).
 *
 * Transform rules: all three are linear, so jvp applies them to the
 * tangents (zeros for the missing ones); vjps are slices of the cotangent
 * (and, for slice_update's x, the cotangent with the slice zeroed); vmap
 * moves the batch axis to the front and gives the params a leading whole
 * axis.
 */
#include "movement.h"

#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/copy_cpu.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "autodiff.h"
#include "autodiff_shape.h"
#include "prim.h"

/* ------------------------------------------------------------------ */
/* transform rules                                                    */
/* ------------------------------------------------------------------ */

static kiln_status done(kiln_array *a)
{
    return a ? KILN_OK : kiln_errcode();
}

/* Whether a vjp has anything to do for input i. */
static bool wants(const bool *need, int i, kiln_array *g)
{
    return need[i] && g;
}

static kiln_status vjp_slice_update(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, int nin,
                                    kiln_array *const *out, int nout,
                                    kiln_array *const *cot_out,
                                    const bool *need, kiln_array **cot_in)
{
    kiln_array *g = cot_out[0];
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = cot_in[1] = NULL;
    if (wants(need, 0, g)) {
        kiln_array *su[2] = {g, kiln__autodiff_shape_zeros(in[1])};
        cot_in[0] = kiln__autodiff_shape_apply(&kiln__prim_slice_update,
                                               params, su, 2);
        if (!cot_in[0]) {
            return kiln_errcode();
        }
    }
    if (wants(need, 1, g)) {
        cot_in[1] = kiln__autodiff_shape_apply(&kiln__prim_slice, params, &g,
                                               1);
        if (!cot_in[1]) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

/* jvp of a many-input linear primitive: p on the tangents, zeros for the
 * missing ones; zero when all are. */
static kiln_status jvp_linear_n(const kiln_prim *p, const void *params,
                                kiln_array *const *in, int nin,
                                kiln_array *const *out, int nout,
                                kiln_array *const *tan_in,
                                kiln_array **tan_out)
{
    kiln_array *local[8], **t = local;
    bool any = false;
    (void)out;
    (void)nout;
    tan_out[0] = NULL;
    for (int i = 0; i < nin; i++) {
        any = any || tan_in[i];
    }
    if (!any) {
        return KILN_OK;
    }
    if (nin > 8) {
        t = malloc((size_t)nin * sizeof *t);
        if (!t) {
            return kiln__err(KILN_ERR_MEMORY, "[%s] out of memory",
                             p->name);
        }
    }
    for (int i = 0; i < nin; i++) {
        t[i] = tan_in[i] ? tan_in[i] : kiln__autodiff_shape_zeros(in[i]);
    }
    tan_out[0] = kiln__autodiff_shape_apply(p, params, t, nin);
    if (t != local) {
        free(t);
    }
    return done(tan_out[0]);
}

static kiln_status vmap_slice_update(const kiln_prim *p, const void *params,
                                     kiln_array *const *in, const int *bdim,
                                     int nin, kiln_array **out,
                                     int *out_bdim, int *nout)
{
    kiln_slice_params bp;
    if (bdim[0] < 0 && bdim[1] < 0) {
        *nout = 1;
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    int64_t n = kiln__autodiff_shape_batch_size(in, bdim, nin);
    kiln_array *b[2];
    for (int i = 0; i < 2; i++) {
        b[i] = kiln__autodiff_shape_front(in[i], bdim[i], false, n);
    }
    if (kiln__movement_batch_slice(p, params, &bp) != KILN_OK) {
        return kiln_errcode();
    }
    *nout = 1;
    out_bdim[0] = 0;
    out[0] = kiln__autodiff_shape_apply(p, &bp, b, 2);
    return done(out[0]);
}

static kiln_status vjp_concatenate(const kiln_prim *p, const void *params,
                                   kiln_array *const *in, int nin,
                                   kiln_array *const *out, int nout,
                                   kiln_array *const *cot_out,
                                   const bool *need, kiln_array **cot_in)
{
    const kiln_axis_params *ap = params;
    int64_t at = 0;
    (void)p;
    (void)out;
    (void)nout;
    for (int i = 0; i < nin; i++) {
        int64_t len = in[i]->shape[ap->axis];
        cot_in[i] = NULL;
        if (wants(need, i, cot_out[0])) {
            cot_in[i] = kiln__autodiff_shape_slice_axis(cot_out[0], ap->axis,
                                                        at, at + len);
            if (!cot_in[i]) {
                return kiln_errcode();
            }
        }
        at += len;
    }
    return KILN_OK;
}

static kiln_status vmap_concatenate(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, const int *bdim,
                                    int nin, kiln_array **out, int *out_bdim,
                                    int *nout)
{
    const kiln_axis_params *ap = params;
    kiln_axis_params bp;
    kiln_array *local[8], **b = local;
    int64_t n = kiln__autodiff_shape_batch_size(in, bdim, nin);
    bool any = false;
    *nout = 1;
    for (int i = 0; i < nin; i++) {
        any = any || bdim[i] >= 0;
    }
    if (!any) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    if (nin > 8) {
        b = malloc((size_t)nin * sizeof *b);
        if (!b) {
            return kiln__err(KILN_ERR_MEMORY, "[%s] out of memory",
                             p->name);
        }
    }
    for (int i = 0; i < nin; i++) {
        b[i] = kiln__autodiff_shape_front(in[i], bdim[i], false, n);
    }
    memset(&bp, 0, sizeof bp);
    bp.axis = ap->axis + 1;
    out_bdim[0] = 0;
    out[0] = kiln__autodiff_shape_apply(p, &bp, b, nin);
    if (b != local) {
        free(b);
    }
    return done(out[0]);
}

static kiln_status vjp_pad(const kiln_prim *p, const void *params,
                           kiln_array *const *in, int nin,
                           kiln_array *const *out, int nout,
                           kiln_array *const *cot_out, const bool *need,
                           kiln_array **cot_in)
{
    const kiln_pad_params *pp = params;
    kiln_slice_params sp;
    kiln_array *g = cot_out[0];
    (void)p;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = cot_in[1] = NULL;
    memset(&sp, 0, sizeof sp);
    sp.ndim = pp->ndim;
    for (int i = 0; i < pp->ndim; i++) {
        /* relative to g's ends, so a shapeless replay cuts the new size */
        sp.start[i] = pp->lo[i];
        sp.stop[i] = pp->hi[i] > 0 ? -pp->hi[i] : KILN_SLICE_END;
        sp.step[i] = 1;
    }
    if (wants(need, 0, g)) {
        cot_in[0] = kiln__autodiff_shape_apply(&kiln__prim_slice, &sp, &g, 1);
        if (!cot_in[0]) {
            return kiln_errcode();
        }
    }
    if (wants(need, 1, g)) {
        /* the value fills the border: the sum of g with its interior
         * zeroed */
        kiln_array *su[2] = {g, kiln__autodiff_shape_zeros(in[0])};
        kiln_array *border = in[0]->size
                                 ? kiln__autodiff_shape_apply(
                                       &kiln__prim_slice_update, &sp, su, 2)
                                 : g;
        cot_in[1] = border ? kiln_sum(border, NULL, 0, false) : NULL;
        if (!cot_in[1]) {
            return kiln_errcode();
        }
    }
    return KILN_OK;
}

static kiln_status vmap_pad(const kiln_prim *p, const void *params,
                            kiln_array *const *in, const int *bdim, int nin,
                            kiln_array **out, int *out_bdim, int *nout)
{
    const kiln_pad_params *pp = params;
    kiln_pad_params bp;
    *nout = 1;
    if (bdim[0] < 0 && bdim[1] < 0) {
        out_bdim[0] = -1;
        out[0] = kiln__autodiff_shape_apply(p, params, in, nin);
        return done(out[0]);
    }
    if (pp->ndim + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                         "more than %d dims", p->name, KILN_MAX_NDIM);
    }
    int64_t n = kiln__autodiff_shape_batch_size(in, bdim, nin);
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], false, n);
    memset(&bp, 0, sizeof bp);
    bp.ndim = pp->ndim + 1;
    for (int i = 0; i < pp->ndim; i++) {
        bp.lo[i + 1] = pp->lo[i];
        bp.hi[i + 1] = pp->hi[i];
    }
    out_bdim[0] = 0;
    if (bdim[1] < 0) {
        kiln_array *pin[2] = {x, in[1]};
        out[0] = kiln__autodiff_shape_apply(p, &bp, pin, 2);
        return done(out[0]);
    }
    /* a batch of values (B): pad with zeros, then put each item's value
     * on its border (where the padded ones-mask is 0) */
    kiln_array *zero = kiln_scalar_f64(0.0, in[0]->dtype);
    kiln_array *pz[2] = {x, zero};
    kiln_array *padded = kiln__autodiff_shape_apply(p, &bp, pz, 2);
    if (!x) {
        return kiln_errcode();
    }
    kiln_array *ones = kiln_ones(x->shape + 1, x->ndim - 1, KILN_DTYPE_BOOL);
    kiln_array *pm[2] = {ones, kiln_scalar_bool(false)};
    kiln_array *inside = kiln__autodiff_shape_apply(p, params, pm, 2);
    kiln_array *v = kiln__autodiff_shape_ones_at(
        kiln__autodiff_shape_front(in[1], bdim[1], false, 0), 1, pp->ndim);
    out[0] = padded && inside && v ? kiln_where(inside, padded, v) : NULL;
    return done(out[0]);
}

/* ------------------------------------------------------------------ */
/* copies                                                             */
/* ------------------------------------------------------------------ */

/* Copies all of src into the region of dst that starts at byte address
 * `at` with dst's byte strides (the region has src's shape). */
static void copy_into(const kiln_array *dst, char *at, const kiln_array *src)
{
    int64_t ds[KILN_MAX_NDIM], ss[KILN_MAX_NDIM];
    kiln__array_byte_strides(dst, ds);
    kiln__array_byte_strides(src, ss);
    kiln__cpu_copy(src->ndim, src->shape, kiln_dtype_size(src->dtype), at, ds,
                   kiln__array_ptr(src), ss);
}

/*
 * slice_update: y = x except y[slice] = update. Inputs (x, update): update
 * has the slice's shape and x's dtype (the ops layer broadcasts and casts).
 * Shape rule: y has x's shape and dtype. Writes into x's buffer when
 * nothing else can see it, else copies x first. Derivative: x gets the
 * cotangent with the slice zeroed, update gets the cotangent's slice.
 */
static kiln_status infer_slice_update(const kiln_prim *p, const void *params,
                                      const kiln_meta *in, int nin,
                                      kiln_meta *out, int *nout)
{
    kiln_meta region;
    int one;
    if (kiln__prim_slice.infer(p, params, in, nin, &region, &one) != KILN_OK) {
        return kiln_errcode();
    }
    if (in[1].dtype != in[0].dtype ||
        !kiln__shape_equal(in[1].shape, in[1].ndim, region.shape,
                           region.ndim)) {
        char a[256], b[256];
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] update of shape %s (%s) for a slice of shape "
                         "%s (%s)",
                         p->name,
                         kiln__shape_str(in[1].shape, in[1].ndim, a,
                                         sizeof a),
                         kiln_dtype_name(in[1].dtype),
                         kiln__shape_str(region.shape, region.ndim, b,
                                         sizeof b),
                         kiln_dtype_name(in[0].dtype));
    }
    out[0] = in[0];
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_slice_update(const kiln_node *n,
                                     kiln_array *const *in,
                                     kiln_array *const *out)
{
    kiln_array *x = in[0], *u = in[1], *y = out[0];
    int64_t st[KILN_MAX_NDIM];
    if (!kiln__array_donate(y, x)) {
        if (kiln__array_alloc(y, n->prim->name) != KILN_OK) {
            return kiln_errcode();
        }
        copy_into(y, kiln__array_ptr(y), x);
    }
    if (u->size == 0) {
        return KILN_OK;
    }
    int64_t off = kiln__movement_slice_region(n->params, y->ndim, y->shape,
                                              y->strides, y->offset, st);
    int64_t ds[KILN_MAX_NDIM], ss[KILN_MAX_NDIM];
    size_t isz = kiln_dtype_size(y->dtype);
    for (int i = 0; i < y->ndim; i++) {
        ds[i] = st[i] * (int64_t)isz;
    }
    kiln__array_byte_strides(u, ss);
    kiln__cpu_copy(u->ndim, u->shape, isz,
                   (char *)y->buf->data + off * (int64_t)isz, ds,
                   kiln__array_ptr(u), ss);
    return KILN_OK;
}

const kiln_prim kiln__prim_slice_update = {
    .name = "slice_update",
    .flags = 0,
    .nin = 2,
    .params_size = sizeof(kiln_slice_params),
    .infer = infer_slice_update,
    .eval_cpu = eval_slice_update,
    .vjp = vjp_slice_update,
    .jvp = jvp_linear_n,
    .vmap = vmap_slice_update,
};

/*
 * concatenate: y = the inputs laid end to end along `axis`. Shape rule:
 * inputs share ndim (>= 1), dtype, and every dim but axis; y's axis dim is
 * the sum. dtypes: any (the ops layer promotes). Derivative: slices of the
 * cotangent.
 */
static kiln_status infer_concatenate(const kiln_prim *p, const void *params,
                                     const kiln_meta *in, int nin,
                                     kiln_meta *out, int *nout)
{
    const kiln_axis_params *ap = params;
    int ax = ap->axis, nd = nin > 0 ? in[0].ndim : 0;
    if (nin < 1 || nd < 1 || ax < 0 || ax >= nd) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] needs at least one array of ndim >= 1 and an "
                         "axis within it",
                         p->name);
    }
    out[0] = in[0];
    for (int k = 1; k < nin; k++) {
        bool ok = in[k].ndim == nd && in[k].dtype == in[0].dtype;
        for (int i = 0; i < nd && ok; i++) {
            ok = i == ax || in[k].shape[i] == in[0].shape[i];
        }
        if (!ok) {
            char a[256], b[256];
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] all arrays must have the same shape "
                             "except along axis %d and one dtype: %s (%s) "
                             "and %s (%s)",
                             p->name, ax,
                             kiln__shape_str(in[0].shape, nd, a, sizeof a),
                             kiln_dtype_name(in[0].dtype),
                             kiln__shape_str(in[k].shape, in[k].ndim, b,
                                             sizeof b),
                             kiln_dtype_name(in[k].dtype));
        }
        if (in[k].shape[ax] > INT64_MAX - out[0].shape[ax]) {
            return kiln__err(KILN_ERR_VALUE, "[%s] result is too large",
                             p->name);
        }
        out[0].shape[ax] += in[k].shape[ax];
    }
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_concatenate(const kiln_node *n,
                                    kiln_array *const *in,
                                    kiln_array *const *out)
{
    const kiln_axis_params *ap = n->params;
    kiln_array *y = out[0];
    if (kiln__array_alloc(y, n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    int64_t at = 0;
    size_t isz = kiln_dtype_size(y->dtype);
    for (int k = 0; k < n->nin; k++) {
        if (in[k]->size > 0) {
            copy_into(y,
                      kiln__array_ptr(y) +
                          at * y->strides[ap->axis] * (int64_t)isz,
                      in[k]);
        }
        at += in[k]->shape[ap->axis];
    }
    return KILN_OK;
}

const kiln_prim kiln__prim_concatenate = {
    .name = "concatenate",
    .flags = 0,
    .nin = -1,
    .params_size = sizeof(kiln_axis_params),
    .infer = infer_concatenate,
    .eval_cpu = eval_concatenate,
    .vjp = vjp_concatenate,
    .jvp = jvp_linear_n,
    .vmap = vmap_concatenate,
};

/*
 * pad: y = x surrounded by `value`, with lo[i] items before and hi[i]
 * after along axis i. Inputs (x, value): value is 0-d of x's dtype. Shape
 * rule: out.shape[i] = lo[i] + in.shape[i] + hi[i], widths >= 0. dtypes:
 * any. Derivative: the cotangent's interior slice for x, the sum of its
 * border for value. The widths are relative to the input's shape, so a
 * replay on new shapes is fine (no KILN_PRIM_NO_SHAPELESS).
 */
static kiln_status infer_pad(const kiln_prim *p, const void *params,
                             const kiln_meta *in, int nin, kiln_meta *out,
                             int *nout)
{
    const kiln_pad_params *pp = params;
    int64_t size;
    (void)nin;
    if (pp->ndim != in[0].ndim || in[1].ndim != 0 ||
        in[1].dtype != in[0].dtype) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] needs %d pad widths and a 0-d value of dtype "
                         "%s",
                         p->name, in[0].ndim, kiln_dtype_name(in[0].dtype));
    }
    out[0] = in[0];
    for (int i = 0; i < pp->ndim; i++) {
        if (pp->lo[i] < 0 || pp->hi[i] < 0) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] pad widths must be non-negative, got "
                             "(%lld, %lld) for axis %d",
                             p->name, (long long)pp->lo[i],
                             (long long)pp->hi[i], i);
        }
        if (pp->lo[i] > INT64_MAX - in[0].shape[i] ||
            pp->hi[i] > INT64_MAX - in[0].shape[i] - pp->lo[i]) {
            return kiln__err(KILN_ERR_VALUE, "[%s] result is too large",
                             p->name);
        }
        out[0].shape[i] = pp->lo[i] + in[0].shape[i] + pp->hi[i];
    }
    if (kiln__shape_size(out[0].shape, out[0].ndim,
                         kiln_dtype_size(out[0].dtype), &size, p->name)) {
        return kiln_errcode();
    }
    *nout = 1;
    return KILN_OK;
}

/* Fills the border of y: for each axis d, the slabs [0, lo) and
 * [lo + n, out) along d, restricted to the interior along axes before d
 * and full along axes after it. Together they cover the border once. */
static void fill_border(const kiln_pad_params *pp, kiln_array *y,
                        const kiln_array *x, const char *value)
{
    size_t isz = kiln_dtype_size(y->dtype);
    int64_t bs[KILN_MAX_NDIM], zero[KILN_MAX_NDIM] = {0};
    int64_t shape[KILN_MAX_NDIM];
    kiln__array_byte_strides(y, bs);
    for (int d = 0; d < y->ndim; d++) {
        char *base = kiln__array_ptr(y);
        for (int i = 0; i < d; i++) {
            shape[i] = x->shape[i];
            base += pp->lo[i] * bs[i];
        }
        for (int i = d + 1; i < y->ndim; i++) {
            shape[i] = y->shape[i];
        }
        shape[d] = pp->lo[d];
        kiln__cpu_copy(y->ndim, shape, isz, base, bs, value, zero);
        shape[d] = pp->hi[d];
        kiln__cpu_copy(y->ndim, shape, isz,
                       base + (pp->lo[d] + x->shape[d]) * bs[d], bs, value,
                       zero);
    }
}

static kiln_status eval_pad(const kiln_node *n, kiln_array *const *in,
                            kiln_array *const *out)
{
    const kiln_pad_params *pp = n->params;
    kiln_array *x = in[0], *y = out[0];
    if (kiln__array_alloc(y, n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    if (y->size == 0) {
        return KILN_OK;
    }
    fill_border(pp, y, x, kiln__array_ptr(in[1]));
    if (x->size > 0) {
        char *at = kiln__array_ptr(y);
        for (int i = 0; i < y->ndim; i++) {
            at += pp->lo[i] * y->strides[i] *
                  (int64_t)kiln_dtype_size(y->dtype);
        }
        copy_into(y, at, x);
    }
    return KILN_OK;
}

const kiln_prim kiln__prim_pad = {
    .name = "pad",
    .flags = 0,
    .nin = 2,
    .params_size = sizeof(kiln_pad_params),
    .infer = infer_pad,
    .eval_cpu = eval_pad,
    .vjp = vjp_pad,
    .jvp = jvp_linear_n,
    .vmap = vmap_pad,
};
