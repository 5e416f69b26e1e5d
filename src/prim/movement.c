/*
 * movement.c - primitives that move values without computing on them:
 * views (reshape, transpose, expand_dims, squeeze, slice, broadcast_to)
 * and copies (slice_update, concatenate, pad).
 *
 * A view's eval_cpu gives its output the input's buffer with a new offset
 * and strides (kiln__array_set_view): no element is touched, whatever the
 * input's own strides (views of views compose). reshape is a view when the
 * input's strides allow one (numpy's no-copy rule) and copies otherwise.
 * Copies walk strided regions through the shared iterator
 * (backend/cpu/copy_cpu.c). Params are in movement.h; every infer resolves
 * them against the actual input shapes, so a node can be replayed on new
 * shapes wherever its params still make sense.
 *
 * Invariants: outputs of the copy primitives are fresh contiguous buffers
 * (or, for slice_update, its donated input); inputs of concatenate and
 * slice_update already share the output dtype (the ops layer casts), and
 * slice_update's update already has the slice's shape (the ops layer
 * broadcasts it).
 */
#include "movement.h"

#include <string.h>

#include "../backend/cpu/copy_cpu.h"
#include "../backend/cpu/elementwise_cpu.h"
#include "../core/array.h"
#include "../core/error.h"
#include "../core/shape.h"
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

/* Validates slice params against an input of ndim dims (steps are not 0,
 * ndim matches). */
static kiln_status check_slice(const kiln_prim *p, const kiln_slice_params *sp,
                               int ndim)
{
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
    }
    return KILN_OK;
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
    int64_t size;
    (void)nin;
    if (kiln__shape_size(in[0].shape, in[0].ndim, 0, &size, p->name) ||
        kiln__movement_resolve_shape(p->name, size, sp->shape, sp->ndim,
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
    if (check_slice(p, sp, in[0].ndim) != KILN_OK) {
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

/* The offset and strides (elements) of the region sp selects in an array
 * of shape/strides/offset. */
static int64_t slice_region(const kiln_slice_params *sp, int ndim,
                            const int64_t *shape, const int64_t *strides,
                            int64_t offset, int64_t *st)
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

static kiln_status eval_slice(const kiln_node *n, kiln_array *const *in,
                              kiln_array *const *out)
{
    int64_t st[KILN_MAX_NDIM];
    int64_t off = slice_region(n->params, in[0]->ndim, in[0]->shape,
                               in[0]->strides, in[0]->offset, st);
    kiln__array_set_view(out[0], in[0], out[0]->size ? off : in[0]->offset,
                         st);
    return KILN_OK;
}

const kiln_prim kiln__prim_slice = {
    .name = "slice",
    .flags = KILN_PRIM_VIEW,
    .nin = 1,
    .params_size = sizeof(kiln_slice_params),
    .infer = infer_slice,
    .eval_cpu = eval_slice,
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
static const kiln_emit emit_broadcast_to = {.expr = "$0",
                                            .chunk = kiln__cpu_chunk_copy};

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
};

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
    if (infer_slice(p, params, in, nin, &region, &one) != KILN_OK) {
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
    int64_t off = slice_region(n->params, y->ndim, y->shape, y->strides,
                               y->offset, st);
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
};
