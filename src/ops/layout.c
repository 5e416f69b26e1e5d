/*
 * layout.c - the public movement ops: reshape and its relatives, axis
 * permutations, broadcasting, slicing, joining, splitting, padding and
 * repetition.
 *
 * Each op validates its arguments under its own name (bad axes are
 * IndexErrors, everything else about shapes a ValueError), then builds nodes
 * of the movement primitives (prim/movement.c, movement_copy.c). Composite
 * ops are written from those primitives: stack = expand_dims + concatenate,
 * split = slices, tile and repeat = reshape + broadcast_to + reshape (the
 * final reshape of a broadcast view is where the copy happens). An op that
 * would not change its input returns a new reference to the input itself.
 *
 * Internal helpers return references not handed to any scope; the public
 * functions end with kiln__ret.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/movement.h"
#include "ops.h"

/* ------------------------------------------------------------------ */
/* internal builders                                                  */
/* ------------------------------------------------------------------ */

static kiln_array *node1(const kiln_prim *p, const void *params,
                         kiln_array *x, const char *fn)
{
    return kiln__node_make1(p, params, &x, 1, fn);
}

/* x reshaped to `shape`, its resolved form (no -1), or x itself when it
 * already has that shape. The node stores `raw` (the user's target, which
 * may hold a -1) so that a replay on new shapes resolves it again. */
static kiln_array *reshape_raw(kiln_array *x, const int64_t *shape,
                               const int64_t *raw, int ndim, const char *fn)
{
    kiln_shape_params sp;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_equal(x->shape, x->ndim, shape, ndim)) {
        return kiln_array_retain(x);
    }
    memset(&sp, 0, sizeof sp);
    sp.ndim = ndim;
    if (ndim > 0) {
        memcpy(sp.shape, raw, sizeof *raw * (size_t)ndim);
    }
    return node1(&kiln__prim_reshape, &sp, x, fn);
}

/* x with shape `shape` (no -1), or x itself when it already has it. */
static kiln_array *reshape_to(kiln_array *x, const int64_t *shape, int ndim,
                              const char *fn)
{
    return reshape_raw(x, shape, shape, ndim, fn);
}

/* transpose by a valid, normalised permutation. */
static kiln_array *permute(kiln_array *x, const int *perm, const char *fn)
{
    kiln_perm_params pp;
    bool identity = true;
    memset(&pp, 0, sizeof pp);
    pp.ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        pp.perm[i] = perm[i];
        identity &= perm[i] == i;
    }
    if (identity) {
        return kiln_array_retain(x);
    }
    return node1(&kiln__prim_transpose, &pp, x, fn);
}

/* x with a size-1 axis inserted at (normalised) position ax. */
static kiln_array *insert_axis(kiln_array *x, int ax, const char *fn)
{
    kiln_axes_params ap;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    memset(&ap, 0, sizeof ap);
    ap.ndim = x->ndim + 1;
    ap.axes[ax] = true;
    return node1(&kiln__prim_expand_dims, &ap, x, fn);
}

kiln_array *kiln__op_broadcast(kiln_array *x, const int64_t *shape, int ndim,
                               const char *fn)
{
    kiln_shape_params sp;
    int64_t size;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_size(shape, ndim, kiln_dtype_size(x->dtype), &size,
                         fn) != KILN_OK) {
        return NULL;
    }
    int lead = ndim - x->ndim;
    for (int i = 0; i < x->ndim && lead >= 0; i++) {
        if (x->shape[i] != 1 && x->shape[i] != shape[lead + i]) {
            lead = -1;
        }
    }
    if (lead < 0) {
        char a[256], b[256];
        kiln__err(KILN_ERR_VALUE, "[%s] cannot broadcast shape %s to %s", fn,
                  kiln__shape_str(x->shape, x->ndim, a, sizeof a),
                  kiln__shape_str(shape, ndim, b, sizeof b));
        return NULL;
    }
    if (kiln__shape_equal(x->shape, x->ndim, shape, ndim)) {
        return kiln_array_retain(x);
    }
    memset(&sp, 0, sizeof sp);
    sp.ndim = ndim;
    memcpy(sp.shape, shape, sizeof *shape * (size_t)ndim);
    return node1(&kiln__prim_broadcast_to, &sp, x, fn);
}

