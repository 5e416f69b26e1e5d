/*
 * movement.c - primitives that move values without computing on them,
 * the views: reshape, transpose, expand_dims, squeeze, slice and
 * broadcast_to / broadcast_like (the copies, slice_update, concatenate
 * and pad, are in movement_copy.c).
 *
 * A view's eval_cpu gives its output the input's buffer with a new offset
 * and strides (kiln__array_set_view): no element is touched, whatever the
 * input's own strides (views of views compose). reshape is a view when the
 * input's strides allow one (numpy's no-copy rule) and copies otherwise.
 * Params are in movement.h; every infer resolves them against the actual
 * input shapes, so a node can be replayed on new shapes wherever its
 * params still make sense.
 *
 * Transform rules (below the helpers): every primitive here is linear, so
 * jvp applies it to the tangents; vjps are the adjoint moves (reshape
 * back, inverse permutation, slice_update of zeros, sum over broadcast
 * axes); vmap moves the batch axis to the front and gives the params a
 * leading whole axis.
 */
#include "movement.h"

#include <stdlib.h>
#include <string.h>

#include "../backend/cpu/copy_cpu.h"
#include "../backend/cpu/elementwise_cpu.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "autodiff.h"
#include "autodiff_shape.h"
#include "prim.h"

/* ------------------------------------------------------------------ */
/* helpers                                                            */
/* ------------------------------------------------------------------ */

void kiln__movement_slice_axis(int64_t len, int64_t start, int64_t stop,
                               int64_t step, int64_t *first, int64_t *count)
{
    int64_t n = 0;
    /* Bounds are clamped to [lo, hi]: [0, len] walking forwards, [-1,
     * len - 1] backwards, where -1 means "before index 0". An omitted
     * bound (the sentinels) is the end the walk starts or stops at. */
    int64_t lo = step > 0 ? 0 : -1, hi = step > 0 ? len : len - 1;
    if (start == KILN_SLICE_BEGIN) {
        start = step > 0 ? lo : hi;
    } else if (start < 0) {
        start = start + len < lo ? lo : start + len;
    } else if (start > hi) {
        start = hi;
    }
    if (stop == KILN_SLICE_END) {
        stop = step > 0 ? hi : lo;
    } else if (stop < 0) {
        stop = stop + len < lo ? lo : stop + len;
    } else if (stop > hi) {
        stop = hi;
    }
    if (step > 0 && stop > start) {
        n = (stop - start - 1) / step + 1;
    } else if (step < 0 && start > stop) {
        /* -step overflows for INT64_MIN; such a step takes one item */
        n = step == INT64_MIN ? 1 : (start - stop - 1) / -step + 1;
    }
    *first = n > 0 ? start : 0;
    *count = n;
}

int64_t kiln__movement_slice_region(const kiln_slice_params *sp, int ndim,
                                    const int64_t *shape,
                                    const int64_t *strides, int64_t offset,
                                    int64_t *st)
{
    for (int i = 0; i < ndim; i++) {
        int64_t first, count;
        kiln__movement_slice_axis(shape[i], sp->start[i], sp->stop[i],
                                  sp->step[i], &first, &count);
        offset += first * strides[i];
        /* with fewer than two items the step never applies (and could
         * overflow when scaled) */
        st[i] = count > 1 ? strides[i] * sp->step[i] : strides[i];
    }
    return offset;
}

/* Validates slice params against input x (steps are not 0, ndim
 * matches, fixed axes have their length). */
static kiln_status check_slice(const kiln_prim *p, const kiln_slice_params *sp,
                               const kiln_meta *x)
{
    int ndim = x->ndim;
    if (sp->ndim != ndim) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] %d slice bounds for an array of ndim %d",
                         p->name, sp->ndim, ndim);
    }
    for (int i = 0; i < ndim; i++) {
        if (sp->step[i] == 0) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] slice step cannot be zero (axis %d)",
                             p->name, i);
        }
        if ((sp->fixed >> i & 1u) && x->shape[i] != sp->len[i]) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] slice bounds computed for axis %d of length "
                             "%lld (as split into sections, roll, diagonal "
                             "or median compute them) cannot cut a length "
                             "of %lld; a shapeless compiled function cannot "
                             "replay them on a new size: compile without "
                             "shapeless",
                             p->name, i, (long long)sp->len[i],
                             (long long)x->shape[i]);
        }
    }
    return KILN_OK;
}

/* ------------------------------------------------------------------ */
/* transform rules                                                    */
/* ------------------------------------------------------------------ */

