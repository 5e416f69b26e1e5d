/*
 * gather.c - the public gather and sort ops: take, take_along_axis, sort,
 * argsort, topk.
 *
 * Each validates its arguments, normalises the axis (errors name the entry
 * point) and makes one node of its primitive (prim/index.c), whose infer
 * checks the rest: integer indices, broadcastable shapes, k in range.
 * Indices wrap once when negative and are then clamped into the axis, so
 * no index reads out of bounds (prim/index.c says why).
 */
#include <string.h>

#include "../core/error.h"
#include "../core/shape.h"
#include "../prim/index.h"
#include "ops.h"

/* Params for x along axis (or flat); false (error recorded) on a bad
 * axis. */
static bool fill_params(kiln_array *x, int axis, bool flat, int64_t k,
                        kiln_index_params *ip, const char *fn)
{
    int ax = 0;
    memset(ip, 0, sizeof *ip);
    if (!flat && kiln__shape_axis(axis, x->ndim, &ax, fn) != KILN_OK) {
        return false;
    }
    ip->axis = ax;
    ip->flat = flat ? 1 : 0;
    ip->k = k;
    return true;
}

static kiln_array *gather(const kiln_prim *p, kiln_array *x,
                          kiln_array *indices, int axis, bool flat,
                          const char *fn)
{
    kiln_index_params ip;
    if (!x || !indices) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!fill_params(x, axis, flat, 0, &ip, fn)) {
        return NULL;
    }
    kiln_array *in[2] = {x, indices};
    return kiln__node_make1(p, &ip, in, 2, fn);
}

kiln_array *kiln_take(kiln_array *x, kiln_array *indices, int axis, bool flat)
{
    return kiln__ret(
        gather(&kiln__prim_take, x, indices, axis, flat, "take"));
}

kiln_array *kiln_take_along_axis(kiln_array *x, kiln_array *indices,
                                 int axis, bool flat)
{
    return kiln__ret(gather(&kiln__prim_take_along_axis, x, indices, axis,
                            flat, "take_along_axis"));
}

static kiln_array *row_op(const kiln_prim *p, kiln_array *x, int64_t k,
                          int axis, bool flat, const char *fn)
{
    kiln_index_params ip;
    if (!x) {
        kiln__err_null(fn);
        return NULL;
    }
    if (!fill_params(x, axis, flat, k, &ip, fn)) {
        return NULL;
    }
    return kiln__node_make1(p, &ip, &x, 1, fn);
}

kiln_array *kiln_sort(kiln_array *x, int axis, bool flat)
{
    return kiln__ret(row_op(&kiln__prim_sort, x, 0, axis, flat, "sort"));
}

kiln_array *kiln_argsort(kiln_array *x, int axis, bool flat)
{
    return kiln__ret(
        row_op(&kiln__prim_argsort, x, 0, axis, flat, "argsort"));
}

kiln_array *kiln_topk(kiln_array *x, int k, int axis, bool flat)
{
    return kiln__ret(row_op(&kiln__prim_topk, x, k, axis, flat, "topk"));
}