/* Fills slice params (steps NULL meaning 1) after checking them. */
static kiln_status slice_params(const kiln_array *x, const int64_t *start,
                                const int64_t *stop, const int64_t *step,
                                kiln_slice_params *sp, const char *fn)
{
    memset(sp, 0, sizeof *sp);
    sp->ndim = x->ndim;
    if (x->ndim > 0 && (!start || !stop)) {
        return kiln__err_null(fn);
    }
    for (int i = 0; i < x->ndim; i++) {
        sp->start[i] = start[i];
        sp->stop[i] = stop[i];
        sp->step[i] = step ? step[i] : 1;
        if (sp->step[i] == 0) {
            return kiln__err(KILN_ERR_VALUE,
                             "[%s] slice step cannot be zero (axis %d)", fn,
                             i);
        }
    }
    return KILN_OK;
}

/* The region sp selects in x: its shape, and whether it is all of x in
 * order at every length of x's axes (omitted or zero start, omitted stop,
 * step 1), so that no node is needed even for a shapeless replay. Bounds
 * that take all of x only at this shape make a node, which compile's
 * simplify drops unless shapeless (slice's noop facet). */
static bool slice_shape(const kiln_array *x, const kiln_slice_params *sp,
                        int64_t *shape)
{
    bool whole = true;
    for (int i = 0; i < x->ndim; i++) {
        int64_t first;
        kiln__movement_slice_axis(x->shape[i], sp->start[i], sp->stop[i],
                                  sp->step[i], &first, &shape[i]);
        whole &= (sp->start[i] == KILN_SLICE_BEGIN || sp->start[i] == 0) &&
                 sp->stop[i] == KILN_SLICE_END && sp->step[i] == 1;
    }
    return whole;
}

/* x[start:stop:step]; the axes in `fixed` have bounds computed from
 * their length (kiln_slice_params). */
static kiln_array *slice_op(kiln_array *x, const int64_t *start,
                            const int64_t *stop, const int64_t *step,
                            uint32_t fixed, const char *fn)
{
    kiln_slice_params sp;
    int64_t shape[KILN_MAX_NDIM];
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (slice_params(x, start, stop, step, &sp, fn) != KILN_OK) {
        return NULL;
    }
    for (int i = 0; i < x->ndim; i++) {
        if (fixed >> i & 1u) {
            sp.fixed |= 1u << i;
            sp.len[i] = x->shape[i];
        }
    }
    if (slice_shape(x, &sp, shape) && !sp.fixed) {
        return kiln_array_retain(x);
    }
    return node1(&kiln__prim_slice, &sp, x, fn);
}

/* x[lo:hi] along axis ax (Python bounds), the other axes whole; bounds
 * computed from the axis length when `fixed`. */
static kiln_array *slice_axis(kiln_array *x, int ax, int64_t lo, int64_t hi,
                              bool fixed, const char *fn)
{
    int64_t start[KILN_MAX_NDIM], stop[KILN_MAX_NDIM];
    for (int i = 0; i < x->ndim; i++) {
        start[i] = KILN_SLICE_BEGIN;
        stop[i] = KILN_SLICE_END;
    }
    start[ax] = lo;
    stop[ax] = hi;
    return slice_op(x, start, stop, NULL, fixed ? 1u << ax : 0, fn);
}

/* A list of arrays to join (concatenate, stack): at least one, none
 * NULL; false (error recorded) otherwise. */
static bool check_list(kiln_array *const *xs, int n, const char *fn)
{
    if (n <= 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] needs at least one array", fn);
        return false;
    }
    if (!xs) {
        kiln__err_null(fn);
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            kiln__err_null(fn);
            return false;
        }
    }
    return true;
}

#define NLOCAL 8

/* Room for n array pointers: `local` (NLOCAL entries) when they fit, else
 * zeroed heap memory; NULL (error recorded) when out of memory. */
static kiln_array **list_room(kiln_array **local, int n, const char *fn)
{
    kiln_array **xs = n <= NLOCAL ? local : calloc((size_t)n, sizeof *xs);
    if (!xs) {
        kiln__err_oom(fn, sizeof *xs * (size_t)n);
    }
    return xs;
}