/* Every movement primitive is linear: its jvp applies it to the tangents
 * (kiln__autodiff_shape_jvp_linear for the one-input ones). vmap moves
 * the batch axis to the front and adds a leading axis to the params. */

static kiln_status done(kiln_array *a)
{
    return a ? KILN_OK : kiln_errcode();
}

/* Whether a vjp has anything to do for input i. */
static bool wants(const bool *need, int i, kiln_array *g)
{
    return need[i] && g;
}

/* reshape, expand_dims, squeeze: the cotangent reshaped back. */
static kiln_status vjp_reshape(const kiln_prim *p, const void *params,
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
    cot_in[0] = NULL;
    if (!wants(need, 0, cot_out[0])) {
        return KILN_OK;
    }
    cot_in[0] = kiln_reshape(cot_out[0], in[0]->shape, in[0]->ndim);
    return done(cot_in[0]);
}

/* The batch of a one-input rule: out = p(x with batch in front, new
 * params), or p(x) unbatched. */
static kiln_status vmap_one(const kiln_prim *p, const void *params,
                            const void *bparams, kiln_array *x,
                            kiln_array **out, int *out_bdim, int *nout)
{
    *nout = 1;
    out_bdim[0] = bparams ? 0 : -1;
    out[0] = kiln__autodiff_shape_apply(p, bparams ? bparams : params, &x,
                                        1);
    return done(out[0]);
}

static kiln_status vmap_reshape(const kiln_prim *p, const void *params,
                                kiln_array *const *in, const int *bdim,
                                int nin, kiln_array **out, int *out_bdim,
                                int *nout)
{
    const kiln_shape_params *sp = params;
    kiln_shape_params bp;
    (void)nin;
    if (bdim[0] < 0) {
        return vmap_one(p, params, NULL, in[0], out, out_bdim, nout);
    }
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], false, 0);
    if (!x) {
        return kiln_errcode();
    }
    if (sp->ndim + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                         "more than %d dims", p->name, KILN_MAX_NDIM);
    }
    memset(&bp, 0, sizeof bp);
    bp.ndim = sp->ndim + 1;
    bp.shape[0] = x->shape[0];
    for (int i = 0; i < sp->ndim; i++) {
        /* kept input axes move one up, behind the batch axis */
        bp.shape[i + 1] = sp->shape[i] + (KILN__SHAPE_IS_AXIS(sp->shape[i])
                                               ? 1 : 0);
    }
    return vmap_one(p, params, &bp, x, out, out_bdim, nout);
}

static kiln_status vjp_transpose(const kiln_prim *p, const void *params,
                                 kiln_array *const *in, int nin,
                                 kiln_array *const *out, int nout,
                                 kiln_array *const *cot_out, const bool *need,
                                 kiln_array **cot_in)
{
    const kiln_perm_params *pp = params;
    int inv[KILN_MAX_NDIM];
    (void)p;
    (void)in;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!wants(need, 0, cot_out[0])) {
        return KILN_OK;
    }
    for (int i = 0; i < pp->ndim; i++) {
        inv[pp->perm[i]] = i;
    }
    cot_in[0] = pp->ndim ? kiln_transpose(cot_out[0], inv, pp->ndim)
                         : cot_out[0];
    return done(cot_in[0]);
}

static kiln_status vmap_transpose(const kiln_prim *p, const void *params,
                                  kiln_array *const *in, const int *bdim,
                                  int nin, kiln_array **out, int *out_bdim,
                                  int *nout)
{
    const kiln_perm_params *pp = params;
    kiln_perm_params bp;
    (void)nin;
    if (bdim[0] < 0) {
        return vmap_one(p, params, NULL, in[0], out, out_bdim, nout);
    }
    memset(&bp, 0, sizeof bp);
    bp.ndim = pp->ndim + 1;
    for (int i = 0; i < pp->ndim; i++) {
        bp.perm[i + 1] = pp->perm[i] + 1;
    }
    return vmap_one(p, params, &bp,
                    kiln__autodiff_shape_front(in[0], bdim[0], false, 0),
                    out, out_bdim, nout);
}

