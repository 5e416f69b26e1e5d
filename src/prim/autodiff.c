/*
 * autodiff.c - shared helpers for the transform rules of the primitive
 * families (see autodiff.h): unbroadcasting cotangents, broadcasting
 * tangents, the zero rules and the one vmap rule of the elementwise
 * primitives.
 *
 * Called inside a scope the transform opened: results are built with the
 * public ops, or made with kiln__node_make1 and handed to that scope with
 * kiln__ret, so nothing here releases what it returns. Nothing here reads
 * a primitive's identity: vmap applies whatever primitive it is given.
 */
#include "autodiff.h"
#include "autodiff_shape.h"

#include <stdbool.h>

#include "../core/array.h"
#include "../core/error.h"

kiln_array *kiln__autodiff_unbroadcast(kiln_array *g, const kiln_array *like)
{
    if (!g || !like) {
        return NULL;
    }
    int gnd = kiln_array_ndim(g);
    int lnd = kiln_array_ndim(like);
    const int64_t *gs = kiln_array_shape(g);
    const int64_t *ls = kiln_array_shape(like);
    int lead = gnd - lnd;
    int ones[KILN_MAX_NDIM], leading[KILN_MAX_NDIM];
    int nones = 0;
    if (lead < 0) {
        kiln__err(KILN_ERR_VALUE, "[vjp] cotangent of ndim %d for an "
                  "input of ndim %d", gnd, lnd);
        return NULL;
    }
    for (int i = 0; i < lead; i++) {
        leading[i] = i;
    }
    for (int i = 0; i < lnd; i++) {
        if (ls[i] == 1 && gs[lead + i] != 1) {
            ones[nones++] = i;
        }
    }
    /* Two sums rather than one and a reshape: neither bakes a shape into
     * the graph, so a shapeless compile of the gradient can replay it. */
    kiln_array *s = g;
    if (lead > 0) {
        s = kiln_sum(s, leading, lead, false);
    }
    if (nones > 0) {
        s = kiln_sum(s, ones, nones, true);
    }
    return s;
}

kiln_array *kiln__autodiff_broadcast(kiln_array *t, const int64_t *shape,
                                     int ndim)
{
    if (!t) {
        return NULL;
    }
    int nd = kiln_array_ndim(t);
    const int64_t *ts = kiln_array_shape(t);
    bool same = nd == ndim;
    for (int i = 0; same && i < nd; i++) {
        same = ts[i] == shape[i];
    }
    return same ? t : kiln_broadcast_to(t, shape, ndim);
}

kiln_array *kiln__autodiff_broadcast_like(kiln_array *t, kiln_array *like)
{
    if (!t || !like) {
        return NULL;
    }
    int nd = kiln_array_ndim(t);
    bool same = nd == kiln_array_ndim(like);
    for (int i = 0; same && i < nd; i++) {
        same = kiln_array_dim(t, i) == kiln_array_dim(like, i);
    }
    if (same) {
        return t;
    }
    kiln_array *in[2] = {t, like};
    return kiln__ret(kiln__node_make1(&kiln__prim_broadcast_like, NULL, in, 2,
                                      "broadcast_like"));
}

kiln_status kiln__autodiff_fail(void)
{
    kiln_status s = kiln_errcode();
    return s != KILN_OK ? s : KILN_ERR_RUNTIME;
}

kiln_status kiln__autodiff_vjp_zero(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, int nin,
                                    kiln_array *const *out, int nout,
                                    kiln_array *const *cot_out,
                                    const bool *need, kiln_array **cot_in)
{
    (void)p;
    (void)params;
    (void)in;
    (void)out;
    (void)nout;
    (void)cot_out;
    (void)need;
    for (int i = 0; i < nin; i++) {
        cot_in[i] = NULL;
    }
    return KILN_OK;
}

bool kiln__autodiff_zero_rule(const kiln_prim *p)
{
    return p->vjp == kiln__autodiff_vjp_zero ||
           p->vjp == kiln__autodiff_shape_vjp_zero;
}

kiln_status kiln__autodiff_jvp_zero(const kiln_prim *p, const void *params,
                                    kiln_array *const *in, int nin,
                                    kiln_array *const *out, int nout,
                                    kiln_array *const *tan_in,
                                    kiln_array **tan_out)
{
    (void)p;
    (void)params;
    (void)in;
    (void)nin;
    (void)out;
    (void)tan_in;
    for (int k = 0; k < nout; k++) {
        tan_out[k] = NULL;
    }
    return KILN_OK;
}

kiln_status kiln__autodiff_vmap_elementwise(const kiln_prim *p,
                                            const void *params,
                                            kiln_array *const *in,
                                            const int *bdim, int nin,
                                            kiln_array **out, int *out_bdim,
                                            int *nout)
{
    enum { MAX_IN = 8 };
    kiln_array *x[MAX_IN];
    int rank = 0;
    bool batched = false;
    if (nin < 1 || nin > MAX_IN) {
        return kiln__err(KILN_ERR_VALUE, "[vmap] %s: %d inputs", p->name,
                         nin);
    }
    for (int i = 0; i < nin; i++) {
        if (!in[i]) {
            kiln__err_null("vmap");
            return kiln__autodiff_fail();
        }
        int r = kiln_array_ndim(in[i]) - (bdim[i] >= 0);
        if (bdim[i] >= kiln_array_ndim(in[i])) {
            return kiln__err(KILN_ERR_INDEX,
                             "[vmap] %s: batch axis %d of input %d out of "
                             "range for ndim %d", p->name, bdim[i], i,
                             kiln_array_ndim(in[i]));
        }
        rank = r > rank ? r : rank;
        batched = batched || bdim[i] >= 0;
    }
    for (int i = 0; i < nin; i++) {
        x[i] = in[i];
        if (bdim[i] < 0) {
            continue;
        }
        if (bdim[i] != 0) {
            x[i] = kiln_moveaxis(x[i], bdim[i], 0);
        }
        int pad = rank - (kiln_array_ndim(in[i]) - 1);
        if (x[i] && pad > 0) {
            int axes[KILN_MAX_NDIM];
            for (int k = 0; k < pad; k++) {
                axes[k] = 1 + k;
            }
            x[i] = kiln_expand_dims(x[i], axes, pad);
        }
        if (!x[i]) {
            return kiln__autodiff_fail();
        }
    }
    kiln_array *y = kiln__node_make1(p, params, x, nin, p->name);
    if (!y) {
        return kiln__autodiff_fail();
    }
    out[0] = kiln__ret(y);
    out_bdim[0] = batched ? 0 : -1;
    *nout = 1;
    return KILN_OK;
}