/* Releases the first n entries of a list from list_room, and the list. */
static void list_free(kiln_array **xs, int n, kiln_array **local)
{
    kiln__release_all(xs, n);
    if (xs != local) {
        free(xs);
    }
}

static kiln_array *concat_op(kiln_array *const *xs, int n, int axis,
                             const char *fn)
{
    kiln_axis_params ap;
    kiln_array *local[NLOCAL];
    kiln_array *y = NULL;
    int ax;
    if (!check_list(xs, n, fn)) {
        return NULL;
    }
    if (xs[0]->ndim == 0) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] zero-dimensional arrays cannot be concatenated", fn);
        return NULL;
    }
    if (kiln__shape_axis(axis, xs[0]->ndim, &ax, fn) != KILN_OK) {
        return NULL;
    }
    kiln_dtype dt = xs[0]->dtype;
    for (int i = 1; i < n; i++) {
        dt = kiln_promote_types(dt, xs[i]->dtype);
    }
    kiln_array **cast = list_room(local, n, fn);
    if (!cast) {
        return NULL;
    }
    int ok = 0;
    for (; ok < n; ok++) {
        cast[ok] = kiln__op_astype(xs[ok], dt, fn);
        if (!cast[ok]) {
            goto release_cast;
        }
    }
    memset(&ap, 0, sizeof ap);
    ap.axis = ax;
    if (n == 1) {
        /* still checks the axis above; one array joins to itself */
        y = kiln_array_retain(cast[0]);
    } else {
        kiln_array *outs[KILN_MAX_OUTPUTS];
        int no = 0;
        if (kiln__node_make(&kiln__prim_concatenate, &ap, cast, n, outs, &no,
                            fn) == KILN_OK) {
            y = outs[0];
        }
    }
release_cast:
    list_free(cast, ok, local);
    return y;
}

/* ------------------------------------------------------------------ */
/* reshape family                                                     */
/* ------------------------------------------------------------------ */

kiln_array *kiln_reshape(kiln_array *x, const int64_t *shape, int ndim)
{
    const char *fn = "reshape";
    int64_t out[KILN_MAX_NDIM];
    if (!x || (ndim > 0 && !shape)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__movement_resolve_shape(fn, x->size, shape, ndim, out)) {
        return NULL;
    }
    return kiln__ret(reshape_raw(x, out, shape, ndim, fn));
}

kiln_array *kiln_flatten(kiln_array *x, int start_axis, int end_axis)
{
    const char *fn = "flatten";
    int64_t shape[KILN_MAX_NDIM];
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    int nd = x->ndim;
    if (nd == 0) {
        int64_t one = 1;
        return kiln__ret(reshape_to(x, &one, 1, fn));
    }
    /* as in MLX: normalise, then clamp to the array's axes */
    int s = start_axis < 0 ? start_axis + nd : start_axis;
    int e = end_axis < 0 ? end_axis + nd : end_axis;
    s = s < 0 ? 0 : s;
    e = e > nd - 1 ? nd - 1 : e;
    if (s >= nd || e < 0) {
        kiln__err(KILN_ERR_INDEX,
                  "[%s] axes (%d, %d) are out of bounds for array of ndim "
                  "%d",
                  fn, start_axis, end_axis, nd);
        return NULL;
    }
    if (e < s) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] start_axis %d must not come after end_axis %d", fn,
                  start_axis, end_axis);
        return NULL;
    }
    /* the node keeps the other axes as "input axis i" and the merged one
     * as -1, so a shapeless replay flattens new sizes too; an empty array
     * cannot infer a -1 and gets its explicit shape */
    int64_t raw[KILN_MAX_NDIM];
    int k = 0;
    for (int i = 0; i < s; i++) {
        raw[k] = KILN__SHAPE_AXIS(i);
        shape[k++] = x->shape[i];
    }
    int64_t m = 1;
    for (int i = s; i <= e; i++) {
        m *= x->shape[i]; /* cannot overflow: bounded by x's size */
    }
    raw[k] = -1;
    shape[k++] = m;
    for (int i = e + 1; i < nd; i++) {
        raw[k] = KILN__SHAPE_AXIS(i);
        shape[k++] = x->shape[i];
    }
    return kiln__ret(reshape_raw(x, shape, x->size == 0 ? shape : raw, k,
                                 fn));
}