/* expand_dims and squeeze: a leading unmarked axis. */
static kiln_status vmap_axes(const kiln_prim *p, const void *params,
                             kiln_array *const *in, const int *bdim, int nin,
                             kiln_array **out, int *out_bdim, int *nout)
{
    const kiln_axes_params *ap = params;
    kiln_axes_params bp;
    (void)nin;
    if (bdim[0] < 0) {
        return vmap_one(p, params, NULL, in[0], out, out_bdim, nout);
    }
    if (ap->ndim + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                         "more than %d dims", p->name, KILN_MAX_NDIM);
    }
    memset(&bp, 0, sizeof bp);
    bp.ndim = ap->ndim + 1;
    for (int i = 0; i < ap->ndim; i++) {
        bp.axes[i + 1] = ap->axes[i];
    }
    return vmap_one(p, params, &bp,
                    kiln__autodiff_shape_front(in[0], bdim[0], false, 0),
                    out, out_bdim, nout);
}

kiln_status kiln__movement_batch_slice(const kiln_prim *p,
                                       const kiln_slice_params *sp,
                                       kiln_slice_params *bp)
{
    if (sp->ndim + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] batched array would have "
                         "more than %d dims", p->name, KILN_MAX_NDIM);
    }
    memset(bp, 0, sizeof *bp);
    bp->ndim = sp->ndim + 1;
    bp->start[0] = KILN_SLICE_BEGIN;
    bp->stop[0] = KILN_SLICE_END;
    bp->step[0] = 1;
    for (int i = 0; i < sp->ndim; i++) {
        bp->start[i + 1] = sp->start[i];
        bp->stop[i + 1] = sp->stop[i];
        bp->step[i + 1] = sp->step[i];
        bp->len[i + 1] = sp->len[i];
    }
    bp->fixed = sp->fixed << 1;
    return KILN_OK;
}

static kiln_status vjp_slice(const kiln_prim *p, const void *params,
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
    if (!wants(need, 0, cot_out[0])) {
        return KILN_OK;
    }
    kiln_array *su[2] = {kiln__autodiff_shape_zeros(in[0]), cot_out[0]};
    cot_in[0] = kiln__autodiff_shape_apply(&kiln__prim_slice_update, params,
                                           su, 2);
    return done(cot_in[0]);
}

static kiln_status vmap_slice(const kiln_prim *p, const void *params,
                              kiln_array *const *in, const int *bdim, int nin,
                              kiln_array **out, int *out_bdim, int *nout)
{
    kiln_slice_params bp;
    (void)nin;
    if (bdim[0] < 0) {
        return vmap_one(p, params, NULL, in[0], out, out_bdim, nout);
    }
    if (kiln__movement_batch_slice(p, params, &bp) != KILN_OK) {
        return kiln_errcode();
    }
    return vmap_one(p, params, &bp,
                    kiln__autodiff_shape_front(in[0], bdim[0], false, 0),
                    out, out_bdim, nout);
}

static kiln_status vjp_broadcast_to(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, int nin,
                                    kiln_array *const *out, int nout,
                                    kiln_array *const *cot_out,
                                    const bool *need, kiln_array **cot_in)
{
    (void)p;
    (void)params;
    (void)nin;
    (void)out;
    (void)nout;
    cot_in[0] = NULL;
    if (!wants(need, 0, cot_out[0])) {
        return KILN_OK;
    }
    cot_in[0] = kiln__autodiff_unbroadcast(cot_out[0], in[0]);
    return done(cot_in[0]);
}

static kiln_status vmap_broadcast_to(const kiln_prim *p, const void *params,
                                     kiln_array *const *in, const int *bdim,
                                     int nin, kiln_array **out, int *out_bdim,
                                     int *nout)
{
    const kiln_shape_params *sp = params;
    kiln_shape_params bp;
    (void)nin;
    if (bdim[0] < 0) {
        return vmap_one(p, params, NULL, in[0], out, out_bdim, nout);
    }
    if (sp->ndim + 1 > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE, "[%s] batched result would have "
                         "more than %d dims", p->name, KILN_MAX_NDIM);
    }
    /* x (B, s...) gets size-1 axes after B up to the target's ndim, so
     * its dims line up with the target's trailing ones */
    kiln_array *x = kiln__autodiff_shape_front(in[0], bdim[0], false, 0);
    if (!x) {
        return kiln_errcode();
    }
    x = kiln__autodiff_shape_ones_at(x, 1, sp->ndim - (x->ndim - 1));
    if (!x) {
        return kiln_errcode();
    }
    memset(&bp, 0, sizeof bp);
    bp.ndim = sp->ndim + 1;
    bp.shape[0] = x->shape[0];
    for (int i = 0; i < sp->ndim; i++) {
        /* kept input axes move one up, behind the batch axis */
        bp.shape[i + 1] = sp->shape[i] + (KILN__SHAPE_IS_AXIS(sp->shape[i])
                                               ? 1 : 0);
    }
    return vmap_one(p, params, &bp, x, out, out_bdim, nout);
}