kiln_array *kiln_unflatten(kiln_array *x, int axis, const int64_t *shape,
                           int ndim)
{
    const char *fn = "unflatten";
    int64_t part[KILN_MAX_NDIM], out[KILN_MAX_NDIM];
    int ax;
    if (!x || (ndim > 0 && !shape)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_axis(axis, x->ndim, &ax, fn) != KILN_OK) {
        return NULL;
    }
    if (ndim <= 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] the shape to unflatten to is empty",
                  fn);
        return NULL;
    }
    if (x->ndim - 1 + ndim > KILN_MAX_NDIM) {
        kiln__err(KILN_ERR_VALUE, "[%s] result would have %d > %d dims", fn,
                  x->ndim - 1 + ndim, KILN_MAX_NDIM);
        return NULL;
    }
    if (kiln__movement_resolve_shape(fn, x->shape[ax], shape, ndim, part)) {
        return NULL;
    }
    int k = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == ax) {
            for (int j = 0; j < ndim; j++) {
                out[k++] = part[j];
            }
        } else {
            out[k++] = x->shape[i];
        }
    }
    return kiln__ret(reshape_to(x, out, k, fn));
}

/* ------------------------------------------------------------------ */
/* axis permutations                                                  */
/* ------------------------------------------------------------------ */

kiln_array *kiln_transpose(kiln_array *x, const int *perm, int nperm)
{
    const char *fn = "transpose";
    int p[KILN_MAX_NDIM];
    bool seen[KILN_MAX_NDIM] = {false};
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!perm) {
        for (int i = 0; i < x->ndim; i++) {
            p[i] = x->ndim - 1 - i;
        }
        return kiln__ret(permute(x, p, fn));
    }
    if (nperm != x->ndim) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] permutation of %d axes for an array of ndim %d", fn,
                  nperm, x->ndim);
        return NULL;
    }
    for (int i = 0; i < nperm; i++) {
        if (kiln__shape_axis(perm[i], x->ndim, &p[i], fn) != KILN_OK) {
            return NULL;
        }
        if (seen[p[i]]) {
            kiln__err(KILN_ERR_VALUE, "[%s] repeated axis %d in permutation",
                      fn, perm[i]);
            return NULL;
        }
        seen[p[i]] = true;
    }
    return kiln__ret(permute(x, p, fn));
}

kiln_array *kiln_swapaxes(kiln_array *x, int a, int b)
{
    const char *fn = "swapaxes";
    int p[KILN_MAX_NDIM], ia, ib;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_axis(a, x->ndim, &ia, fn) ||
        kiln__shape_axis(b, x->ndim, &ib, fn)) {
        return NULL;
    }
    for (int i = 0; i < x->ndim; i++) {
        p[i] = i;
    }
    p[ia] = ib;
    p[ib] = ia;
    return kiln__ret(permute(x, p, fn));
}

kiln_array *kiln_moveaxis(kiln_array *x, int src, int dst)
{
    const char *fn = "moveaxis";
    int p[KILN_MAX_NDIM], is, id, k = 0;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_axis(src, x->ndim, &is, fn) ||
        kiln__shape_axis(dst, x->ndim, &id, fn)) {
        return NULL;
    }
    /* the other axes in order, with src placed at position dst */
    for (int i = 0; i < x->ndim; i++) {
        if (k == id) {
            p[k++] = is;
        }
        if (i != is) {
            p[k++] = i;
        }
    }
    if (k == id) {
        p[k++] = is;
    }
    return kiln__ret(permute(x, p, fn));
}

kiln_array *kiln_expand_dims(kiln_array *x, const int *axes, int naxes)
{
    const char *fn = "expand_dims";
    kiln_axes_params ap;
    if (!x || (naxes > 0 && !axes)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (naxes < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] negative number of axes", fn);
        return NULL;
    }
    if (naxes == 0) {
        return kiln__ret(kiln_array_retain(x));
    }
    if (x->ndim + naxes > KILN_MAX_NDIM) {
        kiln__err(KILN_ERR_VALUE, "[%s] result would have %d > %d dims", fn,
                  x->ndim + naxes, KILN_MAX_NDIM);
        return NULL;
    }
    memset(&ap, 0, sizeof ap);
    ap.ndim = x->ndim + naxes;
    if (kiln__shape_axes(axes, naxes, ap.ndim, ap.axes, fn) != KILN_OK) {
        return NULL;
    }
    return kiln__ret(node1(&kiln__prim_expand_dims, &ap, x, fn));
}