/* ------------------------------------------------------------------ */
/* reshape                                                            */
/* ------------------------------------------------------------------ */

/*
 * reshape: y = x with shape `shape` (row-major order of elements kept).
 * Shape rule: one entry may be -1, inferred so that sizes match; the sizes
 * must match. dtypes: any. A view when the input's strides allow one (for
 * instance any contiguous input, or merging dims that are contiguous with
 * each other), else a contiguous copy.
 * Derivative: reshape of the cotangent back to x's shape.
 */
kiln_status kiln__movement_resolve_shape(const char *fn, int64_t size,
                                        const int64_t *shape, int ndim,
                                        int64_t *out)
{
    char sb[256];
    int infer_at = -1;
    int64_t known = 1;
    bool zero = false;
    if (ndim < 0 || ndim > KILN_MAX_NDIM) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] ndim %d is out of range [0, %d]", fn, ndim,
                         KILN_MAX_NDIM);
    }
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == -1) {
            if (infer_at >= 0) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] can only specify one unknown "
                                 "dimension in %s",
                                 fn, kiln__shape_str(shape, ndim, sb,
                                                     sizeof sb));
            }
            infer_at = i;
        } else if (shape[i] < 0) {
            return kiln__err(KILN_ERR_VALUE, "[%s] negative dimension in %s",
                             fn, kiln__shape_str(shape, ndim, sb, sizeof sb));
        } else if (shape[i] == 0) {
            zero = true;
        }
        out[i] = shape[i];
    }
    /* the product of the known dims; one that overflows cannot match any
     * size, so it is reported as a mismatch below */
    bool over = false;
    for (int i = 0; i < ndim && !zero; i++) {
        if (i == infer_at) {
            continue;
        }
        if (known > INT64_MAX / shape[i]) {
            over = true;
            break;
        }
        known *= shape[i];
    }
    if (zero) {
        known = 0;
    }
    if (infer_at >= 0) {
        if (known == 0) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] cannot infer the unknown dimension of %s "
                             "for an array of size %lld",
                             fn, kiln__shape_str(shape, ndim, sb, sizeof sb),
                             (long long)size);
        }
        out[infer_at] = over ? 0 : size / known;
        known *= out[infer_at];
    }
    if (over || known != size) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] cannot reshape array of size %lld into shape "
                         "%s",
                         fn, (long long)size,
                         kiln__shape_str(shape, ndim, sb, sizeof sb));
    }
    return KILN_OK;
}

static kiln_status infer_reshape(const kiln_prim *p, const void *params,
                                 const kiln_meta *in, int nin, kiln_meta *out,
                                 int *nout)
{
    const kiln_shape_params *sp = params;
    int64_t size, target[KILN_MAX_NDIM];
    (void)nin;
    for (int i = 0; i < sp->ndim; i++) {
        target[i] = sp->shape[i];
        if (KILN__SHAPE_IS_AXIS(target[i])) {
            int64_t j = target[i] - INT64_MIN;
            if (j >= in[0].ndim) {
                return kiln__err(KILN_ERR_VALUE,
                                 "[%s] the target keeps input axis %lld of "
                                 "an array of ndim %d",
                                 p->name, (long long)j, in[0].ndim);
            }
            target[i] = in[0].shape[j];
        }
    }
    if (kiln__shape_size(in[0].shape, in[0].ndim, 0, &size, p->name) ||
        kiln__movement_resolve_shape(p->name, size, target, sp->ndim,
                                     out[0].shape)) {
        return kiln_errcode();
    }
    out[0].dtype = in[0].dtype;
    out[0].ndim = sp->ndim;
    *nout = 1;
    return KILN_OK;
}

/* numpy's no-copy reshape: strides (elements) that read x's elements in
 * row-major order with the new shape, or false when no strides can. */
static bool view_strides(const kiln_array *x, const int64_t *nshape, int nnd,
                         int64_t *nstrides)
{
    int64_t od[KILN_MAX_NDIM], os[KILN_MAX_NDIM];
    int ond = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (x->shape[i] != 1) {
            od[ond] = x->shape[i];
            os[ond++] = x->strides[i];
        }
    }
    int oi = 0, oj = 1, ni = 0, nj = 1;
    while (ni < nnd && oi < ond) {
        int64_t np = nshape[ni], op = od[oi];
        while (np != op) {
            if (np < op) {
                np *= nshape[nj++];
            } else {
                op *= od[oj++];
            }
        }
        /* the old dims of this group must step as one */
        for (int k = oi; k < oj - 1; k++) {
            if (os[k] != od[k + 1] * os[k + 1]) {
                return false;
            }
        }
        nstrides[nj - 1] = os[oj - 1];
        for (int k = nj - 1; k > ni; k--) {
            nstrides[k - 1] = nstrides[k] * nshape[k];
        }
        ni = nj++;
        oi = oj++;
    }
    for (int k = ni; k < nnd; k++) {
        nstrides[k] = 1;
    }
    return true;
}