kiln_array *kiln_squeeze(kiln_array *x, const int *axes, int naxes)
{
    const char *fn = "squeeze";
    kiln_axes_params ap;
    bool any = false;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    memset(&ap, 0, sizeof ap);
    ap.ndim = x->ndim;
    if (!axes) {
        for (int i = 0; i < x->ndim; i++) {
            ap.axes[i] = x->shape[i] == 1;
        }
    } else if (kiln__shape_axes(axes, naxes, x->ndim, ap.axes, fn) !=
               KILN_OK) {
        return NULL;
    }
    for (int i = 0; i < x->ndim; i++) {
        if (ap.axes[i] && x->shape[i] != 1) {
            kiln__err(KILN_ERR_VALUE,
                      "[%s] cannot squeeze axis %d of size %lld", fn, i,
                      (long long)x->shape[i]);
            return NULL;
        }
        any |= ap.axes[i];
    }
    if (!any) {
        return kiln__ret(kiln_array_retain(x));
    }
    return kiln__ret(node1(&kiln__prim_squeeze, &ap, x, fn));
}

/* ------------------------------------------------------------------ */
/* broadcasting                                                       */
/* ------------------------------------------------------------------ */

kiln_array *kiln_broadcast_to(kiln_array *x, const int64_t *shape, int ndim)
{
    return kiln__ret(kiln__op_broadcast(x, shape, ndim, "broadcast_to"));
}

kiln_list *kiln_broadcast_arrays(kiln_array *const *xs, int n)
{
    const char *fn = "broadcast_arrays";
    int64_t shape[KILN_MAX_NDIM], tmp[KILN_MAX_NDIM];
    int nd = 0;
    if (n < 0) {
        kiln__err(KILN_ERR_VALUE, "[%s] negative number of arrays", fn);
        return NULL;
    }
    if (n > 0 && !xs) {
        kiln__err_null(fn);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!xs[i]) {
            kiln__err_null(fn);
            return NULL;
        }
        if (kiln__shape_broadcast(shape, nd, xs[i]->shape, xs[i]->ndim, tmp,
                                  &nd, fn) != KILN_OK) {
            return NULL;
        }
        memcpy(shape, tmp, sizeof *tmp * (size_t)nd);
    }
    kiln_list *l = kiln_list_new();
    for (int i = 0; l && i < n; i++) {
        kiln_array *b = kiln__op_broadcast(xs[i], shape, nd, fn);
        if (!b || kiln_list_push(l, b) != KILN_OK) {
            kiln_array_release(b);
            kiln_list_free(l);
            return NULL;
        }
        kiln_array_release(b);
    }
    return l;
}

/* ------------------------------------------------------------------ */
/* slicing                                                            */
/* ------------------------------------------------------------------ */

kiln_array *kiln_slice(kiln_array *x, const int64_t *start,
                       const int64_t *stop, const int64_t *step)
{
    return kiln__ret(slice_op(x, start, stop, step, 0, "slice"));
}

kiln_array *kiln_slice_sized(kiln_array *x, const int64_t *start,
                             const int64_t *stop, const int64_t *step,
                             uint32_t sized_axes)
{
    if (x && x->ndim < 32 && (sized_axes >> x->ndim) != 0) {
        kiln__err(KILN_ERR_INDEX, "[slice_sized] axes mask 0x%x beyond the "
                  "array's %d axes", (unsigned)sized_axes, x->ndim);
        return NULL;
    }
    return kiln__ret(slice_op(x, start, stop, step, sized_axes,
                              "slice_sized"));
}

kiln_array *kiln_slice_update(kiln_array *x, kiln_array *update,
                              const int64_t *start, const int64_t *stop,
                              const int64_t *step)
{
    const char *fn = "slice_update";
    kiln_slice_params sp;
    int64_t region[KILN_MAX_NDIM];
    if (!x || !update) {
        kiln__err_null(fn);
        return NULL;
    }
    if (slice_params(x, start, stop, step, &sp, fn) != KILN_OK) {
        return NULL;
    }
    slice_shape(x, &sp, region);
    /* as MLX's item assignment: leading size-1 dims of the update beyond
     * the slice's ndim are dropped before broadcasting */
    int lead = 0;
    while (update->ndim - lead > x->ndim && update->shape[lead] == 1) {
        lead++;
    }
    kiln_array *u0 = reshape_to(update, update->shape + lead,
                                update->ndim - lead, fn);
    kiln_array *u1 = kiln__op_astype(u0, x->dtype, fn);
    kiln_array *u2 = u1 ? kiln__op_broadcast(u1, region, x->ndim, fn) : NULL;
    kiln_array *y = NULL;
    if (u2) {
        int64_t size;
        kiln__shape_size(region, x->ndim, 0, &size, fn);
        if (size == 0) {
            y = kiln_array_retain(x);
        } else {
            kiln_array *in[2] = {x, u2};
            y = kiln__node_make1(&kiln__prim_slice_update, &sp, in, 2, fn);
        }
    }
    kiln_array_release(u0);
    kiln_array_release(u1);
    kiln_array_release(u2);
    return kiln__ret(y);
}

/* ------------------------------------------------------------------ */
/* joining and splitting                                              */
/* ------------------------------------------------------------------ */

kiln_array *kiln_concatenate(kiln_array *const *xs, int n, int axis)
{
    return kiln__ret(concat_op(xs, n, axis, "concatenate"));
}

kiln_array *kiln_stack(kiln_array *const *xs, int n, int axis)
{
    const char *fn = "stack";
    kiln_array *local[NLOCAL];
    kiln_array *y = NULL;
    int ax;
    if (!check_list(xs, n, fn)) {
        return NULL;
    }
    for (int i = 1; i < n; i++) {
        if (!kiln__shape_equal(xs[i]->shape, xs[i]->ndim, xs[0]->shape,
                               xs[0]->ndim)) {
            char a[256], b[256];
            kiln__err(KILN_ERR_VALUE,
                      "[%s] all arrays must have the same shape: %s and %s",
                      fn, kiln__shape_str(xs[0]->shape, xs[0]->ndim, a,
                                          sizeof a),
                      kiln__shape_str(xs[i]->shape, xs[i]->ndim, b,
                                      sizeof b));
            return NULL;
        }
    }
    if (xs[0]->ndim + 1 > KILN_MAX_NDIM) {
        kiln__err(KILN_ERR_VALUE, "[%s] result would have %d > %d dims", fn,
                  xs[0]->ndim + 1, KILN_MAX_NDIM);
        return NULL;
    }
    if (kiln__shape_axis(axis, xs[0]->ndim + 1, &ax, fn) != KILN_OK) {
        return NULL;
    }
    kiln_array **ex = list_room(local, n, fn);
    if (!ex) {
        return NULL;
    }
    int ok = 0;
    for (; ok < n; ok++) {
        ex[ok] = insert_axis(xs[ok], ax, fn);
        if (!ex[ok]) {
            break;
        }
    }
    if (ok == n) {
        y = concat_op(ex, n, ax, fn);
    }
    list_free(ex, ok, local);
    return kiln__ret(y);
}

kiln_list *kiln_split(kiln_array *x, int nsections, const int64_t *indices,
                      int nindices, int axis)
{
    const char *fn = "split";
    int ax;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (kiln__shape_axis(axis, x->ndim, &ax, fn) != KILN_OK) {
        return NULL;
    }
    int64_t len = x->shape[ax];
    int nparts;
    if (!indices) {
        if (nsections <= 0) {
            kiln__err(KILN_ERR_VALUE,
                      "[%s] number of sections must be positive, got %d", fn,
                      nsections);
            return NULL;
        }
        if (len % nsections != 0) {
            kiln__err(KILN_ERR_VALUE,
                      "[%s] array of size %lld along axis %d cannot be split "
                      "into %d equal parts",
                      fn, (long long)len, axis, nsections);
            return NULL;
        }
        nparts = nsections;
    } else {
        if (nindices < 0) {
            kiln__err(KILN_ERR_VALUE, "[%s] negative number of indices", fn);
            return NULL;
        }
        nparts = nindices + 1;
    }
    kiln_list *l = kiln_list_new();
    int64_t lo = 0;
    for (int i = 0; l && i < nparts; i++) {
        int64_t hi;
        if (!indices) {
            hi = len / nsections * (i + 1);
        } else {
            hi = i < nindices ? indices[i] : KILN_SLICE_END;
        }
        /* sections cut at multiples of len / nsections */
        kiln_array *part = slice_axis(x, ax, lo, hi, !indices, fn);
        if (!part || kiln_list_push(l, part) != KILN_OK) {
            kiln_array_release(part);
            kiln_list_free(l);
            return NULL;
        }
        kiln_array_release(part);
        lo = hi;
    }
    return l;
}