static kiln_status eval_reshape(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out)
{
    kiln_array *x = in[0], *y = out[0];
    int64_t st[KILN_MAX_NDIM];
    if (y->size == 0) {
        kiln__shape_strides(y->shape, y->ndim, st);
        kiln__array_set_view(y, x, x->offset, st);
        return KILN_OK;
    }
    if (view_strides(x, y->shape, y->ndim, st)) {
        kiln__array_set_view(y, x, x->offset, st);
        return KILN_OK;
    }
    if (kiln__array_alloc(y, n->prim->name) != KILN_OK) {
        return kiln_errcode();
    }
    /* y is contiguous, so x's elements in row-major order are y's */
    kiln__cpu_copy_contig(x, kiln__array_ptr(y));
    return KILN_OK;
}

/* A view to the input's own shape (reshape, broadcast_to) changes
 * nothing, at these shapes. */
static int noop_same_shape(const void *params, const kiln_meta *in,
                           const kiln_meta *out)
{
    (void)params;
    if (in->ndim != out->ndim) {
        return KILN_NOOP_NEVER;
    }
    for (int i = 0; i < in->ndim; i++) {
        if (in->shape[i] != out->shape[i]) {
            return KILN_NOOP_NEVER;
        }
    }
    return KILN_NOOP_THIS_SHAPE;
}

const kiln_prim kiln__prim_reshape = {
    .name = "reshape",
    .flags = KILN_PRIM_VIEW,
    .nin = 1,
    .params_size = sizeof(kiln_shape_params),
    .infer = infer_reshape,
    .eval_cpu = eval_reshape,
    .noop = noop_same_shape,
    .vjp = vjp_reshape,
    .jvp = kiln__autodiff_shape_jvp_linear,
    .vmap = vmap_reshape,
};

/* ------------------------------------------------------------------ */
/* transpose                                                          */
/* ------------------------------------------------------------------ */

/*
 * transpose: y[i_perm[0], ..., i_perm[n-1]] = x[i_0, ..., i_n-1], i.e.
 * output axis k is input axis perm[k]. Shape rule: out.shape[k] =
 * in.shape[perm[k]]; perm is a permutation of the input's axes. dtypes:
 * any. Always a view. Derivative: transpose by the inverse permutation.
 */
static kiln_status infer_transpose(const kiln_prim *p, const void *params,
                                   const kiln_meta *in, int nin,
                                   kiln_meta *out, int *nout)
{
    const kiln_perm_params *pp = params;
    bool seen[KILN_MAX_NDIM] = {false};
    (void)nin;
    if (pp->ndim != in[0].ndim) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] permutation of %d axes for an array of ndim "
                         "%d",
                         p->name, pp->ndim, in[0].ndim);
    }
    for (int i = 0; i < pp->ndim; i++) {
        int a = pp->perm[i];
        if (a < 0 || a >= pp->ndim || seen[a]) {
            return kiln__err(KILN_ERR_VALUE, "[%s] invalid permutation",
                             p->name);
        }
        seen[a] = true;
        out[0].shape[i] = in[0].shape[a];
    }
    out[0].dtype = in[0].dtype;
    out[0].ndim = pp->ndim;
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_transpose(const kiln_node *n, kiln_array *const *in,
                                  kiln_array *const *out)
{
    const kiln_perm_params *pp = n->params;
    int64_t st[KILN_MAX_NDIM];
    for (int i = 0; i < pp->ndim; i++) {
        st[i] = in[0]->strides[pp->perm[i]];
    }
    kiln__array_set_view(out[0], in[0], in[0]->offset, st);
    return KILN_OK;
}

/* A transpose by the identity permutation, at any shape. */
static int noop_transpose(const void *params, const kiln_meta *in,
                          const kiln_meta *out)
{
    const kiln_perm_params *pp = params;
    (void)in;
    (void)out;
    for (int i = 0; i < pp->ndim; i++) {
        if (pp->perm[i] != i) {
            return KILN_NOOP_NEVER;
        }
    }
    return KILN_NOOP_ALWAYS;
}