/* ------------------------------------------------------------------ */
/* padding and repetition                                             */
/* ------------------------------------------------------------------ */

kiln_array *kiln_pad(kiln_array *x, const int64_t *pad_width, double value)
{
    const char *fn = "pad";
    kiln_pad_params pp;
    bool any = false;
    if (!x || (x->ndim > 0 && !pad_width)) {
        kiln__err_null(fn);
        return NULL;
    }
    memset(&pp, 0, sizeof pp);
    pp.ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) {
        pp.lo[i] = pad_width[2 * i];
        pp.hi[i] = pad_width[2 * i + 1];
        if (pp.lo[i] < 0 || pp.hi[i] < 0) {
            kiln__err(KILN_ERR_VALUE,
                      "[%s] pad widths must be non-negative, got (%lld, "
                      "%lld) for axis %d",
                      fn, (long long)pp.lo[i], (long long)pp.hi[i], i);
            return NULL;
        }
        any |= pp.lo[i] > 0 || pp.hi[i] > 0;
    }
    if (!any) {
        return kiln__ret(kiln_array_retain(x));
    }
    kiln_array *in[2] = {x, kiln__scalar(value, x->dtype, false)};
    kiln_array *y =
        in[1] ? kiln__node_make1(&kiln__prim_pad, &pp, in, 2, fn) : NULL;
    kiln_array_release(in[1]);
    return kiln__ret(y);
}

/* reshape(x, e) -> broadcast_to(b) -> reshape(out): the repetition of
 * tile and repeat, whose last reshape copies. */
static kiln_array *spread(kiln_array *x, const int64_t *e, const int64_t *b,
                          int nd, const int64_t *out, int nout,
                          const char *fn)
{
    kiln_array *t1 = reshape_to(x, e, nd, fn);
    kiln_array *t2 = t1 ? kiln__op_broadcast(t1, b, nd, fn) : NULL;
    kiln_array *y = t2 ? reshape_to(t2, out, nout, fn) : NULL;
    kiln_array_release(t1);
    kiln_array_release(t2);
    return y;
}

static int64_t prod(const int64_t *shape, int lo, int hi)
{
    int64_t p = 1;
    for (int i = lo; i < hi; i++) {
        p *= shape[i];
    }
    return p;
}

kiln_array *kiln_tile(kiln_array *x, const int64_t *reps, int nreps)
{
    const char *fn = "tile";
    int64_t xs[KILN_MAX_NDIM], rs[KILN_MAX_NDIM], out[KILN_MAX_NDIM];
    int64_t size;
    if (!x || (nreps > 0 && !reps)) {
        kiln__err_null(fn);
        return NULL;
    }
    if (nreps < 0 || nreps > KILN_MAX_NDIM) {
        kiln__err(KILN_ERR_VALUE, "[%s] %d repetitions is out of range", fn,
                  nreps);
        return NULL;
    }
    /* numpy: the shorter of x's shape and reps is padded with leading 1s */
    int d = x->ndim > nreps ? x->ndim : nreps;
    int nrep = 0;
    for (int i = 0; i < d; i++) {
        int xi = i - (d - x->ndim), ri = i - (d - nreps);
        xs[i] = xi >= 0 ? x->shape[xi] : 1;
        rs[i] = ri >= 0 ? reps[ri] : 1;
        if (rs[i] < 0) {
            kiln__err(KILN_ERR_VALUE,
                      "[%s] repetitions must be non-negative, got %lld", fn,
                      (long long)rs[i]);
            return NULL;
        }
        nrep += rs[i] != 1;
    }
    for (int i = 0; i < d; i++) {
        if (rs[i] > 0 && xs[i] > INT64_MAX / rs[i]) {
            kiln__err(KILN_ERR_VALUE, "[%s] result is too large", fn);
            return NULL;
        }
        out[i] = xs[i] * rs[i];
    }
    if (kiln__shape_size(out, d, kiln_dtype_size(x->dtype), &size, fn)) {
        return NULL;
    }
    if (nrep == 0) {
        return kiln__ret(reshape_to(x, out, d, fn));
    }
    if (d + nrep <= KILN_MAX_NDIM) {
        /* one pass: a size-1 axis before each repeated axis, broadcast */
        int64_t e[KILN_MAX_NDIM], b[KILN_MAX_NDIM];
        int k = 0;
        for (int i = 0; i < d; i++) {
            if (rs[i] != 1) {
                e[k] = 1;
                b[k++] = rs[i];
            }
            e[k] = xs[i];
            b[k++] = xs[i];
        }
        return kiln__ret(spread(x, e, b, k, out, d, fn));
    }
    /* too many dims for one pass: one axis at a time, as (A, 1, B) ->
     * (A, r, B) with A the dims before the axis and B the rest */
    kiln_array *cur = reshape_to(x, xs, d, fn);
    for (int i = 0; cur && i < d; i++) {
        if (rs[i] == 1) {
            continue;
        }
        int64_t e[3] = {prod(cur->shape, 0, i), 1, prod(cur->shape, i, d)};
        int64_t b[3] = {e[0], rs[i], e[2]};
        int64_t next[KILN_MAX_NDIM];
        memcpy(next, cur->shape, sizeof *next * (size_t)d);
        next[i] = out[i];
        kiln_array *t = spread(cur, e, b, 3, next, d, fn);
        kiln_array_release(cur);
        cur = t;
    }
    return kiln__ret(cur);
}

kiln_array *kiln_repeat(kiln_array *x, int64_t repeats, int axis, bool flat)
{
    const char *fn = "repeat";
    int64_t e[KILN_MAX_NDIM], b[KILN_MAX_NDIM], out[KILN_MAX_NDIM];
    int64_t size;
    int ax;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (repeats < 0) {
        kiln__err(KILN_ERR_VALUE,
                  "[%s] number of repeats must be non-negative, got %lld", fn,
                  (long long)repeats);
        return NULL;
    }
    kiln_array *src = flat ? reshape_to(x, &x->size, 1, fn)
                           : kiln_array_retain(x);
    if (!src) {
        return NULL;
    }
    kiln_array *y = NULL;
    int nd = src->ndim;
    if (kiln__shape_axis(flat ? 0 : axis, nd, &ax, fn) != KILN_OK) {
        goto release_src;
    }
    if (repeats > 0 && src->shape[ax] > INT64_MAX / repeats) {
        kiln__err(KILN_ERR_VALUE, "[%s] result is too large", fn);
        goto release_src;
    }
    memcpy(out, src->shape, sizeof *out * (size_t)nd);
    out[ax] = src->shape[ax] * repeats;
    if (kiln__shape_size(out, nd, kiln_dtype_size(src->dtype), &size, fn)) {
        goto release_src;
    }
    if (repeats == 1) {
        y = kiln_array_retain(src);
    } else if (nd < KILN_MAX_NDIM) {
        /* (..., s, 1, ...) broadcast to (..., s, r, ...) */
        int k = 0;
        for (int i = 0; i < nd; i++) {
            e[k] = b[k] = src->shape[i];
            k++;
            if (i == ax) {
                e[k] = 1;
                b[k++] = repeats;
            }
        }
        y = spread(src, e, b, k, out, nd, fn);
    } else {
        int64_t e4[4] = {prod(src->shape, 0, ax), src->shape[ax], 1,
                         prod(src->shape, ax + 1, nd)};
        int64_t b4[4] = {e4[0], e4[1], repeats, e4[3]};
        y = spread(src, e4, b4, 4, out, nd, fn);
    }
release_src:
    kiln_array_release(src);
    return kiln__ret(y);
}