const kiln_prim kiln__prim_transpose = {
    .name = "transpose",
    .flags = KILN_PRIM_VIEW,
    .nin = 1,
    .params_size = sizeof(kiln_perm_params),
    .infer = infer_transpose,
    .eval_cpu = eval_transpose,
    .noop = noop_transpose,
    .vjp = vjp_transpose,
    .jvp = kiln__autodiff_shape_jvp_linear,
    .vmap = vmap_transpose,
};

/* ------------------------------------------------------------------ */
/* expand_dims and squeeze                                            */
/* ------------------------------------------------------------------ */

/*
 * expand_dims: y = x with size-1 axes inserted where params.axes marks an
 * output axis. Shape rule: out ndim = params.ndim = in ndim + number of
 * marks. dtypes: any. Always a view. Derivative: squeeze of the same axes.
 */
static kiln_status infer_expand_dims(const kiln_prim *p, const void *params,
                                     const kiln_meta *in, int nin,
                                     kiln_meta *out, int *nout)
{
    const kiln_axes_params *ap = params;
    int j = 0, nmarks = 0;
    (void)nin;
    for (int i = 0; i < ap->ndim; i++) {
        nmarks += ap->axes[i];
    }
    if (ap->ndim < 0 || ap->ndim > KILN_MAX_NDIM ||
        ap->ndim - nmarks != in[0].ndim) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] %d new axes do not make ndim %d from ndim %d",
                         p->name, nmarks, ap->ndim, in[0].ndim);
    }
    for (int i = 0; i < ap->ndim; i++) {
        out[0].shape[i] = ap->axes[i] ? 1 : in[0].shape[j++];
    }
    out[0].dtype = in[0].dtype;
    out[0].ndim = ap->ndim;
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_expand_dims(const kiln_node *n,
                                    kiln_array *const *in,
                                    kiln_array *const *out)
{
    const kiln_axes_params *ap = n->params;
    int64_t st[KILN_MAX_NDIM];
    int j = 0;
    for (int i = 0; i < ap->ndim; i++) {
        /* any stride reads a size-1 axis; 0 keeps the iterator's merge
         * test simple */
        st[i] = ap->axes[i] ? 0 : in[0]->strides[j++];
    }
    kiln__array_set_view(out[0], in[0], in[0]->offset, st);
    return KILN_OK;
}

const kiln_prim kiln__prim_expand_dims = {
    .name = "expand_dims",
    .flags = KILN_PRIM_VIEW,
    .nin = 1,
    .params_size = sizeof(kiln_axes_params),
    .infer = infer_expand_dims,
    .eval_cpu = eval_expand_dims,
    .vjp = vjp_reshape,
    .jvp = kiln__autodiff_shape_jvp_linear,
    .vmap = vmap_axes,
};

/*
 * squeeze: y = x without the input axes params.axes marks, each of which
 * must have size 1. Shape rule: in shape minus those axes. dtypes: any.
 * Always a view. Derivative: expand_dims of the same axes.
 */
static kiln_status infer_squeeze(const kiln_prim *p, const void *params,
                                 const kiln_meta *in, int nin, kiln_meta *out,
                                 int *nout)
{
    const kiln_axes_params *ap = params;
    int j = 0;
    (void)nin;
    if (ap->ndim != in[0].ndim) {
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] axes given for ndim %d, array has ndim %d",
                         p->name, ap->ndim, in[0].ndim);
    }
    for (int i = 0; i < ap->ndim; i++) {
        if (!ap->axes[i]) {
            out[0].shape[j++] = in[0].shape[i];
        } else if (in[0].shape[i] != 1) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] cannot squeeze axis %d of size %lld",
                             p->name, i, (long long)in[0].shape[i]);
        }
    }
    out[0].dtype = in[0].dtype;
    out[0].ndim = j;
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_squeeze(const kiln_node *n, kiln_array *const *in,
                                kiln_array *const *out)
{
    const kiln_axes_params *ap = n->params;
    int64_t st[KILN_MAX_NDIM];
    int j = 0;
    for (int i = 0; i < ap->ndim; i++) {
        if (!ap->axes[i]) {
            st[j++] = in[0]->strides[i];
        }
    }
    kiln__array_set_view(out[0], in[0], in[0]->offset, st);
    return KILN_OK;
}

const kiln_prim kiln__prim_squeeze = {
    .name = "squeeze",
    .flags = KILN_PRIM_VIEW,
    .nin = 1,
    .params_size = sizeof(kiln_axes_params),
    .infer = infer_squeeze,
    .eval_cpu = eval_squeeze,
    .vjp = vjp_reshape,
    .jvp = kiln__autodiff_shape_jvp_linear,
    .vmap = vmap_axes,
};

/* ------------------------------------------------------------------ */
/* slice                                                              */
/* ------------------------------------------------------------------ */

/*
 * slice: y = x[start_0:stop_0:step_0, ...] with Python's meaning per axis
 * (negative bounds wrap once, out-of-range bounds clamp, negative steps walk
 * backwards, KILN_SLICE_BEGIN/END are omitted bounds). Shape rule: the
 * number of indices each axis selects. dtypes: any. Always a view (offset
 * plus scaled strides). Derivative: the cotangent scattered into zeros
 * (slice_update).
 */
static kiln_status infer_slice(const kiln_prim *p, const void *params,
                               const kiln_meta *in, int nin, kiln_meta *out,
                               int *nout)
{
    const kiln_slice_params *sp = params;
    int64_t first;
    (void)nin;
    if (check_slice(p, sp, &in[0]) != KILN_OK) {
        return kiln_errcode();
    }
    for (int i = 0; i < in[0].ndim; i++) {
        kiln__movement_slice_axis(in[0].shape[i], sp->start[i], sp->stop[i],
                                  sp->step[i], &first, &out[0].shape[i]);
    }
    out[0].dtype = in[0].dtype;
    out[0].ndim = in[0].ndim;
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_slice(const kiln_node *n, kiln_array *const *in,
                              kiln_array *const *out)
{
    int64_t st[KILN_MAX_NDIM];
    int64_t off = kiln__movement_slice_region(n->params, in[0]->ndim,
                                              in[0]->shape, in[0]->strides,
                                              in[0]->offset, st);
    kiln__array_set_view(out[0], in[0], out[0]->size ? off : in[0]->offset,
                         st);
    return KILN_OK;
}

/* A slice taking all of its input in order at this shape (a replay on
 * another shape may cut it). */
static int noop_slice(const void *params, const kiln_meta *in,
                      const kiln_meta *out)
{
    const kiln_slice_params *sp = params;
    for (int i = 0; i < in->ndim; i++) {
        int64_t first, count;
        kiln__movement_slice_axis(in->shape[i], sp->start[i], sp->stop[i],
                                  sp->step[i], &first, &count);
        if (first != 0 || count != in->shape[i] ||
            (sp->step[i] != 1 && count > 1)) {
            return KILN_NOOP_NEVER;
        }
    }
    (void)out;
    return KILN_NOOP_THIS_SHAPE;
}

const kiln_prim kiln__prim_slice = {
    .name = "slice",
    .flags = KILN_PRIM_VIEW,
    .nin = 1,
    .params_size = sizeof(kiln_slice_params),
    .infer = infer_slice,
    .eval_cpu = eval_slice,
    .noop = noop_slice,
    .vjp = vjp_slice,
    .jvp = kiln__autodiff_shape_jvp_linear,
    .vmap = vmap_slice,
};

/* ------------------------------------------------------------------ */
/* broadcast_to                                                       */
/* ------------------------------------------------------------------ */

/*
 * broadcast_to: y = x read with numpy broadcasting at shape `shape`.
 * Shape rule: shape has at least x's ndim; each trailing dim of x equals
 * the target's or is 1. dtypes: any. Always a view (zero strides on
 * broadcast axes). Derivative: sum of the cotangent over the broadcast
 * axes.
 */
static kiln_status infer_broadcast_to(const kiln_prim *p, const void *params,
                                      const kiln_meta *in, int nin,
                                      kiln_meta *out, int *nout)
{
    const kiln_shape_params *sp = params;
    int64_t size;
    int lead = sp->ndim - in[0].ndim;
    (void)nin;
    if (kiln__shape_size(sp->shape, sp->ndim, kiln_dtype_size(in[0].dtype),
                         &size, p->name)) {
        return kiln_errcode();
    }
    for (int i = 0; i < in[0].ndim && lead >= 0; i++) {
        if (in[0].shape[i] != 1 && in[0].shape[i] != sp->shape[lead + i]) {
            lead = -1;
        }
    }
    if (lead < 0) {
        char a[256], b[256];
        return kiln__err(KILN_ERR_VALUE,
                         "[%s] cannot broadcast shape %s to %s", p->name,
                         kiln__shape_str(in[0].shape, in[0].ndim, a,
                                         sizeof a),
                         kiln__shape_str(sp->shape, sp->ndim, b, sizeof b));
    }
    out[0].dtype = in[0].dtype;
    out[0].ndim = sp->ndim;
    memcpy(out[0].shape, sp->shape, sizeof sp->shape);
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_broadcast_to(const kiln_node *n,
                                     kiln_array *const *in,
                                     kiln_array *const *out)
{
    int64_t st[KILN_MAX_NDIM];
    (void)n;
    kiln__shape_bcast_strides(in[0]->shape, in[0]->strides, in[0]->ndim,
                              out[0]->ndim, out[0]->shape, st);
    kiln__array_set_view(out[0], in[0], in[0]->offset, st);
    return KILN_OK;
}

/* In a fused region broadcasting is implicit (operands are read with
 * zero strides on broadcast dims), so broadcast_to is the identity. */
static const kiln_emit emit_broadcast_to = {
    .expr = "$0", .vexpr = "$0", .chunk = kiln__cpu_chunk_copy};

const kiln_prim kiln__prim_broadcast_to = {
    .name = "broadcast_to",
    /* params hold the absolute target shape */
    .flags = KILN_PRIM_ELEMENTWISE | KILN_PRIM_VIEW | KILN_PRIM_NO_SHAPELESS,
    .nin = 1,
    .params_size = sizeof(kiln_shape_params),
    .infer = infer_broadcast_to,
    .eval_cpu = eval_broadcast_to,
    .noop = noop_same_shape,
    .emit = &emit_broadcast_to,
    .vjp = vjp_broadcast_to,
    .jvp = kiln__autodiff_shape_jvp_linear,
    .vmap = vmap_broadcast_to,
};

/* broadcast_like(a, b): a's values broadcast to the broadcast shape of a
 * and b (numpy rules); b's values are never read, only its shape. The
 * shape-free way to say "g spread back over x" in gradients: unlike
 * broadcast_to it bakes no shape, so a shapeless replay recomputes it.
 * dtype: a's. A view, and the identity inside a fused region. */
static kiln_status infer_broadcast_like(const kiln_prim *p,
                                        const void *params,
                                        const kiln_meta *in, int nin,
                                        kiln_meta *out, int *nout)
{
    int nd;
    (void)params;
    (void)nin;
    if (kiln__shape_broadcast(in[0].shape, in[0].ndim, in[1].shape,
                              in[1].ndim, out[0].shape, &nd, p->name)) {
        return kiln_errcode();
    }
    out[0].ndim = nd;
    out[0].dtype = in[0].dtype;
    *nout = 1;
    return KILN_OK;
}

static kiln_status eval_broadcast_like(const kiln_node *n,
                                       kiln_array *const *in,
                                       kiln_array *const *out)
{
    return eval_broadcast_to(n, in, out);
}

/* vjp: a's cotangent is g summed back to a's shape; b gets none. jvp:
 * a's tangent broadcast like the output. */
static kiln_status vjp_broadcast_like(const kiln_prim *p, const void *params,
                                      kiln_array *const *in, int nin,
                                      kiln_array *const *out, int nout,
                                      kiln_array *const *cot_out,
                                      const bool *need, kiln_array **cot_in)
{
    kiln_status st = vjp_broadcast_to(p, params, in, nin, out, nout, cot_out,
                                      need, cot_in);
    cot_in[1] = NULL;
    return st;
}

static kiln_status jvp_broadcast_like(const kiln_prim *p, const void *params,
                                      kiln_array *const *in, int nin,
                                      kiln_array *const *out, int nout,
                                      kiln_array *const *tan_in,
                                      kiln_array **tan_out)
{
    kiln_array *args[2] = {tan_in[0], in[1]};
    (void)nin;
    (void)out;
    (void)nout;
    tan_out[0] = NULL;
    if (!tan_in[0]) {
        return KILN_OK;
    }
    tan_out[0] = kiln__autodiff_shape_apply(p, params, args, 2);
    return tan_out[0] ? KILN_OK : kiln_errcode();
}

const kiln_prim kiln__prim_broadcast_like = {
    .name = "broadcast_like",
    .flags = KILN_PRIM_ELEMENTWISE | KILN_PRIM_VIEW,
    .nin = 2,
    .infer = infer_broadcast_like,
    .eval_cpu = eval_broadcast_like,
    .vjp = vjp_broadcast_like,
    .jvp = jvp_broadcast_like,
    .vmap = kiln__autodiff_vmap_elementwise,
    .emit = &emit_broadcast_to,
};
